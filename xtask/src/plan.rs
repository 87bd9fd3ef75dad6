//! The plan: the scenario resolved into steps the runner executes, with absolute paths, pinned
//! versions (after overrides) and the expectations each step derives from the others (e.g. the
//! enforce policy a namespace step's labels imply). Each step kind plans itself (`steps`); this
//! module applies the command line and names the steps.

use std::path::PathBuf;

use crate::{
    audit::AuditLog,
    kind::Cluster,
    scenario::{DocStep, ScenarioError, SourceLocation, Versions},
    steps::{self, Planned, Scenario, session::Environment},
    tools::{self, Fetch, Tool},
};

/// Command-line choices that change what is pinned.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub cluster_name: Option<String>,
    pub node_image: Option<String>,
    pub kuberay_version: Option<String>,
    pub kuberay_chart: Option<PathBuf>,
    pub ray_image: Option<String>,
    /// `--tools-mirror`: where to fetch kind and helm from, instead of their upstream hosts.
    pub tools_mirror: Option<String>,
}

/// Command-line choices about the cluster's life.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClusterOptions {
    pub reuse_cluster: bool,
    pub keep_cluster: bool,
}

pub struct Plan {
    pub scenario_file: PathBuf,
    pub root: PathBuf,
    pub name: String,
    pub tutorial: Option<String>,
    pub versions: Versions,
    pub env: Environment,
    pub steps: Vec<PlannedStep>,
    /// The pinned kind and helm for this platform (none when nothing is pinned for it).
    pub tools: Vec<Fetch>,
}

#[derive(Debug)]
pub struct PlannedStep {
    pub id: String,
    pub doc: DocStep,
    pub title: String,
    pub timeout: std::time::Duration,
    pub at: SourceLocation,
    pub action: Planned,
}

#[cfg(test)]
impl Plan {
    pub fn step(&self, id: &str) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// Resolves a scenario and the command line's choices into a plan.
pub fn build(
    scenario: &Scenario,
    overrides: &Overrides,
    options: ClusterOptions,
) -> Result<Plan, ScenarioError> {
    let versions = pinned(&scenario.versions, overrides);
    let cluster = Cluster {
        name: overrides
            .cluster_name
            .clone()
            .unwrap_or_else(|| scenario.cluster_name.clone()),
        node_image: versions.node_image.clone(),
    };
    let actions = steps::plan_all(
        scenario,
        &versions,
        overrides.kuberay_chart.as_deref(),
        cluster.node_image_version(),
    )?;
    let steps: Vec<PlannedStep> = scenario
        .steps
        .iter()
        .zip(actions)
        .map(|(step, action)| PlannedStep {
            id: step.id.clone(),
            doc: step.doc.clone(),
            title: step.title.clone(),
            timeout: step.timeout,
            at: step.at.clone(),
            action,
        })
        .collect();
    let env = Environment {
        audit: AuditLog {
            node: cluster.control_plane_node(),
            path: scenario.audit_log.path.clone(),
        },
        cluster,
        reuse_cluster: options.reuse_cluster,
        keep_cluster: options.keep_cluster,
        scenario_namespaces: steps
            .iter()
            .filter_map(|s| s.action.created_namespace().map(str::to_string))
            .collect(),
        tool_dirs: vec![],
        helm_releases: steps
            .iter()
            .filter_map(|s| s.action.helm_release())
            .collect(),
        prepull_images: first_seen(steps.iter().flat_map(|s| s.action.images())),
    };
    let tools = tool_fetches(
        &versions,
        &scenario.source.root,
        overrides.tools_mirror.as_deref(),
    )
    .map_err(|e| ScenarioError {
        location: scenario.source.location(1, 1),
        message: format!("{e:#}"),
    })?;
    Ok(Plan {
        tools,
        scenario_file: scenario.source.path.clone(),
        root: scenario.source.root.clone(),
        name: scenario.name.clone(),
        tutorial: scenario.tutorial.clone(),
        versions,
        env,
        steps,
    })
}

/// The items in the order they are first seen, each once.
fn first_seen(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The pinned tools for this platform, fetched into the project's `target/tools`.
fn tool_fetches(
    versions: &Versions,
    root: &std::path::Path,
    mirror: Option<&str>,
) -> anyhow::Result<Vec<Fetch>> {
    let Ok(platform) = tools::platform() else {
        return Ok(vec![]);
    };
    [(Tool::Kind, &versions.kind), (Tool::Helm, &versions.helm)]
        .into_iter()
        .filter_map(|(tool, pin)| pin.as_ref().map(|pin| (tool, pin)))
        .map(|(tool, pin)| Fetch::new(tool, pin, &platform, mirror, &tools::tools_dir(root)))
        .collect()
}

/// The scenario's versions with the command line's overrides applied.
fn pinned(versions: &Versions, o: &Overrides) -> Versions {
    Versions {
        // A kind release belongs to the node image it is pinned beside.
        kind: match &o.node_image {
            Some(image) if *image != versions.node_image => None,
            _ => versions.kind.clone(),
        },
        helm: versions.helm.clone(),
        node_image: o
            .node_image
            .clone()
            .unwrap_or_else(|| versions.node_image.clone()),
        kuberay_chart: o
            .kuberay_version
            .clone()
            .unwrap_or_else(|| versions.kuberay_chart.clone()),
        ray_image: o
            .ray_image
            .clone()
            .unwrap_or_else(|| versions.ray_image.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{helm, scenario, steps::context::Claim};
    use std::{path::Path, time::Duration};

    fn project_scenario_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml")
    }

    fn project_plan(o: &Overrides) -> Plan {
        let scenario = scenario::load(&project_scenario_path()).unwrap();
        build(&scenario, o, ClusterOptions::default()).unwrap()
    }

    fn action<'p>(plan: &'p Plan, id: &str) -> &'p Planned {
        &plan.step(id).unwrap().action
    }

    #[test]
    fn overrides_replace_the_pinned_versions() {
        let plan = project_plan(&Overrides {
            node_image: Some("kindest/node:v1.35.0".into()),
            ray_image: Some("rayproject/ray-ml:2.9.0-cpu".into()),
            kuberay_version: Some("1.7.0".into()),
            ..Default::default()
        });
        assert_eq!(plan.env.cluster.node_image, "kindest/node:v1.35.0");
        let Planned::HelmInstall(h) = action(&plan, "operator") else {
            panic!()
        };
        assert!(
            matches!(&h.install.chart, helm::Chart::Repo { version, .. } if version == "1.7.0")
        );
        let Planned::ApplyAdmitted(a) = action(&plan, "pod-security-running") else {
            panic!()
        };
        assert_eq!(a.ray_image.as_deref(), Some("rayproject/ray-ml:2.9.0-cpu"));
        let Planned::Preflight(p) = action(&plan, "preflight") else {
            panic!()
        };
        assert_eq!(p.node_image_version.map(|v| v.minor), Some(35));
    }

    #[test]
    fn apply_steps_expect_the_policy_of_their_namespace_labels() {
        let plan = project_plan(&Overrides::default());
        let Planned::ApplyRejected(r) = action(&plan, "complete-rejected") else {
            panic!()
        };
        assert_eq!(r.policy.to_string(), "restricted:latest");
        assert_eq!(r.settle, Duration::from_secs(10));
        let Planned::Preflight(p) = action(&plan, "preflight") else {
            panic!()
        };
        let kinds: Vec<&str> = p
            .claims
            .iter()
            .map(|c| match c {
                Claim::HeadForbidden { .. } => "head forbidden",
                Claim::Allowed { .. } => "allowed",
                Claim::ChartAllowed { .. } => "chart allowed",
            })
            .collect();
        assert_eq!(kinds, ["chart allowed", "head forbidden", "allowed"]);
        assert_eq!(p.node_image_version.map(|v| v.minor), Some(26));
        assert_eq!(plan.env.audit.node, "kuberay-pod-security-control-plane");
        assert_eq!(plan.env.scenario_namespaces, ["pod-security"]);
    }

    #[test]
    fn a_local_chart_replaces_the_repo() {
        let plan = project_plan(&Overrides {
            kuberay_chart: Some("/src/kuberay/helm-chart/kuberay-operator".into()),
            ..Default::default()
        });
        let Planned::HelmInstall(h) = action(&plan, "operator") else {
            panic!()
        };
        assert_eq!(
            h.install.chart,
            helm::Chart::Local("/src/kuberay/helm-chart/kuberay-operator".into())
        );
    }

    #[test]
    fn the_dashboard_needs_an_earlier_port_forward() {
        let path = project_scenario_path();
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "dashboard: raycluster-pod-security-head-svc",
            "dashboard: other-svc",
        );
        let scenario = scenario::parse(&path, &text).unwrap();
        let err = build(&scenario, &Overrides::default(), ClusterOptions::default())
            .err()
            .unwrap();
        assert!(
            err.message
                .contains("no port_forward step of service \"other-svc\""),
            "{err}"
        );
    }

    #[test]
    fn an_exec_reaches_the_dashboard_through_its_port_forward() {
        let plan = project_plan(&Overrides::default());
        let Planned::Exec(e) = action(&plan, "xgboost") else {
            panic!()
        };
        let d = e.dashboard.as_ref().unwrap();
        assert_eq!(
            (d.service.as_str(), d.port),
            ("raycluster-pod-security-head-svc", 8265)
        );
    }
}
