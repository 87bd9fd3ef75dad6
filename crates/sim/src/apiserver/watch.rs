//! Watches: `?watch=true` list requests answered with a stream of `{"type": …, "object": …}`
//! lines, resumable from a resourceVersion (410 Expired when history no longer has it), with
//! selectors applied as the apiserver does (an object leaving the selection is DELETED),
//! bookmarks, `timeoutSeconds`, streaming lists (`watch_list`), and the watch-dropped fault.

use bytes::Bytes;
use http::Response;
use http_body_util::{StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::audit_ctx::AuditCtx;
use super::request::ReqInfo;
use super::response::{Body, BoxError};
use super::select::{Selection, served};
use crate::cluster::Cluster;
use crate::discovery::ResDef;
use crate::faults::Fault;
use crate::store::{EventType, Key, Store, WatchEvent, WatchStart};
use crate::util::Status;

type Chunk = Result<Bytes, BoxError>;

/// Answer a watch request: 200 and a stream of event lines, or the error Status.
pub fn serve_watch(
    cl: &Arc<Cluster>,
    ax: AuditCtx,
    def: &ResDef,
    info: &ReqInfo,
    external: bool,
) -> Response<Body> {
    match start_watch(cl, def, info, external) {
        Ok(rx) => {
            ax.emit_code(cl, "ResponseStarted", 200);
            let guard = WatchAuditGuard {
                cl: cl.clone(),
                ax: Some(ax),
            };
            Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::CACHE_CONTROL, "no-cache, private")
                .body(BoxBody::new(StreamBody::new(frames(rx, guard))))
                .expect("watch response")
        }
        Err(st) => ax.answer(cl, st.code, &st.to_value(), true),
    }
}

/// Logs the ResponseComplete stage of a watch when its stream ends.
struct WatchAuditGuard {
    cl: Arc<Cluster>,
    ax: Option<AuditCtx>,
}

impl Drop for WatchAuditGuard {
    fn drop(&mut self) {
        if let Some(ax) = self.ax.take() {
            ax.emit_code(&self.cl, "ResponseComplete", 200);
        }
    }
}

fn frames(
    rx: mpsc::Receiver<Chunk>,
    guard: WatchAuditGuard,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync + 'static {
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let item = rx.recv().await?;
        Some((item.map(Frame::data), (rx, guard)))
    })
}

/// The query parameters of a watch.
struct WatchParams {
    ns: Option<String>,
    /// `resourceVersion` to resume after (None: start with the current objects).
    from: Option<u64>,
    timeout: Duration,
    bookmarks: bool,
}

impl WatchParams {
    fn from_query(info: &ReqInfo) -> Result<WatchParams, Status> {
        let from = match info.q("resourceVersion") {
            None | Some("") | Some("0") => None,
            Some(rv) => Some(
                rv.parse::<u64>()
                    .map_err(|_| Status::bad_request(format!("invalid resource version: {rv}")))?,
            ),
        };
        let timeout = info
            .q("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(1800);
        Ok(WatchParams {
            ns: Some(info.namespace.clone()).filter(|n| !n.is_empty()),
            from,
            timeout: Duration::from_secs(timeout),
            bookmarks: info.q("allowWatchBookmarks") == Some("true"),
        })
    }
}

fn line(v: Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

/// An ERROR event carrying a Status.
fn error_line(st: &Status) -> Bytes {
    line(json!({"type": "ERROR", "object": st.to_value()}))
}

fn start_watch(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    external: bool,
) -> Result<mpsc::Receiver<Chunk>, Status> {
    let selection = Selection::from_query(def, info)?;
    let mut params = WatchParams::from_query(info)?;
    // A streaming list starts from the current objects, whatever its resourceVersion.
    let streaming = super::watch_list::send_initial_events(cl.version.minor, info)?;
    if streaming.is_some() {
        params.from = None;
    }
    let (tx, rx) = mpsc::channel::<Chunk>(256);
    let (initial, live) = match cl
        .store
        .watch(&def.storage, params.ns.as_deref(), params.from)
    {
        WatchStart::Ok(evs, live) => (evs, live),
        WatchStart::Gone(req, oldest) => {
            // Like the apiserver: HTTP 200, then a single ERROR event with a 410 Status.
            let st = Status::failure(
                410,
                "Expired",
                format!("too old resource version: {req} ({oldest})"),
                None,
            );
            let _ = tx.try_send(Ok(error_line(&st)));
            return Ok(rx);
        }
    };
    let drop_this = external
        && cl.faults().has(Fault::WatchDropped)
        && cl.watches_started.fetch_add(1, Ordering::SeqCst) < 3;
    let mut filter = Filter {
        def: def.clone(),
        selection,
        ns: params.ns.clone(),
        seen: HashSet::new(),
    };
    if params.from.is_some() {
        filter.seed(&cl.store);
    }
    let watch = Watch {
        cl: cl.clone(),
        tx,
        filter,
        params,
        drop_this,
        streaming,
    };
    tokio::spawn(watch.run(initial, live));
    Ok(rx)
}

/// Turns store events into the events this watcher sees: only its resource and namespace, and
/// with selectors, ADDED/DELETED as objects enter or leave the selection.
struct Filter {
    def: ResDef,
    selection: Selection,
    ns: Option<String>,
    /// Objects the watcher currently has (in the selection).
    seen: HashSet<Key>,
}

impl Filter {
    /// A resumed watch starts knowing the objects that match now.
    fn seed(&mut self, store: &Store) {
        let (objs, _) = store.list(&self.def.storage, self.ns.as_deref());
        for o in objs {
            if self.selection.matches(&self.def, &o) {
                self.seen.insert(Key::of(&self.def.storage, &o));
            }
        }
    }

    fn event_line(&mut self, ev: &WatchEvent) -> Option<Bytes> {
        if ev.key.res != self.def.storage || self.ns.as_ref().is_some_and(|n| *n != ev.key.ns) {
            return None;
        }
        let now_match = self.selection.matches(&self.def, &ev.obj);
        let was = self.seen.contains(&ev.key);
        let typ = match (ev.typ, was, now_match) {
            (EventType::Deleted, false, false) => return None,
            (EventType::Deleted, _, _) => {
                self.seen.remove(&ev.key);
                "DELETED"
            }
            (_, false, true) => {
                self.seen.insert(ev.key.clone());
                "ADDED"
            }
            (EventType::Added, true, true) => "ADDED",
            (_, true, true) => "MODIFIED",
            (_, true, false) => {
                self.seen.remove(&ev.key);
                "DELETED"
            }
            (_, false, false) => return None,
        };
        Some(line(
            json!({"type": typ, "object": served(&self.def, &ev.obj)}),
        ))
    }
}

/// A running watch: writes event lines to the response until the client leaves, the timeout
/// passes, the cluster stops or the fault drops it.
struct Watch {
    cl: Arc<Cluster>,
    tx: mpsc::Sender<Chunk>,
    filter: Filter,
    params: WatchParams,
    drop_this: bool,
    /// `sendInitialEvents`: true ends the initial events with the annotated bookmark, false
    /// sends none.
    streaming: Option<bool>,
}

impl Watch {
    async fn run(
        mut self,
        initial: Vec<Arc<WatchEvent>>,
        mut live: broadcast::Receiver<Arc<WatchEvent>>,
    ) {
        let mut progress = Progress::new(self.params.from, self.cl.store.current_rv());
        for ev in &initial {
            progress.deliver(ev.rv);
            if let Some(b) = self.filter.event_line(ev)
                && self.streaming != Some(false)
                && self.tx.send(Ok(b)).await.is_err()
            {
                return;
            }
        }
        if self.streaming == Some(true) {
            let end = self.bookmark_line(progress.bookmark(), true);
            if self.tx.send(Ok(end)).await.is_err() {
                return;
            }
        }
        let deadline = Instant::now() + self.params.timeout;
        let bookmark_every = Duration::from_secs_f64((10.0 * self.cl.env.scale).clamp(0.5, 10.0));
        let mut bookmark =
            tokio::time::interval_at(Instant::now() + bookmark_every, bookmark_every);
        let drop_at = Instant::now() + Duration::from_millis(1500);
        let mut sent_live = 0u32;
        loop {
            if self.drop_this && (sent_live >= 1 || Instant::now() >= drop_at) {
                self.drop_connection(sent_live).await;
                return;
            }
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = self.cl.cancel.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep_until(drop_at), if self.drop_this => continue,
                _ = bookmark.tick() => {
                    if self.params.bookmarks
                        && self.tx.send(Ok(self.bookmark_line(progress.bookmark(), false))).await.is_err()
                    {
                        return;
                    }
                }
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        if !progress.deliver(ev.rv) { continue; }
                        if let Some(b) = self.filter.event_line(&ev) {
                            sent_live += 1;
                            if self.tx.send(Ok(b)).await.is_err() { return; }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let st = Status::failure(410, "Expired", "watch lagged behind: resource version too old", None);
                        let _ = self.tx.send(Ok(error_line(&st))).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    }

    /// A BOOKMARK at `rv`; `initial_end` marks the end of a streaming list's initial events.
    fn bookmark_line(&self, rv: u64, initial_end: bool) -> Bytes {
        let def = &self.filter.def;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({super::watch_list::INITIAL_EVENTS_END: "true"});
        }
        line(
            json!({"type": "BOOKMARK", "object": {"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata}}),
        )
    }

    /// Fault: cut the connection mid-stream and compact history, so the client's resume gets 410.
    async fn drop_connection(&self, sent_live: u32) {
        self.cl.faults().hit(
            Fault::WatchDropped,
            &format!(
                "dropped a watch of {} (namespace {:?}) after {sent_live} live event(s)",
                self.filter.def.storage, self.params.ns
            ),
        );
        self.cl.store.compact();
        let _ = self
            .tx
            .send(Err("watch connection dropped (fault watch-dropped)".into()))
            .await;
    }
}

/// How far one watch has got through the store's history.
///
/// A bookmark promises "you have seen everything up to here", so it carries the last revision that
/// passed through this watch, never the store's current one: that may be ahead of events still
/// queued on the broadcast channel, and a client resuming from it would never see them.
struct Progress {
    last_rv: u64,
    resumed: bool,
}

impl Progress {
    /// `from` is the client's `resourceVersion`; without one the watch starts at `current`.
    fn new(from: Option<u64>, current: u64) -> Self {
        Progress {
            last_rv: from.unwrap_or(current),
            resumed: from.is_some(),
        }
    }

    /// Records an event; false when a resumed watch has already seen its revision.
    fn deliver(&mut self, rv: u64) -> bool {
        if self.resumed && rv <= self.last_rv {
            return false;
        }
        self.last_rv = self.last_rv.max(rv);
        true
    }

    fn bookmark(&self) -> u64 {
        self.last_rv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::request::parse_resource_path;
    use http::Method;

    fn request(uri: &str) -> (ResDef, ReqInfo) {
        let info = parse_resource_path(&Method::GET, uri).unwrap();
        let def = crate::discovery::find(&Store::new(), &info.group, &info.version, &info.resource)
            .unwrap();
        (def, info)
    }

    fn filter(uri: &str) -> Filter {
        let (def, info) = request(uri);
        let params = WatchParams::from_query(&info).unwrap();
        Filter {
            selection: Selection::from_query(&def, &info).unwrap(),
            def,
            ns: params.ns,
            seen: HashSet::new(),
        }
    }

    fn event(typ: EventType, res: &str, ns: &str, name: &str, app: &str) -> WatchEvent {
        WatchEvent {
            rv: 1,
            typ,
            key: Key::new(res, ns, name),
            obj: json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}}}),
        }
    }

    fn seen_as(f: &mut Filter, ev: WatchEvent) -> Option<String> {
        let line = f.event_line(&ev)?;
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert!(line.ends_with(b"\n"));
        Some(v["type"].as_str().unwrap().to_string())
    }

    #[test]
    fn objects_entering_and_leaving_the_selection() {
        let mut f = filter("/api/v1/namespaces/n/pods?watch=true&labelSelector=app%3Dray");
        let pod = |typ, app| event(typ, "pods", "n", "p", app);
        use EventType::*;
        assert_eq!(seen_as(&mut f, pod(Added, "ray")).as_deref(), Some("ADDED"));
        assert_eq!(
            seen_as(&mut f, pod(Modified, "ray")).as_deref(),
            Some("MODIFIED")
        );
        assert_eq!(
            seen_as(&mut f, pod(Modified, "web")).as_deref(),
            Some("DELETED")
        );
        assert_eq!(seen_as(&mut f, pod(Modified, "web")), None);
        assert_eq!(
            seen_as(&mut f, pod(Modified, "ray")).as_deref(),
            Some("ADDED")
        );
        assert_eq!(
            seen_as(&mut f, pod(Deleted, "ray")).as_deref(),
            Some("DELETED")
        );
        assert_eq!(seen_as(&mut f, pod(Deleted, "web")), None);
        assert_eq!(
            seen_as(&mut f, event(Added, "pods", "other", "q", "ray")),
            None
        );
        assert_eq!(
            seen_as(&mut f, event(Added, "services", "n", "s", "ray")),
            None
        );
    }

    #[test]
    fn a_resumed_watch_knows_what_matches_now() {
        let store = Store::new();
        let obj = json!({"metadata": {"labels": {"app": "ray"}}});
        store
            .create(Key::new("pods", "n", "p"), obj, false)
            .unwrap();
        let mut f = filter("/api/v1/pods?watch=true&labelSelector=app%3Dray&resourceVersion=5");
        f.seed(&store);
        let moved_away = event(EventType::Modified, "pods", "n", "p", "web");
        assert_eq!(seen_as(&mut f, moved_away).as_deref(), Some("DELETED"));
    }

    #[test]
    fn events_k8s_io_watches_see_converted_events() {
        let mut f = filter(
            "/apis/events.k8s.io/v1/namespaces/n/events?watch=1&fieldSelector=regarding.name%3Dp",
        );
        let mut ev = event(EventType::Added, "events", "n", "e", "");
        ev.obj = json!({"kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "p"}, "message": "hi"});
        let line = f.event_line(&ev).unwrap();
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v["object"]["note"], "hi");
        ev.obj["involvedObject"]["name"] = json!("other");
        ev.key = Key::new("events", "n", "e2");
        assert!(f.event_line(&ev).is_none());
    }

    #[test]
    fn a_bookmark_never_passes_a_queued_event() {
        let store = Store::new();
        let mut progress = Progress::new(Some(store.current_rv()), store.current_rv());
        let queued = store
            .create(Key::new("pods", "n", "p"), json!({"metadata": {}}), false)
            .unwrap();
        let queued_rv: u64 = queued["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(progress.bookmark() < queued_rv);
        assert!(
            progress.deliver(queued_rv),
            "the queued event still reaches the client"
        );
        assert_eq!(progress.bookmark(), queued_rv);
        assert!(!progress.deliver(queued_rv), "and only once");
    }

    #[test]
    fn watch_parameters() {
        let (_, info) = request(
            "/api/v1/pods?watch=true&resourceVersion=0&timeoutSeconds=5&allowWatchBookmarks=true",
        );
        let p = WatchParams::from_query(&info).unwrap();
        assert_eq!(
            (p.ns, p.from, p.timeout, p.bookmarks),
            (None, None, Duration::from_secs(5), true)
        );
        let (_, info) = request("/api/v1/namespaces/n/pods?watch=true&resourceVersion=42");
        let p = WatchParams::from_query(&info).unwrap();
        assert_eq!(
            (p.ns.as_deref(), p.from, p.timeout, p.bookmarks),
            (Some("n"), Some(42), Duration::from_secs(1800), false)
        );
        let (_, info) = request("/api/v1/pods?watch=true&resourceVersion=abc");
        let st = WatchParams::from_query(&info).err().unwrap();
        assert_eq!(
            (st.code, st.message.as_deref()),
            (400, Some("invalid resource version: abc"))
        );
    }
}
