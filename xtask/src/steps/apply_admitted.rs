//! `apply_admitted`: apply a RayCluster whose pods Pod Security must admit (step 5.2). Proven by
//! the expected head and worker pods Running and Ready, and their creates in the audit log allowed
//! under the namespace's enforce policy with no audit violation.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{ResourceExt, runtime::watcher};
use pss::LevelVersion;
use serde::Deserialize;
use serde_saphyr::Spanned;
use tokio::time::Instant;

use super::{
    context::{Claim, PlanContext, ShellContext, file_name},
    session::{AUDIT_POLL, Session},
};
use crate::{
    audit,
    cmd::quote,
    diagnosis::{self, Diagnosis},
    kube_api::{access::Permission, admission, conditions, objects, streams},
    kuberay, manifest,
    progress::Status,
    scenario::ScenarioError,
    verdict::{self, AdmissionEvidence, AdmissionExpectation, Judgement, PodDryRun},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub manifest: Spanned<String>,
    pub namespace: String,
    pub raycluster: String,
    /// Every container of the RayCluster's pod templates gets `versions.ray_image`.
    #[serde(default)]
    pub ray_image: bool,
    pub head_pods: u32,
    pub worker_pods: u32,
}

#[derive(Debug)]
pub struct Planned {
    pub manifest: PathBuf,
    pub namespace: String,
    pub raycluster: String,
    pub ray_image: Option<String>,
    pub heads: usize,
    pub workers: usize,
    /// The namespace's enforce policy, under which every pod create must be allowed.
    pub policy: LevelVersion,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        Ok(Planned {
            manifest: ctx.source.resolve(&self.manifest)?,
            namespace: self.namespace.clone(),
            raycluster: self.raycluster.clone(),
            ray_image: self.ray_image.then(|| ctx.versions.ray_image.clone()),
            heads: self.head_pods as usize,
            workers: self.worker_pods as usize,
            policy: ctx.policy_in(&self.namespace),
        })
    }
}

/// Each Ready pod's spec created again with `dryRun=All`: Pod Security decides as it decided
/// for the pod, and nothing is stored.
async fn dry_run_pods(
    client: &kube::Client,
    ns: &str,
    ready: impl Iterator<Item = &Pod>,
) -> Result<Vec<PodDryRun>> {
    let mut out = Vec::new();
    for pod in ready {
        let name = pod.name_any();
        let value = serde_json::to_value(pod)?;
        let again = admission::pod_from_template(&value, &format!("{name}-"), ns);
        let answer = admission::dry_run_pod_create(client, ns, &again).await?;
        out.push(PodDryRun {
            pod: name,
            refused: (!answer.admitted()).then(|| format!("{}: {}", answer.code, answer.message)),
            warnings: answer
                .warnings
                .into_iter()
                .filter(|w| w.contains("PodSecurity"))
                .collect(),
        });
    }
    Ok(out)
}

impl Planned {
    /// The images of the manifest's RayCluster pods (with the pinned Ray image), deduplicated.
    pub fn images(&self) -> Vec<String> {
        let Ok(mut objs) = manifest::read(&self.manifest) else {
            return vec![];
        };
        if let Some(image) = &self.ray_image {
            manifest::set_ray_image(&mut objs, image);
        }
        let mut images = Vec::new();
        for obj in objs.iter().filter(|o| manifest::kind_of(o) == "RayCluster") {
            collect_images(&obj.data, &mut images);
        }
        images
    }

    pub fn claim(&self) -> Claim {
        Claim::Allowed {
            manifest: self.manifest.clone(),
            ray_image: self.ray_image.clone(),
            policy: self.policy,
        }
    }

    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let mut objs = manifest::read(&self.manifest)?;
        let mut evidence = Vec::new();
        if let Some(image) = &self.ray_image {
            let replaced = manifest::set_ray_image(&mut objs, image);
            if !replaced.is_empty() {
                evidence.push(format!(
                    "Ray containers use the pinned image {image} (instead of {})",
                    replaced.join(", ")
                ));
            }
        }
        let cursor = if session.audit_readable() {
            session.audit_events_after(0).await?.len()
        } else {
            0
        };
        status.awaiting(format!(
            "server-side apply of {}",
            file_name(&self.manifest)
        ));
        let applied = objects::apply(&client, &self.namespace, &objs).await?;
        evidence.insert(
            0,
            format!(
                "applied {} to namespace {}",
                applied.join(", "),
                self.namespace
            ),
        );
        evidence.extend(self.observe(session, status, &client, cursor).await?);
        if let Some(prepull) = session.prepull() {
            evidence.push(prepull.evidence());
        }
        Ok(evidence)
    }

    /// Watches the cluster's pods and polls the audit log until the verdict.
    async fn observe(
        &self,
        session: &Session<'_>,
        status: &Status,
        client: &kube::Client,
        cursor: usize,
    ) -> Result<Vec<String>> {
        let expectation = AdmissionExpectation {
            heads: self.heads,
            workers: self.workers,
            policy: self.policy,
            audit_log: session.audit_readable(),
        };
        let prefix = format!("{}-", self.raycluster);
        let selector = kuberay::cluster_selector(&self.raycluster);
        let mut pod_events = streams::pod_events(client, &self.namespace, &selector).boxed();
        let mut events = streams::event_stream(client, &self.namespace).boxed();
        let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
        let mut audit_tick = tokio::time::interval(AUDIT_POLL);
        let mut seen = AdmissionEvidence::default();
        let mut diagnosis = Diagnosis::default();
        let ours = |name: &str| name.starts_with(&prefix);
        loop {
            match verdict::judge_admission(&seen, &expectation) {
                Judgement::Passed(mut evidence) => {
                    evidence.push(placement(&pods));
                    return Ok(evidence);
                }
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
            }
            let all_ready =
                seen.ready_heads.len() == self.heads && seen.ready_workers.len() == self.workers;
            if !expectation.audit_log && all_ready && seen.dry_runs.is_empty() {
                status.awaiting("server-side dry runs of the Ready pods' specs");
                seen.dry_runs = dry_run_pods(
                    client,
                    &self.namespace,
                    pods.values().filter(|p| conditions::is_pod_ready(p)),
                )
                .await?;
                continue;
            }
            tokio::select! {
                Some(ev) = pod_events.next() => {
                    match ev {
                        Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => { pods.insert(p.name_any(), p); }
                        Ok(watcher::Event::Delete(p)) => { pods.remove(&p.name_any()); }
                        Ok(watcher::Event::Init) => pods.clear(),
                        Ok(watcher::Event::InitDone) => {}
                        Err(e) => status.observed(format!("pod watch error (retrying): {e}")),
                    }
                    seen.ready_heads = ready_of_type(&pods, "head");
                    seen.ready_workers = ready_of_type(&pods, "worker");
                    if let Some(stuck) = pods.values().find_map(diagnosis::permanent_container_state) {
                        bail!(stuck);
                    }
                    for ready in pods.values().filter(|p| conditions::is_pod_ready(p)) {
                        diagnosis.healed(&ready.name_any());
                    }
                    status.observed(pods.values().map(conditions::pod_summary).collect::<Vec<_>>().join("; "));
                }
                Some(Ok(e)) = events.next() => {
                    // Events and pods come on two watches: a pod's early problem (a volume whose
                    // ConfigMap came a moment later) may arrive after the pod was seen Ready,
                    // and is then history, not a lasting problem.
                    let not_ready = |name: &str| ours(name) && !pods.get(name).is_some_and(conditions::is_pod_ready);
                    if let Some(stuck) = diagnosis.event(&e, not_ready, Instant::now()) {
                        bail!(stuck);
                    }
                    // The API server's own refusal, as the operator quotes it: no audit log needed.
                    if let Some(refused) = kuberay::pod_create_refused(&e, &self.raycluster) {
                        bail!("{refused} (the operator's Warning {})", e.reason.unwrap_or_default());
                    }
                }
                _ = audit_tick.tick() => {
                    if let Some(stuck) = diagnosis.overdue(Instant::now()) {
                        bail!(stuck);
                    }
                    if !expectation.audit_log {
                        continue;
                    }
                    let fresh = &session.audit_events_after(cursor).await?;
                    seen.creates = audit::admitted_pod_creates(fresh, &self.namespace);
                    seen.rejections = audit::psa_rejections(fresh, &self.namespace).into_iter().filter(|r| ours(&r.rejection.pod)).collect();
                }
            }
        }
    }

    pub fn permissions(&self) -> Vec<Permission> {
        super::raycluster_apply_permissions(&self.manifest, &self.namespace)
    }

    pub fn proof(&self) -> String {
        format!(
            "{} head and {} worker pod(s) Running and Ready, and their creates in the audit log allowed under enforce-policy {} with no audit violation",
            self.heads, self.workers, self.policy
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Result<Vec<String>> {
        let replaced = match &self.ray_image {
            Some(image) => {
                let mut objs = manifest::read(&self.manifest)?;
                manifest::set_ray_image(&mut objs, image)
            }
            None => vec![],
        };
        let mut lines = Vec::new();
        // The manifest with the pinned Ray image, as a file of its own, like the run applies it.
        let applied = match (&self.ray_image, replaced.is_empty()) {
            (Some(image), false) => {
                let exprs: Vec<String> = replaced
                    .iter()
                    .map(|old| {
                        let edit = format!("s#image: {}#image: {image}#", old.replace('.', "\\."));
                        format!("-e {}", quote(edit))
                    })
                    .collect();
                let edited = PathBuf::from("/tmp").join(file_name(&self.manifest));
                lines.push(format!(
                    "sed {} {} > {}",
                    exprs.join(" "),
                    quote(&self.manifest),
                    quote(&edited)
                ));
                edited
            }
            _ => self.manifest.clone(),
        };
        lines.push(format!(
            "{} apply --server-side -n {} -f {}",
            ctx.kubectl,
            quote(&self.namespace),
            quote(&applied)
        ));
        let kubectl = ctx.kubectl_in(&self.namespace);
        let selector = kuberay::cluster_selector(&self.raycluster);
        lines.extend([
            // `kubectl wait` on a selector fails at once while nothing matches: first the pods.
            ctx.until(&format!(
                "{kubectl} get pod -l {selector} -o name | grep -q ."
            )) + "   # expect: the operator creates the pods",
            format!(
                "{kubectl} wait --for=condition=Ready pod -l {selector} --timeout={}s   # expect: {} head, {} worker",
                ctx.timeout.as_secs(),
                self.heads,
                self.workers
            ),
        ]);
        lines.push(match ctx.audit_read() {
            Some(read) => format!(
                "{read}   # expect: their pod creates allowed under enforce-policy {}, no audit-violations",
                self.policy
            ),
            None => format!(
                "for pod in $({kubectl} get pod -l {selector} -o name); do {kubectl} get \"$pod\" -o json | jq '{{apiVersion, kind, metadata: {{generateName: (.metadata.name + \"-\"), labels: .metadata.labels}}, spec: (.spec | del(.nodeName))}}' | {kubectl} create --dry-run=server -f - -o name; done   # expect: no Warning, no error (no audit log on this cluster)"
            ),
        });
        Ok(lines)
    }
}

/// Every `image` of containers and init containers under `v`, first seen first.
fn collect_images(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                if k == "containers" || k == "initContainers" {
                    for c in child.as_array().into_iter().flatten() {
                        if let Some(image) = c["image"].as_str()
                            && !out.iter().any(|i| i == image)
                        {
                            out.push(image.to_string());
                        }
                    }
                } else {
                    collect_images(child, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_images(i, out)),
        _ => {}
    }
}

/// Which node each pod runs on: `nodes: POD on NODE; …`.
fn placement(pods: &BTreeMap<String, Pod>) -> String {
    let on: Vec<String> = pods
        .values()
        .map(|p| {
            let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
            format!("{} on {}", p.name_any(), node.unwrap_or("(no node)"))
        })
        .collect();
    format!("nodes: {}", on.join("; "))
}

/// The Ready pods whose `ray.io/node-type` is `node_type`.
fn ready_of_type(pods: &BTreeMap<String, Pod>, node_type: &str) -> Vec<String> {
    pods.values()
        .filter(|p| {
            p.labels().get(kuberay::NODE_TYPE_LABEL).map(String::as_str) == Some(node_type)
                && conditions::is_pod_ready(p)
        })
        .map(|p| p.name_any())
        .collect()
}
