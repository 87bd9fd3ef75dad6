//! How answers go on the wire: the response body type, JSON responses with the apiserver's headers
//! (Audit-Id, APF uids, `Warning: 299 - "…"`), the handler result [`Out`] and the metav1.Status
//! errors the handlers share.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::discovery::ResDef;
use crate::store::StoreError;
use crate::util::Status;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A whole request or response body (empty when the connection failed mid-body).
pub async fn body_bytes<B: hyper::body::Body>(body: B) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
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

/// Handler output before it becomes an HTTP response.
pub struct Out {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    /// Name to complete `objectRef.name` with (creates with an explicit name).
    pub objref_name: Option<String>,
}

impl Out {
    pub fn ok(code: u16, body: Value) -> Out {
        Out {
            code,
            body,
            warnings: vec![],
            annotations: BTreeMap::new(),
            objref_name: None,
        }
    }
    pub fn err(st: Status) -> Out {
        Out::ok(st.code, st.to_value())
    }
    /// A create's result (201 with admission's warnings and audit annotations, or the error
    /// with the annotations admission had already made).
    pub fn created(r: Result<Admitted, Rejected>) -> Out {
        match r {
            Ok(a) => Out {
                code: 201,
                body: a.object,
                warnings: a.warnings,
                annotations: a.annotations,
                objref_name: None,
            },
            Err(r) => Out {
                annotations: r.annotations,
                ..Out::err(r.status)
            },
        }
    }
}

/// An object written after admission, with what admission said.
pub struct Admitted {
    pub object: Value,
    pub warnings: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// A refused write: the Status to answer, and the audit annotations made before refusing.
pub struct Rejected {
    pub status: Status,
    pub annotations: BTreeMap<String, String>,
}

impl From<Status> for Rejected {
    fn from(status: Status) -> Rejected {
        Rejected {
            status,
            annotations: BTreeMap::new(),
        }
    }
}

/// 404 for a path the server does not serve (no such resource, group or version).
pub fn no_such_resource() -> Status {
    Status::failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// 405 for a verb the resource (or subresource) does not support.
pub fn method_not_allowed() -> Status {
    Status::failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

/// The Status a store error is answered with.
pub fn store_err(def: &ResDef, name: &str, e: StoreError) -> Status {
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
