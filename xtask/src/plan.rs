//! The plan: the scenario resolved into steps the runner executes, with absolute paths, pinned
//! versions (after overrides) and the expectations each step derives from the others (e.g. the
//! enforce policy a namespace step's labels imply).

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use pss::LevelVersion;

use crate::{
    audit::AuditLog,
    helm,
    kind::Cluster,
    pod_security,
    scenario::{self, LoadedScenario, ScenarioError, SourceLocation, Versions},
    verdict::ExecExpectation,
};

/// Command-line choices that change the plan.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub cluster_name: Option<String>,
    pub node_image: Option<String>,
    pub kuberay_version: Option<String>,
    pub kuberay_chart: Option<PathBuf>,
    pub ray_image: Option<String>,
    pub reuse_cluster: bool,
    pub keep_cluster: bool,
}

pub struct Plan {
    pub scenario_file: PathBuf,
    pub root: PathBuf,
    pub name: String,
    pub tutorial: Option<String>,
    pub cluster: Cluster,
    pub versions: Versions,
    pub audit: AuditLog,
    pub reuse_cluster: bool,
    pub keep_cluster: bool,
    /// The namespaces the scenario creates: a reused cluster must not have them yet.
    pub namespaces: Vec<String>,
    pub steps: Vec<PlannedStep>,
}

pub struct PlannedStep {
    pub id: String,
    pub doc: String,
    pub title: String,
    pub timeout: Duration,
    pub at: SourceLocation,
    pub action: Action,
}

pub enum Action {
    Preflight(Preflight),
    KindCluster {
        config: PathBuf,
    },
    AuditQuiet {
        namespace: String,
    },
    Namespace {
        name: String,
        labels: BTreeMap<String, String>,
    },
    HelmInstall {
        install: helm::Install,
        deployment: String,
        crd: Option<String>,
    },
    ApplyRejected {
        manifest: PathBuf,
        namespace: String,
        raycluster: String,
        settle: Duration,
        policy: LevelVersion,
    },
    ApplyAdmitted(ApplyAdmitted),
    PortForward {
        namespace: String,
        service: String,
        port: u16,
        probe: String,
    },
    Exec(Exec),
    Delete {
        manifest: PathBuf,
        namespace: String,
    },
}

pub struct ApplyAdmitted {
    pub manifest: PathBuf,
    pub namespace: String,
    pub raycluster: String,
    pub ray_image: Option<String>,
    pub heads: usize,
    pub workers: usize,
    pub policy: LevelVersion,
}

pub struct Exec {
    pub namespace: String,
    pub selector: String,
    pub container: String,
    pub command: Vec<String>,
    pub expect: ExecExpectation,
    /// The port-forwarded service whose dashboard lists the job.
    pub dashboard: Option<String>,
}

/// What the preflight predicts, before any cluster exists.
pub struct Preflight {
    /// Manifests whose RayCluster head must be predicted forbidden, with the namespace's policy.
    pub rejected: Vec<(PathBuf, LevelVersion)>,
    /// Manifests whose every pod template must be predicted allowed (with the image override).
    pub admitted: Vec<(PathBuf, Option<String>, LevelVersion)>,
    /// The operator chart, rendered with `helm template`, whose pods must be predicted allowed.
    pub chart: Option<(helm::Install, LevelVersion)>,
    /// The Kubernetes minor of the pinned node image: whose rules `latest` means.
    pub server_minor: Option<u32>,
}

#[cfg(test)]
impl Plan {
    pub fn step(&self, id: &str) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// Resolves a validated scenario and the command line's overrides into a plan.
pub fn build(loaded: &LoadedScenario, o: &Overrides) -> Result<Plan, ScenarioError> {
    let s = &loaded.scenario;
    let mut versions = s.versions.clone();
    if let Some(v) = &o.node_image {
        versions.node_image = v.clone();
    }
    if let Some(v) = &o.kuberay_version {
        versions.kuberay_chart = v.clone();
    }
    if let Some(v) = &o.ray_image {
        versions.ray_image = v.clone();
    }
    let cluster = Cluster {
        name: o
            .cluster_name
            .clone()
            .unwrap_or_else(|| s.cluster.name.value.clone()),
        node_image: versions.node_image.clone(),
    };
    let audit = AuditLog {
        node: cluster.control_plane_node(),
        path: s.audit_log.path.clone(),
    };

    // The labels each namespace step gives, so that later steps know the policy to expect.
    let labels_of: BTreeMap<&str, &BTreeMap<String, String>> = s
        .steps
        .iter()
        .filter_map(|st| {
            st.value
                .namespace
                .as_ref()
                .map(|n| (n.name.as_str(), &n.labels))
        })
        .collect();
    let empty = BTreeMap::new();
    let policy_in =
        |ns: &str| pod_security::enforce_policy(labels_of.get(ns).copied().unwrap_or(&empty));

    let mut steps = Vec::new();
    for st in &s.steps {
        let spec = &st.value;
        let action = if spec.preflight.is_some() {
            Action::Preflight(Preflight {
                rejected: vec![],
                admitted: vec![],
                chart: None,
                server_minor: None,
            })
        } else if let Some(k) = &spec.kind_cluster {
            Action::KindCluster {
                config: loaded.resolve(&k.config)?,
            }
        } else if let Some(a) = &spec.audit_log {
            Action::AuditQuiet {
                namespace: a.no_events_in_namespace.clone(),
            }
        } else if let Some(n) = &spec.namespace {
            Action::Namespace {
                name: n.name.clone(),
                labels: n.labels.clone(),
            }
        } else if let Some(h) = &spec.helm_install {
            let chart = match (&o.kuberay_chart, &h.repo) {
                (Some(dir), _) => {
                    helm::Chart::Local(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
                }
                (None, Some(repo)) => helm::Chart::Repo {
                    repo: repo.clone(),
                    name: h.chart.clone(),
                    version: versions.kuberay_chart.clone(),
                },
                (None, None) => helm::Chart::Local(loaded.root.join(&h.chart)),
            };
            Action::HelmInstall {
                install: helm::Install {
                    release: h.release.clone(),
                    chart,
                    namespace: h.namespace.clone(),
                    values: loaded.resolve(&h.values)?,
                },
                deployment: h.deployment.clone(),
                crd: h.crd.clone(),
            }
        } else if let Some(a) = &spec.apply_rejected {
            Action::ApplyRejected {
                manifest: loaded.resolve(&a.manifest)?,
                namespace: a.namespace.clone(),
                raycluster: a.raycluster.clone(),
                settle: scenario::parse_duration(loaded, &a.settle)?,
                policy: policy_in(&a.namespace),
            }
        } else if let Some(a) = &spec.apply_admitted {
            Action::ApplyAdmitted(ApplyAdmitted {
                manifest: loaded.resolve(&a.manifest)?,
                namespace: a.namespace.clone(),
                raycluster: a.raycluster.clone(),
                ray_image: a.ray_image.then(|| versions.ray_image.clone()),
                heads: a.head_pods as usize,
                workers: a.worker_pods as usize,
                policy: policy_in(&a.namespace),
            })
        } else if let Some(p) = &spec.port_forward {
            Action::PortForward {
                namespace: p.namespace.clone(),
                service: p.service.clone(),
                port: p.port,
                probe: p.probe.clone(),
            }
        } else if let Some(e) = &spec.exec {
            if let Some(d) = &e.dashboard {
                let forwarded = s
                    .steps
                    .iter()
                    .take_while(|x| !std::ptr::eq(*x, st))
                    .any(|x| {
                        x.value
                            .port_forward
                            .as_ref()
                            .is_some_and(|p| p.service == d.value)
                    });
                if !forwarded {
                    return Err(loaded.error(
                        d,
                        format!(
                            "no port_forward step of service {:?} comes before this step",
                            d.value
                        ),
                    ));
                }
            }
            Action::Exec(Exec {
                namespace: e.namespace.clone(),
                selector: e.pod.clone(),
                container: e.container.clone(),
                command: e.command.clone(),
                expect: ExecExpectation {
                    command_line: e.command.join(" "),
                    exit_code: e.exit_code,
                    stdout: e
                        .stdout
                        .as_ref()
                        .map(|r| regex::Regex::new(&r.value).expect("validated when loaded")),
                    dashboard_status: e.dashboard_job.as_ref().map(|s| s.value.clone()),
                },
                dashboard: e.dashboard.as_ref().map(|d| d.value.clone()),
            })
        } else if let Some(d) = &spec.delete {
            Action::Delete {
                manifest: loaded.resolve(&d.manifest)?,
                namespace: d.namespace.clone(),
            }
        } else {
            unreachable!("validated: every step has one action")
        };
        steps.push(PlannedStep {
            id: spec.id.value.clone(),
            doc: spec.doc.value.clone(),
            title: spec.title.clone(),
            timeout: scenario::parse_duration(loaded, &spec.timeout)?,
            at: loaded.at(st),
            action,
        });
    }

    // The preflight predicts what the apply and install steps will meet.
    let server_minor = crate::kind::node_image_minor(&versions.node_image);
    let mut rejected = Vec::new();
    let mut admitted = Vec::new();
    let mut chart = None;
    for step in &steps {
        match &step.action {
            Action::ApplyRejected {
                manifest, policy, ..
            } => rejected.push((manifest.clone(), *policy)),
            Action::ApplyAdmitted(a) => {
                admitted.push((a.manifest.clone(), a.ray_image.clone(), a.policy))
            }
            Action::HelmInstall { install, .. } => {
                chart = Some((install.clone(), policy_in(&install.namespace)))
            }
            _ => {}
        }
    }
    for step in &mut steps {
        if let Action::Preflight(p) = &mut step.action {
            *p = Preflight {
                rejected: rejected.clone(),
                admitted: admitted.clone(),
                chart: chart.clone(),
                server_minor,
            };
        }
    }

    Ok(Plan {
        scenario_file: loaded.path.clone(),
        root: loaded.root.clone(),
        name: s.name.clone(),
        tutorial: s.tutorial.clone(),
        cluster,
        versions,
        audit,
        reuse_cluster: o.reuse_cluster,
        keep_cluster: o.keep_cluster,
        namespaces: steps
            .iter()
            .filter_map(|st| match &st.action {
                Action::Namespace { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect(),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn project_plan(o: &Overrides) -> Plan {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml");
        build(&scenario::load(&path).unwrap(), o).unwrap()
    }

    #[test]
    fn overrides_replace_the_pinned_versions() {
        let plan = project_plan(&Overrides {
            node_image: Some("kindest/node:v1.35.0".into()),
            ray_image: Some("rayproject/ray-ml:2.9.0-cpu".into()),
            kuberay_version: Some("1.7.0".into()),
            ..Default::default()
        });
        assert_eq!(plan.cluster.node_image, "kindest/node:v1.35.0");
        let Action::HelmInstall { install, .. } = &plan.step("operator").unwrap().action else {
            panic!()
        };
        assert!(matches!(&install.chart, helm::Chart::Repo { version, .. } if version == "1.7.0"));
        let Action::ApplyAdmitted(a) = &plan.step("pod-security-running").unwrap().action else {
            panic!()
        };
        assert_eq!(a.ray_image.as_deref(), Some("rayproject/ray-ml:2.9.0-cpu"));
        let Action::Preflight(p) = &plan.step("preflight").unwrap().action else {
            panic!()
        };
        assert_eq!(p.server_minor, Some(35));
    }

    #[test]
    fn apply_steps_expect_the_policy_of_their_namespace_labels() {
        let plan = project_plan(&Overrides::default());
        let Action::ApplyRejected { policy, settle, .. } =
            &plan.step("complete-rejected").unwrap().action
        else {
            panic!()
        };
        assert_eq!(policy.to_string(), "restricted:latest");
        assert_eq!(*settle, Duration::from_secs(10));
        let Action::Preflight(p) = &plan.step("preflight").unwrap().action else {
            panic!()
        };
        assert_eq!(
            (p.rejected.len(), p.admitted.len(), p.server_minor),
            (1, 1, Some(26))
        );
        assert!(p.chart.is_some());
        assert_eq!(plan.audit.node, "kuberay-pod-security-control-plane");
    }

    #[test]
    fn a_local_chart_replaces_the_repo() {
        let plan = project_plan(&Overrides {
            kuberay_chart: Some("/src/kuberay/helm-chart/kuberay-operator".into()),
            ..Default::default()
        });
        let Action::HelmInstall { install, .. } = &plan.step("operator").unwrap().action else {
            panic!()
        };
        assert_eq!(
            install.chart,
            helm::Chart::Local("/src/kuberay/helm-chart/kuberay-operator".into())
        );
    }

    #[test]
    fn the_dashboard_needs_an_earlier_port_forward() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "dashboard: raycluster-pod-security-head-svc",
            "dashboard: other-svc",
        );
        let loaded = scenario::parse(&path, &text).unwrap();
        let err = build(&loaded, &Overrides::default()).err().unwrap();
        assert!(
            err.message
                .contains("no port_forward step of service \"other-svc\""),
            "{err}"
        );
    }
}
