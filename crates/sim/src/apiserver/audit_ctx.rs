//! The audit side of one API request: the policy's level for it, and the audit.k8s.io/v1 events
//! of its stages (RequestReceived, ResponseStarted, ResponseComplete). Handlers, watches and the
//! WebSocket streams all end their requests through it.

use http::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::request::ReqInfo;
use super::response::{Body, json_response};
use crate::audit::{self, Attrs, Event as AuditEvent, Level, ObjectRef};
use crate::cluster::{Caller, Cluster};
use crate::util;

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
    /// The authorizer refused the request (decision `forbid`).
    pub forbidden: bool,
}

impl AuditCtx {
    pub fn new(
        cl: &Cluster,
        caller: &Caller,
        uri: &str,
        info: Option<&ReqInfo>,
        nonresource_verb: &str,
    ) -> AuditCtx {
        let verb = info.map_or(nonresource_verb, |i| i.verb.as_str());
        let (level, omit) = match &cl.audit {
            None => (Level::None, vec![]),
            Some(a) => a.policy.evaluate(&attrs(caller, uri, info, verb)),
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
            verb: verb.to_string(),
            caller: caller.clone(),
            objref,
            forbidden: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.level > Level::None
    }

    /// Ends a request that does no work: audits it as `ResponseComplete` with this status, and
    /// answers with it. `authorized` is false for what flow control rejects before authorization.
    pub fn answer(
        &self,
        cl: &Cluster,
        code: u16,
        body: &Value,
        authorized: bool,
    ) -> Response<Body> {
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

    /// Audits a stage that carries only a status code (`ResponseStarted` of a watch, the end
    /// of a WebSocket stream, …).
    pub fn emit_code(&self, cl: &Cluster, stage: &'static str, code: u16) {
        self.emit(
            cl,
            stage,
            Some(json!({"metadata": {}, "code": code})),
            &BTreeMap::new(),
            None,
            true,
        );
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
            let (decision, reason) = if self.forbidden {
                ("forbid", String::new())
            } else {
                ("allow", self.caller.authz_reason.clone())
            };
            ann.insert(
                "authorization.k8s.io/decision".to_string(),
                decision.to_string(),
            );
            ann.insert("authorization.k8s.io/reason".to_string(), reason);
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

/// What the audit policy matches a request on.
fn attrs<'a>(
    caller: &'a Caller,
    uri: &'a str,
    info: Option<&'a ReqInfo>,
    verb: &'a str,
) -> Attrs<'a> {
    let or_empty = |s: Option<&'a String>| s.map_or("", String::as_str);
    Attrs {
        user: &caller.user.username,
        groups: &caller.user.groups,
        verb,
        resource_request: info.is_some(),
        group: or_empty(info.map(|i| &i.group)),
        resource: or_empty(info.map(|i| &i.resource)),
        subresource: or_empty(info.map(|i| &i.subresource)),
        namespace: or_empty(info.map(|i| &i.namespace)),
        name: or_empty(info.map(|i| &i.name)),
        path: uri.split('?').next().unwrap_or(uri),
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
