//! The fake kube-apiserver: HTTPS (HTTP/1.1) on 127.0.0.1, answering in JSON (reading JSON, YAML
//! and some protobuf). Routing of `/api` and `/apis` paths, discovery, OpenAPI, field
//! validation, CRUD + list + watch + merge-patch + server-side apply, PodSecurity admission,
//! audit logging per the cluster's policy, fault injection (429/503 bursts, dropped watches), and
//! the WebSocket upgrades for `pods/exec` and `pods/portforward` (handed to `streams`).
//!
//! This file holds the listener and the request entry points; the request plumbing that
//! `streams` shares (request parsing, audit context, responses) lives in submodules that import
//! nothing of the handlers.

pub mod audit_ctx;
pub mod authorize;
mod body;
mod create;
pub mod events;
mod handlers;
mod nonresource;
mod patch;
pub mod protobuf;
pub mod request;
pub mod response;
mod scale;
mod select;
mod table;
mod watch;
mod watch_list;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::net::TcpListener;

pub use audit_ctx::{AuditCtx, audit_response_status};
pub use authorize::authorize;
pub use events::to_events_v1;
pub use request::{Verb, parse_resource_path};
pub use response::{Body, body_bytes, full, json_response};

use crate::authz;
use crate::cluster::{Caller, Cluster};
use crate::discovery;
use crate::faults::Fault;
use crate::logs;
use crate::openapi::validate::Outcome;
use crate::tls::CertIdentity;
use crate::util::Status;

/// Start serving the cluster's API on 127.0.0.1 (ephemeral port).
pub async fn start(cl: Arc<Cluster>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    *cl.addr.lock().unwrap() = Some(addr);
    let cancel = cl.cancel.clone();
    let acceptor = cl.pki.acceptor();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                acc = listener.accept() => {
                    let Ok((stream, peer)) = acc else { continue };
                    tokio::spawn(serve_connection(cl.clone(), acceptor.clone(), stream, peer));
                }
            }
        }
    });
    Ok(addr)
}

/// One client connection: TLS, then HTTP/1.1 (with upgrades) until it closes or the cluster stops.
async fn serve_connection(
    cl: Arc<Cluster>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let cancel = cl.cancel.clone();
    let Ok(stream) = acceptor.accept(stream).await else {
        return;
    };
    // The client certificate, if one was presented, as kube-apiserver's x509 authenticator
    // sees it (its verification cached for the connection, as that authenticator caches it).
    let cert_id: Arc<Option<CertIdentity>> = Arc::new(
        stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| cl.pki.authenticate(chain)),
    );
    let svc = hyper::service::service_fn(move |req| {
        let cl = cl.clone();
        let cert_id = cert_id.clone();
        async move {
            Ok::<_, std::convert::Infallible>(
                external(cl, peer, cert_id.as_ref().as_ref(), req).await,
            )
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        _ = cancel.cancelled() => {}
    }
}

/// kube-apiserver's answer to a request no authenticator accepts, in its field order.
fn unauthorized() -> Response<Body> {
    const BODY: &str = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n";
    Response::builder()
        .status(http::StatusCode::UNAUTHORIZED)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(full(BODY))
        .expect("response")
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|h| h.to_str().ok())
}

/// A request from outside the node (the harness, kubectl, helm): authentication by a client
/// certificate the cluster's CA signed or a bearer token (401 without either), then a WebSocket
/// upgrade (`streams`) or an ordinary request.
async fn external(
    cl: Arc<Cluster>,
    _peer: SocketAddr,
    cert_id: Option<&CertIdentity>,
    req: http::Request<Incoming>,
) -> Response<Body> {
    let token = header(req.headers(), http::header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|s| s.trim().to_string());
    let ua = header(req.headers(), http::header::USER_AGENT)
        .unwrap_or("")
        .to_string();
    // Seen from inside the kind node, host clients come from the docker bridge gateway.
    let by_cert = || cert_id.map(|id| cl.caller_for_cert(id, &ua, "172.18.0.1"));
    let by_token = || token.and_then(|t| cl.caller_for_token(&t, &ua, "172.18.0.1"));
    let Some(caller) = by_cert().or_else(by_token) else {
        return unauthorized();
    };
    if crate::streams::is_upgrade(req.headers()) {
        return crate::streams::handle_upgrade(cl, caller, req).await;
    }
    let (parts, body) = req.into_parts();
    let body = body_bytes(body).await;
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
    let body = body_bytes(resp.into_body()).await;
    CallResult {
        code,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

/// Serve one request: audit it, apply the overload faults, find its resource, then watch or
/// dispatch to the handlers.
pub async fn serve(
    cl: &Arc<Cluster>,
    caller: &Caller,
    method: &Method,
    uri: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some(info) = parse_resource_path(method, uri) else {
        let accept = header(headers, http::header::ACCEPT).unwrap_or("");
        return nonresource::serve_nonresource(cl, caller, method, uri, accept);
    };
    let mut ax = AuditCtx::new(cl, caller, uri, Some(&info), "");
    // The request object as audit logs it (a protobuf body as the JSON it decodes to).
    let req_obj: Option<Value> = if body.is_empty() {
        None
    } else if header(headers, http::header::CONTENT_TYPE) == Some(protobuf::MEDIA_TYPE) {
        protobuf::decode(&body).ok()
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
    if caller.external
        && let Some(rejected) = overload_fault(cl, &ax, method, uri)
    {
        return rejected;
    }
    if let Some(st) = authorize(caller, &info, info.verb.as_str()) {
        ax.forbidden = true;
        return ax.answer(cl, 403, &st.to_value(), true);
    }
    // An unknown resource, or a subresource it does not have.
    let Some(def) = discovery::find(&cl.store, &info.group, &info.version, &info.resource)
        .filter(|d| info.subresource.is_empty() || d.has_sub(&info.subresource))
    else {
        return ax.answer(cl, 404, &response::no_such_resource().to_value(), true);
    };
    if info.verb == Verb::Watch {
        return watch::serve_watch(cl, ax, &def, &info, caller.external);
    }
    if def.group == "authorization.k8s.io" {
        let content_type = header(headers, http::header::CONTENT_TYPE).unwrap_or("");
        return self_subject_access_review(cl, &ax, caller, &info, content_type, &body);
    }
    if def.plural == "pods" && info.subresource == "log" {
        return pod_log(cl, &ax, &info);
    }
    let mut content_type = header(headers, http::header::CONTENT_TYPE).unwrap_or("");
    let mut body = body;
    let mut field_warnings = vec![];
    match field_validation(cl, &def, &info, content_type, &body) {
        Outcome::Pass => {}
        Outcome::Refuse(st) => return ax.answer(cl, st.code, &st.to_value(), true),
        Outcome::Prune {
            body: pruned,
            warnings,
        } => {
            // The pruned body is JSON (valid YAML for an apply patch).
            if !content_type.starts_with("application/apply-patch") {
                content_type = "application/json";
            }
            body = Bytes::from(pruned);
            field_warnings = warnings;
        }
    }
    let mut out = handlers::dispatch(cl, &def, &info, content_type, &body).await;
    out.warnings.extend(field_warnings);
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
    if def.group.is_empty()
        && def.plural == "events"
        && info.verb == Verb::List
        && out.code == 200
        && table::wants_table(header(headers, http::header::ACCEPT).unwrap_or(""))
    {
        out.body = table::events(&out.body, jiff::Timestamp::now());
    }
    json_response(out.code, &out.body, &out.warnings, &ax.id)
}

/// `POST selfsubjectaccessreviews`: whether the caller may do what the review asks.
fn self_subject_access_review(
    cl: &Cluster,
    ax: &AuditCtx,
    caller: &Caller,
    info: &request::ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Response<Body> {
    if info.verb != Verb::Create || info.resource != "selfsubjectaccessreviews" {
        return ax.answer(cl, 405, &response::method_not_allowed().to_value(), true);
    }
    // JSON from kube-rs, protobuf from kubectl (`kubectl auth can-i`).
    let review = match body::decode_object(content_type, body) {
        Ok(review) => review,
        Err(st) => return ax.answer(cl, st.code, &st.to_value(), true),
    };
    let out = authz::self_subject_access_review(&review, &caller.rights, &caller.authz_reason);
    ax.answer(cl, 201, &out, true)
}

/// `?fieldValidation=` on a create, update or server-side apply of the object itself (not a
/// subresource): what becomes of fields its schema does not declare (`openapi::validate`).
fn field_validation(
    cl: &Cluster,
    def: &discovery::ResDef,
    info: &request::ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Outcome {
    use crate::openapi::validate::{Write, check};
    if !info.subresource.is_empty() {
        return Outcome::Pass;
    }
    let write = match info.verb {
        Verb::Create => Write::Create,
        Verb::Update => Write::Update,
        Verb::Patch if content_type.starts_with("application/apply-patch") => Write::Apply,
        _ => return Outcome::Pass,
    };
    check(
        &cl.store,
        def,
        write,
        info.q("fieldValidation"),
        content_type,
        body,
    )
}

/// `GET pods/NAME/log`: the container's log as text, or the error the apiserver gives.
fn pod_log(cl: &Cluster, ax: &AuditCtx, info: &request::ReqInfo) -> Response<Body> {
    if info.verb != Verb::Get {
        return ax.answer(cl, 405, &response::method_not_allowed().to_value(), true);
    }
    let key = crate::store::Key::new("pods", &info.namespace, &info.name);
    let Some(pod) = cl.store.get(&key) else {
        let st = Status::not_found("pods", "", &info.name);
        return ax.answer(cl, st.code, &st.to_value(), true);
    };
    let query = logs::LogQuery {
        container: info.q("container").map(String::from),
        previous: info.q("previous") == Some("true"),
        tail_lines: info.q("tailLines").and_then(|n| n.parse().ok()),
    };
    match logs::container_log(cl, &pod, &query) {
        Ok(text) => {
            ax.emit(
                cl,
                "ResponseComplete",
                Some(json!({"metadata": {}, "code": 200})),
                &BTreeMap::new(),
                None,
                true,
            );
            Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "text/plain")
                .header("Audit-Id", ax.id.as_str())
                .body(full(text))
                .expect("response")
        }
        Err(st) => ax.answer(cl, st.code, &st.to_value(), true),
    }
}

/// Overload faults: requests 4 to 7 from outside are refused with 429 or 503. API Priority and
/// Fairness rejects before authorization (so no authz annotations).
fn overload_fault(
    cl: &Cluster,
    ax: &AuditCtx,
    method: &Method,
    uri: &str,
) -> Option<Response<Body>> {
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
        return Some(r);
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
        return Some(ax.answer(cl, 503, &st.to_value(), false));
    }
    None
}
