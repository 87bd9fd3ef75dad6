//! Protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`), as real kubectl
//! (`kubectl create namespace|configmap|secret`) and helm (its release Secret: POST, PUT) write
//! them: the 4-byte magic `k8s\0`, then a `runtime.Unknown` whose `raw` is the object's message.
//! The messages are k8s-pb's (generated from upstream's `generated.proto`, so the field numbers
//! are the apiserver's), decoded by prost; the object is handed on as the JSON the rest of the
//! world reads, with Go's `omitempty` (empty strings, maps, lists and zero times left out).
//!
//! Only core/v1 Namespace, Secret and ConfigMap are decoded; any other kind keeps the 415 the
//! world gives every body it cannot read.

use base64::Engine;
use k8s_pb::api::authorization::v1 as authorization;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::util::Status;

/// The media type of a protobuf body.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The envelope's magic prefix (`k8s.io/apimachinery/pkg/runtime/serializer/protobuf`).
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not become an object.
#[derive(Debug, PartialEq)]
pub enum Error {
    /// A well-formed envelope of a kind the world does not decode (`v1/Pod`): the world's 415.
    Unsupported(String),
    /// Not a protobuf-encoded Kubernetes object: the apiserver's 400.
    Malformed(String),
}

impl Error {
    /// The Status the apiserver answers with.
    pub fn status(&self, accepted: &[&str]) -> Status {
        match self {
            Error::Unsupported(_) => Status::unsupported_media_type(accepted),
            Error::Malformed(why) => {
                Status::bad_request(format!("the object provided is unrecognized: {why}"))
            }
        }
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Error {
        Error::Malformed(e.to_string())
    }
}

/// Decode a protobuf body into the object's JSON (with `apiVersion` and `kind`).
pub fn decode(body: &[u8]) -> Result<Value, Error> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err(Error::Malformed(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
                .into(),
        ));
    };
    let unknown = Unknown::decode(rest)?;
    if unknown
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(Error::Malformed(format!(
            "content encoding {:?} is not supported",
            unknown.content_encoding.unwrap_or_default()
        )));
    }
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let mut obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace(core::Namespace::decode(raw.as_slice())?),
        ("v1", "Secret") => secret(core::Secret::decode(raw.as_slice())?),
        ("v1", "ConfigMap") => config_map(core::ConfigMap::decode(raw.as_slice())?),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => self_subject_access_review(
            authorization::SelfSubjectAccessReview::decode(raw.as_slice())?,
        ),
        _ => return Err(Error::Unsupported(format!("{api_version}/{kind}"))),
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

/// Insert `v` under `k` unless it is empty (Go's `omitempty`).
fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(_) => false,
    };
    if !empty {
        m.insert(k.to_string(), v);
    }
}

fn string_map(m: BTreeMap<String, String>) -> Value {
    json!(m)
}

fn bytes_map(m: BTreeMap<String, Vec<u8>>) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    Value::Object(
        m.into_iter()
            .map(|(k, v)| (k, Value::String(b64.encode(v))))
            .collect(),
    )
}

/// A `metav1.Time` as RFC 3339 seconds; the zero time is `null` (omitted).
fn time(t: Option<meta::Time>) -> Value {
    let Some(t) = t else { return Value::Null };
    let (s, n) = (t.seconds.unwrap_or(0), t.nanos.unwrap_or(0));
    if s == 0 && n == 0 {
        return Value::Null;
    }
    match jiff::Timestamp::from_second(s) {
        Ok(ts) => json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    let mut o = Map::new();
    put(&mut o, "name", json!(m.name));
    put(&mut o, "generateName", json!(m.generate_name));
    put(&mut o, "namespace", json!(m.namespace));
    put(&mut o, "selfLink", json!(m.self_link));
    put(&mut o, "uid", json!(m.uid));
    put(&mut o, "resourceVersion", json!(m.resource_version));
    put(&mut o, "generation", json!(m.generation));
    put(&mut o, "creationTimestamp", time(m.creation_timestamp));
    put(&mut o, "deletionTimestamp", time(m.deletion_timestamp));
    if let Some(g) = m.deletion_grace_period_seconds {
        o.insert("deletionGracePeriodSeconds".into(), json!(g));
    }
    put(&mut o, "labels", string_map(m.labels));
    put(&mut o, "annotations", string_map(m.annotations));
    let owners: Vec<Value> = m
        .owner_references
        .into_iter()
        .map(|r| {
            let mut x = Map::new();
            put(&mut x, "apiVersion", json!(r.api_version));
            put(&mut x, "kind", json!(r.kind));
            put(&mut x, "name", json!(r.name));
            put(&mut x, "uid", json!(r.uid));
            if let Some(c) = r.controller {
                x.insert("controller".into(), json!(c));
            }
            if let Some(b) = r.block_owner_deletion {
                x.insert("blockOwnerDeletion".into(), json!(b));
            }
            Value::Object(x)
        })
        .collect();
    put(&mut o, "ownerReferences", json!(owners));
    put(&mut o, "finalizers", json!(m.finalizers));
    // managedFields are the server's to write; a client's are dropped, as the apiserver does
    // for a create without them.
    Value::Object(o)
}

fn namespace(n: core::Namespace) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("metadata".into(), object_meta(n.metadata));
    if let Some(spec) = n.spec {
        let mut s = Map::new();
        put(&mut s, "finalizers", json!(spec.finalizers));
        put(&mut o, "spec", Value::Object(s));
    }
    if let Some(status) = n.status {
        let mut s = Map::new();
        put(&mut s, "phase", json!(status.phase));
        let conditions: Vec<Value> = status
            .conditions
            .into_iter()
            .map(|c| {
                let mut x = Map::new();
                put(&mut x, "type", json!(c.r#type));
                put(&mut x, "status", json!(c.status));
                put(&mut x, "lastTransitionTime", time(c.last_transition_time));
                put(&mut x, "reason", json!(c.reason));
                put(&mut x, "message", json!(c.message));
                Value::Object(x)
            })
            .collect();
        put(&mut s, "conditions", json!(conditions));
        put(&mut o, "status", Value::Object(s));
    }
    o
}

fn secret(s: core::Secret) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("metadata".into(), object_meta(s.metadata));
    if let Some(i) = s.immutable {
        o.insert("immutable".into(), json!(i));
    }
    put(&mut o, "data", bytes_map(s.data));
    put(&mut o, "stringData", string_map(s.string_data));
    put(&mut o, "type", json!(s.r#type));
    o
}

fn config_map(c: core::ConfigMap) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("metadata".into(), object_meta(c.metadata));
    if let Some(i) = c.immutable {
        o.insert("immutable".into(), json!(i));
    }
    put(&mut o, "data", string_map(c.data));
    put(&mut o, "binaryData", bytes_map(c.binary_data));
    o
}

/// What `kubectl auth can-i` asks: the spec's resource or non-resource attributes.
fn self_subject_access_review(r: authorization::SelfSubjectAccessReview) -> Map<String, Value> {
    let spec = r.spec.unwrap_or_default();
    let mut s = Map::new();
    if let Some(a) = spec.resource_attributes {
        let mut m = Map::new();
        for (k, v) in [
            ("namespace", a.namespace),
            ("verb", a.verb),
            ("group", a.group),
            ("version", a.version),
            ("resource", a.resource),
            ("subresource", a.subresource),
            ("name", a.name),
        ] {
            put(&mut m, k, json!(v.unwrap_or_default()));
        }
        s.insert("resourceAttributes".into(), Value::Object(m));
    }
    if let Some(a) = spec.non_resource_attributes {
        let mut m = Map::new();
        put(&mut m, "path", json!(a.path.unwrap_or_default()));
        put(&mut m, "verb", json!(a.verb.unwrap_or_default()));
        s.insert("nonResourceAttributes".into(), Value::Object(m));
    }
    let mut o = Map::new();
    o.insert("metadata".into(), object_meta(r.metadata));
    o.insert("spec".into(), Value::Object(s));
    o
}

#[cfg(test)]
mod tests {
    //! The fixtures are request bodies captured from the real clients (kubectl v1.35.2, helm
    //! v4.1.4) through a loopback proxy in front of the world.
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/protobuf/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn kubectl_create_namespace() {
        let o = decode(&fixture("kubectl-create-namespace.pb")).unwrap();
        assert_eq!(
            o,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pod-security"}})
        );
    }

    #[test]
    fn kubectl_create_configmap() {
        let o = decode(&fixture("kubectl-create-configmap.pb")).unwrap();
        assert_eq!(
            o,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm1", "namespace": "default"},
                   "data": {"a": "b", "k": "v"}})
        );
    }

    #[test]
    fn kubectl_create_secret() {
        let o = decode(&fixture("kubectl-create-secret.pb")).unwrap();
        assert_eq!(
            o,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s1", "namespace": "default"},
                   "data": {"user": "YWRtaW4="}, "type": "Opaque"})
        );
    }

    /// helm's release record: created pending, then updated (PUT) to deployed, both protobuf.
    #[test]
    fn helm_release_secrets() {
        for (file, name, status) in [
            ("helm-v4-create-release.pb", "tiny4", "pending-install"),
            ("helm-v4-update-release.pb", "tiny4", "deployed"),
            ("helm-v3-create-release.pb", "tiny3", "pending-install"),
            ("helm-v3-update-release.pb", "tiny3", "deployed"),
        ] {
            let o = decode(&fixture(file)).unwrap();
            assert_eq!(
                (&o["apiVersion"], &o["kind"]),
                (&json!("v1"), &json!("Secret")),
                "{file}"
            );
            assert_eq!(o["type"], "helm.sh/release.v1", "{file}");
            assert_eq!(
                o["metadata"]["name"],
                format!("sh.helm.release.v1.{name}.v1"),
                "{file}"
            );
            let labels = &o["metadata"]["labels"];
            assert_eq!(labels["owner"], "helm", "{file}");
            assert_eq!(labels["name"], name, "{file}");
            assert_eq!(labels["status"], status, "{file}");
            assert_eq!(labels["version"], "1", "{file}");
            // `data.release` is base64 (the Secret's bytes) of helm's own base64 of gzip.
            let b64 = base64::engine::general_purpose::STANDARD;
            let release = b64.decode(o["data"]["release"].as_str().unwrap()).unwrap();
            let gzip = b64.decode(&release).unwrap();
            assert_eq!(&gzip[..2], &[0x1f, 0x8b], "{file}: gzip magic");
            // No zero time, empty string or empty map leaks into the JSON.
            assert!(
                o["metadata"].get("creationTimestamp").is_none(),
                "{file}: {o}"
            );
            assert!(
                o["metadata"]
                    .get("namespace")
                    .is_none_or(|n| n == "pod-security")
            );
        }
    }

    /// helm's delete sends DeleteOptions as protobuf too: not an object the world decodes (the
    /// delete handler does not read bodies).
    #[test]
    fn helm_delete_options_are_not_an_object() {
        assert_eq!(
            decode(&fixture("helm-v4-delete-release-options.pb")),
            Err(Error::Unsupported("v1/DeleteOptions".into()))
        );
    }

    #[test]
    fn other_kinds_are_unsupported_and_garbage_is_malformed() {
        // A well-formed envelope of a kind the world does not decode.
        let unknown = Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
            }),
            raw: Some(vec![]),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        assert_eq!(decode(&body), Err(Error::Unsupported("v1/Pod".into())));
        assert_eq!(
            decode(&body)
                .unwrap_err()
                .status(&["application/json"])
                .code,
            415
        );
        assert!(matches!(decode(b"{\"a\":1}"), Err(Error::Malformed(_))));
        assert!(matches!(
            decode(b"k8s\0\x0a\xff\xff"),
            Err(Error::Malformed(_))
        ));
        assert_eq!(decode(b"nope").unwrap_err().status(&[]).code, 400);
    }
}
