//! The schemas behind the OpenAPI documents and the server's field validation.
//!
//! * Custom resources: the CRD version's `openAPIV3Schema`, published the way the apiserver's
//!   CRD OpenAPI builder does it: `apiVersion` and `kind` strings and `metadata` as a reference to
//!   `ObjectMeta` added, and `x-kubernetes-group-version-kind` set.
//! * Built-in kinds: not published (a partial schema would mislead kubectl's client-side patch
//!   computation, which falls back to its compiled-in types when there is none). The server
//!   still checks their top-level fields and `metadata` (`validation_schema`); deeper fields of
//!   built-in kinds are not checked (a fidelity gap).

use serde_json::{Map, Value, json};

use crate::discovery::ResDef;
use crate::store::{Key, Store};
use crate::util;

/// ObjectMeta's name in both documents.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// `io.k8s.api.core.v1.Pod`, `io.k8s.api.apps.v1.Deployment`, `io.ray.v1.RayCluster`.
pub fn schema_name(d: &ResDef) -> String {
    let pkg = match d.group.as_str() {
        "" => "io.k8s.api.core".to_string(),
        "apiextensions.k8s.io" => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".into(),
        g if g.ends_with(".k8s.io") => {
            format!(
                "io.k8s.api.{}",
                g.trim_end_matches(".k8s.io").replace('.', "_")
            )
        }
        "apps" => "io.k8s.api.apps".into(),
        g => g.split('.').rev().collect::<Vec<_>>().join("."),
    };
    // rbac.authorization.k8s.io → io.k8s.api.rbac
    let pkg = pkg.replace("io.k8s.api.rbac_authorization", "io.k8s.api.rbac");
    format!("{pkg}.{}.{}", d.version, d.kind)
}

/// The CRD that defines `d`, if it is a custom resource.
fn crd_of(store: &Store, d: &ResDef) -> Option<Value> {
    let crd = store.get(&Key::new(
        "customresourcedefinitions.apiextensions.k8s.io",
        "",
        &format!("{}.{}", d.plural, d.group),
    ))?;
    util::condition_is_true(&crd, "Established").then_some(crd)
}

/// The published schema of `d`: a custom resource's, completed as the apiserver completes it.
pub fn published(store: &Store, d: &ResDef) -> Option<Value> {
    let crd = crd_of(store, d)?;
    let version = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == d.version.as_str())?
        .clone();
    let mut s = version
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let props = s
        .as_object_mut()?
        .entry("properties")
        .or_insert_with(|| json!({}));
    if let Some(p) = props.as_object_mut() {
        p.insert("apiVersion".into(), json!({"type": "string"}));
        p.insert("kind".into(), json!({"type": "string"}));
        p.insert(
            "metadata".into(),
            json!({"$ref": format!("#/components/schemas/{OBJECT_META}")}),
        );
    }
    s["x-kubernetes-group-version-kind"] =
        json!([{"group": d.group, "version": d.version, "kind": d.kind}]);
    Some(s)
}

/// ObjectMeta's fields (their own schemas are left open).
pub fn object_meta_schema() -> Value {
    let string = json!({"type": "string"});
    let map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let list = json!({"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let mut p = Map::new();
    for f in [
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        p.insert(f.into(), string.clone());
    }
    p.insert(
        "generation".into(),
        json!({"type": "integer", "format": "int64"}),
    );
    p.insert(
        "deletionGracePeriodSeconds".into(),
        json!({"type": "integer", "format": "int64"}),
    );
    p.insert("labels".into(), map.clone());
    p.insert("annotations".into(), map);
    p.insert("ownerReferences".into(), list.clone());
    p.insert("managedFields".into(), list);
    p.insert(
        "finalizers".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": p,
    })
}

/// A v3 schema with its references rewritten for the v2 document (`#/definitions/…`).
pub fn to_v2_refs(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => (
                        k,
                        Value::String(r.replace("#/components/schemas/", "#/definitions/")),
                    ),
                    (_, v) => (k, to_v2_refs(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(to_v2_refs).collect()),
        other => other,
    }
}

/// The top-level fields of a built-in kind (besides apiVersion, kind, metadata).
fn builtin_fields(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "Namespace" | "Node" | "Pod" | "Service")
        | ("apps", "Deployment" | "ReplicaSet")
        | ("coordination.k8s.io", "Lease")
        | ("authorization.k8s.io", "SelfSubjectAccessReview")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => &["spec", "status"],
        ("", "ConfigMap") => &["data", "binaryData", "immutable"],
        ("", "Secret") => &["data", "stringData", "type", "immutable"],
        ("", "ServiceAccount") => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("", "Endpoints") => &["subsets"],
        ("", "Event") => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("events.k8s.io", "Event") => &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        ("rbac.authorization.k8s.io", "ClusterRole") => &["rules", "aggregationRule"],
        ("rbac.authorization.k8s.io", "Role") => &["rules"],
        ("rbac.authorization.k8s.io", "ClusterRoleBinding" | "RoleBinding") => {
            &["subjects", "roleRef"]
        }
        _ => return None,
    })
}

/// The schema a write is checked against, and whose it is.
pub struct ValidationSchema {
    pub schema: Value,
    /// A custom resource's published schema (values typed all the way down), not a built-in
    /// kind's field names.
    pub custom: bool,
}

/// The schema the server checks a write of `d` against: the published one for custom
/// resources; for built-in kinds their top-level fields (each left open) and ObjectMeta.
pub fn validation_schema(store: &Store, d: &ResDef) -> Option<ValidationSchema> {
    if let Some(schema) = published(store, d) {
        return Some(ValidationSchema {
            schema,
            custom: true,
        });
    }
    let fields = builtin_fields(&d.group, &d.kind)?;
    let mut p = Map::new();
    p.insert("apiVersion".into(), json!({"type": "string"}));
    p.insert("kind".into(), json!({"type": "string"}));
    p.insert(
        "metadata".into(),
        json!({"$ref": format!("#/components/schemas/{OBJECT_META}")}),
    );
    for f in fields {
        p.insert(
            f.to_string(),
            json!({"x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    Some(ValidationSchema {
        schema: json!({"type": "object", "properties": p}),
        custom: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(group: &str, kind: &str) -> ResDef {
        crate::discovery::builtin()
            .into_iter()
            .find(|d| d.group == group && d.kind == kind)
            .unwrap_or_else(|| panic!("{group}/{kind}"))
    }

    #[test]
    fn names_follow_the_apiservers_packages() {
        assert_eq!(schema_name(&def("", "Pod")), "io.k8s.api.core.v1.Pod");
        assert_eq!(
            schema_name(&def("apps", "Deployment")),
            "io.k8s.api.apps.v1.Deployment"
        );
        assert_eq!(
            schema_name(&def("rbac.authorization.k8s.io", "ClusterRole")),
            "io.k8s.api.rbac.v1.ClusterRole"
        );
        assert_eq!(
            schema_name(&def("coordination.k8s.io", "Lease")),
            "io.k8s.api.coordination.v1.Lease"
        );
        assert_eq!(
            schema_name(&def("apiextensions.k8s.io", "CustomResourceDefinition")),
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
        );
        let ray = ResDef {
            group: "ray.io".into(),
            kind: "RayCluster".into(),
            ..def("", "Pod")
        };
        assert_eq!(schema_name(&ray), "io.ray.v1.RayCluster");
    }

    #[test]
    fn every_builtin_kind_has_a_validation_schema() {
        let store = Store::new();
        for d in crate::discovery::builtin() {
            assert!(
                validation_schema(&store, &d).is_some(),
                "{}/{}",
                d.group,
                d.kind
            );
        }
    }

    #[test]
    fn v2_refs_point_at_definitions() {
        let s = to_v2_refs(json!({"a": [{"$ref": "#/components/schemas/X"}]}));
        assert_eq!(s, json!({"a": [{"$ref": "#/definitions/X"}]}));
    }
}
