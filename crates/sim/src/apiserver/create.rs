//! Creating an object: validation of the body against the URL, the namespace (it must exist and
//! not be terminating), `generateName`, defaulting, admission (Pod Security), then the store (or,
//! for `dryRun=All`, what the store would hold).

use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::response::{Admitted, Rejected, store_err};
use crate::admission;
use crate::cluster::Cluster;
use crate::defaults;
use crate::discovery::ResDef;
use crate::store::Key;
use crate::util::{self, Status};

/// Create through defaulting and admission (also used by server-side apply of a new object).
/// A dry run does all of it but the write.
pub async fn create_object(
    cl: &Cluster,
    def: &ResDef,
    ns: &str,
    mut obj: Value,
    dry_run: bool,
) -> Result<Admitted, Rejected> {
    set_type(def, &mut obj)?;
    if def.namespaced {
        check_namespace(cl, def, ns, &obj)?;
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let name = assign_name(def, &mut obj)?;
    apply_defaults(def, &mut obj, &name);
    crate::openapi::types::validate_object(&cl.store, def, &obj)?;
    let (warnings, annotations) = admit(cl, def, ns, &obj)?;
    let key = Key::new(&def.storage, if def.namespaced { ns } else { "" }, &name);
    let stored = if dry_run {
        cl.store.would_create(&key, obj, def.generation)
    } else {
        cl.store.create(key, obj, def.generation)
    };
    match stored {
        Ok(object) => Ok(Admitted {
            object,
            warnings,
            annotations,
        }),
        Err(e) => Err(Rejected {
            status: store_err(def, &name, e),
            annotations,
        }),
    }
}

/// The body must be an object of this resource's apiVersion; kind, apiVersion and metadata are set.
fn set_type(def: &ResDef, obj: &mut Value) -> Result<(), Status> {
    if !obj.is_object() {
        return Err(Status::bad_request("the object provided is unrecognized"));
    }
    if let Some(av) = obj.get("apiVersion").and_then(|v| v.as_str())
        && av != def.api_version()
    {
        return Err(Status::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    Ok(())
}

/// A namespaced object goes to the URL's namespace, which must exist and not be terminating.
fn check_namespace(cl: &Cluster, def: &ResDef, ns: &str, obj: &Value) -> Result<(), Status> {
    if let Some(bns) = util::get_str(obj, &["metadata", "namespace"])
        && !bns.is_empty()
        && bns != ns
    {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let Some(n) = cl.store.get(&Key::new("namespaces", "", ns)) else {
        return Err(Status::not_found("namespaces", "", ns));
    };
    if n.pointer("/status/phase").and_then(|p| p.as_str()) != Some("Terminating") {
        return Ok(());
    }
    let name = util::get_str(obj, &["metadata", "name"]).unwrap_or_default();
    Err(Status::failure(
        403,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            def.plural,
        ),
        Some(json!({"name": name, "kind": def.plural})),
    ))
}

/// `metadata.name`, or one generated from `metadata.generateName` (422 when neither is set).
fn assign_name(def: &ResDef, obj: &mut Value) -> Result<String, Status> {
    let mut name = util::get_str(obj, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        let generate = util::get_str(obj, &["metadata", "generateName"]).unwrap_or_default();
        if generate.is_empty() {
            let msg = format!(
                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                def.kind
            );
            return Err(Status::failure(
                422,
                "Invalid",
                msg,
                Some(
                    json!({"kind": def.kind, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]}),
                ),
            ));
        }
        name = util::generate_name(generate);
    }
    obj["metadata"]["name"] = json!(name);
    Ok(name)
}

fn apply_defaults(def: &ResDef, obj: &mut Value, name: &str) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => defaults::pod(obj),
        ("", "services") => {
            let ip = format!("10.96.{}.{}", fastrand::u8(1..250), fastrand::u8(1..250));
            defaults::service(obj, &ip)
        }
        ("apps", "deployments") => defaults::deployment(obj),
        ("", "namespaces") => defaults::namespace(obj, name),
        ("apiextensions.k8s.io", "customresourcedefinitions") => defaults::crd(obj),
        _ => {}
    }
}

/// Pod Security admission of a create: (warnings, audit annotations), or the refusal.
fn admit(
    cl: &Cluster,
    def: &ResDef,
    ns: &str,
    obj: &Value,
) -> Result<(Vec<String>, BTreeMap<String, String>), Rejected> {
    if def.group.is_empty() && def.plural == "pods" {
        return match admission::admit_pod_create(cl, ns, obj) {
            Ok(o) => Ok((o.warnings, o.annotations)),
            Err((status, o)) => Err(Rejected {
                status,
                annotations: o.annotations,
            }),
        };
    }
    if let Some(t) = admission::workload_template(&def.group, &def.plural, obj) {
        let o = admission::admit_workload(cl, ns, &t);
        return Ok((o.warnings, o.annotations));
    }
    if def.group.is_empty() && def.plural == "namespaces" {
        return Ok((admission::admit_namespace(cl, None, obj)?, BTreeMap::new()));
    }
    Ok((vec![], BTreeMap::new()))
}
