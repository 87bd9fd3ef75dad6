//! A cluster boots: its apiserver listens, the bootstrap objects exist, and the control loops
//! (node lifecycle, deployments), the kubelet and the KubeRay operator run until it is deleted.
//! The fake `kind` decides *when* (its transcript); this decides *what* a running cluster is.

use std::sync::Arc;

use crate::cluster::Cluster;
use crate::containers::Behaviours;
use crate::{apiserver, controllers, kubelet, operator, ray};

pub async fn boot(cluster: &Arc<Cluster>) -> std::io::Result<()> {
    apiserver::start(cluster.clone()).await?;
    controllers::bootstrap(cluster);
    // Subscribed before anything else runs, so that no change is missed.
    tokio::spawn(controllers::react_to_changes(
        cluster.clone(),
        cluster.store.subscribe(),
    ));
    tokio::spawn(controllers::node_lifecycle(cluster.clone()));
    tokio::spawn(controllers::deployment_controller(cluster.clone()));
    let behaviours = Behaviours::default()
        .with(ray::behaviours())
        .with(operator::behaviours());
    cluster.set_pull_latencies(behaviours.pull_latencies());
    tokio::spawn(kubelet::run(cluster.clone(), Arc::new(behaviours)));
    tokio::spawn(operator::run(cluster.clone()));
    Ok(())
}
