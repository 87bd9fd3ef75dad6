//! The world: the kind clusters that exist and the settings they share. The fake tools act on it
//! (see `tools`); every invocation is recorded in `<state dir>/invocations.jsonl`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Env};
use crate::faults::Faults;

pub struct World {
    pub env: Arc<Env>,
    pub clusters: Mutex<BTreeMap<String, Arc<Cluster>>>,
    /// Images in the host's Docker (`docker pull`), by full reference; `kind load docker-image`
    /// copies them into nodes.
    pub host_images: Mutex<BTreeSet<String>>,
    /// Serialises appends to `invocations.jsonl`.
    pub(crate) invocation_log: Mutex<()>,
}

impl World {
    pub fn new(state_dir: PathBuf, faults: Faults, scale: f64) -> Arc<World> {
        faults.set_log(state_dir.join("fault-hits.jsonl"));
        Arc::new(World {
            env: Arc::new(Env {
                state_dir,
                faults,
                scale,
            }),
            clusters: Mutex::new(BTreeMap::new()),
            host_images: Mutex::new(BTreeSet::new()),
            invocation_log: Mutex::new(()),
        })
    }

    pub fn invocations_path(&self) -> PathBuf {
        self.env.state_dir.join("invocations.jsonl")
    }

    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.clusters.lock().unwrap().get(name).cloned()
    }

    pub fn cluster_by_node(&self, node: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .lock()
            .unwrap()
            .values()
            .find(|c| c.node(node).is_some())
            .cloned()
    }

    pub fn shutdown(&self) {
        for (_, c) in std::mem::take(&mut *self.clusters.lock().unwrap()) {
            c.stop();
        }
    }
}
