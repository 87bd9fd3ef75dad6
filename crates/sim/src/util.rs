//! Small helpers shared by the world's modules: time formats, Kubernetes-style random names,
//! metav1.Status bodies, JSON path helpers.

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// RFC3339 with seconds, as Kubernetes object timestamps (`metav1.Time`) are serialised.
pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC3339 with microseconds (`metav1.MicroTime`, audit timestamps).
pub fn now_rfc3339_micro() -> String {
    let ts = jiff::Timestamp::now();
    ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// klog header timestamp, e.g. `1128 04:12:00.123456` (month day, local-free UTC).
pub fn klog_time() -> String {
    let ts = jiff::Timestamp::now();
    ts.strftime("%m%d %H:%M:%S.%6f").to_string()
}

/// `Thu Nov 28 04:12:00 2026` (helm's LAST DEPLOYED uses Go's ANSIC layout).
pub fn ansic_now() -> String {
    let ts = jiff::Timestamp::now();
    ts.strftime("%a %b %e %H:%M:%S %Y").to_string()
}

/// k8s.io/apimachinery/pkg/util/rand alphabet (no vowels, no ambiguous digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub fn rand_suffix(n: usize) -> String {
    (0..n)
        .map(|_| ALPHANUMS[fastrand::usize(..ALPHANUMS.len())] as char)
        .collect()
}

/// Name generated for `metadata.generateName` (prefix truncated to 58 chars + 5 random chars).
pub fn generate_name(prefix: &str) -> String {
    let p: String = prefix.chars().take(58).collect();
    format!("{p}{}", rand_suffix(5))
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A metav1.Status in the field order the apiserver writes it.
#[derive(Serialize, Clone, Debug)]
pub struct Status {
    pub kind: &'static str,
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    pub code: u16,
}

impl Status {
    pub fn failure(
        code: u16,
        reason: &str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: Map::new(),
            status: Some("Failure".into()),
            message: Some(message.into()),
            reason: if reason.is_empty() {
                None
            } else {
                Some(reason.into())
            },
            details,
            code,
        }
    }
    pub fn success() -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: Map::new(),
            status: Some("Success".into()),
            message: None,
            reason: None,
            details: None,
            code: 200,
        }
    }
    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Status::about_object(404, "NotFound", "not found", resource, group, name)
    }
    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Status::about_object(
            409,
            "AlreadyExists",
            "already exists",
            resource,
            group,
            name,
        )
    }
    /// `pods "p" not found`-style errors, with the object in `details`.
    fn about_object(
        code: u16,
        reason: &str,
        what: &str,
        resource: &str,
        group: &str,
        name: &str,
    ) -> Self {
        let gr = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let mut d = json!({"name": name});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d["kind"] = json!(resource);
        Status::failure(code, reason, format!("{gr} \"{name}\" {what}"), Some(d))
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::failure(400, "BadRequest", message, None)
    }
    /// The apiserver's answer to a body in a media type the endpoint does not decode.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Status::failure(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("status serialises")
    }
}

pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// Whether `.status.conditions` has a condition of this type with status "True" (pod and node
/// `Ready`, CRD `Established`, …).
pub fn condition_is_true(obj: &Value, condition_type: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == condition_type && c["status"] == "True")
        })
}

pub fn labels_of(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Scaled simulated sleep.
pub async fn sim_sleep(scale: f64, d: Duration) {
    let d = d.mul_f64(scale.max(0.0));
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// The `shared` reference tree beside the repository (upstream fixtures for unit tests):
/// `$SHARED_DIR`, else `shared` next to the repository checkout.
#[cfg(test)]
pub fn fixtures_root() -> std::path::PathBuf {
    match std::env::var_os("SHARED_DIR") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_errors_name_the_object() {
        assert_eq!(
            Status::not_found("deployments", "apps", "d").to_value(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "deployments.apps \"d\" not found", "reason": "NotFound", "details": {"name": "d", "group": "apps", "kind": "deployments"}, "code": 404})
        );
        let exists = Status::already_exists("pods", "", "p").to_value();
        assert_eq!(exists["message"], "pods \"p\" already exists");
        assert_eq!(exists["code"], 409);
        assert_eq!(exists["details"], json!({"name": "p", "kind": "pods"}));
    }

    #[test]
    fn condition_is_true_needs_type_and_status() {
        let pod = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "True"}
        ]}});
        assert!(condition_is_true(&pod, "PodScheduled"));
        assert!(!condition_is_true(&pod, "Ready"));
        assert!(!condition_is_true(&pod, "Initialized"));
        assert!(!condition_is_true(&json!({}), "Ready"));
    }

    #[test]
    fn merge_patch_removes_nulls_and_replaces_scalars() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut v, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(v, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
