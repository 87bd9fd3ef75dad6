//! PATCH: JSON merge patch (also accepted for strategic merge patch) and an approximation of
//! server-side apply (maps merged, everything else replaced; an absent object is created),
//! with admission of the result and a resourceVersion-checked write (none for `dryRun=All`).

use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::create::create_object;
use super::request::ReqInfo;
use super::response::{Out, store_err};
use crate::admission;
use crate::cluster::Cluster;
use crate::discovery::ResDef;
use crate::store::{Key, StoreError};
use crate::util::{self, Status};

pub async fn patch(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
    dry_run: bool,
) -> Out {
    let (patch, is_apply) = match read_patch(info, content_type, body) {
        Ok(p) => p,
        Err(st) => return Out::err(st),
    };
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    // Server-side apply creates what is absent.
    if is_apply && cl.store.get(&key).is_none() && info.subresource.is_empty() {
        let mut obj = patch.clone();
        if obj.get("metadata").is_none() {
            obj["metadata"] = json!({});
        }
        obj["metadata"]["name"] = json!(info.name);
        return Out::created(create_object(cl, def, &info.namespace, obj, dry_run).await);
    }
    // Compute outside the store lock (admission reads the store), then write with a
    // resourceVersion precondition; retry on a concurrent write.
    for _ in 0..10 {
        let Some(before) = cl.store.get(&key) else {
            return Out::err(Status::not_found(&def.plural, &def.group, &info.name));
        };
        let rv = util::get_str(&before, &["metadata", "resourceVersion"])
            .unwrap_or_default()
            .to_string();
        let (result, warnings, annotations) =
            match patched(cl, def, info, &before, &patch, is_apply) {
                Ok(r) => r,
                Err(st) => return Out::err(st),
            };
        if dry_run {
            return Out {
                warnings,
                annotations,
                ..Out::ok(200, result)
            };
        }
        let changed = result != before;
        match cl.store.update(&key, Some(&rv), |cur| {
            *cur = result;
            Ok(changed)
        }) {
            Ok(o) => {
                return Out {
                    warnings,
                    annotations,
                    ..Out::ok(200, o)
                };
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Out::err(store_err(def, &info.name, e)),
        }
    }
    Out::err(store_err(def, &info.name, StoreError::Conflict))
}

/// The patch document: JSON, or (for apply) YAML.
/// A PATCH body as the apiserver reads it: its media type checked, decoded, and for server-side
/// apply (the second value) its field manager and name checked.
pub(super) fn read_patch(
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Result<(Value, bool), Status> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let is_apply = ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor";
    let patch = decode(body, is_apply)?;
    check_media_type(ct)?;
    if is_apply {
        check_apply(info, &patch)?;
    }
    Ok((patch, is_apply))
}

fn decode(body: &Bytes, is_apply: bool) -> Result<Value, Status> {
    if is_apply {
        serde_json::from_slice(body)
            .or_else(|_| serde_saphyr::from_slice::<Value>(body).map_err(|e| e.to_string()))
            .map_err(|e| Status::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")))
    }
}

fn check_media_type(ct: &str) -> Result<(), Status> {
    match ct {
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/apply-patch+yaml" => Ok(()),
        "application/json-patch+json" => Err(Status::failure(
            415,
            "UnsupportedMediaType",
            "the simulated apiserver does not implement JSON patch (RFC 6902); use merge patch or server-side apply",
            Some(json!({})),
        )),
        _ => Err(Status::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ])),
    }
}

/// Server-side apply needs a field manager and the URL's name.
fn check_apply(info: &ReqInfo, patch: &Value) -> Result<(), Status> {
    if info.q("fieldManager").unwrap_or("").is_empty() {
        return Err(Status::bad_request(
            "PATCH /apply requires fieldManager to be set",
        ));
    }
    if let Some(n) = util::get_str(patch, &["metadata", "name"])
        && n != info.name
    {
        return Err(Status::bad_request(
            "the name of the object (".to_string()
                + n
                + ") does not match the name on the URL ("
                + &info.name
                + ")",
        ));
    }
    Ok(())
}

type Patched = (Value, Vec<String>, BTreeMap<String, String>);

/// The object after the patch, with admission's warnings and audit annotations. `/status` takes
/// only the status; the main resource keeps its status (when it has the subresource) and bumps
/// its generation when the spec changed.
fn patched(
    cl: &Cluster,
    def: &ResDef,
    info: &ReqInfo,
    before: &Value,
    patch: &Value,
    is_apply: bool,
) -> Result<Patched, Status> {
    let mut new = before.clone();
    if is_apply {
        apply_merge(&mut new, patch)
    } else {
        util::merge_patch(&mut new, patch)
    }
    if info.subresource == "status" {
        let mut r = before.clone();
        r["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        return Ok((r, vec![], BTreeMap::new()));
    }
    if def.has_sub("status") {
        match before.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().unwrap().remove("status");
            }
        }
    }
    // The object as patched; its status is the stored one (written through `/status`, which
    // is not validated here), so it is left out.
    let mut checked = new.clone();
    if def.has_sub("status")
        && let Some(m) = checked.as_object_mut()
    {
        m.remove("status");
    }
    crate::openapi::types::validate_object(&cl.store, def, &checked)?;
    let mut warnings = vec![];
    let mut annotations = BTreeMap::new();
    if def.plural == "namespaces" && def.group.is_empty() {
        warnings = admission::admit_namespace(cl, Some(before), &new)?;
    }
    if let Some(t) = admission::workload_template(&def.group, &def.plural, &new)
        && Some(&t) != admission::workload_template(&def.group, &def.plural, before).as_ref()
    {
        let o = admission::admit_workload(cl, &info.namespace, &t);
        warnings = o.warnings;
        annotations = o.annotations;
    }
    if let Some(g) = before
        .pointer("/metadata/generation")
        .and_then(|g| g.as_i64())
    {
        let spec_changed = new.get("spec") != before.get("spec");
        new["metadata"]["generation"] = json!(if spec_changed { g + 1 } else { g });
    }
    Ok((new, warnings, annotations))
}

/// Apply the server-side-apply approximation: maps merged recursively, everything else replaced.
fn apply_merge(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => apply_merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = applied.clone(),
    }
}
