//! What the run's user may do: each right asked of the API server with a SelfSubjectAccessReview
//! (`kubectl auth can-i`), before anything is touched.

use std::fmt;

use anyhow::{Context, Result};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::{Api, Client, api::PostParams};

/// One right: a verb on a resource (and subresource), in a namespace or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub verb: String,
    /// The API group; empty for the core group.
    pub group: String,
    /// The resource's plural, e.g. `pods`.
    pub resource: String,
    /// e.g. `exec`; empty for none.
    pub subresource: String,
    /// None: cluster-wide (or a cluster-scoped resource).
    pub namespace: Option<String>,
    /// Needed only while this CRD is not installed (e.g. the rights to install it).
    pub unless_crd: Option<String>,
}

impl Permission {
    /// `verb` on `resource` (`pods`, `pods/exec`, `deployments.apps`) in `namespace`.
    pub fn new(verb: &str, resource: &str, namespace: Option<&str>) -> Permission {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
        Permission {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.map(str::to_string),
            unless_crd: None,
        }
    }

    /// The same right, needed only while CRD `name` is not installed.
    pub fn unless_crd_exists(mut self, name: &str) -> Permission {
        self.unless_crd = Some(name.to_string());
        self
    }

    /// Each verb on `resource`.
    pub fn all(verbs: &[&str], resource: &str, namespace: Option<&str>) -> Vec<Permission> {
        verbs
            .iter()
            .map(|v| Permission::new(v, resource, namespace))
            .collect()
    }

    /// The rights an object of this `apiVersion` and `kind` needs for `verbs` (the resource is
    /// the kind's lowercase plural, as for every kind the tutorial's manifests hold).
    pub fn for_kind(
        verbs: &[&str],
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Vec<Permission> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let plural = format!("{}s", kind.to_lowercase());
        let resource = if group.is_empty() {
            plural
        } else {
            format!("{plural}.{group}")
        };
        Permission::all(verbs, &resource, Some(namespace))
    }
}

impl Permission {
    /// As `kubectl auth can-i` takes it: `create pods --subresource=exec -n NS`, `get namespaces`
    /// (`pods/exec` would be the pod named `exec` there).
    pub fn can_i_args(&self) -> String {
        let mut out = format!("{} {}", self.verb, self.resource);
        if !self.group.is_empty() {
            out.push_str(&format!(".{}", self.group));
        }
        if !self.subresource.is_empty() {
            out.push_str(&format!(" --subresource={}", self.subresource));
        }
        if let Some(ns) = &self.namespace {
            out.push_str(&format!(" -n {ns}"));
        }
        out
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.can_i_args())?;
        if self.namespace.is_none() {
            f.write_str(" (cluster-wide)")?;
        }
        Ok(())
    }
}

/// The API server's answer about one right.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub allowed: bool,
    /// The authorizer's reason or evaluation error, if it gave one.
    pub reason: String,
}

/// Asks the API server whether the client's user has `p`.
pub async fn can_i(client: &Client, p: &Permission) -> Result<Answer> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(p.verb.clone()),
                group: Some(p.group.clone()),
                resource: Some(p.resource.clone()),
                subresource: (!p.subresource.is_empty()).then(|| p.subresource.clone()),
                namespace: p.namespace.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answered = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .with_context(|| format!("cannot ask the API server whether it allows `{p}`"))?;
    let status = answered.status.unwrap_or_default();
    let reason = [status.reason, status.evaluation_error]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Answer {
        allowed: status.allowed && !status.denied.unwrap_or(false),
        reason,
    })
}

/// The rights in `needed` the user lacks (each asked once), with the authorizer's reason.
pub async fn missing(client: &Client, needed: &[Permission]) -> Result<Vec<(Permission, Answer)>> {
    let mut asked: Vec<&Permission> = needed.iter().collect();
    asked.sort();
    asked.dedup();
    let mut out = Vec::new();
    for p in asked {
        let answer = can_i(client, p).await?;
        if !answer.allowed {
            out.push((p.clone(), answer));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_are_written_as_kubectl_auth_can_i_takes_them() {
        let p = Permission::new("create", "pods/exec", Some("ns"));
        assert_eq!(
            (p.resource.as_str(), p.subresource.as_str()),
            ("pods", "exec")
        );
        assert_eq!(p.to_string(), "create pods --subresource=exec -n ns");
        let crd = Permission::new(
            "get",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
        );
        assert_eq!(crd.group, "apiextensions.k8s.io");
        assert_eq!(
            crd.to_string(),
            "get customresourcedefinitions.apiextensions.k8s.io (cluster-wide)"
        );
        let rc = Permission::for_kind(&["patch"], "ray.io/v1", "RayCluster", "ns");
        assert_eq!(rc[0].to_string(), "patch rayclusters.ray.io -n ns");
        let cm = Permission::for_kind(&["delete"], "v1", "ConfigMap", "ns");
        assert_eq!(cm[0].to_string(), "delete configmaps -n ns");
    }
}
