//! The API server's audit log (audit.k8s.io/v1 events, one JSON object per line), read from the
//! kind control-plane node, and the selections the tutorial's claims need.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use pss::{AUDIT_VIOLATIONS_ANNOTATION, ENFORCE_POLICY_ANNOTATION, EnforceRejection};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::cmd::Command;

/// Where the log lives: a file inside the control-plane node container.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pub node: String,
    pub path: String,
}

impl AuditLog {
    pub fn read_command(&self, sh: &Shell) -> Command {
        let (node, path) = (&self.node, &self.path);
        cmd!(sh, "docker exec {node} cat {path}").into()
    }

    /// Reads and parses the whole log. A missing file means audit logging is not configured: that
    /// is a failure, not an empty log.
    pub async fn read(&self, sh: &Shell) -> Result<Vec<AuditEvent>> {
        let line = self.read_command(sh).shell_line();
        let out = self.read_command(sh).output().await?;
        if !out.success() {
            let why = out.last_words();
            if why.contains("No such file or directory") {
                bail!("audit logging is not configured: `{line}` says: {why}");
            }
            bail!("cannot read the audit log: `{line}` says: {why}");
        }
        parse_log(&out.stdout).map_err(|e| anyhow::anyhow!("{} in the output of `{line}`", e))
    }
}

/// One audit event; only the fields the checks use (unknown fields are ignored, as the format grows).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub kind: String,
    pub api_version: String,
    pub level: String,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: UserInfo,
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub stage_timestamp: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UserInfo {
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub api_group: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A line that is not an audit event. A last line without its newline is still being written and
/// is left for the next read instead.
#[derive(Debug)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit log line {}: {}", self.line, self.message)
    }
}

pub fn parse_log(text: &str) -> Result<Vec<AuditEvent>, ParseError> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut events = Vec::new();
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: AuditEvent = serde_json::from_str(line).map_err(|e| ParseError {
            line: i + 1,
            message: e.to_string(),
        })?;
        if event.kind != "Event" || event.api_version != "audit.k8s.io/v1" {
            return Err(ParseError {
                line: i + 1,
                message: format!(
                    "expected an audit.k8s.io/v1 Event, found {} {}",
                    event.api_version, event.kind
                ),
            });
        }
        events.push(event);
    }
    Ok(events)
}

impl AuditEvent {
    fn namespace(&self) -> Option<&str> {
        self.object_ref.as_ref()?.namespace.as_deref()
    }
    fn is_pod_create_in(&self, namespace: &str) -> bool {
        let Some(r) = &self.object_ref else {
            return false;
        };
        self.verb == "create"
            && r.resource.as_deref() == Some("pods")
            && r.subresource.is_none()
            && r.namespace.as_deref() == Some(namespace)
            && self.stage == "ResponseComplete"
    }
    fn code(&self) -> Option<u16> {
        self.response_status.as_ref()?.code
    }
}

/// Events about objects in `namespace`.
pub fn in_namespace<'a>(
    events: &'a [AuditEvent],
    namespace: &'a str,
) -> impl Iterator<Item = &'a AuditEvent> {
    events
        .iter()
        .filter(move |e| e.namespace() == Some(namespace))
}

/// A pod create that Pod Security admission refused.
#[derive(Debug, Clone, PartialEq)]
pub struct PsaRejection {
    /// The 403's message, parsed. The pod's generated name is only there: the objectRef of a
    /// `generateName` create has none.
    pub rejection: EnforceRejection,
    pub username: String,
}

/// Pod creates in `namespace` refused by Pod Security: 403, Forbidden, PSA's own annotation, and
/// PSA's message. (RBAC denials are 403 too, but carry neither.)
pub fn psa_rejections(events: &[AuditEvent], namespace: &str) -> Vec<PsaRejection> {
    events
        .iter()
        .filter(|e| {
            e.is_pod_create_in(namespace)
                && e.code() == Some(403)
                && e.annotations.contains_key(ENFORCE_POLICY_ANNOTATION)
        })
        .filter_map(|e| {
            let msg = e.response_status.as_ref()?.message.as_deref()?;
            Some(PsaRejection {
                rejection: pss::parse_enforce_message(msg)?,
                username: e.user.username.clone(),
            })
        })
        .collect()
}

/// A pod create in the namespace that the API server allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmittedPodCreate {
    pub username: String,
    pub enforce_policy: Option<String>,
    pub audit_violations: Option<String>,
}

pub fn admitted_pod_creates(events: &[AuditEvent], namespace: &str) -> Vec<AdmittedPodCreate> {
    events
        .iter()
        .filter(|e| e.is_pod_create_in(namespace) && matches!(e.code(), Some(200..=299)))
        .map(|e| AdmittedPodCreate {
            username: e.user.username.clone(),
            enforce_policy: e.annotations.get(ENFORCE_POLICY_ANNOTATION).cloned(),
            audit_violations: e.annotations.get(AUDIT_VIOLATIONS_ANNOTATION).cloned(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real line (a kube-apiserver v1.30 audit log, kubectl run in a labelled namespace): an allowed pod with an audit violation.
    pub const ALLOWED_WITH_VIOLATION: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0cf28c0d-7508-4ff0-b65a-d59f5fbfb710","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?fieldManager=kubectl-run","verb":"create","user":{"username":"kubernetes-admin","groups":["kubeadm:cluster-admins","system:authenticated"]},"sourceIPs":["172.18.0.1"],"userAgent":"kubectl/v1.30.3 (linux/amd64) kubernetes/6fc0a69","objectRef":{"resource":"pods","namespace":"default","name":"pss-example","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2024-08-14T05:40:56.794659Z","stageTimestamp":"2024-08-14T05:40:56.801855Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"","pod-security.kubernetes.io/audit-violations":"would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"pss-example\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"pss-example\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"pss-example\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"pss-example\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")","pod-security.kubernetes.io/enforce-policy":"privileged:latest"}}"#;

    /// A real line (kube-apiserver v1.24): an RBAC 403, which is not a Pod Security rejection.
    pub const RBAC_FORBIDDEN: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"9151d8b4-0630-4020-8e18-c65369a13249","stage":"ResponseComplete","requestURI":"/apis/policy/v1/poddisruptionbudgets?limit=500\u0026resourceVersion=0","verb":"list","user":{"username":"system:kube-scheduler","groups":["system:authenticated"]},"sourceIPs":["10.0.60.42"],"userAgent":"kube-scheduler/v1.24.13 (linux/amd64) kubernetes/6305d65/scheduler","objectRef":{"resource":"poddisruptionbudgets","apiGroup":"policy","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","message":"poddisruptionbudgets.policy is forbidden: User \"system:kube-scheduler\" cannot list resource \"poddisruptionbudgets\" in API group \"policy\" at the cluster scope","reason":"Forbidden","details":{"group":"policy","kind":"poddisruptionbudgets"},"code":403},"requestReceivedTimestamp":"2023-05-20T04:14:53.795931Z","stageTimestamp":"2023-05-20T04:14:53.798812Z","annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""}}"#;

    pub const HEAD_DETAIL: &str = r#"allowPrivilegeEscalation != false (container "ray-head" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "ray-head" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "ray-head" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "ray-head" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#;

    /// The operator's refused head-pod create, shaped as kube-apiserver writes a refused `generateName` create (no name in objectRef).
    pub fn head_rejected_line(pod: &str) -> String {
        let message = format!(
            r#"pods "{pod}" is forbidden: violates PodSecurity "restricted:latest": {HEAD_DETAIL}"#
        );
        serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": "5d1c3f8e-2b7a-4c1e-9f3d-1a2b3c4d5e6f", "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/pod-security/pods", "verb": "create",
            "user": {"username": "system:serviceaccount:pod-security:kuberay-operator",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:pod-security", "system:authenticated"]},
            "sourceIPs": ["10.244.0.5"], "userAgent": "kuberay-operator",
            "objectRef": {"resource": "pods", "namespace": "pod-security", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "status": "Failure", "message": message, "reason": "Forbidden",
                               "details": {"name": pod, "kind": "pods"}, "code": 403},
            "requestReceivedTimestamp": "2026-11-28T04:20:00.000001Z", "stageTimestamp": "2026-11-28T04:20:00.004321Z",
            "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed",
                            "pod-security.kubernetes.io/audit-violations": format!("would violate PodSecurity \"restricted:latest\": {HEAD_DETAIL}"),
                            "pod-security.kubernetes.io/enforce-policy": "restricted:latest"}
        })
        .to_string()
    }

    /// An allowed create of a generateName pod in pod-security, without violations.
    pub fn admitted_line(user: &str) -> String {
        serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a", "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/pod-security/pods", "verb": "create",
            "user": {"username": user}, "objectRef": {"resource": "pods", "namespace": "pod-security", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 201},
            "annotations": {"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}
        })
        .to_string()
    }

    #[test]
    fn parses_real_lines() {
        let log = format!("{ALLOWED_WITH_VIOLATION}\n{RBAC_FORBIDDEN}\n");
        let events = parse_log(&log).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].object_ref.as_ref().unwrap().name.as_deref(),
            Some("pss-example")
        );
        assert_eq!(events[1].response_status.as_ref().unwrap().code, Some(403));
        assert_eq!(in_namespace(&events, "default").count(), 1);
        assert_eq!(in_namespace(&events, "pod-security").count(), 0);
    }

    #[test]
    fn an_unfinished_last_line_waits_for_the_next_read() {
        let log = format!("{ALLOWED_WITH_VIOLATION}\n{}", &RBAC_FORBIDDEN[..40]);
        assert_eq!(parse_log(&log).unwrap().len(), 1);
    }

    #[test]
    fn a_broken_line_is_an_error_with_its_number() {
        let err = parse_log(&format!("{ALLOWED_WITH_VIOLATION}\nnot json\n")).unwrap_err();
        assert_eq!(err.line, 2);
        let err =
            parse_log("{\"kind\":\"Policy\",\"apiVersion\":\"audit.k8s.io/v1\"}\n").unwrap_err();
        assert!(
            err.message.contains("missing field") || err.message.contains("expected"),
            "{err}"
        );
    }

    #[test]
    fn psa_rejection_takes_the_name_from_the_message() {
        let log = format!(
            "{}\n{RBAC_FORBIDDEN}\n{ALLOWED_WITH_VIOLATION}\n",
            head_rejected_line("raycluster-complete-head-fkbf5")
        );
        let events = parse_log(&log).unwrap();
        let r = psa_rejections(&events, "pod-security");
        assert_eq!(
            r.len(),
            1,
            "the RBAC 403 and the allowed pod are not PSA rejections"
        );
        assert_eq!(r[0].rejection.pod, "raycluster-complete-head-fkbf5");
        assert_eq!(r[0].rejection.policy.to_string(), "restricted:latest");
        assert_eq!(r[0].rejection.detail, HEAD_DETAIL);
        assert_eq!(
            r[0].username,
            "system:serviceaccount:pod-security:kuberay-operator"
        );
        assert!(psa_rejections(&events, "default").is_empty());
    }

    #[test]
    fn admitted_creates_carry_policy_and_violations() {
        let events = parse_log(&format!(
            "{ALLOWED_WITH_VIOLATION}\n{}\n",
            admitted_line("op")
        ))
        .unwrap();
        let d = admitted_pod_creates(&events, "default");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].enforce_policy.as_deref(), Some("privileged:latest"));
        assert!(
            d[0].audit_violations
                .as_deref()
                .unwrap()
                .starts_with("would violate PodSecurity")
        );
        let p = admitted_pod_creates(&events, "pod-security");
        assert_eq!(
            p,
            vec![AdmittedPodCreate {
                username: "op".into(),
                enforce_policy: Some("restricted:latest".into()),
                audit_violations: None
            }]
        );
    }
}
