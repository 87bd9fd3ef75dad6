//! The Kubernetes API, through kube-rs, one concern a module:
//! - `client`: the client from a kubeconfig;
//! - `wait`: watches until something holds (sets of objects, one object by name), and the one
//!   poll (`GET /version` right after the cluster is created);
//! - `conditions`: pure readings of status (Ready, Available, Established, summaries);
//! - `objects`: namespaces, server-side apply and delete by discovery, pod lists;
//! - `streams`: watch streams a step selects over;
//! - `exec`: a command in a container, with its exit code;
//! - `port_forward`: a loopback port-forward to a Service's pod.
//!
//! This module knows Kubernetes, not the tutorial.

pub mod access;
pub mod admission;
pub mod client;
pub mod conditions;
pub mod exec;
pub mod objects;
pub mod port_forward;
pub mod streams;
pub mod wait;
