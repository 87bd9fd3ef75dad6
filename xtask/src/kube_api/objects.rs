//! Objects by name: namespaces, server-side apply and delete of manifest objects (their API found
//! by discovery, as kubectl does), and pod lists.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{Namespace, Pod},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Client, ResourceExt,
    api::{
        Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams,
    },
    discovery::{self, Scope},
};

use super::wait;
use crate::progress::Status;

/// The field manager our server-side applies use.
pub const FIELD_MANAGER: &str = "xtask-e2e";

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

pub async fn namespace_exists(client: &Client, name: &str) -> Result<bool> {
    Ok(Api::<Namespace>::all(client.clone())
        .get_opt(name)
        .await?
        .is_some())
}

/// The CustomResourceDefinition named `name` (`PLURAL.GROUP`), if installed.
pub async fn crd(client: &Client, name: &str) -> Result<Option<CustomResourceDefinition>> {
    Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(name)
        .await
        .with_context(|| format!("cannot read CRD {name}"))
}

/// The Deployments in every namespace that `selector` selects.
pub async fn deployments_everywhere(client: &Client, selector: &str) -> Result<Vec<Deployment>> {
    Ok(Api::<Deployment>::all(client.clone())
        .list(&ListParams::default().labels(selector))
        .await
        .with_context(|| format!("cannot list Deployments with {selector} in every namespace"))?
        .items)
}

pub async fn list_pods(client: &Client, ns: &str, selector: &str) -> Result<Vec<Pod>> {
    Ok(Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
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
        wait::object_gone(api, &name, status).await?;
        gone.push(format!("{kind}/{name}"));
    }
    Ok(gone)
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
    wait::object_gone(api, name, status).await
}
