//! The plan: the scenario resolved into steps the runner executes, with absolute paths, pinned
//! versions (after overrides) and the expectations each step derives from the others (e.g. the
//! enforce policy a namespace step's labels imply). Each step kind plans itself (`steps`); this
//! module applies the command line and names the steps.

use std::path::PathBuf;

use crate::{
    audit::AuditLog,
    kind::Cluster,
    scenario::{DocStep, ScenarioError, SourceLocation, Versions},
    steps::{
        self, Planned, Scenario,
        session::{Environment, Target},
    },
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
    /// `--namespace` / `--unique-namespace`: where the tutorial's namespace goes instead.
    pub namespace: Option<NamespaceChoice>,
}

/// The KubeRay chart's setting for an operator that watches only its release's namespace.
pub const SINGLE_NAMESPACE_INSTALL: &str = "singleNamespaceInstall=true";

/// The namespace a run uses instead of the scenario's.
#[derive(Debug, Clone, PartialEq)]
pub enum NamespaceChoice {
    Named(String),
    /// The scenario's name with a random suffix, fresh for each run.
    Unique,
}

/// Command-line choices about the cluster's life.
#[derive(Debug, Default, Clone)]
pub struct ClusterOptions {
    pub reuse_cluster: bool,
    pub keep_cluster: bool,
    /// `--kubeconfig`: a cluster the run neither creates nor deletes.
    pub existing: Option<ExistingCluster>,
}

/// A cluster someone else made, reached through a kubeconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingCluster {
    pub kubeconfig: PathBuf,
    /// `--context`; None: the kubeconfig's current-context.
    pub context: Option<String>,
    /// `--reuse-operator`: the KubeRay operator already acting on the namespace is used.
    pub reuse_operator: bool,
}

impl ExistingCluster {
    /// The context the run uses: `--context`, else the kubeconfig's current-context.
    pub fn resolve_context(&self) -> Result<String, String> {
        if let Some(c) = &self.context {
            return Ok(c.clone());
        }
        let path = self.kubeconfig.display();
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| format!("--kubeconfig {path}: {e}"))?;
        kc.current_context.filter(|c| !c.is_empty()).ok_or_else(|| {
            format!("--kubeconfig {path} has no current-context; pass --context NAME")
        })
    }
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
    let at_top = |message: String| ScenarioError {
        location: scenario.source.location(1, 1),
        message,
    };
    let target = match &options.existing {
        None => Target::Kind,
        Some(e) => Target::Existing {
            kubeconfig: e.kubeconfig.clone(),
            context: e.resolve_context().map_err(at_top)?,
        },
    };
    // An existing cluster's version is known only once the run reaches it: the preflight then
    // predicts with the newest rules, and step 5.1 with the server's own.
    let preflight_version = match target {
        Target::Kind => cluster.node_image_version(),
        Target::Existing { .. } => None,
    };
    let mut actions = steps::plan_all(
        scenario,
        &versions,
        overrides.kuberay_chart.as_deref(),
        preflight_version,
    )?;
    if let Some(choice) = &overrides.namespace {
        let Some(ours) = actions
            .iter()
            .find_map(|a| a.created_namespace().map(str::to_string))
        else {
            return Err(at_top(
                "--namespace/--unique-namespace: the scenario creates no namespace".into(),
            ));
        };
        let theirs = namespace_for(&ours, choice).map_err(at_top)?;
        for a in &mut actions {
            a.rename_namespace(&ours, &theirs);
        }
    }
    if target != Target::Kind {
        // A shared cluster: the operator watches its own namespace only, with namespaced RBAC
        // (the chart's `singleNamespaceInstall`), so that it never acts on others' RayClusters.
        for install in actions.iter_mut().flat_map(Planned::helm_installs_mut) {
            install.set.push(SINGLE_NAMESPACE_INSTALL.to_string());
        }
        let reuse = options.existing.as_ref().is_some_and(|e| e.reuse_operator);
        for a in &mut actions {
            if let Planned::HelmInstall(h) = a {
                h.reuse_operator = reuse;
            }
        }
    }
    // On a kind cluster reached through its kubeconfig, kind's context names the cluster, and so
    // the node whose audit log may still be read.
    let audit_node = match &target {
        Target::Existing { context, .. } => match context.strip_prefix("kind-") {
            Some(name) => Cluster {
                name: name.to_string(),
                node_image: String::new(),
            }
            .control_plane_node(),
            None => String::new(),
        },
        Target::Kind => cluster.control_plane_node(),
    };
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
            node: audit_node,
            path: scenario.audit_log.path.clone(),
        },
        cluster,
        target: target.clone(),
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
        permissions: match target {
            Target::Kind => vec![],
            Target::Existing { .. } => {
                let mut all: Vec<_> = steps.iter().flat_map(|s| s.action.permissions()).collect();
                all.sort();
                all.dedup();
                all
            }
        },
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

/// Where the tutorial's namespace `ours` goes: a name of the user's (a DNS label), or ours with
/// a random suffix, as the API server's `generateName` makes them.
fn namespace_for(ours: &str, choice: &NamespaceChoice) -> Result<String, String> {
    let name = match choice {
        NamespaceChoice::Named(n) => n.clone(),
        NamespaceChoice::Unique => {
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let mut bytes = [0u8; 5];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| "no randomness for --unique-namespace".to_string())?;
            let suffix: String = bytes
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect();
            format!("{ours}-{suffix}")
        }
    };
    let label_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !label_ok {
        return Err(format!(
            "--namespace {name:?}: a namespace name is a DNS label (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)"
        ));
    }
    Ok(name)
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

    fn namespaces_of(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .filter_map(|s| match &s.action {
                Planned::AuditLog(p) => Some(p.namespace.clone()),
                Planned::Namespace(p) => Some(p.name.clone()),
                Planned::HelmInstall(p) => Some(p.install.namespace.clone()),
                Planned::ApplyRejected(p) => Some(p.namespace.clone()),
                Planned::ApplyAdmitted(p) => Some(p.namespace.clone()),
                Planned::PortForward(p) => Some(p.namespace.clone()),
                Planned::Exec(p) => Some(p.namespace.clone()),
                Planned::Delete(p) => Some(p.namespace.clone()),
                Planned::Preflight(_) | Planned::KindCluster(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_namespace_of_the_users_moves_every_step() {
        let plan = project_plan(&Overrides {
            namespace: Some(NamespaceChoice::Named("team-a".into())),
            ..Default::default()
        });
        let all = namespaces_of(&plan);
        assert_eq!(all.len(), 10);
        assert!(all.iter().all(|ns| ns == "team-a"), "{all:?}");
        assert_eq!(plan.env.scenario_namespaces, ["team-a"]);
        assert_eq!(plan.env.helm_releases[0].1, "team-a");
        let Planned::Preflight(p) = action(&plan, "preflight") else {
            panic!()
        };
        let rendered_in: Vec<&str> = p
            .claims
            .iter()
            .filter_map(|c| match c {
                Claim::ChartAllowed { install, .. } => Some(install.namespace.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(rendered_in, ["team-a"]);
        // Its policy is still the one the namespace step's labels give.
        let Planned::ApplyRejected(r) = action(&plan, "complete-rejected") else {
            panic!()
        };
        assert_eq!(r.policy.to_string(), "restricted:latest");

        let scenario = scenario::load(&project_scenario_path()).unwrap();
        let bad = Overrides {
            namespace: Some(NamespaceChoice::Named("Team_A".into())),
            ..Default::default()
        };
        let err = build(&scenario, &bad, ClusterOptions::default())
            .err()
            .unwrap();
        assert!(
            err.message.contains("a namespace name is a DNS label"),
            "{err}"
        );
    }

    #[test]
    fn unique_namespaces_differ_between_runs() {
        let unique = Overrides {
            namespace: Some(NamespaceChoice::Unique),
            ..Default::default()
        };
        let a = project_plan(&unique).env.scenario_namespaces[0].clone();
        let b = project_plan(&unique).env.scenario_namespaces[0].clone();
        assert_ne!(a, b);
        for ns in [&a, &b] {
            let suffix = ns.strip_prefix("pod-security-").unwrap();
            assert_eq!(suffix.len(), 5, "{ns}");
            assert!(
                suffix
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
        }
    }

    #[test]
    fn an_existing_cluster_gets_an_operator_of_its_namespace_and_asks_for_each_right() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("config");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-shared\ncontexts:\n- name: kind-shared\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\n",
        )
        .unwrap();
        let scenario = scenario::load(&project_scenario_path()).unwrap();
        let options = ClusterOptions {
            existing: Some(ExistingCluster {
                kubeconfig: kubeconfig.clone(),
                context: None,
                reuse_operator: false,
            }),
            ..Default::default()
        };
        let plan = build(&scenario, &Overrides::default(), options).unwrap();
        assert_eq!(plan.env.context(), "kind-shared");
        // kind's context names the cluster, and so the node whose audit log may be read.
        assert_eq!(plan.env.audit.node, "shared-control-plane");
        let Planned::HelmInstall(h) = action(&plan, "operator") else {
            panic!()
        };
        assert_eq!(h.install.set, [SINGLE_NAMESPACE_INSTALL]);
        // Its version is unknown until the run reaches it: not the scenario's node image's.
        let Planned::Preflight(p) = action(&plan, "preflight") else {
            panic!()
        };
        assert_eq!(p.node_image_version, None);
        let rights: Vec<String> = plan.env.permissions.iter().map(|p| p.to_string()).collect();
        for want in [
            "create namespaces (cluster-wide)",
            "create pods --subresource=exec -n pod-security",
            "create pods --subresource=portforward -n pod-security",
            "patch rayclusters.ray.io -n pod-security",
            "delete configmaps -n pod-security",
            "create customresourcedefinitions.apiextensions.k8s.io (cluster-wide)",
            "create roles.rbac.authorization.k8s.io -n pod-security",
        ] {
            assert!(rights.iter().any(|r| r == want), "{want} not in {rights:?}");
        }
        let mut sorted = rights.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), rights.len(), "each right is asked once");

        let elsewhere = ClusterOptions {
            existing: Some(ExistingCluster {
                kubeconfig,
                context: Some("gke_prod".into()),
                reuse_operator: false,
            }),
            ..Default::default()
        };
        let plan = build(&scenario, &Overrides::default(), elsewhere).unwrap();
        assert_eq!(plan.env.context(), "gke_prod");
        assert_eq!(
            plan.env.audit.node, "",
            "no node of a cluster kind did not make"
        );
        // A kind cluster the run creates needs none of this.
        let kind = project_plan(&Overrides::default());
        assert!(kind.env.permissions.is_empty());
        let Planned::HelmInstall(h) = action(&kind, "operator") else {
            panic!()
        };
        assert!(h.install.set.is_empty());
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
