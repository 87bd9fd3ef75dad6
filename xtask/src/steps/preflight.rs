//! `preflight: {}`: before any cluster exists, predict with the offline evaluator (crate `pss`)
//! what Pod Security will do to what the other steps apply and install, as an API server of the
//! node image's version would: the rejected RayCluster's head forbidden, the admitted RayCluster
//! and the operator chart allowed.

use std::path::Path;

use anyhow::{Result, bail};
use pss::{KubeVersion, LevelVersion};
use serde::Deserialize;

use super::{
    context::{Claim, PlanContext, ShellContext, file_name},
    session::Session,
};
use crate::{cmd::quote, helm, manifest, pod_security, progress::Status};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug)]
pub struct Planned {
    pub claims: Vec<Claim>,
    /// The Kubernetes version of the pinned node image: whose rules `latest` means.
    pub node_image_version: Option<KubeVersion>,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Planned {
        Planned {
            claims: ctx.claims.to_vec(),
            node_image_version: ctx.node_image_version,
        }
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let mut evidence = Vec::new();
        for claim in &self.claims {
            evidence.push(match claim {
                Claim::HeadForbidden { manifest, policy } => {
                    status.awaiting(format!("a prediction for {}", manifest.display()));
                    self.head_forbidden(manifest, policy)?
                }
                Claim::Allowed {
                    manifest,
                    ray_image,
                    policy,
                } => {
                    status.awaiting(format!("a prediction for {}", manifest.display()));
                    self.allowed(manifest, ray_image.as_deref(), policy)?
                }
                Claim::ChartAllowed { install, policy } => {
                    status.awaiting("helm template of the operator chart");
                    self.chart_allowed(session, install, policy).await?
                }
            });
        }
        Ok(evidence)
    }

    /// `as a Kubernetes 1.26 API server evaluates it: latest = v1.25 rules`.
    fn rules(&self) -> String {
        match self.node_image_version {
            Some(v) => {
                let rules =
                    pss::Evaluator::for_server(v).effective_version(pss::PolicyVersion::Latest);
                format!(
                    "as a Kubernetes {}.{} API server evaluates it: latest = v1.{rules} rules",
                    v.major, v.minor
                )
            }
            None => "with the newest rules modelled".into(),
        }
    }

    fn head_forbidden(&self, path: &Path, policy: &LevelVersion) -> Result<String> {
        let preds = pod_security::predict(&manifest::read(path)?, self.node_image_version, policy);
        let head = preds
            .iter()
            .find(|t| t.template == pod_security::HEAD_TEMPLATE);
        match head.and_then(|h| h.detail.as_ref()) {
            Some(detail) => Ok(format!(
                "{}: head forbidden under {policy} ({}): {detail}",
                file_name(path),
                self.rules()
            )),
            None => bail!(
                "{} is predicted ALLOWED under {policy} ({}), so the tutorial's rejection cannot happen",
                path.display(),
                self.rules()
            ),
        }
    }

    fn allowed(&self, path: &Path, image: Option<&str>, policy: &LevelVersion) -> Result<String> {
        let mut objs = manifest::read(path)?;
        if let Some(image) = image {
            manifest::set_ray_image(&mut objs, image);
        }
        let preds = pod_security::predict(&objs, self.node_image_version, policy);
        if let Some(bad) = preds.iter().find(|t| t.detail.is_some()) {
            bail!(
                "{} is predicted forbidden under {policy}: {}",
                path.display(),
                bad.describe()
            );
        }
        Ok(format!(
            "{}: {} pod template(s) allowed under {policy} ({})",
            file_name(path),
            preds.len(),
            self.rules()
        ))
    }

    async fn chart_allowed(
        &self,
        session: &Session<'_>,
        install: &helm::Install,
        policy: &LevelVersion,
    ) -> Result<String> {
        let out = match install.template(&session.sh).output().await {
            Ok(out) if out.success() => out,
            Ok(out) => {
                return Ok(format!(
                    "operator chart not rendered (helm template: {}); step 4 checks it live",
                    out.last_words()
                ));
            }
            Err(e) => {
                return Ok(format!(
                    "operator chart not rendered ({e}); step 4 checks it live"
                ));
            }
        };
        let objs = manifest::parse(Path::new("helm template output"), &out.stdout)?;
        let preds = pod_security::predict(&objs, self.node_image_version, policy);
        if let Some(bad) = preds.iter().find(|t| t.detail.is_some()) {
            bail!(
                "the operator chart is predicted forbidden under {policy}: {}",
                bad.describe()
            );
        }
        Ok(format!(
            "operator chart: {} pod template(s) allowed under {policy}",
            preds.len()
        ))
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "the offline Pod Security evaluator (`cargo xtask pss`, the rules of Kubernetes {}) predicts each claim before any cluster exists: {} prediction(s)",
            self.node_image_version
                .map_or("(newest modelled)".to_string(), |v| format!(
                    "{}.{}",
                    v.major, v.minor
                )),
            self.claims.len()
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        let pss = |policy: &LevelVersion| {
            format!(
                "cargo xtask pss --level {} --version {}",
                policy.level, policy.version
            )
        };
        self.claims
            .iter()
            .map(|claim| match claim {
                Claim::HeadForbidden { manifest, policy } => format!(
                    "{} {}   # expect: forbidden",
                    pss(policy),
                    quote(manifest)
                ),
                Claim::Allowed {
                    manifest, policy, ..
                } => format!("{} {}   # expect: allowed", pss(policy), quote(manifest)),
                Claim::ChartAllowed { install, policy } => format!(
                    "{} > /tmp/kuberay-operator.rendered.yaml && {} /tmp/kuberay-operator.rendered.yaml   # expect: allowed",
                    install.template(ctx.sh).shell_line(),
                    pss(policy)
                ),
            })
            .collect()
    }
}
