//! The kubelets of the kind nodes (and the scheduler's binding, placed by `scheduler`): binds
//! pods, pulls images into the pod's node (with latencies and
//! "already present" on repeat), runs init containers then containers, reports readiness, and
//! finishes graceful deletions. What particular containers do (a slow image, an init container
//! that waits, a failing probe, a server started once Ready) comes from `containers::Behaviours`.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::Cluster;
use crate::cluster::full_image;
use crate::containers::{Behaviours, alive};
use crate::controllers::set_status;
use crate::events::{Event, EventType};
use crate::latency;
use crate::scheduler::{Placement, place, pods_per_node};
use crate::store::Key;
use crate::util;

pub async fn run(cl: Arc<Cluster>, behaviours: Arc<Behaviours>) {
    let started: Arc<Mutex<HashSet<String>>> = Arc::default();
    let terminating: Arc<Mutex<HashSet<String>>> = Arc::default();
    let unschedulable: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut changes = cl.store.changes();
    while cl.next_pass(&mut changes).await {
        let (pods, _) = cl.store.list("pods", None);
        let mut load = pods_per_node(&pods);
        for p in pods {
            let uid = util::get_str(&p, &["metadata", "uid"])
                .unwrap_or_default()
                .to_string();
            let key = Key::new(
                "pods",
                util::get_str(&p, &["metadata", "namespace"]).unwrap_or_default(),
                util::get_str(&p, &["metadata", "name"]).unwrap_or_default(),
            );
            if p.pointer("/metadata/deletionTimestamp").is_some() {
                if terminating.lock().unwrap().insert(uid) {
                    tokio::spawn(terminate(cl.clone(), key, p));
                }
                continue;
            }
            let host = match util::get_str(&p, &["spec", "nodeName"]) {
                Some(n) => n.to_string(),
                None => {
                    let node = match place(&cl, &p, &load) {
                        Placement::Wait => continue,
                        Placement::Unschedulable(why) => {
                            if unschedulable.lock().unwrap().insert(key.name.clone()) {
                                not_schedulable(&cl, &key, &p, &why);
                            }
                            continue;
                        }
                        Placement::Node(n) => n,
                    };
                    if let Some(why) = behaviours.unschedulable(&cl, &p) {
                        if unschedulable.lock().unwrap().insert(key.name.clone()) {
                            not_schedulable(&cl, &key, &p, &why);
                        }
                        continue;
                    }
                    *load.entry(node.clone()).or_default() += 1;
                    schedule(&cl, &key, &node);
                    node
                }
            };
            // A pod bound to a node that does not exist has no kubelet to run it.
            if cl.node(&host).is_none() {
                continue;
            }
            if started.lock().unwrap().insert(uid) {
                let run = PodRun {
                    cl: cl.clone(),
                    host,
                    key,
                    pod: Value::Null,
                    behaviours: behaviours.clone(),
                };
                tokio::spawn(run.lifecycle());
            }
        }
    }
}

/// Graceful deletion: stop the containers (and whatever served in the pod), then remove it.
async fn terminate(cl: Arc<Cluster>, key: Key, p: Value) {
    let host = util::get_str(&p, &["spec", "nodeName"])
        .unwrap_or(&cl.node_name)
        .to_string();
    for c in containers(&p) {
        let name = c["name"].as_str().unwrap_or_default();
        let msg = format!("Stopping container {name}");
        let field = format!("spec.containers{{{name}}}");
        let ev = Event::normal("Killing", &msg, "kubelet")
            .on_host(&host)
            .at(&field);
        cl.emit(&p, &ev);
    }
    cl.env.sleep(latency::POD_TERMINATION).await;
    cl.stop_pod_server(&key.ns, &key.name);
    cl.store.delete(&key);
}

/// The scheduler finds no node for the pod: PodScheduled=False (Unschedulable) and a
/// FailedScheduling event, as kube-scheduler reports it.
fn not_schedulable(cl: &Cluster, key: &Key, pod: &Value, why: &str) {
    let now = util::now_rfc3339();
    let why_owned = why.to_string();
    let _ = cl.store.update(key, None, |o| {
        o["status"]["phase"] = json!("Pending");
        o["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": why_owned, "lastProbeTime": null, "lastTransitionTime": now}]);
        Ok(true)
    });
    cl.emit(
        pod,
        &Event::warning("FailedScheduling", why, "default-scheduler"),
    );
}

/// The scheduler binds the pod to `node`.
fn schedule(cl: &Cluster, key: &Key, node: &str) {
    let node = node.to_string();
    let now = util::now_rfc3339();
    let bound = cl.store.update(key, None, |o| {
        o["spec"]["nodeName"] = json!(node);
        o["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}]);
        Ok(true)
    });
    if let Ok(b) = bound {
        let msg = format!("Successfully assigned {}/{} to {node}", key.ns, key.name);
        cl.emit(&b, &Event::normal("Scheduled", &msg, "default-scheduler"));
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

/// One pod's way from bound to Ready, as the kubelet drives it.
struct PodRun {
    cl: Arc<Cluster>,
    host: String,
    key: Key,
    /// The pod as it was when its containers started.
    pod: Value,
    behaviours: Arc<Behaviours>,
}

fn names(cs: &[Value]) -> Vec<String> {
    cs.iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn waiting(reason: &str) -> Value {
    json!({"waiting": {"reason": reason}})
}

/// Status of containers that have not started yet.
fn waiting_statuses(cs: &[Value], reason: &str) -> Value {
    json!(
        cs.iter()
            .map(|c| status_of(
                c["name"].as_str().unwrap_or_default(),
                &image_of(c),
                waiting(reason),
                false,
                Some(false),
                0
            ))
            .collect::<Vec<_>>()
    )
}

impl PodRun {
    async fn lifecycle(mut self) {
        let cl = self.cl.clone();
        cl.env.sleep(latency::SCHEDULE).await;
        let Some(pod) = alive(&cl, &self.key) else {
            return;
        };
        self.pod = pod;
        let ip = cl.next_pod_ip(&self.host);
        let scheduled_at = self
            .pod
            .pointer("/status/conditions/0/lastTransitionTime")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let inits = init_containers(&self.pod);
        let ctrs = containers(&self.pod);
        self.set_pending(&inits, &ctrs, &ip, &scheduled_at);
        if !self.mount_volumes().await {
            return;
        }
        for (i, c) in inits.iter().enumerate() {
            if !self.run_init_container(i, c).await {
                return;
            }
        }
        if !inits.is_empty() {
            self.set_initialized(&ctrs, &scheduled_at);
        }
        for (i, c) in ctrs.iter().enumerate() {
            if !self.start_app_container(i, c).await {
                return;
            }
        }
        cl.env.sleep(latency::CONTAINER_START).await;
        set_status(&cl, &self.key, |_, st| {
            st["phase"] = json!("Running");
        });
        cl.env.sleep(latency::READINESS).await;
        if let Some(msg) = self.behaviours.probe_failure(&cl, &self.pod, &ip) {
            self.probe_fails_forever(&ctrs, &msg).await;
            return;
        }
        let Some(pod) = alive(&cl, &self.key) else {
            return;
        };
        self.behaviours.on_ready(&cl, &pod);
        self.set_ready(&ctrs, &scheduled_at);
    }

    /// An event from the kubelet about the pod, or about one of its containers (`field`, e.g.
    /// `spec.containers{ray-head}`; empty for the pod itself).
    fn event(&self, typ: EventType, reason: &str, msg: &str, field: &str) {
        let ev = Event::new(typ, reason, msg, "kubelet").on_host(&self.host);
        let ev = if field.is_empty() { ev } else { ev.at(field) };
        self.cl.emit(&self.pod, &ev);
    }

    /// Pending: ContainerCreating, or PodInitializing while init containers run.
    fn set_pending(&self, inits: &[Value], ctrs: &[Value], ip: &str, scheduled_at: &str) {
        let (inits, ctrs) = (inits.to_vec(), ctrs.to_vec());
        let (ip, scheduled_at) = (ip.to_string(), scheduled_at.to_string());
        let host_ip = self
            .cl
            .node(&self.host)
            .map_or("172.18.0.2".to_string(), |n| n.ip.clone());
        let start_time = util::now_rfc3339();
        set_status(&self.cl, &self.key, move |_, st| {
            let unready = if inits.is_empty() {
                names(&ctrs)
            } else {
                names(&inits)
            };
            st["phase"] = json!("Pending");
            st["conditions"] = conds(
                &scheduled_at,
                inits.is_empty(),
                false,
                "ContainersNotReady",
                &unready,
            );
            st["hostIP"] = json!(host_ip);
            st["hostIPs"] = json!([{"ip": host_ip}]);
            st["podIP"] = json!(ip);
            st["podIPs"] = json!([{"ip": ip}]);
            st["startTime"] = json!(start_time);
            if !inits.is_empty() {
                st["initContainerStatuses"] = waiting_statuses(&inits, "PodInitializing");
            }
            let reason = if inits.is_empty() {
                "ContainerCreating"
            } else {
                "PodInitializing"
            };
            st["containerStatuses"] = waiting_statuses(&ctrs, reason);
        });
    }

    /// Created + Started events and a running status for container `i` of `statuses`.
    fn start_container(&self, statuses: &'static str, i: usize, c: &Value, field: &str) -> String {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let (created, started) = (
            format!("Created container {cname}"),
            format!("Started container {cname}"),
        );
        self.event(EventType::Normal, "Created", &created, field);
        self.event(EventType::Normal, "Started", &started, field);
        let started_at = util::now_rfc3339();
        let (img, sa) = (image_of(c), started_at.clone());
        set_status(&self.cl, &self.key, move |_, st| {
            st[statuses][i] = status_of(
                &cname,
                &img,
                json!({"running": {"startedAt": sa}}),
                false,
                Some(true),
                0,
            );
        });
        started_at
    }

    /// Pull, start, run to completion. False when the pod (or cluster) went away.
    async fn run_init_container(&self, i: usize, c: &Value) -> bool {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let field = format!("spec.initContainers{{{cname}}}");
        if alive(&self.cl, &self.key).is_none() || !self.pull(c, &field).await {
            return false;
        }
        let started_at = self.start_container("initContainerStatuses", i, c, &field);
        match self.behaviours.init_run(&self.pod, c) {
            Some(run) => {
                if !run(&self.cl, &self.key, &self.pod).await {
                    return false;
                }
            }
            None => self.cl.env.sleep(latency::CONTAINER_START).await,
        }
        let img = image_of(c);
        let finished = util::now_rfc3339();
        set_status(&self.cl, &self.key, move |_, st| {
            st["initContainerStatuses"][i] = status_of(
                &cname,
                &img,
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started_at, "finishedAt": finished}}),
                true,
                Some(false),
                0,
            );
        });
        true
    }

    /// Init containers done: Initialized, the app containers are being created.
    fn set_initialized(&self, ctrs: &[Value], scheduled_at: &str) {
        let (ctrs, scheduled_at) = (ctrs.to_vec(), scheduled_at.to_string());
        set_status(&self.cl, &self.key, move |_, st| {
            st["conditions"] = conds(
                &scheduled_at,
                true,
                false,
                "ContainersNotReady",
                &names(&ctrs),
            );
            st["containerStatuses"] = waiting_statuses(&ctrs, "ContainerCreating");
        });
    }

    /// Pull and start an app container. False when the pod went away, the pull never succeeds,
    /// the container cannot be created or keeps crashing.
    async fn start_app_container(&self, i: usize, c: &Value) -> bool {
        let cname = c["name"].as_str().unwrap_or_default();
        let field = format!("spec.containers{{{cname}}}");
        if alive(&self.cl, &self.key).is_none() {
            return false;
        }
        if self.behaviours.pull_fails(&self.cl, &self.pod, c, i) {
            self.image_pull_backoff(c, i, &field).await;
            return false;
        }
        if let Some(refusal) = self.behaviours.pull_refused_once(&self.cl, &self.pod, c, i) {
            self.pull_refused(c, i, &field, &refusal).await;
        }
        if !self.pull(c, &field).await {
            return false;
        }
        if let Some(msg) = self.behaviours.config_error(&self.cl, &self.pod, c) {
            self.config_error_forever(c, i, &field, &msg).await;
            return false;
        }
        self.start_container("containerStatuses", i, c, &field);
        if self.behaviours.crash_loops(&self.cl, &self.pod) {
            self.crash_loop(c, i, &field).await;
            return false;
        }
        true
    }

    /// Every ConfigMap and Secret volume's source must exist; until it does, the kubelet reports
    /// FailedMount (with a growing back-off) and the pod stays ContainerCreating. False when the
    /// pod went away first.
    async fn mount_volumes(&self) -> bool {
        let mut wait = Duration::from_millis(500);
        loop {
            let Some(missing) = self.missing_volume_source() else {
                return true;
            };
            if alive(&self.cl, &self.key).is_none() {
                return false;
            }
            self.event(EventType::Warning, "FailedMount", &missing, "");
            tokio::select! {
                _ = self.cl.cancel.cancelled() => return false,
                _ = self.cl.env.sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(122));
        }
    }

    /// `MountVolume.SetUp failed for volume "v" : configmap "c" not found`, for the first
    /// volume whose (non-optional) ConfigMap or Secret does not exist.
    fn missing_volume_source(&self) -> Option<String> {
        let volumes = self.pod.pointer("/spec/volumes")?.as_array()?;
        volumes.iter().find_map(|v| {
            let vol = v["name"].as_str().unwrap_or_default();
            let (kind, resource, source) = if let Some(cm) = v.get("configMap") {
                ("configmap", "configmaps", cm["name"].as_str()?)
            } else if let Some(s) = v.get("secret") {
                ("secret", "secrets", s["secretName"].as_str()?)
            } else {
                return None;
            };
            let optional = v[if kind == "secret" {
                "secret"
            } else {
                "configMap"
            }]["optional"]
                == json!(true);
            let exists = self
                .cl
                .store
                .get(&Key::new(resource, &self.key.ns, source))
                .is_some();
            (!exists && !optional).then(|| {
                format!(
                    "MountVolume.SetUp failed for volume \"{vol}\" : {kind} \"{source}\" not found"
                )
            })
        })
    }

    /// The registry refuses the pull once (e.g. a rate limit): ErrImagePull with its words, then
    /// ImagePullBackOff, then the kubelet pulls again.
    async fn pull_refused(&self, c: &Value, i: usize, field: &str, refusal: &str) {
        let img = image_of(c);
        self.event(
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{img}\""),
            field,
        );
        self.cl.env.sleep(Duration::from_secs(1)).await;
        let msg = format!("Failed to pull image \"{img}\": {refusal}");
        self.event(EventType::Warning, "Failed", &msg, field);
        self.event(EventType::Warning, "Failed", "Error: ErrImagePull", field);
        self.set_container_status(
            i,
            c,
            json!({"waiting": {"reason": "ErrImagePull", "message": msg}}),
        );
        self.cl.env.sleep(Duration::from_secs(2)).await;
        self.back_off(c, i, field);
        self.cl.env.sleep(Duration::from_secs(10)).await;
    }

    /// The container cannot be created; the kubelet retries and reports it each time.
    async fn config_error_forever(&self, c: &Value, i: usize, field: &str, msg: &str) {
        loop {
            if alive(&self.cl, &self.key).is_none() {
                return;
            }
            self.event(
                EventType::Warning,
                "Failed",
                &format!("Error: {msg}"),
                field,
            );
            let waiting =
                json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}});
            self.set_container_status(i, c, waiting);
            tokio::select! {
                _ = self.cl.cancel.cancelled() => return,
                _ = self.cl.env.sleep(Duration::from_secs(10)) => {}
            }
        }
    }

    /// The container exits 1 each time it starts: CrashLoopBackOff, with a back-off that doubles
    /// from 10s (up to 5 minutes), and the restart count and last exit in its status.
    async fn crash_loop(&self, c: &Value, i: usize, field: &str) {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let uid = util::get_str(&self.pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string();
        let pod_ref = format!("{}_{}({uid})", self.key.name, self.key.ns);
        let mut back_off = Duration::from_secs(10);
        for restarts in 1i64.. {
            self.cl.env.sleep(Duration::from_secs(1)).await;
            if alive(&self.cl, &self.key).is_none() {
                return;
            }
            let msg = format!(
                "back-off {}s restarting failed container={cname} pod={pod_ref}",
                back_off.as_secs()
            );
            let (cn, img, m) = (cname.clone(), image_of(c), msg.clone());
            let finished = util::now_rfc3339();
            set_status(&self.cl, &self.key, move |_, st| {
                let mut s = status_of(
                    &cn,
                    &img,
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": m}}),
                    false,
                    Some(false),
                    restarts,
                );
                s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": finished}});
                st["containerStatuses"][i] = s;
            });
            let ev = format!("Back-off restarting failed container {cname} in pod {pod_ref}");
            self.event(EventType::Warning, "BackOff", &ev, field);
            tokio::select! {
                _ = self.cl.cancel.cancelled() => return,
                _ = self.cl.env.sleep(back_off) => {}
            }
            back_off = (back_off * 2).min(Duration::from_secs(300));
            self.event(
                EventType::Normal,
                "Started",
                &format!("Started container {cname}"),
                field,
            );
        }
    }

    /// The readiness probe keeps failing: an Unhealthy event every 10s until the pod goes.
    async fn probe_fails_forever(&self, ctrs: &[Value], msg: &str) {
        let c0 = ctrs
            .first()
            .and_then(|c| c["name"].as_str())
            .unwrap_or_default();
        let field = format!("spec.containers{{{c0}}}");
        loop {
            let Some(p) = alive(&self.cl, &self.key) else {
                return;
            };
            let ev = Event::warning("Unhealthy", msg, "kubelet")
                .on_host(&self.host)
                .at(&field);
            self.cl.emit(&p, &ev);
            tokio::select! {
                _ = self.cl.cancel.cancelled() => return,
                _ = self.cl.env.sleep(Duration::from_secs(10)) => {}
            }
        }
    }

    fn set_ready(&self, ctrs: &[Value], scheduled_at: &str) {
        let (ctrs, scheduled_at) = (ctrs.to_vec(), scheduled_at.to_string());
        set_status(&self.cl, &self.key, move |_, st| {
            st["conditions"] = conds(&scheduled_at, true, true, "", &names(&ctrs));
            if let Some(arr) = st["containerStatuses"].as_array_mut() {
                for (i, s) in arr.iter_mut().enumerate() {
                    if i < ctrs.len() {
                        s["ready"] = json!(true);
                        s["started"] = json!(true);
                    }
                }
            }
        });
    }

    async fn pull(&self, c: &Value, field: &str) -> bool {
        let img = image_of(c);
        let policy = c["imagePullPolicy"].as_str().unwrap_or("IfNotPresent");
        if policy != "Always" && self.cl.has_image(&self.host, &img) {
            let msg = format!("Container image \"{img}\" already present on machine");
            self.event(EventType::Normal, "Pulled", &msg, field);
            return true;
        }
        self.event(
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{img}\""),
            field,
        );
        // containerd joins a pull already in progress (e.g. a pre-pull) instead of starting one.
        let base = self.behaviours.pull_latency(&self.pod, c);
        let waited = self.cl.pull_image(&self.host, &img, base).await;
        let scale = self.cl.env.scale.max(1e-6);
        let secs =
            (waited.as_secs_f64() / scale).min(base.as_secs_f64()) * (0.9 + fastrand::f64() * 0.2);
        let msg = format!(
            "Successfully pulled image \"{img}\" in {secs:.3}s ({secs:.3}s including waiting)"
        );
        self.event(EventType::Normal, "Pulled", &msg, field);
        true
    }

    /// The image never pulls: ErrImagePull, then ImagePullBackOff with a growing back-off.
    async fn image_pull_backoff(&self, c: &Value, i: usize, field: &str) {
        let mut n = 0u32;
        loop {
            if alive(&self.cl, &self.key).is_none() {
                return;
            }
            self.pull_fails_once(c, i, field).await;
            self.cl.env.sleep(Duration::from_secs(2)).await;
            self.back_off(c, i, field);
            n += 1;
            let wait = (10u64 << n.min(5)).min(300);
            tokio::select! {
                _ = self.cl.cancel.cancelled() => return,
                _ = self.cl.env.sleep(Duration::from_secs(wait)) => {}
            }
        }
    }

    async fn pull_fails_once(&self, c: &Value, i: usize, field: &str) {
        let img = image_of(c);
        let full = full_image(&img);
        self.event(
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{img}\""),
            field,
        );
        self.cl.env.sleep(Duration::from_secs(3)).await;
        let msg = format!(
            "Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
        );
        self.event(EventType::Warning, "Failed", &msg, field);
        self.event(EventType::Warning, "Failed", "Error: ErrImagePull", field);
        let waiting = json!({"waiting": {"reason": "ErrImagePull", "message": msg}});
        self.set_container_status(i, c, waiting);
    }

    fn back_off(&self, c: &Value, i: usize, field: &str) {
        let img = image_of(c);
        let msg = format!("Back-off pulling image \"{img}\"");
        self.event(EventType::Normal, "BackOff", &msg, field);
        self.event(
            EventType::Warning,
            "Failed",
            "Error: ImagePullBackOff",
            field,
        );
        let waiting = json!({"waiting": {"reason": "ImagePullBackOff", "message": msg}});
        self.set_container_status(i, c, waiting);
    }

    fn set_container_status(&self, i: usize, c: &Value, state: Value) {
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let img = image_of(c);
        set_status(&self.cl, &self.key, move |_, st| {
            st["containerStatuses"][i] = status_of(&cname, &img, state, false, Some(false), 0);
        });
    }
}
