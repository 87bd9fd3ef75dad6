//! `helm_install`: install the KubeRay operator chart into the restricted namespace with no
//! PodSecurity warning; its CRD becomes Established and its Deployment Available.

use anyhow::{Result, anyhow, bail};
use kube::ResourceExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    NotApplicable,
    context::{Claim, PlanContext, ShellContext, selector},
    session::{Created, Session, Target},
};
use crate::{
    cmd::quote,
    diagnosis, helm,
    kube_api::{access::Permission, objects, wait},
    kuberay,
    progress::Status,
    scenario::ScenarioError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub release: String,
    pub chart: String,
    #[serde(default)]
    pub repo: Option<String>,
    pub namespace: String,
    pub values: Spanned<String>,
    /// The Deployment the chart creates, which must become Available.
    pub deployment: String,
    /// A CRD the chart installs, which must become Established.
    #[serde(default)]
    pub crd: Option<String>,
}

#[derive(Debug)]
pub struct Planned {
    pub install: helm::Install,
    pub deployment: String,
    pub crd: Option<String>,
    /// The namespace's enforce policy, which the chart's pods must pass.
    pub policy: pss::LevelVersion,
    /// `--reuse-operator`: on an existing cluster, use the KubeRay operator that already acts on
    /// the namespace instead of installing one.
    pub reuse_operator: bool,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        let chart = match (ctx.local_chart, &self.repo) {
            (Some(dir), _) => {
                helm::Chart::Local(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()))
            }
            (None, Some(repo)) => helm::Chart::Repo {
                repo: repo.clone(),
                name: self.chart.clone(),
                version: ctx.versions.kuberay_chart.clone(),
            },
            (None, None) => helm::Chart::Local(ctx.source.root.join(&self.chart)),
        };
        Ok(Planned {
            install: helm::Install {
                release: self.release.clone(),
                chart,
                namespace: self.namespace.clone(),
                values: ctx.source.resolve(&self.values)?,
                set: vec![],
                skip_crds: false,
            },
            deployment: self.deployment.clone(),
            crd: self.crd.clone(),
            policy: ctx.policy_in(&self.namespace),
            reuse_operator: false,
        })
    }
}

impl Planned {
    pub fn claim(&self) -> Claim {
        Claim::ChartAllowed {
            install: self.install.clone(),
            policy: self.policy,
        }
    }

    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let (install, deployment) = (&self.install, &self.deployment);
        let context = session.env.context();
        let target = helm::Target {
            kubeconfig: Some(&session.kubeconfig),
            context: &context,
        };
        let mut evidence = Vec::new();
        let mut install = install.clone();
        if session.env.existing()
            && let Some(crd) = &self.crd
            && let Some(found) = self.crd_already_there(&client, crd, status).await?
        {
            evidence.push(found);
            evidence.extend(self.operators_already_there(&client, status).await?);
            install.skip_crds = true;
        } else if self.reuse_operator {
            bail!(
                "--reuse-operator: no KubeRay operator is installed on this cluster (no CRD {})",
                self.crd.as_deref().unwrap_or("of the chart")
            );
        }
        status.awaiting(format!("helm install {}", install.release));
        let out = install.install(&session.sh, &target).checked().await?;
        if session.env.existing() {
            session.created(Created::HelmRelease(
                install.release.clone(),
                install.namespace.clone(),
            ));
        }
        let warnings = helm::pod_security_warnings(&out.stderr);
        if !warnings.is_empty() {
            bail!(
                "the install produced {} PodSecurity warning(s): {}",
                warnings.len(),
                warnings.join(" | ")
            );
        }
        let status_line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("STATUS:"))
            .unwrap_or("STATUS: (not printed)")
            .trim()
            .to_string();
        evidence.push(format!(
            "helm install {}{}: {status_line}; no PodSecurity warning",
            install.release,
            install
                .set
                .iter()
                .map(|kv| format!(" --set {kv}"))
                .collect::<String>()
        ));
        if let Some(crd) = &self.crd {
            if install.skip_crds {
                // Installed before the run: read once (a user may see CRDs but not watch them).
                wait::crd_is_established(&client, crd).await?;
            } else {
                wait::crd_established(&client, crd, status).await?;
            }
            evidence.push(format!("CRD {crd} Established"));
        }
        // Its pods first, so that one that will never run (a crash loop, a missing image) ends
        // the step at once; then the Deployment's own word.
        let d = wait::deployment_exists(&client, &install.namespace, deployment, status).await?;
        let pod_selector = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(selector)
            .ok_or_else(|| anyhow!("deployment {deployment} has no matchLabels selector"))?;
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
        let pods = wait::pods_ready(
            &client,
            &install.namespace,
            &pod_selector,
            replicas,
            status,
            diagnosis::permanent_container_state,
        )
        .await?;
        wait::deployment_available(&client, &install.namespace, deployment, status).await?;
        evidence.push(format!(
            "Deployment {deployment} Available; pod {} Running and Ready in namespace {}",
            pods.iter()
                .map(|p| p.name_any())
                .collect::<Vec<_>>()
                .join(", "),
            install.namespace
        ));
        Ok(evidence)
    }

    /// On a cluster the run did not create, the operator's CRD may be there already (another
    /// run's, or another chart version's). Helm leaves an existing CRD as it is; the run goes on
    /// only if it serves the version the chart's operator and the manifests use.
    async fn crd_already_there(
        &self,
        client: &kube::Client,
        crd: &str,
        status: &Status,
    ) -> Result<Option<String>> {
        status.awaiting(format!("whether CRD {crd} is already installed"));
        let Some(found) = objects::crd(client, crd).await? else {
            return Ok(None);
        };
        let served: Vec<String> = found
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.clone())
            .collect();
        if !served.iter().any(|v| v == kuberay::API_VERSION) {
            bail!(
                "CRD {crd} is already installed on this cluster (by another chart version?) and does not serve {} (it serves {}); this run will not replace a cluster-wide CRD others may use: upgrade the operator that owns it, or run on another cluster",
                kuberay::API_VERSION,
                served.join(", ")
            );
        }
        Ok(Some(format!(
            "CRD {crd} was already installed (serves {}); helm leaves it as it is, and the run never deletes it",
            served.join(", ")
        )))
    }

    /// Helm's release records (Secrets), the objects the chart creates for an operator of one
    /// namespace (`singleNamespaceInstall`: ServiceAccount, Service, Deployment, Roles and
    /// RoleBindings), the CRD, and the waits on the operator's pods.
    pub fn permissions(&self) -> Vec<Permission> {
        let ns = Some(self.install.namespace.as_str());
        if self.reuse_operator {
            // Finding the operator in any namespace, and waiting until it is Available.
            let mut p = Permission::all(&["get", "list", "watch"], "deployments.apps", None);
            p.extend(Permission::all(
                &["get"],
                "customresourcedefinitions.apiextensions.k8s.io",
                None,
            ));
            return p;
        }
        let mut p = Permission::all(
            &["get", "list", "create", "update", "delete"],
            "secrets",
            ns,
        );
        for resource in [
            "serviceaccounts",
            "services",
            "deployments.apps",
            "roles.rbac.authorization.k8s.io",
            "rolebindings.rbac.authorization.k8s.io",
        ] {
            p.extend(Permission::all(&["get", "create", "delete"], resource, ns));
        }
        p.extend(Permission::all(&["list", "watch"], "deployments.apps", ns));
        p.extend(Permission::all(&["list", "watch"], "pods", ns));
        p.extend(Permission::all(&["list", "watch"], "events", ns));
        if let Some(crd) = &self.crd {
            let crds = "customresourcedefinitions.apiextensions.k8s.io";
            p.extend(Permission::all(&["get"], crds, None));
            // Installing the CRD and waiting until it is Established; where it is already
            // installed, helm is told to skip it (`--skip-crds`).
            p.extend(
                Permission::all(&["list", "watch", "create"], crds, None)
                    .into_iter()
                    .map(|p| p.unless_crd_exists(crd)),
            );
        }
        p
    }

    /// With the CRD there, a KubeRay operator may already run, cluster-wide or for this
    /// namespace: a second one would reconcile the run's RayClusters too (two head pods). Stops
    /// then, unless `--reuse-operator` asked to use it; with it, the step ends as not applicable.
    async fn operators_already_there(
        &self,
        client: &kube::Client,
        status: &Status,
    ) -> Result<Vec<String>> {
        let ns = &self.install.namespace;
        status.awaiting("whether a KubeRay operator already acts on the namespace");
        let operators =
            match objects::deployments_everywhere(client, kuberay::OPERATOR_SELECTOR).await {
                Ok(all) => all,
                Err(e) if !self.reuse_operator => {
                    return Ok(vec![format!(
                        "whether another KubeRay operator acts on namespace {ns} is unknown ({e:#})"
                    )]);
                }
                Err(e) => return Err(e),
            };
        let acting: Vec<_> = operators
            .iter()
            .filter(|d| kuberay::operator_watches(d, ns))
            .collect();
        let names: Vec<String> = acting
            .iter()
            .map(|d| {
                format!(
                    "Deployment {}/{}",
                    d.namespace().unwrap_or_default(),
                    d.name_any()
                )
            })
            .collect();
        match (self.reuse_operator, acting.first()) {
            (false, None) => Ok(vec![format!(
                "no other KubeRay operator acts on namespace {ns} ({} found elsewhere)",
                operators.len()
            )]),
            (false, Some(_)) => bail!(
                "a KubeRay operator already acts on namespace {ns} ({}): a second one would reconcile this run's RayClusters too. Pass --reuse-operator to use it (or, when it watches only some namespaces, --namespace NAME for another)",
                names.join(", ")
            ),
            (true, None) => bail!(
                "--reuse-operator: no KubeRay operator acts on namespace {ns} ({} found, each watching other namespaces)",
                operators.len()
            ),
            (true, Some(d)) => {
                let (d_ns, d_name) = (d.namespace().unwrap_or_default(), d.name_any());
                wait::deployment_available(client, &d_ns, &d_name, status).await?;
                Err(NotApplicable(format!(
                    "--reuse-operator: the KubeRay operator already acting on namespace {ns} is used instead of a new install: {} (Available)",
                    names.join(", ")
                ))
                .into())
            }
        }
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        let crd = self
            .crd
            .as_ref()
            .map(|c| format!("CRD {c} Established; "))
            .unwrap_or_default();
        format!(
            "helm prints no PodSecurity warning; {crd}Deployment {} Available and its pods Running and Ready under {}",
            self.deployment, self.policy
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        if self.reuse_operator {
            return vec![format!(
                "{} get deployments --all-namespaces -l {} -o wide   # expect: an Available operator whose args have no --watch-namespace, or one listing {}",
                ctx.kubectl,
                kuberay::OPERATOR_SELECTOR,
                self.install.namespace
            )];
        }
        let context = ctx.env.context();
        let target = helm::Target {
            kubeconfig: match &ctx.env.target {
                Target::Existing { kubeconfig, .. } => Some(kubeconfig),
                Target::Kind => None,
            },
            context: &context,
        };
        let mut lines = vec![format!(
            "{}   # expect: no PodSecurity warning on stderr",
            self.install.install(ctx.sh, &target).shell_line()
        )];
        if let Some(crd) = &self.crd {
            lines.push(format!(
                "{} wait --for=condition=Established crd/{crd} --timeout={}s",
                ctx.kubectl,
                ctx.timeout.as_secs()
            ));
        }
        lines.push(format!(
            "{} wait --for=condition=Available deployment/{} --timeout={}s",
            ctx.kubectl_in(&self.install.namespace),
            quote(&self.deployment),
            ctx.timeout.as_secs()
        ));
        lines
    }
}
