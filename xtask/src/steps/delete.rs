//! `delete`: delete a manifest's objects and watch until every one is gone.

use std::path::PathBuf;

use anyhow::Result;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    context::{PlanContext, ShellContext, file_name},
    session::Session,
};
use crate::{
    cmd::quote,
    kube_api::{access::Permission, objects},
    manifest,
    progress::Status,
    scenario::ScenarioError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub manifest: Spanned<String>,
    pub namespace: String,
}

#[derive(Debug)]
pub struct Planned {
    pub manifest: PathBuf,
    pub namespace: String,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        Ok(Planned {
            manifest: ctx.source.resolve(&self.manifest)?,
            namespace: self.namespace.clone(),
        })
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let client = session.client()?;
        let objs = manifest::read(&self.manifest)?;
        status.awaiting(format!(
            "deletion of the objects in {}",
            file_name(&self.manifest)
        ));
        let gone = objects::delete_and_wait(&client, &self.namespace, &objs, status).await?;
        Ok(vec![format!("deleted and gone: {}", gone.join(", "))])
    }

    /// Deleting the manifest's objects and watching until they are gone.
    pub fn permissions(&self) -> Vec<Permission> {
        super::manifest_permissions(
            &self.manifest,
            &["get", "list", "watch", "delete"],
            &self.namespace,
        )
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "every object of {} is deleted and gone",
            file_name(&self.manifest)
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        vec![format!(
            "{} delete -n {} -f {} --wait",
            ctx.kubectl,
            quote(&self.namespace),
            quote(&self.manifest)
        )]
    }
}
