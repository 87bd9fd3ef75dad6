//! Fake `kind export logs [DIR] --name NAME`: every node's logs in the layout real kind writes
//! (`kind-version.txt`, `docker-info.txt`, and per node `kubernetes-version.txt`, `kubelet.log`,
//! `containerd.log`, `journal.log`, `inspect.json`, `pods/<ns>_<pod>_<uid>/<container>/0.log`).
//! The kubelet's and containerd's lines are what they reported as events; pod logs are the
//! containers' logs. Nothing else runs in the node, so nothing else is written.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::args::{flag, io_msg, parse_flags, resolve};
use super::docker::DOCKER_VERSION;
use super::invocation::ToolOutput;
use crate::cluster::Cluster;
use crate::logs::{LogQuery, container_log};
use crate::nodes::Node;
use crate::world::World;

/// `kind_version`: what `kind version` prints, for `kind-version.txt`.
pub fn logs(world: &Arc<World>, cwd: &str, rest: &[String], kind_version: &str) -> ToolOutput {
    let (pos, flags) = match parse_flags(rest, &["name"], &[]) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("ERROR: {e}\n"), 1),
    };
    let name = flag(&flags, "name").unwrap_or("kind").to_string();
    let Some(cluster) = world.clusters.lock().unwrap().get(&name).cloned() else {
        return ToolOutput::fail(format!("ERROR: unknown cluster \"{name}\"\n"), 1);
    };
    let dir = match pos.first() {
        Some(d) => resolve(cwd, d),
        None => std::env::temp_dir().join(format!("kind-logs-{}", std::process::id())),
    };
    match write(&cluster, &dir, kind_version) {
        Ok(()) => ToolOutput {
            stdout: format!(
                "Exporting logs for cluster \"{name}\" to:\n{}\n",
                dir.display()
            ),
            stderr: String::new(),
            code: 0,
        },
        Err(e) => ToolOutput::fail(format!("ERROR: failed to export logs: {}\n", io_msg(&e)), 1),
    }
}

fn write(cl: &Cluster, dir: &Path, kind_version: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("kind-version.txt"), format!("{kind_version}\n"))?;
    let docker_info = format!(
        "Client:\n Version:    {DOCKER_VERSION}\n\nServer:\n Containers: {n}\n  Running: {n}\n Server Version: {DOCKER_VERSION}\n Storage Driver: overlay2\n Cgroup Driver: systemd\n Cgroup Version: 2\n",
        n = cl.nodes.len()
    );
    std::fs::write(dir.join("docker-info.txt"), docker_info)?;
    let (events, _) = cl.store.list("events", None);
    let (pods, _) = cl.store.list("pods", None);
    for n in &cl.nodes {
        write_node(cl, n, &events, &pods, &dir.join(&n.name))?;
    }
    Ok(())
}

/// One node's directory: its kubelet's and containerd's lines (the events its kubelet reported;
/// the scheduler's on the control plane), and the logs of the pods bound to it.
fn write_node(
    cl: &Cluster,
    n: &Node,
    events: &[Value],
    pods: &[Value],
    node: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(node)?;
    std::fs::write(
        node.join("kubernetes-version.txt"),
        format!("{}\n", cl.version.git_version()),
    )?;
    let inspect = serde_json::json!([{"Name": format!("/{}", n.name), "Config": {"Image": cl.image}, "State": {"Status": "running"}}]);
    std::fs::write(
        node.join("inspect.json"),
        serde_json::to_string_pretty(&inspect)?,
    )?;
    let from = |component: &str, host: Option<&str>| -> String {
        events
            .iter()
            .filter(|e| e["source"]["component"] == component)
            .filter(|e| host.is_none_or(|h| e["source"]["host"] == h))
            .map(|e| {
                format!(
                    "{} {}: {} {}/{}: {}\n",
                    e["lastTimestamp"].as_str().unwrap_or_default(),
                    e["type"].as_str().unwrap_or_default(),
                    e["reason"].as_str().unwrap_or_default(),
                    e["involvedObject"]["namespace"]
                        .as_str()
                        .unwrap_or_default(),
                    e["involvedObject"]["name"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let kubelet = from("kubelet", Some(&n.name));
    let pulls: String = kubelet
        .lines()
        .filter(|l| l.contains(": Pulled ") || l.contains("Failed to pull image"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(node.join("kubelet.log"), &kubelet)?;
    std::fs::write(node.join("containerd.log"), pulls)?;
    // kube-scheduler runs on the control plane.
    let scheduler = if n.name == cl.node_name {
        from("default-scheduler", None)
    } else {
        String::new()
    };
    std::fs::write(node.join("journal.log"), format!("{kubelet}{scheduler}"))?;
    for pod in pods
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str() == Some(n.name.as_str()))
    {
        write_pod_logs(cl, pod, node)?;
    }
    Ok(())
}

fn write_pod_logs(cl: &Cluster, pod: &Value, node: &Path) -> std::io::Result<()> {
    let meta = |k: &str| pod["metadata"][k].as_str().unwrap_or_default().to_string();
    let dir = node.join("pods").join(format!(
        "{}_{}_{}",
        meta("namespace"),
        meta("name"),
        meta("uid")
    ));
    let containers = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str());
    for c in containers {
        let q = LogQuery {
            container: Some(c.to_string()),
            ..Default::default()
        };
        if let Ok(text) = container_log(cl, pod, &q) {
            std::fs::create_dir_all(dir.join(c))?;
            std::fs::write(dir.join(c).join("0.log"), text)?;
        }
    }
    Ok(())
}
