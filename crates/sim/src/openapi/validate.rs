//! Server-side field validation (`?fieldValidation=`, which kubectl and helm send as `Strict` once
//! the OpenAPI document declares the parameter): fields of a create, update or server-side apply
//! body that the kind's schema does not declare are
//!
//! * `Strict`: refused, with the apiserver's wording — create/update: 400 `Kind in version "v1"
//!   cannot be handled as a Kind: strict decoding error: unknown field "spec.foo"`; apply: 500
//!   `failed to create typed patch object (NS/NAME; ray.io/v1, Kind=RayCluster): .spec.foo:
//!   field not declared in schema`;
//! * `Warn` (the default): dropped, each with a `Warning: unknown field "spec.foo"`;
//! * `Ignore`: dropped silently.
//!
//! Unknown fields are found by walking the body along the schema: `properties`,
//! `additionalProperties`, `items`, `$ref`/`allOf`, `x-kubernetes-preserve-unknown-fields` and
//! `x-kubernetes-embedded-resource`. Merge and strategic-merge patches are not looked at here (a
//! custom resource's patched object is validated by `types::validate_object`); protobuf bodies
//! cannot carry unknown fields. A server-side apply body is also made typed here, as
//! structured-merge-diff does (`types::typed_patch_errors`).

use serde_json::Value;

use super::{schemas, types};
use crate::discovery::ResDef;
use crate::store::Store;
use crate::util::Status;

/// The kind of write being validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Write {
    Create,
    Update,
    Apply,
}

/// What field validation makes of a write.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing unknown (or nothing checked): the body as sent.
    Pass,
    /// `Strict` and unknown fields: the apiserver's refusal.
    Refuse(Status),
    /// Unknown fields dropped: the body to use instead (JSON) and the warnings to send.
    Prune {
        body: Vec<u8>,
        warnings: Vec<String>,
    },
}

/// Field validation of a write with directive `field_validation` (None: `Warn`).
pub fn check(
    store: &Store,
    def: &ResDef,
    write: Write,
    field_validation: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Outcome {
    let decoded: Option<Value> = match content_type.split(';').next().unwrap_or("").trim() {
        "application/json" => serde_json::from_slice(body).ok(),
        "application/yaml" | "application/apply-patch+yaml" => serde_saphyr::from_slice(body).ok(),
        // Protobuf cannot carry an unknown field; other bodies are refused elsewhere.
        _ => None,
    };
    let (Some(mut obj), Some(checked)) = (decoded, schemas::validation_schema(store, def)) else {
        return Outcome::Pass;
    };
    let schema = checked.schema;
    let mut unknown = vec![];
    visit(&schema, &mut obj, "", &mut unknown, true);
    let strict = field_validation == Some("Strict");
    // Server-side apply converts the patch to a typed value first: a value of the wrong shape
    // fails there, whatever the directive (the stored object's own validation, 422, comes
    // after the merge: `types::validate_object`).
    if write == Write::Apply && checked.custom {
        let mut errs = if strict {
            unknown
                .iter()
                .map(|f| format!(".{f}: field not declared in schema"))
                .collect()
        } else {
            vec![]
        };
        errs.extend(types::typed_patch_errors(&schema, &obj));
        if !errs.is_empty() {
            return Outcome::Refuse(typed_patch_failure(def, &obj, &errs));
        }
    }
    if unknown.is_empty() {
        return Outcome::Pass;
    }
    let warnings = match field_validation {
        Some("Strict") => return Outcome::Refuse(refusal(def, write, &obj, &unknown)),
        Some("Ignore") => vec![],
        _ => unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect(),
    };
    Outcome::Prune {
        body: serde_json::to_vec(&obj).expect("json"),
        warnings,
    }
}

/// Server-side apply's failure to make a typed patch: not a Status error in the apiserver, so
/// ErrorToAPIStatus makes it a 500 without reason, naming the patch's object as
/// `objectGVKNN` does (`NAMESPACE/NAME; GROUP/VERSION, Kind=KIND`, from the body's metadata).
fn typed_patch_failure(def: &ResDef, patch: &Value, errors: &[String]) -> Status {
    let meta = |k: &str| {
        patch
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Status::failure(
        500,
        "",
        format!(
            "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {}",
            meta("namespace"),
            meta("name"),
            def.group,
            def.version,
            def.kind,
            types::typed_patch_message(errors)
        ),
        None,
    )
}

/// The apiserver's refusal of `unknown` fields (paths as `spec.a[0].b`).
fn refusal(def: &ResDef, write: Write, patch: &Value, unknown: &[String]) -> Status {
    match write {
        Write::Create | Write::Update => {
            let fields: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            Status::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", "),
                kind = def.kind,
                v = def.version,
            ))
        }
        Write::Apply => {
            let errs: Vec<String> = unknown
                .iter()
                .map(|f| format!(".{f}: field not declared in schema"))
                .collect();
            typed_patch_failure(def, patch, &errs)
        }
    }
}

/// Resolve `$ref` (ObjectMeta is the only referenced schema) and a single-element `allOf`.
fn resolve(schema: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && r.ends_with(schemas::OBJECT_META)
    {
        return schemas::object_meta_schema();
    }
    if let Some([one]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(one);
    }
    schema.clone()
}

/// The paths of every field of `v` that `schema` does not declare, in document order.
#[cfg(test)]
fn unknown_fields(schema: &Value, v: &Value) -> Vec<String> {
    let mut out = vec![];
    visit(schema, &mut v.clone(), "", &mut out, false);
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// Collects the undeclared fields of `v` into `out`, removing them when `prune`.
fn visit(schema: &Value, v: &mut Value, path: &str, out: &mut Vec<String>, prune: bool) {
    let schema = resolve(schema);
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let embedded = schema["x-kubernetes-embedded-resource"] == true;
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let mut undeclared = vec![];
            for (k, child) in m.iter_mut() {
                let p = join(path, k);
                if let Some(s) = props.and_then(|ps| ps.get(k)) {
                    visit(s, child, &p, out, prune);
                } else if embedded && k == "metadata" {
                    visit(&schemas::object_meta_schema(), child, &p, out, prune);
                } else if embedded && (k == "apiVersion" || k == "kind") {
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    visit(a, child, &p, out, prune);
                } else if additional == Some(&Value::Bool(true)) || preserve {
                } else if props.is_some() || schema["type"] == "object" {
                    out.push(p);
                    undeclared.push(k.clone());
                }
            }
            if prune {
                for k in undeclared {
                    m.remove(&k);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, child) in items.iter_mut().enumerate() {
                    visit(s, child, &format!("{path}[{i}]"), out, prune);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"$ref": format!("#/components/schemas/{}", schemas::OBJECT_META)},
                "spec": {
                    "type": "object",
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "groups": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                        }},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "properties": {"spec": {"type": "object"}}},
                    },
                },
            },
        })
    }

    #[test]
    fn declared_fields_pass_and_unknown_ones_are_named_by_path() {
        let ok = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "a", "labels": {"x": "y"}},
            "spec": {"rayVersion": "2.4.0", "groups": [{"name": "g"}], "labels": {"a": "b"},
                     "free": {"anything": {"goes": 1}},
                     "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}});
        assert!(unknown_fields(&schema(), &ok).is_empty());
        let bad = json!({"metadata": {"name": "a", "lables": {}},
            "spec": {"rayVersoin": "2.4.0", "groups": [{"name": "g"}, {"nmae": "h"}],
                     "template": {"metadata": {"nam": "p"}}}, "extra": 1});
        assert_eq!(
            unknown_fields(&schema(), &bad),
            [
                "extra",
                "metadata.lables",
                "spec.groups[1].nmae",
                "spec.rayVersoin",
                "spec.template.metadata.nam"
            ]
        );
    }

    #[test]
    fn refusals_are_worded_as_the_apiserver_words_them() {
        let def = ResDef {
            group: "ray.io".into(),
            kind: "RayCluster".into(),
            ..crate::discovery::builtin().remove(0)
        };
        let body = serde_json::json!({"metadata": {"name": "rc", "namespace": "ns"}});
        let st = refusal(&def, Write::Create, &body, &["spec.foo".into()]);
        assert_eq!(st.code, 400);
        assert_eq!(
            st.message.unwrap(),
            "RayCluster in version \"v1\" cannot be handled as a RayCluster: strict decoding error: unknown field \"spec.foo\""
        );
        let st = refusal(&def, Write::Apply, &body, &["spec.foo".into()]);
        assert_eq!((st.code, st.reason.as_deref()), (500, None));
        assert_eq!(
            st.message.unwrap(),
            "failed to create typed patch object (ns/rc; ray.io/v1, Kind=RayCluster): .spec.foo: field not declared in schema"
        );
    }

    #[test]
    fn strict_refuses_warn_and_ignore_prune() {
        let store = Store::new();
        let def = crate::discovery::builtin()
            .into_iter()
            .find(|d| d.kind == "ConfigMap")
            .unwrap();
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"dta":{}}"#;
        let check = |fv, ct, body: &[u8]| check(&store, &def, Write::Create, fv, ct, body);
        match check(Some("Strict"), "application/json", body) {
            Outcome::Refuse(st) => assert_eq!(
                st.message.unwrap(),
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"dta\""
            ),
            other => panic!("{other:?}"),
        }
        for (fv, warned) in [(None, true), (Some("Warn"), true), (Some("Ignore"), false)] {
            match check(
                fv,
                "application/yaml",
                b"kind: ConfigMap\ndta: {}\ndata: {a: b}\n",
            ) {
                Outcome::Prune { body, warnings } => {
                    let pruned: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(pruned, json!({"kind": "ConfigMap", "data": {"a": "b"}}));
                    let expected: &[&str] = if warned {
                        &["unknown field \"dta\""]
                    } else {
                        &[]
                    };
                    assert_eq!(warnings, expected, "{fv:?}");
                }
                other => panic!("{fv:?}: {other:?}"),
            }
        }
        let good = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{}}"#;
        assert!(matches!(
            check(Some("Strict"), "application/json", good),
            Outcome::Pass
        ));
        assert!(matches!(
            check(Some("Strict"), "application/vnd.kubernetes.protobuf", body),
            Outcome::Pass
        ));
    }
}
