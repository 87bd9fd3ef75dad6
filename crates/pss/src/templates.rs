//! Finding the pod templates inside Kubernetes objects (workloads and KubeRay CRs).

use serde_json::{Value, json};

use crate::checks::{field, path};

/// Options for [`pod_templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Model the `wait-gcs-ready` init container that KubeRay (`ENABLE_INIT_CONTAINER_INJECTION`,
    /// default on) appends to every worker pod, after the user's init containers, with a deep copy
    /// of the Ray container's (container index 0) `securityContext`. Default: true.
    pub ray_wait_gcs_ready: bool,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            ray_wait_gcs_ready: true,
        }
    }
}

/// One pod template found in an object.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTemplate {
    /// Kind of the containing object (`Deployment`, `RayCluster`, …).
    pub kind: String,
    /// `metadata.name` of the containing object (`generateName` if there is no name).
    pub name: String,
    /// Where the template sits in the object, e.g. `spec.template`,
    /// `spec.workerGroupSpecs[0].template`; `""` for a Pod (the whole object is the pod).
    /// Inside a `List`, prefixed with `items[N].`.
    pub path: String,
    /// The pod to evaluate (`{"metadata": …, "spec": …}`), with controller injections applied
    /// (KubeRay `wait-gcs-ready` init container, in-tree autoscaler sidecar).
    pub pod: Value,
}

/// The pod templates inside one Kubernetes object (a parsed YAML/JSON document).
///
/// Covers Pod, PodTemplate, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
/// ReplicationController, CronJob, RayCluster, RayJob, RayService and `…List` objects with
/// `items`. Objects without a pod spec give an empty vector.
pub fn pod_templates(object: &Value, opts: &TemplateOptions) -> Vec<PodTemplate> {
    let mut out = Vec::new();
    collect(object, "", opts, &mut out);
    out
}

fn collect(object: &Value, prefix: &str, opts: &TemplateOptions, out: &mut Vec<PodTemplate>) {
    let kind = field(object, "kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = path(object, &["metadata", "name"])
        .or_else(|| path(object, &["metadata", "generateName"]))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut push = |p: &str, pod: Value| {
        let full = if prefix.is_empty() {
            p.to_string()
        } else if p.is_empty() {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{p}")
        };
        out.push(PodTemplate {
            kind: kind.clone(),
            name: name.clone(),
            path: full,
            pod,
        });
    };
    let template_at = |keys: &[&str]| path(object, keys).filter(|t| t.is_object()).cloned();

    match kind.as_str() {
        "Pod" => push("", object.clone()),
        "PodTemplate" => {
            if let Some(t) = template_at(&["template"]) {
                push("template", t);
            }
        }
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => {
            if let Some(t) = template_at(&["spec", "template"]) {
                push("spec.template", t);
            }
        }
        "CronJob" => {
            if let Some(t) = template_at(&["spec", "jobTemplate", "spec", "template"]) {
                push("spec.jobTemplate.spec.template", t);
            }
        }
        "RayCluster" => {
            if let Some(spec) = field(object, "spec") {
                ray_cluster(spec, "spec.", opts, &mut push);
            }
        }
        "RayJob" => {
            if let Some(spec) = path(object, &["spec", "rayClusterSpec"]) {
                ray_cluster(spec, "spec.rayClusterSpec.", opts, &mut push);
            }
            if let Some(t) = template_at(&["spec", "submitterPodTemplate"]) {
                push("spec.submitterPodTemplate", t);
            }
        }
        "RayService" => {
            if let Some(spec) = path(object, &["spec", "rayClusterConfig"]) {
                ray_cluster(spec, "spec.rayClusterConfig.", opts, &mut push);
            }
        }
        k if k.ends_with("List") => {
            if let Some(items) = field(object, "items").and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    collect(item, &format!("{prefix}items[{i}]."), opts, out);
                }
            }
        }
        _ => {}
    }
}

/// Head and worker templates of a RayCluster spec, with KubeRay's injections.
fn ray_cluster(
    spec: &Value,
    prefix: &str,
    opts: &TemplateOptions,
    push: &mut impl FnMut(&str, Value),
) {
    if let Some(head) = path(spec, &["headGroupSpec", "template"]).filter(|t| t.is_object()) {
        let mut pod = head.clone();
        if matches!(
            field(spec, "enableInTreeAutoscaling"),
            Some(Value::Bool(true))
        ) {
            // KubeRay appends the autoscaler sidecar; its securityContext comes only from
            // autoscalerOptions.securityContext.
            let mut sidecar = json!({"name": "autoscaler"});
            if let Some(sc) = path(spec, &["autoscalerOptions", "securityContext"]) {
                sidecar["securityContext"] = sc.clone();
            }
            push_container(&mut pod, "containers", sidecar);
        }
        push(&format!("{prefix}headGroupSpec.template"), pod);
    }
    let groups = field(spec, "workerGroupSpecs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, group) in groups.iter().enumerate() {
        let Some(t) = field(group, "template").filter(|t| t.is_object()) else {
            continue;
        };
        let mut pod = t.clone();
        if opts.ray_wait_gcs_ready {
            let ray_container = path(&pod, &["spec", "containers"])
                .and_then(|c| c.get(0))
                .cloned();
            if let Some(ray) = ray_container {
                let mut init = json!({"name": "wait-gcs-ready"});
                if let Some(sc) = field(&ray, "securityContext") {
                    init["securityContext"] = sc.clone();
                }
                push_container(&mut pod, "initContainers", init);
            }
        }
        push(&format!("{prefix}workerGroupSpecs[{i}].template"), pod);
    }
}

/// Appends `container` to `pod.spec.<list>`, creating what is missing.
fn push_container(pod: &mut Value, list: &str, container: Value) {
    let Some(pod) = pod.as_object_mut() else {
        return;
    };
    let spec = pod.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let entry = spec.entry(list).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    if let Some(a) = entry.as_array_mut() {
        a.push(container);
    }
}
