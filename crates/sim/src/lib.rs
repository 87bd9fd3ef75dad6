//! The simulated world: fake `kind`, `helm` and `docker` tools, a fake kube-apiserver (with Pod
//! Security admission and audit logging), kube-controller-manager bits, a kubelet, the KubeRay
//! operator and a Ray head, so that the unmodified `xtask e2e` harness can run the KubeRay "Pod
//! Security" tutorial inside `cargo test`. It is NOT a real cluster: see README.md.

// Handlers return metav1.Status errors by value, like the apiserver's code paths; they are cold.
#![allow(clippy::result_large_err)]

mod admission;
mod apiserver;
mod audit;
mod authz;
mod boot;
mod cluster;
mod containers;
mod control;
mod controllers;
mod defaults;
mod discovery;
mod events;
mod faults;
mod kubelet;
mod latency;
mod logs;
mod mirror;
mod nodes;
mod openapi;
mod operator;
mod ray;
mod run;
mod scheduler;
mod selectors;
mod store;
mod streams;
mod tls;
mod tools;
mod util;
mod world;

pub use control::tool_main;
pub use faults::{Fault, list_lines as fault_list_lines};
pub use mirror::serve as serve_mirror;
pub use run::{RunOptions, run, start_world};
pub use tools::{EXISTING_CLUSTER_FILE, ExistingCluster, Invocation, TOOLS, ToolOutput};
pub use world::World;

/// The reference material beside the repository (`SHARED_DIR`, default `../shared`).
#[cfg(test)]
pub(crate) fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").into())
}
