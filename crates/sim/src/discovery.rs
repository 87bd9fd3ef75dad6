//! The API surface the fake apiserver serves: built-in resources plus resources defined by
//! CustomResourceDefinitions in the store (served only once Established), and the discovery
//! documents (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`) built from them.

use serde_json::{Value, json};

use crate::store::Store;

#[derive(Clone, Debug)]
pub struct ResDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources: (name, kind, verbs).
    pub subresources: Vec<(String, String, Vec<String>)>,
    /// Storage id in the store (core/v1 events also serve events.k8s.io/v1 events).
    pub storage: String,
    /// Whether writes set/bump metadata.generation.
    pub generation: bool,
}

impl ResDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `pods`, `deployments.apps` — the group-qualified resource used in error messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    pub fn has_sub(&self, sub: &str) -> bool {
        self.subresources.iter().any(|(n, _, _)| n == sub)
    }
    /// Fields usable in fieldSelector for this resource.
    pub fn field_labels(&self) -> Vec<&'static str> {
        let mut f = vec!["metadata.name", "metadata.namespace"];
        match (self.group.as_str(), self.plural.as_str()) {
            ("", "pods") => f.extend([
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ]),
            ("", "events") => f.extend([
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ]),
            ("events.k8s.io", "events") => f.extend([
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reason",
                "reportingController",
                "type",
            ]),
            ("", "namespaces") => f.push("status.phase"),
            ("", "secrets") => f.push("type"),
            ("", "nodes") => f.push("spec.unschedulable"),
            _ => {}
        }
        f
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[allow(clippy::too_many_arguments)]
fn def(
    group: &str,
    version: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    verbs: &[&str],
    short: &[&str],
    subs: &[(&str, &str, &[&str])],
) -> ResDef {
    let storage = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    ResDef {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced,
        verbs: s(verbs),
        short_names: s(short),
        categories: vec![],
        subresources: subs
            .iter()
            .map(|(n, k, v)| (n.to_string(), k.to_string(), s(v)))
            .collect(),
        storage,
        generation: false,
    }
}

const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

pub fn builtin() -> Vec<ResDef> {
    let mut v = vec![
        def(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            &["ns"],
            &[
                ("status", "Namespace", STATUS_VERBS),
                ("finalize", "Namespace", &["update"]),
            ],
        ),
        def(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            false,
            RW,
            &["no"],
            &[
                ("status", "Node", STATUS_VERBS),
                (
                    "proxy",
                    "NodeProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
            ],
        ),
        def(
            "",
            "v1",
            "pods",
            "pod",
            "Pod",
            true,
            RW,
            &["po"],
            &[
                ("attach", "PodAttachOptions", &["create", "get"]),
                ("binding", "Binding", &["create"]),
                ("ephemeralcontainers", "Pod", STATUS_VERBS),
                ("eviction", "Eviction", &["create"]),
                ("exec", "PodExecOptions", &["create", "get"]),
                ("log", "Pod", &["get"]),
                ("portforward", "PodPortForwardOptions", &["create", "get"]),
                (
                    "proxy",
                    "PodProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                ("status", "Pod", STATUS_VERBS),
            ],
        ),
        def(
            "",
            "v1",
            "services",
            "service",
            "Service",
            true,
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
            &["svc"],
            &[
                (
                    "proxy",
                    "ServiceProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                ("status", "Service", STATUS_VERBS),
            ],
        ),
        def(
            "",
            "v1",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            RW,
            &["cm"],
            &[],
        ),
        def("", "v1", "secrets", "secret", "Secret", true, RW, &[], &[]),
        def(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            RW,
            &["sa"],
            &[("token", "TokenRequest", &["create"])],
        ),
        def("", "v1", "events", "event", "Event", true, RW, &["ev"], &[]),
        def(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            true,
            RW,
            &["ep"],
            &[],
        ),
        def(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
            RW,
            &["deploy"],
            &[
                ("scale", "Scale", STATUS_VERBS),
                ("status", "Deployment", STATUS_VERBS),
            ],
        ),
        def(
            "apps",
            "v1",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            true,
            RW,
            &["rs"],
            &[
                ("scale", "Scale", STATUS_VERBS),
                ("status", "ReplicaSet", STATUS_VERBS),
            ],
        ),
        def(
            "events.k8s.io",
            "v1",
            "events",
            "event",
            "Event",
            true,
            RW,
            &["ev"],
            &[],
        ),
        def(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            false,
            RW,
            &["crd", "crds"],
            &[("status", "CustomResourceDefinition", STATUS_VERBS)],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
            RW,
            &[],
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
            RW,
            &[],
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "role",
            "Role",
            true,
            RW,
            &[],
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "rolebinding",
            "RoleBinding",
            true,
            RW,
            &[],
            &[],
        ),
        def(
            "coordination.k8s.io",
            "v1",
            "leases",
            "lease",
            "Lease",
            true,
            RW,
            &[],
            &[],
        ),
    ];
    for d in v.iter_mut() {
        if d.plural == "events" {
            d.storage = "events".into();
        }
        if matches!(
            d.plural.as_str(),
            "deployments" | "replicasets" | "customresourcedefinitions"
        ) {
            d.generation = true;
        }
        if matches!(
            d.plural.as_str(),
            "pods"
                | "services"
                | "configmaps"
                | "secrets"
                | "serviceaccounts"
                | "events"
                | "endpoints"
                | "deployments"
                | "replicasets"
        ) && d.group != "events.k8s.io"
        {
            d.categories = vec!["all".into()];
            if matches!(
                d.plural.as_str(),
                "configmaps" | "secrets" | "serviceaccounts" | "events" | "endpoints"
            ) {
                d.categories.clear();
            }
        }
    }
    v
}

/// Resources defined by Established CRDs in the store.
pub fn from_crds(store: &Store) -> Vec<ResDef> {
    let (crds, _) = store.list("customresourcedefinitions.apiextensions.k8s.io", None);
    let mut out = Vec::new();
    for crd in crds {
        let established = crd
            .pointer("/status/conditions")
            .and_then(|c| c.as_array())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
        if !established {
            continue;
        }
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let namespaced = spec["scope"].as_str() == Some("Namespaced");
        for ver in spec["versions"].as_array().into_iter().flatten() {
            if ver["served"] == false {
                continue;
            }
            let mut subs = vec![];
            if ver.pointer("/subresources/status").is_some() {
                subs.push((
                    "status",
                    names["kind"].as_str().unwrap_or_default(),
                    STATUS_VERBS,
                ));
            }
            let mut d = def(
                group,
                ver["name"].as_str().unwrap_or("v1"),
                names["plural"].as_str().unwrap_or_default(),
                names["singular"].as_str().unwrap_or_default(),
                names["kind"].as_str().unwrap_or_default(),
                namespaced,
                RW,
                &[],
                &subs,
            );
            d.short_names = names["shortNames"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            d.categories = names["categories"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            d.generation = true;
            out.push(d);
        }
    }
    out
}

pub fn all(store: &Store) -> Vec<ResDef> {
    let mut v = builtin();
    v.extend(from_crds(store));
    v
}

pub fn find(store: &Store, group: &str, version: &str, plural: &str) -> Option<ResDef> {
    all(store)
        .into_iter()
        .find(|d| d.group == group && d.version == version && d.plural == plural)
}

pub fn find_by_kind(store: &Store, api_version: &str, kind: &str) -> Option<ResDef> {
    all(store)
        .into_iter()
        .find(|d| d.api_version() == api_version && d.kind == kind)
}

pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]
    })
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0].clone()})
}

pub fn api_group_list(store: &Store) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = vec![];
    for d in all(store) {
        if d.group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == d.group) {
            Some((_, vs)) => {
                if !vs.contains(&d.version) {
                    vs.push(d.version.clone())
                }
            }
            None => groups.push((d.group.clone(), vec![d.version.clone()])),
        }
    }
    let gs: Vec<Value> = groups.iter().map(|(g, vs)| group_entry(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn api_group(store: &Store, group: &str) -> Option<Value> {
    let vs: Vec<String> = all(store)
        .into_iter()
        .filter(|d| d.group == group)
        .map(|d| d.version)
        .fold(vec![], |mut acc, v| {
            if !acc.contains(&v) {
                acc.push(v)
            }
            acc
        });
    if vs.is_empty() {
        return None;
    }
    let mut e = group_entry(group, &vs);
    e["kind"] = json!("APIGroup");
    e["apiVersion"] = json!("v1");
    Some(e)
}

pub fn api_resource_list(store: &Store, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<ResDef> = all(store)
        .into_iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for d in &defs {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        r["storageVersionHash"] = json!(storage_hash(&d.storage));
        resources.push(r);
        for (sub, kind, verbs) in &d.subresources {
            resources.push(json!({
                "name": format!("{}/{}", d.plural, sub),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// A stable 11-char base64-ish hash like the apiserver's storageVersionHash.
fn storage_hash(s: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(1099511628211);
    }
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..11)
        .map(|i| A[((h >> (i * 5)) & 63) as usize] as char)
        .collect::<String>()
        + "="
}
