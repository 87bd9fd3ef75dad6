//! A loopback port-forward to the pod behind a Service, like
//! `kubectl port-forward --address 127.0.0.1 svc/NAME PORT:PORT`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::{Client, ResourceExt, api::Api};

use super::{conditions::is_pod_ready, objects};

/// A port-forward like `kubectl port-forward --address 127.0.0.1 svc/NAME LOCAL:PORT`: a loopback
/// listener whose every connection opens its own forward to the pod behind the Service.
pub struct PortForward {
    pub local: SocketAddr,
    pub pod: String,
    pub pod_port: u16,
    /// The last connection's failure, for the step that uses the forward to quote.
    last_error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PortForward {
    /// Why the last forwarded connection failed, if one did: a dashboard request that fails
    /// through the tunnel says why the tunnel broke.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Picks the Ready pod behind a Service and the container port its `port` targets.
pub fn service_target(svc: &Service, port: u16, pods: &[Pod]) -> Result<(String, u16)> {
    let name = svc.name_any();
    let spec = svc
        .spec
        .as_ref()
        .ok_or_else(|| anyhow!("service {name} has no spec"))?;
    let sp = spec
        .ports
        .iter()
        .flatten()
        .find(|p| p.port == i32::from(port))
        .ok_or_else(|| anyhow!("service {name} has no port {port}"))?;
    let pod = pods
        .iter()
        .find(|p| is_pod_ready(p))
        .ok_or_else(|| anyhow!("no Ready pod behind service {name}"))?;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let target = match &sp.target_port {
        None => port,
        Some(IntOrString::Int(n)) => u16::try_from(*n)?,
        Some(IntOrString::String(named)) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(named.as_str()))
            .map(|p| u16::try_from(p.container_port))
            .transpose()?
            .ok_or_else(|| anyhow!("pod {} has no container port named {named}", pod.name_any()))?,
    };
    Ok((pod.name_any(), target))
}

pub async fn port_forward_service(
    client: &Client,
    ns: &str,
    service: &str,
    port: u16,
) -> Result<PortForward> {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .with_context(|| format!("cannot get service {ns}/{service}"))?;
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("service {service} has no selector"))?
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = objects::list_pods(client, ns, &selector).await?;
    let (pod, pod_port) = service_target(&svc, port, &pods)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot bind a loopback port")?;
    let local = listener.local_addr()?;
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let last_error = Arc::new(Mutex::new(None));
    let (pod_name, errors) = (pod.clone(), last_error.clone());
    let task = tokio::spawn(async move {
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    record(&errors, format!("accepting on {local}: {e}"));
                    return;
                }
            };
            let (api, pod, errors) = (api.clone(), pod_name.clone(), errors.clone());
            tokio::spawn(async move {
                if let Err(e) = forward_connection(&api, &pod, pod_port, conn).await {
                    record(&errors, format!("{e:#}"));
                }
            });
        }
    });
    Ok(PortForward {
        local,
        pod,
        pod_port,
        last_error,
        task,
    })
}

/// One local connection, forwarded to the pod's port until either side closes.
async fn forward_connection(
    api: &Api<Pod>,
    pod: &str,
    port: u16,
    mut conn: tokio::net::TcpStream,
) -> Result<()> {
    let mut forwarder = api
        .portforward(pod, &[port])
        .await
        .with_context(|| format!("port-forward to pod {pod} port {port}"))?;
    let mut upstream = forwarder
        .take_stream(port)
        .ok_or_else(|| anyhow!("port-forward to pod {pod} gave no stream for port {port}"))?;
    tokio::io::copy_bidirectional(&mut conn, &mut upstream)
        .await
        .with_context(|| format!("forwarding to pod {pod} port {port}"))?;
    drop(upstream);
    forwarder
        .join()
        .await
        .with_context(|| format!("closing the port-forward to pod {pod}"))
}

fn record(slot: &Mutex<Option<String>>, error: String) {
    if let Ok(mut s) = slot.lock() {
        *s = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_target_port_resolves_to_the_containers_port() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "raycluster-pod-security-head-svc"},
            "spec": {"selector": {"ray.io/node-type": "head"}, "ports": [
                {"name": "gcs", "port": 6379, "targetPort": 6379},
                {"name": "dashboard", "port": 8265, "targetPort": "dashboard"}]}
        }))
        .unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "head-x"},
            "spec": {"containers": [{"name": "ray-head", "ports": [{"name": "dashboard", "containerPort": 18265}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(
            service_target(&svc, 8265, std::slice::from_ref(&pod)).unwrap(),
            ("head-x".to_string(), 18265)
        );
        assert_eq!(
            service_target(&svc, 6379, std::slice::from_ref(&pod))
                .unwrap()
                .1,
            6379
        );
        assert!(service_target(&svc, 10001, &[pod]).is_err());
    }
}
