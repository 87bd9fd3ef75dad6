//! The fake kube-apiserver: HTTPS (HTTP/1.1) on 127.0.0.1, JSON only. Routing of `/api` and `/apis`
//! paths, discovery, CRUD + list + watch + merge-patch + server-side apply, PodSecurity admission,
//! audit logging per the cluster's policy, fault injection (429/503 bursts, dropped watches), and
//! the WebSocket upgrades for `pods/exec` and `pods/portforward` (handed to `streams`).

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::admission;
use crate::audit::{self, Attrs, Event as AuditEvent, Level, ObjectRef};
use crate::cluster::{Caller, Cluster};
use crate::defaults;
use crate::discovery::{self, ResDef};
use crate::faults::Fault;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{EventType, Key, StoreError, WatchStart};
use crate::util::{self, Status};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// Start serving the cluster's API on 127.0.0.1 (ephemeral port).
pub async fn start(cl: Arc<Cluster>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    *cl.addr.lock().unwrap() = Some(addr);
    let cancel = cl.cancel.clone();
    let acceptor = crate::tls::acceptor();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                acc = listener.accept() => {
                    let Ok((stream, peer)) = acc else { continue };
                    let cl = cl.clone();
                    let cancel = cl.cancel.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        let svc = hyper::service::service_fn(move |req| {
                            let cl = cl.clone();
                            async move { Ok::<_, std::convert::Infallible>(external(cl, peer, req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades();
                        tokio::select! {
                            _ = conn => {}
                            _ = cancel.cancelled() => {}
                        }
                    });
                }
            }
        }
    });
    Ok(addr)
}

fn unauthorized() -> Response<Body> {
    let st = Status::failure(401, "Unauthorized", "Unauthorized", None);
    json_response(401, &st.to_value(), &[], "")
}

async fn external(
    cl: Arc<Cluster>,
    _peer: SocketAddr,
    req: http::Request<Incoming>,
) -> Response<Body> {
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|s| s.trim().to_string());
    let ua = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    // Seen from inside the kind node, host clients come from the docker bridge gateway.
    let caller = match token {
        Some(t) if t == cl.admin_token => cl.admin_caller(&ua, "172.18.0.1"),
        _ => return unauthorized(),
    };
    let is_upgrade = req
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return crate::streams::handle_upgrade(cl, caller, req).await;
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    serve(&cl, &caller, &parts.method, &uri, &parts.headers, body).await
}

/// Result of an in-process API call made by a simulated component.
#[derive(Debug)]
pub struct CallResult {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

/// In-process API call through the full request path (admission, audit) for a component
/// running "inside" the cluster (controllers, kubelet, operator).
pub async fn call(
    cl: &Arc<Cluster>,
    caller: &Caller,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Option<&Value>,
) -> CallResult {
    let mut headers = HeaderMap::new();
    if !content_type.is_empty() {
        headers.insert(
            http::header::CONTENT_TYPE,
            content_type.parse().expect("content type"),
        );
    }
    let bytes = body
        .map(|b| Bytes::from(serde_json::to_vec(b).expect("json")))
        .unwrap_or_default();
    let resp = serve(cl, caller, &method, uri, &headers, bytes).await;
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|h| h.to_str().ok().map(String::from))
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    CallResult {
        code,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        warnings,
    }
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct ReqInfo {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub query: Vec<(String, String)>,
}

impl ReqInfo {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn q_all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Parse a resource path (`/api/v1/namespaces/ns/pods/name/exec`). None for non-resource paths.
pub fn parse_resource_path(method: &Method, uri: &str) -> Option<ReqInfo> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("".to_string(), v.to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => {
            (g.to_string(), v.to_string(), rest.to_vec())
        }
        _ => return None,
    };
    let mut info = ReqInfo {
        group,
        version,
        query: parse_query(query),
        ..Default::default()
    };
    let rest: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
    let parts: Vec<String> = if rest[0] == "namespaces"
        && rest.len() >= 3
        && !(rest.len() == 3 && (rest[2] == "status" || rest[2] == "finalize"))
    {
        info.namespace = rest[1].clone();
        rest[2..].to_vec()
    } else {
        rest.clone()
    };
    info.resource = parts[0].clone();
    if parts.len() > 1 {
        info.name = parts[1].clone();
    }
    if parts.len() > 2 {
        info.subresource = parts[2].clone();
    }
    if parts.len() > 3 {
        return None;
    }
    let watch = matches!(info.q("watch"), Some("true") | Some("1"));
    info.verb = match *method {
        Method::GET | Method::HEAD => {
            if watch {
                "watch"
            } else if info.name.is_empty() {
                "list"
            } else {
                "get"
            }
        }
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => {
            if info.name.is_empty() {
                "deletecollection"
            } else {
                "delete"
            }
        }
        _ => "unknown",
    }
    .to_string();
    Some(info)
}

pub fn json_response(
    code: u16,
    body: &Value,
    warnings: &[String],
    audit_id: &str,
) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private");
    if !audit_id.is_empty() {
        b = b.header("Audit-Id", audit_id);
        b = b.header(
            "X-Kubernetes-Pf-Flowschema-Uid",
            crate::cluster::uid_for("flowschema/exempt"),
        );
        b = b.header(
            "X-Kubernetes-Pf-Prioritylevel-Uid",
            crate::cluster::uid_for("prioritylevel/exempt"),
        );
    }
    for w in warnings {
        // k8s.io/apimachinery/pkg/util/net NewWarningHeader: `299 - "<quoted text>"`.
        b = b.header("Warning", format!("299 - {}", pss::go_quote(w)));
    }
    let mut bytes = serde_json::to_vec(body).expect("json");
    bytes.push(b'\n');
    b.body(full(bytes)).expect("response")
}

/// Per-request audit context.
pub struct AuditCtx {
    pub level: Level,
    pub omit: Vec<String>,
    pub id: String,
    pub received: String,
    pub uri: String,
    pub verb: String,
    pub caller: Caller,
    pub objref: Option<ObjectRef>,
}

impl AuditCtx {
    /// Ends a request that does no work: audits it as `ResponseComplete` with this status, and
    /// answers with it. `authorized` is false for what flow control rejects before authorization.
    fn answer(&self, cl: &Cluster, code: u16, body: &Value, authorized: bool) -> Response<Body> {
        self.emit(
            cl,
            "ResponseComplete",
            Some(audit_response_status(code, body)),
            &BTreeMap::new(),
            None,
            authorized,
        );
        json_response(code, body, &[], &self.id)
    }

    pub fn new(
        cl: &Cluster,
        caller: &Caller,
        uri: &str,
        info: Option<&ReqInfo>,
        nonresource_verb: &str,
    ) -> AuditCtx {
        let path = uri.split('?').next().unwrap_or(uri);
        let (level, omit) = match &cl.audit {
            None => (Level::None, vec![]),
            Some(a) => {
                let verb = info.map(|i| i.verb.as_str()).unwrap_or(nonresource_verb);
                let attrs = Attrs {
                    user: &caller.user.username,
                    groups: &caller.user.groups,
                    verb,
                    resource_request: info.is_some(),
                    group: info.map(|i| i.group.as_str()).unwrap_or(""),
                    resource: info.map(|i| i.resource.as_str()).unwrap_or(""),
                    subresource: info.map(|i| i.subresource.as_str()).unwrap_or(""),
                    namespace: info.map(|i| i.namespace.as_str()).unwrap_or(""),
                    name: info.map(|i| i.name.as_str()).unwrap_or(""),
                    path,
                };
                a.policy.evaluate(&attrs)
            }
        };
        let objref = info.map(|i| ObjectRef {
            resource: i.resource.clone(),
            namespace: i.namespace.clone(),
            name: i.name.clone(),
            api_group: i.group.clone(),
            api_version: i.version.clone(),
            subresource: i.subresource.clone(),
            ..Default::default()
        });
        AuditCtx {
            level,
            omit,
            id: util::new_uid(),
            received: util::now_rfc3339_micro(),
            uri: uri.to_string(),
            verb: info
                .map(|i| i.verb.clone())
                .unwrap_or_else(|| nonresource_verb.to_string()),
            caller: caller.clone(),
            objref,
        }
    }

    pub fn enabled(&self) -> bool {
        self.level > Level::None
    }

    pub fn emit(
        &self,
        cl: &Cluster,
        stage: &'static str,
        response_status: Option<Value>,
        annotations: &BTreeMap<String, String>,
        request_object: Option<&Value>,
        authorized: bool,
    ) {
        let Some(log) = &cl.audit else { return };
        if !self.enabled() || self.omit.iter().any(|s| s == stage) {
            return;
        }
        let mut ann = BTreeMap::new();
        if authorized {
            ann.insert(
                "authorization.k8s.io/decision".to_string(),
                "allow".to_string(),
            );
            ann.insert(
                "authorization.k8s.io/reason".to_string(),
                self.caller.authz_reason.clone(),
            );
        }
        for (k, v) in annotations {
            ann.insert(k.clone(), v.clone());
        }
        let ev = AuditEvent {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level: audit::level_str(self.level),
            audit_id: self.id.clone(),
            stage,
            request_uri: self.uri.clone(),
            verb: self.verb.clone(),
            user: self.caller.user.clone(),
            source_ips: vec![self.caller.source_ip.clone()],
            user_agent: self.caller.user_agent.clone(),
            object_ref: self.objref.clone(),
            response_status: response_status
                .as_ref()
                .map(audit::ResponseStatus::from_value),
            request_object: if self.level >= Level::Request {
                request_object.cloned()
            } else {
                None
            },
            response_object: None,
            request_received_timestamp: self.received.clone(),
            stage_timestamp: util::now_rfc3339_micro(),
            annotations: ann,
        };
        log.write(&ev);
    }
}

/// `responseStatus` as the audit log records it: metadata + code on success, the error fields on failure.
pub fn audit_response_status(code: u16, body: &Value) -> Value {
    if code < 300 {
        return json!({"metadata": {}, "code": code});
    }
    let mut rs = serde_json::Map::new();
    rs.insert("metadata".into(), json!({}));
    for k in ["status", "message", "reason", "details"] {
        if let Some(v) = body.get(k) {
            rs.insert(k.into(), v.clone());
        }
    }
    rs.insert("code".into(), json!(code));
    Value::Object(rs)
}

/// Handler output before it becomes an HTTP response.
struct Out {
    code: u16,
    body: Value,
    warnings: Vec<String>,
    annotations: BTreeMap<String, String>,
    /// Name to complete `objectRef.name` with (creates with an explicit name).
    objref_name: Option<String>,
}

impl Out {
    fn ok(code: u16, body: Value) -> Out {
        Out {
            code,
            body,
            warnings: vec![],
            annotations: BTreeMap::new(),
            objref_name: None,
        }
    }
    fn err(st: Status) -> Out {
        Out::ok(st.code, st.to_value())
    }
}

pub async fn serve(
    cl: &Arc<Cluster>,
    caller: &Caller,
    method: &Method,
    uri: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some(info) = parse_resource_path(method, uri) else {
        return serve_nonresource(cl, caller, method, uri);
    };
    let ax = AuditCtx::new(cl, caller, uri, Some(&info), "");
    let req_obj: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    ax.emit(
        cl,
        "RequestReceived",
        None,
        &BTreeMap::new(),
        req_obj.as_ref(),
        false,
    );

    // Overload faults: APF rejects before authorization (so no authz annotations).
    if caller.external {
        let n = cl.external_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let in_burst = (4..=7).contains(&n);
        if in_burst && cl.faults().has(Fault::Apiserver429Burst) {
            cl.faults()
                .hit(Fault::Apiserver429Burst, &format!("429 for {method} {uri}"));
            let st = Status::failure(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                Some(json!({"retryAfterSeconds": 1})),
            );
            let mut r = ax.answer(cl, 429, &st.to_value(), false);
            r.headers_mut().insert("Retry-After", "1".parse().unwrap());
            return r;
        }
        if in_burst && cl.faults().has(Fault::Apiserver503Burst) {
            cl.faults()
                .hit(Fault::Apiserver503Burst, &format!("503 for {method} {uri}"));
            let st = Status::failure(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
                None,
            );
            return ax.answer(cl, 503, &st.to_value(), false);
        }
    }

    // An unknown resource, or a subresource it does not have.
    let Some(def) = discovery::find(&cl.store, &info.group, &info.version, &info.resource)
        .filter(|d| info.subresource.is_empty() || d.has_sub(&info.subresource))
    else {
        let st = Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        );
        return ax.answer(cl, 404, &st.to_value(), true);
    };

    if info.verb == "watch" {
        return match start_watch(cl, &def, &info, caller.external) {
            Ok(rx) => {
                ax.emit(
                    cl,
                    "ResponseStarted",
                    Some(json!({"metadata": {}, "code": 200})),
                    &BTreeMap::new(),
                    None,
                    true,
                );
                let cl2 = cl.clone();
                let guard = WatchAuditGuard {
                    cl: cl2,
                    ax: Some(ax),
                };
                let stream = tokio_stream_from(rx, guard);
                Response::builder()
                    .status(200)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(http::header::CACHE_CONTROL, "no-cache, private")
                    .body(BoxBody::new(StreamBody::new(stream)))
                    .expect("watch response")
            }
            Err(st) => ax.answer(cl, st.code, &st.to_value(), true),
        };
    }

    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut out = dispatch(cl, caller, &def, &info, &content_type, &body).await;
    let mut ax = ax;
    if let (Some(r), Some(n)) = (ax.objref.as_mut(), out.objref_name.take()) {
        r.name = n;
    }
    ax.emit(
        cl,
        "ResponseComplete",
        Some(audit_response_status(out.code, &out.body)),
        &out.annotations,
        req_obj.as_ref(),
        true,
    );
    if def.group == "events.k8s.io" && out.code < 300 {
        out.body = to_events_v1(&out.body);
    }
    json_response(out.code, &out.body, &out.warnings, &ax.id)
}

/// Logs the ResponseComplete stage of a watch when its stream ends.
struct WatchAuditGuard {
    cl: Arc<Cluster>,
    ax: Option<AuditCtx>,
}

impl Drop for WatchAuditGuard {
    fn drop(&mut self) {
        if let Some(ax) = self.ax.take() {
            ax.emit(
                &self.cl,
                "ResponseComplete",
                Some(json!({"metadata": {}, "code": 200})),
                &BTreeMap::new(),
                None,
                true,
            );
        }
    }
}

type Chunk = Result<Bytes, BoxError>;

fn tokio_stream_from(
    rx: mpsc::Receiver<Chunk>,
    guard: WatchAuditGuard,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync + 'static {
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let item = rx.recv().await?;
        Some((item.map(Frame::data), (rx, guard)))
    })
}

fn serve_nonresource(
    cl: &Arc<Cluster>,
    caller: &Caller,
    method: &Method,
    uri: &str,
) -> Response<Body> {
    let path = uri.split('?').next().unwrap_or(uri).trim_end_matches('/');
    let verb = match *method {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        _ => "get",
    };
    let ax = AuditCtx::new(cl, caller, uri, None, verb);
    ax.emit(cl, "RequestReceived", None, &BTreeMap::new(), None, false);
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (code, body): (u16, Value) = match segs.as_slice() {
        ["version"] => (200, cl.version.version_json()),
        ["api"] => (200, discovery::api_versions()),
        ["api", "v1"] => (
            200,
            discovery::api_resource_list(&cl.store, "", "v1").expect("core"),
        ),
        ["apis"] => (200, discovery::api_group_list(&cl.store)),
        ["apis", g] => match discovery::api_group(&cl.store, g) {
            Some(v) => (200, v),
            None => (
                404,
                Status::failure(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                    Some(json!({})),
                )
                .to_value(),
            ),
        },
        ["apis", g, v] => match discovery::api_resource_list(&cl.store, g, v) {
            Some(x) => (200, x),
            None => (
                404,
                Status::failure(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                    Some(json!({})),
                )
                .to_value(),
            ),
        },
        ["healthz"] | ["livez"] | ["readyz"] => {
            ax.emit(
                cl,
                "ResponseComplete",
                Some(json!({"metadata": {}, "code": 200})),
                &BTreeMap::new(),
                None,
                true,
            );
            return Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(full("ok"))
                .expect("response");
        }
        _ => (
            404,
            Status::failure(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Some(json!({})),
            )
            .to_value(),
        ),
    };
    ax.answer(cl, code, &body, true)
}

/// core/v1 Event -> events.k8s.io/v1 Event (field renames of the apiserver's conversion).
pub fn to_events_v1(v: &Value) -> Value {
    if v["kind"] == "EventList" || v.get("items").is_some() {
        let items: Vec<Value> = v["items"]
            .as_array()
            .map(|a| a.iter().map(convert_event).collect())
            .unwrap_or_default();
        let mut l = v.clone();
        l["apiVersion"] = json!("events.k8s.io/v1");
        l["items"] = json!(items);
        return l;
    }
    if v["kind"] == "Event" {
        convert_event(v)
    } else {
        v.clone()
    }
}

fn convert_event(e: &Value) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("kind".into(), json!("Event"));
    o.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    o.insert("metadata".into(), e["metadata"].clone());
    o.insert(
        "eventTime".into(),
        e.get("eventTime").cloned().unwrap_or(Value::Null),
    );
    let mut put = |k: &str, v: Option<&Value>| {
        if let Some(v) = v.filter(|v| !v.is_null() && *v != "") {
            o.insert(k.into(), v.clone());
        }
    };
    put("series", e.get("series"));
    put(
        "reportingController",
        e.get("reportingComponent")
            .or_else(|| e.pointer("/source/component")),
    );
    put("reportingInstance", e.get("reportingInstance"));
    put("action", e.get("action"));
    put("reason", e.get("reason"));
    put("regarding", e.get("involvedObject"));
    put("related", e.get("related"));
    put("note", e.get("message"));
    put("type", e.get("type"));
    put("deprecatedSource", e.get("source"));
    put("deprecatedFirstTimestamp", e.get("firstTimestamp"));
    put("deprecatedLastTimestamp", e.get("lastTimestamp"));
    put("deprecatedCount", e.get("count"));
    Value::Object(o)
}

fn store_err(def: &ResDef, name: &str, e: StoreError) -> Status {
    match e {
        StoreError::AlreadyExists => Status::already_exists(&def.plural, &def.group, name),
        StoreError::NotFound => Status::not_found(&def.plural, &def.group, name),
        StoreError::Conflict => Status::failure(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                def.group_resource()
            ),
            Some(json!({"name": name, "group": def.group, "kind": def.plural})),
        ),
        StoreError::Invalid(m) => Status::bad_request(m),
    }
}

fn selectors(def: &ResDef, info: &ReqInfo) -> Result<(LabelSelector, FieldSelector), Status> {
    let ls = LabelSelector::parse(info.q("labelSelector").unwrap_or(""))
        .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))?;
    let fs = FieldSelector::parse(info.q("fieldSelector").unwrap_or(""), &def.field_labels())
        .map_err(Status::bad_request)?;
    Ok((ls, fs))
}

fn served(def: &ResDef, obj: &Value) -> Value {
    if def.group == "events.k8s.io" {
        convert_event(obj)
    } else {
        obj.clone()
    }
}

fn matches(def: &ResDef, ls: &LabelSelector, fs: &FieldSelector, obj: &Value) -> bool {
    ls.matches(&util::labels_of(obj)) && fs.matches(&served(def, obj))
}

fn start_watch(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    external: bool,
) -> Result<mpsc::Receiver<Chunk>, Status> {
    let (ls, fs) = selectors(def, info)?;
    let ns = if info.namespace.is_empty() {
        None
    } else {
        Some(info.namespace.clone())
    };
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
    let bookmarks = info.q("allowWatchBookmarks") == Some("true");
    let (tx, rx) = mpsc::channel::<Chunk>(256);
    let start = cl.store.watch(&def.storage, ns.as_deref(), from);
    let (initial, mut live) = match start {
        WatchStart::Ok(evs, live) => (evs, live),
        WatchStart::Gone(req, oldest) => {
            // Like the apiserver: HTTP 200, then a single ERROR event with a 410 Status.
            let st = Status::failure(
                410,
                "Expired",
                format!("too old resource version: {req} ({oldest})"),
                None,
            );
            let line = json!({"type": "ERROR", "object": st.to_value()});
            let _ = tx.try_send(Ok(Bytes::from(format!("{line}\n"))));
            return Ok(rx);
        }
    };
    let drop_this = external
        && cl.faults().has(Fault::WatchDropped)
        && cl.watches_started.fetch_add(1, Ordering::SeqCst) < 3;
    let def = def.clone();
    let cl = cl.clone();
    let mut seen: HashSet<Key> = HashSet::new();
    if from.is_some() {
        let (objs, _) = cl.store.list(&def.storage, ns.as_deref());
        for o in objs {
            if matches(&def, &ls, &fs, &o) {
                seen.insert(Key::new(
                    &def.storage,
                    util::get_str(&o, &["metadata", "namespace"]).unwrap_or(""),
                    util::get_str(&o, &["metadata", "name"]).unwrap_or(""),
                ));
            }
        }
    }
    tokio::spawn(async move {
        let kind = def.kind.clone();
        let api_version = def.api_version();
        let mut last_rv = from.unwrap_or_else(|| cl.store.current_rv());
        let send_ev = |typ: &str, obj: &Value| -> Bytes {
            let line = json!({"type": typ, "object": served(&def, obj)});
            Bytes::from(format!("{line}\n"))
        };
        let handle = |ev: &crate::store::WatchEvent, seen: &mut HashSet<Key>| -> Option<Bytes> {
            if ev.key.res != def.storage || ns.as_ref().is_some_and(|n| *n != ev.key.ns) {
                return None;
            }
            let now_match = matches(&def, &ls, &fs, &ev.obj);
            let was = seen.contains(&ev.key);
            match ev.typ {
                EventType::Deleted => {
                    if was || now_match {
                        seen.remove(&ev.key);
                        return Some(send_ev("DELETED", &ev.obj));
                    }
                    None
                }
                _ => match (was, now_match) {
                    (false, true) => {
                        seen.insert(ev.key.clone());
                        Some(send_ev("ADDED", &ev.obj))
                    }
                    (true, true) => Some(send_ev(
                        if ev.typ == EventType::Added {
                            "ADDED"
                        } else {
                            "MODIFIED"
                        },
                        &ev.obj,
                    )),
                    (true, false) => {
                        seen.remove(&ev.key);
                        Some(send_ev("DELETED", &ev.obj))
                    }
                    (false, false) => None,
                },
            }
        };
        for ev in &initial {
            last_rv = last_rv.max(ev.rv);
            if let Some(b) = handle(ev, &mut seen)
                && tx.send(Ok(b)).await.is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let bookmark_every = Duration::from_secs_f64((10.0 * cl.env.scale).clamp(0.5, 10.0));
        let mut bm =
            tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        let drop_at = tokio::time::Instant::now() + Duration::from_millis(1500);
        let mut sent_live = 0u32;
        loop {
            if drop_this && (sent_live >= 1 || tokio::time::Instant::now() >= drop_at) {
                // Cut the connection mid-stream and compact history: the client's resume gets 410.
                cl.faults().hit(
                    Fault::WatchDropped,
                    &format!(
                        "dropped a watch of {} (namespace {:?}) after {sent_live} live event(s)",
                        def.storage, ns
                    ),
                );
                cl.store.compact();
                let _ = tx
                    .send(Err("watch connection dropped (fault watch-dropped)".into()))
                    .await;
                return;
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = cl.cancel.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep_until(drop_at), if drop_this => continue,
                _ = bm.tick() => {
                    if bookmarks {
                        last_rv = last_rv.max(cl.store.current_rv());
                        let line = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rv.to_string()}}});
                        if tx.send(Ok(Bytes::from(format!("{line}\n")))).await.is_err() { return; }
                    }
                }
                ev = live.recv() => {
                    match ev {
                        Ok(ev) => {
                            if ev.rv <= last_rv && from.is_some() { continue; }
                            last_rv = last_rv.max(ev.rv);
                            if let Some(b) = handle(&ev, &mut seen) {
                                sent_live += 1;
                                if tx.send(Ok(b)).await.is_err() { return; }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let st = Status::failure(410, "Expired", "watch lagged behind: resource version too old", None);
                            let line = json!({"type": "ERROR", "object": st.to_value()});
                            let _ = tx.send(Ok(Bytes::from(format!("{line}\n")))).await;
                            return;
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    });
    Ok(rx)
}

async fn dispatch(
    cl: &Arc<Cluster>,
    caller: &Caller,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Out {
    if def.namespaced
        && info.namespace.is_empty()
        && !matches!(info.verb.as_str(), "list" | "watch")
    {
        return Out::err(Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        ));
    }
    let ns = info.namespace.as_str();
    match info.verb.as_str() {
        "get" => {
            let key = Key::new(&def.storage, ns, &info.name);
            match cl.store.get(&key) {
                Some(o) => Out::ok(200, o),
                None => Out::err(Status::not_found(&def.plural, &def.group, &info.name)),
            }
        }
        "list" => {
            let (ls, fs) = match selectors(def, info) {
                Ok(x) => x,
                Err(st) => return Out::err(st),
            };
            let (items, rv) = cl
                .store
                .list(&def.storage, if ns.is_empty() { None } else { Some(ns) });
            let builtin = !def.group.contains('.') || def.group.ends_with(".k8s.io");
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| matches(def, &ls, &fs, o))
                .map(|mut o| {
                    if builtin && let Some(m) = o.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    o
                })
                .collect();
            Out::ok(
                200,
                json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            )
        }
        "create" => {
            if !info.subresource.is_empty() {
                return Out::err(Status::failure(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource".to_string(),
                    Some(json!({})),
                ));
            }
            let obj: Value = match serde_json::from_slice(body)
                .or_else(|_| serde_saphyr::from_slice::<Value>(body).map_err(|e| e.to_string()))
            {
                Ok(v) => v,
                Err(e) => {
                    return Out::err(Status::bad_request(format!(
                        "the object provided is unrecognized: {e}"
                    )));
                }
            };
            let explicit = util::get_str(&obj, &["metadata", "name"])
                .filter(|n| !n.is_empty())
                .map(String::from);
            let mut out = match create_object(cl, caller, def, ns, obj).await {
                Ok((o, warnings, ann)) => Out {
                    code: 201,
                    body: o,
                    warnings,
                    annotations: ann,
                    objref_name: None,
                },
                Err((st, ann)) => Out {
                    annotations: ann,
                    ..Out::err(st)
                },
            };
            out.objref_name = explicit;
            out
        }
        "update" => match serde_json::from_slice::<Value>(body) {
            Ok(obj) => update_object(cl, def, info, obj, None),
            Err(e) => Out::err(Status::bad_request(format!(
                "the object provided is unrecognized: {e}"
            ))),
        },
        "patch" => patch(cl, caller, def, info, content_type, body).await,
        "delete" => delete(cl, caller, def, info).await,
        _ => Out::err(Status::failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )),
    }
}

/// Create through defaulting and admission. Err carries the audit annotations too.
pub async fn create_object(
    cl: &Arc<Cluster>,
    _caller: &Caller,
    def: &ResDef,
    ns: &str,
    mut obj: Value,
) -> Result<(Value, Vec<String>, BTreeMap<String, String>), (Status, BTreeMap<String, String>)> {
    let none = BTreeMap::new;
    if !obj.is_object() {
        return Err((
            Status::bad_request("the object provided is unrecognized"),
            none(),
        ));
    }
    if let Some(av) = obj.get("apiVersion").and_then(|v| v.as_str())
        && av != def.api_version()
    {
        return Err((
            Status::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version()
            )),
            none(),
        ));
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    if def.namespaced {
        if let Some(bns) = util::get_str(&obj, &["metadata", "namespace"])
            && !bns.is_empty()
            && bns != ns
        {
            return Err((
                Status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ),
                none(),
            ));
        }
        match cl.store.get(&Key::new("namespaces", "", ns)) {
            None => return Err((Status::not_found("namespaces", "", ns), none())),
            Some(n)
                if n.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Terminating") =>
            {
                return Err((
                    Status::failure(
                        403,
                        "Forbidden",
                        format!(
                            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            def.plural,
                            util::get_str(&obj, &["metadata", "name"]).unwrap_or_default()
                        ),
                        Some(
                            json!({"name": util::get_str(&obj, &["metadata", "name"]).unwrap_or_default(), "kind": def.plural}),
                        ),
                    ),
                    none(),
                ));
            }
            _ => {}
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let generate = util::get_str(&obj, &["metadata", "generateName"])
        .unwrap_or_default()
        .to_string();
    let mut name = util::get_str(&obj, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        if generate.is_empty() {
            let msg = format!(
                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                def.kind
            );
            return Err((
                Status::failure(
                    422,
                    "Invalid",
                    msg,
                    Some(
                        json!({"kind": def.kind, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]}),
                    ),
                ),
                none(),
            ));
        }
        name = util::generate_name(&generate);
    }
    obj["metadata"]["name"] = json!(name);
    // Defaulting.
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => defaults::pod(&mut obj),
        ("", "services") => {
            let ip = format!("10.96.{}.{}", fastrand::u8(1..250), fastrand::u8(1..250));
            defaults::service(&mut obj, &ip)
        }
        ("apps", "deployments") => defaults::deployment(&mut obj),
        ("", "namespaces") => defaults::namespace(&mut obj, &name),
        ("apiextensions.k8s.io", "customresourcedefinitions") => defaults::crd(&mut obj),
        _ => {}
    }
    // Admission.
    let mut warnings = vec![];
    let mut ann = BTreeMap::new();
    if def.group.is_empty() && def.plural == "pods" {
        match admission::admit_pod_create(cl, ns, &obj) {
            Ok(o) => {
                warnings = o.warnings;
                ann = o.annotations;
            }
            Err((st, o)) => return Err((st, o.annotations)),
        }
    } else if let Some(t) = admission::workload_template(&def.group, &def.plural, &obj) {
        let o = admission::admit_workload(cl, ns, &t);
        warnings = o.warnings;
        ann = o.annotations;
    } else if def.group.is_empty() && def.plural == "namespaces" {
        match admission::admit_namespace(cl, None, &obj) {
            Ok(w) => warnings = w,
            Err(st) => return Err((st, ann)),
        }
    }
    let key = Key::new(&def.storage, if def.namespaced { ns } else { "" }, &name);
    match cl.store.create(key, obj, def.generation) {
        Ok(o) => {
            if def.group == "apiextensions.k8s.io" {
                crate::controllers::establish_crd_later(cl.clone(), name.clone());
            }
            Ok((o, warnings, ann))
        }
        Err(e) => Err((store_err(def, &name, e), ann)),
    }
}

fn has_status_sub(def: &ResDef) -> bool {
    def.has_sub("status")
}

/// PUT: replace (main resource keeps status; /status keeps everything but status).
fn update_object(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    mut obj: Value,
    _w: Option<()>,
) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let expect = util::get_str(&obj, &["metadata", "resourceVersion"]).map(String::from);
    let sub = info.subresource.clone();
    let res = cl.store.update(&key, expect.as_deref(), |cur| {
        if sub == "status" {
            let st = obj.get("status").cloned().unwrap_or(Value::Null);
            cur["status"] = st;
        } else {
            if has_status_sub(def) {
                obj["status"] = cur.get("status").cloned().unwrap_or(Value::Null);
                if obj["status"].is_null() {
                    obj.as_object_mut().unwrap().remove("status");
                }
            }
            let spec_changed = obj.get("spec") != cur.get("spec");
            let generation = cur.pointer("/metadata/generation").and_then(|g| g.as_i64());
            obj["apiVersion"] = cur["apiVersion"].clone();
            obj["kind"] = cur["kind"].clone();
            *cur = obj.clone();
            if let Some(g) = generation {
                cur["metadata"]["generation"] = json!(if spec_changed { g + 1 } else { g });
            }
        }
        Ok(true)
    });
    match res {
        Ok(o) => Out::ok(200, o),
        Err(e) => Out::err(store_err(def, &info.name, e)),
    }
}

/// Apply the server-side-apply approximation: maps merged recursively, everything else replaced.
fn apply_merge(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => apply_merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = applied.clone(),
    }
}

async fn patch(
    cl: &Arc<Cluster>,
    caller: &Caller,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Out {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let is_apply = ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor";
    let patch: Value = if is_apply {
        match serde_json::from_slice(body)
            .or_else(|_| serde_saphyr::from_slice::<Value>(body).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return Out::err(Status::bad_request(format!("error decoding YAML: {e}"))),
        }
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Out::err(Status::bad_request(format!("error decoding patch: {e}"))),
        }
    };
    match ct {
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/apply-patch+yaml" => {}
        "application/json-patch+json" => {
            return Out::err(Status::failure(
                415,
                "UnsupportedMediaType",
                "the simulated apiserver does not implement JSON patch (RFC 6902); use merge patch or server-side apply",
                Some(json!({})),
            ));
        }
        other => {
            return Out::err(Status::failure(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                ),
                Some(json!({})),
            ));
        }
    }
    if is_apply {
        if info.q("fieldManager").unwrap_or("").is_empty() {
            return Out::err(Status::bad_request(
                "PATCH /apply requires fieldManager to be set",
            ));
        }
        if let Some(n) = util::get_str(&patch, &["metadata", "name"])
            && n != info.name
        {
            return Out::err(Status::bad_request(
                "the name of the object (".to_string()
                    + n
                    + ") does not match the name on the URL ("
                    + &info.name
                    + ")",
            ));
        }
        if cl.store.get(&key).is_none() && info.subresource.is_empty() {
            let mut obj = patch.clone();
            if obj.get("metadata").is_none() {
                obj["metadata"] = json!({});
            }
            obj["metadata"]["name"] = json!(info.name);
            return match create_object(cl, caller, def, &info.namespace, obj).await {
                Ok((o, warnings, ann)) => Out {
                    code: 201,
                    body: o,
                    warnings,
                    annotations: ann,
                    objref_name: None,
                },
                Err((st, ann)) => Out {
                    annotations: ann,
                    ..Out::err(st)
                },
            };
        }
    }
    let sub = info.subresource.clone();
    let status_sub = has_status_sub(def);
    // Compute outside the store lock (admission reads the store), then write with a
    // resourceVersion precondition; retry on a concurrent write.
    for _ in 0..10 {
        let Some(before) = cl.store.get(&key) else {
            return Out::err(Status::not_found(&def.plural, &def.group, &info.name));
        };
        let rv = util::get_str(&before, &["metadata", "resourceVersion"])
            .unwrap_or_default()
            .to_string();
        let mut warnings = vec![];
        let mut annotations = BTreeMap::new();
        let mut new = before.clone();
        if is_apply {
            apply_merge(&mut new, &patch)
        } else {
            util::merge_patch(&mut new, &patch)
        }
        let result = if sub == "status" {
            let mut r = before.clone();
            r["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            r
        } else {
            if status_sub {
                match before.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        new.as_object_mut().unwrap().remove("status");
                    }
                }
            }
            if def.plural == "namespaces" && def.group.is_empty() {
                match admission::admit_namespace(cl, Some(&before), &new) {
                    Ok(w) => warnings = w,
                    Err(st) => return Out::err(st),
                }
            }
            if let Some(t) = admission::workload_template(&def.group, &def.plural, &new)
                && Some(&t)
                    != admission::workload_template(&def.group, &def.plural, &before).as_ref()
            {
                let o = admission::admit_workload(cl, &info.namespace, &t);
                warnings = o.warnings;
                annotations = o.annotations;
            }
            if let Some(g) = before
                .pointer("/metadata/generation")
                .and_then(|g| g.as_i64())
            {
                new["metadata"]["generation"] = json!(if new.get("spec") != before.get("spec") {
                    g + 1
                } else {
                    g
                });
            }
            new
        };
        let changed = result != before;
        match cl.store.update(&key, Some(&rv), |cur| {
            *cur = result;
            Ok(changed)
        }) {
            Ok(o) => {
                return Out {
                    code: 200,
                    body: o,
                    warnings,
                    annotations,
                    objref_name: None,
                };
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Out::err(store_err(def, &info.name, e)),
        }
    }
    Out::err(store_err(def, &info.name, StoreError::Conflict))
}

async fn delete(cl: &Arc<Cluster>, _caller: &Caller, def: &ResDef, info: &ReqInfo) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let Some(cur) = cl.store.get(&key) else {
        return Out::err(Status::not_found(&def.plural, &def.group, &info.name));
    };
    let uid = util::get_str(&cur, &["metadata", "uid"])
        .unwrap_or_default()
        .to_string();
    if def.group.is_empty() && def.plural == "pods" {
        let grace = info
            .q("gracePeriodSeconds")
            .and_then(|g| g.parse::<i64>().ok())
            .unwrap_or_else(|| {
                cur.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(|g| g.as_i64())
                    .unwrap_or(30)
            });
        if grace == 0 || cur.pointer("/spec/nodeName").is_none() {
            let o = cl.store.delete(&key).unwrap_or(cur);
            return Out::ok(200, o);
        }
        if cur.pointer("/metadata/deletionTimestamp").is_some() {
            return Out::ok(200, cur);
        }
        let ts = util::now_rfc3339();
        let res = cl.store.update(&key, None, |o| {
            o["metadata"]["deletionTimestamp"] = json!(ts);
            o["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            Ok(true)
        });
        return match res {
            Ok(o) => Out::ok(200, o),
            Err(e) => Out::err(store_err(def, &info.name, e)),
        };
    }
    if def.group.is_empty() && def.plural == "namespaces" {
        if cur.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Terminating") {
            return Out::ok(200, cur);
        }
        let ts = util::now_rfc3339();
        let res = cl.store.update(&key, None, |o| {
            o["metadata"]["deletionTimestamp"] = json!(ts);
            o["status"]["phase"] = json!("Terminating");
            Ok(true)
        });
        crate::controllers::terminate_namespace_later(cl.clone(), info.name.clone());
        return match res {
            Ok(o) => Out::ok(200, o),
            Err(e) => Out::err(store_err(def, &info.name, e)),
        };
    }
    cl.store.delete(&key);
    crate::controllers::collect_garbage_later(cl.clone(), uid.clone());
    let mut details = json!({"name": info.name});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    details["kind"] = json!(def.plural);
    details["uid"] = json!(uid);
    let mut st = Status::success();
    st.details = Some(details);
    Out::ok(200, st.to_value())
}
