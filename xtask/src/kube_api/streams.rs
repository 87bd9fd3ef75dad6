//! Watch streams a step selects over when it waits for several things at once (pods, events, a
//! custom object). Each is a kube-runtime watcher with backoff: it relists on 410 Gone and retries
//! on errors, which it also yields so the step can say what it saw.

use anyhow::Result;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::{
    Client, ResourceExt,
    api::{Api, DynamicObject},
    runtime::{WatchStreamExt, watcher},
};

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
