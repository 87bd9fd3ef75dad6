//! What the cluster says that will not heal by itself, so that a step ends at once, quoting the
//! reporter's own words, instead of waiting out its timeout. Pure rules on pods and events, with
//! the time passed in, so each is unit-tested.
//!
//! Permanent at once: an image that does not exist or may not be pulled (`not found`, `manifest
//! unknown`, `unauthorized`, `denied`, no match for the platform), `InvalidImageName`,
//! `ErrImageNeverPull`, `CreateContainerConfigError` (e.g. runAsNonRoot with a non-numeric image
//! user), `CreateContainerError`, a container in `CrashLoopBackOff` after a few restarts.
//! Permanent after a short grace period (the cluster may still fix it): a volume whose ConfigMap
//! or Secret does not exist (`FailedMount`), a pod that no node has room for (`FailedScheduling`,
//! `Insufficient cpu/memory`). Transient, never a failure: a registry rate limit (`429`,
//! `toomanyrequests`), a timeout, `ImagePullBackOff` itself (its message only says "Back-off").

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use tokio::time::Instant;

/// How long a mount or scheduling failure may last before it counts: well under the 15 s in
/// which a reported failure must end its run.
pub const GRACE: Duration = Duration::from_secs(8);

/// Restarts after which a crash-looping container is given up on.
pub const CRASH_RESTARTS: i32 = 3;

const PERMANENT_PULL: [&str; 7] = [
    "not found",
    "manifest unknown",
    "unauthorized",
    "denied",
    "no match for platform",
    "no matching manifest",
    "repository does not exist",
];
const TRANSIENT_PULL: [&str; 6] = [
    "429",
    "toomanyrequests",
    "too many requests",
    "timeout",
    "i/o timeout",
    "connection reset",
];

/// Whether an image pull error will fail again however often it is retried.
pub fn pull_error_is_permanent(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    !TRANSIENT_PULL.iter().any(|t| m.contains(t)) && PERMANENT_PULL.iter().any(|p| m.contains(p))
}

/// A container state of `pod` that retrying cannot fix, in the kubelet's words.
pub fn permanent_container_state(pod: &Pod) -> Option<String> {
    let st = pod.status.as_ref()?;
    st.init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            let reason = w.reason.as_deref()?;
            let message = w.message.clone().unwrap_or_default();
            let permanent = match reason {
                "InvalidImageName"
                | "ErrImageNeverPull"
                | "CreateContainerConfigError"
                | "CreateContainerError" => true,
                "ErrImagePull" => pull_error_is_permanent(&message),
                "CrashLoopBackOff" => c.restart_count >= CRASH_RESTARTS,
                _ => false,
            };
            permanent.then(|| {
                let last = c
                    .last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| {
                        format!(
                            " (last exit {}{})",
                            t.exit_code,
                            t.reason
                                .as_ref()
                                .map(|r| format!(", {r}"))
                                .unwrap_or_default()
                        )
                    })
                    .filter(|_| reason == "CrashLoopBackOff")
                    .unwrap_or_default();
                format!(
                    "pod {} container {}: {reason}: {message}{last}",
                    pod.name_any(),
                    c.name
                )
            })
        })
}

/// Signals about a set of pods that may take a short while to become permanent.
#[derive(Debug, Default)]
pub struct Diagnosis {
    /// Per pod: the first time a lasting problem was reported, and the report.
    lasting: BTreeMap<String, (Instant, String)>,
}

impl Diagnosis {
    /// An event about one of the pods (`pods` says which names are ours). Returns a failure
    /// that is permanent at once; remembers those that need the grace period.
    pub fn event(
        &mut self,
        e: &Event,
        ours: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Option<String> {
        let pod = e.involved_object.name.as_deref()?;
        if e.involved_object.kind.as_deref() != Some("Pod") || !ours(pod) {
            return None;
        }
        let (reason, message) = (e.reason.as_deref()?, e.message.clone().unwrap_or_default());
        let quoted = format!("pod {pod}: {reason}: {message}");
        match reason {
            "Failed" if message.starts_with("Failed to pull image") => {
                pull_error_is_permanent(&message).then_some(quoted)
            }
            "FailedMount" if missing_source(&message) => {
                self.lasting.entry(pod.to_string()).or_insert((now, quoted));
                None
            }
            "FailedScheduling" if message.contains("Insufficient") => {
                self.lasting.entry(pod.to_string()).or_insert((now, quoted));
                None
            }
            _ => None,
        }
    }

    /// A pod that is Ready again has no lasting problem.
    pub fn healed(&mut self, pod: &str) {
        self.lasting.remove(pod);
    }

    /// The first lasting problem reported more than [`GRACE`] ago, with how long it has lasted.
    pub fn overdue(&self, now: Instant) -> Option<String> {
        self.lasting.values().find_map(|(since, report)| {
            let lasted = now.saturating_duration_since(*since);
            (lasted >= GRACE).then(|| format!("{report} (for {}s)", lasted.as_secs()))
        })
    }
}

/// `MountVolume.SetUp failed for volume "x" : configmap "y" not found` (or a secret).
fn missing_source(message: &str) -> bool {
    (message.contains("configmap") || message.contains("secret")) && message.contains("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "raycluster-pod-security-head-x"},
            "status": {"phase": "Pending", "containerStatuses": statuses}
        }))
        .unwrap()
    }

    fn waiting(reason: &str, message: &str, restarts: i32) -> Pod {
        pod(
            serde_json::json!([{"name": "ray-head", "image": "i", "imageID": "", "ready": false,
            "restartCount": restarts, "state": {"waiting": {"reason": reason, "message": message}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
        )
    }

    fn event(kind: &str, pod: &str, reason: &str, message: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": kind, "name": pod, "namespace": "pod-security"},
            "reason": reason, "type": "Warning", "message": message
        }))
        .unwrap()
    }

    const NOT_FOUND: &str = "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/rayproject/ray-ml:2.4.0-cpux\": failed to resolve reference \"docker.io/rayproject/ray-ml:2.4.0-cpux\": docker.io/rayproject/ray-ml:2.4.0-cpux: not found";
    const RATE_LIMITED: &str = "failed to pull and unpack image \"docker.io/rayproject/ray-ml:2.4.0-cpu\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/rayproject/ray-ml/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.";

    #[test]
    fn a_missing_image_is_permanent_and_a_rate_limit_is_not() {
        assert!(pull_error_is_permanent(NOT_FOUND));
        assert!(pull_error_is_permanent(
            "pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        ));
        assert!(pull_error_is_permanent(
            "no match for platform in manifest: not found"
        ));
        assert!(!pull_error_is_permanent(RATE_LIMITED));
        assert!(!pull_error_is_permanent("dial tcp: i/o timeout"));
        let stuck = permanent_container_state(&waiting("ErrImagePull", NOT_FOUND, 0)).unwrap();
        assert!(
            stuck.starts_with(
                "pod raycluster-pod-security-head-x container ray-head: ErrImagePull: rpc error"
            ),
            "{stuck}"
        );
        assert_eq!(
            permanent_container_state(&waiting("ErrImagePull", RATE_LIMITED, 0)),
            None
        );
        assert_eq!(
            permanent_container_state(&waiting(
                "ImagePullBackOff",
                "Back-off pulling image \"x\"",
                0
            )),
            None
        );
    }

    #[test]
    fn container_config_errors_are_permanent_and_quoted() {
        let msg = "container has runAsNonRoot and image has non-numeric user (ray), cannot verify user is non-root (pod: \"raycluster-pod-security-head-x_pod-security(uid)\", container: ray-head)";
        assert_eq!(
            permanent_container_state(&waiting("CreateContainerConfigError", msg, 0)).unwrap(),
            format!(
                "pod raycluster-pod-security-head-x container ray-head: CreateContainerConfigError: {msg}"
            )
        );
        assert!(permanent_container_state(&waiting("CreateContainerError", "x", 0)).is_some());
        assert!(permanent_container_state(&waiting("InvalidImageName", "x", 0)).is_some());
    }

    #[test]
    fn a_crash_loop_counts_after_a_few_restarts() {
        let back_off = "back-off 40s restarting failed container=kuberay-operator";
        assert_eq!(
            permanent_container_state(&waiting("CrashLoopBackOff", back_off, 1)),
            None
        );
        let gave_up = permanent_container_state(&waiting("CrashLoopBackOff", back_off, 3)).unwrap();
        assert!(gave_up.ends_with("(last exit 1, Error)"), "{gave_up}");
    }

    #[test]
    fn mount_and_scheduling_failures_count_after_the_grace_period() {
        let t0 = Instant::now();
        let ours = |p: &str| p.starts_with("raycluster-pod-security-");
        let mut d = Diagnosis::default();
        let mount = event(
            "Pod",
            "raycluster-pod-security-head-x",
            "FailedMount",
            "MountVolume.SetUp failed for volume \"ray-example-configmap\" : configmap \"ray-example\" not found",
        );
        assert_eq!(d.event(&mount, ours, t0), None);
        assert_eq!(d.overdue(t0 + Duration::from_secs(3)), None);
        let late = d.overdue(t0 + GRACE).unwrap();
        assert!(
            late.contains("FailedMount: MountVolume.SetUp failed") && late.ends_with("(for 8s)"),
            "{late}"
        );
        d.healed("raycluster-pod-security-head-x");
        assert_eq!(d.overdue(t0 + GRACE * 2), None);

        let unschedulable = event(
            "Pod",
            "raycluster-pod-security-large-group-worker-y",
            "FailedScheduling",
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
        );
        assert_eq!(d.event(&unschedulable, ours, t0), None);
        assert!(d.overdue(t0 + GRACE).unwrap().contains("Insufficient cpu"));
        // Not ours, or not a pod: not a signal.
        let mut d = Diagnosis::default();
        assert_eq!(
            d.event(
                &event(
                    "Pod",
                    "kuberay-operator-z",
                    "FailedMount",
                    "configmap \"a\" not found"
                ),
                ours,
                t0
            ),
            None
        );
        assert_eq!(d.overdue(t0 + GRACE), None);
    }

    #[test]
    fn a_failed_pull_event_is_permanent_at_once_unless_rate_limited() {
        let ours = |_: &str| true;
        let mut d = Diagnosis::default();
        let failed = event(
            "Pod",
            "h",
            "Failed",
            &format!("Failed to pull image \"x\": {NOT_FOUND}"),
        );
        assert!(
            d.event(&failed, ours, Instant::now())
                .unwrap()
                .starts_with("pod h: Failed: Failed to pull image")
        );
        let limited = event(
            "Pod",
            "h",
            "Failed",
            &format!("Failed to pull image \"x\": {RATE_LIMITED}"),
        );
        assert_eq!(d.event(&limited, ours, Instant::now()), None);
    }
}
