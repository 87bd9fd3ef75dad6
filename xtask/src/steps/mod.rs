//! The step kinds. Each module owns everything about one kind: its `Spec` (what the scenario
//! writes under the kind's key), its `Planned` form (resolved paths, pinned versions, derived
//! expectations), its `run` (drive the concern modules, observe, hand observations to `verdict`)
//! and its `shell` lines (what `--dry-run` prints for a person to type).
//!
//! This module dispatches: one `match` per phase. Adding a step kind: see ARCHITECTURE.md.

pub mod apply_admitted;
pub mod apply_rejected;
pub mod audit_log;
pub mod context;
pub mod delete;
pub mod exec;
pub mod helm_install;
pub mod kind_cluster;
pub mod namespace;
pub mod port_forward;
pub mod preflight;
pub mod prepull;
pub mod session;

use std::{collections::BTreeMap, path::Path};

use anyhow::Result;
use pss::{KubeVersion, LevelVersion};
use serde::de::MapAccess;

use crate::{
    kube_api::access::Permission,
    manifest, pod_security,
    progress::Status,
    scenario::{self, ScenarioError, Versions},
};
use context::{PlanContext, ShellContext};
use session::Session;

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

/// A step that does not apply to this run's cluster (e.g. creating the kind cluster, with
/// `--kubeconfig`): its run returns this error, and the runner reports it as skipped, with why.
#[derive(Debug)]
pub struct NotApplicable(pub String);

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotApplicable {}

/// The rights `verbs` on every object of a manifest, in `namespace`; none when it cannot be
/// read (the step that reads it then says why).
pub fn manifest_permissions(path: &Path, verbs: &[&str], namespace: &str) -> Vec<Permission> {
    manifest::read(path)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o.types.as_ref())
        .flat_map(|t| Permission::for_kind(verbs, &t.api_version, &t.kind, namespace))
        .collect()
}

/// What a step that applies a RayCluster's manifest and watches it needs: server-side apply of
/// the manifest's objects (a patch, which creates them too), the watches on its RayCluster, pods
/// and events, and server-side dry runs of pods.
pub fn raycluster_apply_permissions(manifest: &Path, ns: &str) -> Vec<Permission> {
    let mut p = manifest_permissions(manifest, &["get", "create", "patch"], ns);
    p.extend(Permission::all(
        &["list", "watch"],
        "rayclusters.ray.io",
        Some(ns),
    ));
    p.extend(Permission::all(
        &["list", "watch", "create"],
        "pods",
        Some(ns),
    ));
    p.extend(Permission::all(&["list", "watch"], "events", Some(ns)));
    p
}

/// The scenario as this harness reads it.
pub type Scenario = scenario::LoadedScenario<ActionSpec>;

/// Plans every step: each kind resolves its own spec; the preflight comes last, from what the
/// other steps claim about Pod Security.
pub fn plan_all(
    scenario: &Scenario,
    versions: &Versions,
    local_chart: Option<&Path>,
    node_image_version: Option<KubeVersion>,
) -> Result<Vec<Planned>, ScenarioError> {
    let policies: BTreeMap<String, LevelVersion> = scenario
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            ActionSpec::Namespace(n) => {
                Some((n.name.clone(), pod_security::enforce_policy(&n.labels)))
            }
            _ => None,
        })
        .collect();
    let context = |index: usize, claims| PlanContext {
        source: &scenario.source,
        versions,
        local_chart,
        node_image_version,
        policies: &policies,
        forwards_before: scenario.steps[..index]
            .iter()
            .filter_map(|s| match &s.action {
                ActionSpec::PortForward(p) => Some((p.service.clone(), p.port)),
                _ => None,
            })
            .collect(),
        claims,
    };
    let mut planned: Vec<Option<Planned>> = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        planned.push(match step.action {
            ActionSpec::Preflight(_) => None,
            _ => Some(step.action.plan(&context(index, &[]))?),
        });
    }
    let claims: Vec<_> = planned
        .iter()
        .flatten()
        .filter_map(Planned::claim)
        .collect();
    let mut all = Vec::new();
    for (index, (step, action)) in scenario.steps.iter().zip(planned).enumerate() {
        all.push(match action {
            Some(action) => action,
            None => step.action.plan(&context(index, &claims))?,
        });
    }
    Ok(all)
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

    /// What the step's verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        match self {
            Planned::Preflight(p) => p.proof(),
            Planned::KindCluster(p) => p.proof(),
            Planned::AuditLog(p) => p.proof(),
            Planned::Namespace(p) => p.proof(),
            Planned::HelmInstall(p) => p.proof(),
            Planned::ApplyRejected(p) => p.proof(),
            Planned::ApplyAdmitted(p) => p.proof(),
            Planned::PortForward(p) => p.proof(),
            Planned::Exec(p) => p.proof(),
            Planned::Delete(p) => p.proof(),
        }
    }

    /// What the step claims about Pod Security, for the preflight to predict.
    pub fn claim(&self) -> Option<context::Claim> {
        match self {
            Planned::ApplyRejected(p) => Some(p.claim()),
            Planned::ApplyAdmitted(p) => Some(p.claim()),
            Planned::HelmInstall(p) => Some(p.claim()),
            _ => None,
        }
    }

    /// The rights the step needs on a cluster the run did not create (asked before anything
    /// is touched; see `kube_api::access`).
    pub fn permissions(&self) -> Vec<Permission> {
        match self {
            Planned::Preflight(_) | Planned::KindCluster(_) | Planned::AuditLog(_) => vec![],
            Planned::Namespace(p) => p.permissions(),
            Planned::HelmInstall(p) => p.permissions(),
            Planned::ApplyRejected(p) => p.permissions(),
            Planned::ApplyAdmitted(p) => p.permissions(),
            Planned::PortForward(p) => p.permissions(),
            Planned::Exec(p) => p.permissions(),
            Planned::Delete(p) => p.permissions(),
        }
    }

    /// The images the step's pods will run, which may be pulled onto the nodes early.
    pub fn images(&self) -> Vec<String> {
        match self {
            Planned::ApplyAdmitted(p) => p.images(),
            _ => vec![],
        }
    }

    /// The Helm release the step installs, and its namespace.
    pub fn helm_release(&self) -> Option<(String, String)> {
        match self {
            Planned::HelmInstall(p) => {
                Some((p.install.release.clone(), p.install.namespace.clone()))
            }
            _ => None,
        }
    }

    /// Moves the step from namespace `from` to `to` (`--namespace`, `--unique-namespace`).
    pub fn rename_namespace(&mut self, from: &str, to: &str) {
        let rename = |ns: &mut String| {
            if ns == from {
                *ns = to.to_string();
            }
        };
        for install in self.helm_installs_mut() {
            rename(&mut install.namespace);
        }
        match self {
            Planned::Preflight(_) | Planned::KindCluster(_) | Planned::HelmInstall(_) => {}
            Planned::AuditLog(p) => rename(&mut p.namespace),
            Planned::Namespace(p) => rename(&mut p.name),
            Planned::ApplyRejected(p) => rename(&mut p.namespace),
            Planned::ApplyAdmitted(p) => rename(&mut p.namespace),
            Planned::PortForward(p) => rename(&mut p.namespace),
            Planned::Exec(p) => rename(&mut p.namespace),
            Planned::Delete(p) => rename(&mut p.namespace),
        }
    }

    /// The Helm installs the step runs or renders (the preflight renders the chart as the
    /// install step will install it).
    pub fn helm_installs_mut(&mut self) -> Vec<&mut crate::helm::Install> {
        match self {
            Planned::HelmInstall(p) => vec![&mut p.install],
            Planned::Preflight(p) => p
                .claims
                .iter_mut()
                .filter_map(|c| match c {
                    context::Claim::ChartAllowed { install, .. } => Some(install),
                    _ => None,
                })
                .collect(),
            _ => vec![],
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
