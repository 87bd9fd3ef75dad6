//! The Kubernetes API, through kube-rs: the client from kind's kubeconfig, watches, server-side
//! apply, delete, exec with its exit status, and a loopback port-forward to a Service.
//!
//! Every wait here is a watch (kube's watcher relists on 410 Gone and backs off on errors) except
//! `wait_api`, a bounded poll: right after `kind create cluster` nothing can be watched yet.

use std::{collections::BTreeMap, fmt::Debug, net::SocketAddr, path::Path, time::Duration};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Event as CoreEvent, Namespace, Node, Pod, Service},
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Client, Config, Resource, ResourceExt,
    api::{
        Api, AttachParams, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
        PatchParams, PostParams,
    },
    config::{KubeConfigOptions, Kubeconfig},
    discovery::{self, Scope},
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;

use crate::progress::Status;

/// The field manager our server-side applies use.
pub const FIELD_MANAGER: &str = "xtask-e2e";

/// A client for the context kind wrote into `kubeconfig`.
pub async fn connect(kubeconfig: &Path, context: &str) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read kubeconfig {}", kubeconfig.display()))?;
    let opts = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kc, &opts)
        .await
        .with_context(|| {
            format!(
                "kubeconfig {} has no usable context {context}",
                kubeconfig.display()
            )
        })?;
    Client::try_from(config).context("cannot build a Kubernetes client")
}

/// Polls `GET /version` until the API server answers (bounded by the step's timeout): after
/// `kind create cluster` returns there is nothing to watch until the API answers.
pub async fn wait_api(
    client: &Client,
    status: &Status,
) -> Result<k8s_openapi::apimachinery::pkg::version::Info> {
    status.awaiting("the API server to answer GET /version");
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    loop {
        interval.tick().await;
        match client.apiserver_version().await {
            Ok(info) => {
                status.observed(format!("API server {}", info.git_version));
                return Ok(info);
            }
            Err(e) => status.observed(format!("GET /version: {e}")),
        }
    }
}

fn key<K: Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default()
    )
}

/// Watches what `config` selects and calls `check` with the complete current set after every
/// change, until it returns `Some`. Watch errors are recorded and retried (with backoff).
pub async fn watch_until<K, T>(
    api: Api<K>,
    config: watcher::Config,
    status: &Status,
    mut check: impl FnMut(&[K]) -> Option<T>,
) -> Result<T>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut stream = watcher(api, config).default_backoff().boxed();
    let (mut current, mut init) = (BTreeMap::new(), BTreeMap::new());
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => init.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                init.insert(key(&o), o);
            }
            Ok(watcher::Event::InitDone) => {
                current = std::mem::take(&mut init);
                listed = true;
            }
            Ok(watcher::Event::Apply(o)) => {
                current.insert(key(&o), o);
            }
            Ok(watcher::Event::Delete(o)) => {
                current.remove(&key(&o));
            }
            Err(e) => {
                status.observed(format!("watch error (retrying): {e}"));
                continue;
            }
        }
        if listed {
            let objects: Vec<K> = current.values().cloned().collect();
            if let Some(t) = check(&objects) {
                return Ok(t);
            }
        }
    }
    bail!("the watch ended")
}

pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

pub async fn wait_nodes_ready(client: &Client, status: &Status) -> Result<Vec<String>> {
    status.awaiting("every node Ready");
    watch_until(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        status,
        |nodes| {
            let ready: Vec<String> = nodes
                .iter()
                .filter(|n| node_ready(n))
                .map(|n| n.name_any())
                .collect();
            status.observed(format!("{}/{} nodes Ready", ready.len(), nodes.len()));
            (!nodes.is_empty() && ready.len() == nodes.len()).then_some(ready)
        },
    )
    .await
}

pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("cannot create namespace {name}"))?;
    Ok(())
}

/// Sets labels like `kubectl label --overwrite` (a merge patch) and returns the labels read back.
pub async fn label_namespace(
    client: &Client,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let api = Api::<Namespace>::all(client.clone());
    let patch = serde_json::json!({"metadata": {"labels": labels}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("cannot label namespace {name}"))?;
    let ns = api
        .get(name)
        .await
        .with_context(|| format!("cannot read namespace {name} back"))?;
    Ok(ns.metadata.labels.unwrap_or_default())
}

/// Deletes a namespace (and so everything in it) and watches until it is gone.
pub async fn delete_namespace_and_wait(client: &Client, name: &str, status: &Status) -> Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot delete namespace {name}")),
    }
    status.awaiting(format!("namespace {name} to be gone"));
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    watch_until(api, cfg, status, |left| {
        if let Some(ns) = left.first() {
            let phase = ns
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            status.observed(format!("namespace {name}: {phase}"));
        }
        left.is_empty().then_some(())
    })
    .await
}

pub async fn namespace_exists(client: &Client, name: &str) -> Result<bool> {
    Ok(Api::<Namespace>::all(client.clone())
        .get_opt(name)
        .await?
        .is_some())
}

pub async fn wait_crd_established(client: &Client, name: &str, status: &Status) -> Result<()> {
    status.awaiting(format!("CRD {name} Established"));
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    watch_until(
        Api::<CustomResourceDefinition>::all(client.clone()),
        cfg,
        status,
        |crds| {
            let est = crds.iter().any(|c| {
                c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            status.observed(if crds.is_empty() {
                format!("no CRD {name} yet")
            } else {
                format!("CRD {name} established={est}")
            });
            est.then_some(())
        },
    )
    .await
}

pub async fn wait_deployment_available(
    client: &Client,
    ns: &str,
    name: &str,
    status: &Status,
) -> Result<Deployment> {
    status.awaiting(format!("Deployment {ns}/{name} Available"));
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    watch_until(
        Api::<Deployment>::namespaced(client.clone(), ns),
        cfg,
        status,
        |ds| {
            let d = ds.first()?;
            let conds = d.status.as_ref().and_then(|s| s.conditions.as_ref());
            let summary: Vec<String> = conds
                .into_iter()
                .flatten()
                .map(|c| format!("{}={}", c.type_, c.status))
                .collect();
            let failure = conds
                .into_iter()
                .flatten()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True");
            status.observed(match failure {
                Some(f) => format!(
                    "Deployment {name}: ReplicaFailure: {}",
                    f.message.clone().unwrap_or_default()
                ),
                None => format!(
                    "Deployment {name}: {}",
                    if summary.is_empty() {
                        "no conditions yet".into()
                    } else {
                        summary.join(", ")
                    }
                ),
            });
            conds
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Available" && c.status == "True")
                .then(|| d.clone())
        },
    )
    .await
}

/// Running, and its Ready condition True.
pub fn pod_ready(pod: &Pod) -> bool {
    let Some(st) = &pod.status else { return false };
    st.phase.as_deref() == Some("Running")
        && st
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A one-line account of a pod: phase, readiness and the first waiting reason (ImagePullBackOff…).
pub fn pod_summary(pod: &Pod) -> String {
    let st = pod.status.as_ref();
    let phase = st
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let waiting = st
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            Some(format!(
                " {} {}",
                c.name,
                w.reason.clone().unwrap_or_default()
            ))
        })
        .unwrap_or_default();
    format!(
        "{} {}{}{}",
        pod.name_any(),
        phase,
        if pod_ready(pod) { " Ready" } else { "" },
        waiting
    )
}

pub async fn list_pods(client: &Client, ns: &str, selector: &str) -> Result<Vec<Pod>> {
    Ok(Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
}

/// Waits until the pods matching `selector` are exactly `count`, all Running and Ready.
pub async fn wait_pods_ready(
    client: &Client,
    ns: &str,
    selector: &str,
    count: usize,
    status: &Status,
) -> Result<Vec<Pod>> {
    status.awaiting(format!("{count} Ready pod(s) with {selector}"));
    let cfg = watcher::Config::default().labels(selector);
    watch_until(
        Api::<Pod>::namespaced(client.clone(), ns),
        cfg,
        status,
        |pods| {
            let live: Vec<&Pod> = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            status.observed(if live.is_empty() {
                format!("no pods with {selector}")
            } else {
                live.iter()
                    .map(|p| pod_summary(p))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            (live.len() == count && live.iter().all(|p| pod_ready(p)))
                .then(|| live.into_iter().cloned().collect())
        },
    )
    .await
}

/// Resolves an object's API resource by discovery (real plural and scope, as kubectl does).
pub async fn api_for(client: &Client, obj: &DynamicObject, ns: &str) -> Result<Api<DynamicObject>> {
    let types = obj
        .types
        .as_ref()
        .ok_or_else(|| anyhow!("object {} has no apiVersion/kind", obj.name_any()))?;
    let gvk = GroupVersionKind::try_from(types).map_err(|e| anyhow!("{e}"))?;
    let (ar, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| {
            format!(
                "the API server does not serve {} {} (is its CRD installed?)",
                types.api_version, types.kind
            )
        })?;
    Ok(match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    })
}

/// Server-side apply of each object (like `kubectl apply --server-side --force-conflicts`).
pub async fn apply(client: &Client, ns: &str, objects: &[DynamicObject]) -> Result<Vec<String>> {
    let mut applied = Vec::new();
    for obj in objects {
        let api = api_for(client, obj, ns).await?;
        let name = obj.name_any();
        let kind = crate::manifest::kind_of(obj);
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await
        .with_context(|| format!("server-side apply of {kind} {ns}/{name} failed"))?;
        applied.push(format!("{kind}/{name}"));
    }
    Ok(applied)
}

/// Deletes each object (background propagation, like kubectl) and watches until all are gone.
pub async fn delete_and_wait(
    client: &Client,
    ns: &str,
    objects: &[DynamicObject],
    status: &Status,
) -> Result<Vec<String>> {
    let mut gone = Vec::new();
    for obj in objects {
        let api = api_for(client, obj, ns).await?;
        let name = obj.name_any();
        let kind = crate::manifest::kind_of(obj);
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => status.observed(format!("{kind}/{name} delete accepted")),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                status.observed(format!("{kind}/{name} was already gone"))
            }
            Err(e) => return Err(e).with_context(|| format!("cannot delete {kind} {ns}/{name}")),
        }
        status.awaiting(format!("{kind}/{name} to be gone"));
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        watch_until(api, cfg, status, |left| left.is_empty().then_some(())).await?;
        gone.push(format!("{kind}/{name}"));
    }
    Ok(gone)
}

/// What a command run in a container did.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` in a container and reads its exit code from the exec status channel: `Success`,
/// or `Failure`/`NonZeroExitCode` with the code in `details.causes[reason=ExitCode]`. Any other
/// failure (no such container, cannot start) is an error, not an exit code.
pub async fn exec(
    client: &Client,
    ns: &str,
    pod: &str,
    container: &str,
    command: &[String],
) -> Result<ExecOutput> {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut proc = api
        .exec(pod, command.to_vec(), &params)
        .await
        .with_context(|| format!("cannot exec in {ns}/{pod} container {container}"))?;
    let status = proc
        .take_status()
        .ok_or_else(|| anyhow!("exec gave no status channel"))?;
    let (mut so, mut se) = (
        proc.stdout().ok_or_else(|| anyhow!("no stdout"))?,
        proc.stderr().ok_or_else(|| anyhow!("no stderr"))?,
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Both pipes must be drained at once: an unread pipe blocks the other.
    let (a, b) = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
    a.context("reading the exec's stdout")?;
    b.context("reading the exec's stderr")?;
    let status = status.await;
    let _ = proc.join().await;
    let exit_code = exit_code_of(status.as_ref())?;
    Ok(ExecOutput {
        exit_code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// The exit code in an exec's final Status.
pub fn exit_code_of(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Result<i32> {
    let Some(s) = status else {
        bail!("the exec stream closed without a status")
    };
    match (s.status.as_deref(), s.reason.as_deref()) {
        (Some("Success"), _) => Ok(0),
        (Some("Failure"), Some("NonZeroExitCode")) => s
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.reason.as_deref() == Some("ExitCode"))
            .and_then(|c| c.message.as_deref()?.parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "NonZeroExitCode without an ExitCode cause: {}",
                    s.message.clone().unwrap_or_default()
                )
            }),
        _ => bail!(
            "exec failed: {} ({})",
            s.message.clone().unwrap_or_default(),
            s.reason.clone().unwrap_or_default()
        ),
    }
}

/// A port-forward like `kubectl port-forward --address 127.0.0.1 svc/NAME LOCAL:PORT`: a loopback
/// listener whose every connection opens its own forward to the pod behind the Service.
pub struct PortForward {
    pub local: SocketAddr,
    pub pod: String,
    pub pod_port: u16,
    task: tokio::task::JoinHandle<()>,
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
        .find(|p| pod_ready(p))
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
    let pods = list_pods(client, ns, &selector).await?;
    let (pod, pod_port) = service_target(&svc, port, &pods)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot bind a loopback port")?;
    let local = listener.local_addr()?;
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let pod_name = pod.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let api = api.clone();
            let pod = pod_name.clone();
            tokio::spawn(async move {
                let Ok(mut forwarder) = api.portforward(&pod, &[pod_port]).await else {
                    return;
                };
                let Some(mut upstream) = forwarder.take_stream(pod_port) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                drop(upstream);
                let _ = forwarder.join().await;
            });
        }
    });
    Ok(PortForward {
        local,
        pod,
        pod_port,
        task,
    })
}

/// The `.status.conditions` of a custom object, as (type, status, reason, message).
pub fn custom_conditions(obj: &DynamicObject) -> Vec<(String, String, String, String)> {
    obj.data
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| {
                c.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            (s("type"), s("status"), s("reason"), s("message"))
        })
        .collect()
}

/// Watches pods matching `selector` and sends each new pod name seen (used to prove absence).
pub fn pod_names_stream(
    client: &Client,
    ns: &str,
    selector: &str,
) -> impl futures::Stream<Item = Result<Vec<String>>> + Send + use<> {
    watcher(
        Api::<Pod>::namespaced(client.clone(), ns),
        watcher::Config::default().labels(selector),
    )
    .default_backoff()
    .applied_objects()
    .map_ok(|p: Pod| vec![p.name_any()])
    .map_err(anyhow::Error::from)
}

/// Watches the pods matching `selector`: every add, change and delete.
pub fn pod_events(
    client: &Client,
    ns: &str,
    selector: &str,
) -> impl futures::Stream<Item = Result<watcher::Event<Pod>>> + Send + use<> {
    watcher(
        Api::<Pod>::namespaced(client.clone(), ns),
        watcher::Config::default().labels(selector),
    )
    .default_backoff()
    .map_err(anyhow::Error::from)
}

/// Watches a custom object by name and yields every version of it.
pub fn object_stream(
    api: Api<DynamicObject>,
    name: &str,
) -> impl futures::Stream<Item = Result<DynamicObject>> + Send + use<> {
    watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .applied_objects()
    .map_err(anyhow::Error::from)
}

/// Watches core Events in a namespace.
pub fn event_stream(
    client: &Client,
    ns: &str,
) -> impl futures::Stream<Item = Result<CoreEvent>> + Send + use<> {
    watcher(
        Api::<CoreEvent>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .applied_objects()
    .map_err(anyhow::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        Status as K8sStatus, StatusCause, StatusDetails,
    };

    #[test]
    fn exit_codes_come_from_the_status_channel() {
        let ok = K8sStatus {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_code_of(Some(&ok)).unwrap(), 0);
        let failed = K8sStatus {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause { reason: Some("ExitCode".into()), message: Some("3".into()), field: None }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code_of(Some(&failed)).unwrap(), 3);
        let other = K8sStatus {
            status: Some("Failure".into()),
            reason: Some("InternalError".into()),
            message: Some("container not found".into()),
            ..Default::default()
        };
        assert!(
            exit_code_of(Some(&other))
                .unwrap_err()
                .to_string()
                .contains("container not found")
        );
        assert!(exit_code_of(None).is_err());
    }

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
