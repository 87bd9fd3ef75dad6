//! Non-resource endpoints: `/version`, the discovery documents (`/api`, `/api/v1`, `/apis`,
//! `/apis/{group}[/{version}]`), the OpenAPI documents (`/openapi/v2`, `/openapi/v3[/…]`, from
//! `openapi`) and the health checks (`/healthz`, `/livez`, `/readyz`).

use http::{Method, Response};
use serde_json::Value;
use std::sync::Arc;

use super::audit_ctx::AuditCtx;
use super::response::{Body, full, no_such_resource};
use crate::cluster::{Caller, Cluster};
use crate::discovery;

pub fn serve_nonresource(
    cl: &Arc<Cluster>,
    caller: &Caller,
    method: &Method,
    uri: &str,
    accept: &str,
) -> Response<Body> {
    let path = uri.split('?').next().unwrap_or(uri).trim_end_matches('/');
    let ax = AuditCtx::new(cl, caller, uri, None, nonresource_verb(method));
    ax.emit(
        cl,
        "RequestReceived",
        None,
        &Default::default(),
        None,
        false,
    );
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if matches!(segs.as_slice(), ["healthz"] | ["livez"] | ["readyz"]) {
        ax.emit_code(cl, "ResponseComplete", 200);
        return Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(full("ok"))
            .expect("response");
    }
    if let ["openapi", rest @ ..] = segs.as_slice() {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        if let Some(a) = crate::openapi::serve(&cl.store, rest, query, accept) {
            ax.emit_code(cl, "ResponseComplete", a.code);
            let mut b = Response::builder()
                .status(a.code)
                .header(http::header::CONTENT_TYPE, a.content_type)
                .header("Audit-Id", ax.id.as_str());
            if let Some(l) = a.location {
                b = b.header(http::header::LOCATION, l);
            }
            return b.body(full(a.body)).expect("response");
        }
    }
    match document(cl, &segs) {
        Some(body) => ax.answer(cl, 200, &body, true),
        None => ax.answer(cl, 404, &no_such_resource().to_value(), true),
    }
}

/// The verb audit policy sees for a non-resource request.
fn nonresource_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        _ => "get",
    }
}

/// The version or discovery document at a path, if there is one.
fn document(cl: &Cluster, segs: &[&str]) -> Option<Value> {
    match segs {
        ["version"] => Some(cl.version.version_json()),
        ["api"] => Some(discovery::api_versions()),
        ["api", "v1"] => Some(discovery::api_resource_list(&cl.store, "", "v1").expect("core")),
        ["apis"] => Some(discovery::api_group_list(&cl.store)),
        ["apis", g] => discovery::api_group(&cl.store, g),
        ["apis", g, v] => discovery::api_resource_list(&cl.store, g, v),
        _ => None,
    }
}
