//! Simulated KubeRay operator (RayCluster controller), active only while its Deployment's pod
//! (`app.kubernetes.io/name=kuberay-operator`) is Ready. Creates the head Service, the head pod
//! (generateName `<cluster>-head-`) and worker pods (`<cluster>-<group>-worker-`, with the
//! injected `wait-gcs-ready` init container) through the apiserver as the operator's service
//! account; on a rejected head pod emits `FailedToCreateHeadPod`, sets `ReplicaFailure`, creates no
//! workers and retries with exponential backoff.

use http::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::apiserver;
use crate::cluster::{Caller, Cluster, latency};
use crate::controllers::{pod_ready, set_status};
use crate::faults::Fault;
use crate::store::Key;
use crate::util;

#[derive(Default)]
struct State {
    failures: u32,
    next: Option<tokio::time::Instant>,
    error: Option<(String, String)>,
}

fn operator_pod(cl: &Cluster) -> Option<(String, Value)> {
    let (pods, _) = cl.store.list("pods", None);
    pods.into_iter()
        .find(|p| {
            util::labels_of(p)
                .get("app.kubernetes.io/name")
                .map(String::as_str)
                == Some("kuberay-operator")
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
}

pub async fn run(cl: Arc<Cluster>) {
    let mut states: BTreeMap<String, State> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = cl.cancel.cancelled() => return,
            _ = cl.env.sleep(latency::CONTROLLER_TICK) => {}
        }
        let Some((op_ns, op_pod)) = operator_pod(&cl) else {
            continue;
        };
        let caller = cl.operator_caller(&op_ns, &op_pod);
        let (rcs, _) = cl.store.list("rayclusters.ray.io", None);
        for rc in rcs {
            if rc.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let uid = util::get_str(&rc, &["metadata", "uid"])
                .unwrap_or_default()
                .to_string();
            let st = states.entry(uid).or_default();
            reconcile(&cl, &caller, &rc, st).await;
        }
    }
}

fn labels(cluster: &str, node_type: &str, group: &str) -> Value {
    json!({
        "ray.io/cluster": cluster,
        "ray.io/node-type": node_type,
        "ray.io/group": group,
        "ray.io/identifier": format!("{cluster}-{node_type}"),
        "ray.io/is-ray-node": "yes",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    })
}

fn owner_ref(rc: &Value) -> Value {
    json!([{
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "name": rc["metadata"]["name"],
        "uid": rc["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true
    }])
}

fn head_service(rc: &Value, name: &str, ns: &str) -> Value {
    let c0 = rc
        .pointer("/spec/headGroupSpec/template/spec/containers/0")
        .cloned()
        .unwrap_or(json!({}));
    let mut ports: Vec<Value> = c0["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("name").is_some())
        .map(|p| json!({"name": p["name"], "protocol": "TCP", "appProtocol": "tcp", "port": p["containerPort"], "targetPort": p["containerPort"]}))
        .collect();
    if ports.is_empty() {
        for (n, p) in [
            ("client", 10001),
            ("gcs-server", 6379),
            ("dashboard", 8265),
            ("serve", 8000),
        ] {
            ports.push(json!({"name": n, "protocol": "TCP", "appProtocol": "tcp", "port": p, "targetPort": p}));
        }
    }
    if !ports.iter().any(|p| p["name"] == "metrics") {
        ports.push(json!({"name": "metrics", "protocol": "TCP", "appProtocol": "tcp", "port": 8080, "targetPort": 8080}));
    }
    let mut l = labels(name, "head", "headgroup");
    l.as_object_mut().unwrap().remove("ray.io/group");
    l.as_object_mut().unwrap().remove("ray.io/is-ray-node");
    json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": format!("{name}-head-svc"), "namespace": ns, "labels": l, "ownerReferences": owner_ref(rc)},
        "spec": {
            "ports": ports,
            "selector": {"ray.io/cluster": name, "ray.io/node-type": "head"},
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "type": "ClusterIP"
        }
    })
}

fn ray_start_args(params: &Value) -> String {
    let mut v: Vec<String> = params
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "--{k}={}",
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(" ")
}

fn build_pod(rc: &Value, ns: &str, node_type: &str, group: Option<&Value>) -> Value {
    let name = util::get_str(rc, &["metadata", "name"]).unwrap_or_default();
    let spec_src = match group {
        None => rc
            .pointer("/spec/headGroupSpec")
            .cloned()
            .unwrap_or(json!({})),
        Some(g) => g.clone(),
    };
    let template = spec_src["template"].clone();
    let group_name = group
        .and_then(|g| g["groupName"].as_str())
        .unwrap_or("headgroup")
        .to_string();
    let mut meta = template
        .get("metadata")
        .cloned()
        .filter(|m| m.is_object())
        .unwrap_or(json!({}));
    let mut l = meta
        .get("labels")
        .cloned()
        .filter(|l| l.is_object())
        .unwrap_or(json!({}));
    for (k, v) in labels(name, node_type, &group_name).as_object().unwrap() {
        l[k] = v.clone();
    }
    meta["labels"] = l;
    let mut ann = meta
        .get("annotations")
        .cloned()
        .filter(|a| a.is_object())
        .unwrap_or(json!({}));
    ann["ray.io/ft-enabled"] = json!("false");
    meta["annotations"] = ann;
    meta["generateName"] = json!(if node_type == "head" {
        format!("{name}-head-")
    } else {
        format!("{name}-{group_name}-worker-")
    });
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = owner_ref(rc);
    let mut spec = template["spec"].clone();
    let svc = format!("{name}-head-svc.{ns}.svc.cluster.local");
    let params = ray_start_args(&spec_src["rayStartParams"]);
    let ray_version = rc
        .pointer("/spec/rayVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("2.4.0")
        .to_string();
    if let Some(c0) = spec.pointer_mut("/containers/0") {
        let start = if node_type == "head" {
            format!(
                "ulimit -n 65536; ray start --head  --block  --dashboard-agent-listen-port=52365  --memory=2147483648  --metrics-export-port=8080  --num-cpus=1 {params}"
            )
        } else {
            format!(
                "ulimit -n 65536; ray start  --address={svc}:6379  --block  --dashboard-agent-listen-port=52365  --memory=2147483648  --metrics-export-port=8080  --num-cpus=1 {params}"
            )
        };
        c0["command"] = json!(["/bin/bash", "-c", "--"]);
        c0["args"] = json!([start]);
        let mut env = c0["env"].as_array().cloned().unwrap_or_default();
        env.extend([
            json!({"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['ray.io/cluster']"}}}),
            json!({"name": "RAY_CLOUD_INSTANCE_ID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
            json!({"name": "RAY_NODE_TYPE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['ray.io/group']"}}}),
            json!({"name": "KUBERAY_GEN_RAY_START_CMD", "value": c0["args"][0]}),
            json!({"name": "RAY_PORT", "value": "6379"}),
            json!({"name": "RAY_ADDRESS", "value": if node_type == "head" { "127.0.0.1:6379".to_string() } else { format!("{svc}:6379") }}),
            json!({"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"}),
            json!({"name": "RAY_USAGE_STATS_EXTRA_TAGS", "value": format!("kuberay_version=v1.5.1;kuberay_crd=RayCluster")}),
            json!({"name": "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "value": "1"}),
        ]);
        c0["env"] = json!(env);
        let mut ports = c0["ports"].as_array().cloned().unwrap_or_default();
        if !ports.iter().any(|p| p["containerPort"] == 8080) {
            ports.push(json!({"containerPort": 8080, "name": "metrics", "protocol": "TCP"}));
        }
        c0["ports"] = json!(ports);
        let probe_cmd = if node_type == "head" {
            "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success && wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
        } else {
            "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
        };
        let _ = ray_version;
        c0["readinessProbe"] = json!({"exec": {"command": ["bash", "-c", probe_cmd]}, "initialDelaySeconds": 10, "timeoutSeconds": 2, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 10});
        c0["livenessProbe"] = json!({"exec": {"command": ["bash", "-c", probe_cmd]}, "initialDelaySeconds": 30, "timeoutSeconds": 2, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 120});
        let mut mounts = c0["volumeMounts"].as_array().cloned().unwrap_or_default();
        mounts.push(json!({"mountPath": "/dev/shm", "name": "shared-mem"}));
        c0["volumeMounts"] = json!(mounts);
    }
    let mut vols = spec["volumes"].as_array().cloned().unwrap_or_default();
    vols.push(json!({"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}));
    spec["volumes"] = json!(vols);
    if node_type == "worker" {
        // ENABLE_INIT_CONTAINER_INJECTION: wait for the GCS, same image and securityContext as the Ray container.
        let c0 = spec.pointer("/containers/0").cloned().unwrap_or(json!({}));
        let mut init = json!({
            "name": "wait-gcs-ready",
            "image": c0["image"],
            "imagePullPolicy": c0.get("imagePullPolicy").cloned().unwrap_or(json!("IfNotPresent")),
            "command": ["/bin/bash", "-lc", "--"],
            "args": [format!("SECONDS=0\nwhile true; do\n  if (( SECONDS <= 120 )); then\n    if ray health-check --address {svc}:6379 > /dev/null 2>&1; then\n      echo \"GCS is ready.\"\n      break\n    fi\n    echo \"$SECONDS seconds elapsed: Waiting for GCS to be ready.\"\n  else\n    if ray health-check --address {svc}:6379; then\n      echo \"GCS is ready. Any error messages above can be safely ignored.\"\n      break\n    fi\n    echo \"$SECONDS seconds elapsed: Still waiting for GCS to be ready. For troubleshooting, refer to the FAQ at https://github.com/ray-project/kuberay/blob/master/docs/guidance/FAQ.md.\"\n  fi\n  sleep 5\ndone\n")],
            "env": [{"name": "FQ_RAY_IP", "value": svc}, {"name": "RAY_IP", "value": format!("{name}-head-svc")}],
            "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}, "requests": {"cpu": "200m", "memory": "256Mi"}},
        });
        if let Some(sc) = c0.get("securityContext") {
            init["securityContext"] = sc.clone();
        }
        if let Some(vm) = c0.get("volumeMounts") {
            init["volumeMounts"] = vm.clone();
        }
        let mut inits = spec["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        inits.insert(0, init);
        spec["initContainers"] = json!(inits);
    }
    json!({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec})
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

fn running_ready(p: &Value) -> bool {
    util::get_str(p, &["status", "phase"]) == Some("Running") && pod_ready(p)
}

async fn reconcile(cl: &Arc<Cluster>, caller: &Caller, rc: &Value, st: &mut State) {
    let ns = util::get_str(rc, &["metadata", "namespace"])
        .unwrap_or_default()
        .to_string();
    let name = util::get_str(rc, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let svc_name = format!("{name}-head-svc");
    if cl
        .store
        .get(&Key::new("services", &ns, &svc_name))
        .is_none()
    {
        let r = create(cl, caller, &ns, "services", &head_service(rc, &name, &ns)).await;
        if r.code == 201 {
            cl.record_event(
                rc,
                "Normal",
                "CreatedService",
                &format!("Created service {ns}/{svc_name}"),
                "raycluster-controller",
                None,
                None,
            );
        }
    }
    let (pods, _) = cl.store.list("pods", Some(&ns));
    let mine: Vec<&Value> = pods
        .iter()
        .filter(|p| {
            util::labels_of(p).get("ray.io/cluster") == Some(&name)
                && p.pointer("/metadata/deletionTimestamp").is_none()
        })
        .collect();
    let heads: Vec<&Value> = mine
        .iter()
        .copied()
        .filter(|p| {
            util::labels_of(p)
                .get("ray.io/node-type")
                .map(String::as_str)
                == Some("head")
        })
        .collect();
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
        let mut err: Option<(String, String)> = None;
        if heads.is_empty() {
            let pod = build_pod(rc, &ns, "head", None);
            let r = create(cl, caller, &ns, "pods", &pod).await;
            if r.code == 201 {
                let pn = util::get_str(&r.body, &["metadata", "name"]).unwrap_or_default();
                cl.record_event(
                    rc,
                    "Normal",
                    "CreatedHeadPod",
                    &format!("Created head Pod {ns}/{pn}"),
                    "raycluster-controller",
                    None,
                    None,
                );
            } else {
                let m = r.body["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_string();
                // pod.Name is empty for a generateName create that failed.
                cl.record_event(
                    rc,
                    "Warning",
                    "FailedToCreateHeadPod",
                    &format!("Failed to create head Pod {ns}/, {m}"),
                    "raycluster-controller",
                    None,
                    None,
                );
                err = Some((
                    "FailedCreateHeadPod".into(),
                    format!("FailedCreateHeadPod\n{m}"),
                ));
            }
        } else {
            for g in rc
                .pointer("/spec/workerGroupSpecs")
                .and_then(|w| w.as_array())
                .cloned()
                .unwrap_or_default()
            {
                let gname = g["groupName"].as_str().unwrap_or_default().to_string();
                let min = g["minReplicas"].as_i64().unwrap_or(0);
                let max = g["maxReplicas"].as_i64().unwrap_or(i64::MAX);
                let want = g["replicas"].as_i64().unwrap_or(min).clamp(min, max)
                    * g["numOfHosts"].as_i64().unwrap_or(1);
                let have = mine
                    .iter()
                    .filter(|p| {
                        util::labels_of(p).get("ray.io/group") == Some(&gname)
                            && util::labels_of(p)
                                .get("ray.io/node-type")
                                .map(String::as_str)
                                == Some("worker")
                    })
                    .count() as i64;
                for _ in have..want {
                    let pod = build_pod(rc, &ns, "worker", Some(&g));
                    let r = create(cl, caller, &ns, "pods", &pod).await;
                    if r.code == 201 {
                        let pn = util::get_str(&r.body, &["metadata", "name"]).unwrap_or_default();
                        cl.record_event(
                            rc,
                            "Normal",
                            "CreatedWorkerPod",
                            &format!("Created worker Pod {ns}/{pn}"),
                            "raycluster-controller",
                            None,
                            None,
                        );
                    } else {
                        let m = r.body["message"]
                            .as_str()
                            .unwrap_or("unknown error")
                            .to_string();
                        cl.record_event(
                            rc,
                            "Warning",
                            "FailedToCreateWorkerPod",
                            &format!(
                                "Failed to create worker Pod for the cluster {ns}/{name}, {m}"
                            ),
                            "raycluster-controller",
                            None,
                            None,
                        );
                        err = Some((
                            "FailedCreateWorkerPod".into(),
                            format!("FailedCreateWorkerPod\n{m}"),
                        ));
                        break;
                    }
                }
            }
        }
        match err {
            Some(e) => {
                st.failures += 1;
                // controller-runtime's per-item exponential backoff: 5ms * 2^n, capped at 1000s.
                let secs = (0.005 * 2f64.powi(st.failures as i32 - 1)).min(1000.0);
                st.next = Some(
                    tokio::time::Instant::now() + Duration::from_secs_f64(secs * cl.env.scale),
                );
                st.error = Some(e);
            }
            None => {
                st.failures = 0;
                st.next = None;
                st.error = None;
            }
        }
    }
    update_status(cl, rc, &ns, &name, st);
}

fn update_status(cl: &Cluster, rc: &Value, ns: &str, name: &str, st: &State) {
    let (pods, _) = cl.store.list("pods", Some(ns));
    let mine: Vec<&Value> = pods
        .iter()
        .filter(|p| util::labels_of(p).get("ray.io/cluster").map(String::as_str) == Some(name))
        .collect();
    let head = mine.iter().find(|p| {
        util::labels_of(p)
            .get("ray.io/node-type")
            .map(String::as_str)
            == Some("head")
    });
    let workers: Vec<&&Value> = mine
        .iter()
        .filter(|p| {
            util::labels_of(p)
                .get("ray.io/node-type")
                .map(String::as_str)
                == Some("worker")
        })
        .collect();
    let groups = rc
        .pointer("/spec/workerGroupSpecs")
        .and_then(|w| w.as_array())
        .cloned()
        .unwrap_or_default();
    let desired: i64 = groups
        .iter()
        .map(|g| g["replicas"].as_i64().unwrap_or(0) * g["numOfHosts"].as_i64().unwrap_or(1))
        .sum();
    let min: i64 = groups
        .iter()
        .map(|g| g["minReplicas"].as_i64().unwrap_or(0))
        .sum();
    let max: i64 = groups
        .iter()
        .map(|g| g["maxReplicas"].as_i64().unwrap_or(0))
        .sum();
    let ready_workers = workers.iter().filter(|p| running_ready(p)).count() as i64;
    let head_ready = head.is_some_and(|h| running_ready(h));
    let all_ready = head_ready && ready_workers >= desired && st.error.is_none();
    let generation = rc
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let svc = cl
        .store
        .get(&Key::new("services", ns, &format!("{name}-head-svc")));
    let head_c = rc
        .pointer("/spec/headGroupSpec/template/spec/containers/0")
        .cloned()
        .unwrap_or(json!({}));
    let (cpu, mem) = (
        head_c
            .pointer("/resources/requests/cpu")
            .map(|v| v.to_string().trim_matches('"').to_string()),
        head_c
            .pointer("/resources/requests/memory")
            .and_then(|v| v.as_str())
            .map(String::from),
    );
    let st_err = st.error.clone();
    let head = head.cloned().cloned();
    set_status(
        cl,
        &Key::new("rayclusters.ray.io", ns, name),
        move |_, s| {
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
            if let Some((reason, msg)) = &st_err {
                conds.push(cond("ReplicaFailure", "True", reason, msg));
            }
            conds.push(match (&head, head_ready) {
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
            conds.push(if all_ready || provisioned_before {
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
            let mut n = json!({
                "desiredWorkerReplicas": desired,
                "minWorkerReplicas": min,
                "maxWorkerReplicas": max,
                "readyWorkerReplicas": ready_workers,
                "availableWorkerReplicas": ready_workers,
                "desiredCPU": cpu.clone().unwrap_or_else(|| "0".into()),
                "desiredMemory": mem.clone().unwrap_or_else(|| "0".into()),
                "desiredGPU": "0",
                "desiredTPU": "0",
                "observedGeneration": generation,
                "conditions": conds,
            });
            if all_ready {
                n["state"] = json!("ready");
                n["stateTransitionTimes"] = s
                    .get("stateTransitionTimes")
                    .cloned()
                    .unwrap_or(json!({"ready": util::now_rfc3339()}));
                n["readyWorkerReplicas"] = json!(ready_workers);
            }
            if let Some(svc) = &svc {
                n["endpoints"] = json!({"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"});
                let mut h = json!({"serviceName": svc["metadata"]["name"], "serviceIP": svc.pointer("/spec/clusterIP").cloned().unwrap_or(json!("None"))});
                if let Some(hp) = &head {
                    if let Some(ip) = hp.pointer("/status/podIP") {
                        h["podIP"] = ip.clone();
                    }
                    h["podName"] = hp["metadata"]["name"].clone();
                }
                n["head"] = h;
            }
            // Keep lastUpdateTime stable unless something else changed.
            let mut cmp_old = s.clone();
            if let Some(o) = cmp_old.as_object_mut() {
                o.remove("lastUpdateTime");
            }
            if cmp_old != n {
                n["lastUpdateTime"] = json!(util::now_rfc3339());
                *s = n;
            }
        },
    );
}
