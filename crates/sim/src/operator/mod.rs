//! Simulated KubeRay operator (RayCluster controller): each Ready operator pod
//! (`app.kubernetes.io/name=kuberay-operator`) reconciles the RayClusters of its
//! `--watch-namespace` list (all namespaces without it), so operators of two namespaces never act
//! on one RayCluster. Creates the head Service, the head pod
//! (generateName `<cluster>-head-`) and worker pods (`<cluster>-<group>-worker-`, with the
//! injected `wait-gcs-ready` init container) through the apiserver as the operator's service
//! account; on a rejected head pod emits `FailedToCreateHeadPod`, sets `ReplicaFailure`, creates no
//! workers and retries with exponential backoff.

pub mod objects;
mod status;

use http::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::apiserver;
use crate::audit::UserInfo;
use crate::cluster::{Caller, Cluster, uid_for};
use crate::containers::{Behaviour, Does, When};
use crate::controllers::pod_ready;
use crate::events::Event;
use crate::faults::Fault;
use crate::store::Key;
use crate::util;
use objects::{NodeType, build_pod, head_service, node_type_is, watch_namespaces};

const OPERATOR_LABEL: (&str, &str) = ("app.kubernetes.io/name", "kuberay-operator");
const COMPONENT: &str = "raycluster-controller";

/// Per-RayCluster reconcile state: the create backoff and the last create error.
#[derive(Default)]
struct State {
    failures: u32,
    next: Option<tokio::time::Instant>,
    /// `(reason, message)` of the ReplicaFailure condition.
    error: Option<(String, String)>,
}

/// What the operator's own pod does on the node: with `operator-never-ready` its readiness probe
/// (`/metrics` on 8080) never answers.
pub fn behaviours() -> Vec<Behaviour> {
    vec![
        Behaviour {
            when: When::PodLabel(OPERATOR_LABEL.0, OPERATOR_LABEL.1),
            does: Does::ProbeFails(never_ready),
        },
        Behaviour {
            when: When::PodLabel(OPERATOR_LABEL.0, OPERATOR_LABEL.1),
            does: Does::CrashLoops(crash_loops),
        },
    ]
}

/// The operator exits 1 as soon as it starts (fault).
fn crash_loops(cl: &Cluster, pod: &Value) -> bool {
    if !cl.faults().has(Fault::OperatorCrashLoop) {
        return false;
    }
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    cl.faults().hit(Fault::OperatorCrashLoop, name);
    true
}

fn never_ready(cl: &Cluster, pod: &Value, ip: &str) -> Option<String> {
    if !cl.faults().has(Fault::OperatorNeverReady) {
        return None;
    }
    let ns = util::get_str(pod, &["metadata", "namespace"]).unwrap_or_default();
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    cl.faults()
        .hit(Fault::OperatorNeverReady, &format!("{ns}/{name}"));
    Some(format!(
        "Readiness probe failed: Get \"http://{ip}:8080/metrics\": dial tcp {ip}:8080: connect: connection refused"
    ))
}

/// The Ready operator pods (one per operator Deployment, normally), each with its namespace.
fn operator_pods(cl: &Cluster) -> Vec<(String, Value)> {
    let (pods, _) = cl.store.list("pods", None);
    pods.into_iter()
        .filter(|p| {
            util::labels_of(p).get(OPERATOR_LABEL.0).map(String::as_str) == Some(OPERATOR_LABEL.1)
                && pod_ready(p)
                && p.pointer("/metadata/deletionTimestamp").is_none()
        })
        .map(|p| {
            (
                util::get_str(&p, &["metadata", "namespace"])
                    .unwrap_or_default()
                    .to_string(),
                p,
            )
        })
        .collect()
}

pub async fn run(cl: Arc<Cluster>) {
    // Per operator pod, per RayCluster.
    let mut states: BTreeMap<(String, String), State> = BTreeMap::new();
    let mut changes = cl.store.changes();
    while cl.next_pass(&mut changes).await {
        for (op_ns, op_pod) in operator_pods(&cl) {
            let op_uid = util::get_str(&op_pod, &["metadata", "uid"])
                .unwrap_or_default()
                .to_string();
            let scope = watch_namespaces(&op_pod);
            let caller = operator_caller(&cl, &op_ns, &op_pod, scope.is_some());
            let (rcs, _) = cl.store.list("rayclusters.ray.io", None);
            for rc in rcs {
                let ns = util::get_str(&rc, &["metadata", "namespace"]).unwrap_or_default();
                if rc.pointer("/metadata/deletionTimestamp").is_some()
                    || scope.as_ref().is_some_and(|s| !s.iter().any(|n| n == ns))
                {
                    continue;
                }
                let uid = util::get_str(&rc, &["metadata", "uid"])
                    .unwrap_or_default()
                    .to_string();
                let st = states.entry((op_uid.clone(), uid)).or_default();
                reconcile(&cl, &caller, &rc, st).await;
            }
        }
    }
}

/// The KubeRay operator's service account token, bound to its pod.
/// A namespaced operator (`singleNamespaceInstall`) is bound by a RoleBinding, a cluster-wide
/// one by a ClusterRoleBinding.
fn operator_caller(cl: &Cluster, ns: &str, pod: &Value, namespaced: bool) -> Caller {
    let sa = pod
        .pointer("/spec/serviceAccountName")
        .and_then(|v| v.as_str())
        .unwrap_or("kuberay-operator");
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/pod-name".to_string(),
        vec![
            util::get_str(pod, &["metadata", "name"])
                .unwrap_or_default()
                .to_string(),
        ],
    );
    extra.insert(
        "authentication.kubernetes.io/pod-uid".to_string(),
        vec![
            util::get_str(pod, &["metadata", "uid"])
                .unwrap_or_default()
                .to_string(),
        ],
    );
    let node = util::get_str(pod, &["spec", "nodeName"])
        .unwrap_or(&cl.node_name)
        .to_string();
    if cl.version.minor >= 29 {
        extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={}", util::new_uid())],
        );
        extra.insert(
            "authentication.kubernetes.io/node-name".into(),
            vec![node.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/node-uid".into(),
            vec![uid_for(&node)],
        );
    }
    let ip = util::get_str(pod, &["status", "podIP"])
        .unwrap_or("10.244.0.5")
        .to_string();
    let crb = "kuberay-operator";
    Caller {
        user: UserInfo {
            username: format!("system:serviceaccount:{ns}:{sa}"),
            uid: Some(uid_for(&format!("{ns}/{sa}"))),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            extra: Some(extra),
        },
        user_agent: "kuberay-operator/v0.0.0 (linux/amd64) kubernetes/$Format".into(),
        source_ip: ip,
        external: false,
        authz_reason: if namespaced {
            format!(
                "RBAC: allowed by RoleBinding \"{crb}/{ns}\" of Role \"{crb}\" to ServiceAccount \"{sa}/{ns}\""
            )
        } else {
            format!(
                "RBAC: allowed by ClusterRoleBinding \"{crb}\" of ClusterRole \"{crb}\" to ServiceAccount \"{sa}/{ns}\""
            )
        },
        rights: Default::default(),
    }
}

async fn create(
    cl: &Arc<Cluster>,
    caller: &Caller,
    ns: &str,
    resource: &str,
    obj: &Value,
) -> apiserver::CallResult {
    apiserver::call(
        cl,
        caller,
        Method::POST,
        &format!("/api/v1/namespaces/{ns}/{resource}"),
        "application/json",
        Some(obj),
    )
    .await
}

/// One RayCluster: its head Service, then its head pod, then (once a head exists) its workers.
async fn reconcile(cl: &Arc<Cluster>, caller: &Caller, rc: &Value, st: &mut State) {
    let ns = util::get_str(rc, &["metadata", "namespace"])
        .unwrap_or_default()
        .to_string();
    let name = util::get_str(rc, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    ensure_head_service(cl, caller, rc, &ns, &name).await;
    let due = st.next.is_none_or(|n| tokio::time::Instant::now() >= n);
    let never = cl.faults().has(Fault::OperatorNeverCreatesPods);
    if never
        && cl.faults().once(
            Fault::OperatorNeverCreatesPods,
            "operator-never-creates-pods",
        )
    {
        cl.faults()
            .hit(Fault::OperatorNeverCreatesPods, &format!("{ns}/{name}"));
    }
    if due && !never {
        let result = create_missing_pods(cl, caller, rc, &ns, &name).await;
        backoff(st, result, cl.env.scale);
    }
    status::update(cl, rc, &ns, &name, st.error.clone());
}

async fn ensure_head_service(cl: &Arc<Cluster>, caller: &Caller, rc: &Value, ns: &str, name: &str) {
    let svc_name = format!("{name}-head-svc");
    if cl.store.get(&Key::new("services", ns, &svc_name)).is_some() {
        return;
    }
    let r = create(cl, caller, ns, "services", &head_service(rc, name, ns)).await;
    if r.code == 201 {
        let msg = format!("Created service {ns}/{svc_name}");
        cl.emit(rc, &Event::normal("CreatedService", &msg, COMPONENT));
    }
}

/// The cluster's live pods.
fn ray_pods(cl: &Cluster, ns: &str, name: &str) -> Vec<Value> {
    let (pods, _) = cl.store.list("pods", Some(ns));
    pods.into_iter()
        .filter(|p| {
            util::labels_of(p).get("ray.io/cluster").map(String::as_str) == Some(name)
                && p.pointer("/metadata/deletionTimestamp").is_none()
        })
        .collect()
}

/// The head pod if there is none, else the workers each group lacks. `Err((reason, message))`
/// for the ReplicaFailure condition when a create is rejected.
async fn create_missing_pods(
    cl: &Arc<Cluster>,
    caller: &Caller,
    rc: &Value,
    ns: &str,
    name: &str,
) -> Result<(), (String, String)> {
    let mine = ray_pods(cl, ns, name);
    if !mine.iter().any(|p| node_type_is(p, NodeType::Head)) {
        return create_ray_pod(cl, caller, rc, NodeType::Head, None).await;
    }
    let mut result = Ok(());
    for g in rc
        .pointer("/spec/workerGroupSpecs")
        .and_then(|w| w.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let gname = g["groupName"].as_str().unwrap_or_default();
        let min = g["minReplicas"].as_i64().unwrap_or(0);
        let max = g["maxReplicas"].as_i64().unwrap_or(i64::MAX);
        let want = g["replicas"].as_i64().unwrap_or(min).clamp(min, max)
            * g["numOfHosts"].as_i64().unwrap_or(1);
        let have = mine
            .iter()
            .filter(|p| {
                util::labels_of(p).get("ray.io/group").map(String::as_str) == Some(gname)
                    && node_type_is(p, NodeType::Worker)
            })
            .count() as i64;
        for _ in have..want {
            if let Err(e) = create_ray_pod(cl, caller, rc, NodeType::Worker, Some(&g)).await {
                result = Err(e);
                break;
            }
        }
    }
    result
}

/// Create one head or worker pod and say so in an event on the RayCluster.
async fn create_ray_pod(
    cl: &Arc<Cluster>,
    caller: &Caller,
    rc: &Value,
    node_type: NodeType,
    group: Option<&Value>,
) -> Result<(), (String, String)> {
    let ns = util::get_str(rc, &["metadata", "namespace"]).unwrap_or_default();
    let name = util::get_str(rc, &["metadata", "name"]).unwrap_or_default();
    let pod = build_pod(rc, ns, node_type, group);
    let r = create(cl, caller, ns, "pods", &pod).await;
    if r.code == 201 {
        let pn = util::get_str(&r.body, &["metadata", "name"]).unwrap_or_default();
        let (reason, msg) = match node_type {
            NodeType::Head => ("CreatedHeadPod", format!("Created head Pod {ns}/{pn}")),
            NodeType::Worker => ("CreatedWorkerPod", format!("Created worker Pod {ns}/{pn}")),
        };
        cl.emit(rc, &Event::normal(reason, &msg, COMPONENT));
        return Ok(());
    }
    let m = r.body["message"].as_str().unwrap_or("unknown error");
    let (reason, msg, condition) = match node_type {
        // pod.Name is empty for a generateName create that failed.
        NodeType::Head => (
            "FailedToCreateHeadPod",
            format!("Failed to create head Pod {ns}/, {m}"),
            "FailedCreateHeadPod",
        ),
        NodeType::Worker => (
            "FailedToCreateWorkerPod",
            format!("Failed to create worker Pod for the cluster {ns}/{name}, {m}"),
            "FailedCreateWorkerPod",
        ),
    };
    cl.emit(rc, &Event::warning(reason, &msg, COMPONENT));
    Err((condition.into(), format!("{condition}\n{m}")))
}

/// controller-runtime's per-item exponential backoff: 5ms * 2^n, capped at 1000s.
fn backoff(st: &mut State, result: Result<(), (String, String)>, scale: f64) {
    match result {
        Err(e) => {
            st.failures += 1;
            let secs = (0.005 * 2f64.powi(st.failures as i32 - 1)).min(1000.0);
            st.next = Some(tokio::time::Instant::now() + Duration::from_secs_f64(secs * scale));
            st.error = Some(e);
        }
        Ok(()) => {
            st.failures = 0;
            st.next = None;
            st.error = None;
        }
    }
}
