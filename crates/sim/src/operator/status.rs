//! The RayCluster's `.status` as KubeRay's controller writes it: replica counts, desired
//! resources, the HeadPodReady / RayClusterProvisioned / ReplicaFailure conditions, `state: ready`
//! once every pod is Running and Ready, and the head's service and pod.

use serde_json::{Value, json};

use super::objects::{NodeType, node_type_is};
use crate::cluster::Cluster;
use crate::controllers::{pod_ready, set_status};
use crate::store::Key;
use crate::util;

/// What the controller observed about one RayCluster's pods and Service.
struct Observed {
    head: Option<Value>,
    head_ready: bool,
    ready_workers: i64,
    desired: i64,
    min: i64,
    max: i64,
    all_ready: bool,
    generation: Value,
    svc: Option<Value>,
    cpu: Option<String>,
    mem: Option<String>,
    /// `(reason, message)` of the last failed create.
    error: Option<(String, String)>,
}

fn running_ready(p: &Value) -> bool {
    util::get_str(p, &["status", "phase"]) == Some("Running") && pod_ready(p)
}

pub(super) fn update(
    cl: &Cluster,
    rc: &Value,
    ns: &str,
    name: &str,
    error: Option<(String, String)>,
) {
    let o = observe(cl, rc, ns, name, error);
    set_status(
        cl,
        &Key::new("rayclusters.ray.io", ns, name),
        move |_, s| {
            let mut n = new_status(s, &o);
            // Keep lastUpdateTime stable unless something else changed.
            let mut cmp_old = s.clone();
            if let Some(old) = cmp_old.as_object_mut() {
                old.remove("lastUpdateTime");
            }
            if cmp_old != n {
                n["lastUpdateTime"] = json!(util::now_rfc3339());
                *s = n;
            }
        },
    );
}

fn observe(
    cl: &Cluster,
    rc: &Value,
    ns: &str,
    name: &str,
    error: Option<(String, String)>,
) -> Observed {
    let (pods, _) = cl.store.list("pods", Some(ns));
    let mine: Vec<&Value> = pods
        .iter()
        .filter(|p| util::labels_of(p).get("ray.io/cluster").map(String::as_str) == Some(name))
        .collect();
    let head = mine
        .iter()
        .find(|p| node_type_is(p, NodeType::Head))
        .map(|p| (*p).clone());
    let groups = rc
        .pointer("/spec/workerGroupSpecs")
        .and_then(|w| w.as_array())
        .cloned()
        .unwrap_or_default();
    let sum = |f: &dyn Fn(&Value) -> i64| groups.iter().map(f).sum::<i64>();
    let desired =
        sum(&|g| g["replicas"].as_i64().unwrap_or(0) * g["numOfHosts"].as_i64().unwrap_or(1));
    let ready_workers = mine
        .iter()
        .filter(|p| node_type_is(p, NodeType::Worker) && running_ready(p))
        .count() as i64;
    let head_ready = head.as_ref().is_some_and(running_ready);
    let head_c = rc
        .pointer("/spec/headGroupSpec/template/spec/containers/0")
        .cloned()
        .unwrap_or(json!({}));
    Observed {
        all_ready: head_ready && ready_workers >= desired && error.is_none(),
        head,
        head_ready,
        ready_workers,
        desired,
        min: sum(&|g| g["minReplicas"].as_i64().unwrap_or(0)),
        max: sum(&|g| g["maxReplicas"].as_i64().unwrap_or(0)),
        generation: rc
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1)),
        svc: cl
            .store
            .get(&Key::new("services", ns, &format!("{name}-head-svc"))),
        cpu: head_c
            .pointer("/resources/requests/cpu")
            .map(|v| v.to_string().trim_matches('"').to_string()),
        mem: head_c
            .pointer("/resources/requests/memory")
            .and_then(|v| v.as_str())
            .map(String::from),
        error,
    }
}

/// The status to write, given the current one `s` (for transition times).
fn new_status(s: &Value, o: &Observed) -> Value {
    let mut n = json!({
        "desiredWorkerReplicas": o.desired,
        "minWorkerReplicas": o.min,
        "maxWorkerReplicas": o.max,
        "readyWorkerReplicas": o.ready_workers,
        "availableWorkerReplicas": o.ready_workers,
        "desiredCPU": o.cpu.clone().unwrap_or_else(|| "0".into()),
        "desiredMemory": o.mem.clone().unwrap_or_else(|| "0".into()),
        "desiredGPU": "0",
        "desiredTPU": "0",
        "observedGeneration": o.generation,
        "conditions": conditions(s, o),
    });
    if o.all_ready {
        n["state"] = json!("ready");
        n["stateTransitionTimes"] = s
            .get("stateTransitionTimes")
            .cloned()
            .unwrap_or(json!({"ready": util::now_rfc3339()}));
        n["readyWorkerReplicas"] = json!(o.ready_workers);
    }
    if let Some(svc) = &o.svc {
        n["endpoints"] = json!({"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"});
        let mut h = json!({"serviceName": svc["metadata"]["name"], "serviceIP": svc.pointer("/spec/clusterIP").cloned().unwrap_or(json!("None"))});
        if let Some(hp) = &o.head {
            if let Some(ip) = hp.pointer("/status/podIP") {
                h["podIP"] = ip.clone();
            }
            h["podName"] = hp["metadata"]["name"].clone();
        }
        n["head"] = h;
    }
    n
}

fn conditions(s: &Value, o: &Observed) -> Vec<Value> {
    let old_conds = s["conditions"].as_array().cloned().unwrap_or_default();
    let cond = |t: &str, status: &str, reason: &str, msg: &str| {
        let prev = old_conds.iter().find(|c| c["type"] == t);
        let ltt = prev
            .filter(|p| p["status"] == status)
            .and_then(|p| p.get("lastTransitionTime").cloned())
            .unwrap_or(json!(util::now_rfc3339()));
        json!({"type": t, "status": status, "lastTransitionTime": ltt, "reason": reason, "message": msg})
    };
    let mut conds = vec![];
    if let Some((reason, msg)) = &o.error {
        conds.push(cond("ReplicaFailure", "True", reason, msg));
    }
    conds.push(match (&o.head, o.head_ready) {
        (None, _) => cond(
            "HeadPodReady",
            "False",
            "HeadPodNotFound",
            "Head Pod not found",
        ),
        (Some(_), true) => cond("HeadPodReady", "True", "HeadPodRunningAndReady", ""),
        (Some(_), false) => cond("HeadPodReady", "False", "HeadPodNotReady", ""),
    });
    let provisioned_before = old_conds
        .iter()
        .any(|c| c["type"] == "RayClusterProvisioned" && c["status"] == "True");
    conds.push(if o.all_ready || provisioned_before {
        cond(
            "RayClusterProvisioned",
            "True",
            "AllPodRunningAndReadyFirstTime",
            "All Ray Pods are ready for the first time",
        )
    } else {
        cond(
            "RayClusterProvisioned",
            "False",
            "RayClusterPodsProvisioning",
            "RayCluster Pods are being provisioned for first time",
        )
    });
    conds
}
