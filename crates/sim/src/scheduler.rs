//! kube-scheduler, reduced: a pod goes to a Ready node whose taints it tolerates and whose labels
//! its `nodeSelector` matches; among those, the one running the fewest pods (so a RayCluster's
//! head and workers spread over the workers). When no node fits and every node is Ready, the pod
//! is unschedulable, with the scheduler's `0/N nodes are available: …` message.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::util;

/// Where a pod goes.
#[derive(Debug, PartialEq)]
pub enum Placement {
    Node(String),
    /// No node fits yet, but some node is not Ready: try again later.
    Wait,
    /// No node fits: the scheduler's message.
    Unschedulable(String),
}

/// Pods bound to each node (terminated ones excluded), for spreading.
pub fn pods_per_node(pods: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in pods {
        let phase = util::get_str(p, &["status", "phase"]).unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        if let Some(n) = util::get_str(p, &["spec", "nodeName"]) {
            *out.entry(n.to_string()).or_default() += 1;
        }
    }
    out
}

/// Picks a node for `pod`.
pub fn place(cl: &Cluster, pod: &Value, load: &BTreeMap<String, usize>) -> Placement {
    let (nodes, _) = cl.store.list("nodes", None);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut fits: Vec<(usize, String)> = vec![];
    let mut all_ready = true;
    for n in &nodes {
        let name = util::get_str(n, &["metadata", "name"]).unwrap_or_default();
        if !util::condition_is_true(n, "Ready") {
            all_ready = false;
            *reasons
                .entry("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into())
                .or_default() += 1;
        } else if let Some(t) = untolerated_taint(n, pod) {
            *reasons
                .entry(format!("node(s) had untolerated taint {{{t}: }}"))
                .or_default() += 1;
        } else if !selector_matches(n, pod) {
            *reasons
                .entry("node(s) didn't match Pod's node affinity/selector".into())
                .or_default() += 1;
        } else {
            fits.push((load.get(name).copied().unwrap_or(0), name.to_string()));
        }
    }
    if let Some((_, name)) = fits.into_iter().min() {
        return Placement::Node(name);
    }
    if !all_ready || nodes.is_empty() {
        return Placement::Wait;
    }
    let n = nodes.len();
    // The scheduler sorts its "<count> <reason>" strings.
    let mut why: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
    why.sort();
    Placement::Unschedulable(format!(
        "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
        why.join(", ")
    ))
}

/// The key of the first NoSchedule/NoExecute taint of `node` that `pod` does not tolerate.
fn untolerated_taint(node: &Value, pod: &Value) -> Option<String> {
    let tolerations = pod
        .pointer("/spec/tolerations")
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    node.pointer("/spec/taints")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter(|t| t["effect"] != "PreferNoSchedule")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| t["key"].as_str().unwrap_or_default().to_string())
}

/// core/v1 `Toleration.ToleratesTaint`.
fn tolerates(tol: &Value, taint: &Value) -> bool {
    let effect = tol["effect"].as_str().unwrap_or_default();
    if !effect.is_empty() && taint["effect"].as_str() != Some(effect) {
        return false;
    }
    let key = tol["key"].as_str().unwrap_or_default();
    if !key.is_empty() && taint["key"].as_str() != Some(key) {
        return false;
    }
    match tol["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        _ => {
            tol["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default()
        }
    }
}

/// The pod's `nodeSelector` (every label must match).
fn selector_matches(node: &Value, pod: &Value) -> bool {
    let labels = util::labels_of(node);
    pod.pointer("/spec/nodeSelector")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use serde_json::json;

    fn node(name: &str, taint: bool, labels: Value) -> Value {
        let mut n = json!({"metadata": {"name": name, "labels": labels}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        if taint {
            n["spec"]["taints"] =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        n
    }

    #[test]
    fn no_fitting_node_gives_the_schedulers_message() {
        let cl = Cluster::for_tests();
        for n in [
            node("cp", true, json!({})),
            node("w1", false, json!({"disk": "hdd"})),
            node("w2", false, json!({"disk": "hdd"})),
        ] {
            let name = n["metadata"]["name"].as_str().unwrap().to_string();
            cl.store
                .create(Key::new("nodes", "", &name), n, false)
                .unwrap();
        }
        let pod = json!({"spec": {"nodeSelector": {"disk": "ssd"}}});
        assert_eq!(
            place(&cl, &pod, &BTreeMap::new()),
            Placement::Unschedulable("0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        let load = BTreeMap::from([("w1".to_string(), 2)]);
        assert_eq!(
            place(&cl, &json!({"spec": {}}), &load),
            Placement::Node("w2".into())
        );
    }

    #[test]
    fn tolerations_match_like_the_core_api() {
        let taint = json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"});
        assert!(tolerates(&json!({"operator": "Exists"}), &taint));
        assert!(tolerates(
            &json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"key": "other", "operator": "Exists"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"operator": "Exists", "effect": "NoExecute"}),
            &taint
        ));
        assert!(tolerates(
            &json!({"key": "node-role.kubernetes.io/control-plane", "value": ""}),
            &taint
        ));
    }
}
