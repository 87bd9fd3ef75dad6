//! The simulated world: fake `kind`, `helm` and `docker` tools, a fake kube-apiserver (with Pod
//! Security admission and audit logging), kube-controller-manager bits, a kubelet, the KubeRay
//! operator and a Ray head, so that the unmodified `xtask e2e` harness can run the KubeRay "Pod
//! Security" tutorial inside `cargo test`. It is NOT a real cluster: see README.md.

// Handlers return metav1.Status errors by value, like the apiserver's code paths; they are cold.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod apiserver;
pub mod audit;
pub mod cluster;
pub mod control;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod docker;
pub mod faults;
pub mod helm;
pub mod kind;
pub mod kubelet;
pub mod operator;
pub mod ray;
pub mod run;
pub mod selectors;
pub mod store;
pub mod streams;
pub mod tls;
pub mod util;
pub mod world;
