//! Scheduler + kubelet of the single kind node: binds pods, pulls images (with latencies and
//! "already present" on repeat), runs init containers then containers, reports readiness, and
//! finishes graceful deletions. Ray head pods bring up a Ray head (dashboard) once Ready.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::{Cluster, latency};
use crate::controllers::{node_ready, set_status};
use crate::faults::Fault;
use crate::store::Key;
use crate::util;

pub async fn run(cl: Arc<Cluster>) {
    let started: Arc<Mutex<HashSet<String>>> = Arc::default();
    let terminating: Arc<Mutex<HashSet<String>>> = Arc::default();
    let pulled: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        tokio::select! {
            _ = cl.cancel.cancelled() => return,
            _ = cl.env.sleep(latency::CONTROLLER_TICK) => {}
        }
        let (pods, _) = cl.store.list("pods", None);
        for p in pods {
            let uid = util::get_str(&p, &["metadata", "uid"])
                .unwrap_or_default()
                .to_string();
            let ns = util::get_str(&p, &["metadata", "namespace"])
                .unwrap_or_default()
                .to_string();
            let name = util::get_str(&p, &["metadata", "name"])
                .unwrap_or_default()
                .to_string();
            let key = Key::new("pods", &ns, &name);
            if p.pointer("/metadata/deletionTimestamp").is_some() {
                if terminating.lock().unwrap().insert(uid.clone()) {
                    let cl = cl.clone();
                    tokio::spawn(async move {
                        for c in containers(&p) {
                            cl.record_event(
                                &p,
                                "Normal",
                                "Killing",
                                &format!(
                                    "Stopping container {}",
                                    c["name"].as_str().unwrap_or_default()
                                ),
                                "kubelet",
                                Some(&cl.node_name.clone()),
                                Some(&format!(
                                    "spec.containers{{{}}}",
                                    c["name"].as_str().unwrap_or_default()
                                )),
                            );
                        }
                        cl.env.sleep(latency::POD_TERMINATION).await;
                        cl.ray_heads.lock().unwrap().remove(&format!("{ns}/{name}"));
                        cl.store.delete(&key);
                    });
                }
                continue;
            }
            if p.pointer("/spec/nodeName").is_none() {
                if !node_ready(&cl) {
                    continue;
                }
                let node = cl.node_name.clone();
                let now = util::now_rfc3339();
                let bound = cl.store.update(&key, None, |o| {
                    o["spec"]["nodeName"] = json!(node);
                    o["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}]);
                    Ok(true)
                });
                if let Ok(b) = bound {
                    cl.record_event(
                        &b,
                        "Normal",
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {node}"),
                        "default-scheduler",
                        None,
                        None,
                    );
                }
            }
            if started.lock().unwrap().insert(uid) {
                let cl = cl.clone();
                let pulled = pulled.clone();
                tokio::spawn(async move { pod_lifecycle(cl, key, pulled).await });
            }
        }
    }
}

fn containers(p: &Value) -> Vec<Value> {
    p.pointer("/spec/containers")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default()
}

fn init_containers(p: &Value) -> Vec<Value> {
    p.pointer("/spec/initContainers")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default()
}

fn image_of(c: &Value) -> String {
    c["image"].as_str().unwrap_or_default().to_string()
}

fn full_image(img: &str) -> String {
    let with_tag = if img
        .rsplit('/')
        .next()
        .is_some_and(|l| l.contains(':') || l.contains('@'))
    {
        img.to_string()
    } else {
        format!("{img}:latest")
    };
    if with_tag.split('/').next().is_some_and(|f| f.contains('.')) {
        with_tag
    } else if with_tag.contains('/') {
        format!("docker.io/{with_tag}")
    } else {
        format!("docker.io/library/{with_tag}")
    }
}

fn status_of(
    name: &str,
    image: &str,
    state: Value,
    ready: bool,
    started: Option<bool>,
    restart: i64,
) -> Value {
    let mut s = json!({"name": name, "state": state, "lastState": {}, "ready": ready, "restartCount": restart, "image": full_image(image), "imageID": ""});
    if state.get("running").is_some() || state.get("terminated").is_some() {
        s["imageID"] = json!(format!(
            "{}@sha256:{}",
            full_image(image).split(':').next().unwrap_or_default(),
            "4c2f4e0b7d1ec4d7a5f3a0d9ab5ed1c3b0a7c9e2f1d3b5a7c9e1f3a5b7c9d1e3"
        ));
        s["containerID"] = json!(format!("containerd://{:064x}", fastrand::u128(..)));
    }
    if let Some(st) = started {
        s["started"] = json!(st);
    }
    s
}

fn conds(
    scheduled_at: &str,
    initialized: bool,
    ready: bool,
    reason_not_ready: &str,
    not_ready_names: &[String],
) -> Value {
    let now = util::now_rfc3339();
    let mut c = vec![];
    if initialized {
        c.push(json!({"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
    } else {
        c.push(json!({"type": "Initialized", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": "ContainersNotInitialized", "message": format!("containers with incomplete status: [{}]", not_ready_names.join(" "))}));
    }
    if ready {
        c.push(json!({"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        c.push(json!({"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
    } else {
        let msg = format!(
            "containers with unready status: [{}]",
            not_ready_names.join(" ")
        );
        c.push(json!({"type": "Ready", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": reason_not_ready, "message": msg}));
        c.push(json!({"type": "ContainersReady", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": reason_not_ready, "message": msg}));
    }
    c.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": scheduled_at}));
    json!(c)
}

fn alive(cl: &Cluster, key: &Key) -> Option<Value> {
    cl.store
        .get(key)
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
}

async fn pull(
    cl: &Arc<Cluster>,
    pod: &Value,
    c: &Value,
    pulled: &Arc<Mutex<HashSet<String>>>,
    field: &str,
) -> bool {
    let img = image_of(c);
    let host = cl.node_name.clone();
    let policy = c["imagePullPolicy"].as_str().unwrap_or("IfNotPresent");
    if policy != "Always" && pulled.lock().unwrap().contains(&img) {
        cl.record_event(
            pod,
            "Normal",
            "Pulled",
            &format!("Container image \"{img}\" already present on machine"),
            "kubelet",
            Some(&host),
            Some(field),
        );
        return true;
    }
    cl.record_event(
        pod,
        "Normal",
        "Pulling",
        &format!("Pulling image \"{img}\""),
        "kubelet",
        Some(&host),
        Some(field),
    );
    let base = if img.contains("rayproject/") {
        latency::PULL_RAY_IMAGE
    } else {
        latency::PULL_SMALL_IMAGE
    };
    cl.env.sleep(base).await;
    let secs = base.as_secs_f64() * (0.9 + fastrand::f64() * 0.2);
    cl.record_event(
        pod,
        "Normal",
        "Pulled",
        &format!(
            "Successfully pulled image \"{img}\" in {secs:.3}s ({secs:.3}s including waiting)"
        ),
        "kubelet",
        Some(&host),
        Some(field),
    );
    pulled.lock().unwrap().insert(img);
    true
}

async fn pod_lifecycle(cl: Arc<Cluster>, key: Key, pulled: Arc<Mutex<HashSet<String>>>) {
    cl.env.sleep(latency::SCHEDULE).await;
    let Some(pod) = alive(&cl, &key) else { return };
    let host = cl.node_name.clone();
    let ip = cl.next_pod_ip();
    let scheduled_at = pod
        .pointer("/status/conditions/0/lastTransitionTime")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let start_time = util::now_rfc3339();
    let inits = init_containers(&pod);
    let ctrs = containers(&pod);
    let names = |cs: &[Value]| {
        cs.iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let waiting = |reason: &str| json!({"waiting": {"reason": reason}});
    let is_head = util::labels_of(&pod)
        .get("ray.io/node-type")
        .map(String::as_str)
        == Some("head");
    let is_operator = util::labels_of(&pod)
        .get("app.kubernetes.io/name")
        .map(String::as_str)
        == Some("kuberay-operator");

    // Pending, ContainerCreating / PodInitializing.
    {
        let inits = inits.clone();
        let ctrs = ctrs.clone();
        let (ip, start_time, scheduled_at) = (ip.clone(), start_time.clone(), scheduled_at.clone());
        let init_names = names(&inits);
        let ctr_names = names(&ctrs);
        set_status(&cl, &key, move |_, st| {
            st["phase"] = json!("Pending");
            st["conditions"] = conds(
                &scheduled_at,
                inits.is_empty(),
                false,
                "ContainersNotReady",
                if inits.is_empty() {
                    &ctr_names
                } else {
                    &init_names
                },
            );
            st["hostIP"] = json!("172.18.0.2");
            st["hostIPs"] = json!([{"ip": "172.18.0.2"}]);
            st["podIP"] = json!(ip);
            st["podIPs"] = json!([{"ip": ip}]);
            st["startTime"] = json!(start_time);
            if !inits.is_empty() {
                st["initContainerStatuses"] = json!(
                    inits
                        .iter()
                        .map(|c| status_of(
                            c["name"].as_str().unwrap_or_default(),
                            &image_of(c),
                            waiting("PodInitializing"),
                            false,
                            Some(false),
                            0
                        ))
                        .collect::<Vec<_>>()
                );
            }
            let reason = if inits.is_empty() {
                "ContainerCreating"
            } else {
                "PodInitializing"
            };
            st["containerStatuses"] = json!(
                ctrs.iter()
                    .map(|c| status_of(
                        c["name"].as_str().unwrap_or_default(),
                        &image_of(c),
                        waiting(reason),
                        false,
                        Some(false),
                        0
                    ))
                    .collect::<Vec<_>>()
            );
        });
    }

    // Init containers, in order.
    for (i, c) in inits.iter().enumerate() {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let field = format!("spec.initContainers{{{cname}}}");
        if alive(&cl, &key).is_none() || !pull(&cl, &pod, c, &pulled, &field).await {
            return;
        }
        cl.record_event(
            &pod,
            "Normal",
            "Created",
            &format!("Created container {cname}"),
            "kubelet",
            Some(&host),
            Some(&field),
        );
        cl.record_event(
            &pod,
            "Normal",
            "Started",
            &format!("Started container {cname}"),
            "kubelet",
            Some(&host),
            Some(&field),
        );
        let started_at = util::now_rfc3339();
        let img = image_of(c);
        let cn = cname.clone();
        let sa = started_at.clone();
        set_status(&cl, &key, move |_, st| {
            st["initContainerStatuses"][i] = status_of(
                &cn,
                &img,
                json!({"running": {"startedAt": sa}}),
                false,
                Some(true),
                0,
            );
        });
        // wait-gcs-ready loops until the head's GCS answers.
        if cname == "wait-gcs-ready" {
            let cluster = util::labels_of(&pod)
                .get("ray.io/cluster")
                .cloned()
                .unwrap_or_default();
            let ns = key.ns.clone();
            loop {
                if alive(&cl, &key).is_none() {
                    return;
                }
                let up = cl
                    .ray_heads
                    .lock()
                    .unwrap()
                    .values()
                    .any(|h| h.cluster == cluster && h.namespace == ns);
                if up {
                    break;
                }
                tokio::select! {
                    _ = cl.cancel.cancelled() => return,
                    _ = cl.env.sleep(Duration::from_secs(2)) => {}
                }
            }
        } else {
            cl.env.sleep(latency::CONTAINER_START).await;
        }
        let img = image_of(c);
        let finished = util::now_rfc3339();
        set_status(&cl, &key, move |_, st| {
            st["initContainerStatuses"][i] = status_of(
                &cname,
                &img,
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started_at, "finishedAt": finished}}),
                true,
                Some(false),
                0,
            );
        });
    }
    if !inits.is_empty() {
        let ctr_names = names(&ctrs);
        let scheduled_at = scheduled_at.clone();
        let ctrs2 = ctrs.clone();
        set_status(&cl, &key, move |_, st| {
            st["conditions"] = conds(&scheduled_at, true, false, "ContainersNotReady", &ctr_names);
            st["containerStatuses"] = json!(
                ctrs2
                    .iter()
                    .map(|c| status_of(
                        c["name"].as_str().unwrap_or_default(),
                        &image_of(c),
                        json!({"waiting": {"reason": "ContainerCreating"}}),
                        false,
                        Some(false),
                        0
                    ))
                    .collect::<Vec<_>>()
            );
        });
    }

    // Containers.
    for (i, c) in ctrs.iter().enumerate() {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let field = format!("spec.containers{{{cname}}}");
        if alive(&cl, &key).is_none() {
            return;
        }
        if is_head && i == 0 && cl.faults().has(Fault::HeadImagePullBackoff) {
            cl.faults().hit(
                Fault::HeadImagePullBackoff,
                &format!("{}/{}", key.ns, key.name),
            );
            image_pull_backoff(&cl, &key, &pod, c, i, &field).await;
            return;
        }
        if !pull(&cl, &pod, c, &pulled, &field).await {
            return;
        }
        cl.record_event(
            &pod,
            "Normal",
            "Created",
            &format!("Created container {cname}"),
            "kubelet",
            Some(&host),
            Some(&field),
        );
        cl.record_event(
            &pod,
            "Normal",
            "Started",
            &format!("Started container {cname}"),
            "kubelet",
            Some(&host),
            Some(&field),
        );
        let started_at = util::now_rfc3339();
        let img = image_of(c);
        set_status(&cl, &key, move |_, st| {
            st["containerStatuses"][i] = status_of(
                &cname,
                &img,
                json!({"running": {"startedAt": started_at}}),
                false,
                Some(true),
                0,
            );
        });
    }
    cl.env.sleep(latency::CONTAINER_START).await;
    set_status(&cl, &key, |_, st| {
        st["phase"] = json!("Running");
    });

    // Readiness.
    cl.env.sleep(latency::READINESS).await;
    if is_operator && cl.faults().has(Fault::OperatorNeverReady) {
        cl.faults().hit(
            Fault::OperatorNeverReady,
            &format!("{}/{}", key.ns, key.name),
        );
        loop {
            let Some(p) = alive(&cl, &key) else { return };
            let c0 = ctrs
                .first()
                .and_then(|c| c["name"].as_str())
                .unwrap_or("kuberay-operator");
            cl.record_event(&p, "Warning", "Unhealthy", &format!("Readiness probe failed: Get \"http://{ip}:8080/metrics\": dial tcp {ip}:8080: connect: connection refused"), "kubelet", Some(&host), Some(&format!("spec.containers{{{c0}}}")));
            tokio::select! {
                _ = cl.cancel.cancelled() => return,
                _ = cl.env.sleep(Duration::from_secs(10)) => {}
            }
        }
    }
    let Some(pod) = alive(&cl, &key) else { return };
    if is_head {
        crate::ray::start_head(&cl, &pod);
    }
    let ctr_names = names(&ctrs);
    let ctrs2 = ctrs.clone();
    set_status(&cl, &key, move |_, st| {
        st["conditions"] = conds(&scheduled_at, true, true, "", &ctr_names);
        if let Some(arr) = st["containerStatuses"].as_array_mut() {
            for (i, s) in arr.iter_mut().enumerate() {
                if i < ctrs2.len() {
                    s["ready"] = json!(true);
                    s["started"] = json!(true);
                }
            }
        }
    });
}

async fn image_pull_backoff(
    cl: &Arc<Cluster>,
    key: &Key,
    pod: &Value,
    c: &Value,
    i: usize,
    field: &str,
) {
    let img = image_of(c);
    let host = cl.node_name.clone();
    let cname = c["name"].as_str().unwrap_or_default().to_string();
    let mut n = 0u32;
    loop {
        if alive(cl, key).is_none() {
            return;
        }
        cl.record_event(
            pod,
            "Normal",
            "Pulling",
            &format!("Pulling image \"{img}\""),
            "kubelet",
            Some(&host),
            Some(field),
        );
        cl.env.sleep(Duration::from_secs(3)).await;
        let msg = format!(
            "Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": failed to resolve reference \"{}\": {}: not found",
            full_image(&img),
            full_image(&img),
            full_image(&img)
        );
        cl.record_event(
            pod,
            "Warning",
            "Failed",
            &msg,
            "kubelet",
            Some(&host),
            Some(field),
        );
        cl.record_event(
            pod,
            "Warning",
            "Failed",
            "Error: ErrImagePull",
            "kubelet",
            Some(&host),
            Some(field),
        );
        let (cn, im, m) = (cname.clone(), img.clone(), msg.clone());
        set_status(cl, key, move |_, st| {
            st["containerStatuses"][i] = status_of(
                &cn,
                &im,
                json!({"waiting": {"reason": "ErrImagePull", "message": m}}),
                false,
                Some(false),
                0,
            );
        });
        cl.env.sleep(Duration::from_secs(2)).await;
        cl.record_event(
            pod,
            "Normal",
            "BackOff",
            &format!("Back-off pulling image \"{img}\""),
            "kubelet",
            Some(&host),
            Some(field),
        );
        cl.record_event(
            pod,
            "Warning",
            "Failed",
            "Error: ImagePullBackOff",
            "kubelet",
            Some(&host),
            Some(field),
        );
        let (cn, im) = (cname.clone(), img.clone());
        set_status(cl, key, move |_, st| {
            st["containerStatuses"][i] = status_of(
                &cn,
                &im,
                json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\"", im)}}),
                false,
                Some(false),
                0,
            );
        });
        n += 1;
        let wait = (10u64 << n.min(5)).min(300);
        tokio::select! {
            _ = cl.cancel.cancelled() => return,
            _ = cl.env.sleep(Duration::from_secs(wait)) => {}
        }
    }
}
