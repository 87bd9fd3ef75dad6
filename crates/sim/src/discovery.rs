//! The API surface the fake apiserver serves: built-in resources plus resources defined by
//! CustomResourceDefinitions in the store (served only once Established), and the discovery
//! documents (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`) built from them.

use serde_json::{Value, json};

use crate::store::Store;
use crate::util;

/// A subresource: `pods/status`, `pods/exec`, …
#[derive(Clone, Debug)]
pub struct SubresourceDef {
    pub name: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

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
    pub subresources: Vec<SubresourceDef>,
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
        storage_id(&self.group, &self.plural)
    }
    pub fn has_sub(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s.name == sub)
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

/// `pods`, `deployments.apps`: a resource qualified by its group (also the storage id).
fn storage_id(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn strings(v: &[&str]) -> Vec<String> {
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
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

/// One row of the built-in resource table.
struct Builtin {
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Sub],
    /// Storage id when it is not `plural[.group]` (both event APIs share core events).
    storage: Option<&'static str>,
    generation: bool,
}

/// One subresource row: (name, kind, verbs).
struct Sub {
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
}

const fn status(kind: &'static str) -> Sub {
    Sub {
        name: "status",
        kind,
        verbs: STATUS_VERBS,
    }
}

const SCALE: Sub = Sub {
    name: "scale",
    kind: "Scale",
    verbs: STATUS_VERBS,
};

/// The defaults every row starts from: a namespaced core/v1 resource with all verbs.
const CORE: Builtin = Builtin {
    group: "",
    plural: "",
    singular: "",
    kind: "",
    namespaced: true,
    verbs: RW,
    short_names: &[],
    categories: &[],
    subresources: &[],
    storage: None,
    generation: false,
};

/// Built-in resources, in the order discovery lists them (all served as version v1).
const BUILTINS: &[Builtin] = &[
    Builtin {
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        short_names: &["ns"],
        subresources: &[
            status("Namespace"),
            Sub {
                name: "finalize",
                kind: "Namespace",
                verbs: &["update"],
            },
        ],
        ..CORE
    },
    Builtin {
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        subresources: &[
            status("Node"),
            Sub {
                name: "proxy",
                kind: "NodeProxyOptions",
                verbs: PROXY_VERBS,
            },
        ],
        ..CORE
    },
    Builtin {
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            Sub {
                name: "attach",
                kind: "PodAttachOptions",
                verbs: &["create", "get"],
            },
            Sub {
                name: "binding",
                kind: "Binding",
                verbs: &["create"],
            },
            Sub {
                name: "ephemeralcontainers",
                kind: "Pod",
                verbs: STATUS_VERBS,
            },
            Sub {
                name: "eviction",
                kind: "Eviction",
                verbs: &["create"],
            },
            Sub {
                name: "exec",
                kind: "PodExecOptions",
                verbs: &["create", "get"],
            },
            Sub {
                name: "log",
                kind: "Pod",
                verbs: &["get"],
            },
            Sub {
                name: "portforward",
                kind: "PodPortForwardOptions",
                verbs: &["create", "get"],
            },
            Sub {
                name: "proxy",
                kind: "PodProxyOptions",
                verbs: PROXY_VERBS,
            },
            status("Pod"),
        ],
        ..CORE
    },
    Builtin {
        plural: "services",
        singular: "service",
        kind: "Service",
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[
            Sub {
                name: "proxy",
                kind: "ServiceProxyOptions",
                verbs: PROXY_VERBS,
            },
            status("Service"),
        ],
        ..CORE
    },
    Builtin {
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        short_names: &["cm"],
        ..CORE
    },
    Builtin {
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        ..CORE
    },
    Builtin {
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        short_names: &["sa"],
        subresources: &[Sub {
            name: "token",
            kind: "TokenRequest",
            verbs: &["create"],
        }],
        ..CORE
    },
    Builtin {
        plural: "events",
        singular: "event",
        kind: "Event",
        short_names: &["ev"],
        storage: Some("events"),
        ..CORE
    },
    Builtin {
        plural: "endpoints",
        singular: "endpoints",
        kind: "Endpoints",
        short_names: &["ep"],
        ..CORE
    },
    Builtin {
        group: "apps",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[SCALE, status("Deployment")],
        generation: true,
        ..CORE
    },
    Builtin {
        group: "apps",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[SCALE, status("ReplicaSet")],
        generation: true,
        ..CORE
    },
    Builtin {
        group: "events.k8s.io",
        plural: "events",
        singular: "event",
        kind: "Event",
        short_names: &["ev"],
        storage: Some("events"),
        ..CORE
    },
    Builtin {
        group: "apiextensions.k8s.io",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        subresources: &[status("CustomResourceDefinition")],
        generation: true,
        ..CORE
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        ..CORE
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        ..CORE
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        plural: "roles",
        singular: "role",
        kind: "Role",
        ..CORE
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        ..CORE
    },
    Builtin {
        group: "authorization.k8s.io",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: &["create"],
        ..CORE
    },
    Builtin {
        group: "coordination.k8s.io",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        ..CORE
    },
];

impl Builtin {
    fn to_def(&self) -> ResDef {
        ResDef {
            group: self.group.into(),
            version: "v1".into(),
            plural: self.plural.into(),
            singular: self.singular.into(),
            kind: self.kind.into(),
            namespaced: self.namespaced,
            verbs: strings(self.verbs),
            short_names: strings(self.short_names),
            categories: strings(self.categories),
            subresources: self
                .subresources
                .iter()
                .map(|s| SubresourceDef {
                    name: s.name.into(),
                    kind: s.kind.into(),
                    verbs: strings(s.verbs),
                })
                .collect(),
            storage: self
                .storage
                .map(String::from)
                .unwrap_or_else(|| storage_id(self.group, self.plural)),
            generation: self.generation,
        }
    }
}

pub fn builtin() -> Vec<ResDef> {
    BUILTINS.iter().map(Builtin::to_def).collect()
}

/// Resources defined by Established CRDs in the store.
pub fn from_crds(store: &Store) -> Vec<ResDef> {
    let (crds, _) = store.list("customresourcedefinitions.apiextensions.k8s.io", None);
    let mut out = Vec::new();
    for crd in crds {
        if !util::condition_is_true(&crd, "Established") {
            continue;
        }
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let name = |k: &str| names[k].as_str().unwrap_or_default().to_string();
        let list = |k: &str| -> Vec<String> {
            names[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for ver in spec["versions"].as_array().into_iter().flatten() {
            if ver["served"] == false {
                continue;
            }
            let mut subresources = vec![];
            if ver.pointer("/subresources/status").is_some() {
                subresources.push(SubresourceDef {
                    name: "status".into(),
                    kind: name("kind"),
                    verbs: strings(STATUS_VERBS),
                });
            }
            out.push(ResDef {
                group: group.into(),
                version: ver["name"].as_str().unwrap_or("v1").into(),
                plural: name("plural"),
                singular: name("singular"),
                kind: name("kind"),
                namespaced: spec["scope"].as_str() == Some("Namespaced"),
                verbs: strings(RW),
                short_names: list("shortNames"),
                categories: list("categories"),
                subresources,
                storage: storage_id(group, &name("plural")),
                generation: true,
            });
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
        for sub in &d.subresources {
            resources.push(json!({
                "name": format!("{}/{}", d.plural, sub.name),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    fn crd(established: &str, versions: Value) -> Value {
        json!({
            "metadata": {"name": "rayclusters.ray.io"},
            "spec": {
                "group": "ray.io",
                "scope": "Namespaced",
                "names": {"plural": "rayclusters", "singular": "raycluster", "kind": "RayCluster", "categories": ["all"]},
                "versions": versions
            },
            "status": {"conditions": [{"type": "Established", "status": established}]}
        })
    }

    fn store_with(crd: Value) -> Store {
        let store = Store::new();
        let key = Key::new(
            "customresourcedefinitions.apiextensions.k8s.io",
            "",
            "rayclusters.ray.io",
        );
        store.create(key, crd, true).unwrap();
        store
    }

    #[test]
    fn finds_builtins_by_group_version_and_plural() {
        let store = Store::new();
        let pods = find(&store, "", "v1", "pods").unwrap();
        assert_eq!(pods.kind, "Pod");
        assert!(pods.namespaced);
        assert_eq!(pods.storage, "pods");
        assert!(pods.has_sub("exec") && pods.has_sub("status") && !pods.has_sub("scale"));
        let deploy = find(&store, "apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.storage, "deployments.apps");
        assert_eq!(deploy.group_resource(), "deployments.apps");
        assert!(deploy.generation);
        assert!(!find(&store, "", "v1", "nodes").unwrap().namespaced);
        assert!(find(&store, "apps", "v1", "pods").is_none());
        assert!(find(&store, "", "v2", "pods").is_none());
        assert!(find(&store, "ray.io", "v1", "rayclusters").is_none());
    }

    #[test]
    fn both_event_apis_share_core_storage() {
        let store = Store::new();
        let core = find(&store, "", "v1", "events").unwrap();
        let v1 = find(&store, "events.k8s.io", "v1", "events").unwrap();
        assert_eq!(
            (core.storage.as_str(), v1.storage.as_str()),
            ("events", "events")
        );
        assert!(v1.field_labels().contains(&"regarding.name"));
        assert!(!core.field_labels().contains(&"regarding.name"));
    }

    #[test]
    fn crd_resources_are_served_only_once_established() {
        let versions = json!([{"name": "v1", "served": true, "subresources": {"status": {}}}]);
        let pending = store_with(crd("False", versions.clone()));
        assert!(find(&pending, "ray.io", "v1", "rayclusters").is_none());
        assert!(api_group(&pending, "ray.io").is_none());

        let store = store_with(crd("True", versions));
        let rc = find(&store, "ray.io", "v1", "rayclusters").unwrap();
        assert_eq!(rc.kind, "RayCluster");
        assert_eq!(rc.storage, "rayclusters.ray.io");
        assert!(rc.namespaced && rc.generation && rc.has_sub("status"));
        assert_eq!(rc.categories, vec!["all".to_string()]);
        assert_eq!(
            api_group(&store, "ray.io").unwrap()["preferredVersion"]["groupVersion"],
            "ray.io/v1"
        );
        let list = api_resource_list(&store, "ray.io", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["rayclusters", "rayclusters/status"]);
    }

    #[test]
    fn unserved_crd_versions_are_not_served() {
        let store = store_with(crd(
            "True",
            json!([{"name": "v1alpha1", "served": false}, {"name": "v1", "served": true}]),
        ));
        assert!(find(&store, "ray.io", "v1alpha1", "rayclusters").is_none());
        let rc = find(&store, "ray.io", "v1", "rayclusters").unwrap();
        assert!(!rc.has_sub("status"));
    }

    #[test]
    fn group_list_keeps_builtin_order_then_crds() {
        let store = store_with(crd("True", json!([{"name": "v1", "served": true}])));
        let groups: Vec<String> = api_group_list(&store)["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            groups,
            [
                "apps",
                "events.k8s.io",
                "apiextensions.k8s.io",
                "rbac.authorization.k8s.io",
                "authorization.k8s.io",
                "coordination.k8s.io",
                "ray.io"
            ]
        );
    }
}
