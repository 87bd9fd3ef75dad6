//! Fake `kind` (v0.25.0): `version`, `get clusters`, `get kubeconfig`, `create cluster` (honouring
//! the kind.x-k8s.io/v1alpha4 config: control-plane `kubeadmConfigPatches` ClusterConfiguration
//! `apiServer.extraArgs` audit flags + `extraVolumes`, node `extraMounts`), `delete cluster`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditLog, Policy};
use crate::cluster::{Cluster, KubeVersion};
use crate::faults::Fault;
use crate::world::{Invocation, ToolOutput, World};

pub const KIND_VERSION: &str = "kind v0.25.0 go1.22.9 linux/amd64";
pub const DEFAULT_IMAGE: &str = "kindest/node:v1.31.2";

/// Positional arguments and flag values (repeatable flags keep every value).
pub type ParsedArgs = (Vec<String>, BTreeMap<String, Vec<String>>);

/// Minimal pflag-style parsing: `--flag value`, `--flag=value`, positional args.
pub fn parse_flags(
    args: &[String],
    with_value: &[&str],
    bools: &[&str],
) -> Result<ParsedArgs, String> {
    let mut pos = vec![];
    let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            pos.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(f) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-').filter(|f| f.len() == 1))
        {
            let (name, inline) = match f.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (f.to_string(), None),
            };
            if with_value.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("flag needs an argument: --{name}"))?
                    }
                };
                flags.entry(name).or_default().push(v);
            } else if bools.contains(&name.as_str()) {
                flags
                    .entry(name)
                    .or_default()
                    .push(inline.unwrap_or_else(|| "true".into()));
            } else {
                return Err(format!("unknown flag: {a}"));
            }
        } else {
            pos.push(a.clone());
        }
        i += 1;
    }
    Ok((pos, flags))
}

fn flag<'a>(flags: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    flags.get(name).and_then(|v| v.last()).map(String::as_str)
}

pub fn resolve(cwd: &str, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(cwd).join(p)
    }
}

pub fn kubeconfig_path(inv: &Invocation, explicit: Option<&str>) -> PathBuf {
    if let Some(k) = explicit.filter(|k| !k.is_empty()) {
        return resolve(&inv.cwd, k);
    }
    if let Some(k) = inv.env.get("KUBECONFIG").filter(|k| !k.is_empty()) {
        return resolve(&inv.cwd, k.split(':').next().unwrap_or(k));
    }
    PathBuf::from(
        inv.env
            .get("HOME")
            .cloned()
            .unwrap_or_else(|| "/root".into()),
    )
    .join(".kube/config")
}

pub async fn run(world: &Arc<World>, inv: &Invocation) -> ToolOutput {
    let a: Vec<&str> = inv.args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["version"] | ["--version"] => ToolOutput::ok(format!("{KIND_VERSION}\n")),
        ["get", "clusters", ..] => {
            let names: Vec<String> = world.clusters.lock().unwrap().keys().cloned().collect();
            if names.is_empty() {
                ToolOutput {
                    stdout: String::new(),
                    stderr: "No kind clusters found.\n".into(),
                    code: 0,
                }
            } else {
                ToolOutput::ok(names.iter().map(|n| format!("{n}\n")).collect::<String>())
            }
        }
        ["get", "nodes", rest @ ..] => {
            let (_, flags) = match parse_flags(&to_vec(rest), &["name"], &[]) {
                Ok(x) => x,
                Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
            };
            let name = flag(&flags, "name").unwrap_or("kind");
            match world.cluster(name) {
                Some(c) => ToolOutput::ok(format!("{}\n", c.node_name)),
                None => ToolOutput {
                    stdout: String::new(),
                    stderr: format!("No kind nodes found for cluster \"{name}\".\n"),
                    code: 0,
                },
            }
        }
        ["get", "kubeconfig", rest @ ..] => {
            let (_, flags) = match parse_flags(&to_vec(rest), &["name"], &["internal"]) {
                Ok(x) => x,
                Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
            };
            let name = flag(&flags, "name").unwrap_or("kind");
            match world.cluster(name) {
                Some(c) => ToolOutput::ok(kubeconfig_yaml(&c)),
                None => ToolOutput::fail(
                    format!(
                        "ERROR: could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster\n"
                    ),
                    1,
                ),
            }
        }
        ["create", "cluster", rest @ ..] => create(world, inv, &to_vec(rest)).await,
        ["delete", "cluster", rest @ ..] => {
            let (_, flags) = match parse_flags(&to_vec(rest), &["name", "kubeconfig"], &[]) {
                Ok(x) => x,
                Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
            };
            let name = flag(&flags, "name").unwrap_or("kind").to_string();
            let mut err = format!("Deleting cluster \"{name}\" ...\n");
            let removed = world.clusters.lock().unwrap().remove(&name);
            if let Some(c) = removed {
                c.cancel.cancel();
                if let Some(a) = &c.audit {
                    a.close();
                }
                let kc = kubeconfig_path(inv, flag(&flags, "kubeconfig"));
                let _ = remove_from_kubeconfig(&kc, &format!("kind-{name}"));
                let _ = std::fs::remove_dir_all(world.env.state_dir.join("clusters").join(&name));
                err.push_str(&format!("Deleted nodes: [\"{}\"]\n", c.node_name));
            }
            ToolOutput {
                stdout: String::new(),
                stderr: err,
                code: 0,
            }
        }
        [] | ["help"] | ["--help"] => ToolOutput::ok(
            "kind creates and manages local Kubernetes clusters using Docker container 'nodes'\n\nUsage:\n  kind [command]\n",
        ),
        [cmd, ..] => ToolOutput::fail(
            format!("ERROR: unknown command \"{cmd}\" for \"kind\"\n"),
            1,
        ),
    }
}

fn to_vec(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// kind's kubeconfig for a cluster (HTTPS with the embedded CA; bearer token: see README).
pub fn kubeconfig_value(c: &Cluster) -> Value {
    let n = format!("kind-{}", c.name);
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": crate::tls::ca_data_base64(), "server": c.server_url()}, "name": n}],
        "contexts": [{"context": {"cluster": n, "user": n}, "name": n}],
        "current-context": n,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": n, "user": {"token": c.admin_token}}]
    })
}

pub fn kubeconfig_yaml(c: &Cluster) -> String {
    serde_saphyr::to_string(&kubeconfig_value(c)).unwrap_or_default()
}

fn merge_named(list: &mut Vec<Value>, item: Value) {
    let name = item["name"].clone();
    list.retain(|x| x["name"] != name);
    list.push(item);
}

fn write_kubeconfig(path: &Path, c: &Cluster) -> std::io::Result<()> {
    let new = kubeconfig_value(c);
    let mut cfg: Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<Value>(&t).ok())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| json!({"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "contexts": [], "users": []}));
    for key in ["clusters", "contexts", "users"] {
        let mut list = cfg[key].as_array().cloned().unwrap_or_default();
        merge_named(&mut list, new[key][0].clone());
        cfg[key] = json!(list);
    }
    cfg["current-context"] = new["current-context"].clone();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, serde_saphyr::to_string(&cfg).unwrap_or_default())
}

fn remove_from_kubeconfig(path: &Path, name: &str) -> std::io::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(mut cfg) = serde_saphyr::from_str::<Value>(&text) else {
        return Ok(());
    };
    for key in ["clusters", "contexts", "users"] {
        if let Some(l) = cfg[key].as_array_mut() {
            l.retain(|x| x["name"] != name);
        }
    }
    if cfg["current-context"] == name {
        cfg["current-context"] = json!("");
    }
    std::fs::write(path, serde_saphyr::to_string(&cfg).unwrap_or_default())
}

/// What the kind config asks of the control-plane node.
#[derive(Default, Debug)]
pub struct NodeSetup {
    pub image: Option<String>,
    pub extra_args: BTreeMap<String, String>,
    /// apiserver extraVolumes: (mountPath in the apiserver pod, hostPath on the node).
    pub extra_volumes: Vec<(String, String)>,
    /// node extraMounts: (containerPath, hostPath as written).
    pub extra_mounts: Vec<(String, String)>,
}

pub fn parse_config(text: &str) -> Result<NodeSetup, String> {
    let cfg: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    if cfg["kind"] != "Cluster" {
        return Err(format!(
            "unknown kind: {}",
            cfg["kind"].as_str().unwrap_or("")
        ));
    }
    match cfg["apiVersion"].as_str() {
        Some("kind.x-k8s.io/v1alpha4") => {}
        other => return Err(format!("unknown apiVersion: {}", other.unwrap_or(""))),
    }
    let mut setup = NodeSetup::default();
    let mut patches: Vec<String> = cfg["kubeadmConfigPatches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    let nodes = cfg["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![json!({"role": "control-plane"})]);
    let cp: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["role"] == "control-plane")
        .collect();
    if cp.is_empty() {
        return Err("must have at least one control-plane node".into());
    }
    if nodes.len() > 1 {
        return Err("the simulated kind supports single-node clusters only".into());
    }
    let node = cp[0];
    setup.image = node["image"].as_str().map(String::from);
    patches.extend(
        node["kubeadmConfigPatches"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(String::from)),
    );
    for p in patches {
        let doc: Value = serde_saphyr::from_str(&p)
            .map_err(|e| format!("failed to parse kubeadmConfigPatches: {e}"))?;
        if doc["kind"] != "ClusterConfiguration" {
            continue;
        }
        match &doc["apiServer"]["extraArgs"] {
            Value::Object(m) => {
                for (k, v) in m {
                    setup.extra_args.insert(
                        k.clone(),
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()),
                    );
                }
            }
            Value::Array(l) => {
                for a in l {
                    if let (Some(n), Some(v)) = (a["name"].as_str(), a["value"].as_str()) {
                        setup.extra_args.insert(n.into(), v.into());
                    }
                }
            }
            _ => {}
        }
        for v in doc["apiServer"]["extraVolumes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(m), Some(h)) = (v["mountPath"].as_str(), v["hostPath"].as_str()) {
                setup.extra_volumes.push((m.into(), h.into()));
            }
        }
    }
    for m in node["extraMounts"].as_array().into_iter().flatten() {
        if let (Some(c), Some(h)) = (m["containerPath"].as_str(), m["hostPath"].as_str()) {
            setup.extra_mounts.push((c.into(), h.into()));
        }
    }
    Ok(setup)
}

/// Map a path inside the node container to the host: extraMounts first, else the node's rootfs.
pub fn node_path_to_host(c_mounts: &[(String, PathBuf)], node_root: &Path, p: &str) -> PathBuf {
    for (cp, hp) in c_mounts {
        if p == cp {
            return hp.clone();
        }
        if let Some(rest) = p.strip_prefix(&format!("{}/", cp.trim_end_matches('/'))) {
            return hp.join(rest);
        }
    }
    node_root.join(p.trim_start_matches('/'))
}

/// Map a path inside the kube-apiserver pod to the node via the static pod's hostPath volumes.
fn apiserver_path_to_node(vols: &[(String, String)], p: &str) -> Option<String> {
    for (mp, hp) in vols {
        if p == mp {
            return Some(hp.clone());
        }
        if let Some(rest) = p.strip_prefix(&format!("{}/", mp.trim_end_matches('/'))) {
            return Some(format!("{}/{rest}", hp.trim_end_matches('/')));
        }
    }
    None
}

const STEPS: &[&str] = &[
    "Preparing nodes 📦 ",
    "Writing configuration 📜",
    "Starting control-plane 🕹️",
    "Installing CNI 🔌",
    "Installing StorageClass 💾",
];

async fn create(world: &Arc<World>, inv: &Invocation, rest: &[String]) -> ToolOutput {
    let (_, flags) = match parse_flags(
        rest,
        &["name", "config", "image", "kubeconfig", "wait", "retain"],
        &["retain"],
    ) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind").to_string();
    if world.cluster(&name).is_some() {
        return ToolOutput::fail(
            format!(
                "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"\n"
            ),
            1,
        );
    }
    let setup = match flag(&flags, "config") {
        Some(cfgp) => {
            let path = resolve(&inv.cwd, cfgp);
            match std::fs::read_to_string(&path) {
                Ok(t) => match parse_config(&t) {
                    Ok(s) => s,
                    Err(e) => {
                        return ToolOutput::fail(
                            format!("ERROR: failed to create cluster: {e}\n"),
                            1,
                        );
                    }
                },
                Err(e) => {
                    return ToolOutput::fail(
                        format!(
                            "ERROR: failed to create cluster: error reading file: open {}: {}\n",
                            path.display(),
                            io_msg(&e)
                        ),
                        1,
                    );
                }
            }
        }
        None => NodeSetup::default(),
    };
    let image = flag(&flags, "image")
        .map(String::from)
        .or(setup.image.clone())
        .unwrap_or_else(|| DEFAULT_IMAGE.into());
    let mut err = format!("Creating cluster \"{name}\" ...\n");
    let Some(version) =
        KubeVersion::from_image(&image).filter(|_| image.starts_with("kindest/node:"))
    else {
        err.push_str(&format!(" ✗ Ensuring node image ({image}) 🖼\nERROR: failed to create cluster: failed to pull image \"{image}\": command \"docker pull {image}\" failed with error: exit status 1\n"));
        return ToolOutput::fail(err, 1);
    };
    err.push_str(&format!(" • Ensuring node image ({image}) 🖼  ...\n"));
    world.env.sleep(Duration::from_secs(3)).await;
    err.push_str(&format!(" ✓ Ensuring node image ({image}) 🖼\n"));

    // Node rootfs + extraMounts (relative hostPath against kind's CWD, like filepath.Abs).
    let node_root = world
        .env
        .state_dir
        .join("clusters")
        .join(&name)
        .join("node");
    let _ = std::fs::create_dir_all(&node_root);
    let mounts: Vec<(String, PathBuf)> = setup
        .extra_mounts
        .iter()
        .map(|(c, h)| (c.clone(), resolve(&inv.cwd, h)))
        .collect();
    let mut fail_reason: Option<String> = None;
    if world.env.faults.has(Fault::KindCreateFails) {
        world.env.faults.hit(Fault::KindCreateFails, &name);
        fail_reason = Some("[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"\n[kubelet-check] Initial timeout of 40s passed.\n\nUnfortunately, an error has occurred:\n\ttimed out waiting for the condition".into());
    }
    // Audit backend from --audit-policy-file / --audit-log-path.
    let mut audit = None;
    if fail_reason.is_none()
        && let Some(pf) = setup.extra_args.get("audit-policy-file")
    {
        let node_p = apiserver_path_to_node(&setup.extra_volumes, pf);
        let text = match &node_p {
            None => Err(format!("open {pf}: no such file or directory")),
            Some(np) => {
                let host = node_path_to_host(&mounts, &node_root, np);
                if host.is_dir() {
                    Err(format!("read {pf}: is a directory"))
                } else {
                    std::fs::read_to_string(&host).map_err(|e| format!("open {pf}: {}", io_msg(&e)))
                }
            }
        };
        match text.and_then(|t| {
            Policy::parse(&t).map_err(|e| format!("failed to load audit policy file {pf}: {e}"))
        }) {
            Ok(policy) => {
                if let Some(lp) = setup.extra_args.get("audit-log-path").filter(|p| *p != "-") {
                    match apiserver_path_to_node(&setup.extra_volumes, lp) {
                        Some(np) => {
                            match AuditLog::new(policy, node_root.join(np.trim_start_matches('/')))
                            {
                                Ok(a) => audit = Some(a),
                                Err(e) => {
                                    fail_reason = Some(format!(
                                        "kube-apiserver: failed to open audit log: {e}"
                                    ))
                                }
                            }
                        }
                        // The log path is not on a hostPath volume: it lives in the apiserver
                        // container only, so `docker exec <node> cat` cannot see it.
                        None => {
                            let _ = policy;
                        }
                    }
                }
            }
            Err(e) => {
                fail_reason = Some(format!(
                    "kube-apiserver exited: E0000 00:00:00.000000       1 run.go:74] \"command failed\" err=\"loading audit policy file: {e}\"\n\nUnfortunately, an error has occurred:\n\ttimed out waiting for the condition"
                ));
            }
        }
    }
    for (i, step) in STEPS.iter().enumerate() {
        err.push_str(&format!(" • {step}  ...\n"));
        world
            .env
            .sleep(Duration::from_secs(if i == 2 { 12 } else { 2 }))
            .await;
        if i == 2 {
            if let Some(reason) = &fail_reason {
                err.push_str(&format!(" ✗ {step}\nDeleted nodes: [\"{name}-control-plane\"]\nERROR: failed to create cluster: failed to init node with kubeadm: command \"docker exec --privileged {name}-control-plane kubeadm init --skip-phases=preflight --config=/kind/kubeadm.conf --skip-token-print --v=6\" failed with error: exit status 1\nCommand Output: I1128 04:12:00.000000     200 initconfiguration.go:255] loading configuration from \"/kind/kubeadm.conf\"\n{reason}\n"));
                let _ = std::fs::remove_dir_all(world.env.state_dir.join("clusters").join(&name));
                return ToolOutput::fail(err, 1);
            }
            let cluster = Arc::new(Cluster::new(
                &name,
                version.clone(),
                &image,
                audit.take(),
                node_root.clone(),
                mounts.clone(),
                world.env.clone(),
            ));
            if let Err(e) = crate::apiserver::start(cluster.clone()).await {
                return ToolOutput::fail(format!("{err}ERROR: failed to create cluster: {e}\n"), 1);
            }
            crate::controllers::bootstrap(&cluster);
            tokio::spawn(crate::controllers::node_lifecycle(cluster.clone()));
            tokio::spawn(crate::controllers::deployment_controller(cluster.clone()));
            tokio::spawn(crate::kubelet::run(cluster.clone()));
            tokio::spawn(crate::operator::run(cluster.clone()));
            world.clusters.lock().unwrap().insert(name.clone(), cluster);
        }
        err.push_str(&format!(" ✓ {step}\n"));
    }
    let c = world.cluster(&name).expect("just created");
    if let Some(w) = flag(&flags, "wait").filter(|w| *w != "0s" && *w != "0") {
        // --wait: block until the control-plane node is Ready (or the timeout passes).
        err.push_str(&format!(
            " • Waiting ≤ {w} for control-plane = Ready ⏳  ...\n"
        ));
        let started = std::time::Instant::now();
        let limit = parse_go_duration(w).unwrap_or(Duration::from_secs(60));
        while !crate::controllers::node_ready(&c) && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if crate::controllers::node_ready(&c) {
            err.push_str(&format!(
                " ✓ Waiting ≤ {w} for control-plane = Ready ⏳\n • Ready after {}s 💚\n",
                started.elapsed().as_secs()
            ));
        } else {
            err.push_str(&format!(" ✗ Waiting ≤ {w} for control-plane = Ready ⏳\n • WARNING: Timed out waiting for Ready ⚠️\n"));
        }
    }
    let kc = kubeconfig_path(inv, flag(&flags, "kubeconfig"));
    if let Err(e) = write_kubeconfig(&kc, &c) {
        return ToolOutput::fail(
            format!("{err}ERROR: failed to create cluster: failed to lock config file: {e}\n"),
            1,
        );
    }
    err.push_str(&format!("Set kubectl context to \"kind-{name}\"\nYou can now use your cluster with:\n\nkubectl cluster-info --context kind-{name}"));
    if let Some(k) = flag(&flags, "kubeconfig") {
        err.push_str(&format!(" --kubeconfig {k}"));
    }
    err.push_str("\n\nHave a nice day! 👋\n");
    ToolOutput {
        stdout: String::new(),
        stderr: err,
        code: 0,
    }
}

/// `90s`, `5m`, `1m30s`, `900ms` (Go's time.ParseDuration subset).
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += n * unit;
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kuberay_kind_config() {
        let t = include_str!("../../../../shared/upstream/kuberay/kind-config.yaml");
        let s = parse_config(t).unwrap();
        assert_eq!(
            s.extra_args.get("audit-log-path").unwrap(),
            "/var/log/kubernetes/kube-apiserver-audit.log"
        );
        assert_eq!(
            s.extra_args.get("audit-policy-file").unwrap(),
            "/etc/kubernetes/policies/audit-policy.yaml"
        );
        assert_eq!(
            s.extra_mounts,
            vec![(
                "/etc/kubernetes/policies/audit-policy.yaml".to_string(),
                "ray-operator/config/security/audit-policy.yaml".to_string()
            )]
        );
        assert_eq!(
            apiserver_path_to_node(
                &s.extra_volumes,
                "/var/log/kubernetes/kube-apiserver-audit.log"
            )
            .unwrap(),
            "/var/log/kubernetes/kube-apiserver-audit.log"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("900ms"), Some(Duration::from_millis(900)));
        assert_eq!(parse_go_duration("5"), None);
    }

    #[test]
    fn image_versions() {
        let v = KubeVersion::from_image("kindest/node:v1.26.15@sha256:c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd").unwrap();
        assert_eq!((v.minor, v.git_version()), (26, "v1.26.15".to_string()));
    }
}
