//! A user's existing cluster (`sim run --existing-cluster NAME`): made before the program under
//! test starts, as a user would make it with kind — one control plane and N-1 workers, no audit
//! flags (so no audit log exists on the node) — with its kubeconfig written where asked. With a
//! limited user, the kubeconfig's user is that user, refused the given rights. What was made is
//! recorded in `<state dir>/existing-cluster.json` for tests to assert against.

use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::invocation::Invocation;
use super::kind;
use crate::authz::{LimitedUser, Rule};
use crate::world::World;

/// The record of the existing cluster, in the state dir.
pub const EXISTING_CLUSTER_FILE: &str = "existing-cluster.json";

/// What `sim run --existing-cluster` asks for.
#[derive(Clone, Debug, Default)]
pub struct ExistingCluster {
    pub name: String,
    /// Nodes in all: one control plane, the rest workers (at least 1).
    pub nodes: usize,
    /// Where the kubeconfig goes (default `<state dir>/<name>.kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
    /// `(user, refused rights as VERB:RESOURCE[.GROUP][/SUBRESOURCE])`.
    pub limited_user: Option<(String, Vec<String>)>,
}

impl World {
    /// Creates the cluster, waits until every node is Ready, writes the kubeconfig and the record.
    /// Returns the kubeconfig's path. (The creation is not an invocation of the fake kind: the
    /// program under test did not run it.)
    pub async fn create_existing_cluster(
        self: &Arc<Self>,
        spec: &ExistingCluster,
    ) -> Result<PathBuf, String> {
        let forbidden = match &spec.limited_user {
            Some((_, rules)) => rules
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![],
        };
        let state = self.env.state_dir.clone();
        let kubeconfig = spec
            .kubeconfig
            .clone()
            .unwrap_or_else(|| state.join(format!("{}.kubeconfig", spec.name)));
        let config = state.join(format!("{}.kind-config.yaml", spec.name));
        let mut text =
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n"
                .to_string();
        text.push_str(&"- role: worker\n".repeat(spec.nodes.max(1) - 1));
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        let args = ["create", "cluster", "--name", &spec.name, "--config"]
            .map(String::from)
            .into_iter()
            .chain([config.display().to_string(), "--kubeconfig".into()])
            .chain([kubeconfig.display().to_string()])
            .collect();
        let inv = Invocation {
            tool: "kind".into(),
            args,
            cwd: state.display().to_string(),
            env: Default::default(),
        };
        let out = kind::run(self, &inv).await;
        if out.code != 0 {
            return Err(format!("kind create cluster failed:\n{}", out.stderr));
        }
        let cluster = self.cluster(&spec.name).ok_or("the cluster vanished")?;
        // Bounded: nodes turn Ready after the (scaled) node latency.
        for _ in 0..6000 {
            if cluster
                .nodes
                .iter()
                .all(|n| crate::controllers::named_node_ready(&cluster, &n.name))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // kind merged its entries into the file (other contexts kept); a limited user replaces the
        // admin's credentials, which its kubeconfig must not hold.
        let mut user_name = "kubernetes-admin".to_string();
        if let Some((user, _)) = &spec.limited_user {
            let token = cluster.add_limited_user(LimitedUser {
                name: user.clone(),
                forbidden: forbidden.clone(),
            });
            let text = std::fs::read_to_string(&kubeconfig)
                .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
            let mut kc: serde_json::Value =
                serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
            let entry = format!("kind-{}", spec.name);
            if let Some(users) = kc["users"].as_array_mut() {
                users.retain(|u| u["name"] != entry.as_str() && u["name"] != user.as_str());
                users.push(json!({"name": user, "user": {"token": token}}));
            }
            for c in kc["contexts"].as_array_mut().into_iter().flatten() {
                if c["name"] == entry.as_str() {
                    c["context"]["user"] = json!(user);
                }
            }
            let yaml = serde_saphyr::to_string(&kc).map_err(|e| e.to_string())?;
            std::fs::write(&kubeconfig, yaml)
                .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
            user_name = user.clone();
        }
        let record = json!({
            "cluster": spec.name,
            "nodes": cluster.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
            "kubeconfig": kubeconfig,
            "context": format!("kind-{}", spec.name),
            "user": user_name,
            "forbid": forbidden.iter().map(Rule::to_string).collect::<Vec<_>>(),
        });
        std::fs::write(
            state.join(EXISTING_CLUSTER_FILE),
            serde_json::to_string_pretty(&record).expect("json"),
        )
        .map_err(|e| e.to_string())?;
        Ok(kubeconfig)
    }
}
