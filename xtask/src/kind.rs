//! kind: the cluster's life (create, reuse, delete) and its config file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::cmd::Command;

/// The kind cluster this run works on.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub node_image: String,
}

impl Cluster {
    /// kind names the kubeconfig context `kind-<cluster>`.
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }
    /// The Kubernetes version the node image runs, when its tag says (`kindest/node:v1.26.15`).
    pub fn node_image_version(&self) -> Option<pss::KubeVersion> {
        pss::KubeVersion::from_node_image(&self.node_image)
    }
    /// kind names the control-plane node container `<cluster>-control-plane`.
    pub fn control_plane_node(&self) -> String {
        format!("{}-control-plane", self.name)
    }

    pub fn create(&self, sh: &Shell, config: &Path, kubeconfig: &Path) -> Command {
        let (name, image) = (&self.name, &self.node_image);
        cmd!(sh, "kind create cluster --name {name} --config {config} --image {image} --kubeconfig {kubeconfig}").into()
    }

    pub fn delete(&self, sh: &Shell, kubeconfig: &Path) -> Command {
        let name = &self.name;
        cmd!(
            sh,
            "kind delete cluster --name {name} --kubeconfig {kubeconfig}"
        )
        .into()
    }

    pub fn get_kubeconfig(&self, sh: &Shell) -> Command {
        let name = &self.name;
        cmd!(sh, "kind get kubeconfig --name {name}").into()
    }

    /// `kind get nodes`: the node containers.
    pub fn nodes(&self, sh: &Shell) -> Command {
        let name = &self.name;
        cmd!(sh, "kind get nodes --name {name}").into()
    }

    /// Pulls `image` into one node's containerd, as the kubelet would (`crictl pull`).
    pub fn pull_on_node(&self, sh: &Shell, node: &str, image: &str) -> Command {
        cmd!(sh, "docker exec {node} crictl pull {image}").into()
    }

    /// Loads an image the host's Docker has into every node.
    pub fn load_image(&self, sh: &Shell, image: &str) -> Command {
        let name = &self.name;
        cmd!(sh, "kind load docker-image {image} --name {name}").into()
    }

    /// Whether kind already knows a cluster by this name.
    pub async fn exists(&self, sh: &Shell) -> Result<bool> {
        let out = Command::from(cmd!(sh, "kind get clusters"))
            .checked()
            .await?;
        Ok(out.stdout.lines().any(|l| l.trim() == self.name))
    }
}

/// Whether the host's Docker has `image`.
pub fn host_has_image(sh: &Shell, image: &str) -> Command {
    cmd!(sh, "docker image inspect {image}").into()
}

/// The kind config with every relative `extraMounts[].hostPath` made absolute against the config
/// file's directory. (kind resolves relative paths against its working directory, and Docker
/// silently creates a directory for a missing source, which leaves the API server without its audit
/// policy; so every mount source must also exist.)
pub fn absolute_config(config: &Path) -> Result<String> {
    let mut doc = read_config(config)?;
    let dir = config.parent().unwrap_or(Path::new("."));
    for (path, mount) in mounts_mut(&mut doc) {
        let Some(host) = mount.get("hostPath").and_then(Value::as_str) else {
            bail!("{}: {path}.hostPath is missing", config.display());
        };
        let abs = if Path::new(host).is_absolute() {
            PathBuf::from(host)
        } else {
            dir.join(host)
        };
        if !abs.exists() {
            bail!(
                "{}: {path}.hostPath {host} does not exist (looked for {})",
                config.display(),
                abs.display()
            );
        }
        mount["hostPath"] = Value::String(abs.display().to_string());
    }
    serde_saphyr::to_string(&doc).context("cannot write the kind config")
}

/// The relative mount sources, as `sed` expressions that make them absolute: what `--dry-run` shows
/// in place of the generated file.
pub fn relative_mounts(config: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut doc = read_config(config)?;
    let dir = config.parent().unwrap_or(Path::new("."));
    Ok(mounts_mut(&mut doc)
        .into_iter()
        .filter_map(|(_, m)| {
            m.get("hostPath")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|h| !Path::new(h).is_absolute())
        .map(|h| {
            let abs = dir.join(&h);
            (h, abs)
        })
        .collect())
}

fn read_config(config: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", config.display(), e.without_snippet()))
}

fn mounts_mut(doc: &mut Value) -> Vec<(String, &mut Value)> {
    let mut out = Vec::new();
    if let Some(nodes) = doc.get_mut("nodes").and_then(Value::as_array_mut) {
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(mounts) = node.get_mut("extraMounts").and_then(Value::as_array_mut) {
                for (j, m) in mounts.iter_mut().enumerate() {
                    out.push((format!("nodes[{i}].extraMounts[{j}]"), m));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_mount_becomes_absolute_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit-policy.yaml"), "kind: Policy\n").unwrap();
        let config = dir.path().join("kind-config.yaml");
        std::fs::write(
            &config,
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  kubeadmConfigPatches:\n  - |\n    kind: ClusterConfiguration\n  extraMounts:\n  - hostPath: audit-policy.yaml\n    containerPath: /etc/kubernetes/policies/audit-policy.yaml\n    readOnly: true\n",
        )
        .unwrap();
        let out = absolute_config(&config).unwrap();
        let parsed: Value = serde_saphyr::from_str(&out).unwrap();
        let mount = &parsed["nodes"][0]["extraMounts"][0];
        assert_eq!(
            mount["hostPath"],
            dir.path().join("audit-policy.yaml").display().to_string()
        );
        assert_eq!(mount["readOnly"], true);
        assert_eq!(
            parsed["nodes"][0]["kubeadmConfigPatches"][0],
            "kind: ClusterConfiguration\n"
        );
        assert_eq!(relative_mounts(&config).unwrap()[0].0, "audit-policy.yaml");
    }

    #[test]
    fn a_missing_mount_source_fails_before_kind_runs() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("kind-config.yaml");
        std::fs::write(&config, "kind: Cluster\nnodes:\n- role: control-plane\n  extraMounts:\n  - hostPath: nope.yaml\n    containerPath: /x\n").unwrap();
        let err = absolute_config(&config).unwrap_err().to_string();
        assert!(
            err.contains("nodes[0].extraMounts[0].hostPath nope.yaml does not exist"),
            "{err}"
        );
    }

    #[test]
    fn names_follow_kind() {
        let c = Cluster {
            name: "e2e".into(),
            node_image: "img".into(),
        };
        assert_eq!(c.context(), "kind-e2e");
        assert_eq!(c.control_plane_node(), "e2e-control-plane");
        let sh = Shell::new().unwrap();
        assert_eq!(
            c.create(&sh, Path::new("/t/kind.yaml"), Path::new("/t/kubeconfig"))
                .shell_line(),
            "kind create cluster --name e2e --config /t/kind.yaml --image img --kubeconfig /t/kubeconfig"
        );
    }
}
