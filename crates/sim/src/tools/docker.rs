//! Fake `docker` CLI: `version`, `ps`, `pull` and `image inspect` (the host's images), and
//! `exec <node> cat <file>` (plus `ls`, `crictl pull`) on any kind node container of the world.

use std::sync::Arc;

use super::args::node_path_to_host;
use super::invocation::{Invocation, ToolOutput};
use crate::cluster::Cluster;
use crate::faults::Fault;
use crate::nodes::Node;
use crate::world::World;

pub const DOCKER_VERSION: &str = "27.3.1";

pub async fn run(world: &Arc<World>, inv: &Invocation) -> ToolOutput {
    let a: Vec<&str> = inv.args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["version", "--format", f] | ["version", "-f", f] => {
            let out = f
                .replace("{{.Server.Version}}", DOCKER_VERSION)
                .replace("{{.Client.Version}}", DOCKER_VERSION)
                .replace("{{ .Server.Version }}", DOCKER_VERSION);
            ToolOutput::ok(format!("{out}\n"))
        }
        ["version"] => ToolOutput::ok(format!(
            "Client: Docker Engine - Community\n Version:           {DOCKER_VERSION}\n API version:       1.47\n Go version:        go1.22.7\n OS/Arch:           linux/amd64\n\nServer: Docker Engine - Community\n Engine:\n  Version:          {DOCKER_VERSION}\n  API version:      1.47 (minimum version 1.24)\n  Go version:       go1.22.7\n  OS/Arch:          linux/amd64\n"
        )),
        ["ps", ..] => {
            let mut out = "CONTAINER ID   IMAGE                  COMMAND                  CREATED         STATUS         PORTS                       NAMES\n".to_string();
            for c in world.clusters.lock().unwrap().values() {
                let port = c.addr.lock().unwrap().map(|a| a.port()).unwrap_or(0);
                for n in &c.nodes {
                    let ports = if n.name == c.node_name {
                        format!("127.0.0.1:{port}->6443/tcp")
                    } else {
                        String::new()
                    };
                    out.push_str(&format!("{:12}   {:20}   \"/usr/local/bin/entr…\"   2 minutes ago   Up 2 minutes   {ports:27}   {}\n", &crate::cluster::uid_for(&n.name).replace('-', "")[..12], c.image.split('@').next().unwrap_or_default(), n.name));
                }
            }
            ToolOutput::ok(out)
        }
        ["exec", node, "crictl", "pull", image] => crictl_pull(world, node, image).await,
        ["image", "inspect", image] | ["inspect", "--type=image", image] => {
            image_inspect(world, image)
        }
        ["pull", image] => pull(world, image).await,
        ["exec", rest @ ..] => exec(world, rest),
        [cmd, ..] => ToolOutput::fail(
            format!("docker: '{cmd}' is not a docker command.\nSee 'docker --help'\n"),
            1,
        ),
        [] => ToolOutput::ok("Usage:  docker [OPTIONS] COMMAND\n"),
    }
}

/// `docker image inspect IMAGE`: only what `docker pull` put on the host.
fn image_inspect(world: &World, image: &str) -> ToolOutput {
    let full = crate::cluster::full_image(image);
    if !world.host_images.lock().unwrap().contains(&full) {
        return ToolOutput {
            stdout: "[]\n".into(),
            stderr: format!("Error: No such image: {image}\n"),
            code: 1,
        };
    }
    let id = crate::cluster::uid_for(&full).replace('-', "");
    ToolOutput::ok(format!(
        "[\n    {{\n        \"Id\": \"sha256:{id}{id}\",\n        \"RepoTags\": [\n            \"{image}\"\n        ]\n    }}\n]\n"
    ))
}

/// `docker pull IMAGE` on the host (the registry's rate limit applies to Ray images too).
async fn pull(world: &World, image: &str) -> ToolOutput {
    let full = crate::cluster::full_image(image);
    let tag = full.rsplit_once(':').map_or("latest", |(_, t)| t);
    world.env.sleep(crate::latency::PULL_SMALL_IMAGE).await;
    world.host_images.lock().unwrap().insert(full.clone());
    let digest = crate::cluster::uid_for(&full).replace('-', "");
    ToolOutput::ok(format!(
        "{tag}: Pulling from {}\nDigest: sha256:{digest}{digest}\nStatus: Downloaded newer image for {image}\n{full}\n",
        full.trim_start_matches("docker.io/")
            .rsplit_once(':')
            .map_or(image, |(r, _)| r)
    ))
}

/// `docker exec NODE crictl pull IMAGE`: the node's containerd pulls the image (joining a pull
/// already in progress), as `crictl` reports it.
async fn crictl_pull(world: &Arc<World>, node: &str, image: &str) -> ToolOutput {
    let Some(c) = world.cluster_by_node(node) else {
        return ToolOutput::fail(
            format!("Error response from daemon: No such container: {node}\n"),
            1,
        );
    };
    if image.contains("rayproject/")
        && let Some(refusal) =
            crate::ray::registry_refuses(&c, &format!("crictl pull {image} on {node}"))
    {
        // crictl quotes the error inside its log line's msg="…".
        let msg = format!("pulling image: rpc error: code = Unknown desc = {refusal}")
            .replace('"', "\\\"");
        return ToolOutput::fail(
            format!(
                "time=\"{}\" level=fatal msg=\"{msg}\"\n",
                crate::util::now_rfc3339()
            ),
            1,
        );
    }
    c.pull_image(node, image, c.pull_latency(image)).await;
    let digest = crate::cluster::uid_for(&crate::cluster::full_image(image)).replace('-', "");
    ToolOutput::ok(format!("Image is up to date for sha256:{digest}{digest}\n"))
}

fn exec(world: &Arc<World>, rest: &[&str]) -> ToolOutput {
    let mut i = 0;
    while i < rest.len() && rest[i].starts_with('-') {
        // Options with a value.
        if matches!(
            rest[i],
            "-u" | "--user" | "-w" | "--workdir" | "-e" | "--env"
        ) {
            i += 1;
        }
        i += 1;
    }
    let Some(container) = rest.get(i) else {
        return ToolOutput::fail(
            "\"docker exec\" requires at least 2 arguments.\nSee 'docker exec --help'.\n",
            1,
        );
    };
    let cmd = &rest[i + 1..];
    if cmd.is_empty() {
        return ToolOutput::fail(
            "\"docker exec\" requires at least 2 arguments.\nSee 'docker exec --help'.\n",
            1,
        );
    }
    let Some(c) = world.cluster_by_node(container) else {
        return ToolOutput::fail(
            format!("Error response from daemon: No such container: {container}\n"),
            1,
        );
    };
    let n = c.node(container).expect("the cluster has its node");
    match cmd {
        ["cat", files @ ..] => cat(world, &c, n, files),
        ["ls", paths @ ..] => ls(n, paths),
        [prog, ..] => ToolOutput::fail(
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{prog}\": executable file not found in $PATH: unknown\n"
            ),
            126,
        ),
        [] => unreachable!(),
    }
}

/// `cat FILE...` in the node container (the audit log may be unreadable: fault).
fn cat(world: &World, c: &Cluster, n: &Node, files: &[&str]) -> ToolOutput {
    let mut out = String::new();
    let mut err = String::new();
    let mut code = 0;
    for f in files {
        let host = node_path_to_host(&n.mounts, &n.root, f);
        let is_audit = c.audit.as_ref().is_some_and(|a| a.path == host);
        if is_audit && world.env.faults.has(Fault::AuditLogUnreadable) {
            world.env.faults.hit(Fault::AuditLogUnreadable, f);
            err.push_str(&format!("cat: {f}: Permission denied\n"));
            code = 1;
            continue;
        }
        match std::fs::read(&host) {
            Ok(b) if host.is_file() => out.push_str(&String::from_utf8_lossy(&b)),
            Ok(_) | Err(_) if host.is_dir() => {
                err.push_str(&format!("cat: {f}: Is a directory\n"));
                code = 1;
            }
            _ => {
                err.push_str(&format!("cat: {f}: No such file or directory\n"));
                code = 1;
            }
        }
    }
    ToolOutput {
        stdout: out,
        stderr: err,
        code,
    }
}

/// `ls PATH...` in the node container: the rootfs plus the extraMounts under a directory.
fn ls(c: &Node, paths: &[&str]) -> ToolOutput {
    let mut out = String::new();
    for p in paths.iter().filter(|p| !p.starts_with('-')) {
        let host = node_path_to_host(&c.mounts, &c.root, p);
        match std::fs::read_dir(&host) {
            Ok(rd) => {
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect();
                // extraMounts directly under this dir.
                for (cp, _) in &c.mounts {
                    if let Some(n) = cp.strip_prefix(&format!("{}/", p.trim_end_matches('/')))
                        && !n.contains('/')
                        && !names.iter().any(|x| x == n)
                    {
                        names.push(n.to_string());
                    }
                }
                names.sort();
                for n in names {
                    out.push_str(&n);
                    out.push('\n');
                }
            }
            Err(_) if host.is_file() => out.push_str(&format!("{p}\n")),
            Err(_) => {
                return ToolOutput {
                    stdout: out,
                    stderr: format!("ls: cannot access '{p}': No such file or directory\n"),
                    code: 2,
                };
            }
        }
    }
    ToolOutput::ok(out)
}
