//! Resource requests other than watch: get, list, create, update (PUT), patch and delete (writes
//! also as `dryRun=All`: everything but the write), each answered as an [`Out`] that `serve`
//! audits and writes.

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;

use super::body::decode_object;
use super::create::create_object;
use super::patch::patch;
use super::request::{ReqInfo, Verb};
use super::response::{Out, method_not_allowed, no_such_resource, store_err};
use super::select::Selection;
use crate::cluster::Cluster;
use crate::discovery::ResDef;
use crate::store::Key;
use crate::util::{self, Status};

pub async fn dispatch(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
) -> Out {
    if def.namespaced && info.namespace.is_empty() && !matches!(info.verb, Verb::List | Verb::Watch)
    {
        return Out::err(no_such_resource());
    }
    if let Some(st) = unserved_subresource(def, info) {
        return Out::err(st);
    }
    // A DELETE may carry its options (`dryRun`, `gracePeriodSeconds`) in a DeleteOptions body.
    let with_body_options;
    let info = if info.verb == Verb::Delete
        && let Ok(opts) = serde_json::from_slice::<Value>(body)
    {
        let mut i = info.clone();
        for v in opts["dryRun"].as_array().into_iter().flatten() {
            i.query
                .push(("dryRun".into(), v.as_str().unwrap_or_default().into()));
        }
        if let Some(g) = opts["gracePeriodSeconds"].as_i64() {
            i.query.push(("gracePeriodSeconds".into(), g.to_string()));
        }
        with_body_options = i;
        &with_body_options
    } else {
        info
    };
    let dry_run = match dry_run(info) {
        Ok(d) => d,
        Err(st) => return Out::err(st),
    };
    if info.subresource == "scale" {
        return super::scale::serve(cl, def, info, content_type, body, dry_run);
    }
    match info.verb {
        Verb::Get => get(cl, def, info),
        Verb::List => list(cl, def, info),
        Verb::Create => create(cl, def, info, content_type, body, dry_run).await,
        Verb::Update => match decode_object(content_type, body) {
            Ok(obj) => update_object(cl, def, info, obj, dry_run),
            Err(st) => Out::err(st),
        },
        Verb::Patch => patch(cl, def, info, content_type, body, dry_run).await,
        Verb::Delete => delete(cl, def, info, dry_run),
        _ => Out::err(method_not_allowed()),
    }
}

/// The subresources served here are `status` and `scale` (`log` before, the streams as
/// upgrades). A streaming subresource asked without an upgrade gets the apiserver's 400; a verb
/// the subresource does not take, or a subresource the world does not implement (`binding`,
/// `eviction`, `ephemeralcontainers`, `finalize`, `proxy`, …), gets 405: never the parent
/// object as a false success.
fn unserved_subresource(def: &ResDef, info: &ReqInfo) -> Option<Status> {
    let sub = info.subresource.as_str();
    if sub.is_empty() {
        return None;
    }
    if matches!(sub, "exec" | "portforward" | "attach") {
        return Some(Status::bad_request("Upgrade request required"));
    }
    let takes_verb = def
        .subresources
        .iter()
        .any(|s| s.name == sub && s.verbs.iter().any(|v| v == info.verb.as_str()));
    (!(matches!(sub, "status" | "scale") && takes_verb)).then(method_not_allowed)
}

/// `?dryRun=All` on a write. Any other value is refused as the handlers' options validation
/// refuses it (`ValidateDryRun`): 422 Invalid `CreateOptions.meta.k8s.io "" is invalid: …`.
fn dry_run(info: &ReqInfo) -> Result<bool, Status> {
    let options = match info.verb {
        Verb::Create => "CreateOptions",
        Verb::Update => "UpdateOptions",
        Verb::Patch => "PatchOptions",
        Verb::Delete | Verb::DeleteCollection => "DeleteOptions",
        _ => return Ok(false),
    };
    let values = info.q_all("dryRun");
    if values.iter().all(|v| v == "All") {
        return Ok(!values.is_empty());
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    let cause = format!(
        "Unsupported value: []string{{{}}}: supported values: \"All\"",
        quoted.join(", ")
    );
    Err(Status::failure(
        422,
        "Invalid",
        format!("{options}.meta.k8s.io \"\" is invalid: dryRun: {cause}"),
        Some(json!({"group": "meta.k8s.io", "kind": options,
            "causes": [{"reason": "FieldValueNotSupported", "message": cause, "field": "dryRun"}]})),
    ))
}

fn get(cl: &Cluster, def: &ResDef, info: &ReqInfo) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    match cl.store.get(&key) {
        Some(o) => Out::ok(200, o),
        None => Out::err(Status::not_found(&def.plural, &def.group, &info.name)),
    }
}

fn list(cl: &Cluster, def: &ResDef, info: &ReqInfo) -> Out {
    let selection = match Selection::from_query(def, info) {
        Ok(x) => x,
        Err(st) => return Out::err(st),
    };
    let ns = Some(info.namespace.as_str()).filter(|n| !n.is_empty());
    let (items, rv) = cl.store.list(&def.storage, ns);
    // Built-in lists carry no per-item kind/apiVersion; custom resources' do.
    let builtin = !def.group.contains('.') || def.group.ends_with(".k8s.io");
    let items: Vec<Value> = items
        .into_iter()
        .filter(|o| selection.matches(def, o))
        .map(|mut o| {
            if builtin && let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    Out::ok(
        200,
        json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    )
}

async fn create(
    cl: &Arc<Cluster>,
    def: &ResDef,
    info: &ReqInfo,
    content_type: &str,
    body: &Bytes,
    dry_run: bool,
) -> Out {
    if !info.subresource.is_empty() {
        return Out::err(method_not_allowed());
    }
    let obj = match decode_object(content_type, body) {
        Ok(obj) => obj,
        Err(st) => return Out::err(st),
    };
    let explicit = util::get_str(&obj, &["metadata", "name"])
        .filter(|n| !n.is_empty())
        .map(String::from);
    let mut out = Out::created(create_object(cl, def, &info.namespace, obj, dry_run).await);
    out.objref_name = explicit;
    out
}

/// PUT: replace (main resource keeps status; /status keeps everything but status).
fn update_object(cl: &Cluster, def: &ResDef, info: &ReqInfo, mut obj: Value, dry_run: bool) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let expect = util::get_str(&obj, &["metadata", "resourceVersion"]).map(String::from);
    // The object as replaced (its status, where it has the subresource, stays the stored one).
    if info.subresource.is_empty() {
        let mut checked = obj.clone();
        if def.has_sub("status")
            && let Some(m) = checked.as_object_mut()
        {
            m.remove("status");
        }
        if let Err(st) = crate::openapi::types::validate_object(&cl.store, def, &checked) {
            return Out::err(st);
        }
    }
    let replace = |cur: &mut Value| {
        if info.subresource == "status" {
            cur["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
            return Ok(true);
        }
        if def.has_sub("status") {
            obj["status"] = cur.get("status").cloned().unwrap_or(Value::Null);
            if obj["status"].is_null() {
                obj.as_object_mut().unwrap().remove("status");
            }
        }
        let spec_changed = obj.get("spec") != cur.get("spec");
        let generation = cur.pointer("/metadata/generation").and_then(|g| g.as_i64());
        obj["apiVersion"] = cur["apiVersion"].clone();
        obj["kind"] = cur["kind"].clone();
        *cur = obj.clone();
        if let Some(g) = generation {
            cur["metadata"]["generation"] = json!(if spec_changed { g + 1 } else { g });
        }
        Ok(true)
    };
    let res = if dry_run {
        cl.store.would_update(&key, expect.as_deref(), replace)
    } else {
        cl.store.update(&key, expect.as_deref(), replace)
    };
    match res {
        Ok(o) => Out::ok(200, o),
        Err(e) => Out::err(store_err(def, &info.name, e)),
    }
}

fn delete(cl: &Cluster, def: &ResDef, info: &ReqInfo, dry_run: bool) -> Out {
    let key = Key::new(&def.storage, &info.namespace, &info.name);
    let Some(cur) = cl.store.get(&key) else {
        return Out::err(Status::not_found(&def.plural, &def.group, &info.name));
    };
    let res = match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => delete_pod(cl, info, &key, cur, dry_run),
        ("", "namespaces") => start_namespace_termination(cl, &key, cur, dry_run),
        _ => return delete_now(cl, def, info, &key, &cur, dry_run),
    };
    match res {
        Ok(o) => Out::ok(200, o),
        Err(e) => Out::err(store_err(def, &info.name, e)),
    }
}

/// A scheduled pod gets a deletionTimestamp and grace period; its kubelet removes it. Pods that
/// never ran, or `gracePeriodSeconds=0`, go at once.
fn delete_pod(
    cl: &Cluster,
    info: &ReqInfo,
    key: &Key,
    cur: Value,
    dry_run: bool,
) -> Result<Value, crate::store::StoreError> {
    let grace = info
        .q("gracePeriodSeconds")
        .and_then(|g| g.parse::<i64>().ok())
        .unwrap_or_else(|| {
            cur.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(|g| g.as_i64())
                .unwrap_or(30)
        });
    if grace == 0 || cur.pointer("/spec/nodeName").is_none() {
        if dry_run {
            return Ok(cur);
        }
        return Ok(cl.store.delete(key).unwrap_or(cur));
    }
    if cur.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(cur);
    }
    let ts = util::now_rfc3339();
    let mark = |o: &mut Value| {
        o["metadata"]["deletionTimestamp"] = json!(ts);
        o["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        Ok(true)
    };
    if dry_run {
        return cl.store.would_update(key, None, mark);
    }
    cl.store.update(key, None, mark)
}

/// A namespace turns Terminating; the namespace controller (`controllers`) empties and removes it.
fn start_namespace_termination(
    cl: &Cluster,
    key: &Key,
    cur: Value,
    dry_run: bool,
) -> Result<Value, crate::store::StoreError> {
    if cur.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Terminating") {
        return Ok(cur);
    }
    let ts = util::now_rfc3339();
    let mark = |o: &mut Value| {
        o["metadata"]["deletionTimestamp"] = json!(ts);
        o["status"]["phase"] = json!("Terminating");
        Ok(true)
    };
    if dry_run {
        return cl.store.would_update(key, None, mark);
    }
    cl.store.update(key, None, mark)
}

/// Other objects go at once; the garbage collector (`controllers`) then deletes their dependents.
fn delete_now(
    cl: &Cluster,
    def: &ResDef,
    info: &ReqInfo,
    key: &Key,
    cur: &Value,
    dry_run: bool,
) -> Out {
    let uid = util::get_str(cur, &["metadata", "uid"]).unwrap_or_default();
    if !dry_run {
        cl.store.delete(key);
    }
    let mut details = json!({"name": info.name});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    details["kind"] = json!(def.plural);
    details["uid"] = json!(uid);
    let mut st = Status::success();
    st.details = Some(details);
    Out::ok(200, st.to_value())
}
