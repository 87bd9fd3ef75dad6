//! What each step kind does: it drives the concern modules (kind, audit, kube_api, helm, dashboard,
//! pod_security), gathers observations and hands them to the evidence rules in `verdict`.
//! A step returns its evidence, or an error saying what went wrong.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::Pod;
use kube::{Client, ResourceExt, runtime::watcher};
use xshell::Shell;

use crate::{
    audit::{self, AuditEvent},
    dashboard::{self, Dashboard},
    helm, kind, kube_api, kuberay, manifest,
    plan::{Action, ApplyAdmitted, Exec, Plan, PlannedStep, Preflight},
    pod_security,
    progress::Status,
    verdict::{
        self, AdmissionEvidence, AdmissionExpectation, Judgement, RejectionEvidence,
        RejectionExpectation,
    },
};

/// Why an audit log is polled rather than watched: it is a file inside the node container, with
/// no API to watch; each read is one `docker exec … cat`.
const AUDIT_POLL: Duration = Duration::from_secs(1);
/// Why the dashboard is polled: the Ray Jobs API has no watch.
const DASHBOARD_POLL: Duration = Duration::from_secs(1);

/// Everything steps share during one run.
pub struct Session<'p> {
    pub plan: &'p Plan,
    pub sh: Shell,
    pub workdir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    client: Option<Client>,
    /// The minor version the API server reports (e.g. 26): which Pod Security rules `latest` means.
    server_minor: Option<u32>,
    /// Whether this run may have created the cluster (and so must delete it).
    pub cluster_created: bool,
    /// Whether the cluster existed before and `--reuse-cluster` was given.
    pub reused_cluster: bool,
    /// Audit events that predate this run (a reused cluster's), which no check looks at.
    audit_baseline: usize,
    forwards: HashMap<String, (kube_api::PortForward, Dashboard)>,
}

impl<'p> Session<'p> {
    pub fn new(plan: &'p Plan) -> Result<Session<'p>> {
        let workdir = tempfile::Builder::new()
            .prefix("xtask-e2e-")
            .tempdir()
            .context("cannot create a temp dir")?;
        let kubeconfig = workdir.path().join("kubeconfig");
        Ok(Session {
            plan,
            sh: Shell::new()?,
            workdir,
            kubeconfig,
            client: None,
            server_minor: None,
            cluster_created: false,
            reused_cluster: false,
            audit_baseline: 0,
            forwards: HashMap::new(),
        })
    }

    fn client(&self) -> Result<Client> {
        self.client
            .clone()
            .ok_or_else(|| anyhow!("no cluster: the kind_cluster step has not run"))
    }

    /// Runs one step and returns its evidence.
    pub async fn run(&mut self, step: &PlannedStep, status: &Status) -> Result<Vec<String>> {
        match &step.action {
            Action::Preflight(p) => self.preflight(p, status).await,
            Action::KindCluster { config } => self.kind_cluster(config, status).await,
            Action::AuditQuiet { namespace } => self.audit_quiet(namespace, status).await,
            Action::Namespace { name, labels } => self.namespace(name, labels, status).await,
            Action::HelmInstall {
                install,
                deployment,
                crd,
            } => {
                self.helm_install(install, deployment, crd.as_deref(), status)
                    .await
            }
            Action::ApplyRejected {
                manifest,
                namespace,
                raycluster,
                settle,
                policy,
            } => {
                self.apply_rejected(manifest, namespace, raycluster, *settle, policy, status)
                    .await
            }
            Action::ApplyAdmitted(a) => self.apply_admitted(a, status).await,
            Action::PortForward {
                namespace,
                service,
                port,
                probe,
            } => {
                self.port_forward(namespace, service, *port, probe, status)
                    .await
            }
            Action::Exec(e) => self.exec(e, status).await,
            Action::Delete {
                manifest,
                namespace,
            } => self.delete(manifest, namespace, status).await,
        }
    }

    async fn preflight(&mut self, p: &Preflight, status: &Status) -> Result<Vec<String>> {
        let mut evidence = Vec::new();
        let minor_text = match p.server_minor {
            Some(m) => {
                let rules = pss::Evaluator::for_server_minor(m)
                    .effective_version(pss::PolicyVersion::Latest);
                format!("as a Kubernetes 1.{m} API server evaluates it: latest = v1.{rules} rules")
            }
            None => "with the newest rules modelled".into(),
        };
        for (path, policy) in &p.rejected {
            status.awaiting(format!("a prediction for {}", path.display()));
            let preds = pod_security::predict(&manifest::read(path)?, p.server_minor, policy);
            let head = preds
                .iter()
                .find(|t| t.template == pod_security::HEAD_TEMPLATE);
            match head.and_then(|h| h.detail.as_ref()) {
                Some(detail) => evidence.push(format!(
                    "{}: head forbidden under {policy} ({minor_text}): {detail}",
                    file_name(path)
                )),
                None => bail!(
                    "{} is predicted ALLOWED under {policy} ({minor_text}), so the tutorial's rejection cannot happen",
                    path.display()
                ),
            }
        }
        for (path, image, policy) in &p.admitted {
            status.awaiting(format!("a prediction for {}", path.display()));
            let mut objs = manifest::read(path)?;
            if let Some(image) = image {
                manifest::set_ray_image(&mut objs, image);
            }
            let preds = pod_security::predict(&objs, p.server_minor, policy);
            if let Some(bad) = preds.iter().find(|t| t.detail.is_some()) {
                bail!(
                    "{} is predicted forbidden under {policy}: {}",
                    path.display(),
                    bad.describe()
                );
            }
            evidence.push(format!(
                "{}: {} pod template(s) allowed under {policy} ({minor_text})",
                file_name(path),
                preds.len()
            ));
        }
        if let Some((install, policy)) = &p.chart {
            status.awaiting("helm template of the operator chart");
            let rendered = install.template(&self.sh).output().await;
            match rendered {
                Ok(out) if out.success() => {
                    let objs =
                        manifest::parse(std::path::Path::new("helm template output"), &out.stdout)?;
                    let preds = pod_security::predict(&objs, p.server_minor, policy);
                    if let Some(bad) = preds.iter().find(|t| t.detail.is_some()) {
                        bail!(
                            "the operator chart is predicted forbidden under {policy}: {}",
                            bad.describe()
                        );
                    }
                    evidence.push(format!(
                        "operator chart: {} pod template(s) allowed under {policy}",
                        preds.len()
                    ));
                }
                Ok(out) => evidence.push(format!(
                    "operator chart not rendered (helm template: {}); step 4 checks it live",
                    out.last_words()
                )),
                Err(e) => evidence.push(format!(
                    "operator chart not rendered ({e}); step 4 checks it live"
                )),
            }
        }
        Ok(evidence)
    }

    async fn kind_cluster(
        &mut self,
        config: &std::path::Path,
        status: &Status,
    ) -> Result<Vec<String>> {
        let cluster = &self.plan.cluster;
        let mut evidence = Vec::new();
        status.awaiting("kind get clusters");
        if cluster.exists(&self.sh).await? {
            if !self.plan.reuse_cluster {
                bail!(
                    "a kind cluster named {:?} already exists; delete it (kind delete cluster --name {}) or pass --reuse-cluster",
                    cluster.name,
                    cluster.name
                );
            }
            let out = cluster.get_kubeconfig(&self.sh).checked().await?;
            std::fs::write(&self.kubeconfig, out.stdout)?;
            self.reused_cluster = true;
            evidence.push(format!(
                "reused the existing kind cluster {:?} (it is kept at the end)",
                cluster.name
            ));
        } else {
            let generated = self.workdir.path().join("kind-config.yaml");
            std::fs::write(&generated, kind::absolute_config(config)?)?;
            status.awaiting(format!(
                "kind create cluster --name {} (pulls {} the first time)",
                cluster.name, cluster.node_image
            ));
            self.cluster_created = true;
            cluster
                .create(&self.sh, &generated, &self.kubeconfig)
                .checked()
                .await?;
            evidence.push(format!(
                "kind created cluster {:?} from {} with node image {}",
                cluster.name,
                config.display(),
                cluster.node_image
            ));
        }
        let client = kube_api::connect(&self.kubeconfig, &cluster.context()).await?;
        let info = kube_api::wait_api(&client, status).await?;
        self.server_minor = info.minor.trim_end_matches('+').parse().ok();
        evidence.push(format!(
            "API server {} answers (context {})",
            info.git_version,
            cluster.context()
        ));
        let nodes = kube_api::wait_nodes_ready(&client, status).await?;
        evidence.push(format!("nodes Ready: {}", nodes.join(", ")));
        if self.reused_cluster {
            // An earlier run's namespaces would make step 3 fail and its pods pollute the audit
            // log; deleting them (and with them the operator's release) makes the re-run clean.
            for ns in &self.plan.namespaces {
                if kube_api::namespace_exists(&client, ns).await? {
                    kube_api::delete_namespace_and_wait(&client, ns, status).await?;
                    evidence.push(format!("deleted namespace {ns}, left by an earlier run"));
                }
            }
        }
        self.client = Some(client);
        if !self.cluster_created {
            self.audit_baseline = self
                .plan
                .audit
                .read(&self.sh)
                .await
                .map(|e| e.len())
                .unwrap_or(0);
        }
        Ok(evidence)
    }

    /// The audit events of this run, after the first `seen` of them.
    async fn audit_events_after(&self, seen: usize) -> Result<Vec<AuditEvent>> {
        let mut events = self.plan.audit.read(&self.sh).await?;
        Ok(events.split_off((self.audit_baseline + seen).min(events.len())))
    }

    async fn audit_quiet(&mut self, namespace: &str, status: &Status) -> Result<Vec<String>> {
        status.awaiting(format!(
            "the audit log ({})",
            self.plan.audit.read_command(&self.sh).shell_line()
        ));
        let events = self.audit_events_after(0).await?;
        let about: Vec<&AuditEvent> = audit::in_namespace(&events, namespace).collect();
        if let Some(first) = about.first() {
            bail!(
                "the audit log already has {} event(s) about namespace {namespace}, e.g. {} {} by {}",
                about.len(),
                first.verb,
                first.request_uri,
                first.user.username
            );
        }
        let scope = if self.audit_baseline > 0 {
            format!(
                " (since this run began; {} older events skipped)",
                self.audit_baseline
            )
        } else {
            String::new()
        };
        Ok(vec![format!(
            "audit log {} in {} is readable: {} event(s){scope}, none about namespace {namespace}",
            self.plan.audit.path,
            self.plan.audit.node,
            events.len()
        )])
    }

    async fn namespace(
        &mut self,
        name: &str,
        labels: &BTreeMap<String, String>,
        status: &Status,
    ) -> Result<Vec<String>> {
        let client = self.client()?;
        status.awaiting(format!("namespace {name} to be created"));
        if kube_api::namespace_exists(&client, name).await? {
            bail!(
                "namespace {name} already exists (left by an earlier run?); delete it first: kubectl delete ns {name}"
            );
        }
        kube_api::create_namespace(&client, name).await?;
        status.awaiting(format!("namespace {name} to carry {} labels", labels.len()));
        let read_back = kube_api::label_namespace(&client, name, labels).await?;
        let wrong: Vec<String> = labels
            .iter()
            .filter(|(k, v)| read_back.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}={v} (read back {:?})", read_back.get(k)))
            .collect();
        if !wrong.is_empty() {
            bail!(
                "namespace {name} did not keep its labels: {}",
                wrong.join(", ")
            );
        }
        let policy = pod_security::enforce_policy(&read_back);
        Ok(vec![
            format!(
                "namespace {name} created; labels read back: {}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("Pod Security enforces {policy} there"),
        ])
    }

    async fn helm_install(
        &mut self,
        install: &helm::Install,
        deployment: &str,
        crd: Option<&str>,
        status: &Status,
    ) -> Result<Vec<String>> {
        let client = self.client()?;
        let context = self.plan.cluster.context();
        let target = helm::Target {
            kubeconfig: Some(&self.kubeconfig),
            context: &context,
        };
        status.awaiting(format!("helm install {}", install.release));
        let out = install.install(&self.sh, &target).checked().await?;
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
        let mut evidence = vec![format!(
            "helm install {}: {status_line}; no PodSecurity warning",
            install.release
        )];
        if let Some(crd) = crd {
            kube_api::wait_crd_established(&client, crd, status).await?;
            evidence.push(format!("CRD {crd} Established"));
        }
        let d =
            kube_api::wait_deployment_available(&client, &install.namespace, deployment, status)
                .await?;
        let selector = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .ok_or_else(|| anyhow!("deployment {deployment} has no matchLabels selector"))?;
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
        let pods =
            kube_api::wait_pods_ready(&client, &install.namespace, &selector, replicas, status)
                .await?;
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

    async fn apply_rejected(
        &mut self,
        path: &std::path::Path,
        ns: &str,
        raycluster: &str,
        settle: Duration,
        policy: &pss::LevelVersion,
        status: &Status,
    ) -> Result<Vec<String>> {
        let client = self.client()?;
        let objs = manifest::read(path)?;
        let rc = objs
            .iter()
            .find(|o| manifest::kind_of(o) == "RayCluster" && o.name_any() == raycluster)
            .ok_or_else(|| anyhow!("{} has no RayCluster {raycluster}", path.display()))?;
        let predicted = pod_security::predict(std::slice::from_ref(rc), self.server_minor, policy)
            .into_iter()
            .find(|t| t.template == pod_security::HEAD_TEMPLATE)
            .and_then(|t| t.detail);
        let cursor = self.audit_events_after(0).await?.len();
        status.awaiting(format!("server-side apply of {}", file_name(path)));
        let applied = kube_api::apply(&client, ns, &objs).await?;
        status.observed(format!("applied {}", applied.join(", ")));

        let expectation = RejectionExpectation {
            policy: policy.to_string(),
            predicted_detail: predicted,
        };
        let head_prefix = kuberay::head_pod_prefix(raycluster);
        let mut pods =
            kube_api::pod_names_stream(&client, ns, &kuberay::cluster_selector(raycluster)).boxed();
        let mut events = kube_api::event_stream(&client, ns).boxed();
        let mut rc_versions =
            kube_api::object_stream(kube_api::api_for(&client, rc, ns).await?, raycluster).boxed();
        let mut audit_tick = tokio::time::interval(AUDIT_POLL);
        let mut seen = RejectionEvidence::default();
        let mut settle_until: Option<tokio::time::Instant> = None;
        loop {
            match verdict::judge_rejection(&seen, &expectation) {
                Judgement::Passed(evidence) => {
                    let mut ev = vec![format!("applied {} to namespace {ns}", applied.join(", "))];
                    ev.extend(evidence);
                    return Ok(ev);
                }
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
            }
            if settle_until.is_none()
                && !seen.rejections.is_empty()
                && seen.operator_report.is_some()
            {
                settle_until = Some(tokio::time::Instant::now() + settle);
                status.awaiting(format!(
                    "no pod with ray.io/cluster={raycluster} for the {}s settle window",
                    settle.as_secs()
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
                        seen.operator_report = Some(report);
                    },
                Some(o) = rc_versions.next() => if let Ok(o) = o
                    && let (None, Some(report)) = (&seen.operator_report, kuberay::head_pod_failure_condition(&o)) {
                        status.observed(report.clone());
                        seen.operator_report = Some(report);
                    },
                _ = audit_tick.tick() => {
                    let fresh = &self.audit_events_after(cursor).await?;
                    seen.rejections = audit::psa_rejections(fresh, ns).into_iter().filter(|r| r.pod_name.starts_with(&head_prefix)).collect();
                    if let Some(r) = seen.rejections.last() {
                        status.observed(format!("audit: 403 for pods {:?} under {}", r.pod_name, r.policy));
                    }
                }
                _ = settle_timer => seen.settled = true,
            }
        }
    }

    async fn apply_admitted(&mut self, a: &ApplyAdmitted, status: &Status) -> Result<Vec<String>> {
        let client = self.client()?;
        let mut objs = manifest::read(&a.manifest)?;
        let mut evidence = Vec::new();
        if let Some(image) = &a.ray_image {
            let replaced = manifest::set_ray_image(&mut objs, image);
            if !replaced.is_empty() {
                evidence.push(format!(
                    "Ray containers use the pinned image {image} (instead of {})",
                    replaced.join(", ")
                ));
            }
        }
        let cursor = self.audit_events_after(0).await?.len();
        status.awaiting(format!("server-side apply of {}", file_name(&a.manifest)));
        let applied = kube_api::apply(&client, &a.namespace, &objs).await?;
        evidence.insert(
            0,
            format!(
                "applied {} to namespace {}",
                applied.join(", "),
                a.namespace
            ),
        );

        let expectation = AdmissionExpectation {
            heads: a.heads,
            workers: a.workers,
            policy: a.policy.to_string(),
        };
        let prefix = format!("{}-", a.raycluster);
        let mut pod_events = kube_api::pod_events(
            &client,
            &a.namespace,
            &kuberay::cluster_selector(&a.raycluster),
        )
        .boxed();
        let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
        let mut audit_tick = tokio::time::interval(AUDIT_POLL);
        let mut seen = AdmissionEvidence::default();
        loop {
            match verdict::judge_admission(&seen, &expectation) {
                Judgement::Passed(ev) => {
                    evidence.extend(ev);
                    return Ok(evidence);
                }
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
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
                    let node_type = |p: &Pod| p.labels().get(kuberay::NODE_TYPE_LABEL).cloned().unwrap_or_default();
                    let ready = |t: &str| pods.values().filter(|p| node_type(p) == t && kube_api::pod_ready(p)).map(|p| p.name_any()).collect::<Vec<_>>();
                    seen.ready_heads = ready("head");
                    seen.ready_workers = ready("worker");
                    if let Some(stuck) = pods.values().find_map(permanent_failure) {
                        bail!(stuck);
                    }
                    status.observed(pods.values().map(kube_api::pod_summary).collect::<Vec<_>>().join("; "));
                }
                _ = audit_tick.tick() => {
                    let fresh = &self.audit_events_after(cursor).await?;
                    seen.creates = audit::admitted_pod_creates(fresh, &a.namespace);
                    seen.rejections = audit::psa_rejections(fresh, &a.namespace).into_iter().filter(|r| r.pod_name.starts_with(&prefix)).collect();
                }
            }
        }
    }

    async fn port_forward(
        &mut self,
        ns: &str,
        service: &str,
        port: u16,
        probe: &str,
        status: &Status,
    ) -> Result<Vec<String>> {
        let client = self.client()?;
        status.awaiting(format!("a Ready pod behind service {ns}/{service}"));
        let pf = kube_api::port_forward_service(&client, ns, service, port).await?;
        let dash = Dashboard::new(pf.local)?;
        status.awaiting(format!("GET {} to answer", dash.url(probe)));
        let mut tick = tokio::time::interval(DASHBOARD_POLL);
        let body = loop {
            tick.tick().await;
            match dash.get(probe).await {
                Ok(body) => break body,
                Err(e) => status.observed(format!("{e:#}")),
            }
        };
        let answer = match dashboard::parse_version(&body) {
            Ok(v) => format!(
                "Ray {} (dashboard API version {})",
                v.ray_version, v.version
            ),
            Err(_) => body.chars().take(120).collect(),
        };
        let evidence = vec![
            format!(
                "port-forward {} → pod {}:{} (service {service} port {port}), bound to loopback only",
                pf.local, pf.pod, pf.pod_port
            ),
            format!("GET {probe} answers: {answer}"),
        ];
        self.forwards.insert(service.to_string(), (pf, dash));
        Ok(evidence)
    }

    async fn exec(&mut self, e: &Exec, status: &Status) -> Result<Vec<String>> {
        let client = self.client()?;
        status.awaiting(format!("one Running pod with {}", e.selector));
        let pods = kube_api::list_pods(&client, &e.namespace, &e.selector).await?;
        let running: Vec<&Pod> = pods.iter().filter(|p| kube_api::pod_ready(p)).collect();
        let pod = match running.as_slice() {
            [one] => one.name_any(),
            [] => bail!(
                "no Ready pod with {} (found: {})",
                e.selector,
                pods.iter()
                    .map(kube_api::pod_summary)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            many => bail!(
                "{} Ready pods with {}; expected exactly one",
                many.len(),
                e.selector
            ),
        };
        status.awaiting(format!(
            "`{}` in {pod} (container {})",
            e.expect.command_line, e.container
        ));
        let out = kube_api::exec(&client, &e.namespace, &pod, &e.container, &e.command).await?;
        status.observed(format!("exit code {}", out.exit_code));
        let dash = match &e.dashboard {
            Some(svc) => Some(
                self.forwards
                    .get(svc)
                    .map(|(_, d)| d.clone())
                    .ok_or_else(|| anyhow!("no port-forward to {svc}: its step did not pass"))?,
            ),
            None => None,
        };
        let mut tick = tokio::time::interval(DASHBOARD_POLL);
        loop {
            let job = match &dash {
                Some(d) => match d.jobs().await {
                    Ok(jobs) => dashboard::driver_jobs(&jobs, &e.expect.command_line)
                        .first()
                        .map(|j| (*j).clone()),
                    Err(err) => {
                        status.observed(format!("{err:#}"));
                        None
                    }
                },
                None => None,
            };
            match verdict::judge_exec(
                &e.expect,
                out.exit_code,
                &out.stdout,
                &out.stderr,
                job.as_ref(),
            ) {
                Judgement::Passed(mut ev) => {
                    ev.insert(0, format!("pod {pod}, container {}", e.container));
                    return Ok(ev);
                }
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
            }
            tick.tick().await;
        }
    }

    async fn delete(
        &mut self,
        path: &std::path::Path,
        ns: &str,
        status: &Status,
    ) -> Result<Vec<String>> {
        let client = self.client()?;
        let objs = manifest::read(path)?;
        status.awaiting(format!("deletion of the objects in {}", file_name(path)));
        let gone = kube_api::delete_and_wait(&client, ns, &objs, status).await?;
        Ok(vec![format!("deleted and gone: {}", gone.join(", "))])
    }

    /// Deletes the cluster if this run created it and the user did not ask to keep it.
    pub fn cleanup_command(&self) -> Option<crate::cmd::Command> {
        (self.cluster_created && !self.plan.keep_cluster)
            .then(|| self.plan.cluster.delete(&self.sh, &self.kubeconfig))
    }

    /// Stops the port-forwards (their listeners close).
    pub fn close_forwards(&mut self) {
        self.forwards.clear();
    }
}

/// A container state that retrying cannot fix (unlike ImagePullBackOff, which a registry hiccup
/// explains, and which therefore runs into the step's timeout with the reason as last observed).
fn permanent_failure(pod: &Pod) -> Option<String> {
    let st = pod.status.as_ref()?;
    st.init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            let reason = w.reason.as_deref()?;
            matches!(
                reason,
                "InvalidImageName" | "ErrImageNeverPull" | "CreateContainerConfigError"
            )
            .then(|| {
                format!(
                    "pod {} container {}: {reason}: {}",
                    pod.name_any(),
                    c.name,
                    w.message.clone().unwrap_or_default()
                )
            })
        })
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
