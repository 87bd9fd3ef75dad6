//! What a step kind may look at besides its own spec: when it is planned (paths, versions,
//! what other steps say), when it prints its shell lines, and small shared wordings.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use pss::{KubeVersion, LevelVersion};
use xshell::Shell;

use super::session::Environment;
use crate::{
    cmd::quote,
    helm,
    scenario::{Source, Versions},
};

/// What a step claims Pod Security will do, which the preflight predicts.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The head pod of this manifest's RayCluster is forbidden under the policy.
    HeadForbidden {
        manifest: PathBuf,
        policy: LevelVersion,
    },
    /// Every pod template of this manifest (with the Ray image override) is allowed.
    Allowed {
        manifest: PathBuf,
        ray_image: Option<String>,
        policy: LevelVersion,
    },
    /// Every pod template of the chart, as `helm template` renders it, is allowed.
    ChartAllowed {
        install: helm::Install,
        policy: LevelVersion,
    },
}

/// What planning a step may look at besides its own spec.
pub struct PlanContext<'a> {
    pub source: &'a Source,
    /// The pinned versions, after command-line overrides.
    pub versions: &'a Versions,
    /// `--kuberay-chart`: a local chart instead of the scenario's repository.
    pub local_chart: Option<&'a Path>,
    /// The Kubernetes version of the node image: whose rules the preflight predicts with.
    pub node_image_version: Option<KubeVersion>,
    /// The enforce policy of each namespace a namespace step labels.
    pub policies: &'a BTreeMap<String, LevelVersion>,
    /// The services earlier `port_forward` steps forward, with their ports.
    pub forwards_before: Vec<(String, u16)>,
    /// What the other steps claim about Pod Security (for the preflight; empty for the others).
    pub claims: &'a [Claim],
}

impl PlanContext<'_> {
    /// The enforce policy of `namespace`: from its namespace step's labels, else the default.
    pub fn policy_in(&self, namespace: &str) -> LevelVersion {
        self.policies
            .get(namespace)
            .copied()
            .unwrap_or_else(|| crate::pod_security::enforce_policy(&BTreeMap::new()))
    }

    /// The port an earlier step forwards `service` on.
    pub fn forwarded_port(&self, service: &str) -> Option<u16> {
        self.forwards_before
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, port)| *port)
    }
}

/// What `--dry-run` needs to print a step.
pub struct ShellContext<'a> {
    pub sh: &'a Shell,
    pub env: &'a Environment,
    /// `kubectl --context kind-NAME`.
    pub kubectl: String,
    /// The step's timeout, for the `--timeout` of kubectl's waits.
    pub timeout: Duration,
}

impl ShellContext<'_> {
    /// `CMD` retried every second until it succeeds, for at most the step's timeout: a wait
    /// a person can paste (the harness itself watches instead).
    pub fn until(&self, command: &str) -> String {
        format!(
            "for _ in $(seq {}); do {command} && break; sleep 1; done",
            self.timeout.as_secs()
        )
    }

    /// The command that prints the audit log, or None on a cluster whose log no command can
    /// reach (an existing cluster that kind did not make).
    pub fn audit_read(&self) -> Option<String> {
        (!self.env.audit.node.is_empty()).then(|| self.env.audit.read_command(self.sh).shell_line())
    }

    /// `kubectl --context C -n NS` with the namespace quoted.
    pub fn kubectl_in(&self, namespace: &str) -> String {
        format!("{} -n {}", self.kubectl, quote(namespace))
    }
}

/// A file's name, for evidence lines.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `k1=v1,k2=v2`, as kubectl and the API take label selectors.
pub fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
