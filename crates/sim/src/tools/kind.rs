//! Fake `kind` (v0.25.0): `version`, `get clusters`, `get kubeconfig`, `create cluster` (honouring
//! the kind.x-k8s.io/v1alpha4 config: control-plane `kubeadmConfigPatches` ClusterConfiguration
//! `apiServer.extraArgs` audit flags + `extraVolumes`, node `extraMounts`), `delete cluster`.
//! The CLI owns the flags, the config, the transcript and the kubeconfig; what a running cluster
//! is comes from `boot`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::args::{
    flag, io_msg, kubeconfig_path, node_path_to_host, parse_flags, parse_go_duration, resolve,
    to_vec,
};
use super::invocation::{Invocation, ToolOutput};
use crate::audit::{AuditLog, Policy};
use crate::cluster::{Cluster, KubeVersion};
use crate::faults::Fault;
use crate::nodes::{Node, node_names};
use crate::world::World;

pub const KIND_VERSION: &str = "kind v0.25.0 go1.22.9 linux/amd64";
pub const DEFAULT_IMAGE: &str = "kindest/node:v1.31.2";

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
        ["get", "nodes", rest @ ..] => get_nodes(world, &to_vec(rest)),
        ["get", "kubeconfig", rest @ ..] => get_kubeconfig(world, &to_vec(rest)),
        ["create", "cluster", rest @ ..] => create(world, inv, &to_vec(rest)).await,
        ["delete", "cluster", rest @ ..] => delete(world, inv, &to_vec(rest)),
        ["load", "docker-image", rest @ ..] => load_docker_image(world, &to_vec(rest)),
        ["export", "logs", rest @ ..] => {
            super::export::logs(world, &inv.cwd, &to_vec(rest), KIND_VERSION)
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

/// `kind get nodes --name NAME`.
fn get_nodes(world: &World, rest: &[String]) -> ToolOutput {
    let (_, flags) = match parse_flags(rest, &["name"], &[]) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind");
    match world.cluster(name) {
        Some(c) => ToolOutput::ok(
            c.nodes
                .iter()
                .map(|n| format!("{}\n", n.name))
                .collect::<String>(),
        ),
        None => ToolOutput {
            stdout: String::new(),
            stderr: format!("No kind nodes found for cluster \"{name}\".\n"),
            code: 0,
        },
    }
}

/// `kind load docker-image IMAGE... [--name NAME] [--nodes N1,N2]`: images the host's Docker has
/// are copied into each chosen node that lacks them.
fn load_docker_image(world: &World, rest: &[String]) -> ToolOutput {
    let (images, flags) = match parse_flags(rest, &["name", "nodes"], &[]) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind");
    if images.is_empty() {
        return ToolOutput::fail("ERROR: a list of image names is required\n", 1);
    }
    for image in &images {
        let full = crate::cluster::full_image(image);
        if !world.host_images.lock().unwrap().contains(&full) {
            return ToolOutput::fail(
                format!("ERROR: image: \"{image}\" not present locally\n"),
                1,
            );
        }
    }
    let Some(c) = world.cluster(name) else {
        return ToolOutput::fail(format!("ERROR: no nodes found for cluster \"{name}\"\n"), 1);
    };
    let chosen: Vec<&Node> = match flag(&flags, "nodes") {
        None => c.nodes.iter().collect(),
        Some(list) => {
            let mut out = vec![];
            for n in list.split(',').filter(|n| !n.is_empty()) {
                match c.node(n) {
                    Some(node) => out.push(node),
                    None => return ToolOutput::fail(format!("ERROR: unknown node: {n}\n"), 1),
                }
            }
            out
        }
    };
    let mut err = String::new();
    for image in &images {
        let full = crate::cluster::full_image(image);
        let id = crate::cluster::uid_for(&full).replace('-', "");
        let missing: Vec<&&Node> = chosen.iter().filter(|n| !n.has_image(image)).collect();
        if missing.is_empty() {
            err.push_str(&format!("Image: \"{image}\" with ID \"sha256:{id}{id}\" found to be already present on all nodes.\n"));
        }
        for n in missing {
            err.push_str(&format!("Image: \"{image}\" with ID \"sha256:{id}{id}\" not yet present on node \"{}\", loading...\n", n.name));
            n.load_image(image);
        }
    }
    ToolOutput {
        stdout: String::new(),
        stderr: err,
        code: 0,
    }
}

/// `kind get kubeconfig --name NAME`.
fn get_kubeconfig(world: &World, rest: &[String]) -> ToolOutput {
    let (_, flags) = match parse_flags(rest, &["name"], &["internal"]) {
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

/// `kind delete cluster`: the cluster stops, its kubeconfig entries and node files go.
fn delete(world: &World, inv: &Invocation, rest: &[String]) -> ToolOutput {
    let (_, flags) = match parse_flags(rest, &["name", "kubeconfig"], &[]) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind").to_string();
    let mut err = format!("Deleting cluster \"{name}\" ...\n");
    let removed = world.clusters.lock().unwrap().remove(&name);
    if let Some(c) = removed {
        c.stop();
        let kc = kubeconfig_path(inv, flag(&flags, "kubeconfig"));
        let _ = remove_from_kubeconfig(&kc, &format!("kind-{name}"));
        let _ = std::fs::remove_dir_all(cluster_dir(world, &name));
        let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
        err.push_str(&format!("Deleted nodes: {}\n", go_list(&names)));
    }
    ToolOutput {
        stdout: String::new(),
        stderr: err,
        code: 0,
    }
}

/// A list of names as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn go_list(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("[{}]", q.join(" "))
}

/// kind's kubeconfig for a cluster: kubeadm's `admin.conf` (the cluster's CA, the admin's client
/// certificate and key, all embedded) with every name `kind-NAME` and the host's port.
pub fn kubeconfig_value(c: &Cluster) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let n = format!("kind-{}", c.name);
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": c.pki.ca_data_base64(), "server": c.server_url()}, "name": n}],
        "contexts": [{"context": {"cluster": n, "user": n}, "name": n}],
        "current-context": n,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": n, "user": {
            "client-certificate-data": b64.encode(&c.admin_cert.cert_pem),
            "client-key-data": b64.encode(&c.admin_cert.key_pem),
        }}]
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
    /// The `role: worker` nodes, each with its extraMounts.
    pub workers: Vec<Vec<(String, String)>>,
}

pub fn parse_config(text: &str) -> Result<NodeSetup, String> {
    let cfg: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    check_type(&cfg)?;
    let (node, workers) = config_nodes(&cfg)?;
    let mut setup = NodeSetup {
        image: node["image"].as_str().map(String::from),
        workers: workers.iter().map(extra_mounts).collect(),
        ..NodeSetup::default()
    };
    // Cluster-wide patches first, then the node's own.
    for p in
        string_list(&cfg["kubeadmConfigPatches"]).chain(string_list(&node["kubeadmConfigPatches"]))
    {
        let doc: Value = serde_saphyr::from_str(p)
            .map_err(|e| format!("failed to parse kubeadmConfigPatches: {e}"))?;
        if doc["kind"] == "ClusterConfiguration" {
            apply_api_server_patch(&doc["apiServer"], &mut setup);
        }
    }
    setup.extra_mounts = extra_mounts(&node);
    Ok(setup)
}

/// A node's `extraMounts`: (containerPath, hostPath as written).
fn extra_mounts(node: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    for m in node["extraMounts"].as_array().into_iter().flatten() {
        if let (Some(c), Some(h)) = (m["containerPath"].as_str(), m["hostPath"].as_str()) {
            out.push((c.into(), h.into()));
        }
    }
    out
}

/// `kind: Cluster`, `apiVersion: kind.x-k8s.io/v1alpha4`.
fn check_type(cfg: &Value) -> Result<(), String> {
    if cfg["kind"] != "Cluster" {
        return Err(format!(
            "unknown kind: {}",
            cfg["kind"].as_str().unwrap_or("")
        ));
    }
    match cfg["apiVersion"].as_str() {
        Some("kind.x-k8s.io/v1alpha4") => Ok(()),
        other => Err(format!("unknown apiVersion: {}", other.unwrap_or(""))),
    }
}

/// The control-plane node and the workers (no `nodes:` means one control-plane node).
fn config_nodes(cfg: &Value) -> Result<(Value, Vec<Value>), String> {
    let nodes = cfg["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![json!({"role": "control-plane"})]);
    for n in &nodes {
        let role = n["role"].as_str().unwrap_or("control-plane");
        if role != "control-plane" && role != "worker" {
            return Err(format!("unknown role: {role:?}"));
        }
    }
    let is_cp = |n: &&Value| n["role"].as_str().unwrap_or("control-plane") == "control-plane";
    let cps: Vec<&Value> = nodes.iter().filter(is_cp).collect();
    let Some(cp) = cps.first() else {
        return Err("must have at least one control-plane node".into());
    };
    if cps.len() > 1 {
        return Err("the simulated kind supports one control-plane node only (no HA)".into());
    }
    let workers = nodes.iter().filter(|n| !is_cp(n)).cloned().collect();
    Ok(((*cp).clone(), workers))
}

fn string_list(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
}

/// A ClusterConfiguration's `apiServer`: `extraArgs` (v1beta3 map or v1beta4 name/value list)
/// and `extraVolumes`.
fn apply_api_server_patch(api_server: &Value, setup: &mut NodeSetup) {
    match &api_server["extraArgs"] {
        Value::Object(m) => {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string());
                setup.extra_args.insert(k.clone(), v);
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
    for v in api_server["extraVolumes"].as_array().into_iter().flatten() {
        if let (Some(m), Some(h)) = (v["mountPath"].as_str(), v["hostPath"].as_str()) {
            setup.extra_volumes.push((m.into(), h.into()));
        }
    }
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

/// kind's create steps for `nodes` nodes (one 📦 each; workers join last).
fn steps(nodes: usize) -> Vec<String> {
    let mut s = vec![
        format!("Preparing nodes {}", "📦 ".repeat(nodes)),
        "Writing configuration 📜".to_string(),
        "Starting control-plane 🕹️".to_string(),
        "Installing CNI 🔌".to_string(),
        "Installing StorageClass 💾".to_string(),
    ];
    if nodes > 1 {
        s.push("Joining worker nodes 🚜".to_string());
    }
    s
}
/// The step in which kubeadm brings up the control plane (and the cluster boots).
const CONTROL_PLANE_STEP: usize = 2;

const CREATE_FLAGS: &[&str] = &["name", "config", "image", "kubeconfig", "wait", "retain"];

fn create_failed(e: impl std::fmt::Display) -> ToolOutput {
    ToolOutput::fail(format!("ERROR: failed to create cluster: {e}\n"), 1)
}

/// `kind create cluster`: the transcript on stderr, the cluster booted in the world, the kubeconfig.
async fn create(world: &Arc<World>, inv: &Invocation, rest: &[String]) -> ToolOutput {
    let (_, flags) = match parse_flags(rest, CREATE_FLAGS, &["retain"]) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind").to_string();
    if world.cluster(&name).is_some() {
        return create_failed(format!(
            "node(s) already exist for a cluster with the name \"{name}\""
        ));
    }
    let setup = match flag(&flags, "config") {
        Some(path) => match read_config(&resolve(&inv.cwd, path)) {
            Ok(s) => s,
            Err(e) => return create_failed(e),
        },
        None => NodeSetup::default(),
    };
    let image = flag(&flags, "image")
        .map(String::from)
        .or(setup.image.clone())
        .unwrap_or_else(|| DEFAULT_IMAGE.into());
    let mut err = format!("Creating cluster \"{name}\" ...\n");
    let Some(version) = ensure_node_image(world, &image, &mut err).await else {
        return ToolOutput::fail(err, 1);
    };
    let node = NodeFs::new(world, inv, &name, &setup);
    let control_plane = kubeadm_init(world, &name, &setup, &node);
    let spec = ClusterSpec {
        name: &name,
        version,
        image: &image,
        nodes: cluster_nodes(world, inv, &name, &setup, node),
    };
    if let Err(out) = run_steps(world, spec, control_plane, &mut err).await {
        return out;
    }
    let c = world.cluster(&name).expect("just created");
    if let Some(w) = flag(&flags, "wait").filter(|w| *w != "0s" && *w != "0") {
        wait_for_ready(&c, w, &mut err).await;
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

/// `--config FILE`: read and parse a kind config, with kind's error wording.
fn read_config(path: &Path) -> Result<NodeSetup, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "error reading file: open {}: {}",
            path.display(),
            io_msg(&e)
        )
    })?;
    parse_config(&text)
}

/// Only `kindest/node:vX.Y.Z` images exist; pulling one takes a while.
async fn ensure_node_image(world: &World, image: &str, err: &mut String) -> Option<KubeVersion> {
    let Some(version) =
        KubeVersion::from_image(image).filter(|_| image.starts_with("kindest/node:"))
    else {
        err.push_str(&format!(" ✗ Ensuring node image ({image}) 🖼\nERROR: failed to create cluster: failed to pull image \"{image}\": command \"docker pull {image}\" failed with error: exit status 1\n"));
        return None;
    };
    err.push_str(&format!(" • Ensuring node image ({image}) 🖼  ...\n"));
    world.env.sleep(Duration::from_secs(3)).await;
    err.push_str(&format!(" ✓ Ensuring node image ({image}) 🖼\n"));
    Some(version)
}

/// The node container's filesystem: its rootfs in the state dir, and the config's extraMounts
/// (a relative hostPath against kind's CWD, like filepath.Abs).
struct NodeFs {
    root: PathBuf,
    mounts: Vec<(String, PathBuf)>,
}

impl NodeFs {
    fn new(world: &World, inv: &Invocation, name: &str, setup: &NodeSetup) -> NodeFs {
        let root = cluster_dir(world, name).join("node");
        let _ = std::fs::create_dir_all(&root);
        let mounts = setup
            .extra_mounts
            .iter()
            .map(|(c, h)| (c.clone(), resolve(&inv.cwd, h)))
            .collect();
        NodeFs { root, mounts }
    }
}

/// Every node of the cluster: the control plane (`node`), then the workers, each with its own
/// rootfs in the state dir and its extraMounts.
fn cluster_nodes(
    world: &World,
    inv: &Invocation,
    name: &str,
    setup: &NodeSetup,
    node: NodeFs,
) -> Vec<Node> {
    let mut nodes = vec![];
    for (i, (n, role)) in node_names(name, setup.workers.len())
        .into_iter()
        .enumerate()
    {
        let node = if i == 0 {
            Node::new(n, role, 0, node.root.clone(), node.mounts.clone())
        } else {
            let root = cluster_dir(world, name).join(&n);
            let _ = std::fs::create_dir_all(&root);
            let mounts = setup.workers[i - 1]
                .iter()
                .map(|(c, h)| (c.clone(), resolve(&inv.cwd, h)))
                .collect();
            Node::new(n, role, i as u32, root, mounts)
        };
        nodes.push(node);
    }
    nodes
}

fn cluster_dir(world: &World, name: &str) -> PathBuf {
    world.env.state_dir.join("clusters").join(name)
}

/// What `kubeadm init` will make of the config: the apiserver's audit backend, or the reason the
/// control plane never comes up.
fn kubeadm_init(
    world: &World,
    name: &str,
    setup: &NodeSetup,
    node: &NodeFs,
) -> Result<Option<AuditLog>, String> {
    if world.env.faults.has(Fault::KindCreateFails) {
        world.env.faults.hit(Fault::KindCreateFails, name);
        return Err("[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"\n[kubelet-check] Initial timeout of 40s passed.\n\nUnfortunately, an error has occurred:\n\ttimed out waiting for the condition".into());
    }
    let Some(pf) = setup.extra_args.get("audit-policy-file") else {
        return Ok(None);
    };
    let policy = read_audit_policy(setup, node, pf).map_err(|e| {
        format!(
            "kube-apiserver exited: E0000 00:00:00.000000       1 run.go:74] \"command failed\" err=\"loading audit policy file: {e}\"\n\nUnfortunately, an error has occurred:\n\ttimed out waiting for the condition"
        )
    })?;
    let Some(lp) = setup.extra_args.get("audit-log-path").filter(|p| *p != "-") else {
        return Ok(None);
    };
    // A log path not on a hostPath volume lives in the apiserver container only, so
    // `docker exec <node> cat` cannot see it.
    let Some(np) = apiserver_path_to_node(&setup.extra_volumes, lp) else {
        return Ok(None);
    };
    AuditLog::new(policy, node.root.join(np.trim_start_matches('/')))
        .map(Some)
        .map_err(|e| format!("kube-apiserver: failed to open audit log: {e}"))
}

/// `--audit-policy-file`, seen from the apiserver pod through its volumes and the node's mounts.
fn read_audit_policy(setup: &NodeSetup, node: &NodeFs, pf: &str) -> Result<Policy, String> {
    let text = match apiserver_path_to_node(&setup.extra_volumes, pf) {
        None => Err(format!("open {pf}: no such file or directory")),
        Some(np) => {
            let host = node_path_to_host(&node.mounts, &node.root, &np);
            if host.is_dir() {
                Err(format!("read {pf}: is a directory"))
            } else {
                std::fs::read_to_string(&host).map_err(|e| format!("open {pf}: {}", io_msg(&e)))
            }
        }
    }?;
    Policy::parse(&text).map_err(|e| format!("failed to load audit policy file {pf}: {e}"))
}

struct ClusterSpec<'a> {
    name: &'a str,
    version: KubeVersion,
    image: &'a str,
    nodes: Vec<Node>,
}

/// kind's create steps; the cluster boots (or kubeadm fails) in "Starting control-plane".
async fn run_steps(
    world: &Arc<World>,
    spec: ClusterSpec<'_>,
    control_plane: Result<Option<AuditLog>, String>,
    err: &mut String,
) -> Result<(), ToolOutput> {
    let name = spec.name;
    let mut control_plane = Some(control_plane);
    let mut nodes = Some(spec.nodes);
    let node_names: Vec<String> = nodes.iter().flatten().map(|n| n.name.clone()).collect();
    for (i, step) in steps(node_names.len()).iter().enumerate() {
        err.push_str(&format!(" • {step}  ...\n"));
        let secs = if i == CONTROL_PLANE_STEP { 12 } else { 2 };
        world.env.sleep(Duration::from_secs(secs)).await;
        if i == CONTROL_PLANE_STEP {
            let audit = match control_plane.take().expect("one control-plane step") {
                Ok(audit) => audit,
                Err(reason) => {
                    err.push_str(&format!(" ✗ {step}\nDeleted nodes: {}\nERROR: failed to create cluster: failed to init node with kubeadm: command \"docker exec --privileged {name}-control-plane kubeadm init --skip-phases=preflight --config=/kind/kubeadm.conf --skip-token-print --v=6\" failed with error: exit status 1\nCommand Output: I1128 04:12:00.000000     200 initconfiguration.go:255] loading configuration from \"/kind/kubeadm.conf\"\n{reason}\n", go_list(&node_names)));
                    let _ = std::fs::remove_dir_all(cluster_dir(world, name));
                    return Err(ToolOutput::fail(std::mem::take(err), 1));
                }
            };
            let cluster = Arc::new(Cluster::new(
                name,
                spec.version.clone(),
                spec.image,
                audit,
                nodes.take().expect("one control-plane step"),
                world.env.clone(),
            ));
            if let Err(e) = crate::boot::boot(&cluster).await {
                return Err(ToolOutput::fail(
                    format!("{err}ERROR: failed to create cluster: {e}\n"),
                    1,
                ));
            }
            world.clusters.lock().unwrap().insert(name.into(), cluster);
        }
        err.push_str(&format!(" ✓ {step}\n"));
    }
    Ok(())
}

/// `--wait`: block until the control-plane node is Ready (or the timeout passes).
async fn wait_for_ready(c: &Cluster, w: &str, err: &mut String) {
    err.push_str(&format!(
        " • Waiting ≤ {w} for control-plane = Ready ⏳  ...\n"
    ));
    let started = std::time::Instant::now();
    let limit = parse_go_duration(w).unwrap_or(Duration::from_secs(60));
    while !crate::controllers::node_ready(c) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if crate::controllers::node_ready(c) {
        err.push_str(&format!(
            " ✓ Waiting ≤ {w} for control-plane = Ready ⏳\n • Ready after {}s 💚\n",
            started.elapsed().as_secs()
        ));
    } else {
        err.push_str(&format!(" ✗ Waiting ≤ {w} for control-plane = Ready ⏳\n • WARNING: Timed out waiting for Ready ⚠️\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kuberay_kind_config() {
        let t =
            std::fs::read_to_string(crate::shared_dir().join("upstream/kuberay/kind-config.yaml"))
                .unwrap();
        let s = parse_config(&t).unwrap();
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
    fn config_errors_use_kinds_wording() {
        let err = |t: &str| parse_config(t).unwrap_err();
        assert_eq!(err("kind: Pod\n"), "unknown kind: Pod");
        assert_eq!(
            err("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n"),
            "unknown apiVersion: kind.x-k8s.io/v1alpha3"
        );
        let head = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n";
        assert_eq!(
            err(&format!("{head}nodes:\n- role: worker\n")),
            "must have at least one control-plane node"
        );
        assert_eq!(
            err(&format!(
                "{head}nodes:\n- role: control-plane\n- role: control-plane\n"
            )),
            "the simulated kind supports one control-plane node only (no HA)"
        );
        let two = parse_config(&format!(
            "{head}nodes:\n- role: control-plane\n- role: worker\n- role: worker\n  extraMounts:\n    - containerPath: /x\n      hostPath: h/p\n"
        ))
        .unwrap();
        assert_eq!(
            two.workers,
            [vec![], vec![("/x".to_string(), "h/p".to_string())]]
        );
        assert!(err("kind: [").starts_with("error converting YAML to JSON: "));
    }

    #[test]
    fn config_patches_accept_both_extra_args_shapes() {
        let t = r#"
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
kubeadmConfigPatches:
- |
  kind: ClusterConfiguration
  apiServer:
    extraArgs:
      audit-log-maxage: 3
- |
  kind: InitConfiguration
  apiServer:
    extraArgs:
      ignored: "yes"
nodes:
- role: control-plane
  image: kindest/node:v1.30.0
  kubeadmConfigPatches:
  - |
    kind: ClusterConfiguration
    apiServer:
      extraArgs:
      - name: audit-log-path
        value: /var/log/a.log
      extraVolumes:
      - name: logs
        mountPath: /var/log
        hostPath: /var/log/k
"#;
        let s = parse_config(t).unwrap();
        assert_eq!(s.image.as_deref(), Some("kindest/node:v1.30.0"));
        assert_eq!(s.extra_args.get("audit-log-maxage").unwrap(), "3");
        assert_eq!(
            s.extra_args.get("audit-log-path").unwrap(),
            "/var/log/a.log"
        );
        assert!(!s.extra_args.contains_key("ignored"));
        assert_eq!(
            apiserver_path_to_node(&s.extra_volumes, "/var/log/a.log").as_deref(),
            Some("/var/log/k/a.log")
        );
        assert_eq!(apiserver_path_to_node(&s.extra_volumes, "/etc/x"), None);
    }

    #[test]
    fn a_config_without_nodes_is_one_control_plane() {
        let s = parse_config("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n").unwrap();
        assert!(s.image.is_none() && s.extra_args.is_empty() && s.extra_mounts.is_empty());
    }
}
