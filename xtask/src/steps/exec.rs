//! `exec`: run a command in the one Ready pod a selector picks (the XGBoost example, `pip3
//! install`), judged by its own exit code from the exec status channel, its output, and, when
//! asked, the DRIVER job the Ray dashboard lists for it (necessary, never sufficient: a DRIVER job
//! is `SUCCEEDED` whatever the script's exit code).

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    context::{PlanContext, ShellContext},
    session::Session,
};
use crate::{
    cmd::quote,
    dashboard::{self, DASHBOARD_POLL, RayJob, RayJobStatus},
    kube_api::{access::Permission, conditions, exec, objects},
    progress::Status,
    scenario::{Pattern, ScenarioError},
    verdict::{self, ExecExpectation, Judgement},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub namespace: String,
    /// Label selector that must match exactly one Ready pod.
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    pub exit_code: i32,
    /// A regular expression stdout must match.
    #[serde(default)]
    pub stdout: Option<Pattern>,
    /// Status the Ray dashboard must report for a DRIVER job with this command as entrypoint.
    #[serde(default)]
    pub dashboard_job: Option<RayJobStatus>,
    /// The service whose port-forward reaches the dashboard (a `port_forward` step before this one).
    #[serde(default)]
    pub dashboard: Option<Spanned<String>>,
}

/// The dashboard a job is looked up in: an earlier port-forward's service and port.
#[derive(Debug, Clone)]
pub struct DashboardRef {
    pub service: String,
    pub port: u16,
}

#[derive(Debug)]
pub struct Planned {
    pub namespace: String,
    /// Label selector of the pod.
    pub selector: String,
    pub container: String,
    pub command: Vec<String>,
    pub expect: ExecExpectation,
    pub dashboard: Option<DashboardRef>,
}

impl Spec {
    pub fn check(&self) -> Result<(), String> {
        if self.command.is_empty() {
            return Err("exec.command is empty".into());
        }
        if self.dashboard_job.is_some() && self.dashboard.is_none() {
            return Err(
                "dashboard_job needs `dashboard: <service>` (a port_forward step's service)".into(),
            );
        }
        Ok(())
    }

    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        let dashboard = match &self.dashboard {
            None => None,
            Some(service) => Some(forwarded(ctx, service)?),
        };
        Ok(Planned {
            namespace: self.namespace.clone(),
            selector: self.pod.clone(),
            container: self.container.clone(),
            command: self.command.clone(),
            expect: ExecExpectation {
                command_line: self.command.join(" "),
                exit_code: self.exit_code,
                stdout: self.stdout.as_ref().map(|p| p.0.clone()),
                dashboard_status: self.dashboard_job,
            },
            dashboard,
        })
    }
}

/// The port-forward of `service` that an earlier step opens.
fn forwarded(ctx: &PlanContext, service: &Spanned<String>) -> Result<DashboardRef, ScenarioError> {
    match ctx.forwarded_port(&service.value) {
        Some(port) => Ok(DashboardRef {
            service: service.value.clone(),
            port,
        }),
        None => Err(ctx.source.error(
            service,
            format!(
                "no port_forward step of service {:?} comes before this step",
                service.value
            ),
        )),
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let pod = self.the_ready_pod(&client, status).await?;
        status.awaiting(format!(
            "`{}` in {pod} (container {})",
            self.expect.command_line, self.container
        ));
        let out = exec::exec(
            &client,
            &self.namespace,
            &pod,
            &self.container,
            &self.command,
        )
        .await?;
        status.observed(format!("exit code {}", out.exit_code));
        let mut tick = tokio::time::interval(DASHBOARD_POLL);
        loop {
            let job = match &self.dashboard {
                Some(d) => self.driver_job(session, &d.service, status).await?,
                None => None,
            };
            match verdict::judge_exec(&self.expect, &out, job.as_ref()) {
                Judgement::Passed(mut evidence) => {
                    evidence.insert(0, format!("pod {pod}, container {}", self.container));
                    return Ok(evidence);
                }
                Judgement::Failed(why) => bail!(why),
                Judgement::Pending(what) => status.awaiting(what),
            }
            tick.tick().await;
        }
    }

    async fn the_ready_pod(&self, client: &kube::Client, status: &Status) -> Result<String> {
        status.awaiting(format!("one Running pod with {}", self.selector));
        let pods = objects::list_pods(client, &self.namespace, &self.selector).await?;
        let ready: Vec<&Pod> = pods
            .iter()
            .filter(|p| conditions::is_pod_ready(p))
            .collect();
        match ready.as_slice() {
            [one] => Ok(one.name_any()),
            [] => bail!(
                "no Ready pod with {} (found: {})",
                self.selector,
                pods.iter()
                    .map(conditions::pod_summary)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            many => bail!(
                "{} Ready pods with {}; expected exactly one",
                many.len(),
                self.selector
            ),
        }
    }

    /// The newest DRIVER job of this command the dashboard lists; a failed request is observed
    /// (with the port-forward's own error, if it has one) and retried on the next tick.
    async fn driver_job(
        &self,
        session: &Session<'_>,
        service: &str,
        status: &Status,
    ) -> Result<Option<RayJob>> {
        let (dash, forward) = session.dashboard(service)?;
        Ok(match dash.jobs().await {
            Ok(jobs) => dashboard::driver_jobs(&jobs, &self.expect.command_line)
                .first()
                .map(|j| (*j).clone()),
            Err(err) => {
                status.observed(match forward.last_error() {
                    Some(tunnel) => format!("{err:#} (port-forward: {tunnel})"),
                    None => format!("{err:#}"),
                });
                None
            }
        })
    }

    /// Finding the pod, and the exec in it. The harness's exec is a WebSocket `GET`, which API
    /// servers authorize as `get pods/exec`, and from 1.35 also as `create` (the feature gate
    /// AuthorizePodWebsocketUpgradeCreatePermission); kubectl's SPDY `POST` needs `create`.
    pub fn permissions(&self) -> Vec<Permission> {
        let ns = Some(self.namespace.as_str());
        let mut p = Permission::all(&["get", "list"], "pods", ns);
        p.extend(Permission::all(&["get", "create"], "pods/exec", ns));
        p
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        let mut proof = format!(
            "`{}` exits {}, read from the exec status channel",
            self.expect.command_line, self.expect.exit_code
        );
        if let Some(re) = &self.expect.stdout {
            proof.push_str(&format!("; its output matches `{}`", re.as_str()));
        }
        if let Some(status) = &self.expect.dashboard_status {
            proof.push_str(&format!(
                "; the dashboard lists its DRIVER job as {status} (never enough alone: a DRIVER job is SUCCEEDED whatever its exit code)"
            ));
        }
        proof
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        let kubectl = ctx.kubectl_in(&self.namespace);
        let pod = format!(
            "\"$({kubectl} get pod -l {} -o name)\"",
            quote(&self.selector)
        );
        let argv: Vec<String> = self.command.iter().map(quote).collect();
        let mut lines = vec![
            format!(
                "{kubectl} exec {pod} -c {} -- {}",
                quote(&self.container),
                argv.join(" "),
            ),
            format!(
                "echo \"exit code: $?\"   # expect: {}",
                self.expect.exit_code
            ),
        ];
        if let (Some(status), Some(d)) = (&self.expect.dashboard_status, &self.dashboard) {
            lines.push(format!(
                "curl -fsS http://127.0.0.1:{}/api/jobs/   # expect: a DRIVER job with entrypoint \"{}\" {status}",
                d.port, self.expect.command_line
            ));
        }
        lines
    }
}
