//! Pure readings of object status, in kube-runtime's vocabulary (`is_*` predicates): which
//! condition is True, whether a pod is Ready, and one-line summaries for "last observed".

use k8s_openapi::api::{
    apps::v1::{Deployment, DeploymentCondition},
    core::v1::{Node, NodeCondition, Pod, PodCondition},
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionCondition;
use kube::{ResourceExt, api::DynamicObject};

/// A status condition: the fields every Kubernetes condition has.
pub trait StatusCondition {
    fn type_(&self) -> &str;
    fn status(&self) -> &str;
}

macro_rules! status_condition {
    ($($t:ty),*) => {$(
        impl StatusCondition for $t {
            fn type_(&self) -> &str { &self.type_ }
            fn status(&self) -> &str { &self.status }
        }
    )*};
}
status_condition!(
    NodeCondition,
    PodCondition,
    DeploymentCondition,
    CustomResourceDefinitionCondition,
    Condition
);

/// Whether the condition of type `type_` has status `True`.
pub fn is_true<'a, C: StatusCondition + 'a>(
    conditions: impl IntoIterator<Item = &'a C>,
    type_: &str,
) -> bool {
    conditions
        .into_iter()
        .any(|c| c.type_() == type_ && c.status() == "True")
}

pub fn is_node_ready(node: &Node) -> bool {
    is_true(
        node.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten(),
        "Ready",
    )
}

/// Running, and its Ready condition True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    let Some(st) = &pod.status else { return false };
    st.phase.as_deref() == Some("Running") && is_true(st.conditions.iter().flatten(), "Ready")
}

fn deployment_conditions(d: &Deployment) -> impl Iterator<Item = &DeploymentCondition> {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
}

pub fn is_deployment_available(d: &Deployment) -> bool {
    is_true(deployment_conditions(d), "Available")
}

/// `Deployment NAME: Available=False, Progressing=True`, or its ReplicaFailure message.
pub fn deployment_summary(d: &Deployment) -> String {
    let name = d.name_any();
    if let Some(f) =
        deployment_conditions(d).find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    {
        return format!(
            "Deployment {name}: ReplicaFailure: {}",
            f.message.clone().unwrap_or_default()
        );
    }
    let summary: Vec<String> = deployment_conditions(d)
        .map(|c| format!("{}={}", c.type_, c.status))
        .collect();
    format!(
        "Deployment {name}: {}",
        if summary.is_empty() {
            "no conditions yet".into()
        } else {
            summary.join(", ")
        }
    )
}

/// A condition of a custom object (read from its JSON, which has no typed status).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// The `.status.conditions` of a custom object.
pub fn custom_conditions(obj: &DynamicObject) -> Vec<Condition> {
    obj.data
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| {
                c.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            Condition {
                type_: s("type"),
                status: s("status"),
                reason: s("reason"),
                message: s("message"),
            }
        })
        .collect()
}

/// A one-line account of a pod: phase, readiness and the first waiting reason (ImagePullBackOff…).
pub fn pod_summary(pod: &Pod) -> String {
    let st = pod.status.as_ref();
    let phase = st
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let waiting = st
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            Some(format!(
                " {} {}",
                c.name,
                w.reason.clone().unwrap_or_default()
            ))
        })
        .unwrap_or_default();
    format!(
        "{} {}{}{}",
        pod.name_any(),
        phase,
        if is_pod_ready(pod) { " Ready" } else { "" },
        waiting
    )
}

/// `ProgressDeadlineExceeded: ReplicaSet "x" has timed out progressing.`, when the Deployment
/// controller has given up waiting for the rollout.
pub fn progress_deadline_exceeded(d: &Deployment) -> Option<String> {
    deployment_conditions(d)
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            format!(
                "ProgressDeadlineExceeded: {}",
                c.message.clone().unwrap_or_default()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_pod_is_ready_only_when_running_with_ready_true() {
        let pod = |phase: &str, ready: &str| -> Pod {
            from(
                serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": ready}]}}),
            )
        };
        assert!(is_pod_ready(&pod("Running", "True")));
        assert!(!is_pod_ready(&pod("Running", "False")));
        assert!(!is_pod_ready(&pod("Pending", "True")));
        assert!(!is_pod_ready(&from(
            serde_json::json!({"metadata": {"name": "p"}})
        )));
    }

    #[test]
    fn a_deployment_is_summarised_by_its_conditions_or_its_replica_failure() {
        let d: Deployment = from(serde_json::json!({"metadata": {"name": "kuberay-operator"},
            "status": {"conditions": [
                {"type": "Available", "status": "False"}, {"type": "Progressing", "status": "True"}]}}));
        assert!(!is_deployment_available(&d));
        assert_eq!(
            deployment_summary(&d),
            "Deployment kuberay-operator: Available=False, Progressing=True"
        );
        let failing: Deployment = from(serde_json::json!({"metadata": {"name": "op"},
            "status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "message": "pods \"op-1\" is forbidden"}]}}));
        assert_eq!(
            deployment_summary(&failing),
            "Deployment op: ReplicaFailure: pods \"op-1\" is forbidden"
        );
        let bare: Deployment = from(serde_json::json!({"metadata": {"name": "op"}}));
        assert_eq!(
            deployment_summary(&bare),
            "Deployment op: no conditions yet"
        );
    }

    #[test]
    fn custom_conditions_are_read_from_the_objects_json() {
        let rc: DynamicObject = from(
            serde_json::json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "rc"}, "status": {"conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateHeadPod", "message": "m"}]}}),
        );
        let conds = custom_conditions(&rc);
        assert!(is_true(&conds, "ReplicaFailure"));
        assert!(!is_true(&conds, "HeadPodReady"));
        assert_eq!(conds[0].reason, "FailedCreateHeadPod");
    }

    #[test]
    fn a_pod_summary_names_its_waiting_reason_and_a_deadline_is_read() {
        let waiting: Pod = from(
            serde_json::json!({"metadata": {"name": "head-x"}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "ray-head", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "why"}}}]}}),
        );
        assert_eq!(
            pod_summary(&waiting),
            "head-x Pending ray-head ImagePullBackOff"
        );
        let d: Deployment = from(
            serde_json::json!({"metadata": {"name": "op"}, "status": {"conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"op-1\" has timed out progressing."}]}}),
        );
        assert_eq!(
            progress_deadline_exceeded(&d).as_deref(),
            Some("ProgressDeadlineExceeded: ReplicaSet \"op-1\" has timed out progressing.")
        );
    }
}
