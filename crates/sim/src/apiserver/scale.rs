//! The `scale` subresource of Deployments and ReplicaSets, as the apiserver serves it: an
//! autoscaling/v1 `Scale` (`spec.replicas`, `status.replicas`, `status.selector`) read with GET
//! and written with PUT or a patch read as every patch is (`kubectl scale` merge-patches
//! `{"spec":{"replicas":N}}`); a write changes the object's `spec.replicas` (and its generation),
//! nothing else.

use bytes::Bytes;
use serde_json::{Value, json};

use super::body::decode_object;
use super::patch::read_patch;
use super::request::{ReqInfo, Verb};
use super::response::{Out, method_not_allowed, store_err};
use crate::cluster::Cluster;
use crate::discovery::ResDef;
use crate::store::Key;
use crate::util::Status;

/// GET, PUT or PATCH of `…/NAME/scale`.
pub fn serve(
    cl: &Cluster,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
    dry_run: bool,
) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let replicas = match info.verb {
        Verb::Get => None,
        Verb::Update => match decode_object(content_type, body) {
            Ok(scale) => Some(scale.pointer("/spec/replicas").cloned()),
            Err(st) => return Out::err(st),
        },
        // Read as every patch is; one that leaves spec.replicas out changes nothing.
        Verb::Patch => match read_patch(info, content_type, body) {
            Ok((patch, _)) => patch.pointer("/spec/replicas").map(|n| Some(n.clone())),
            Err(st) => return Out::err(st),
        },
        _ => return Out::err(method_not_allowed()),
    };
    let object = match replicas {
        None => cl.store.get(&key).ok_or(crate::store::StoreError::NotFound),
        // A Scale without spec.replicas sets 0, as the apiserver's conversion does.
        Some(n) => {
            let n = n.and_then(|v| v.as_i64()).unwrap_or(0);
            if n < 0 {
                return Out::err(invalid_replicas(&info.name, n));
            }
            let set = |cur: &mut Value| {
                if cur.pointer("/spec/replicas").and_then(Value::as_i64) == Some(n) {
                    return Ok(false);
                }
                cur["spec"]["replicas"] = json!(n);
                let g = cur.pointer("/metadata/generation").and_then(Value::as_i64);
                cur["metadata"]["generation"] = json!(g.unwrap_or(0) + 1);
                Ok(true)
            };
            if dry_run {
                cl.store.would_update(&key, None, set)
            } else {
                cl.store.update(&key, None, set)
            }
        }
    };
    match object {
        Ok(o) => Out::ok(200, scale_of(&o)),
        Err(e) => Out::err(store_err(def, &info.name, e)),
    }
}

/// The object's Scale: its identity, `spec.replicas`, and the observed replicas and selector.
fn scale_of(o: &Value) -> Value {
    let selector: Vec<String> = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let mut meta = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = o.pointer(&format!("/metadata/{f}")) {
            meta.insert(f.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": o.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": o.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector.join(","),
        },
    })
}

/// `Scale.autoscaling "NAME" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`.
fn invalid_replicas(name: &str, n: i64) -> Status {
    let cause = format!("Invalid value: {n}: must be greater than or equal to 0");
    Status::failure(
        422,
        "Invalid",
        format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: {cause}"),
        Some(
            json!({"name": name, "group": "autoscaling", "kind": "Scale",
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "spec.replicas"}]}),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployments_scale_carries_its_replicas_and_selector() {
        let d = json!({"metadata": {"name": "op", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "1", "b": "2"}}},
            "status": {"replicas": 1}});
        assert_eq!(
            scale_of(&d),
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "op", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
                "spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "a=1,b=2"}})
        );
        assert_eq!(invalid_replicas("op", -1).code, 422);
    }
}
