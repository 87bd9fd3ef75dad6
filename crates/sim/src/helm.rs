//! Fake `helm` (v3.16.3): `version`, `install`, `template`, `uninstall`, `list`. Renders a built-in
//! approximation of the kuberay-operator chart (facts §4) with the user's values, and installs it
//! through the apiserver's REST API from the kubeconfig, so PodSecurity `Warning` headers come back
//! and are printed the way client-go's default warning handler (klog) prints them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::faults::Fault;
use crate::kind::{parse_flags, resolve};
use crate::util;
use crate::world::{Invocation, ToolOutput, World};

pub const HELM_VERSION: &str = "v3.16.3";
pub const HELM_COMMIT: &str = "cfd07493f46efc9debd9cc1b02a0961186df7fdf";
pub const KUBERAY_REPO: &str = "https://ray-project.github.io/kuberay-helm/";
const CHART_VERSIONS: &[&str] = &[
    "1.0.0", "1.1.0", "1.1.1", "1.2.1", "1.2.2", "1.3.0", "1.3.2", "1.4.0", "1.4.2", "1.5.0",
    "1.5.1", "1.6.0", "1.6.1", "1.6.2", "1.7.0",
];

pub async fn run(world: &Arc<World>, inv: &Invocation) -> ToolOutput {
    let a: Vec<&str> = inv.args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["version", "--short"] => {
            ToolOutput::ok(format!("{HELM_VERSION}+g{}\n", &HELM_COMMIT[..7]))
        }
        ["version", ..] => ToolOutput::ok(format!(
            "version.BuildInfo{{Version:\"{HELM_VERSION}\", GitCommit:\"{HELM_COMMIT}\", GitTreeState:\"clean\", GoVersion:\"go1.22.7\"}}\n"
        )),
        ["install", rest @ ..] => install_or_template(world, inv, rest, false).await,
        ["template", rest @ ..] => install_or_template(world, inv, rest, true).await,
        ["uninstall", rest @ ..] | ["delete", rest @ ..] => uninstall(inv, rest).await,
        [cmd, ..] => ToolOutput::fail(
            format!(
                "Error: unknown command \"{cmd}\" for \"helm\"\nRun 'helm --help' for usage.\n"
            ),
            1,
        ),
        [] => ToolOutput::ok("The Kubernetes package manager\n"),
    }
}

const VALUE_FLAGS: &[&str] = &[
    "namespace",
    "n",
    "values",
    "f",
    "kubeconfig",
    "kube-context",
    "repo",
    "version",
    "timeout",
    "set",
    "output",
    "o",
];
const BOOL_FLAGS: &[&str] = &[
    "create-namespace",
    "wait",
    "debug",
    "atomic",
    "include-crds",
    "skip-crds",
    "dry-run",
];

struct Chart {
    name: String,
    version: String,
    defaults: Value,
}

fn default_values(version: &str) -> Value {
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
        "featureGates": [{"name": "RayClusterStatusConditions", "enabled": true}]
    })
}

fn load_chart(
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

fn deep_merge(base: &mut Value, over: &Value) {
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

fn crds(version: &str) -> Vec<Value> {
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
fn render(release: &str, ns: &str, chart: &Chart, values: &Value) -> Vec<(String, Value)> {
    let name = values["fullnameOverride"]
        .as_str()
        .unwrap_or("kuberay-operator")
        .to_string();
    let labels = json!({
        "app.kubernetes.io/name": values["nameOverride"].as_str().unwrap_or("kuberay-operator"),
        "helm.sh/chart": format!("{}-{}", chart.name, chart.version),
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "Helm",
    });
    let sel = json!({"app.kubernetes.io/name": values["nameOverride"].as_str().unwrap_or("kuberay-operator"), "app.kubernetes.io/instance": release});
    let mut pod_labels = sel.clone();
    pod_labels["app.kubernetes.io/component"] = json!(
        values["componentOverride"]
            .as_str()
            .unwrap_or("kuberay-operator")
    );
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
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": values["image"]["pullPolicy"].as_str().unwrap_or("IfNotPresent"),
        "command": ["/manager"],
        "args": ["--feature-gates", gates.join(","), "--enable-leader-election=true"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [],
        "livenessProbe": {"httpGet": {"path": "/metrics", "port": "http"}, "initialDelaySeconds": 10, "periodSeconds": 5, "failureThreshold": 5},
        "readinessProbe": {"httpGet": {"path": "/metrics", "port": "http"}, "initialDelaySeconds": 10, "periodSeconds": 5, "failureThreshold": 5},
        "resources": values["resources"].clone(),
    });
    if values["securityContext"]
        .as_object()
        .is_some_and(|o| !o.is_empty())
    {
        container["securityContext"] = values["securityContext"].clone();
    }
    let mut pod_spec = json!({"serviceAccountName": name, "containers": [container]});
    if values["podSecurityContext"]
        .as_object()
        .is_some_and(|o| !o.is_empty())
    {
        pod_spec["securityContext"] = values["podSecurityContext"].clone();
    }
    let meta = |n: &str, namespaced: bool| {
        let mut m = json!({"name": n, "labels": labels.clone()});
        if namespaced {
            m["namespace"] = json!(ns);
        }
        m
    };
    vec![
        (
            "templates/serviceaccount.yaml".into(),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(&name, true)}),
        ),
        (
            "templates/ray_rbac_role.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(&name, false), "rules": [
                {"apiGroups": [""], "resources": ["pods", "services", "events", "configmaps", "serviceaccounts", "secrets", "endpoints", "pods/status", "pods/proxy", "services/proxy"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["ray.io"], "resources": ["rayclusters", "rayjobs", "rayservices", "rayclusters/status", "rayjobs/status", "rayservices/status", "rayclusters/finalizers", "rayjobs/finalizers", "rayservices/finalizers"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "list", "update"]}
            ]}),
        ),
        (
            "templates/ray_rbac_role_binding.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(&name, false),
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
                "roleRef": {"kind": "ClusterRole", "name": name, "apiGroup": "rbac.authorization.k8s.io"}}),
        ),
        (
            "templates/leader_election_role.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(&format!("{name}-leader-election"), true), "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "list", "update"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}
            ]}),
        ),
        (
            "templates/leader_election_role_binding.yaml".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(&format!("{name}-leader-election"), true),
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
                "roleRef": {"kind": "Role", "name": format!("{name}-leader-election"), "apiGroup": "rbac.authorization.k8s.io"}}),
        ),
        (
            "templates/service.yaml".into(),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(&name, true), "spec": {"type": "ClusterIP", "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP", "name": "monitoring-port"}], "selector": sel.clone()}}),
        ),
        (
            "templates/deployment.yaml".into(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(&name, true), "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": sel.clone()},
                "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec}
            }}),
        ),
    ]
}

fn yaml_doc(source: &str, v: &Value) -> String {
    format!(
        "---\n# Source: {source}\n{}",
        serde_saphyr::to_string(v).unwrap_or_default()
    )
}

/// A tiny client-go: bearer token over HTTPS (CA from the kubeconfig), collecting `Warning` headers.
struct Kube {
    base: String,
    token: String,
    tls: Option<tokio_rustls::TlsConnector>,
    warnings: Vec<String>,
}

impl Kube {
    fn from_kubeconfig(
        inv: &Invocation,
        explicit: Option<&str>,
        context: Option<&str>,
    ) -> Result<Kube, String> {
        let path = crate::kind::kubeconfig_path(inv, explicit);
        let text = std::fs::read_to_string(&path).map_err(|_| "Kubernetes cluster unreachable: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable".to_string())?;
        let cfg: Value = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "Kubernetes cluster unreachable: error loading config file \"{}\": {e}",
                path.display()
            )
        })?;
        let ctx_name = context
            .map(String::from)
            .or_else(|| cfg["current-context"].as_str().map(String::from))
            .unwrap_or_default();
        let ctx = cfg["contexts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == ctx_name.as_str())
            .ok_or_else(|| {
                format!("Kubernetes cluster unreachable: context \"{ctx_name}\" does not exist")
            })?;
        let cl_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
        let cluster = cfg["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == cl_name)
            .map(|c| c["cluster"].clone())
            .unwrap_or_default();
        let server = cluster["server"].as_str().unwrap_or_default().to_string();
        let tls = if server.starts_with("https://") {
            use base64::Engine;
            let ca = cluster["certificate-authority-data"]
                .as_str()
                .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
                .ok_or_else(|| "Kubernetes cluster unreachable: no certificate-authority-data in the kubeconfig".to_string())?;
            Some(crate::tls::connector(&ca)?)
        } else {
            None
        };
        let token = cfg["users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| u["name"] == user_name)
            .and_then(|u| u["user"]["token"].as_str())
            .unwrap_or_default()
            .to_string();
        Ok(Kube {
            base: server.trim_end_matches('/').to_string(),
            token,
            tls,
            warnings: vec![],
        })
    }

    async fn req(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let uri = format!("{}{path}", self.base);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(
                http::header::HOST,
                self.base
                    .trim_start_matches("https://")
                    .trim_start_matches("http://"),
            )
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(
                http::header::USER_AGENT,
                format!("Helm/{}", HELM_VERSION.trim_start_matches('v')),
            )
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(
                body.map(|b| Bytes::from(serde_json::to_vec(b).expect("json")))
                    .unwrap_or_default(),
            ))
            .map_err(|e| e.to_string())?;
        let host = self
            .base
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string();
        let unreachable = |e: String| {
            format!(
                "Kubernetes cluster unreachable: Get \"{uri}\": dial tcp {host}: connect: connection refused ({e})"
            )
        };
        let tcp = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = match &self.tls {
            Some(tls) => {
                let ip = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host);
                let name = rustls_pki_types::ServerName::try_from(ip.to_string())
                    .map_err(|e| unreachable(e.to_string()))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| {
                    format!("Kubernetes cluster unreachable: Get \"{uri}\": tls: {e}")
                })?;
                send(TokioIo::new(stream), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
        .map_err(unreachable)?;
        for w in resp.headers().get_all("warning") {
            if let Ok(s) = w.to_str() {
                self.warnings.push(parse_warning(s));
            }
        }
        let code = resp.status().as_u16();
        let b = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((code, serde_json::from_slice(&b).unwrap_or(Value::Null)))
    }
}

async fn send<I>(
    io: I,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// `299 - "text"` -> text (unquoting Go-quoted strings).
fn parse_warning(h: &str) -> String {
    let rest = h.splitn(3, ' ').nth(2).unwrap_or(h).trim();
    if let Some(q) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        rest.to_string()
    }
}

/// client-go's default warning handler output (klog).
fn klog_warning(w: &str) -> String {
    format!(
        "W{} {:>7} warnings.go:70] {w}\n",
        util::klog_time(),
        std::process::id()
    )
}

fn api_path(v: &Value, ns: &str) -> String {
    let av = v["apiVersion"].as_str().unwrap_or("v1");
    let kind = v["kind"].as_str().unwrap_or_default();
    let plural = match kind {
        "ServiceAccount" => "serviceaccounts",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Role" => "roles",
        "RoleBinding" => "rolebindings",
        "Service" => "services",
        "Deployment" => "deployments",
        "CustomResourceDefinition" => "customresourcedefinitions",
        "Secret" => "secrets",
        _ => "unknown",
    };
    let prefix = if av.contains('/') {
        format!("/apis/{av}")
    } else {
        format!("/api/{av}")
    };
    let namespaced = !matches!(
        kind,
        "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "Namespace"
    );
    if namespaced {
        format!("{prefix}/namespaces/{ns}/{plural}")
    } else {
        format!("{prefix}/{plural}")
    }
}

async fn install_or_template(
    world: &Arc<World>,
    inv: &Invocation,
    rest: &[&str],
    template: bool,
) -> ToolOutput {
    let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (pos, flags) = match parse_flags(&args, VALUE_FLAGS, BOOL_FLAGS) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("Error: {e}\n"), 1),
    };
    let verb = if template { "template" } else { "install" };
    let prefix = if template {
        "Error: "
    } else {
        "Error: INSTALLATION FAILED: "
    };
    let [release, chart_ref] = match pos.as_slice() {
        [r, c] => [r.clone(), c.clone()],
        _ => {
            return ToolOutput::fail(
                format!(
                    "Error: \"helm {verb}\" requires at least 1 argument\n\nUsage:  helm {verb} [NAME] [CHART] [flags]\n"
                ),
                1,
            );
        }
    };
    let get = |k: &str, short: &str| {
        flags
            .get(k)
            .or_else(|| flags.get(short))
            .and_then(|v| v.last())
            .map(String::as_str)
    };
    let ns = get("namespace", "n").unwrap_or("default").to_string();
    if world.env.faults.has(Fault::HelmInstallFails) && !template {
        world.env.faults.hit(Fault::HelmInstallFails, &release);
        let repo = get("repo", "").unwrap_or(KUBERAY_REPO);
        return ToolOutput::fail(
            format!(
                "{prefix}failed to fetch {}kuberay-operator-{}.tgz : 503 Service Unavailable\n",
                repo.trim_end_matches('/').to_string() + "/",
                get("version", "").unwrap_or("1.5.1")
            ),
            1,
        );
    }
    let chart = match load_chart(
        inv,
        &chart_ref,
        flags.get("repo").and_then(|v| v.last()).map(String::as_str),
        flags
            .get("version")
            .and_then(|v| v.last())
            .map(String::as_str),
    ) {
        Ok(c) => c,
        Err(e) => return ToolOutput::fail(format!("{prefix}{e}\n"), 1),
    };
    let mut values = chart.defaults.clone();
    for f in flags
        .get("values")
        .into_iter()
        .chain(flags.get("f"))
        .flatten()
    {
        let p = resolve(&inv.cwd, f);
        match std::fs::read_to_string(&p) {
            Ok(t) => match serde_saphyr::from_str::<Value>(&t) {
                Ok(v) if v.is_object() => deep_merge(&mut values, &v),
                Ok(_) => {}
                Err(e) => {
                    return ToolOutput::fail(
                        format!("Error: failed to parse {f}: error converting YAML to JSON: {e}\n"),
                        1,
                    );
                }
            },
            Err(_) => {
                return ToolOutput::fail(
                    format!("Error: open {f}: no such file or directory\n"),
                    1,
                );
            }
        }
    }
    let objs = render(&release, &ns, &chart, &values);
    if template {
        let mut out = String::new();
        for (src, o) in &objs {
            out.push_str(&yaml_doc(&format!("{}/{src}", chart.name), o));
        }
        return ToolOutput::ok(out);
    }
    let mut kube = match Kube::from_kubeconfig(inv, get("kubeconfig", ""), get("kube-context", ""))
    {
        Ok(k) => k,
        Err(e) => return ToolOutput::fail(format!("{prefix}{e}\n"), 1),
    };
    let mut stderr = String::new();
    if let Err(e) = kube.req("GET", "/version", None).await {
        return ToolOutput::fail(format!("{prefix}{e}\n"), 1);
    }
    // Existing release?
    let sel =
        format!("/api/v1/namespaces/{ns}/secrets?labelSelector=name%3D{release}%2Cowner%3Dhelm");
    match kube.req("GET", &sel, None).await {
        Ok((200, l)) if l["items"].as_array().is_some_and(|i| !i.is_empty()) => {
            return ToolOutput::fail(
                format!("{prefix}cannot re-use a name that is still in use\n"),
                1,
            );
        }
        Ok(_) => {}
        Err(e) => return ToolOutput::fail(format!("{prefix}{e}\n"), 1),
    }
    if flags.contains_key("create-namespace") {
        let _ = kube.req("POST", "/api/v1/namespaces", Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"name": ns}}}))).await;
    }
    // CRDs (crds/ directory): created if absent, then wait until Established.
    if !flags.contains_key("skip-crds") {
        for c in crds(&chart.version) {
            let n = c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match kube
                .req(
                    "POST",
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    Some(&c),
                )
                .await
            {
                Ok((201, _)) | Ok((409, _)) => {}
                Ok((code, b)) => {
                    return ToolOutput::fail(
                        format!(
                            "{stderr}{prefix}failed to install CRD crds/ray.io_{n}: {} (HTTP {code})\n",
                            b["message"].as_str().unwrap_or_default()
                        ),
                        1,
                    );
                }
                Err(e) => return ToolOutput::fail(format!("{stderr}{prefix}{e}\n"), 1),
            }
        }
        for _ in 0..100 {
            let mut all = true;
            for c in crds(&chart.version) {
                let n = c["metadata"]["name"].as_str().unwrap_or_default();
                let ok = matches!(kube.req("GET", &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}"), None).await, Ok((200, ref v)) if v["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True")));
                all &= ok;
            }
            if all {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let now = util::ansic_now();
    let rel_secret = |status: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": format!("sh.helm.release.v1.{release}.v1"), "namespace": ns,
                "labels": {"name": release, "owner": "helm", "status": status, "version": "1", "modifiedAt": util::now_millis().to_string()}},
            "data": {"release": "SDRzSUFBQUFBQUFDLzZ1dUFRQUFBQUFBQUFBQUE9PQ=="}})
    };
    match kube
        .req(
            "POST",
            &format!("/api/v1/namespaces/{ns}/secrets"),
            Some(&rel_secret("pending-install")),
        )
        .await
    {
        Ok((201, _)) => {}
        Ok((_, b)) => {
            return ToolOutput::fail(
                format!(
                    "{prefix}create: failed to create: {}\n",
                    b["message"].as_str().unwrap_or_default()
                ),
                1,
            );
        }
        Err(e) => return ToolOutput::fail(format!("{prefix}{e}\n"), 1),
    }
    let mut failure = None;
    for (_, o) in &objs {
        let mut o = o.clone();
        o["metadata"]["annotations"] =
            json!({"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns});
        match kube.req("POST", &api_path(&o, &ns), Some(&o)).await {
            Ok((201, _)) => {}
            // Like helm's existingResourceConflict: an object that already carries this release's
            // ownership metadata is adopted (replaced); any other is a conflict.
            Ok((409, _)) => {
                let item = format!(
                    "{}/{}",
                    api_path(&o, &ns),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                );
                let adopted = match kube.req("GET", &item, None).await {
                    Ok((200, existing)) => match ownership_problems(&existing, &release, &ns) {
                        None => {
                            o["metadata"]["resourceVersion"] =
                                existing["metadata"]["resourceVersion"].clone();
                            match kube.req("PUT", &item, Some(&o)).await {
                                Ok((200, _)) => Ok(()),
                                Ok((_, b)) => Err(b["message"]
                                    .as_str()
                                    .unwrap_or("unknown error")
                                    .to_string()),
                                Err(e) => Err(e),
                            }
                        }
                        Some(problems) => {
                            let obj_ns = if item.contains("/namespaces/") {
                                ns.as_str()
                            } else {
                                ""
                            };
                            Err(format!(
                                "rendered manifests contain a resource that already exists. Unable to continue with install: {} {:?} in namespace {obj_ns:?} exists and cannot be imported into the current release: invalid ownership metadata; {problems}",
                                o["kind"].as_str().unwrap_or_default(),
                                o["metadata"]["name"].as_str().unwrap_or_default()
                            ))
                        }
                    },
                    Ok((_, b)) => Err(b["message"].as_str().unwrap_or("unknown error").to_string()),
                    Err(e) => Err(e),
                };
                if let Err(f) = adopted {
                    failure = Some(f);
                    break;
                }
            }
            Ok((_, b)) => {
                failure = Some(b["message"].as_str().unwrap_or("unknown error").to_string());
                break;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for w in std::mem::take(&mut kube.warnings) {
        stderr.push_str(&klog_warning(&w));
    }
    let secret_path = format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{release}.v1");
    if let Some(f) = failure {
        let _ = kube
            .req("PUT", &secret_path, Some(&rel_secret("failed")))
            .await;
        return ToolOutput {
            stdout: String::new(),
            stderr: format!("{stderr}{prefix}{f}\n"),
            code: 1,
        };
    }
    let _ = kube
        .req("PUT", &secret_path, Some(&rel_secret("deployed")))
        .await;
    let stdout = format!(
        "NAME: {release}\nLAST DEPLOYED: {now}\nNAMESPACE: {ns}\nSTATUS: deployed\nREVISION: 1\nTEST SUITE: None\n"
    );
    ToolOutput {
        stdout,
        stderr,
        code: 0,
    }
}

/// Helm's `checkOwnership`: what keeps an existing object from being adopted by this release.
fn ownership_problems(existing: &Value, release: &str, ns: &str) -> Option<String> {
    let meta = &existing["metadata"];
    let require = |map: &str, key: &str, want: &str, what: &str| match meta[map][key].as_str() {
        Some(v) if v == want => None,
        Some(v) => Some(format!(
            "{what} validation error: key {key:?} must equal {want:?}: current value is {v:?}"
        )),
        None => Some(format!(
            "{what} validation error: missing key {key:?}: must be set to {want:?}"
        )),
    };
    let problems: Vec<String> = [
        require("labels", "app.kubernetes.io/managed-by", "Helm", "label"),
        require(
            "annotations",
            "meta.helm.sh/release-name",
            release,
            "annotation",
        ),
        require(
            "annotations",
            "meta.helm.sh/release-namespace",
            ns,
            "annotation",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

async fn uninstall(inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (pos, flags) = match parse_flags(&args, VALUE_FLAGS, BOOL_FLAGS) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("Error: {e}\n"), 1),
    };
    let Some(release) = pos.first() else {
        return ToolOutput::fail(
            "Error: \"helm uninstall\" requires at least 1 argument\n",
            1,
        );
    };
    let get = |k: &str, short: &str| {
        flags
            .get(k)
            .or_else(|| flags.get(short))
            .and_then(|v| v.last())
            .map(String::as_str)
    };
    let ns = get("namespace", "n").unwrap_or("default").to_string();
    let mut kube = match Kube::from_kubeconfig(inv, get("kubeconfig", ""), get("kube-context", ""))
    {
        Ok(k) => k,
        Err(e) => return ToolOutput::fail(format!("Error: {e}\n"), 1),
    };
    let secret_path = format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{release}.v1");
    match kube.req("GET", &secret_path, None).await {
        Ok((200, _)) => {}
        _ => {
            return ToolOutput::fail(
                format!("Error: uninstall: Release not loaded: {release}: release: not found\n"),
                1,
            );
        }
    }
    let chart = Chart {
        name: "kuberay-operator".into(),
        version: "1.5.1".into(),
        defaults: default_values("1.5.1"),
    };
    let mut errs: BTreeMap<String, String> = BTreeMap::new();
    for (_, o) in render(release, &ns, &chart, &chart.defaults).iter().rev() {
        let n = o["metadata"]["name"].as_str().unwrap_or_default();
        if let Ok((code, b)) = kube
            .req("DELETE", &format!("{}/{n}", api_path(o, &ns)), None)
            .await
            && code >= 400
            && code != 404
        {
            errs.insert(n.into(), b["message"].as_str().unwrap_or_default().into());
        }
    }
    let _ = kube.req("DELETE", &secret_path, None).await;
    ToolOutput::ok(format!("release \"{release}\" uninstalled\n"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn ownership_decides_adoption_like_helm() {
        let owned = serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "kuberay-operator", "meta.helm.sh/release-namespace": "pod-security"}}});
        assert_eq!(
            ownership_problems(&owned, "kuberay-operator", "pod-security"),
            None
        );
        assert_eq!(
            ownership_problems(&owned, "kuberay-operator", "other").as_deref(),
            Some(
                r#"annotation validation error: key "meta.helm.sh/release-namespace" must equal "other": current value is "pod-security""#
            )
        );
        let foreign = serde_json::json!({"metadata": {"name": "x"}});
        assert_eq!(
            ownership_problems(&foreign, "r", "n").as_deref(),
            Some(
                r#"label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation error: missing key "meta.helm.sh/release-name": must be set to "r"; annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "n""#
            )
        );
    }

    use super::*;

    #[test]
    fn warning_header_roundtrip() {
        let w = "would violate PodSecurity \"restricted:latest\": x (container \"c\" must set a=[\"ALL\"])";
        let h = format!("299 - {}", pss::go_quote(w));
        assert_eq!(parse_warning(&h), w);
        let k = klog_warning(w);
        assert!(
            k.starts_with('W') && k.contains(" warnings.go:70] would violate PodSecurity"),
            "{k}"
        );
    }
}
