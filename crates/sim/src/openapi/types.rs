//! Type validation of custom resources against their CRD's structural schema, as the
//! apiextensions-apiserver does after pruning: a value whose JSON type is not the schema's `type`
//! (`integer` also for whole numbers, `number` for any number; `x-kubernetes-int-or-string`
//! takes both; `null` only where `nullable`) is refused with 422 Invalid,
//! `RayCluster.ray.io "NAME" is invalid: spec.rayVersion: Invalid value: "integer":
//! spec.rayVersion in body must be of type string: "integer"` (go-openapi's `InvalidType`
//! through `field.TypeInvalid`). Enums, formats, bounds, `required` and CEL are not checked.

use serde_json::{Value, json};

use crate::discovery::ResDef;
use crate::util::Status;

/// A field of the wrong type: its path, the type it has and the type the schema wants.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeError {
    pub path: String,
    pub actual: &'static str,
    pub expected: String,
}

/// The fields of `v` whose type `schema` refuses, in document order.
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

fn walk(schema: &Value, v: &Value, path: &str, out: &mut Vec<TypeError>) {
    if !fits(schema, v) {
        if !v.is_null() {
            out.push(TypeError {
                path: path.to_string(),
                actual: json_type(v),
                expected: schema["type"]
                    .as_str()
                    .unwrap_or("integer or string")
                    .into(),
            });
        }
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
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

/// The apiserver's 422 for `errors` in the custom resource `name` of `def`.
pub fn refusal(def: &ResDef, name: &str, errors: &[TypeError]) -> Status {
    let causes: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            let message = format!(
                "Invalid value: \"{a}\": {p} in body must be of type {x}: \"{a}\"",
                a = e.actual,
                p = e.path,
                x = e.expected
            );
            (e.path.clone(), message)
        })
        .collect();
    let listed: Vec<String> = causes.iter().map(|(p, m)| format!("{p}: {m}")).collect();
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
            "causes": causes.iter().map(|(p, m)| json!({"reason": "FieldValueTypeInvalid", "message": m, "field": p})).collect::<Vec<_>>(),
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
}
