//! `port_forward`: a loopback port-forward to the Ray head service's dashboard port, kept open for
//! later steps; the dashboard answers its probe.

use anyhow::Result;
use serde::Deserialize;

use super::{context::ShellContext, session::Session};
use crate::{
    dashboard::{self, DASHBOARD_POLL, Dashboard},
    kube_api::{access::Permission, port_forward::port_forward_service},
    progress::Status,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    /// A path the dashboard must answer, e.g. `/api/version`.
    pub probe: String,
}

#[derive(Debug)]
pub struct Planned {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    pub probe: String,
}

impl Spec {
    pub fn plan(&self) -> Planned {
        Planned {
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            port: self.port,
            probe: self.probe.clone(),
        }
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let (ns, service, port, probe) = (&self.namespace, &self.service, self.port, &self.probe);
        status.awaiting(format!("a Ready pod behind service {ns}/{service}"));
        let pf = port_forward_service(&client, ns, service, port).await?;
        let dash = Dashboard::new(pf.local)?;
        status.awaiting(format!("GET {} to answer", dash.url(probe)));
        let mut tick = tokio::time::interval(DASHBOARD_POLL);
        let body = loop {
            tick.tick().await;
            match dash.get(probe).await {
                Ok(body) => break body,
                Err(e) => status.observed(match pf.last_error() {
                    Some(tunnel) => format!("{e:#} (port-forward: {tunnel})"),
                    None => format!("{e:#}"),
                }),
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
        session.keep_forward(service, pf, dash);
        Ok(evidence)
    }

    /// The service, its pods, and the forward to one of them (a WebSocket `GET`: `get`, and
    /// from Kubernetes 1.35 also `create`, as for exec).
    pub fn permissions(&self) -> Vec<Permission> {
        let ns = Some(self.namespace.as_str());
        let mut p = Permission::all(&["get"], "services", ns);
        p.extend(Permission::all(&["get", "list"], "pods", ns));
        p.extend(Permission::all(&["get", "create"], "pods/portforward", ns));
        p
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "`GET {}` answers through a port-forward bound to 127.0.0.1",
            self.probe
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        let port = self.port;
        vec![
            format!(
                "{} port-forward --address 127.0.0.1 svc/{} {port}:{port} &",
                ctx.kubectl_in(&self.namespace),
                self.service
            ),
            format!("{}=$!   # stopped before the cleanup", self.pid_variable()),
            ctx.until(&format!("curl -fsS http://127.0.0.1:{port}{}", self.probe)),
        ]
    }

    /// The shell variable the printed commands keep the port-forward's process id in.
    fn pid_variable(&self) -> String {
        format!("PORT_FORWARD_{}", self.port)
    }

    /// The printed command that stops the port-forward `shell` started in the background.
    pub fn stop_line(&self) -> String {
        format!(
            "kill \"${}\"   # the port-forward of svc/{}",
            self.pid_variable(),
            self.service
        )
    }
}
