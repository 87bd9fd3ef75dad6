//! The client, from the kubeconfig kind wrote (or a user's).

use std::path::Path;

use anyhow::{Context, Result};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

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
