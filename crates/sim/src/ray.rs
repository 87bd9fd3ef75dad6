//! A Ray head inside a head pod: the dashboard (`GET /api/version`, `GET /api/jobs/`, shaped like
//! the recorded Ray 2.60.0 responses in shared/fixtures/ray) reachable only through port-forward
//! to the pod's port 8265, and the commands `kubectl exec` can run in Ray containers.

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

use crate::cluster::{Cluster, PodServer};
use crate::containers::{Behaviour, Does, When, alive};
use crate::faults::Fault;
use crate::latency;
use crate::store::Key;
use crate::util;

pub const DASHBOARD_PORT: u16 = 8265;

/// JobDetails as `GET /api/jobs/` returns it (field order of the recorded fixture).
#[derive(Serialize, Clone, Debug)]
pub struct Job {
    #[serde(rename = "type")]
    pub typ: String,
    pub job_id: Option<String>,
    pub submission_id: Option<String>,
    pub driver_info: Option<Value>,
    pub status: String,
    pub entrypoint: String,
    pub message: Option<String>,
    pub error_type: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub metadata: Option<Value>,
    pub runtime_env: Option<Value>,
    pub driver_agent_http_address: Option<String>,
    pub driver_node_id: Option<String>,
    pub driver_exit_code: Option<i64>,
}

pub struct RayHead {
    pub cluster: String,
    pub namespace: String,
    pub pod_ip: String,
    pub ray_version: String,
    pub session_name: String,
    pub jobs: Mutex<Vec<Job>>,
    next_job: AtomicU32,
}

impl RayHead {
    pub fn version_json(&self) -> Value {
        json!({
            "version": "4",
            "ray_version": self.ray_version,
            "ray_commit": "b7f4259e944bf6959f721b106adc366ddfa0c356",
            "session_name": self.session_name,
        })
    }

    pub fn jobs_json(&self) -> Value {
        let jobs = self.jobs.lock().unwrap();
        // Submission jobs first, then driver jobs (job_head.py list_jobs).
        let mut v: Vec<&Job> = jobs.iter().filter(|j| j.typ == "SUBMISSION").collect();
        v.extend(jobs.iter().filter(|j| j.typ == "DRIVER"));
        serde_json::to_value(v).expect("jobs serialise")
    }

    /// A driver connected (a script called `ray.init()`): a RUNNING DRIVER job.
    fn start_driver(&self, entrypoint: &str) -> usize {
        let n = self.next_job.fetch_add(1, Ordering::SeqCst);
        let id = format!("{n:02x}000000");
        let mut jobs = self.jobs.lock().unwrap();
        jobs.push(Job {
            typ: "DRIVER".into(),
            job_id: Some(id.clone()),
            submission_id: None,
            driver_info: Some(json!({"id": id, "node_ip_address": self.pod_ip, "pid": (2000 + fastrand::u32(..30000)).to_string()})),
            status: "RUNNING".into(),
            entrypoint: entrypoint.into(),
            message: None,
            error_type: None,
            start_time: Some(util::now_millis()),
            end_time: None,
            metadata: Some(json!({})),
            runtime_env: Some(json!({})),
            driver_agent_http_address: None,
            driver_node_id: None,
            driver_exit_code: None,
        });
        jobs.len() - 1
    }

    /// The driver process is gone: SUCCEEDED whatever its exit code (Ray's DRIVER job rule).
    fn end_driver(&self, idx: usize) {
        let mut jobs = self.jobs.lock().unwrap();
        if let Some(j) = jobs.get_mut(idx) {
            j.status = "SUCCEEDED".into();
            j.end_time = Some(util::now_millis());
        }
    }
}

/// What Ray containers do on the node: the Ray image is big, a head pod's image may never pull
/// (fault), workers' `wait-gcs-ready` waits for their head, and a Ready head serves the dashboard.
pub fn behaviours() -> Vec<Behaviour> {
    const HEAD: When = When::PodLabel("ray.io/node-type", "head");
    vec![
        Behaviour {
            when: When::ImageContains("rayproject/"),
            does: Does::PullTakes(latency::PULL_RAY_IMAGE),
        },
        Behaviour {
            when: HEAD,
            does: Does::PullFails(head_image_never_pulls),
        },
        Behaviour {
            when: When::ImageContains("rayproject/"),
            does: Does::PullRefusedOnce(rate_limited_once),
        },
        Behaviour {
            when: When::ImageContains("rayproject/"),
            does: Does::ConfigError(user_not_numeric),
        },
        Behaviour {
            when: When::PodLabel("ray.io/node-type", "worker"),
            does: Does::Unschedulable(no_cpu_for_workers),
        },
        Behaviour {
            when: When::InitContainer("wait-gcs-ready"),
            does: Does::InitRuns(wait_gcs_ready),
        },
        Behaviour {
            when: HEAD,
            does: Does::OnReady(start_head),
        },
    ]
}

/// The Ray container (the first) of a head pod stays in ImagePullBackOff.
fn head_image_never_pulls(cl: &Cluster, pod: &Value, i: usize) -> bool {
    if i != 0 || !cl.faults().has(Fault::HeadImagePullBackoff) {
        return false;
    }
    let ns = util::get_str(pod, &["metadata", "namespace"]).unwrap_or_default();
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    cl.faults()
        .hit(Fault::HeadImagePullBackoff, &format!("{ns}/{name}"));
    true
}

/// The registry refuses the first pull of a Ray image with its rate limit (fault), whoever pulls
/// (the kubelet, or a `crictl pull` before it): the refusal's words, when refused.
pub fn registry_refuses(cl: &Cluster, who: &str) -> Option<String> {
    if !cl
        .faults()
        .once(Fault::RegistryRateLimitedOnce, "ray-image-pull")
    {
        return None;
    }
    cl.faults().hit(Fault::RegistryRateLimitedOnce, who);
    Some(RATE_LIMITED.into())
}

fn rate_limited_once(cl: &Cluster, pod: &Value, _: usize) -> Option<String> {
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    registry_refuses(cl, name)
}

const RATE_LIMITED: &str = "failed to pull and unpack image \"docker.io/rayproject/ray-ml:2.4.0-cpu\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/rayproject/ray-ml/manifests/sha256:4c2f4e0b7d1ec4d7a5f3a0d9ab5ed1c3b0a7c9e2f1d3b5a7c9e1f3a5b7c9d1e3: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";

/// The kubelet's check of `runAsNonRoot` when the image's user is a name, not a number, and no
/// `runAsUser` says which uid runs (fault: the Ray image's user is `ray`).
fn user_not_numeric(cl: &Cluster, pod: &Value, c: &Value) -> Option<String> {
    if !cl.faults().has(Fault::ImageUserNotNumeric) {
        return None;
    }
    // The container's securityContext wins over the pod's.
    let field = |name: &str| {
        c.pointer(&format!("/securityContext/{name}"))
            .filter(|v| !v.is_null())
            .or_else(|| pod.pointer(&format!("/spec/securityContext/{name}")))
            .filter(|v| !v.is_null())
    };
    if field("runAsNonRoot") != Some(&Value::Bool(true)) || field("runAsUser").is_some() {
        return None;
    }
    let ns = util::get_str(pod, &["metadata", "namespace"]).unwrap_or_default();
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    let uid = util::get_str(pod, &["metadata", "uid"]).unwrap_or_default();
    let container = c["name"].as_str().unwrap_or_default();
    cl.faults()
        .hit(Fault::ImageUserNotNumeric, &format!("{ns}/{name}"));
    Some(format!(
        "container has runAsNonRoot and image has non-numeric user (ray), cannot verify user is non-root (pod: \"{name}_{ns}({uid})\", container: {container})"
    ))
}

/// No node has the CPU a Ray worker requests (fault).
fn no_cpu_for_workers(cl: &Cluster, pod: &Value) -> Option<String> {
    if !cl.faults().has(Fault::WorkerUnschedulable) {
        return None;
    }
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    cl.faults().hit(Fault::WorkerUnschedulable, name);
    let n = cl.nodes.len();
    if n == 1 {
        return Some("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into());
    }
    // With workers, the tainted control plane is the other reason.
    let w = n - 1;
    Some(format!(
        "0/{n} nodes are available: 1 node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}, {w} Insufficient cpu. preemption: 0/{n} nodes are available: 1 Preemption is not helpful for scheduling, {w} No preemption victims found for incoming pod."
    ))
}

/// `wait-gcs-ready` loops until its cluster's head (GCS) is up.
fn wait_gcs_ready<'a>(cl: &'a Arc<Cluster>, key: &'a Key, pod: &'a Value) -> BoxFuture<'a, bool> {
    Box::pin(async move {
        let cluster = util::labels_of(pod)
            .get("ray.io/cluster")
            .cloned()
            .unwrap_or_default();
        loop {
            if alive(cl, key).is_none() {
                return false;
            }
            let up = cl.pod_servers().iter().any(|s| {
                s.downcast_ref::<RayHead>()
                    .is_some_and(|h| h.cluster == cluster && h.namespace == key.ns)
            });
            if up {
                return true;
            }
            tokio::select! {
                _ = cl.cancel.cancelled() => return false,
                _ = cl.env.sleep(Duration::from_secs(2)) => {}
            }
        }
    })
}

/// The Ray head serving in pod `ns/name`, if it is up.
fn head_of(cl: &Cluster, ns: &str, name: &str) -> Option<Arc<RayHead>> {
    cl.pod_server(ns, name)?.downcast::<RayHead>().ok()
}

/// A head pod became Ready: its Ray head (GCS + dashboard) is up.
fn start_head(cl: &Cluster, pod: &Value) {
    let ns = util::get_str(pod, &["metadata", "namespace"])
        .unwrap_or_default()
        .to_string();
    let name = util::get_str(pod, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let cluster = util::labels_of(pod)
        .get("ray.io/cluster")
        .cloned()
        .unwrap_or_default();
    let ray_version = cl
        .store
        .get(&Key::new("rayclusters.ray.io", &ns, &cluster))
        .and_then(|rc| {
            rc.pointer("/spec/rayVersion")
                .and_then(|v| v.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "2.4.0".into());
    let ts = jiff::Timestamp::now();
    let head = RayHead {
        cluster,
        namespace: ns.clone(),
        pod_ip: util::get_str(pod, &["status", "podIP"])
            .unwrap_or("10.244.0.6")
            .to_string(),
        ray_version,
        session_name: format!("session_{}_{}", ts.strftime("%Y-%m-%d_%H-%M-%S_%6f"), 1),
        jobs: Mutex::new(vec![]),
        next_job: AtomicU32::new(1),
    };
    cl.set_pod_server(&ns, &name, Arc::new(head));
}

/// Dashboard HTTP routes (aiohttp semantics: exact paths, `/api/jobs/` with the slash).
pub fn dashboard_response(
    head: &RayHead,
    method: &http::Method,
    path: &str,
) -> (u16, &'static str, Bytes) {
    let path = path.split('?').next().unwrap_or(path);
    let json_ct = "application/json; charset=utf-8";
    match (method.as_str(), path) {
        ("GET", "/api/version") => (200, json_ct, Bytes::from(serde_json::to_vec(&head.version_json()).unwrap())),
        ("GET", "/api/jobs/") => (200, json_ct, Bytes::from(serde_json::to_vec(&head.jobs_json()).unwrap())),
        ("GET", "/api/gcs_healthz") => (200, "text/plain; charset=utf-8", Bytes::from_static(b"success")),
        ("GET", "/") => (200, "text/html", Bytes::from_static(b"<!doctype html><html lang=\"en\"><head><title>Ray Dashboard</title></head><body><div id=\"root\"></div></body></html>")),
        _ => (404, "text/plain; charset=utf-8", Bytes::from_static(b"404: Not Found")),
    }
}

/// Serve the dashboard of the Ray head `server` over one forwarded TCP stream.
pub async fn serve_dashboard<S>(server: PodServer, io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(head) = server.downcast::<RayHead>() else {
        return;
    };
    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let head = head.clone();
        async move {
            let (code, ct, body) = dashboard_response(&head, req.method(), req.uri().path());
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(code)
                    .header(http::header::CONTENT_TYPE, ct)
                    .header(http::header::SERVER, "Python/3.11 aiohttp/3.9.5")
                    .body(http_body_util::Full::new(body))
                    .expect("response"),
            )
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await;
}

/// Output of a simulated process.
pub enum ProcOut {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(i32),
}

/// Does the pod mount the `ray-example` script at /home/ray/samples/xgboost_example.py?
fn has_sample_script(cl: &Cluster, pod: &Value, container: &Value) -> bool {
    let ns = util::get_str(pod, &["metadata", "namespace"]).unwrap_or_default();
    let mounts = container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let vols = pod
        .pointer("/spec/volumes")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    mounts.iter().any(|m| {
        let mp = m["mountPath"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/');
        if mp != "/home/ray/samples" {
            return false;
        }
        let Some(vol) = vols.iter().find(|v| v["name"] == m["name"]) else {
            return false;
        };
        let Some(cm_name) = vol.pointer("/configMap/name").and_then(|n| n.as_str()) else {
            return false;
        };
        let Some(cm) = cl.store.get(&Key::new("configmaps", ns, cm_name)) else {
            return false;
        };
        match vol.pointer("/configMap/items").and_then(|i| i.as_array()) {
            Some(items) => items.iter().any(|it| {
                it["path"] == "xgboost_example.py"
                    && cm
                        .pointer(&format!("/data/{}", it["key"].as_str().unwrap_or_default()))
                        .is_some()
            }),
            None => cm.pointer("/data/xgboost_example.py").is_some(),
        }
    })
}

fn line(ts: &str, level: &str, src: &str, msg: &str) -> String {
    format!("{ts}\t{level} {src} -- {msg}\n")
}

fn ray_ts() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S,%3f")
        .to_string()
}

/// Run a command in a container. Returns a stream of outputs ending with `Exit`.
pub fn run_command(
    cl: Arc<Cluster>,
    pod: Value,
    container: Value,
    argv: Vec<String>,
) -> mpsc::Receiver<ProcOut> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let ns = util::get_str(&pod, &["metadata", "namespace"])
            .unwrap_or_default()
            .to_string();
        let name = util::get_str(&pod, &["metadata", "name"])
            .unwrap_or_default()
            .to_string();
        let head = head_of(&cl, &ns, &name);
        let is_ray_image = container["image"]
            .as_str()
            .unwrap_or_default()
            .contains("rayproject/");
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let code = match args.as_slice() {
            ["python3", "samples/xgboost_example.py"]
            | ["python", "samples/xgboost_example.py"]
                if is_ray_image =>
            {
                if !has_sample_script(&cl, &pod, &container) {
                    let _ = tx.send(ProcOut::Stderr(format!("{}: can't open file '/home/ray/samples/xgboost_example.py': [Errno 2] No such file or directory\n", args[0]).into_bytes())).await;
                    2
                } else {
                    xgboost(&cl, head, &tx, &argv.join(" ")).await
                }
            }
            ["pip3", "install", "jsonpatch"] | ["pip", "install", "jsonpatch"] if is_ray_image => {
                pip_install(&cl, &tx).await
            }
            [] => {
                let _ = tx
                    .send(ProcOut::Stderr(b"command not found\n".to_vec()))
                    .await;
                127
            }
            [cmd, ..] => {
                let _ = tx
                    .send(ProcOut::Stderr(
                        format!("bash: {cmd}: command not found\n").into_bytes(),
                    ))
                    .await;
                127
            }
        };
        let _ = tx.send(ProcOut::Exit(code)).await;
    });
    rx
}

async fn xgboost(
    cl: &Arc<Cluster>,
    head: Option<Arc<RayHead>>,
    tx: &mpsc::Sender<ProcOut>,
    entrypoint: &str,
) -> i32 {
    let Some(head) = head else {
        let _ = tx.send(ProcOut::Stderr(b"ConnectionError: Could not find any running Ray instance. Please specify the one to connect to by setting `--address` flag or `RAY_ADDRESS` environment variable.\n".to_vec())).await;
        return 1;
    };
    let ip = head.pod_ip.clone();
    let err = |s: String| ProcOut::Stderr(s.into_bytes());
    let out = |s: String| ProcOut::Stdout(s.into_bytes());
    let _ = tx
        .send(err(line(
            &ray_ts(),
            "INFO",
            "worker.py:1364",
            &format!("Connecting to existing Ray cluster at address: {ip}:6379..."),
        )))
        .await;
    let _ = tx.send(err(line(&ray_ts(), "INFO", "worker.py:1544", &format!("Connected to Ray cluster. View the dashboard at \u{1b}[1m\u{1b}[32m{ip}:8265 \u{1b}[39m\u{1b}[22m")))).await;
    let idx = head.start_driver(entrypoint);
    let total = latency::XGBOOST_TRAINING;
    if cl.faults().has(Fault::XgboostExits1) {
        cl.faults().hit(Fault::XgboostExits1, entrypoint);
        cl.env.sleep(total / 4).await;
        let tb = "Traceback (most recent call last):\n  File \"/home/ray/samples/xgboost_example.py\", line 11, in <module>\n    trainer = XGBoostTrainer(\nTypeError: XGBoostTrainer.__init__() missing 1 required positional argument: 'train_loop_per_worker'\n";
        let _ = tx.send(err(tb.to_string())).await;
        head.end_driver(idx);
        return 1;
    }
    let _ = tx.send(err(line(&ray_ts(), "INFO", "read_api.py:1290", "To satisfy the requested parallelism of 2, each read task output will be split into 2 smaller blocks."))).await;
    cl.env.sleep(total / 5).await;
    let _ = tx.send(err(line(&ray_ts(), "INFO", "tune.py:218", "Initializing Ray automatically.For cluster usage or custom Ray initialization, call `ray.init(...)` before `Tuner(...)`."))).await;
    let _ = tx.send(out("== Status ==\nCurrent time: running\nMemory usage on this node: 3.1/31.3 GiB \nUsing FIFO scheduling algorithm.\nLogical resource usage: 2.0/2 CPUs, 0/0 GPUs\nResult logdir: /home/ray/ray_results/XGBoostTrainer_2023-06-01_00-00-00\nNumber of trials: 1/1 (1 RUNNING)\n\n".into())).await;
    let rounds: u32 = 20;
    for r in 0..rounds {
        cl.env.sleep(total / (rounds * 2)).await;
        let ll = 0.46 * (0.8f64).powi(r as i32) + 0.012;
        let vl = 0.48 * (0.81f64).powi(r as i32) + 0.075;
        let _ = tx.send(err(format!("(_RemoteRayXGBoostActor pid=1731, ip={ip}) [{r}]\ttrain-logloss:{ll:.5}\ttrain-error:{:.5}\tvalid-logloss:{vl:.5}\tvalid-error:{:.5}\n", 0.03 * (0.85f64).powi(r as i32), 0.047 - 0.0009 * r as f64))).await;
    }
    cl.env.sleep(total / 4).await;
    let _ = tx
        .send(err(line(
            &ray_ts(),
            "INFO",
            "tune.py:945",
            "Total run time: 18.62 seconds (18.38 seconds for the tuning loop).",
        )))
        .await;
    let metrics = "{'train-logloss': 0.01849, 'train-error': 0.0, 'valid-logloss': 0.08525, 'valid-error': 0.02924, 'time_this_iter_s': 0.0063300132751464844, 'should_checkpoint': True, 'done': True, 'timesteps_total': None, 'episodes_total': None, 'training_iteration': 21, 'trial_id': 'a1b2c_00000', 'experiment_id': '6b45d7d7a3f04b6e8c9d0a0c2f1e3d4b', 'date': '2023-06-01_00-00-19', 'timestamp': 1685602819, 'time_total_s': 17.15, 'pid': 1621, 'hostname': 'raycluster-pod-security-head', 'node_ip': '10.244.0.6', 'time_since_restore': 17.15, 'timesteps_since_restore': 0, 'iterations_since_restore': 21, 'warmup_time': 0.0030}";
    let _ = tx
        .send(out(format!("{}\n", metrics.replace("10.244.0.6", &ip))))
        .await;
    head.end_driver(idx);
    0
}

async fn pip_install(cl: &Arc<Cluster>, tx: &mpsc::Sender<ProcOut>) -> i32 {
    let out = |s: &str| ProcOut::Stdout(s.as_bytes().to_vec());
    let _ = tx.send(out("Collecting jsonpatch\n")).await;
    cl.env.sleep(latency::PIP_INSTALL / 3).await;
    let _ = tx.send(out("  Downloading jsonpatch-1.33-py2.py3-none-any.whl (12 kB)\nCollecting jsonpointer>=1.9\n")).await;
    cl.env.sleep(latency::PIP_INSTALL / 3).await;
    let _ = tx.send(out("  Downloading jsonpointer-2.4-py2.py3-none-any.whl (7.8 kB)\nInstalling collected packages: jsonpointer, jsonpatch\n")).await;
    cl.env.sleep(latency::PIP_INSTALL / 3).await;
    if cl.faults().has(Fault::PipInstallExits1) {
        cl.faults()
            .hit(Fault::PipInstallExits1, "pip3 install jsonpatch");
        let _ = tx.send(ProcOut::Stderr(b"ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '/home/ray/anaconda3/lib/python3.8/site-packages/jsonpointer.py'\nCheck the permissions.\n\n".to_vec())).await;
        return 1;
    }
    let _ = tx
        .send(out(
            "Successfully installed jsonpatch-1.33 jsonpointer-2.4\n",
        ))
        .await;
    let _ = tx.send(ProcOut::Stderr(b"\n[notice] A new release of pip is available: 23.0.1 -> 24.0\n[notice] To update, run: pip install --upgrade pip\n".to_vec())).await;
    0
}
