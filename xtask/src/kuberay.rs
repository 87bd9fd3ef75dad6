//! KubeRay's vocabulary: how the operator names and labels a RayCluster's pods, and how it reports
//! a pod it could not create (KubeRay's `ray-operator/controllers/ray/utils/constant.go` and
//! `raycluster_controller.go`, v1.2 to v1.5).

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Event};
use kube::api::DynamicObject;

use crate::kube_api::conditions::custom_conditions;

/// Head pods are created with `generateName: <cluster>-head-`.
pub fn head_pod_prefix(cluster: &str) -> String {
    format!("{cluster}-head-")
}

/// Selects every pod of a RayCluster.
pub fn cluster_selector(cluster: &str) -> String {
    format!("ray.io/cluster={cluster}")
}

pub const NODE_TYPE_LABEL: &str = "ray.io/node-type";

/// The label the KubeRay chart puts on its operator's Deployment.
pub const OPERATOR_SELECTOR: &str = "app.kubernetes.io/name=kuberay-operator";

/// Whether a KubeRay operator Deployment reconciles RayClusters in namespace `ns`: it watches
/// every namespace unless its container args carry `--watch-namespace a,b` (or
/// `--watch-namespace=a,b`).
pub fn operator_watches(operator: &Deployment, ns: &str) -> bool {
    let containers = operator
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let args: Vec<&str> = containers
        .iter()
        .flat_map(|c| c.command.iter().flatten().chain(c.args.iter().flatten()))
        .map(String::as_str)
        .collect();
    let watched =
        args.iter()
            .enumerate()
            .find_map(|(i, a)| match a.strip_prefix("--watch-namespace") {
                Some("") => args.get(i + 1).copied(),
                Some(v) => v.strip_prefix('='),
                None => None,
            });
    match watched {
        None | Some("") => true,
        Some(list) => list.split(',').any(|w| w.trim() == ns),
    }
}

/// The RayCluster version the manifests and the operator (≥ 1.0) use.
pub const API_VERSION: &str = "v1";

/// The Warning event reason of a failed head pod create (KubeRay ≥ 1.2.2).
pub const FAILED_TO_CREATE_HEAD_POD: &str = "FailedToCreateHeadPod";
/// The condition reason of the same failure (`ReplicaFailure`, KubeRay ≥ 1.2).
pub const FAILED_CREATE_HEAD_POD: &str = "FailedCreateHeadPod";

/// The Warning event reason of a failed worker pod create.
pub const FAILED_TO_CREATE_WORKER_POD: &str = "FailedToCreateWorkerPod";

/// The Pod Security 403 the operator quotes in a Warning event about a head or worker pod of
/// `cluster` it could not create, if `event` is one.
pub fn pod_create_refused(event: &Event, cluster: &str) -> Option<pss::EnforceRejection> {
    let reason = event.reason.as_deref()?;
    (event.involved_object.name.as_deref() == Some(cluster)
        && event.type_.as_deref() == Some("Warning")
        && [FAILED_TO_CREATE_HEAD_POD, FAILED_TO_CREATE_WORKER_POD].contains(&reason))
    .then(|| quoted_rejection(event.message.as_deref().unwrap_or_default()))
    .flatten()
}

/// The operator's Warning event about a head pod it could not create, if `event` is one.
pub fn head_pod_failure_event(event: &Event, cluster: &str) -> Option<String> {
    (event.involved_object.name.as_deref() == Some(cluster)
        && event.reason.as_deref() == Some(FAILED_TO_CREATE_HEAD_POD)
        && event.type_.as_deref() == Some("Warning"))
    .then(|| {
        format!(
            "Warning {FAILED_TO_CREATE_HEAD_POD}: {}",
            event.message.clone().unwrap_or_default()
        )
    })
}

/// The API server's Pod Security 403 that an operator report (event or condition) quotes: the
/// message from its `pods …` onwards, parsed.
pub fn quoted_rejection(report: &str) -> Option<pss::EnforceRejection> {
    report
        .match_indices("pods ")
        .find_map(|(i, _)| pss::parse_enforce_message(&report[i..]))
}

/// The RayCluster's `ReplicaFailure` condition with reason `FailedCreateHeadPod`, if set.
pub fn head_pod_failure_condition(raycluster: &DynamicObject) -> Option<String> {
    custom_conditions(raycluster).into_iter().find_map(|c| {
        (c.type_ == "ReplicaFailure" && c.status == "True" && c.reason == FAILED_CREATE_HEAD_POD)
            .then(|| {
                // The message is `FailedCreateHeadPod\n<API error>` (errors.Join).
                let detail = c
                    .message
                    .lines()
                    .filter(|l| l.trim() != FAILED_CREATE_HEAD_POD)
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("condition ReplicaFailure ({FAILED_CREATE_HEAD_POD}): {detail}")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_event_is_recognised() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "raycluster-complete.1", "namespace": "pod-security"},
            "involvedObject": {"kind": "RayCluster", "name": "raycluster-complete", "namespace": "pod-security"},
            "reason": "FailedToCreateHeadPod", "type": "Warning",
            "message": "Failed to create head Pod pod-security/, pods \"raycluster-complete-head-fkbf5\" is forbidden: violates PodSecurity …"
        }))
        .unwrap();
        let r = head_pod_failure_event(&e, "raycluster-complete").unwrap();
        assert!(
            r.starts_with(
                "Warning FailedToCreateHeadPod: Failed to create head Pod pod-security/, pods"
            ),
            "{r}"
        );
        assert!(head_pod_failure_event(&e, "other").is_none());
    }

    #[test]
    fn a_refused_worker_pod_is_read_from_the_operators_event() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "rc.2", "namespace": "ns"},
            "involvedObject": {"kind": "RayCluster", "name": "rc", "namespace": "ns"},
            "reason": "FailedToCreateWorkerPod", "type": "Warning",
            "message": "Failed to create worker Pod ns/, pods \"rc-group-worker-x\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true (pod or container \"ray-worker\" must set securityContext.runAsNonRoot=true)"
        }))
        .unwrap();
        let r = pod_create_refused(&e, "rc").unwrap();
        assert_eq!(r.pod, "rc-group-worker-x");
        assert_eq!(r.policy.to_string(), "restricted:latest");
        assert!(r.detail.starts_with("runAsNonRoot != true"), "{r:?}");
        assert!(pod_create_refused(&e, "other").is_none());
    }

    #[test]
    fn an_operator_watches_every_namespace_unless_told_otherwise() {
        let operator = |args: &[&str]| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "kuberay-operator", "namespace": "ray-system"},
                "spec": {"selector": {}, "template": {"spec": {"containers": [
                    {"name": "kuberay-operator", "command": ["/manager"], "args": args}]}}}
            }))
            .unwrap()
        };
        assert!(operator_watches(&operator(&[]), "team-a"));
        assert!(operator_watches(
            &operator(&["--watch-namespace", "team-a"]),
            "team-a"
        ));
        assert!(!operator_watches(
            &operator(&["--watch-namespace", "team-b"]),
            "team-a"
        ));
        assert!(operator_watches(
            &operator(&["--watch-namespace=x,team-a"]),
            "team-a"
        ));
        assert!(!operator_watches(
            &operator(&["--watch-namespace=x,y"]),
            "team-a"
        ));
    }

    #[test]
    fn the_replica_failure_condition_is_recognised() {
        let rc: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "raycluster-complete"},
            "status": {"conditions": [
                {"type": "HeadPodReady", "status": "False", "reason": "HeadPodNotFound", "message": "Head Pod not found"},
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateHeadPod",
                 "message": "FailedCreateHeadPod\npods \"raycluster-complete-head-x\" is forbidden: violates PodSecurity …"}]}
        }))
        .unwrap();
        let r = head_pod_failure_condition(&rc).unwrap();
        assert_eq!(
            r,
            "condition ReplicaFailure (FailedCreateHeadPod): pods \"raycluster-complete-head-x\" is forbidden: violates PodSecurity …"
        );
    }
}
