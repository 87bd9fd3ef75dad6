//! Validation of custom resources against their CRD's structural schema, as the
//! apiextensions-apiserver does after pruning (go-openapi's errors through
//! `kubeOpenAPIResultToFieldErrors`), refused with 422 Invalid, `RayCluster.ray.io "NAME" is
//! invalid: ERROR` (several: `[E1, E2]`):
//!
//! * a value whose JSON type is not the schema's `type` (`integer` also for whole numbers,
//!   `number` for any number; `x-kubernetes-int-or-string` takes both; `null` only where
//!   `nullable`): `spec.rayVersion: Invalid value: "integer": spec.rayVersion in body must be
//!   of type string: "integer"` (`field.TypeInvalid`);
//! * a `required` property absent: `spec.headGroupSpec: Required value` (`field.Required`);
//! * a value not in `enum`: `spec.x: Unsupported value: "v3": supported values: "v1", "v2"`
//!   (`field.NotSupported`).
//!
//! Formats, bounds, lengths, patterns and CEL rules are not checked.

use serde_json::{Value, json};

use super::schemas;
use crate::discovery::ResDef;
use crate::store::Store;
use crate::util::Status;

/// Validation of a custom resource as it will be stored (created, replaced or patched; not its
/// `/status`): the 422 for what its CRD's schema refuses. Built-in kinds pass.
pub fn validate_object(store: &Store, def: &ResDef, obj: &Value) -> Result<(), Status> {
    let Some(schema) = schemas::published(store, def) else {
        return Ok(());
    };
    let wrong = type_errors(&schema, obj);
    if wrong.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(refusal(def, name, &wrong))
}

/// A field the schema refuses, by its path.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeError {
    pub path: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The JSON type it has, and the type the schema wants.
    Type {
        actual: &'static str,
        expected: String,
    },
    /// Absent, and `required`.
    Required,
    /// Not one of `enum`: the value and the supported values, as the apiserver prints them.
    NotSupported {
        value: String,
        supported: Vec<String>,
    },
}

/// The fields of `v` that `schema` refuses, in document order (a property's problems before
/// its children's; a required property that is absent after those present).
pub fn type_errors(schema: &Value, v: &Value) -> Vec<TypeError> {
    let mut out = vec![];
    walk(schema, v, "", &mut out);
    out
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn fits(schema: &Value, v: &Value) -> bool {
    let actual = json_type(v);
    if actual == "null" {
        return schema["nullable"] == true;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        return actual == "integer" || actual == "string";
    }
    match schema["type"].as_str() {
        None | Some("") => true,
        Some("number") => actual == "number" || actual == "integer",
        Some(t) => t == actual,
    }
}

/// A value as `field.NotSupported` quotes it: strings in Go's `%q`, the rest as JSON.
fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn walk(schema: &Value, v: &Value, path: &str, out: &mut Vec<TypeError>) {
    if !fits(schema, v) {
        if !v.is_null() {
            out.push(TypeError {
                path: path.to_string(),
                problem: Problem::Type {
                    actual: json_type(v),
                    expected: schema["type"]
                        .as_str()
                        .unwrap_or("integer or string")
                        .into(),
                },
            });
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !v.is_null()
        && !allowed.contains(v)
    {
        out.push(TypeError {
            path: path.to_string(),
            problem: Problem::NotSupported {
                value: quoted(v),
                supported: allowed
                    .iter()
                    .map(|a| match a {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            },
        });
    }
    let child_path = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    if let (Value::Object(m), Some(required)) =
        (v, schema.get("required").and_then(Value::as_array))
    {
        for k in required.iter().filter_map(Value::as_str) {
            if !m.contains_key(k) {
                out.push(TypeError {
                    path: child_path(k),
                    problem: Problem::Required,
                });
            }
        }
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                let p = child_path(k);
                if let Some(s) = props.and_then(|ps| ps.get(k)).or(additional) {
                    walk(s, child, &p, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, child) in items.iter().enumerate() {
                    walk(s, child, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Server-side apply's conversion of the patch into a typed value (structured-merge-diff's
/// validation against the schema, before anything is merged), its errors as it words them:
/// `.spec.rayVersion: expected string, got &value.valueUnstructured{Value:2}`,
/// `.spec.replicas: expected numeric (int or float), got string`, `.spec.x: expected boolean,
/// got &{1}`, `.spec.headGroupSpec: expected map, got &{x}`, `… expected list, got &{…}`. Its
/// scalars are looser than the apiextensions types: `integer` and `number` are both numeric,
/// `x-kubernetes-int-or-string` takes any scalar, and `null` fits everywhere. Unknown fields
/// are field validation's (`validate.rs`). List items are named as it names them
/// ([`list_element`]).
pub fn typed_patch_errors(schema: &Value, v: &Value) -> Vec<String> {
    let mut out = vec![];
    smd_walk(schema, v, String::new(), &mut out);
    out
}

/// Go's `%#v` of a decoded JSON value (`interface{}`).
fn go_sharp(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_sharp).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "map[string]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k:?}:{}", go_sharp(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Go's `%v` of a decoded JSON value.
fn go_plain(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Go's `%T` of a decoded JSON value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn smd_walk(schema: &Value, v: &Value, path: String, out: &mut Vec<String>) {
    if v.is_null()
        || schema["x-kubernetes-preserve-unknown-fields"] == true && schema.get("type").is_none()
    {
        return;
    }
    let at = |msg: String| {
        if path.is_empty() {
            msg
        } else {
            format!("{path}: {msg}")
        }
    };
    let is_scalar = !(v.is_object() || v.is_array());
    if schema["x-kubernetes-int-or-string"] == true {
        if !is_scalar {
            out.push(at(format!("expected any scalar, got &{{{}}}", go_plain(v))));
        }
        return;
    }
    let kind = schema["type"].as_str().unwrap_or_else(|| {
        if schema.get("properties").is_some() {
            "object"
        } else {
            ""
        }
    });
    match kind {
        "string" if !v.is_string() => out.push(at(format!(
            "expected string, got &value.valueUnstructured{{Value:{}}}",
            go_sharp(v)
        ))),
        "integer" | "number" if !v.is_number() => out.push(at(format!(
            "expected numeric (int or float), got {}",
            go_type(v)
        ))),
        "boolean" if !v.is_boolean() => {
            out.push(at(format!("expected boolean, got &{{{}}}", go_plain(v))))
        }
        "object" => match v.as_object() {
            None => out.push(at(format!("expected map, got &{{{}}}", go_plain(v)))),
            Some(m) => {
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                for (k, child) in m {
                    if let Some(s) = props.and_then(|ps| ps.get(k)).or(additional) {
                        smd_walk(s, child, format!("{path}.{k}"), out);
                    }
                }
            }
        },
        "array" => match v.as_array() {
            None => out.push(at(format!("expected list, got &{{{}}}", go_plain(v)))),
            Some(items) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Null);
                let associative = element_is_named(schema);
                let mut seen = std::collections::BTreeSet::new();
                for (i, child) in items.iter().enumerate() {
                    // An element it cannot name ends the list's check, as in structured-merge-diff.
                    let element = match list_element(schema, item_schema, i, child) {
                        Ok(e) => e,
                        Err(why) => {
                            out.push(at(format!("element {i}: {why}")));
                            return;
                        }
                    };
                    if associative && !seen.insert(element.clone()) {
                        out.push(at(format!("duplicate entries for key {element}")));
                    }
                    if !item_schema.is_null() {
                        smd_walk(item_schema, child, format!("{path}{element}"), out);
                    }
                }
            }
        },
        _ => {}
    }
}

/// structured-merge-diff's `value.ToString`: strings quoted as Go's `%q`, lists `[a,b]`.
fn smd_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(smd_string).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", smd_string(v)))
            .collect(),
        other => other.to_string(),
    }
}

/// Whether the list's items are named by key or value (an associative list), not by index.
fn element_is_named(schema: &Value) -> bool {
    match schema["x-kubernetes-list-type"].as_str() {
        Some("set") => true,
        Some("map") => schema["x-kubernetes-list-map-keys"]
            .as_array()
            .is_some_and(|k| !k.is_empty()),
        _ => false,
    }
}

/// How structured-merge-diff names item `i` of a list: by its keys in a
/// `x-kubernetes-list-type: map` (`[name="ray-head"]`, keys sorted, a missing key taking its
/// schema default), by value in a `set` (`[=a]`), else by index (`[0]`); or why it cannot.
fn list_element(
    schema: &Value,
    item_schema: &Value,
    i: usize,
    child: &Value,
) -> Result<String, String> {
    let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
        .as_array()
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match schema["x-kubernetes-list-type"].as_str() {
        Some("map") if !keys.is_empty() => {
            let Some(m) = child.as_object() else {
                return Err(if child.is_null() {
                    "associative list with keys may not have a null element".into()
                } else {
                    "associative list with keys may not have non-map elements".into()
                });
            };
            let mut named: Vec<(&str, String)> = keys
                .iter()
                .filter_map(|k| {
                    m.get(*k)
                        .or_else(|| item_schema.pointer(&format!("/properties/{k}/default")))
                        .map(|v| (*k, smd_string(v)))
                })
                .collect();
            if named.is_empty() {
                let quoted: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            named.sort();
            let kv: Vec<String> = named.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Ok(format!("[{}]", kv.join(",")))
        }
        Some("set") => match child {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            v => Ok(format!("[={}]", smd_string(v))),
        },
        _ => Ok(format!("[{i}]")),
    }
}

/// structured-merge-diff's `ValidationErrors`: one as it is, several as `errors:` and an
/// indented line each.
pub fn typed_patch_message(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    }
}

/// The apiserver's 422 for `errors` in the custom resource `name` of `def`.
pub fn refusal(def: &ResDef, name: &str, errors: &[TypeError]) -> Status {
    let causes: Vec<(String, &str, String)> = errors
        .iter()
        .map(|e| {
            let (reason, message) = match &e.problem {
                Problem::Type { actual, expected } => (
                    "FieldValueTypeInvalid",
                    format!(
                        "Invalid value: \"{actual}\": {p} in body must be of type {expected}: \"{actual}\"",
                        p = e.path,
                    ),
                ),
                Problem::Required => ("FieldValueRequired", "Required value".to_string()),
                Problem::NotSupported { value, supported } => (
                    "FieldValueNotSupported",
                    format!(
                        "Unsupported value: {value}: supported values: {}",
                        supported
                            .iter()
                            .map(|s| format!("{s:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
            (e.path.clone(), reason, message)
        })
        .collect();
    let listed: Vec<String> = causes.iter().map(|(p, _, m)| format!("{p}: {m}")).collect();
    let all = match listed.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    Status::failure(
        422,
        "Invalid",
        format!("{}.{} \"{name}\" is invalid: {all}", def.kind, def.group),
        Some(json!({
            "name": name, "group": def.group, "kind": def.kind,
            "causes": causes.iter().map(|(p, r, m)| json!({"reason": r, "message": m, "field": p})).collect::<Vec<_>>(),
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_are_found_by_path_and_worded_as_the_apiserver_words_them() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "rayVersion": {"type": "string"},
            "replicas": {"type": "integer"},
            "ratio": {"type": "number"},
            "port": {"x-kubernetes-int-or-string": true},
            "groups": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            "maybe": {"type": "string", "nullable": true},
        }}}});
        let good = json!({"spec": {"rayVersion": "2.4.0", "replicas": 1, "ratio": 1, "port": "http",
            "groups": [{"n": 2}], "maybe": null}});
        assert_eq!(type_errors(&schema, &good), []);
        let bad = json!({"spec": {"rayVersion": 2, "replicas": "1", "port": true, "groups": [{"n": 1.5}]}});
        let errs = type_errors(&schema, &bad);
        let mut paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "spec.groups[0].n",
                "spec.port",
                "spec.rayVersion",
                "spec.replicas"
            ]
        );
        let ray_version = errs.iter().find(|e| e.path == "spec.rayVersion").unwrap();
        let def = crate::discovery::ResDef {
            group: "ray.io".into(),
            kind: "RayCluster".into(),
            ..crate::discovery::builtin().into_iter().next().unwrap()
        };
        let one = refusal(&def, "rc", std::slice::from_ref(ray_version));
        assert_eq!(one.code, 422);
        assert_eq!(
            one.message.as_deref().unwrap(),
            "RayCluster.ray.io \"rc\" is invalid: spec.rayVersion: Invalid value: \"integer\": spec.rayVersion in body must be of type string: \"integer\""
        );
    }

    fn ray_cluster_def() -> crate::discovery::ResDef {
        crate::discovery::ResDef {
            group: "ray.io".into(),
            kind: "RayCluster".into(),
            ..crate::discovery::builtin().into_iter().next().unwrap()
        }
    }

    #[test]
    fn required_and_enum_are_checked_as_the_apiserver_words_them() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "required": ["headGroupSpec"],
        "properties": {
            "headGroupSpec": {"type": "object"},
            "autoscalerOptions": {"type": "object", "properties": {
                "upscalingMode": {"type": "string", "enum": ["Default", "Aggressive", "Conservative"]},
                "version": {"type": "string", "enum": ["v1", "v2"]}}},
            "containers": {"type": "array", "items": {"type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}},
        }}}});
        let good = json!({"spec": {"headGroupSpec": {}, "autoscalerOptions": {"version": "v2"},
            "containers": [{"name": "ray-head", "image": "rayproject/ray:2.4.0"}]}});
        assert_eq!(type_errors(&schema, &good), []);
        let bad = json!({"spec": {"autoscalerOptions": {"version": "v3", "upscalingMode": "Default"},
            "containers": [{"image": "rayproject/ray:2.4.0"}]}});
        let errs = type_errors(&schema, &bad);
        let st = refusal(&ray_cluster_def(), "rc", &errs);
        assert_eq!(
            st.message.as_deref().unwrap(),
            "RayCluster.ray.io \"rc\" is invalid: [spec.headGroupSpec: Required value, spec.autoscalerOptions.version: Unsupported value: \"v3\": supported values: \"v1\", \"v2\", spec.containers[0].name: Required value]"
        );
        let reasons: Vec<&str> = st.details.as_ref().unwrap()["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            [
                "FieldValueRequired",
                "FieldValueNotSupported",
                "FieldValueRequired"
            ]
        );
    }

    #[test]
    fn server_side_applys_typed_patch_errors_are_worded_as_structured_merge_diff_words_them() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "rayVersion": {"type": "string"},
            "replicas": {"type": "integer"},
            "suspend": {"type": "boolean"},
            "port": {"x-kubernetes-int-or-string": true},
            "headGroupSpec": {"type": "object", "properties": {"rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "workerGroupSpecs": {"type": "array", "items": {"type": "object", "properties": {"replicas": {"type": "integer"}}}},
        }}}});
        // Looser than the apiextensions types: a float is numeric, a string fits int-or-string.
        let fine = json!({"spec": {"replicas": 1.5, "port": "http", "rayVersion": null}});
        assert_eq!(typed_patch_errors(&schema, &fine), Vec::<String>::new());
        let bad = json!({"spec": {"rayVersion": 2, "replicas": "1", "suspend": 1,
            "headGroupSpec": {"rayStartParams": {"num-cpus": 0}}, "workerGroupSpecs": [{"replicas": true}]}});
        assert_eq!(
            typed_patch_errors(&schema, &bad),
            [
                ".spec.headGroupSpec.rayStartParams.num-cpus: expected string, got &value.valueUnstructured{Value:0}",
                ".spec.rayVersion: expected string, got &value.valueUnstructured{Value:2}",
                ".spec.replicas: expected numeric (int or float), got string",
                ".spec.suspend: expected boolean, got &{1}",
                ".spec.workerGroupSpecs[0].replicas: expected numeric (int or float), got bool",
            ]
        );
        // Items of a list-type map are named by their keys (sorted; a missing key takes its
        // default), of a set by value.
        let containers = json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "items": {"type": "object", "properties": {"containerPort": {"type": "integer"}, "name": {"type": "string"},
                        "protocol": {"type": "string", "default": "TCP"}}}},
                "args": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}});
        let pods = json!({"type": "object", "properties": {"containers": containers}});
        let keyed = json!({"containers": [{"name": "ray-head", "image": 2, "ports": [{"containerPort": 8265, "name": 1}],
            "args": ["a", 3]}]});
        assert_eq!(
            typed_patch_errors(&pods, &keyed),
            [
                ".containers[name=\"ray-head\"].args[=3]: expected string, got &value.valueUnstructured{Value:3}",
                ".containers[name=\"ray-head\"].image: expected string, got &value.valueUnstructured{Value:2}",
                ".containers[name=\"ray-head\"].ports[containerPort=8265,protocol=\"TCP\"].name: expected string, got &value.valueUnstructured{Value:1}",
            ]
        );
        let unnamed = json!({"containers": [{"image": "x"}, {"name": "a"}, {"name": "a"}]});
        assert_eq!(
            typed_patch_errors(&pods, &unnamed),
            [
                ".containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)"
            ]
        );
        let twice = json!({"containers": [{"name": "a", "args": ["x", "x"]}, {"name": "a"}]});
        assert_eq!(
            typed_patch_errors(&pods, &twice),
            [
                ".containers[name=\"a\"].args: duplicate entries for key [=\"x\"]",
                ".containers: duplicate entries for key [name=\"a\"]"
            ]
        );
        let shapes = json!({"spec": {"headGroupSpec": "x", "workerGroupSpecs": {"a": 1}}});
        let errs = typed_patch_errors(&schema, &shapes);
        assert_eq!(
            typed_patch_message(&errs),
            "errors:\n  .spec.headGroupSpec: expected map, got &{x}\n  .spec.workerGroupSpecs: expected list, got &{map[a:1]}"
        );
    }
}
