//! Real clients against the world: real kubectl v1.35.2 (protobuf creates, server-side apply
//! validated through the world's OpenAPI, `wait` over streaming lists, `exec` exit codes and
//! `port-forward` over WebSocket and SPDY, each cluster's CA and client certificate) and the unmodified harness with real helm v4.1.4 and
//! v3.17.3 ahead of the fake one, installing the real kuberay-operator chart v1.5.1.
//!
//! The binaries come from `REAL_KUBECTL`, `REAL_HELM_V4`, `REAL_HELM_V3`, else from
//! `target/real-clients/{kubectl,helm-v4,helm-v3}`, which `.ci/real-clients.sh` fills (the tests
//! never download). A test whose client is absent is skipped, and the run ends by saying so and
//! how to fetch them; with `CI` set, an absent client is a failure.
//!
//! This file has its own test harness (`harness = false`, libtest-mimic), so that the skip
//! notice is printed last whatever the capture settings: `cargo test -p sim --test real_clients
//! [FILTER]`.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FETCH: &str = ".ci/real-clients.sh";
/// The world's latencies, as in `tests/tutorial.rs`.
const LATENCY_SCALE: &str = "0.05";

/// A real client the tests may need.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    Kubectl,
    HelmV4,
    HelmV3,
}

impl Client {
    fn env(self) -> &'static str {
        match self {
            Client::Kubectl => "REAL_KUBECTL",
            Client::HelmV4 => "REAL_HELM_V4",
            Client::HelmV3 => "REAL_HELM_V3",
        }
    }
    fn file(self) -> &'static str {
        match self {
            Client::Kubectl => "kubectl",
            Client::HelmV4 => "helm-v4",
            Client::HelmV3 => "helm-v3",
        }
    }
    /// `$REAL_…`, else `target/real-clients/<file>`, if it is a file.
    fn path(self) -> Option<PathBuf> {
        let p = std::env::var_os(self.env())
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/real-clients").join(self.file()));
        p.is_file().then_some(p)
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> PathBuf {
    common::shared("upstream/kuberay-operator-chart-1.5.1")
}

/// `sim run --latency-scale 0.05 --state-dir W/state -- sh SCRIPT`, with `KUBECTL` set.
fn run_script(work: &Path, script: &str) -> Output {
    run_script_with(work, script, &[])
}

/// `run_script` with more clients in the environment (`("HELM", Client::HelmV4)`).
fn run_script_with(work: &Path, script: &str, clients: &[(&str, Client)]) -> Output {
    let file = work.join("script.sh");
    std::fs::write(&file, script).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sim"));
    for (var, c) in clients {
        cmd.env(var, c.path().unwrap());
    }
    cmd.args(["run", "--latency-scale", LATENCY_SCALE, "--state-dir"])
        .arg(work.join("state"))
        .arg("--")
        .arg("sh")
        .arg(&file)
        .current_dir(work)
        .env("KUBECTL", Client::Kubectl.path().unwrap())
        .env("CHART", chart())
        .env("PROJECT", repo())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The fake kind's cluster (the tutorial's name and node image) and `KUBECONFIG` for it.
const CLUSTER: &str = r#"set -u
kind create cluster --name kuberay-pod-security --image kindest/node:v1.26.15 --kubeconfig "$SIM_STATE_DIR/kubeconfig" >/dev/null 2>&1 || exit 90
export KUBECONFIG="$SIM_STATE_DIR/kubeconfig"
"#;

/// `kubectl create namespace` POSTs a protobuf Namespace; the world creates it and lists it.
fn kubectl_create_namespace_then_get_shows_it() {
    let work = tempfile::tempdir().unwrap();
    let script = format!(
        r#"{CLUSTER}
"$KUBECTL" create namespace pod-security -v=8 2>create.log; echo "create rc=$?"
grep -c 'Content-Type: application/vnd.kubernetes.protobuf' create.log
"$KUBECTL" get ns; echo "get rc=$?"
"#
    );
    let out = run_script(work.path(), &script);
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "namespace/pod-security created", "{ctx}");
    assert_eq!(lines[1], "create rc=0", "{ctx}");
    assert!(
        lines[2].parse::<u32>().unwrap_or(0) >= 1,
        "kubectl did not send protobuf:\n{ctx}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().next() == Some("pod-security")),
        "{ctx}"
    );
    assert_eq!(lines.last(), Some(&"get rc=0"), "{ctx}");
}

/// `kubectl apply --server-side -f` of the tutorial's two manifests, validated through the
/// world's OpenAPI (kubectl sends `fieldValidation=Strict` and the world checks the RayCluster
/// against its CRD's schema); a misspelt field is refused as a real server refuses it.
fn kubectl_server_side_apply_of_the_tutorials_manifests() {
    let work = tempfile::tempdir().unwrap();
    let script = format!(
        r#"{CLUSTER}
"$KUBECTL" create namespace pod-security >/dev/null || exit 91
"$KUBECTL" apply --server-side -f "$CHART/crds/ray.io_rayclusters.yaml" || exit 92
"$KUBECTL" wait --for=condition=Established crd/rayclusters.ray.io --timeout=30s >/dev/null || exit 93
for m in ray-cluster.complete.yaml ray-cluster.pod-security.yaml; do
  "$KUBECTL" apply --server-side -n pod-security -f "$PROJECT/manifests/$m"; echo "apply $m rc=$?"
done
"$KUBECTL" get rayclusters -n pod-security -o name
sed 's/rayVersion:/rayVersoin:/' "$PROJECT/manifests/ray-cluster.pod-security.yaml" > bad.yaml
"$KUBECTL" apply --server-side -n pod-security -f bad.yaml; echo "apply bad rc=$?"
sed "s/rayVersion: .*/rayVersion: 2/" "$PROJECT/manifests/ray-cluster.pod-security.yaml" > typed.yaml
"$KUBECTL" apply --server-side -n pod-security -f typed.yaml; echo "apply typed rc=$?"
"$KUBECTL" delete raycluster -n pod-security raycluster-pod-security >/dev/null
"$KUBECTL" create -n pod-security -f bad.yaml; echo "create bad rc=$?"
"#
    );
    let out = run_script(work.path(), &script);
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    for l in [
        "raycluster.ray.io/raycluster-complete serverside-applied",
        "apply ray-cluster.complete.yaml rc=0",
        "raycluster.ray.io/raycluster-pod-security serverside-applied",
        "configmap/ray-example serverside-applied",
        "apply ray-cluster.pod-security.yaml rc=0",
        "raycluster.ray.io/raycluster-complete",
        "raycluster.ray.io/raycluster-pod-security",
        "apply bad rc=1",
        "apply typed rc=1",
        "create bad rc=1",
    ] {
        assert!(stdout.lines().any(|x| x == l), "no line {l:?}\n{ctx}");
    }
    assert!(
        stderr.contains("Error from server: failed to create typed patch object (pod-security/raycluster-pod-security; ray.io/v1, Kind=RayCluster): .spec.rayVersoin: field not declared in schema"),
        "{ctx}"
    );
    assert!(
        stderr.contains("Error from server: failed to create typed patch object (pod-security/raycluster-pod-security; ray.io/v1, Kind=RayCluster): .spec.rayVersion: expected string, got &value.valueUnstructured{Value:2}"),
        "{ctx}"
    );
    assert!(
        stderr.contains("RayCluster in version \"v1\" cannot be handled as a RayCluster: strict decoding error: unknown field \"spec.rayVersoin\""),
        "{ctx}"
    );
}

/// `kubectl wait` (client-go 1.35 opens a streaming list) returns as soon as the node is Ready,
/// on a 1.26 node image (the server refuses the streaming list; kubectl falls back to LIST+WATCH)
/// and on a 1.35 one (the server ends the initial events with the annotated bookmark).
fn kubectl_wait_returns_on_1_26_and_1_35() {
    let work = tempfile::tempdir().unwrap();
    let script = r#"set -u
export KUBECONFIG="$SIM_STATE_DIR/kubeconfig"
for image in kindest/node:v1.26.15 kindest/node:v1.35.0; do
  kind create cluster --name kuberay-pod-security --image "$image" >/dev/null 2>&1 || exit 90
  "$KUBECTL" wait --for=condition=Ready nodes --all --timeout=60s; echo "$image rc=$?"
  kind delete cluster --name kuberay-pod-security >/dev/null 2>&1 || exit 91
done
"#;
    let out = run_script(work.path(), script);
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "node/kuberay-pod-security-control-plane condition met",
            "kindest/node:v1.26.15 rc=0",
            "node/kuberay-pod-security-control-plane condition met",
            "kindest/node:v1.35.0 rc=0",
        ],
        "{ctx}"
    );
}

/// Shell lines that wait (at most 10 s) for `kubectl port-forward … :8265`'s `Forwarding from
/// 127.0.0.1:PORT -> 8265` line in file `out` and set `LOCAL` to that port. The system picks it
/// when kubectl binds: a port found free and released first can be taken again by a test running
/// beside this one, whose dashboard would then answer (a Ray dashboard may also hold 8265 itself).
fn local_port_from(out: &str) -> String {
    format!(
        "for _ in $(seq 100); do grep -q '^Forwarding from' {out} && break; sleep 0.1; done\nLOCAL=$(sed -n 's/^Forwarding from 127.0.0.1:\\([0-9]*\\) -> 8265$/\\1/p' {out})"
    )
}

/// What one node image's run of `kubectl exec` and `kubectl port-forward` left behind.
struct Streamed {
    ctx: String,
    stdout: String,
    /// kubectl's `-v=6` log of the exec and of the port-forward.
    exec_log: String,
    forward_log: String,
    jobs: Value,
}

/// Into the tutorial's Ray head (installed with real helm): `kubectl exec` of the XGBoost
/// script, of pip and of an unknown command, then `kubectl port-forward` of the head service and
/// the dashboard's `/api/version` and `/api/jobs/` through it, on node image `image`.
fn exec_and_port_forward(image: &str) -> Streamed {
    let work = tempfile::tempdir().unwrap();
    let wait_for_port = local_port_from("forward.out");
    let script = format!(
        r#"set -u
export KUBECONFIG="$SIM_STATE_DIR/kubeconfig"
kind create cluster --name kuberay-pod-security --image {image} >/dev/null 2>&1 || exit 90
"$KUBECTL" create namespace pod-security >/dev/null || exit 91
"$HELM" install kuberay-operator "$CHART" -n pod-security --values "$PROJECT/manifests/kuberay-operator.values.yaml" >/dev/null || exit 92
"$KUBECTL" -n pod-security wait --for=condition=Available deployment/kuberay-operator --timeout=60s >/dev/null || exit 93
"$KUBECTL" apply --server-side -n pod-security -f "$PROJECT/manifests/ray-cluster.pod-security.yaml" >/dev/null || exit 94
"$KUBECTL" -n pod-security wait --for=create pod -l ray.io/node-type=head --timeout=60s >/dev/null || exit 95
"$KUBECTL" -n pod-security wait --for=condition=Ready pod -l ray.io/node-type=head --timeout=60s >/dev/null || exit 96
HEAD=$("$KUBECTL" get pod -n pod-security -l ray.io/node-type=head -o name)
"$KUBECTL" exec -v=6 -n pod-security "$HEAD" -c ray-head -- python3 samples/xgboost_example.py >out.txt 2>exec.log; echo "xgboost rc=$?"
tail -n 1 out.txt | cut -c1-17
"$KUBECTL" exec -n pod-security "$HEAD" -c ray-head -- pip3 install jsonpatch >/dev/null 2>&1; echo "pip rc=$?"
"$KUBECTL" exec -n pod-security "$HEAD" -c ray-head -- no-such-command 2>/dev/null; echo "unknown rc=$?"
"$KUBECTL" -n pod-security port-forward -v=6 --address 127.0.0.1 svc/raycluster-pod-security-head-svc :8265 >forward.out 2>forward.log &
FORWARD=$!
{wait_for_port}
answered=no
for _ in $(seq 60); do if curl -fsS http://127.0.0.1:$LOCAL/api/version >version.json 2>/dev/null; then answered=yes; break; fi; sleep 1; done
echo "dashboard answered: $answered"
curl -fsS http://127.0.0.1:$LOCAL/api/jobs/ >jobs.json; echo "jobs rc=$?"
kill $FORWARD
"#
    );
    let out = run_script_with(work.path(), &script, &[("HELM", Client::HelmV4)]);
    let (stdout, stderr) = text(&out);
    let read = |f: &str| std::fs::read_to_string(work.path().join(f)).unwrap_or_default();
    let ctx = format!(
        "{image}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- forward.log\n{}",
        read("forward.log")
    );
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    Streamed {
        exec_log: read("exec.log"),
        forward_log: read("forward.log"),
        jobs: serde_json::from_str(&read("jobs.json")).unwrap_or(Value::Null),
        stdout,
        ctx,
    }
}

/// The `"Response"` lines of kubectl's `-v=6` log for requests to `subresource` whose status
/// is `status`, as `VERB status`.
fn responses(log: &str, subresource: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("\"Response\"") && l.contains(&format!("/{subresource}")))
        .map(|l| {
            let field = |k: &str| {
                l.split(&format!("{k}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_default()
                    .to_string()
            };
            format!("{} {}", field("verb"), field("status"))
        })
        .collect()
}

/// Real kubectl's exec and port-forward against the world, on both node images. On 1.35 exec
/// is a WebSocket (`v5.channel.k8s.io`) and port-forward SPDY tunnelled in a WebSocket
/// (`SPDY/3.1+portforward.k8s.io`); the 1.26 server refuses both WebSockets, and kubectl falls
/// back to SPDY/3.1 (`POST`, `Upgrade: SPDY/3.1`). Either way: the commands' own exit codes
/// (0, 0, 127), and the dashboard answers through the forward, listing the script as a
/// SUCCEEDED DRIVER job.
fn kubectl_exec_and_port_forward_on_1_26_and_1_35() {
    let (new, old) = std::thread::scope(|s| {
        let new = s.spawn(|| exec_and_port_forward("kindest/node:v1.35.0"));
        let old = s.spawn(|| exec_and_port_forward("kindest/node:v1.26.15"));
        (new.join().unwrap(), old.join().unwrap())
    });
    for run in [&new, &old] {
        let ctx = &run.ctx;
        assert_eq!(
            run.stdout.lines().collect::<Vec<_>>(),
            [
                "xgboost rc=0",
                "{'train-logloss':",
                "pip rc=0",
                "unknown rc=127",
                "dashboard answered: yes",
                "jobs rc=0",
            ],
            "{ctx}"
        );
        let jobs = run.jobs.as_array().cloned().unwrap_or_default();
        assert!(
            jobs.iter().any(|j| j["type"] == "DRIVER"
                && j["entrypoint"] == "python3 samples/xgboost_example.py"
                && j["status"] == "SUCCEEDED"),
            "{jobs:?}\n{ctx}"
        );
    }
    let switched = "101 Switching Protocols";
    assert_eq!(
        responses(&new.exec_log, "exec"),
        [format!("GET {switched}")],
        "{}",
        new.ctx
    );
    assert_eq!(
        responses(&new.forward_log, "portforward"),
        [format!("GET {switched}")],
        "{}",
        new.ctx
    );
    // The WebSocket refused (no status: the handshake failed), then SPDY.
    assert_eq!(
        responses(&old.exec_log, "exec"),
        ["GET ".to_string(), format!("POST {switched}")],
        "{}",
        old.ctx
    );
    assert_eq!(
        responses(&old.forward_log, "portforward"),
        ["GET ".to_string(), format!("POST {switched}")],
        "{}",
        old.ctx
    );
}

/// The project's scenario, manifests and kind config copied, with the step timeouts cut.
fn project_copy() -> tempfile::TempDir {
    common::copy_project_with_short_timeouts()
}

/// What a harness run left: exit code, report, the world's fake-tool invocations, and the
/// output to show when an assertion fails.
struct HarnessRun {
    code: Option<i32>,
    report: Value,
    invocations: Vec<Value>,
    ctx: String,
}

impl HarnessRun {
    fn argv(i: &Value) -> Vec<String> {
        i["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }
    fn ran(&self, prefix: &[&str]) -> bool {
        self.invocations.iter().any(|i| {
            let a = Self::argv(i);
            a.len() >= prefix.len() && a[..prefix.len()] == *prefix
        })
    }
    fn step(&self, id: &str) -> &Value {
        common::report_step(&self.report, id)
    }
}

/// The unmodified harness on `tree`, with the real `helm` first on PATH (ahead of the world's
/// fake one), installing the real chart.
fn run_harness(tree: &Path, helm: Client) -> HarnessRun {
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("real-helm");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(helm.path().unwrap(), bin.join("helm")).unwrap();
    let xtask = common::xtask_bin().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE, "--state-dir"])
        .arg(work.path().join("state"))
        .args(["--", "sh", "-c", r#"PATH="$0:$PATH"; exec "$@""#])
        .arg(&bin)
        .arg(xtask)
        .arg("e2e")
        .arg("--scenario")
        .arg(tree.join("scenarios/pod-security.yaml"))
        .arg("--kuberay-chart")
        .arg(chart())
        .arg("--report-json")
        .arg(work.path().join("report.json"))
        .arg("--artifacts")
        .arg(work.path().join("artifacts"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let report = std::fs::read_to_string(work.path().join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    let invocations = std::fs::read_to_string(work.path().join("state/invocations.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    HarnessRun {
        code: out.status.code(),
        report,
        invocations,
        ctx: format!("--- stdout\n{stdout}\n--- stderr\n{stderr}"),
    }
}

/// The unmodified harness, with the real helm first on PATH (ahead of the world's fake one),
/// installs the real chart: every step passes and the fake helm is never called.
fn harness_with_real_helm(helm: Client) {
    let tree = project_copy();
    let r = run_harness(tree.path(), helm);
    let ctx = &r.ctx;
    assert_eq!(r.code, Some(0), "{ctx}");
    assert_eq!(r.report["outcome"], "passed", "{ctx}");
    let steps = r.report["steps"].as_array().unwrap();
    assert!(steps.len() >= 12, "{}", r.report);
    for s in steps {
        assert_eq!(s["outcome"], "passed", "step {}: {}", s["id"], r.report);
    }
    let operator = r.step("operator");
    assert!(
        operator["message"]
            .as_str()
            .unwrap()
            .starts_with("helm install kuberay-operator: STATUS: deployed; no PodSecurity warning"),
        "{operator}"
    );
    // The fake helm was never called (neither for `template` nor for `install`); the fake kind
    // created and deleted the cluster.
    assert!(
        !r.invocations
            .iter()
            .any(|i| i["tool"] == "helm" && HarnessRun::argv(i).iter().any(|a| a == "install")),
        "the fake helm was called for install: {:?}",
        r.invocations
    );
    assert!(
        r.invocations.iter().all(|i| i["tool"] != "helm"),
        "{:?}",
        r.invocations
    );
    assert!(r.ran(&["kind", "create", "cluster"]), "{:?}", r.invocations);
    assert!(r.ran(&["kind", "delete", "cluster"]), "{:?}", r.invocations);
}

/// With the operator's securityContext removed from the values (and the offline preflight
/// removed, so the cluster is reached), real helm v4 prints the world's PodSecurity warning and
/// the harness fails step 4 on it.
fn harness_with_real_helm_v4_fails_step_4_on_a_noncompliant_operator() {
    let tree = project_copy();
    let scenario = tree.path().join("scenarios/pod-security.yaml");
    let s = std::fs::read_to_string(&scenario).unwrap();
    let start = s.find("  - id: preflight\n").unwrap();
    let end = start + s[start..].find("\n\n").unwrap() + 2;
    std::fs::write(&scenario, format!("{}{}", &s[..start], &s[end..])).unwrap();
    std::fs::write(
        tree.path().join("manifests/kuberay-operator.values.yaml"),
        "securityContext: null\n",
    )
    .unwrap();
    let r = run_harness(tree.path(), Client::HelmV4);
    let ctx = &r.ctx;
    assert_eq!(r.code, Some(1), "{ctx}");
    let failed: Vec<&Value> = r.report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", r.report);
    assert_eq!(failed[0]["id"], "operator", "{}", r.report);
    let msg = failed[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("PodSecurity warning")
            && msg.contains("would violate PodSecurity")
            && msg.contains("restricted:latest")
            && msg.contains("allowPrivilegeEscalation != false"),
        "{msg}"
    );
    assert!(r.invocations.iter().all(|i| i["tool"] != "helm"), "{ctx}");
    assert!(r.ran(&["kind", "delete", "cluster"]), "{:?}", r.invocations);
}

fn harness_with_real_helm_v4_installs_the_real_chart() {
    harness_with_real_helm(Client::HelmV4)
}

fn harness_with_real_helm_v3_installs_the_real_chart() {
    harness_with_real_helm(Client::HelmV3)
}

/// The rights loop `e2e --dry-run --kubeconfig` prints, run with real kubectl (`auth can-i`
/// sends protobuf SelfSubjectAccessReviews) for a user refused one right: it names exactly that
/// right, in the words the harness's own preflight uses.
fn kubectl_auth_can_i_runs_the_dry_runs_rights_loop() {
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("existing.kubeconfig");
    let xtask = common::xtask_bin().unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        r#"set -u
'{xtask}' e2e --dry-run --kubeconfig '{k}' --namespace team-a | grep 'auth can-i' | sed 's/; do kubectl /; do "$KUBECTL" /' > loop.sh
test -s loop.sh || exit 91
sh loop.sh; echo "loop rc=$?"
"#,
        xtask = xtask.display(),
        k = kubeconfig.display()
    );
    std::fs::write(work.path().join("script.sh"), script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE, "--state-dir"])
        .arg(work.path().join("state"))
        .args(["--existing-cluster", "existing", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .args(["--limited-user", "jane", "--forbid", "get:pods/exec"])
        .args(["--", "sh"])
        .arg(work.path().join("script.sh"))
        .current_dir(work.path())
        .env("KUBECTL", Client::Kubectl.path().unwrap())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "missing: get pods --subresource=exec -n team-a",
            "loop rc=0"
        ],
        "{ctx}"
    );
}

/// What `e2e --dry-run` prints, from step 1 on, run as one script with real kubectl and real
/// helm v4 first on `PATH` (the world's fake kind and docker stand in for Docker), on a 1.35
/// node image. Left out, and said so: the set-up (downloads) and the preflight (`cargo xtask
/// pss`, offline). The port-forward's local port 8265 becomes one the system picks, read from
/// kubectl's `Forwarding from` line (`local_port_from`). The dry run's own `kill "$PORT_FORWARD_8265"` stops the port-forward
/// before the cleanup (it must succeed: the forward is still up); an EXIT trap stops it if the
/// script ends early. Every command must succeed, and say what its comment says.
fn the_dry_runs_commands_run_with_real_kubectl_and_helm() {
    let tree = project_copy();
    let xtask = common::xtask_bin().unwrap_or_else(|e| panic!("{e}"));
    let dry = Command::new(&xtask)
        .args(["e2e", "--dry-run", "--node-image", "kindest/node:v1.35.0"])
        .arg("--scenario")
        .arg(tree.path().join("scenarios/pod-security.yaml"))
        .arg("--kuberay-chart")
        .arg(chart())
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry).1);
    let printed = text(&dry).0;
    let from_step_1 = &printed[printed.find("# [doc 1]").expect("step 1")..];
    let mut kept: Vec<String> = vec![];
    for l in from_step_1
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        kept.push(
            l.replace(" 8265:8265 &", " :8265 >port-forward.out &")
                .replace("127.0.0.1:8265/", "127.0.0.1:$LOCAL/"),
        );
        if l.starts_with("PORT_FORWARD_8265=$!") {
            kept.push(local_port_from("port-forward.out"));
        }
    }
    assert_eq!(
        kept.iter()
            .filter(|l| l.contains("127.0.0.1:$LOCAL/") || l.contains(" :8265 >port-forward.out &"))
            .count(),
        3,
        "the port-forward and both curls: {kept:?}"
    );
    assert!(
        kept.iter()
            .any(|l| l.starts_with("for _ in $(seq 100); do grep -q '^Forwarding from'")),
        "{kept:?}"
    );
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("real");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(Client::Kubectl.path().unwrap(), bin.join("kubectl")).unwrap();
    std::os::unix::fs::symlink(Client::HelmV4.path().unwrap(), bin.join("helm")).unwrap();
    // A failing command (outside an `&&`/`||` list or a loop's condition) says so on stderr.
    let script = format!(
        "set -uE\ntrap 'echo \"@@ FAILED rc=$? line $LINENO: $BASH_COMMAND\" >&2' ERR\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nexport KUBECONFIG=\"$SIM_STATE_DIR/kubeconfig\"\nexport PATH='{}':\"$PATH\"\n{}\n",
        bin.display(),
        kept.join("\n")
    );
    std::fs::write(work.path().join("dry-run.sh"), &script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE, "--state-dir"])
        .arg(work.path().join("state"))
        .args(["--", "bash"])
        .arg(work.path().join("dry-run.sh"))
        .current_dir(work.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    assert!(!stderr.contains("@@ FAILED"), "{ctx}");
    // What the comments promise.
    for (what, said) in [
        ("nodes Ready", "condition met"),
        (
            "the 403 in the audit log",
            r#"violates PodSecurity \"restricted:latest\""#,
        ),
        ("the operator's Warning", "FailedToCreateHeadPod"),
        ("the head pod created", "pod/raycluster-pod-security-head-"),
        ("the XGBoost script's metrics", "'valid-error'"),
        (
            "the dashboard's version, through the port-forward",
            r#""ray_version""#,
        ),
        (
            "the dashboard's job list",
            r#""entrypoint":"python3 samples/xgboost_example.py""#,
        ),
    ] {
        assert!(stdout.contains(said), "{what}: no {said:?}\n{ctx}");
    }
    assert!(
        stderr.contains("No resources found in pod-security namespace."),
        "no pod during the settle window\n{ctx}"
    );
    assert!(!stderr.contains("would violate PodSecurity"), "{ctx}");
    assert_eq!(
        stdout.matches("exit code: 0").count(),
        2,
        "the script and pip exit 0\n{ctx}"
    );
    // The real clients did the work: the world's fake helm was never called.
    let invocations =
        std::fs::read_to_string(work.path().join("state/invocations.jsonl")).unwrap_or_default();
    assert!(
        !invocations.lines().any(|l| l.contains(r#""argv":["helm""#)),
        "{invocations}"
    );
    assert!(
        invocations.contains(r#""delete","cluster""#),
        "{invocations}"
    );
}

/// Per-cluster CAs as real kubectl sees them: each kind kubeconfig works with its cluster; at the
/// other cluster's server its CA refuses the serving certificate; the other cluster's CA with its
/// client certificate, or an unknown token, get 401. (With no credentials at all kubectl asks
/// for a username instead; `tests/client_certs.rs` checks that 401.)
fn kubectl_refuses_another_clusters_kubeconfig() {
    let work = tempfile::tempdir().unwrap();
    let script = r#"set -u
for c in a b; do
  kind create cluster --name $c --image kindest/node:v1.35.0 --kubeconfig $c.kubeconfig >/dev/null 2>&1 || exit 90
done
k() { "$KUBECTL" "$@"; }
k --kubeconfig a.kubeconfig get ns default -o name; echo "a rc=$?"
k --kubeconfig b.kubeconfig get ns default -o name; echo "b rc=$?"
bserver=$(k --kubeconfig b.kubeconfig config view --raw -o jsonpath='{.clusters[0].cluster.server}')
k --kubeconfig a.kubeconfig --server "$bserver" get ns default 2>cross.err; echo "cross rc=$?"
echo "cross: $(cat cross.err)"
k --kubeconfig b.kubeconfig config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >b-ca.crt
k --kubeconfig a.kubeconfig config view --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >a.crt
k --kubeconfig a.kubeconfig config view --raw -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >a.key
k config --kubeconfig x.kubeconfig set-cluster b --server="$bserver" --certificate-authority=b-ca.crt --embed-certs >/dev/null
k config --kubeconfig x.kubeconfig set-credentials a --client-certificate=a.crt --client-key=a.key --embed-certs >/dev/null
k config --kubeconfig x.kubeconfig set-credentials nobody --token=not-a-token >/dev/null
k config --kubeconfig x.kubeconfig set-context a-at-b --cluster b --user a >/dev/null
k config --kubeconfig x.kubeconfig set-context nobody-at-b --cluster b --user nobody >/dev/null
k --kubeconfig x.kubeconfig --context a-at-b get ns default </dev/null 2>&1; echo "a-cert rc=$?"
k --kubeconfig x.kubeconfig --context nobody-at-b get ns default </dev/null 2>&1; echo "nobody rc=$?"
"#;
    let out = run_script(work.path(), script);
    let (stdout, stderr) = text(&out);
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        ["namespace/default", "a rc=0", "namespace/default", "b rc=0"],
        "{ctx}"
    );
    assert_eq!(lines[4], "cross rc=1", "{ctx}");
    assert!(
        lines[5].contains("x509: certificate signed by unknown authority"),
        "{ctx}"
    );
    let unauthorized = "error: You must be logged in to the server (Unauthorized)";
    assert_eq!(
        lines[6..],
        [unauthorized, "a-cert rc=1", unauthorized, "nobody rc=1"],
        "{ctx}"
    );
}

type Test = (&'static str, &'static [Client], fn());

const TESTS: &[Test] = &[
    (
        "kubectl_create_namespace_then_get_shows_it",
        &[Client::Kubectl],
        kubectl_create_namespace_then_get_shows_it,
    ),
    (
        "kubectl_server_side_apply_of_the_tutorials_manifests",
        &[Client::Kubectl],
        kubectl_server_side_apply_of_the_tutorials_manifests,
    ),
    (
        "kubectl_wait_returns_on_1_26_and_1_35",
        &[Client::Kubectl],
        kubectl_wait_returns_on_1_26_and_1_35,
    ),
    (
        "kubectl_auth_can_i_runs_the_dry_runs_rights_loop",
        &[Client::Kubectl],
        kubectl_auth_can_i_runs_the_dry_runs_rights_loop,
    ),
    (
        "the_dry_runs_commands_run_with_real_kubectl_and_helm",
        &[Client::Kubectl, Client::HelmV4],
        the_dry_runs_commands_run_with_real_kubectl_and_helm,
    ),
    (
        "kubectl_refuses_another_clusters_kubeconfig",
        &[Client::Kubectl],
        kubectl_refuses_another_clusters_kubeconfig,
    ),
    (
        "kubectl_exec_and_port_forward_on_1_26_and_1_35",
        &[Client::Kubectl, Client::HelmV4],
        kubectl_exec_and_port_forward_on_1_26_and_1_35,
    ),
    (
        "harness_with_real_helm_v4_installs_the_real_chart",
        &[Client::HelmV4],
        harness_with_real_helm_v4_installs_the_real_chart,
    ),
    (
        "harness_with_real_helm_v3_installs_the_real_chart",
        &[Client::HelmV3],
        harness_with_real_helm_v3_installs_the_real_chart,
    ),
    (
        "harness_with_real_helm_v4_fails_step_4_on_a_noncompliant_operator",
        &[Client::HelmV4],
        harness_with_real_helm_v4_fails_step_4_on_a_noncompliant_operator,
    ),
];

/// libtest's command line (`--list`, filters, `--exact`, `--test-threads`, …) through
/// libtest-mimic. A test whose client is absent is ignored, and the run ends by saying so and how
/// to fetch the clients; with `CI` set it fails instead, naming the client.
fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    // All at once unless told otherwise (`--test-threads`, RUST_TEST_THREADS): each test mostly
    // waits on its own world and on the clients it starts.
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
            .or(Some(TESTS.len()));
    }
    let ci = std::env::var_os("CI").is_some();
    let missing: Vec<Client> = [Client::Kubectl, Client::HelmV4, Client::HelmV3]
        .into_iter()
        .filter(|c| c.path().is_none())
        .collect();
    let absent = |needs: &[Client]| -> Vec<Client> {
        needs
            .iter()
            .copied()
            .filter(|c| missing.contains(c))
            .collect()
    };
    let trials: Vec<libtest_mimic::Trial> = TESTS
        .iter()
        .map(|&(name, needs, f)| {
            let lacking = absent(needs);
            let trial = libtest_mimic::Trial::test(name, move || {
                if !lacking.is_empty() {
                    return Err(format!(
                        "CI is set and {:?} is absent: fetch it with {FETCH}",
                        lacking
                    )
                    .into());
                }
                std::panic::catch_unwind(f).map_err(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                        .into()
                })
            });
            trial.with_ignored_flag(!ci && !absent(needs).is_empty())
        })
        .collect();
    let skipped = TESTS
        .iter()
        .filter(|(_, needs, _)| !absent(needs).is_empty())
        .count();
    let conclusion = libtest_mimic::run(&args, trials);
    if skipped > 0 && !args.list {
        let which: Vec<String> = missing
            .iter()
            .map(|c| {
                format!(
                    "{} (${} or target/real-clients/{})",
                    c.file(),
                    c.env(),
                    c.file()
                )
            })
            .collect();
        let verdict = if ci { "FAILED (CI is set)" } else { "SKIPPED" };
        eprintln!(
            "real clients: {verdict}: {skipped} of this file's tests need {}, which are absent. Fetch them with: {FETCH}",
            which.join(", ")
        );
    }
    conclusion.exit();
}
