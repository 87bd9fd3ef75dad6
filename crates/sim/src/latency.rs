//! Simulated latencies, before `Env.scale` is applied.

use std::time::Duration;

pub const NODE_READY: Duration = Duration::from_secs(6);
pub const CRD_ESTABLISHED: Duration = Duration::from_millis(500);
pub const SCHEDULE: Duration = Duration::from_millis(300);
pub const PULL_SMALL_IMAGE: Duration = Duration::from_secs(4);
pub const PULL_RAY_IMAGE: Duration = Duration::from_secs(25);
pub const CONTAINER_START: Duration = Duration::from_secs(1);
pub const READINESS: Duration = Duration::from_secs(5);
pub const POD_TERMINATION: Duration = Duration::from_secs(3);
/// The shortest time between two passes of an in-process controller (kubelet, deployment
/// controller, operator): a pass starts when the store changes, at most once a tick.
pub const CONTROLLER_TICK: Duration = Duration::from_millis(200);
/// A controller's pass when nothing changed, for what it times itself (back-offs, restarts).
pub const CONTROLLER_RESYNC: Duration = Duration::from_secs(1);
pub const XGBOOST_TRAINING: Duration = Duration::from_secs(20);
pub const PIP_INSTALL: Duration = Duration::from_secs(4);
