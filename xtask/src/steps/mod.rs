//! The step kinds. Each module owns everything about one kind: its `Spec` (what the scenario
//! writes under the kind's key), its `Planned` form (resolved paths, pinned versions, derived
//! expectations), its `run` (drive the concern modules, observe, hand observations to `verdict`)
//! and its `shell` lines (what `--dry-run` prints for a person to type).
//!
//! This module dispatches: one `match` per phase. Adding a step kind: see ARCHITECTURE.md.

pub mod apply_admitted;
pub mod apply_rejected;
pub mod audit_log;
pub mod delete;
pub mod exec;
pub mod helm_install;
pub mod kind_cluster;
pub mod namespace;
pub mod port_forward;
pub mod preflight;
pub mod session;

use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::Result;
use pss::{KubeVersion, LevelVersion};
use serde::de::MapAccess;
use xshell::Shell;

use crate::{
    cmd::quote,
    pod_security,
    progress::Status,
    scenario::{self, ScenarioError, Source, Step, Versions},
};
use session::{Environment, Session};

/// A step's action as the scenario writes it: one variant per step kind, named by its key.
#[derive(Debug)]
pub enum ActionSpec {
    Preflight(preflight::Spec),
    KindCluster(kind_cluster::Spec),
    AuditLog(audit_log::Spec),
    Namespace(namespace::Spec),
    HelmInstall(helm_install::Spec),
    ApplyRejected(apply_rejected::Spec),
    ApplyAdmitted(apply_admitted::Spec),
    PortForward(port_forward::Spec),
    Exec(exec::Spec),
    Delete(delete::Spec),
}

impl scenario::Action for ActionSpec {
    const KEYS: &'static [&'static str] = &[
        "preflight",
        "kind_cluster",
        "audit_log",
        "namespace",
        "helm_install",
        "apply_rejected",
        "apply_admitted",
        "port_forward",
        "exec",
        "delete",
    ];

    fn next_value<'de, M: MapAccess<'de>>(
        key: &str,
        map: &mut M,
    ) -> Result<Option<Self>, M::Error> {
        Ok(Some(match key {
            "preflight" => ActionSpec::Preflight(map.next_value()?),
            "kind_cluster" => ActionSpec::KindCluster(map.next_value()?),
            "audit_log" => ActionSpec::AuditLog(map.next_value()?),
            "namespace" => ActionSpec::Namespace(map.next_value()?),
            "helm_install" => ActionSpec::HelmInstall(map.next_value()?),
            "apply_rejected" => ActionSpec::ApplyRejected(map.next_value()?),
            "apply_admitted" => ActionSpec::ApplyAdmitted(map.next_value()?),
            "port_forward" => ActionSpec::PortForward(map.next_value()?),
            "exec" => ActionSpec::Exec(map.next_value()?),
            "delete" => ActionSpec::Delete(map.next_value()?),
            _ => return Ok(None),
        }))
    }

    fn check(&self) -> Result<(), String> {
        match self {
            ActionSpec::Exec(e) => e.check(),
            _ => Ok(()),
        }
    }
}

/// The scenario as this harness reads it.
pub type Scenario = scenario::LoadedScenario<ActionSpec>;

/// What planning a step may look at besides its own spec.
pub struct PlanContext<'a> {
    pub source: &'a Source,
    /// The pinned versions, after command-line overrides.
    pub versions: &'a Versions,
    /// `--kuberay-chart`: a local chart instead of the scenario's repository.
    pub local_chart: Option<&'a Path>,
    /// Every step, in order; `index` is the one being planned.
    pub steps: &'a [Step<ActionSpec>],
    pub index: usize,
    /// The Kubernetes version of the node image: whose rules the preflight predicts with.
    pub node_image_version: Option<KubeVersion>,
    /// What the other steps claim about Pod Security (for the preflight; empty before them).
    pub claims: &'a [preflight::Claim],
}

impl PlanContext<'_> {
    /// The enforce policy of `namespace`, from the labels a namespace step gives it.
    pub fn policy_in(&self, namespace: &str) -> LevelVersion {
        let labels = self
            .steps
            .iter()
            .find_map(|s| match &s.action {
                ActionSpec::Namespace(n) if n.name == namespace => Some(n.labels.clone()),
                _ => None,
            })
            .unwrap_or_default();
        pod_security::enforce_policy(&labels)
    }

    /// The steps before the one being planned.
    pub fn earlier(&self) -> &[Step<ActionSpec>] {
        &self.steps[..self.index]
    }
}

/// A step's action, resolved for running.
#[derive(Debug)]
pub enum Planned {
    Preflight(preflight::Planned),
    KindCluster(kind_cluster::Planned),
    AuditLog(audit_log::Planned),
    Namespace(namespace::Planned),
    HelmInstall(helm_install::Planned),
    ApplyRejected(apply_rejected::Planned),
    ApplyAdmitted(apply_admitted::Planned),
    PortForward(port_forward::Planned),
    Exec(exec::Planned),
    Delete(delete::Planned),
}

impl ActionSpec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        Ok(match self {
            ActionSpec::Preflight(s) => Planned::Preflight(s.plan(ctx)),
            ActionSpec::KindCluster(s) => Planned::KindCluster(s.plan(ctx)?),
            ActionSpec::AuditLog(s) => Planned::AuditLog(s.plan()),
            ActionSpec::Namespace(s) => Planned::Namespace(s.plan()),
            ActionSpec::HelmInstall(s) => Planned::HelmInstall(s.plan(ctx)?),
            ActionSpec::ApplyRejected(s) => Planned::ApplyRejected(s.plan(ctx)?),
            ActionSpec::ApplyAdmitted(s) => Planned::ApplyAdmitted(s.plan(ctx)?),
            ActionSpec::PortForward(s) => Planned::PortForward(s.plan()),
            ActionSpec::Exec(s) => Planned::Exec(s.plan(ctx)?),
            ActionSpec::Delete(s) => Planned::Delete(s.plan(ctx)?),
        })
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
    /// `kubectl --context C -n NS` with the namespace quoted.
    pub fn kubectl_in(&self, namespace: &str) -> String {
        format!("{} -n {}", self.kubectl, quote(namespace))
    }
}

impl Planned {
    /// Runs the step and returns its evidence.
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        match self {
            Planned::Preflight(p) => p.run(session, status).await,
            Planned::KindCluster(p) => p.run(session, status).await,
            Planned::AuditLog(p) => p.run(session, status).await,
            Planned::Namespace(p) => p.run(session, status).await,
            Planned::HelmInstall(p) => p.run(session, status).await,
            Planned::ApplyRejected(p) => p.run(session, status).await,
            Planned::ApplyAdmitted(p) => p.run(session, status).await,
            Planned::PortForward(p) => p.run(session, status).await,
            Planned::Exec(p) => p.run(session, status).await,
            Planned::Delete(p) => p.run(session, status).await,
        }
    }

    /// The step as shell commands a person would type, each with what it must show.
    pub fn shell(&self, ctx: &ShellContext) -> Result<Vec<String>> {
        match self {
            Planned::Preflight(p) => Ok(p.shell(ctx)),
            Planned::KindCluster(p) => p.shell(ctx),
            Planned::AuditLog(p) => Ok(p.shell(ctx)),
            Planned::Namespace(p) => Ok(p.shell(ctx)),
            Planned::HelmInstall(p) => Ok(p.shell(ctx)),
            Planned::ApplyRejected(p) => Ok(p.shell(ctx)),
            Planned::ApplyAdmitted(p) => p.shell(ctx),
            Planned::PortForward(p) => Ok(p.shell(ctx)),
            Planned::Exec(p) => Ok(p.shell(ctx)),
            Planned::Delete(p) => Ok(p.shell(ctx)),
        }
    }

    /// What the step claims about Pod Security, for the preflight to predict.
    pub fn claim(&self) -> Option<preflight::Claim> {
        match self {
            Planned::ApplyRejected(p) => Some(p.claim()),
            Planned::ApplyAdmitted(p) => Some(p.claim()),
            Planned::HelmInstall(p) => Some(p.claim()),
            _ => None,
        }
    }

    /// The namespace the step creates, if it creates one.
    pub fn created_namespace(&self) -> Option<&str> {
        match self {
            Planned::Namespace(p) => Some(&p.name),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn project_scenario_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml")
    }

    #[test]
    fn the_projects_scenario_is_valid() {
        let s: Scenario =
            scenario::load(&project_scenario_path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.source.root.join("manifests").is_dir());
        assert_eq!(s.cluster_name, "kuberay-pod-security");
        let keys: Vec<&str> = s.steps.iter().map(|st| key_of(&st.action)).collect();
        assert_eq!(
            keys,
            [
                "preflight",
                "kind_cluster",
                "audit_log",
                "namespace",
                "helm_install",
                "apply_rejected",
                "delete",
                "apply_admitted",
                "port_forward",
                "exec",
                "exec",
                "delete"
            ]
        );
    }

    fn key_of(a: &ActionSpec) -> &'static str {
        match a {
            ActionSpec::Preflight(_) => "preflight",
            ActionSpec::KindCluster(_) => "kind_cluster",
            ActionSpec::AuditLog(_) => "audit_log",
            ActionSpec::Namespace(_) => "namespace",
            ActionSpec::HelmInstall(_) => "helm_install",
            ActionSpec::ApplyRejected(_) => "apply_rejected",
            ActionSpec::ApplyAdmitted(_) => "apply_admitted",
            ActionSpec::PortForward(_) => "port_forward",
            ActionSpec::Exec(_) => "exec",
            ActionSpec::Delete(_) => "delete",
        }
    }

    /// The project's scenario with `xgboost`'s exec block replaced.
    fn with_exec(exec: &str) -> Result<Scenario, ScenarioError> {
        let path = project_scenario_path();
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("    exec:\n      namespace: pod-security\n      pod: ray.io/cluster=raycluster-pod-security,ray.io/node-type=head\n      container: ray-head\n      command: [python3").unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        scenario::parse(&path, &format!("{}{exec}{}", &text[..start], &text[end..]))
    }

    #[test]
    fn every_key_reads_as_its_kind_and_a_values_errors_point_at_it() {
        for key in <ActionSpec as scenario::Action>::KEYS {
            let step = format!("    {key}: {{}}");
            match with_exec(&step) {
                Err(e) => assert!(!e.message.contains("unknown field"), "{key}: {e}"),
                Ok(s) => assert_eq!(key_of(&s.steps[9].action), *key),
            }
        }
        let exec = "    exec:\n      namespace: n\n      pod: a=b\n      container: c\n      command: [python3, x.py]\n      exit_code: 0\n      dashboard_job: DONE\n      dashboard: raycluster-pod-security-head-svc";
        let err = with_exec(exec).err().unwrap();
        assert!(
            err.message.contains("\"DONE\" is not a Ray job status"),
            "{err}"
        );
        let bad_pattern = exec
            .replace("dashboard_job: DONE", "dashboard_job: SUCCEEDED")
            .replace("exit_code: 0", "exit_code: 0\n      stdout: \"(\"");
        let err = with_exec(&bad_pattern).err().unwrap();
        assert!(err.message.contains("bad pattern"), "{err}");
        assert!(err.location.line > 100, "{err}");
    }

    #[test]
    fn a_dashboard_job_needs_its_dashboard_and_a_command() {
        let exec = "    exec:\n      namespace: n\n      pod: a=b\n      container: c\n      command: [python3, x.py]\n      exit_code: 0\n      dashboard_job: SUCCEEDED";
        let err = with_exec(exec).err().unwrap();
        assert!(err.message.contains("needs `dashboard"), "{err}");
        let err = with_exec(&exec.replace("[python3, x.py]", "[]"))
            .err()
            .unwrap();
        assert!(err.message.contains("exec.command is empty"), "{err}");
        assert!(
            with_exec(&format!(
                "{exec}\n      dashboard: raycluster-pod-security-head-svc"
            ))
            .is_ok()
        );
    }
}
