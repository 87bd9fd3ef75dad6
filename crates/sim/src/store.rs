//! The fake apiserver's storage: one etcd-like keyspace per cluster with a global resourceVersion,
//! a bounded event history (so watches can resume from a resourceVersion, and get 410 Gone when it
//! was compacted away) and a broadcast channel for live watchers.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use crate::util;

/// Storage key: resource id (`pods`, `deployments.apps`, `rayclusters.ray.io`), namespace ("" for
/// cluster-scoped objects), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub res: String,
    pub ns: String,
    pub name: String,
}

impl Key {
    pub fn new(res: &str, ns: &str, name: &str) -> Self {
        Key {
            res: res.into(),
            ns: ns.into(),
            name: name.into(),
        }
    }
    /// The key of a stored object of resource `res` (from its metadata namespace and name).
    pub fn of(res: &str, obj: &Value) -> Self {
        Key::new(
            res,
            util::get_str(obj, &["metadata", "namespace"]).unwrap_or(""),
            util::get_str(obj, &["metadata", "name"]).unwrap_or(""),
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub typ: EventType,
    pub key: Key,
    pub obj: Value,
}

#[derive(Debug)]
pub enum StoreError {
    AlreadyExists,
    NotFound,
    Conflict,
    Invalid(String),
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: VecDeque<Arc<WatchEvent>>,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted_rv: u64,
}

const LOG_CAP: usize = 20_000;

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    /// The revision of the last write, for components that re-read the store when it changes
    /// (the in-process controllers' informer, coarsely: "something changed").
    revision: tokio::sync::watch::Sender<u64>,
}

pub enum WatchStart {
    /// Events after the requested resourceVersion that are still in history, plus a live receiver.
    Ok(Vec<Arc<WatchEvent>>, broadcast::Receiver<Arc<WatchEvent>>),
    /// The requested resourceVersion is older than the compaction point: (requested, oldest kept).
    Gone(u64, u64),
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(8192);
        Store {
            inner: Mutex::new(Inner {
                rv: 100,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                compacted_rv: 0,
            }),
            tx,
            revision: tokio::sync::watch::Sender::new(100),
        }
    }

    /// Wakes at each write after it is made (`changed().await`).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revision.subscribe()
    }

    fn push(&self, inner: &mut Inner, ev: WatchEvent) {
        let ev = Arc::new(ev);
        inner.log.push_back(ev.clone());
        while inner.log.len() > LOG_CAP {
            if let Some(old) = inner.log.pop_front() {
                inner.compacted_rv = inner.compacted_rv.max(old.rv);
            }
        }
        self.revision.send_replace(ev.rv);
        let _ = self.tx.send(ev);
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Drop all history: a watch resuming from any earlier resourceVersion now gets 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.compacted_rv = inner.rv;
        inner.log.clear();
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.inner.lock().unwrap().objects.get(key).cloned()
    }

    /// Objects of a resource, optionally in one namespace, plus the store's resourceVersion.
    pub fn list(&self, res: &str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|(k, _)| k.res == res && ns.is_none_or(|n| k.ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    pub fn list_all_in_ns(&self, ns: &str) -> Vec<(Key, Value)> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .iter()
            .filter(|(k, _)| k.ns == ns)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Create an object: fills uid, creationTimestamp, resourceVersion (and generation when asked).
    pub fn create(
        &self,
        key: Key,
        mut obj: Value,
        with_generation: bool,
    ) -> Result<Value, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        inner.rv += 1;
        let rv = inner.rv;
        fill_new_metadata(&key, &mut obj, with_generation, Some(rv))?;
        inner.objects.insert(key.clone(), obj.clone());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Added,
                key,
                obj: obj.clone(),
            },
        );
        Ok(obj)
    }

    /// Mutate an object in place. The closure returns false for "no change" (no RV bump, no event).
    pub fn update<F>(&self, key: &Key, expect_rv: Option<&str>, f: F) -> Result<Value, StoreError>
    where
        F: FnOnce(&mut Value) -> Result<bool, StoreError>,
    {
        let mut inner = self.inner.lock().unwrap();
        let cur = inner
            .objects
            .get(key)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let Some(mut new) = updated(&cur, expect_rv, f)? else {
            return Ok(cur);
        };
        inner.rv += 1;
        let rv = inner.rv;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key.clone(), new.clone());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Modified,
                key: key.clone(),
                obj: new.clone(),
            },
        );
        Ok(new)
    }

    /// What `create` would store, without storing it (`dryRun=All`): the name taken is still an
    /// error, but no resourceVersion is consumed, no watch event is sent, and the object gets
    /// no resourceVersion.
    pub fn would_create(
        &self,
        key: &Key,
        mut obj: Value,
        with_generation: bool,
    ) -> Result<Value, StoreError> {
        let inner = self.inner.lock().unwrap();
        if inner.objects.contains_key(key) {
            return Err(StoreError::AlreadyExists);
        }
        fill_new_metadata(key, &mut obj, with_generation, None)?;
        Ok(obj)
    }

    /// What `update` would store, without storing it (`dryRun=All`): preconditions are checked,
    /// the object keeps its resourceVersion, nothing is written or sent.
    pub fn would_update<F>(
        &self,
        key: &Key,
        expect_rv: Option<&str>,
        f: F,
    ) -> Result<Value, StoreError>
    where
        F: FnOnce(&mut Value) -> Result<bool, StoreError>,
    {
        let cur = self.get(key).ok_or(StoreError::NotFound)?;
        let Some(mut new) = updated(&cur, expect_rv, f)? else {
            return Ok(cur);
        };
        if let Some(rv) = cur.pointer("/metadata/resourceVersion") {
            new["metadata"]["resourceVersion"] = rv.clone();
        }
        Ok(new)
    }

    pub fn delete(&self, key: &Key) -> Option<Value> {
        let mut inner = self.inner.lock().unwrap();
        let mut obj = inner.objects.remove(key)?;
        inner.rv += 1;
        let rv = inner.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Deleted,
                key: key.clone(),
                obj: obj.clone(),
            },
        );
        Some(obj)
    }

    /// Start a watch of `res` (optionally in one namespace) after resourceVersion `from`.
    /// `from == None` means "current state as ADDED events, then changes".
    pub fn watch(&self, res: &str, ns: Option<&str>, from: Option<u64>) -> WatchStart {
        let inner = self.inner.lock().unwrap();
        let rx = self.tx.subscribe();
        let matches = |k: &Key| k.res == res && ns.is_none_or(|n| k.ns == n);
        match from {
            None => {
                let evs = inner
                    .objects
                    .iter()
                    .filter(|(k, _)| matches(k))
                    .map(|(k, v)| {
                        let rv = util::get_str(v, &["metadata", "resourceVersion"])
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(inner.rv);
                        Arc::new(WatchEvent {
                            rv,
                            typ: EventType::Added,
                            key: k.clone(),
                            obj: v.clone(),
                        })
                    })
                    .collect();
                // Live events must be newer than the snapshot: the receiver filters by rv.
                WatchStart::Ok(evs, rx)
            }
            Some(rv) => {
                if rv < inner.compacted_rv {
                    return WatchStart::Gone(rv, inner.compacted_rv);
                }
                let evs = inner
                    .log
                    .iter()
                    .filter(|e| e.rv > rv && matches(&e.key))
                    .cloned()
                    .collect();
                WatchStart::Ok(evs, rx)
            }
        }
    }
}

/// `cur` changed by `f`, its identity fields (uid, creationTimestamp, name, namespace) kept;
/// None when `f` changed nothing. A stale `expect_rv` is a conflict.
fn updated<F>(cur: &Value, expect_rv: Option<&str>, f: F) -> Result<Option<Value>, StoreError>
where
    F: FnOnce(&mut Value) -> Result<bool, StoreError>,
{
    if let Some(exp) = expect_rv.filter(|e| !e.is_empty())
        && util::get_str(cur, &["metadata", "resourceVersion"]) != Some(exp)
    {
        return Err(StoreError::Conflict);
    }
    let mut new = cur.clone();
    if !f(&mut new)? {
        return Ok(None);
    }
    for field in ["uid", "creationTimestamp", "name", "namespace"] {
        if let Some(v) = cur.pointer(&format!("/metadata/{field}")) {
            new["metadata"][field] = v.clone();
        }
    }
    Ok(Some(new))
}

/// The metadata the store gives a new object: its key's name and namespace, a uid (unless it has
/// one), the creation time, generation 1 when asked, and the resourceVersion `rv` (none for a
/// dry run).
fn fill_new_metadata(
    key: &Key,
    obj: &mut Value,
    with_generation: bool,
    rv: Option<u64>,
) -> Result<(), StoreError> {
    let m = obj
        .as_object_mut()
        .ok_or_else(|| StoreError::Invalid("object is not a JSON object".into()))?
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| StoreError::Invalid("metadata".into()))?;
    m.insert("name".into(), json!(key.name));
    if !key.ns.is_empty() {
        m.insert("namespace".into(), json!(key.ns));
    }
    if m.get("uid")
        .and_then(|u| u.as_str())
        .is_none_or(|u| u.is_empty())
    {
        m.insert("uid".into(), json!(util::new_uid()));
    }
    match rv {
        Some(rv) => m.insert("resourceVersion".into(), json!(rv.to_string())),
        None => m.remove("resourceVersion"),
    };
    if with_generation {
        m.insert("generation".into(), json!(1));
    }
    m.insert("creationTimestamp".into(), json!(util::now_rfc3339()));
    m.remove("deletionTimestamp");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_runs_consume_no_resource_version_and_send_nothing() {
        let st = Store::new();
        let mut rx = st.subscribe();
        let rv = st.current_rv();
        let would = st
            .would_create(&Key::new("pods", "n", "a"), pod("a"), false)
            .unwrap();
        assert!(
            would["metadata"]["uid"].is_string()
                && would["metadata"].get("resourceVersion").is_none()
        );
        assert!(st.get(&Key::new("pods", "n", "a")).is_none());
        st.create(Key::new("pods", "n", "a"), pod("a"), false)
            .unwrap();
        assert!(matches!(
            st.would_create(&Key::new("pods", "n", "a"), pod("a"), false),
            Err(StoreError::AlreadyExists)
        ));
        let k = Key::new("pods", "n", "a");
        let changed = st
            .would_update(&k, None, |o| {
                o["x"] = json!(1);
                Ok(true)
            })
            .unwrap();
        assert_eq!(changed["x"], 1);
        assert_eq!(st.current_rv(), rv + 1);
        assert!(st.get(&k).unwrap().get("x").is_none());
        assert_eq!(rx.try_recv().unwrap().typ, EventType::Added);
        assert!(rx.try_recv().is_err());
    }

    fn pod(name: &str) -> Value {
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name}})
    }

    fn rv_of(v: &Value) -> u64 {
        util::get_str(v, &["metadata", "resourceVersion"])
            .unwrap()
            .parse()
            .unwrap()
    }

    fn events(start: WatchStart) -> Vec<(EventType, String)> {
        match start {
            WatchStart::Ok(evs, _) => evs.iter().map(|e| (e.typ, e.key.name.clone())).collect(),
            WatchStart::Gone(req, oldest) => panic!("unexpected 410 for {req} (oldest {oldest})"),
        }
    }

    #[test]
    fn create_fills_identity_and_bumps_the_resource_version() {
        let s = Store::new();
        let before = s.current_rv();
        let o = s
            .create(Key::new("pods", "ns", "a"), pod("ignored"), false)
            .unwrap();
        assert_eq!(o["metadata"]["name"], "a");
        assert_eq!(o["metadata"]["namespace"], "ns");
        assert!(!o["metadata"]["uid"].as_str().unwrap().is_empty());
        assert!(o["metadata"].get("generation").is_none());
        assert_eq!(rv_of(&o), before + 1);
        assert!(matches!(
            s.create(Key::new("pods", "ns", "a"), pod("a"), false),
            Err(StoreError::AlreadyExists)
        ));
        let d = s
            .create(Key::new("deployments.apps", "ns", "d"), pod("d"), true)
            .unwrap();
        assert_eq!(d["metadata"]["generation"], 1);
    }

    #[test]
    fn update_checks_the_precondition_and_skips_no_ops() {
        let s = Store::new();
        let key = Key::new("pods", "ns", "a");
        let o = s.create(key.clone(), pod("a"), false).unwrap();
        let rv = rv_of(&o).to_string();
        assert!(matches!(
            s.update(&key, Some("1"), |_| Ok(true)),
            Err(StoreError::Conflict)
        ));
        let same = s.update(&key, Some(&rv), |_| Ok(false)).unwrap();
        assert_eq!(rv_of(&same), rv_of(&o));
        assert_eq!(s.current_rv(), rv_of(&o));
        let changed = s
            .update(&key, Some(&rv), |v| {
                v["metadata"]["uid"] = json!("forged");
                v["spec"] = json!({"x": 1});
                Ok(true)
            })
            .unwrap();
        assert_eq!(rv_of(&changed), rv_of(&o) + 1);
        assert_eq!(
            changed["metadata"]["uid"], o["metadata"]["uid"],
            "uid is immutable"
        );
        assert_eq!(changed["spec"]["x"], 1);
        assert!(matches!(
            s.update(&Key::new("pods", "ns", "b"), None, |_| Ok(true)),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn list_filters_by_resource_and_namespace() {
        let s = Store::new();
        s.create(Key::new("pods", "a", "p1"), pod("p1"), false)
            .unwrap();
        s.create(Key::new("pods", "b", "p2"), pod("p2"), false)
            .unwrap();
        s.create(Key::new("services", "a", "s"), pod("s"), false)
            .unwrap();
        assert_eq!(s.list("pods", None).0.len(), 2);
        let (in_a, rv) = s.list("pods", Some("a"));
        assert_eq!(in_a.len(), 1);
        assert_eq!(in_a[0]["metadata"]["name"], "p1");
        assert_eq!(rv, s.current_rv());
        assert_eq!(s.list_all_in_ns("a").len(), 2);
    }

    #[test]
    fn watch_without_version_starts_with_current_objects() {
        let s = Store::new();
        s.create(Key::new("pods", "a", "p1"), pod("p1"), false)
            .unwrap();
        s.create(Key::new("pods", "b", "p2"), pod("p2"), false)
            .unwrap();
        s.delete(&Key::new("pods", "b", "p2"));
        assert_eq!(
            events(s.watch("pods", None, None)),
            [(EventType::Added, "p1".to_string())]
        );
    }

    #[test]
    fn watch_resumes_after_a_resource_version_from_history() {
        let s = Store::new();
        let key = Key::new("pods", "a", "p1");
        let created = s.create(key.clone(), pod("p1"), false).unwrap();
        s.update(&key, None, |v| {
            v["spec"] = json!({});
            Ok(true)
        })
        .unwrap();
        s.create(Key::new("pods", "other", "p2"), pod("p2"), false)
            .unwrap();
        s.delete(&key);
        assert_eq!(
            events(s.watch("pods", Some("a"), Some(rv_of(&created)))),
            [
                (EventType::Modified, "p1".to_string()),
                (EventType::Deleted, "p1".to_string())
            ]
        );
        assert_eq!(events(s.watch("pods", None, Some(s.current_rv()))), []);
    }

    #[tokio::test]
    async fn live_events_reach_a_started_watch() {
        let s = Store::new();
        let WatchStart::Ok(_, mut live) = s.watch("pods", None, None) else {
            panic!("410 on a fresh store")
        };
        s.create(Key::new("pods", "a", "p1"), pod("p1"), false)
            .unwrap();
        let ev = live.recv().await.unwrap();
        assert_eq!((ev.typ, ev.key.name.as_str()), (EventType::Added, "p1"));
        assert_eq!(ev.rv, s.current_rv());
    }

    #[test]
    fn compaction_makes_older_versions_gone() {
        let s = Store::new();
        let o = s
            .create(Key::new("pods", "a", "p1"), pod("p1"), false)
            .unwrap();
        let old = rv_of(&o) - 1;
        s.compact();
        let now = s.current_rv();
        assert!(
            matches!(s.watch("pods", None, Some(old)), WatchStart::Gone(r, c) if r == old && c == now)
        );
        assert_eq!(events(s.watch("pods", None, Some(now))), []);
    }

    #[test]
    fn bounded_history_forgets_the_oldest_events() {
        let s = Store::new();
        let first = s.current_rv();
        let key = Key::new("configmaps", "a", "c");
        s.create(key.clone(), pod("c"), false).unwrap();
        for i in 0..LOG_CAP {
            s.update(&key, None, |v| {
                v["data"] = json!({"i": i.to_string()});
                Ok(true)
            })
            .unwrap();
        }
        assert!(matches!(
            s.watch("configmaps", None, Some(first)),
            WatchStart::Gone(..)
        ));
        let recent = s.current_rv() - 1;
        assert_eq!(events(s.watch("configmaps", None, Some(recent))).len(), 1);
    }
}
