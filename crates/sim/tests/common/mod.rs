//! Test helpers: an in-process world with a kind cluster created from the KubeRay tutorial's
//! kind config, a kube-rs client from the kubeconfig the fake kind writes, and helpers to run
//! `sim run` as a process (for the end-to-end harness tests).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, AttachParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sim::Fault;
use sim::{Invocation, ToolOutput, World};
use tokio::io::AsyncReadExt;

pub const CLUSTER: &str = "e2e";
pub const IMAGE: &str =
    "kindest/node:v1.26.15@sha256:c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd";

pub const KUBERAY_REPO: &str = "https://ray-project.github.io/kuberay-helm/";
pub const AUDIT_LOG: &str = "/var/log/kubernetes/kube-apiserver-audit.log";

/// A copy of the project's scenarios/, manifests/ and kind/ in a temp dir: a tree the harness
/// runs as is (its paths resolve against the copy).
pub fn copy_project() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scenarios", "manifests", "kind"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for f in std::fs::read_dir(root.join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// `copy_project` with every step timeout cut to 25 s and the settle window to 2 s: what the
/// world needs at the tests' latency scale.
pub fn copy_project_with_short_timeouts() -> tempfile::TempDir {
    let dir = copy_project();
    let scenario = dir.path().join("scenarios/pod-security.yaml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let replaced = if trimmed.starts_with("timeout: ") {
            line.replace(trimmed, "timeout: 25s")
        } else if trimmed.starts_with("settle: ") {
            line.replace(trimmed, "settle: 2s")
        } else {
            line.to_string()
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    assert_ne!(out, text, "the scenario has no timeout to cut");
    std::fs::write(&scenario, out).unwrap();
    dir
}

/// Step `id` of a harness run's JSON report (`--report-json`); panics naming the report when
/// it has none.
pub fn report_step<'r>(report: &'r Value, id: &str) -> &'r Value {
    report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {report}"))
}

/// The reference material beside the repository: `SHARED_DIR`, else `../shared`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn shared(p: &str) -> PathBuf {
    shared_dir().join(p)
}

/// `helm <verb> kuberay-operator kuberay-operator --repo … --version 1.5.1 --namespace NS
/// [--values FILE]` as the tutorial runs it.
pub fn helm_chart_args(verb: &str, values: Option<&Path>) -> Vec<String> {
    helm_chart_args_in(verb, NS, values)
}

/// `helm_chart_args` with the release in namespace `ns`.
pub fn helm_chart_args_in(verb: &str, ns: &str, values: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = [
        verb,
        "kuberay-operator",
        "kuberay-operator",
        "--repo",
        KUBERAY_REPO,
        "--version",
        "1.5.1",
        "--namespace",
        ns,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(v) = values {
        a.extend(["--values".to_string(), v.display().to_string()]);
    }
    a
}

pub struct TestWorld {
    pub world: Arc<World>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl TestWorld {
    /// A world with the tutorial's files laid out like a KubeRay checkout (relative hostPath).
    pub async fn start(faults: Vec<Fault>) -> TestWorld {
        let dir = tempfile::tempdir().unwrap();
        let sec = dir.path().join("ray-operator/config/security");
        std::fs::create_dir_all(&sec).unwrap();
        for f in ["audit-policy.yaml", "kind-config.yaml"] {
            std::fs::copy(shared(&format!("upstream/kuberay/{f}")), sec.join(f)).unwrap();
        }
        let (world, _bin) = sim::start_world(
            &dir.path().join("state"),
            faults,
            0.05,
            Path::new(env!("CARGO_BIN_EXE_sim")),
        )
        .await
        .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        TestWorld {
            world,
            dir,
            kubeconfig,
        }
    }

    pub async fn tool(&self, tool: &str, args: &[&str]) -> ToolOutput {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.tool_in(tool, args, self.dir.path()).await
    }

    /// A tool run from `cwd` instead of the checkout.
    pub async fn tool_in(&self, tool: &str, args: Vec<String>, cwd: &Path) -> ToolOutput {
        self.world
            .invoke(Invocation {
                tool: tool.into(),
                args,
                cwd: cwd.display().to_string(),
                env: Default::default(),
            })
            .await
    }

    /// `helm install` of the tutorial's chart into this world's kind cluster.
    pub async fn helm_install(&self, values: Option<&Path>) -> ToolOutput {
        let mut args = helm_chart_args("install", values);
        let kc = self.kubeconfig.display().to_string();
        args.extend(["--kubeconfig", &kc, "--kube-context", "kind-e2e"].map(String::from));
        self.tool_in("helm", args, self.dir.path()).await
    }

    /// `kind create cluster --name e2e --config CONFIG --image IMAGE --kubeconfig …`.
    pub async fn create_cluster_with(&self, config: &str, image: &str) -> ToolOutput {
        let kc = self.kubeconfig.display().to_string();
        let args = [
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--config",
            config,
            "--image",
            image,
            "--kubeconfig",
            &kc,
        ];
        self.tool("kind", &args).await
    }

    /// `docker exec e2e-control-plane cat <audit log>`.
    pub async fn read_audit_log(&self) -> ToolOutput {
        let node = format!("{CLUSTER}-control-plane");
        self.tool("docker", &["exec", &node, "cat", AUDIT_LOG])
            .await
    }

    /// A kind config in the checkout: the tutorial's (with the audit flags) or a user's plain one,
    /// plus `workers` worker nodes. Returns its path relative to the checkout.
    pub fn kind_config(&self, audit: bool, workers: usize) -> String {
        let mut text = if audit {
            std::fs::read_to_string(shared("upstream/kuberay/kind-config.yaml")).unwrap()
        } else {
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n"
                .into()
        };
        text.push_str(&"- role: worker\n".repeat(workers));
        let rel = format!("ray-operator/config/security/kind-config-{audit}-{workers}.yaml");
        std::fs::write(self.dir.path().join(&rel), text).unwrap();
        rel
    }

    pub async fn create_cluster(&self) -> ToolOutput {
        self.create_cluster_with("ray-operator/config/security/kind-config.yaml", IMAGE)
            .await
    }

    /// A user's existing cluster `e2e` of `nodes` nodes (no audit flags), its kubeconfig at
    /// `self.kubeconfig`; with `forbid`, the kubeconfig's user is `jane`, refused those rights.
    pub async fn existing_cluster(&self, nodes: usize, forbid: &[&str]) -> PathBuf {
        let spec = sim::ExistingCluster {
            name: CLUSTER.into(),
            nodes,
            kubeconfig: Some(self.kubeconfig.clone()),
            limited_user: (!forbid.is_empty()).then(|| {
                (
                    "jane".to_string(),
                    forbid.iter().map(|s| s.to_string()).collect(),
                )
            }),
        };
        self.world.create_existing_cluster(&spec).await.unwrap()
    }

    /// A client as the kind admin, from `kind get kubeconfig` (whatever user `self.kubeconfig` has).
    pub async fn admin_client(&self) -> kube::Client {
        let out = self
            .tool("kind", &["get", "kubeconfig", "--name", CLUSTER])
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let kc = kube::config::Kubeconfig::from_yaml(&out.stdout).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let opts = kube::config::KubeConfigOptions {
            context: Some(format!("kind-{CLUSTER}")),
            ..Default::default()
        };
        let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    pub async fn audit_lines(&self) -> Vec<Value> {
        let out = self.read_audit_log().await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub async fn audit_raw(&self) -> String {
        self.read_audit_log().await.stdout
    }

    pub fn values_file(&self) -> PathBuf {
        let p = self.dir.path().join("values.yaml");
        std::fs::write(
            &p,
            "securityContext:\n  allowPrivilegeEscalation: false\n  capabilities:\n    drop: [\"ALL\"]\n  runAsNonRoot: true\n  seccompProfile:\n    type: RuntimeDefault\n",
        )
        .unwrap();
        p
    }
}

impl Drop for TestWorld {
    fn drop(&mut self) {
        self.world.shutdown();
    }
}

pub async fn eventually<F, Fut, T>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Path of the harness binary: `XTASK_BIN`, else `xtask` next to the `sim` test binary's dir.
pub fn xtask_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("XTASK_BIN") {
        return Ok(PathBuf::from(p));
    }
    let sim = Path::new(env!("CARGO_BIN_EXE_sim"));
    let cand = sim.parent().unwrap().join("xtask");
    if cand.is_file() {
        Ok(cand)
    } else {
        Err(format!(
            "the xtask harness binary is not at {} — build the workspace (`cargo test --workspace`) or set XTASK_BIN",
            cand.display()
        ))
    }
}

pub struct SimRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub state_dir: PathBuf,
    pub report: Option<Value>,
}

impl SimRun {
    /// Every fake-tool invocation recorded by the world.
    pub fn invocations(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir.join("invocations.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    /// Faults that actually fired (`<state dir>/fault-hits.jsonl`).
    pub fn fault_hits(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir.join("fault-hits.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    pub fn ran(&self, argv_prefix: &[&str]) -> bool {
        self.invocations().iter().any(|i| {
            let a: Vec<&str> = i["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            a.len() >= argv_prefix.len() && a[..argv_prefix.len()] == *argv_prefix
        })
    }
}

/// `sim run [--fault F]... --state-dir D -- PROGRAM ARGS...` as a child process.
pub fn sim_run(faults: &[&str], cwd: &Path, program: &[&str], state_dir: &Path) -> SimRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sim"));
    cmd.arg("run").current_dir(cwd);
    for f in faults {
        cmd.args(["--fault", f]);
    }
    cmd.arg("--state-dir")
        .arg(state_dir)
        .arg("--")
        .args(program);
    let out = cmd.output().expect("spawn sim run");
    SimRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        state_dir: state_dir.to_path_buf(),
        report: None,
    }
}

pub const NS: &str = "pod-security";

pub const HEAD_403: &str = "is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"ray-head\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"ray-head\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"ray-head\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"ray-head\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

pub fn raycluster_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ray.io", "v1", "RayCluster"),
        "rayclusters",
    );
    Api::namespaced_with(client.clone(), NS, &ar)
}

pub async fn label_namespace(client: &kube::Client) {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
    )
    .await
    .unwrap();
    let mut labels = serde_json::Map::new();
    for m in ["enforce", "audit", "warn"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{m}"),
            json!("restricted"),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{m}-version"),
            json!("latest"),
        );
    }
    let ns = nss
        .patch(
            NS,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .unwrap();
    assert_eq!(
        ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

pub async fn install_operator(tw: &TestWorld) {
    let out = tw.helm_install(Some(&tw.values_file())).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("STATUS: deployed\nREVISION: 1\nTEST SUITE: None"),
        "{}",
        out.stdout
    );
}

pub async fn wait_operator_available(client: &kube::Client) {
    wait_operator_available_in(client, NS).await
}

/// Watches until the Deployment `kuberay-operator` in `ns` is Available (at most 30 s).
pub async fn wait_operator_available_in(client: &kube::Client, ns: &str) {
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let cond = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Available" && c.status == "True")
            })
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(deploys, "kuberay-operator", cond),
    )
    .await
    .expect("operator Available")
    .unwrap();
}

pub async fn apply_yaml(client: &kube::Client, path: &std::path::Path) {
    apply_yaml_in(client, path, NS).await
}

/// Server-side apply of every document of `path` into namespace `ns`.
pub async fn apply_yaml_in(client: &kube::Client, path: &std::path::Path, ns: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<DynamicObject> = serde_saphyr::from_str_multiple(&text).unwrap();
    for d in docs {
        let types = d.types.clone().unwrap();
        let gvk = GroupVersionKind::try_from(&types).unwrap();
        let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let name = d.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("xtask-e2e").force(),
            &Patch::Apply(&d),
        )
        .await
        .unwrap();
    }
}

pub fn running_ready(p: &Pod) -> bool {
    let st = p.status.as_ref();
    st.and_then(|s| s.phase.as_deref()) == Some("Running")
        && st
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub async fn exec(pods: &Api<Pod>, pod: &str, cmd: &[&str]) -> (i32, String, String) {
    let mut p = pods
        .exec(
            pod,
            cmd.to_vec(),
            &AttachParams::default().container("ray-head"),
        )
        .await
        .unwrap();
    let (mut so, mut se) = (p.stdout().unwrap(), p.stderr().unwrap());
    let status = p.take_status().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let (a, b) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
    a.unwrap();
    b.unwrap();
    let st = status.await.expect("status on channel 3");
    let code = match st.status.as_deref() {
        Some("Success") => 0,
        _ => {
            assert_eq!(st.reason.as_deref(), Some("NonZeroExitCode"), "{st:?}");
            st.details
                .unwrap()
                .causes
                .unwrap()
                .iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .unwrap()
                .message
                .clone()
                .unwrap()
                .parse()
                .unwrap()
        }
    };
    p.join().await.unwrap();
    (code, out, err)
}

pub async fn dashboard_get(pods: &Api<Pod>, pod: &str, path: &str) -> (u16, String) {
    try_dashboard_get(pods, pod, path).await.unwrap()
}

/// Cluster + labelled namespace + the operator Available (the tutorial up to step 4).
pub async fn up_to_operator(tw: &TestWorld) -> kube::Client {
    let out = tw.create_cluster().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    operator_on(tw).await
}

/// On a cluster already made: the labelled namespace and the operator Available.
pub async fn operator_on(tw: &TestWorld) -> kube::Client {
    let client = tw.client().await;
    label_namespace(&client).await;
    install_operator(tw).await;
    wait_operator_available(&client).await;
    client
}

/// The first pod that `selector` selects once it is Running and Ready.
pub async fn ready_pod(pods: &Api<Pod>, selector: &str) -> Pod {
    eventually(
        &format!("{selector} Running+Ready"),
        Duration::from_secs(30),
        || async {
            let l = pods
                .list(&ListParams::default().labels(selector))
                .await
                .ok()?;
            l.items.into_iter().find(running_ready)
        },
    )
    .await
}

pub const HEAD_SELECTOR: &str = "ray.io/cluster=raycluster-pod-security,ray.io/node-type=head";

/// Cluster + labelled namespace + operator + the tutorial's restricted RayCluster, head Ready.
pub async fn up_to_pod_security_cluster(tw: &TestWorld) -> (kube::Client, Api<Pod>, String) {
    let client = up_to_operator(tw).await;
    let (pods, head) = pod_security_cluster_on(&client).await;
    (client, pods, head.metadata.name.unwrap())
}

/// With the operator running: the tutorial's restricted RayCluster applied, its pods and its
/// head once Running and Ready.
pub async fn pod_security_cluster_on(client: &kube::Client) -> (Api<Pod>, Pod) {
    apply_yaml(
        client,
        &shared("upstream/kuberay/ray-cluster.pod-security.yaml"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let head = ready_pod(&pods, HEAD_SELECTOR).await;
    (pods, head)
}

/// The first audit event of a request by the kind admin (`kubernetes-admin`).
pub async fn audited_admin_request(tw: &TestWorld) -> Value {
    tw.audit_lines()
        .await
        .into_iter()
        .find(|l| l["user"]["username"] == "kubernetes-admin")
        .expect("an audited request of kubernetes-admin")
}

/// GET over a fresh port-forward; Err when the connection fails.
pub async fn try_dashboard_get(
    pods: &Api<Pod>,
    pod: &str,
    path: &str,
) -> Result<(u16, String), String> {
    let mut pf = pods
        .portforward(pod, &[8265])
        .await
        .map_err(|e| e.to_string())?;
    let stream = pf.take_stream(8265).ok_or("no stream")?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("Host", "127.0.0.1:8265")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let code = resp.status().as_u16();
    use http_body_util::BodyExt;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    pf.abort();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}
