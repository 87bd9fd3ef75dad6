//! kube-controller-manager and friends: CRD establishing, namespace termination, garbage
//! collection (ownerReferences), the node lifecycle, and the Deployment/ReplicaSet controllers
//! (pods are created through the apiserver's admission + audit path as
//! `system:serviceaccount:kube-system:replicaset-controller`). Like the real ones they learn
//! about changes from the store's watch events; the apiserver never calls them.

use http::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

use crate::apiserver;
use crate::cluster::{Caller, Cluster, latency};
use crate::nodes::{CONTROL_PLANE_TAINT, Node, Role};
use crate::store::{EventType, Key, WatchEvent};
use crate::util;

/// The namespaces of a fresh kind cluster (each with a `default` service account).
const BOOTSTRAP_NAMESPACES: [&str; 5] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// The controllers that react to API changes, fed by the store's events: a new CRD gets
/// Established, a namespace that turns Terminating is emptied and removed, and a deleted object's
/// dependents are garbage-collected. (Pods are the kubelet's to remove and own nothing here;
/// namespaces are the namespace controller's.)
pub async fn react_to_changes(cl: Arc<Cluster>, mut events: broadcast::Receiver<Arc<WatchEvent>>) {
    let mut terminating: HashSet<String> = HashSet::new();
    loop {
        let ev = tokio::select! {
            _ = cl.cancel.cancelled() => return,
            ev = events.recv() => match ev {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let uid = util::get_str(&ev.obj, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string();
        match (ev.key.res.as_str(), ev.typ) {
            ("customresourcedefinitions.apiextensions.k8s.io", EventType::Added) => {
                establish_crd_later(cl.clone(), ev.key.name.clone())
            }
            ("namespaces", EventType::Modified) => {
                let phase = util::get_str(&ev.obj, &["status", "phase"]);
                if phase == Some("Terminating") && terminating.insert(uid) {
                    terminate_namespace_later(cl.clone(), ev.key.name.clone());
                }
            }
            ("namespaces", EventType::Deleted) => {
                terminating.remove(&uid);
            }
            ("pods", _) => {}
            (_, EventType::Deleted) => collect_garbage_later(cl.clone(), uid),
            _ => {}
        }
    }
}

fn establish_crd_later(cl: Arc<Cluster>, name: String) {
    tokio::spawn(async move {
        cl.env.sleep(latency::CRD_ESTABLISHED).await;
        let key = Key::new("customresourcedefinitions.apiextensions.k8s.io", "", &name);
        let _ = cl.store.update(&key, None, |crd| {
            if let Some(conds) = crd.pointer_mut("/status/conditions").and_then(|c| c.as_array_mut()) {
                for c in conds.iter_mut() {
                    if c["type"] == "Established" {
                        *c = json!({"type": "Established", "status": "True", "lastTransitionTime": util::now_rfc3339(), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"});
                    }
                }
            }
            Ok(true)
        });
    });
}

fn terminate_namespace_later(cl: Arc<Cluster>, ns: String) {
    tokio::spawn(async move {
        cl.env.sleep(Duration::from_secs(2)).await;
        for (k, _) in cl.store.list_all_in_ns(&ns) {
            cl.store.delete(&k);
        }
        cl.store.delete(&Key::new("namespaces", "", &ns));
    });
}

/// Background cascading deletion: delete every object owned by `uid` through the API, as the
/// garbage collector does.
fn collect_garbage_later(cl: Arc<Cluster>, uid: String) {
    tokio::spawn(async move {
        cl.env.sleep(Duration::from_millis(300)).await;
        let caller = cl.controller_caller("generic-garbage-collector");
        let defs = crate::discovery::all(&cl.store);
        let mut dependents = vec![];
        for d in defs.iter().filter(|d| d.group != "events.k8s.io") {
            let (objs, _) = cl.store.list(&d.storage, None);
            for o in objs {
                let owned = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(|r| r.as_array())
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()));
                if owned {
                    dependents.push((d.clone(), o));
                }
            }
        }
        for (d, o) in dependents {
            let ns = util::get_str(&o, &["metadata", "namespace"]).unwrap_or_default();
            let name = util::get_str(&o, &["metadata", "name"]).unwrap_or_default();
            let prefix = if d.group.is_empty() {
                format!("/api/{}", d.version)
            } else {
                format!("/apis/{}/{}", d.group, d.version)
            };
            let uri = if d.namespaced {
                format!("{prefix}/namespaces/{ns}/{}/{name}", d.plural)
            } else {
                format!("{prefix}/{}/{name}", d.plural)
            };
            apiserver::call(&cl, &caller, Method::DELETE, &uri, "application/json", Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}))).await;
        }
    });
}

/// Bootstrap objects of a fresh kind cluster.
pub fn bootstrap(cl: &Cluster) {
    for ns in BOOTSTRAP_NAMESPACES {
        let mut obj = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": ns}});
        crate::defaults::namespace(&mut obj, ns);
        let _ = cl.store.create(Key::new("namespaces", "", ns), obj, false);
    }
    for n in &cl.nodes {
        let obj = node_object(cl, n);
        let _ = cl.store.create(Key::new("nodes", "", &n.name), obj, false);
    }
    for ns in BOOTSTRAP_NAMESPACES {
        let sa = json!({"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "default", "namespace": ns}});
        let _ = cl
            .store
            .create(Key::new("serviceaccounts", ns, "default"), sa, false);
    }
}

/// A kind node as its kubelet registers it. kubeadm taints the control plane
/// `node-role.kubernetes.io/control-plane:NoSchedule`; kind removes the taint when there are no
/// workers.
fn node_object(cl: &Cluster, n: &Node) -> Value {
    let v = cl.version.git_version();
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
    });
    let mut spec = json!({
        "podCIDR": format!("10.244.{}.0/24", n.index),
        "podCIDRs": [format!("10.244.{}.0/24", n.index)],
        "providerID": format!("kind://docker/{}/{}", cl.name, n.name),
    });
    if n.role == Role::ControlPlane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        if cl.nodes.len() > 1 {
            spec["taints"] = json!([{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]);
        }
    }
    json!({
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": n.name,
            "labels": labels,
            "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
        },
        "spec": spec,
        "status": {
            "capacity": {"cpu": "8", "ephemeral-storage": "102626232Ki", "hugepages-2Mi": "0", "memory": "32827844Ki", "pods": "110"},
            "allocatable": {"cpu": "8", "ephemeral-storage": "102626232Ki", "hugepages-2Mi": "0", "memory": "32827844Ki", "pods": "110"},
            "conditions": node_conditions(false),
            "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "3f1d6c0e9c7e4f5a9b0c1d2e3f405162",
                "systemUUID": util::new_uid(),
                "bootID": util::new_uid(),
                "kernelVersion": "6.8.0-48-generic",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.18",
                "kubeletVersion": v,
                "kubeProxyVersion": v,
                "operatingSystem": "linux",
                "architecture": "amd64"
            }
        }
    })
}

fn node_conditions(ready: bool) -> Value {
    let now = util::now_rfc3339();
    let c = |t: &str, s: &str, r: &str, m: &str| json!({"type": t, "status": s, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": r, "message": m});
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        if ready {
            c(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            )
        } else {
            c(
                "Ready",
                "False",
                "KubeletNotReady",
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            )
        }
    ])
}

/// The nodes turn Ready after a while (the CNI is up).
pub async fn node_lifecycle(cl: Arc<Cluster>) {
    cl.env.sleep(latency::NODE_READY).await;
    for n in &cl.nodes {
        let _ = cl.store.update(&Key::new("nodes", "", &n.name), None, |n| {
            n["status"]["conditions"] = node_conditions(true);
            Ok(true)
        });
    }
}

/// Whether the control-plane node is Ready.
pub fn node_ready(cl: &Cluster) -> bool {
    named_node_ready(cl, &cl.node_name)
}

/// Whether node `name` is Ready.
pub fn named_node_ready(cl: &Cluster, name: &str) -> bool {
    cl.store
        .get(&Key::new("nodes", "", name))
        .is_some_and(|n| util::condition_is_true(&n, "Ready"))
}

pub fn owned_by(o: &Value, uid: &str) -> bool {
    o.pointer("/metadata/ownerReferences")
        .and_then(|r| r.as_array())
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

pub fn pod_ready(p: &Value) -> bool {
    util::condition_is_true(p, "Ready")
}

fn hash_suffix(v: &Value) -> String {
    let s = v.to_string();
    let mut h: u64 = 1469598103934665603;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(1099511628211);
    }
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| A[((h >> (i * 6)) % 27) as usize] as char)
        .collect()
}

/// Update only `.status` (as the status subresource does); no-op when unchanged.
pub fn set_status(cl: &Cluster, key: &Key, f: impl FnOnce(&Value, &mut Value)) {
    let _ = cl.store.update(key, None, |o| {
        let before = o.get("status").cloned().unwrap_or(json!({}));
        let mut st = before.clone();
        f(o, &mut st);
        if st == before {
            return Ok(false);
        }
        o["status"] = st;
        Ok(true)
    });
}

fn condition(t: &str, s: &str, reason: &str, message: &str, old: Option<&Value>) -> Value {
    let now = util::now_rfc3339();
    let transition = old
        .filter(|o| o["status"] == s)
        .and_then(|o| o.get("lastTransitionTime").cloned())
        .unwrap_or(json!(now));
    json!({"type": t, "status": s, "lastUpdateTime": now, "lastTransitionTime": transition, "reason": reason, "message": message})
}

/// Per-ReplicaSet create backoff.
#[derive(Default)]
struct Backoff {
    failures: u32,
    next: Option<tokio::time::Instant>,
}

pub async fn deployment_controller(cl: Arc<Cluster>) {
    let rs_caller = cl.controller_caller("replicaset-controller");
    let mut backoff: BTreeMap<String, Backoff> = BTreeMap::new();
    let mut changes = cl.store.changes();
    while cl.next_pass(&mut changes).await {
        let (deploys, _) = cl.store.list("deployments.apps", None);
        for d in deploys {
            sync_deployment(&cl, &rs_caller, &mut backoff, &d).await;
        }
    }
}

/// Replica counts of one Deployment's pass.
#[derive(Clone, Copy)]
struct Counts {
    /// `.spec.replicas`.
    desired: i64,
    /// Pods of the ReplicaSet that are not being deleted.
    total: i64,
    ready: i64,
}

/// One Deployment's pass: its ReplicaSet (one per pod template), the ReplicaSet's pods (created
/// through the API, with backoff after failures), and both statuses.
async fn sync_deployment(
    cl: &Arc<Cluster>,
    rs_caller: &Caller,
    backoff: &mut BTreeMap<String, Backoff>,
    d: &Value,
) {
    let ns = util::get_str(d, &["metadata", "namespace"]).unwrap_or_default();
    let desired = d
        .pointer("/spec/replicas")
        .and_then(|r| r.as_i64())
        .unwrap_or(1);
    let Some(rs) = ensure_replica_set(cl, d, desired) else {
        return;
    };
    let rs_name = util::get_str(&rs, &["metadata", "name"]).unwrap_or_default();
    let rs_uid = util::get_str(&rs, &["metadata", "uid"]).unwrap_or_default();
    let (pods, _) = cl.store.list("pods", Some(ns));
    let owned: Vec<&Value> = pods
        .iter()
        .filter(|p| owned_by(p, rs_uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let counts = Counts {
        desired,
        total: owned.len() as i64,
        ready: owned.iter().filter(|p| pod_ready(p)).count() as i64,
    };
    let mut failure: Option<String> = None;
    if counts.total < desired {
        let b = backoff.entry(rs_uid.to_string()).or_default();
        if b.next.is_none_or(|n| tokio::time::Instant::now() >= n) {
            failure = create_pod(cl, rs_caller, &rs, b).await.err();
        }
    }
    let prev_failure = rs
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure").cloned());
    let failure_cond = match (&failure, &prev_failure) {
        (Some(m), _) => Some(
            json!({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": util::now_rfc3339(), "reason": "FailedCreate", "message": m}),
        ),
        (None, Some(p)) if counts.total < desired => Some(p.clone()),
        _ => None,
    };
    set_replica_set_status(cl, &rs, counts, failure_cond.clone());
    set_deployment_status(cl, d, rs_name, counts, failure_cond.as_ref());
}

/// The Deployment's ReplicaSet for its current pod template (`{name}-{hash}`), created when absent.
fn ensure_replica_set(cl: &Cluster, d: &Value, replicas: i64) -> Option<Value> {
    let ns = util::get_str(d, &["metadata", "namespace"]).unwrap_or_default();
    let name = util::get_str(d, &["metadata", "name"]).unwrap_or_default();
    let duid = util::get_str(d, &["metadata", "uid"]).unwrap_or_default();
    let template = d["spec"]["template"].clone();
    let hash = hash_suffix(&template);
    let rs_name = format!("{name}-{}", &hash[..9]);
    let rs_key = Key::new("replicasets.apps", ns, &rs_name);
    if cl.store.get(&rs_key).is_none() {
        let mut t = template.clone();
        t["metadata"]["labels"]["pod-template-hash"] = json!(&hash[..9]);
        let mut sel = d["spec"]["selector"].clone();
        sel["matchLabels"]["pod-template-hash"] = json!(&hash[..9]);
        let rs = json!({
            "kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {
                "name": rs_name, "namespace": ns,
                "labels": t["metadata"]["labels"].clone(),
                "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(), "deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": duid, "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {"replicas": replicas, "selector": sel, "template": t},
            "status": {"replicas": 0}
        });
        if cl.store.create(rs_key.clone(), rs, true).is_ok() {
            cl.record_event(
                d,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled up replica set {rs_name} to {replicas}"),
                "deployment-controller",
                None,
                None,
            );
        }
    }
    cl.store.get(&rs_key)
}

/// Create one pod of the ReplicaSet through the API, as the replicaset-controller; on failure
/// record FailedCreate, back off (1s, 2s, 4s … 60s) and return the message.
async fn create_pod(
    cl: &Arc<Cluster>,
    rs_caller: &Caller,
    rs: &Value,
    b: &mut Backoff,
) -> Result<(), String> {
    let ns = util::get_str(rs, &["metadata", "namespace"]).unwrap_or_default();
    let rs_name = util::get_str(rs, &["metadata", "name"]).unwrap_or_default();
    let rs_uid = util::get_str(rs, &["metadata", "uid"]).unwrap_or_default();
    let mut meta = rs["spec"]["template"]["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["generateName"] = json!(format!("{rs_name}-"));
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid, "controller": true, "blockOwnerDeletion": true}]);
    let pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": rs["spec"]["template"]["spec"].clone()});
    let r = apiserver::call(
        cl,
        rs_caller,
        Method::POST,
        &format!("/api/v1/namespaces/{ns}/pods"),
        "application/json",
        Some(&pod),
    )
    .await;
    if r.code == 201 {
        b.failures = 0;
        b.next = None;
        let pn = util::get_str(&r.body, &["metadata", "name"]).unwrap_or_default();
        cl.record_event(
            rs,
            "Normal",
            "SuccessfulCreate",
            &format!("Created pod: {pn}"),
            "replicaset-controller",
            None,
            None,
        );
        return Ok(());
    }
    let msg = format!(
        "Error creating: {}",
        r.body["message"].as_str().unwrap_or("unknown error")
    );
    cl.record_event(
        rs,
        "Warning",
        "FailedCreate",
        &msg,
        "replicaset-controller",
        None,
        None,
    );
    b.failures += 1;
    let secs = (2f64.powi(b.failures as i32 - 1)).min(60.0);
    b.next = Some(tokio::time::Instant::now() + Duration::from_secs_f64(secs * cl.env.scale));
    Err(msg)
}

fn set_replica_set_status(cl: &Cluster, rs: &Value, counts: Counts, failure: Option<Value>) {
    let Counts { total, ready, .. } = counts;
    let rs_key = Key::of("replicasets.apps", rs);
    let rs_gen = rs
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    set_status(cl, &rs_key, |_, st| {
        let mut n = json!({"replicas": total, "fullyLabeledReplicas": total, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": rs_gen});
        if ready == 0 {
            n.as_object_mut().unwrap().remove("readyReplicas");
            n.as_object_mut().unwrap().remove("availableReplicas");
        }
        if let Some(c) = failure {
            let keep = st
                .pointer("/conditions/0")
                .filter(|o| o["message"] == c["message"])
                .cloned();
            n["conditions"] = json!([keep.unwrap_or(c)]);
        }
        *st = n;
    });
}

fn set_deployment_status(
    cl: &Cluster,
    d: &Value,
    rs_name: &str,
    counts: Counts,
    failure: Option<&Value>,
) {
    let Counts {
        desired,
        total,
        ready,
    } = counts;
    let dkey = Key::of("deployments.apps", d);
    let dgen = d
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    set_status(cl, &dkey, |_, st| {
        let conds = deployment_conditions(st, rs_name, ready >= desired, failure);
        let mut n = json!({"observedGeneration": dgen, "replicas": total, "updatedReplicas": total, "conditions": conds});
        if ready > 0 {
            n["readyReplicas"] = json!(ready);
            n["availableReplicas"] = json!(ready);
        }
        if desired - ready > 0 {
            n["unavailableReplicas"] = json!(desired - ready);
        }
        *st = n;
    });
}

/// Available, Progressing and (after a failed create) ReplicaFailure; a condition that did not
/// change keeps its timestamps.
fn deployment_conditions(
    st: &Value,
    rs_name: &str,
    available: bool,
    failure: Option<&Value>,
) -> Vec<Value> {
    let old = |t: &str| {
        st.pointer("/conditions")
            .and_then(|c| c.as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
    };
    let avail = if available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            old("Available").as_ref(),
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            old("Available").as_ref(),
        )
    };
    let prog = if available {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            old("Progressing").as_ref(),
        )
    } else {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs_name}\" is progressing."),
            old("Progressing").as_ref(),
        )
    };
    let mut conds = vec![avail, prog];
    if let Some(f) = failure {
        conds.push(condition(
            "ReplicaFailure",
            "True",
            "FailedCreate",
            f["message"].as_str().unwrap_or_default(),
            old("ReplicaFailure").as_ref(),
        ));
    }
    // Keep timestamps stable when nothing but lastUpdateTime would change.
    for c in conds.iter_mut() {
        if let Some(o) = old(c["type"].as_str().unwrap_or_default())
            && o["status"] == c["status"]
            && o["reason"] == c["reason"]
            && o["message"] == c["message"]
        {
            *c = o;
        }
    }
    conds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(conds: &[Value]) -> Vec<(&str, &str, &str)> {
        conds
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap(),
                    c["status"].as_str().unwrap(),
                    c["reason"].as_str().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn deployment_conditions_follow_availability_and_failures() {
        let none = json!({});
        let conds = deployment_conditions(&none, "d-1", false, None);
        assert_eq!(
            types(&conds),
            [
                ("Available", "False", "MinimumReplicasUnavailable"),
                ("Progressing", "True", "ReplicaSetUpdated")
            ]
        );
        assert_eq!(conds[1]["message"], "ReplicaSet \"d-1\" is progressing.");
        let failure = json!({"message": "Error creating: forbidden"});
        let conds = deployment_conditions(&none, "d-1", false, Some(&failure));
        assert_eq!(conds[2]["type"], "ReplicaFailure");
        assert_eq!(conds[2]["message"], "Error creating: forbidden");
        let conds = deployment_conditions(&none, "d-1", true, None);
        assert_eq!(
            types(&conds),
            [
                ("Available", "True", "MinimumReplicasAvailable"),
                ("Progressing", "True", "NewReplicaSetAvailable")
            ]
        );
    }

    #[test]
    fn unchanged_conditions_keep_their_timestamps() {
        let old = json!({"conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": "then", "lastTransitionTime": "then"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "ReplicaSet \"d-1\" is progressing.", "lastUpdateTime": "then", "lastTransitionTime": "then"}
        ]});
        let conds = deployment_conditions(&old, "d-1", true, None);
        assert_eq!(conds[0], old["conditions"][0]);
        // Progressing changed its reason: updated now, but still True since "then".
        assert_eq!(conds[1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(conds[1]["lastTransitionTime"], "then");
        assert_ne!(conds[1]["lastUpdateTime"], "then");
    }
}
