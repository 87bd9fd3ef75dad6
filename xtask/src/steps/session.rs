//! What the steps of one run share: the shell, a private work dir and kubeconfig, and the values
//! one step hands to later ones, each behind a method that says which step provides it.

use std::{collections::HashMap, path::PathBuf, time::Duration};

use anyhow::{Context, Result, anyhow};
use kube::Client;
use pss::KubeVersion;
use xshell::Shell;

use crate::{
    audit::{AuditEvent, AuditLog},
    dashboard::Dashboard,
    kind,
    kube_api::{access::Permission, port_forward::PortForward},
    tools,
};

use super::prepull;

/// Why the audit log is polled rather than watched: it is a file inside the node container, with
/// no API to watch; each read is one `docker exec … cat`.
pub const AUDIT_POLL: Duration = Duration::from_secs(1);

/// Which cluster a run works on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The kind cluster the `kind_cluster` step creates (or reuses).
    Kind,
    /// A cluster someone else made (`--kubeconfig`): never created or deleted by the run.
    Existing {
        kubeconfig: PathBuf,
        context: String,
    },
}

/// The cluster a run works on, and what it may do to it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub cluster: kind::Cluster,
    pub target: Target,
    pub audit: AuditLog,
    /// `--reuse-cluster`: an existing cluster of that name may be used.
    pub reuse_cluster: bool,
    /// `--keep-cluster`: the cluster is not deleted at the end.
    pub keep_cluster: bool,
    /// The namespaces the scenario creates: an earlier run's are deleted from a reused cluster.
    pub scenario_namespaces: Vec<String>,
    /// Where the fetched kind and helm are, ahead of `PATH`.
    pub tool_dirs: Vec<PathBuf>,
    /// The Helm releases the run installs, and their namespaces (for the failure bundle).
    pub helm_releases: Vec<(String, String)>,
    /// The images the compliant RayCluster will run, pulled onto the nodes early.
    pub prepull_images: Vec<String>,
    /// On an existing cluster: every right the steps need, asked before anything is touched.
    pub permissions: Vec<Permission>,
}

impl Environment {
    /// The kubeconfig context the run's clients use.
    pub fn context(&self) -> String {
        match &self.target {
            Target::Kind => self.cluster.context(),
            Target::Existing { context, .. } => context.clone(),
        }
    }

    /// Whether the run works on a cluster someone else made.
    pub fn existing(&self) -> bool {
        matches!(self.target, Target::Existing { .. })
    }
}

/// Something a run created on a cluster it did not create, which its cleanup removes.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    Namespace(String),
    /// A Helm release and its namespace.
    HelmRelease(String, String),
}

/// Everything steps share during one run.
pub struct Session<'e> {
    pub env: &'e Environment,
    pub sh: Shell,
    pub workdir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// Whether this run may have created the cluster (and so must delete it).
    pub cluster_created: bool,
    /// Whether the cluster existed before and `--reuse-cluster` was given.
    pub reused_cluster: bool,
    client: Option<Client>,
    /// The version the API server reports: whose Pod Security rules `latest` means there.
    server_version: Option<KubeVersion>,
    /// Audit events that predate this run (a reused cluster's), which no check looks at.
    audit_baseline: usize,
    /// Whether the audit log is part of the evidence: always on a kind cluster the run made or
    /// reused (unreadable there fails), on an existing cluster only once the `audit_log` step
    /// could read it.
    audit_readable: bool,
    /// What the run created on an existing cluster, which cleanup removes (newest first).
    created: Vec<Created>,
    forwards: HashMap<String, (PortForward, Dashboard)>,
    /// The Ray image's pre-pull, once started (its task ends with the session).
    prepull: Option<(prepull::Shared, tokio::task::JoinHandle<()>)>,
}

impl<'e> Session<'e> {
    pub fn new(env: &'e Environment) -> Result<Session<'e>> {
        let workdir = tempfile::Builder::new()
            .prefix("xtask-e2e-")
            .tempdir()
            .context("cannot create a temp dir")?;
        let kubeconfig = match &env.target {
            Target::Kind => workdir.path().join("kubeconfig"),
            Target::Existing { kubeconfig, .. } => kubeconfig.clone(),
        };
        Ok(Session {
            env,
            sh: tools::shell_with(&env.tool_dirs)?,
            workdir,
            kubeconfig,
            cluster_created: false,
            reused_cluster: false,
            client: None,
            server_version: None,
            audit_baseline: 0,
            audit_readable: !env.existing(),
            created: Vec::new(),
            forwards: HashMap::new(),
            prepull: None,
        })
    }

    /// The API client (from the `kind_cluster` step).
    pub fn client(&self) -> Result<Client> {
        self.client
            .clone()
            .ok_or_else(|| anyhow!("no cluster: the kind_cluster step has not run"))
    }

    /// The API server's version (from the `kind_cluster` step), if it reported one.
    pub fn server_version(&self) -> Option<KubeVersion> {
        self.server_version
    }

    /// Records the cluster the `kind_cluster` step reached, and the audit events that predate
    /// this run on a cluster it did not create.
    pub async fn connected(&mut self, client: Client, server_version: Option<KubeVersion>) {
        self.client = Some(client);
        self.server_version = server_version;
        if !self.cluster_created {
            self.audit_baseline = self
                .env
                .audit
                .read(&self.sh)
                .await
                .map(|e| e.len())
                .unwrap_or(0);
        }
    }

    /// Whether the audit log is part of this run's evidence.
    pub fn audit_readable(&self) -> bool {
        self.audit_readable
    }

    /// The `audit_log` step read the log of an existing cluster: later steps use it too.
    pub fn audit_log_found(&mut self) {
        self.audit_readable = true;
    }

    /// Records something the run created on an existing cluster, for cleanup to remove.
    pub fn created(&mut self, what: Created) {
        self.created.push(what);
    }

    /// What the run created on an existing cluster, newest first.
    pub fn created_newest_first(&self) -> impl Iterator<Item = &Created> {
        self.created.iter().rev()
    }

    /// How many audit events predate this run.
    pub fn audit_baseline(&self) -> usize {
        self.audit_baseline
    }

    /// The audit events of this run, after the first `seen` of them.
    pub async fn audit_events_after(&self, seen: usize) -> Result<Vec<AuditEvent>> {
        let mut events = self.env.audit.read(&self.sh).await?;
        Ok(events.split_off((self.audit_baseline + seen).min(events.len())))
    }

    /// Starts pulling the images the run will need onto the nodes (from the `kind_cluster`
    /// step); says what it started, if anything.
    pub fn start_prepull(&mut self) -> Option<String> {
        if self.env.prepull_images.is_empty() {
            return None;
        }
        let images = self.env.prepull_images.clone();
        let started = prepull::start(
            self.env.cluster.clone(),
            images.clone(),
            self.env.tool_dirs.clone(),
        );
        self.prepull = Some(started);
        Some(format!(
            "pulling {} onto the nodes in the background, while the next steps run",
            images.join(", ")
        ))
    }

    /// Where the pre-pull stands, if one was started.
    pub fn prepull(&self) -> Option<prepull::Prepull> {
        self.prepull.as_ref()?.0.lock().ok().map(|p| p.clone())
    }

    /// Keeps a port-forward (from a `port_forward` step) open for later steps.
    pub fn keep_forward(&mut self, service: &str, forward: PortForward, dashboard: Dashboard) {
        self.forwards
            .insert(service.to_string(), (forward, dashboard));
    }

    /// The dashboard behind the port-forward of `service`, and the forward itself.
    pub fn dashboard(&self, service: &str) -> Result<(&Dashboard, &PortForward)> {
        self.forwards
            .get(service)
            .map(|(pf, d)| (d, pf))
            .ok_or_else(|| anyhow!("no port-forward to {service}: its step did not pass"))
    }

    /// Deletes the cluster if this run created it and the user did not ask to keep it.
    pub fn cleanup_command(&self) -> Option<crate::cmd::Command> {
        (self.cluster_created && !self.env.keep_cluster)
            .then(|| self.env.cluster.delete(&self.sh, &self.kubeconfig))
    }

    /// Stops the port-forwards (their listeners close) and a pre-pull still running.
    pub fn close_forwards(&mut self) {
        self.forwards.clear();
        if let Some((_, task)) = self.prepull.take() {
            task.abort();
        }
    }
}
