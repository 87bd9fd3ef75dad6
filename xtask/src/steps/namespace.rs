//! `namespace`: create the tutorial's namespace with its Pod Security labels, read back.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{
    context::ShellContext,
    session::{Created, Session},
};
use crate::{
    cmd::quote,
    kube_api::{access::Permission, objects},
    pod_security,
    progress::Status,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Planned {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl Spec {
    pub fn plan(&self) -> Planned {
        Planned {
            name: self.name.clone(),
            labels: self.labels.clone(),
        }
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let (name, labels) = (&self.name, &self.labels);
        status.awaiting(format!("namespace {name} to be created"));
        if objects::namespace_exists(&client, name).await? {
            if session.env.existing() {
                bail!(
                    "namespace {name} already exists on this cluster, and a run never touches what it did not create; pass --unique-namespace (or --namespace NAME) to run in a fresh one"
                );
            }
            bail!(
                "namespace {name} already exists (left by an earlier run?); delete it first: kubectl delete ns {name}"
            );
        }
        objects::create_namespace(&client, name).await?;
        if session.env.existing() {
            session.created(Created::Namespace(name.clone()));
        }
        status.awaiting(format!("namespace {name} to carry {} labels", labels.len()));
        let read_back = objects::label_namespace(&client, name, labels).await?;
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
                self.pairs().join(", ")
            ),
            format!("Pod Security enforces {policy} there"),
        ])
    }

    /// Create, label and read back the namespace; delete it at cleanup.
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::all(&["get", "create", "patch", "delete"], "namespaces", None)
    }

    fn pairs(&self) -> Vec<String> {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "namespace {} is created and its {} labels read back as written",
            self.name,
            self.labels.len()
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        let pairs: Vec<String> = self.pairs().iter().map(quote).collect();
        vec![
            format!("{} create ns {}", ctx.kubectl, quote(&self.name)),
            format!(
                "{} label --overwrite ns {} {}",
                ctx.kubectl,
                quote(&self.name),
                pairs.join(" ")
            ),
        ]
    }
}
