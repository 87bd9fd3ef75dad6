//! A built-in approximation of the kuberay-operator chart (facts §4): where charts come from (the
//! KubeRay repo, or a local chart directory), its default values, helm's values coalescing, its
//! CRDs, and the objects its templates render.

use serde_json::{Value, json};

use crate::tools::args::resolve;
use crate::tools::invocation::Invocation;

pub const KUBERAY_REPO: &str = "https://ray-project.github.io/kuberay-helm/";
/// The kuberay-operator chart versions in that repository.
const CHART_VERSIONS: &[&str] = &[
    "1.0.0", "1.1.0", "1.1.1", "1.2.1", "1.2.2", "1.3.0", "1.3.2", "1.4.0", "1.4.2", "1.5.0",
    "1.5.1", "1.6.0", "1.6.1", "1.6.2", "1.7.0",
];

pub struct Chart {
    pub name: String,
    pub version: String,
    /// The chart's values.yaml.
    pub defaults: Value,
}

pub fn default_values(version: &str) -> Value {
    let v: Vec<u32> = version.split('.').filter_map(|x| x.parse().ok()).collect();
    let restricted = v.as_slice() >= [1, 1, 0].as_slice();
    let sc = if restricted {
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    } else {
        json!({})
    };
    json!({
        "image": {"repository": "quay.io/kuberay/operator", "tag": format!("v{version}"), "pullPolicy": "IfNotPresent"},
        "nameOverride": "kuberay-operator",
        "fullnameOverride": "kuberay-operator",
        "componentOverride": "kuberay-operator",
        "resources": {"limits": {"cpu": "100m", "memory": "512Mi"}},
        "podSecurityContext": {},
        "securityContext": sc,
        "singleNamespaceInstall": false,
        "rbacEnable": true,
        "crNamespacedRbacEnable": true,
        "featureGates": [{"name": "RayClusterStatusConditions", "enabled": true}]
    })
}

pub fn load_chart(
    inv: &Invocation,
    chart: &str,
    repo: Option<&str>,
    version: Option<&str>,
) -> Result<Chart, String> {
    if let Some(repo) = repo {
        if repo.trim_end_matches('/') != KUBERAY_REPO.trim_end_matches('/') {
            return Err(format!(
                "looks like \"{repo}\" is not a valid chart repository or cannot be reached: Get \"{}/index.yaml\": dial tcp: lookup {}: no such host",
                repo.trim_end_matches('/'),
                repo.split('/').nth(2).unwrap_or(repo)
            ));
        }
        if chart != "kuberay-operator" {
            return Err(format!("chart \"{chart}\" not found in {repo} repository"));
        }
        let v = version.unwrap_or("1.5.1");
        if !CHART_VERSIONS.contains(&v) {
            return Err(format!(
                "chart \"{chart}\" version \"{v}\" not found in {repo} repository"
            ));
        }
        return Ok(Chart {
            name: chart.into(),
            version: v.into(),
            defaults: default_values(v),
        });
    }
    let dir = resolve(&inv.cwd, chart);
    if dir.join("Chart.yaml").is_file() {
        let meta: Value = std::fs::read_to_string(dir.join("Chart.yaml"))
            .ok()
            .and_then(|t| serde_saphyr::from_str(&t).ok())
            .ok_or_else(|| "Chart.yaml file is missing or invalid".to_string())?;
        let version = meta["version"].as_str().unwrap_or("1.1.0").to_string();
        let mut defaults = default_values(&version);
        if let Some(vals) = std::fs::read_to_string(dir.join("values.yaml"))
            .ok()
            .and_then(|t| serde_saphyr::from_str::<Value>(&t).ok())
        {
            deep_merge(&mut defaults, &vals);
        }
        if meta["name"] != "kuberay-operator" {
            return Err(format!(
                "the simulated helm only knows the kuberay-operator chart (got {})",
                meta["name"]
            ));
        }
        return Ok(Chart {
            name: "kuberay-operator".into(),
            version,
            defaults,
        });
    }
    if chart.contains('/') && !chart.starts_with('.') && !chart.starts_with('/') {
        let repo = chart.split('/').next().unwrap_or_default();
        return Err(format!("repo {repo} not found"));
    }
    Err(format!(
        "non-absolute URLs should be in form of repo_name/path_to_chart, got: {chart}"
    ))
}

pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base.as_object_mut(), over.as_object()) {
        (Some(b), Some(o)) => {
            for (k, v) in o {
                // Helm's coalescing: a user `null` deletes the chart default; maps merge key by key.
                if v.is_null() {
                    b.remove(k);
                    continue;
                }
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => deep_merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *base = over.clone(),
    }
}

fn crd(plural: &str, kind: &str, singular: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"annotations": {"controller-gen.kubebuilder.io/version": "v0.16.4"}, "name": format!("{plural}.ray.io")},
        "spec": {
            "group": "ray.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    })
}

pub fn crds(version: &str) -> Vec<Value> {
    let mut v = vec![
        crd("rayclusters", "RayCluster", "raycluster"),
        crd("rayjobs", "RayJob", "rayjob"),
        crd("rayservices", "RayService", "rayservice"),
    ];
    let ver: Vec<u32> = version.split('.').filter_map(|x| x.parse().ok()).collect();
    if ver.as_slice() >= [1, 6, 0].as_slice() {
        v.push(crd("raycronjobs", "RayCronJob", "raycronjob"));
    }
    v
}

/// (template file, object) in helm's install order.
pub fn render(release: &str, ns: &str, chart: &Chart, values: &Value) -> Vec<(String, Value)> {
    let name = values["fullnameOverride"]
        .as_str()
        .unwrap_or("kuberay-operator")
        .to_string();
    let app = values["nameOverride"]
        .as_str()
        .unwrap_or("kuberay-operator");
    let labels = json!({
        "app.kubernetes.io/name": app,
        "helm.sh/chart": format!("{}-{}", chart.name, chart.version),
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "Helm",
    });
    let sel = json!({"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release});
    let mut pod_labels = sel.clone();
    pod_labels["app.kubernetes.io/component"] = json!(
        values["componentOverride"]
            .as_str()
            .unwrap_or("kuberay-operator")
    );
    let meta = |n: &str, namespaced: bool| {
        let mut m = json!({"name": n, "labels": labels.clone()});
        if namespaced {
            m["namespace"] = json!(ns);
        }
        m
    };
    let mut objs = vec![(
        "templates/serviceaccount.yaml".to_string(),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(&name, true)}),
    )];
    let watch = watch_namespaces(values, ns);
    if values["rbacEnable"] != false {
        objs.extend(rbac(&meta, &name, ns));
        if values["singleNamespaceInstall"] == true {
            // The ClusterRole's rules as a Role (and its binding) in each watched namespace.
            let cluster_wide: Vec<(String, Value)> = objs.drain(1..3).collect();
            if values["crNamespacedRbacEnable"] != false {
                let nss = watch.clone().unwrap_or_else(|| vec![ns.to_string()]);
                objs.extend(namespaced_rbac(&cluster_wide, &nss));
            }
        }
    }
    objs.push((
        "templates/service.yaml".into(),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(&name, true), "spec": {"type": "ClusterIP", "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP", "name": "monitoring-port"}], "selector": sel.clone()}}),
    ));
    objs.push((
        "templates/deployment.yaml".into(),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(&name, true), "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": sel},
            "template": {"metadata": {"labels": pod_labels}, "spec": operator_pod_spec(values, chart, &name, watch.as_deref())}
        }}),
    ));
    objs
}

/// The operator Deployment's pod spec: the `/manager` container with the chart's image, feature
/// gates, probes, resources and (non-empty) security contexts.
fn operator_pod_spec(values: &Value, chart: &Chart, name: &str, watch: Option<&[String]>) -> Value {
    let image = format!(
        "{}:{}",
        values["image"]["repository"]
            .as_str()
            .unwrap_or("quay.io/kuberay/operator"),
        values["image"]["tag"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("v{}", chart.version))
    );
    let gates: Vec<String> = values["featureGates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{}={}",
                g["name"].as_str().unwrap_or_default(),
                g["enabled"]
            )
        })
        .collect();
    let mut args = vec!["--feature-gates".to_string(), gates.join(",")];
    if let Some(nss) = watch {
        args.extend(["--watch-namespace".to_string(), nss.join(",")]);
    }
    args.push("--enable-leader-election=true".into());
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": values["image"]["pullPolicy"].as_str().unwrap_or("IfNotPresent"),
        "command": ["/manager"],
        "args": args,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [],
        "livenessProbe": {"httpGet": {"path": "/metrics", "port": "http"}, "initialDelaySeconds": 10, "periodSeconds": 5, "failureThreshold": 5},
        "readinessProbe": {"httpGet": {"path": "/metrics", "port": "http"}, "initialDelaySeconds": 10, "periodSeconds": 5, "failureThreshold": 5},
        "resources": values["resources"].clone(),
    });
    let non_empty = |v: &Value| v.as_object().is_some_and(|o| !o.is_empty());
    if non_empty(&values["securityContext"]) {
        container["securityContext"] = values["securityContext"].clone();
    }
    let mut pod_spec = json!({"serviceAccountName": name, "containers": [container]});
    if non_empty(&values["podSecurityContext"]) {
        pod_spec["securityContext"] = values["podSecurityContext"].clone();
    }
    pod_spec
}

/// The namespaces the operator watches (the chart's `$watchNamespace`): `watchNamespace`, else the
/// release namespace with `singleNamespaceInstall`, else none (all namespaces).
fn watch_namespaces(values: &Value, release_ns: &str) -> Option<Vec<String>> {
    let listed: Vec<String> = values["watchNamespace"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    if !listed.is_empty() {
        Some(listed)
    } else if values["singleNamespaceInstall"] == true {
        Some(vec![release_ns.to_string()])
    } else {
        None
    }
}

/// `multiple_namespaces_role.yaml`/`_rolebinding.yaml`: the ClusterRole's rules as a Role, and a
/// RoleBinding to the operator's service account, in each watched namespace.
fn namespaced_rbac(cluster_wide: &[(String, Value)], nss: &[String]) -> Vec<(String, Value)> {
    let (role, binding) = (&cluster_wide[0].1, &cluster_wide[1].1);
    let mut out = vec![];
    for ns in nss {
        let mut r = role.clone();
        r["kind"] = json!("Role");
        r["metadata"]["namespace"] = json!(ns);
        out.push(("templates/multiple_namespaces_role.yaml".to_string(), r));
    }
    for ns in nss {
        let mut b = binding.clone();
        b["kind"] = json!("RoleBinding");
        b["metadata"]["namespace"] = json!(ns);
        b["roleRef"]["kind"] = json!("Role");
        out.push((
            "templates/multiple_namespaces_rolebinding.yaml".to_string(),
            b,
        ));
    }
    out
}

/// The operator's ClusterRole and leader-election Role, and their bindings.
fn rbac(meta: &dyn Fn(&str, bool) -> Value, name: &str, ns: &str) -> Vec<(String, Value)> {
    let le = format!("{name}-leader-election");
    vec![
        (
            "templates/ray_rbac_role.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, false), "rules": [
                {"apiGroups": [""], "resources": ["pods", "services", "events", "configmaps", "serviceaccounts", "secrets", "endpoints", "pods/status", "pods/proxy", "services/proxy"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["ray.io"], "resources": ["rayclusters", "rayjobs", "rayservices", "rayclusters/status", "rayjobs/status", "rayservices/status", "rayclusters/finalizers", "rayjobs/finalizers", "rayservices/finalizers"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "list", "update"]}
            ]}),
        ),
        (
            "templates/ray_rbac_role_binding.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name, false),
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
                "roleRef": {"kind": "ClusterRole", "name": name, "apiGroup": "rbac.authorization.k8s.io"}}),
        ),
        (
            "templates/leader_election_role.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(&le, true), "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "list", "update"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}
            ]}),
        ),
        (
            "templates/leader_election_role_binding.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(&le, true),
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
                "roleRef": {"kind": "Role", "name": le, "apiGroup": "rbac.authorization.k8s.io"}}),
        ),
    ]
}

pub fn yaml_doc(source: &str, v: &Value) -> String {
    format!(
        "---\n# Source: {source}\n{}",
        serde_saphyr::to_string(v).unwrap_or_default()
    )
}
