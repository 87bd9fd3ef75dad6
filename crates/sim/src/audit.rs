//! kube-apiserver audit logging: an audit.k8s.io/v1 Policy (rules with level, users, userGroups,
//! verbs, resources, namespaces, nonResourceURLs, omitStages; first matching rule wins) and the log
//! backend writing one audit.k8s.io/v1 Event per line, fields in the apiserver's order.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            other => return Err(format!("invalid audit level: {other:?}")),
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default, rename = "resourceNames")]
    resource_names: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
struct RawRule {
    level: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default, rename = "userGroups")]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default, rename = "omitStages")]
    omit_stages: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
struct RawPolicy {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default, rename = "omitStages")]
    omit_stages: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    level: Level,
    raw: RawRule,
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    omit_stages: Vec<String>,
}

/// What a request looks like to the policy.
pub struct Attrs<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub verb: &'a str,
    pub resource_request: bool,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub path: &'a str,
}

impl Policy {
    /// Parse a policy file the way kube-apiserver's `--audit-policy-file` loader does (enough of it).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy =
            serde_saphyr::from_str(text).map_err(|e| format!("failed decoding: {e}"))?;
        match raw.api_version.as_deref() {
            Some("audit.k8s.io/v1") | Some("audit.k8s.io/v1beta1") => {}
            other => return Err(format!("unknown audit policy apiVersion {other:?}")),
        }
        if raw.kind.as_deref() != Some("Policy") {
            return Err(format!("unknown audit policy kind {:?}", raw.kind));
        }
        if raw.rules.is_empty() {
            return Err("loaded illegal policy with 0 rules".into());
        }
        let mut rules = Vec::new();
        for r in raw.rules {
            rules.push(Rule {
                level: Level::parse(&r.level)?,
                raw: r,
            });
        }
        Ok(Policy {
            rules,
            omit_stages: raw.omit_stages,
        })
    }

    /// (level, omitted stages) for a request.
    pub fn evaluate(&self, a: &Attrs) -> (Level, Vec<String>) {
        for r in &self.rules {
            if rule_matches(&r.raw, a) {
                let mut omit = self.omit_stages.clone();
                omit.extend(r.raw.omit_stages.iter().cloned());
                return (r.level, omit);
            }
        }
        (Level::None, vec![])
    }
}

fn rule_matches(r: &RawRule, a: &Attrs) -> bool {
    if !r.users.is_empty() && !r.users.iter().any(|u| u == a.user) {
        return false;
    }
    if !r.user_groups.is_empty() && !r.user_groups.iter().any(|g| a.groups.contains(g)) {
        return false;
    }
    if !r.verbs.is_empty() && !r.verbs.iter().any(|v| v == a.verb || v == "*") {
        return false;
    }
    if !r.namespaces.is_empty() || !r.resources.is_empty() {
        if !a.resource_request {
            return false;
        }
        if !r.namespaces.is_empty() && !r.namespaces.iter().any(|n| n == a.namespace || n == "*") {
            return false;
        }
        if !r.resources.is_empty() {
            let combined = if a.subresource.is_empty() {
                a.resource.to_string()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let hit = r.resources.iter().any(|gr| {
                (gr.group == a.group || gr.group == "*")
                    && (gr.resources.is_empty()
                        || gr.resources.iter().any(|res| {
                            res == "*"
                                || *res == combined
                                || (a.subresource.is_empty() && res == a.resource)
                                || (res.starts_with("*/")
                                    && !a.subresource.is_empty()
                                    && res[2..] == *a.subresource)
                                || (res.ends_with("/*") && res[..res.len() - 2] == *a.resource)
                        }))
                    && (gr.resource_names.is_empty()
                        || gr.resource_names.iter().any(|n| n == a.name))
            });
            if !hit {
                return false;
            }
        }
        return true;
    }
    if !r.non_resource_urls.is_empty() {
        if a.resource_request {
            return false;
        }
        return r.non_resource_urls.iter().any(|u| {
            u == "*" || u == a.path || (u.ends_with('*') && a.path.starts_with(&u[..u.len() - 1]))
        });
    }
    true
}

#[derive(Serialize, Clone, Debug)]
pub struct UserInfo {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct ObjectRef {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(rename = "apiGroup", skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(rename = "resourceVersion", skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// audit.k8s.io/v1 Event, fields in the order of the Go struct (so of the JSON the apiserver writes).
#[derive(Serialize, Clone, Debug)]
pub struct Event {
    pub kind: &'static str,
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub level: &'static str,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: &'static str,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: UserInfo,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(rename = "userAgent", skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(rename = "objectRef", skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    #[serde(rename = "responseStatus", skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    #[serde(rename = "requestObject", skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    #[serde(rename = "responseObject", skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    #[serde(rename = "requestReceivedTimestamp")]
    pub request_received_timestamp: String,
    #[serde(rename = "stageTimestamp")]
    pub stage_timestamp: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// metav1.Status as recorded in `responseStatus`, fields in Go struct order.
#[derive(Serialize, Clone, Debug)]
pub struct ResponseStatus {
    pub metadata: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    pub code: u16,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causes: Option<Vec<Value>>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i64>,
}

impl ResponseStatus {
    /// From a JSON metav1.Status-like value (`{"metadata":{}, "code": 201}` or an error Status).
    pub fn from_value(v: &Value) -> ResponseStatus {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .filter(|x| !x.is_empty())
                .map(String::from)
        };
        let details = v.get("details").filter(|d| d.is_object()).map(|d| {
            let ds = |k: &str| {
                d.get(k)
                    .and_then(|x| x.as_str())
                    .filter(|x| !x.is_empty())
                    .map(String::from)
            };
            StatusDetails {
                name: ds("name"),
                group: ds("group"),
                kind: ds("kind"),
                uid: ds("uid"),
                causes: d.get("causes").and_then(|c| c.as_array()).cloned(),
                retry_after_seconds: d.get("retryAfterSeconds").and_then(|r| r.as_i64()),
            }
        });
        ResponseStatus {
            metadata: serde_json::Map::new(),
            status: s("status"),
            message: s("message"),
            reason: s("reason"),
            details,
            code: v.get("code").and_then(|c| c.as_u64()).unwrap_or(0) as u16,
        }
    }
}

/// The log backend (`--audit-log-path`).
pub struct AuditLog {
    pub policy: Policy,
    pub path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl AuditLog {
    pub fn new(policy: Policy, path: PathBuf) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(AuditLog {
            policy,
            path,
            file: Mutex::new(Some(f)),
        })
    }

    pub fn write(&self, ev: &Event) {
        // Go's encoding/json escapes `&`, `<`, `>` (e.g. `?a=b\u0026c=d` in requestURI); in JSON
        // text these characters can only occur inside strings, so escaping the whole line is exact.
        let mut line = go_json_escape(&serde_json::to_string(ev).expect("audit event serialises"));
        line.push('\n');
        if let Some(f) = self.file.lock().unwrap().as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
    }

    pub fn close(&self) {
        self.file.lock().unwrap().take();
    }
}

pub fn level_str(l: Level) -> &'static str {
    l.as_str()
}

/// Go's JSON encoder escapes `<`, `>` and `&` in strings (so `requestURI` shows `\u0026`).
pub fn go_json_escape(s: &str) -> String {
    s.replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kuberay_policy() -> Policy {
        let path = crate::util::fixtures_root().join("upstream/kuberay/audit-policy.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Policy::parse(&text).unwrap()
    }

    fn attrs<'a>(verb: &'a str, resource: &'a str, sub: &'a str, ns: &'a str) -> Attrs<'a> {
        Attrs {
            user: "kubernetes-admin",
            groups: &[],
            verb,
            resource_request: true,
            group: "",
            resource,
            subresource: sub,
            namespace: ns,
            name: "",
            path: "/api/v1/namespaces/x/pods",
        }
    }

    #[test]
    fn kuberay_policy_matches_pods_in_namespace_only() {
        let p = kuberay_policy();
        assert_eq!(
            p.evaluate(&attrs("create", "pods", "", "pod-security")).0,
            Level::Metadata
        );
        assert_eq!(
            p.evaluate(&attrs("create", "pods", "", "pod-security")).1,
            vec!["RequestReceived".to_string()]
        );
        assert_eq!(
            p.evaluate(&attrs("create", "pods", "exec", "pod-security"))
                .0,
            Level::None
        );
        assert_eq!(
            p.evaluate(&attrs("create", "pods", "", "default")).0,
            Level::None
        );
        assert_eq!(
            p.evaluate(&attrs("create", "services", "", "pod-security"))
                .0,
            Level::None
        );
        assert_eq!(p.evaluate(&attrs("list", "pods", "", "")).0, Level::None);
    }

    #[test]
    fn rejects_bad_policy() {
        assert!(Policy::parse("apiVersion: v1\nkind: Policy\nrules: [{level: Metadata}]").is_err());
        assert!(Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []").is_err());
    }
}
