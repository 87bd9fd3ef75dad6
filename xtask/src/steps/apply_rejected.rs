//! `apply_rejected`: apply a RayCluster whose pods Pod Security must reject (step 5.1). Proven by
//! positive evidence and a quiet settle window: the 403 in the audit log (with the reasons the
//! offline evaluator predicts for this API server), the operator's Warning event or
//! `ReplicaFailure` condition, and no pod of the cluster for the settle window after both.

use std::{path::PathBuf, time::Duration};

use anyhow::{Result, anyhow, bail};
use futures::{StreamExt, future};
use kube::{ResourceExt, api::DynamicObject};
use pss::{EnforceRejection, LevelVersion};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    context::{Claim, PlanContext, ShellContext, file_name},
    session::{AUDIT_POLL, Session},
};
use crate::{
    audit,
    cmd::quote,
    kube_api::{access::Permission, admission, objects, streams},
    kuberay, manifest, pod_security,
    progress::Status,
    scenario::{ScenarioError, WrittenDuration},
    verdict::{self, Judgement, RejectionEvidence, RejectionExpectation},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub manifest: Spanned<String>,
    pub namespace: String,
    pub raycluster: String,
    /// After the 403 and the operator's report, how long no pod may appear.
    pub settle: WrittenDuration,
}

#[derive(Debug)]
pub struct Planned {
    pub manifest: PathBuf,
    pub namespace: String,
    pub raycluster: String,
    pub settle: Duration,
    /// The namespace's enforce policy, which the 403 must quote.
    pub policy: LevelVersion,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        Ok(Planned {
            manifest: ctx.source.resolve(&self.manifest)?,
            namespace: self.namespace.clone(),
            raycluster: self.raycluster.clone(),
            settle: self.settle.0,
            policy: ctx.policy_in(&self.namespace),
        })
    }
}

/// A server-side dry run (`dryRun=All`) of the head pod KubeRay would create for `rc`: the Pod
/// Security 403, or what the API server answered instead.
async fn dry_run_head(
    client: &kube::Client,
    rc: &DynamicObject,
    ns: &str,
) -> Result<Result<EnforceRejection, String>> {
    let value = serde_json::to_value(rc)?;
    let template = pss::pod_templates(&value, &pss::TemplateOptions::default())
        .into_iter()
        .find(|t| t.path == pod_security::HEAD_TEMPLATE)
        .ok_or_else(|| anyhow!("RayCluster {} has no head pod template", rc.name_any()))?;
    let pod =
        admission::pod_from_template(&template.pod, &kuberay::head_pod_prefix(&rc.name_any()), ns);
    let answer = admission::dry_run_pod_create(client, ns, &pod).await?;
    Ok(if answer.admitted() {
        Err(format!("admitted ({})", answer.code))
    } else {
        pss::parse_enforce_message(&answer.message)
            .ok_or_else(|| format!("{}: {}", answer.code, answer.message))
    })
}

impl Planned {
    pub fn claim(&self) -> Claim {
        Claim::HeadForbidden {
            manifest: self.manifest.clone(),
            policy: self.policy,
        }
    }

    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let (ns, raycluster) = (&self.namespace, &self.raycluster);
        let objs = manifest::read(&self.manifest)?;
        let rc = objs
            .iter()
            .find(|o| manifest::kind_of(o) == "RayCluster" && o.name_any() == *raycluster)
            .ok_or_else(|| anyhow!("{} has no RayCluster {raycluster}", self.manifest.display()))?;
        let predicted = pod_security::predict(
            std::slice::from_ref(rc),
            session.server_version(),
            &self.policy,
        )
        .into_iter()
        .find(|t| t.template == pod_security::HEAD_TEMPLATE)
        .and_then(|t| t.detail);
        let audit_log = session.audit_readable();
        let cursor = if audit_log {
            session.audit_events_after(0).await?.len()
        } else {
            0
        };
        status.awaiting(format!(
            "server-side apply of {}",
            file_name(&self.manifest)
        ));
        let applied = objects::apply(&client, ns, &objs).await?;
        status.observed(format!("applied {}", applied.join(", ")));
        let expectation = RejectionExpectation {
            policy: self.policy,
            predicted_detail: predicted,
            audit_log,
        };
        let rc_api = objects::api_for(&client, rc, ns).await?;
        let dry_run = if audit_log {
            None
        } else {
            status.awaiting("a server-side dry run of the head pod as KubeRay builds it");
            Some(dry_run_head(&client, rc, ns).await?)
        };
        let mut evidence = vec![format!("applied {} to namespace {ns}", applied.join(", "))];
        evidence.extend(
            self.observe(
                session,
                status,
                rc_api,
                cursor,
                &expectation,
                RejectionEvidence {
                    dry_run,
                    ..Default::default()
                },
            )
            .await?,
        );
        Ok(evidence)
    }

    /// Watches pods, events and the RayCluster, and polls the audit log, until the verdict.
    async fn observe(
        &self,
        session: &Session<'_>,
        status: &Status,
        rc_api: kube::Api<kube::api::DynamicObject>,
        cursor: usize,
        expectation: &RejectionExpectation,
        mut seen: RejectionEvidence,
    ) -> Result<Vec<String>> {
        let (ns, raycluster) = (&self.namespace, &self.raycluster);
        let client = &session.client()?;
        let head_prefix = kuberay::head_pod_prefix(raycluster);
        let selector = kuberay::cluster_selector(raycluster);
        let mut pods = streams::pod_names_stream(client, ns, &selector).boxed();
        let mut events = streams::event_stream(client, ns).boxed();
        let mut rc_versions = streams::object_stream(rc_api, raycluster).boxed();
        let mut audit_tick = tokio::time::interval(AUDIT_POLL);
        let mut settle_until: Option<tokio::time::Instant> = None;
        loop {
            match verdict::judge_rejection(&seen, expectation) {
                Judgement::Passed(evidence) => return Ok(evidence),
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
            }
            if settle_until.is_none()
                && (!seen.rejections.is_empty() || !expectation.audit_log)
                && seen.operator_report.is_some()
            {
                settle_until = Some(tokio::time::Instant::now() + self.settle);
                status.awaiting(format!(
                    "no pod with {selector} for the {}s settle window",
                    self.settle.as_secs()
                ));
            }
            let settle_timer = async {
                match settle_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => future::pending().await,
                }
            };
            tokio::select! {
                Some(p) = pods.next() => match p {
                    Ok(names) => { status.observed(format!("pod appeared: {}", names.join(", "))); seen.pods_seen.extend(names) }
                    Err(e) => status.observed(format!("pod watch error (retrying): {e}")),
                },
                Some(e) = events.next() => if let Ok(e) = e
                    && let Some(report) = kuberay::head_pod_failure_event(&e, raycluster) {
                        status.observed(report.clone());
                        seen.operator_403 = kuberay::quoted_rejection(&report);
                        seen.operator_report = Some(report);
                    },
                Some(o) = rc_versions.next() => if let Ok(o) = o
                    && let (None, Some(report)) = (&seen.operator_report, kuberay::head_pod_failure_condition(&o)) {
                        status.observed(report.clone());
                        seen.operator_403 = kuberay::quoted_rejection(&report);
                        seen.operator_report = Some(report);
                    },
                _ = audit_tick.tick(), if expectation.audit_log => {
                    let fresh = &session.audit_events_after(cursor).await?;
                    seen.rejections = audit::psa_rejections(fresh, ns).into_iter().filter(|r| r.rejection.pod.starts_with(&head_prefix)).collect();
                    if let Some(r) = seen.rejections.last() {
                        status.observed(format!("audit: 403 for pods {:?} under {}", r.rejection.pod, r.rejection.policy));
                    }
                }
                _ = settle_timer => seen.settled = true,
            }
        }
    }

    pub fn permissions(&self) -> Vec<Permission> {
        super::raycluster_apply_permissions(&self.manifest, &self.namespace)
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "a 403 for the head pod in the audit log, `violates PodSecurity \"{}\"`, whose reasons equal the offline prediction for the API server's version; the operator's `{}` Warning or the RayCluster's `ReplicaFailure` condition; and no pod with {} for {}s after both",
            self.policy,
            kuberay::FAILED_TO_CREATE_HEAD_POD,
            kuberay::cluster_selector(&self.raycluster),
            self.settle.as_secs()
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        let kubectl = ctx.kubectl_in(&self.namespace);
        let raycluster = &self.raycluster;
        let audit_403 = ctx.audit_read().map(|read| {
            format!(
                "{read} | grep -F {} | grep -F {}",
                quote("\"code\":403"),
                quote(kuberay::head_pod_prefix(raycluster)),
            )
        });
        let event = format!(
            "{kubectl} get events --field-selector involvedObject.name={raycluster} | grep -F {}",
            kuberay::FAILED_TO_CREATE_HEAD_POD
        );
        let mut lines = vec![format!(
            "{} apply --server-side -n {} -f {}",
            ctx.kubectl,
            quote(&self.namespace),
            quote(&self.manifest)
        )];
        let quoted = match audit_403 {
            Some(audit_403) => {
                lines.push(format!(
                    "{}   # expect: violates PodSecurity \"{}\" for the head pod",
                    ctx.until(&audit_403),
                    self.policy
                ));
                ""
            }
            None => ", quoting the 403: violates PodSecurity (no audit log on this cluster)",
        };
        lines.push(format!(
            "{}   # expect: the operator's Warning (or the RayCluster's ReplicaFailure condition){quoted}",
            ctx.until(&event)
        ));
        lines.push(format!(
            "sleep {}; {kubectl} get pods -l {}   # expect: No resources found, after the settle window",
            self.settle.as_secs(),
            kuberay::cluster_selector(raycluster)
        ));
        lines
    }
}
