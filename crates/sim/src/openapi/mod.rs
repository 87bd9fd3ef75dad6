//! The OpenAPI documents the apiserver publishes, as kube-openapi lays them out: `/openapi/v3`
//! (an index of group-versions, each at `/openapi/v3/{api/v1|apis/G/V}?hash=…`), the per-group
//! documents (every served resource's paths, each write operation naming its kind in
//! `x-kubernetes-group-version-kind` and declaring `dryRun`/`fieldManager`/`fieldValidation`),
//! and `/openapi/v2` (one Swagger 2.0 document, JSON only).
//!
//! kubectl and helm validate through these: with `fieldValidation` declared for a kind they send
//! `fieldValidation=Strict` and leave the check to the server (`validate`), as against a real
//! 1.26+ apiserver. Schemas are published for custom resources (their CRD's `openAPIV3Schema`,
//! with `apiVersion`/`kind`/`metadata` added as the apiserver does); built-in kinds' schemas are
//! not (see `schemas` for what the server still checks of them).

pub mod schemas;
pub mod types;
pub mod validate;

use serde_json::{Map, Value, json};
use std::hash::{Hash, Hasher};

use crate::discovery::{self, ResDef};
use crate::store::Store;

/// An OpenAPI answer: status, content type, body, and a `Location` for redirects.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Answer {
    fn json(v: &Value) -> Answer {
        Answer {
            code: 200,
            content_type: "application/json",
            body: serde_json::to_vec(v).expect("json"),
            location: None,
        }
    }
    /// kube-openapi's answer to an `Accept` it cannot serve: 406 with no body.
    fn not_acceptable() -> Answer {
        Answer {
            code: 406,
            content_type: "text/plain; charset=utf-8",
            body: vec![],
            location: None,
        }
    }
}

/// Whether `accept` admits JSON (kube-openapi reads an empty header as `*/*`). client-go asks for
/// `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` only, which the
/// world does not serve: 406.
fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|c| {
            let t = c.split(';').next().unwrap_or("").trim();
            matches!(t, "application/json" | "application/*" | "*/*")
        })
}

/// Serve `/openapi/...` (`segs` without the leading `openapi`). None: not a document (404).
pub fn serve(store: &Store, segs: &[&str], query: &str, accept: &str) -> Option<Answer> {
    match segs {
        ["v2"] => Some(if accepts_json(accept) {
            Answer::json(&v2_document(store))
        } else {
            Answer::not_acceptable()
        }),
        ["v3"] => Some(Answer::json(&v3_index(store))),
        ["v3", rest @ ..] => {
            let gv = rest.join("/");
            let doc = v3_document(store, &gv)?;
            if !accepts_json(accept) {
                return Some(Answer::not_acceptable());
            }
            let hash = hash_of(&doc);
            let asked = query
                .split('&')
                .find_map(|p| p.strip_prefix("hash="))
                .unwrap_or("");
            if !asked.is_empty() && asked != hash {
                // kube-openapi redirects a stale hash to the current document.
                return Some(Answer {
                    code: 301,
                    content_type: "text/plain; charset=utf-8",
                    body: vec![],
                    location: Some(format!("/openapi/v3/{gv}?hash={hash}")),
                });
            }
            Some(Answer::json(&doc))
        }
        _ => None,
    }
}

/// The document's hash in the index's `serverRelativeURL` (opaque to clients; the real one is a
/// SHA-512, this one a 64-bit hash, both upper-case hex).
fn hash_of(doc: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    doc.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `api/v1`, `apis/apps/v1`: the index key of a group-version.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Every group-version served, in discovery order.
fn group_versions(store: &Store) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for d in discovery::all(store) {
        let gv = (d.group.clone(), d.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `GET /openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}}}`.
pub fn v3_index(store: &Store) -> Value {
    let mut paths = Map::new();
    for (g, v) in group_versions(store) {
        let key = gv_path(&g, &v);
        if let Some(doc) = v3_document(store, &key) {
            let url = format!("/openapi/v3/{key}?hash={}", hash_of(&doc));
            paths.insert(key, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// The group-version a `gv_path` names.
fn parse_gv(gv: &str) -> Option<(String, String)> {
    match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => Some((String::new(), v.to_string())),
        ["apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

/// `GET /openapi/v3/{gv}`: the OpenAPI 3.0 document of one group-version.
pub fn v3_document(store: &Store, gv: &str) -> Option<Value> {
    let (group, version) = parse_gv(gv)?;
    let defs: Vec<ResDef> = discovery::all(store)
        .into_iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut components = Map::new();
    for d in &defs {
        let schema = schemas::published(store, d);
        let body_ref = schema.as_ref().map(|_| schemas::schema_name(d));
        if let Some(s) = schema {
            components.insert(schemas::schema_name(d), s);
        }
        for (path, item) in resource_paths(d, body_ref.as_deref(), V3) {
            paths.insert(path, item);
        }
    }
    if !components.is_empty() {
        components.insert(schemas::OBJECT_META.into(), schemas::object_meta_schema());
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": components},
    }))
}

/// `GET /openapi/v2` (JSON): every served resource's paths and the custom resources' schemas
/// under `definitions`.
pub fn v2_document(store: &Store) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for d in discovery::all(store) {
        let schema = schemas::published(store, &d);
        let body_ref = schema.as_ref().map(|_| schemas::schema_name(&d));
        if let Some(s) = schema {
            definitions.insert(schemas::schema_name(&d), schemas::to_v2_refs(s));
        }
        for (path, item) in resource_paths(&d, body_ref.as_deref(), V2) {
            paths.insert(path, item);
        }
    }
    if !definitions.is_empty() {
        definitions.insert(schemas::OBJECT_META.into(), schemas::object_meta_schema());
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "definitions": definitions,
    })
}

/// Which document an operation is written for (parameters and bodies differ in shape).
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    V2,
    V3,
}
use Flavor::{V2, V3};

fn query_param(name: &str, ty: &str, flavor: Flavor) -> Value {
    match flavor {
        V3 => json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}}),
        V2 => json!({"name": name, "in": "query", "type": ty, "uniqueItems": true}),
    }
}

fn path_param(name: &str, flavor: Flavor) -> Value {
    match flavor {
        V3 => {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}})
        }
        V2 => {
            json!({"name": name, "in": "path", "required": true, "type": "string", "uniqueItems": true})
        }
    }
}

/// One operation on `d` (or its subresource kind): the action, its kind, its query parameters.
fn operation(d: &ResDef, action: &str, id: &str, body_ref: Option<&str>, flavor: Flavor) -> Value {
    let mut params = vec![];
    if matches!(action, "post" | "put" | "patch") {
        params.push(query_param("dryRun", "string", flavor));
        params.push(query_param("fieldManager", "string", flavor));
        params.push(query_param("fieldValidation", "string", flavor));
        if action == "patch" {
            params.push(query_param("force", "boolean", flavor));
        }
    }
    if action == "delete" {
        params.push(query_param("dryRun", "string", flavor));
        params.push(query_param("gracePeriodSeconds", "integer", flavor));
        params.push(query_param("propagationPolicy", "string", flavor));
    }
    if matches!(action, "list" | "watchlist") {
        for (n, t) in [
            ("allowWatchBookmarks", "boolean"),
            ("continue", "string"),
            ("fieldSelector", "string"),
            ("labelSelector", "string"),
            ("limit", "integer"),
            ("resourceVersion", "string"),
            ("resourceVersionMatch", "string"),
            ("sendInitialEvents", "boolean"),
            ("timeoutSeconds", "integer"),
            ("watch", "boolean"),
        ] {
            params.push(query_param(n, t, flavor));
        }
    }
    let schema_ref = body_ref.map(|n| match flavor {
        V3 => json!({"$ref": format!("#/components/schemas/{n}")}),
        V2 => json!({"$ref": format!("#/definitions/{n}")}),
    });
    let mut op = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    });
    if let Some(s) = schema_ref {
        match flavor {
            V3 => {
                op["responses"]["200"]["content"] =
                    json!({"application/json": {"schema": s.clone()}});
                if matches!(action, "post" | "put") {
                    op["requestBody"] =
                        json!({"content": {"*/*": {"schema": s}}, "required": true});
                }
            }
            V2 => {
                op["responses"]["200"]["schema"] = s.clone();
                if matches!(action, "post" | "put") {
                    op["parameters"]
                        .as_array_mut()
                        .expect("params")
                        .push(json!({"name": "body", "in": "body", "required": true, "schema": s}));
                }
            }
        }
    }
    op
}

/// The paths of one resource: collection, item, and subresources.
fn resource_paths(d: &ResDef, body_ref: Option<&str>, flavor: Flavor) -> Vec<(String, Value)> {
    let prefix = if d.group.is_empty() {
        format!("/api/{}", d.version)
    } else {
        format!("/apis/{}/{}", d.group, d.version)
    };
    let scope = if d.namespaced { "Namespaced" } else { "" };
    let ns_prefix = if d.namespaced {
        format!("{prefix}/namespaces/{{namespace}}")
    } else {
        prefix.clone()
    };
    let ns_params: Vec<Value> = if d.namespaced {
        vec![path_param("namespace", flavor)]
    } else {
        vec![]
    };
    let can = |v: &str| d.verbs.iter().any(|x| x == v);
    let kind = &d.kind;
    let mut out = vec![];

    let mut coll = Map::new();
    coll.insert("parameters".into(), json!(ns_params));
    if can("list") {
        coll.insert(
            "get".into(),
            operation(d, "list", &format!("list{scope}{kind}"), body_ref, flavor),
        );
    }
    if can("create") {
        coll.insert(
            "post".into(),
            operation(d, "post", &format!("create{scope}{kind}"), body_ref, flavor),
        );
    }
    if can("deletecollection") {
        coll.insert(
            "delete".into(),
            operation(
                d,
                "deletecollection",
                &format!("deleteCollection{scope}{kind}"),
                None,
                flavor,
            ),
        );
    }
    out.push((format!("{ns_prefix}/{}", d.plural), Value::Object(coll)));
    if d.namespaced && can("list") {
        out.push((
            format!("{prefix}/{}", d.plural),
            json!({"get": operation(d, "list", &format!("list{kind}ForAllNamespaces"), body_ref, flavor)}),
        ));
    }

    let mut item_params = vec![path_param("name", flavor)];
    item_params.extend(ns_params.iter().cloned());
    let mut item = Map::new();
    item.insert("parameters".into(), json!(item_params));
    for (verb, action, id) in [
        ("get", "get", "read"),
        ("update", "put", "replace"),
        ("patch", "patch", "patch"),
        ("delete", "delete", "delete"),
    ] {
        if can(verb) {
            let method = if verb == "update" { "put" } else { verb };
            item.insert(
                method.into(),
                operation(d, action, &format!("{id}{scope}{kind}"), body_ref, flavor),
            );
        }
    }
    out.push((
        format!("{ns_prefix}/{}/{{name}}", d.plural),
        Value::Object(item),
    ));

    for sub in &d.subresources {
        let mut s = Map::new();
        s.insert("parameters".into(), json!(item_params));
        let sub_def = ResDef {
            kind: sub.kind.clone(),
            ..d.clone()
        };
        let own = if sub.kind == d.kind { body_ref } else { None };
        let cap = {
            let mut c = sub.name.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        };
        for verb in &sub.verbs {
            let (method, action, id) = match verb.as_str() {
                "get" => ("get", "get", "read"),
                "update" => ("put", "put", "replace"),
                "patch" => ("patch", "patch", "patch"),
                "create" => ("post", "connect", "connectPost"),
                "delete" => ("delete", "connect", "connectDelete"),
                _ => continue,
            };
            s.insert(
                method.into(),
                operation(
                    &sub_def,
                    action,
                    &format!("{id}{scope}{kind}{cap}"),
                    own,
                    flavor,
                ),
            );
        }
        out.push((
            format!("{ns_prefix}/{}/{{name}}/{}", d.plural, sub.name),
            Value::Object(s),
        ));
    }
    out
}
