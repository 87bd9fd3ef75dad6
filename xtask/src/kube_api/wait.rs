//! Waits. Sets of objects (nodes, pods) are watched with `watch_until`, which sees the complete
//! current set after every change; one object by name is awaited with `await_object`, kube-runtime's
//! `await_condition` made to survive watch errors. Each says what it saw last on the step's status.
//!
//! The only poll is `api_answers`: right after `kind create cluster` returns there is nothing to
//! watch until the API server answers.

use std::{collections::BTreeMap, fmt::Debug, time::Duration};

use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Node, Pod},
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Client, Resource, ResourceExt,
    api::Api,
    runtime::{
        WatchStreamExt,
        wait::{Condition, conditions},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use super::conditions::{
    deployment_summary, is_deployment_available, is_node_ready, is_pod_ready, pod_summary,
    progress_deadline_exceeded,
};
use crate::progress::Status;

/// Polls `GET /version` until the API server answers (bounded by the step's timeout): after
/// `kind create cluster` returns there is nothing to watch until the API answers.
pub async fn api_answers(
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

/// Watches the object `name` until `done` holds for it (`None`: the object does not exist), and
/// returns it as it was then. This is kube-runtime's `await_condition`, except that a watch error
/// is reported as last observed and retried with backoff instead of ending the wait: the API
/// server may answer 429/503 for a while, and that must not fail a step.
pub async fn await_object<K>(
    api: Api<K>,
    name: &str,
    status: &Status,
    describe: impl Fn(Option<&K>) -> String,
    done: impl Condition<K>,
) -> Result<Option<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut versions = watcher::watch_object(api, name).default_backoff().boxed();
    while let Some(version) = versions.next().await {
        match version {
            Ok(obj) => {
                status.observed(describe(obj.as_ref()));
                if done.matches_object(obj.as_ref()) {
                    return Ok(obj);
                }
            }
            Err(e) => status.observed(format!("watch error (retrying): {e}")),
        }
    }
    bail!("the watch of {name} ended")
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

pub async fn nodes_ready(client: &Client, status: &Status) -> Result<Vec<String>> {
    status.awaiting("every node Ready");
    watch_until(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        status,
        |nodes| {
            let ready: Vec<String> = nodes
                .iter()
                .filter(|n| is_node_ready(n))
                .map(|n| n.name_any())
                .collect();
            status.observed(format!("{}/{} nodes Ready", ready.len(), nodes.len()));
            (!nodes.is_empty() && ready.len() == nodes.len()).then_some(ready)
        },
    )
    .await
}

/// Waits until the pods matching `selector` are exactly `count`, all Running and Ready; fails
/// at once when `stuck` says a pod will not get there.
pub async fn pods_ready(
    client: &Client,
    ns: &str,
    selector: &str,
    count: usize,
    status: &Status,
    stuck: impl Fn(&Pod) -> Option<String>,
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
            if let Some(why) = live.iter().find_map(|p| stuck(p)) {
                return Some(Err(anyhow::anyhow!(why)));
            }
            (live.len() == count && live.iter().all(|p| is_pod_ready(p)))
                .then(|| Ok(live.into_iter().cloned().collect()))
        },
    )
    .await?
}

pub async fn crd_established(client: &Client, name: &str, status: &Status) -> Result<()> {
    status.awaiting(format!("CRD {name} Established"));
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let describe = |crd: Option<&CustomResourceDefinition>| match crd {
        None => format!("no CRD {name} yet"),
        Some(_) => format!("CRD {name} not Established yet"),
    };
    await_object(
        api,
        name,
        status,
        describe,
        conditions::is_crd_established(),
    )
    .await?;
    Ok(())
}

/// Reads the CRD `name` once: it must be there and Established.
pub async fn crd_is_established(client: &Client, name: &str) -> Result<()> {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(name)
        .await?;
    if !conditions::is_crd_established().matches_object(crd.as_ref()) {
        anyhow::bail!("CRD {name} is installed but not Established");
    }
    Ok(())
}

/// Watches the Deployment `ns/name` until `done` holds for it, saying its conditions as it goes.
async fn await_deployment(
    client: &Client,
    ns: &str,
    name: &str,
    status: &Status,
    done: impl Condition<Deployment>,
) -> Result<Deployment> {
    let api = Api::<Deployment>::namespaced(client.clone(), ns);
    let describe = |d: Option<&Deployment>| match d {
        None => format!("no Deployment {name} yet"),
        Some(d) => deployment_summary(d),
    };
    match await_object(api, name, status, describe, done).await? {
        Some(d) => Ok(d),
        None => bail!("Deployment {ns}/{name} is gone"),
    }
}

/// Waits until the Deployment exists and returns it.
pub async fn deployment_exists(
    client: &Client,
    ns: &str,
    name: &str,
    status: &Status,
) -> Result<Deployment> {
    status.awaiting(format!("Deployment {ns}/{name} to exist"));
    await_deployment(client, ns, name, status, |d: Option<&Deployment>| {
        d.is_some()
    })
    .await
}

/// Waits for the Deployment's Available condition and returns the Deployment; fails when it is
/// past its progress deadline (the controller has given up on it).
pub async fn deployment_available(
    client: &Client,
    ns: &str,
    name: &str,
    status: &Status,
) -> Result<Deployment> {
    status.awaiting(format!("Deployment {ns}/{name} Available"));
    let decided = |d: Option<&Deployment>| {
        d.is_some_and(|d| is_deployment_available(d) || progress_deadline_exceeded(d).is_some())
    };
    let d = await_deployment(client, ns, name, status, decided).await?;
    if is_deployment_available(&d) {
        return Ok(d);
    }
    bail!(
        "Deployment {ns}/{name}: {}",
        progress_deadline_exceeded(&d).unwrap_or_default()
    )
}

/// Waits until the object `name` no longer exists.
pub async fn object_gone<K>(api: Api<K>, name: &str, status: &Status) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let describe = |o: Option<&K>| match o {
        None => format!("{name} is gone"),
        Some(o) if o.meta().deletion_timestamp.is_some() => format!("{name} is terminating"),
        Some(_) => format!("{name} still exists"),
    };
    await_object(api, name, status, describe, |o: Option<&K>| o.is_none()).await?;
    Ok(())
}
