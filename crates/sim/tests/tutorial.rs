//! The real harness (`xtask e2e`, unmodified) runs the whole tutorial in the simulated world:
//! the intact tutorial passes; every fault ends as `sim list-faults` declares, at the right step
//! and for the right reason; edits that break the tutorial fail at the right doc step; Ctrl-C
//! cleans up.
//!
//! The xtask binary sits next to the sim binary when the workspace is tested
//! (`cargo test --workspace`); `XTASK_BIN` overrides that.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use serde_json::Value;

mod common;

fn xtask_bin() -> PathBuf {
    common::xtask_bin().unwrap_or_else(|e| panic!("{e}"))
}

/// A copy of the project's scenarios/, manifests/ and kind/ in a temp dir, with timeouts cut to
/// what the simulated world needs (its latencies are scaled down), and optional edits.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: common::copy_project_with_short_timeouts(),
        }
    }

    /// The copy with the project's own timeouts (minutes) and settle window.
    fn with_project_timeouts() -> Tree {
        Tree {
            dir: common::copy_project(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn edit(&self, rel: &str, f: impl FnOnce(&str) -> String) {
        let p = self.path(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        let new = f(&text);
        assert_ne!(new, text, "the edit of {rel} changed nothing");
        std::fs::write(&p, new).unwrap();
    }

    /// Removes the preflight step, so that a broken manifest reaches the cluster.
    fn without_preflight(self) -> Tree {
        self.edit("scenarios/pod-security.yaml", |s| {
            let start = s.find("  - id: preflight\n").unwrap();
            let end = start + s[start..].find("\n\n").unwrap() + 2;
            format!("{}{}", &s[..start], &s[end..])
        });
        self
    }
}

struct Run {
    code: Option<i32>,
    /// When the run ended.
    ended: std::time::SystemTime,
    report: Value,
    stdout: String,
    stderr: String,
    invocations: String,
    fault_hits: String,
    /// The artifacts folder: each file's path (relative) and text.
    artifacts: std::collections::BTreeMap<String, String>,
}

impl Run {
    fn step(&self, id: &str) -> &Value {
        common::report_step(&self.report, id)
    }
    fn failed_steps(&self) -> Vec<String> {
        self.report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["outcome"] == "failed")
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
    fn context(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The world's latencies in these tests: half of `sim run`'s default, as fast as the 25 s
/// step timeouts allow (README, "Performance").
const LATENCY_SCALE: &str = "0.05";

fn sim_command(tree: &Tree, faults: &[&str], work: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sim"));
    c.args(["run", "--latency-scale", LATENCY_SCALE]);
    c.arg("--state-dir").arg(work.join("state"));
    for f in faults {
        c.args(["--fault", f]);
    }
    c.arg("--").arg(xtask_bin()).arg("e2e");
    c.arg("--scenario")
        .arg(tree.path("scenarios/pod-security.yaml"));
    c.arg("--report-json").arg(work.join("report.json"));
    c.arg("--artifacts").arg(work.join("artifacts"));
    c
}

/// Every file under `dir`, by path relative to it, with its text.
fn files_under(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn run(tree: &Tree, faults: &[&str]) -> Run {
    let work = tempfile::tempdir().unwrap();
    let out = sim_command(tree, faults, work.path()).output().unwrap();
    let ended = std::time::SystemTime::now();
    let report = std::fs::read_to_string(work.path().join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    Run {
        code: out.status.code(),
        ended,
        report,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        invocations: std::fs::read_to_string(work.path().join("state/invocations.jsonl"))
            .unwrap_or_default(),
        fault_hits: std::fs::read_to_string(work.path().join("state/fault-hits.jsonl"))
            .unwrap_or_default(),
        artifacts: files_under(&work.path().join("artifacts")),
    }
}

fn assert_fails_at(r: &Run, step: &str, reason: &str) {
    assert_eq!(r.code, Some(1), "{}", r.context());
    assert_eq!(r.report["outcome"], "failed", "{}", r.context());
    assert_eq!(r.failed_steps(), [step], "{}", r.context());
    let msg = r.step(step)["message"].as_str().unwrap();
    assert!(
        msg.contains(reason),
        "step {step} failed, but not for {reason:?}: {msg}"
    );
    assert!(
        msg.contains("scenarios/pod-security.yaml:"),
        "the message names the scenario line: {msg}"
    );
    assert!(
        r.invocations.contains("\"delete\",\"cluster\""),
        "cleanup did not delete the cluster:\n{}",
        r.invocations
    );
}

#[test]
fn the_intact_tutorial_passes_every_doc_step() {
    let started = Instant::now();
    let r = run(&Tree::new(), &[]);
    // A pass keeps the evidence: the reports and the audit log's slice, not the cluster's state.
    let kept: Vec<&str> = r.artifacts.keys().map(String::as_str).collect();
    assert_eq!(
        kept,
        [
            "README.md",
            "audit/kube-apiserver-audit.log",
            "audit/namespaces.log",
            "junit.xml",
            "report.json"
        ],
        "{}",
        r.context()
    );
    assert!(r.artifacts["audit/namespaces.log"].contains("\"namespace\":\"pod-security\""));
    // The Ray image was pulled while steps 2 to 5.1 ran, and step 5.2 says so.
    assert!(
        r.step("kind-cluster")["message"]
            .as_str()
            .unwrap()
            .contains("pulling rayproject/ray-ml:2.4.0-cpu onto the nodes in the background"),
        "{}",
        r.context()
    );
    let running = r.step("pod-security-running")["message"].as_str().unwrap();
    assert!(
        running.contains("pre-pulled while the earlier steps ran: rayproject/ray-ml:2.4.0-cpu on kuberay-pod-security-control-plane")
            || running.contains("pre-pull of the Ray image still running"),
        "{running}"
    );
    assert_eq!(r.code, Some(0), "{}", r.context());
    assert_eq!(r.report["outcome"], "passed");
    let steps = r.report["steps"].as_array().unwrap();
    let docs: Vec<&str> = steps.iter().map(|s| s["doc"].as_str().unwrap()).collect();
    for doc in ["1", "2", "3", "4", "5.1", "5.2"] {
        assert!(docs.contains(&doc), "doc {doc} missing: {docs:?}");
    }
    assert!(
        steps.iter().all(|s| s["outcome"] == "passed"),
        "{}",
        r.report
    );
    assert!(
        r.stdout
            .contains("PASSED: every expected outcome of pod-security was observed"),
        "{}",
        r.context()
    );
    assert!(
        r.step("complete-rejected")["message"]
            .as_str()
            .unwrap()
            .contains("the 403's reasons equal the offline prediction")
    );
    assert!(
        r.invocations.contains("\"delete\",\"cluster\""),
        "{}",
        r.invocations
    );
    eprintln!("intact run took {:.1}s", started.elapsed().as_secs_f64());
}

/// How many worlds `run_each_fault` runs side by side: all of them. A world mostly waits on its
/// simulated latencies; measured on two cores, this binary took 53 s in batches of 6, 45 s in
/// batches of 9, 33 s with one batch (README, "Performance").
const BATCH: usize = 18;

/// One run per fault, `BATCH` worlds at a time.
fn run_each_fault(tree: &Tree, faults: &[&str]) -> Vec<Run> {
    // Faults that wait out a step's timeout go together, so that only one batch waits.
    let mut order: Vec<usize> = (0..faults.len()).collect();
    order.sort_by_key(|&i| !ends_at_a_timeout(faults[i]));
    let mut results: Vec<(usize, Run)> = order
        .chunks(BATCH)
        .flat_map(|chunk| {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&i| s.spawn(move || (i, run(tree, &[faults[i]]))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Whether nothing reports the fault, so that only its step's timeout ends the run.
fn ends_at_a_timeout(fault: &str) -> bool {
    EXPECTED_FAULT_ENDINGS
        .iter()
        .any(|(f, end)| *f == fault && end.is_some_and(|(_, why)| why == "timed out"))
}

/// (fault, the step that must fail, what its message must say); None = must pass.
const EXPECTED_FAULT_ENDINGS: &[(&str, Option<(&str, &str)>)] = &[
    ("apiserver-503-burst", None),
    ("apiserver-429-burst", None),
    ("watch-dropped", None),
    ("port-forward-dropped-once", None),
    (
        "kind-create-fails",
        Some(("kind-cluster", "failed to create cluster")),
    ),
    (
        "helm-install-fails",
        Some(("operator", "INSTALLATION FAILED")),
    ),
    ("operator-never-ready", Some(("operator", "timed out"))),
    (
        "operator-never-creates-pods",
        Some(("complete-rejected", "timed out")),
    ),
    (
        "head-image-pull-backoff",
        Some(("pod-security-running", ": not found")),
    ),
    (
        "xgboost-exits-1",
        Some((
            "xgboost",
            "exited 1, expected 0; the dashboard lists DRIVER job",
        )),
    ),
    (
        "pip-install-exits-1",
        Some(("pip-install", "`pip3 install jsonpatch` exited 1")),
    ),
    (
        "audit-log-unreadable",
        Some(("audit-log-quiet", "audit log")),
    ),
    (
        "psa-labels-ignored",
        Some(("complete-rejected", "pods were admitted")),
    ),
    ("dashboard-never-answers", Some(("dashboard", "timed out"))),
    ("registry-rate-limited-once", None),
    (
        "image-user-not-numeric",
        Some((
            "pod-security-running",
            "CreateContainerConfigError: container has runAsNonRoot and image has non-numeric user (ray)",
        )),
    ),
    (
        "worker-unschedulable",
        Some((
            "pod-security-running",
            "FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu",
        )),
    ),
    (
        "operator-crash-loop",
        Some(("operator", "CrashLoopBackOff: back-off")),
    ),
];

/// Breaking faults the cluster reports (an event or a container state says so), as opposed to
/// those where nothing is reported and only the step's timeout ends the run.
const REPORTED_FAULTS: [&str; 4] = [
    "head-image-pull-backoff",
    "image-user-not-numeric",
    "worker-unschedulable",
    "operator-crash-loop",
];

/// Every fault of `sim list-faults`: recoverable ones pass, breaking ones fail at their step.
#[test]
fn every_fault_ends_as_declared() {
    let listed = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("list-faults")
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    let expected = EXPECTED_FAULT_ENDINGS;
    assert_eq!(
        listed.lines().count(),
        expected.len(),
        "a fault without an expectation here:\n{listed}"
    );
    let tree = Tree::new();
    let faults: Vec<&str> = expected.iter().map(|(f, _)| *f).collect();
    let results = run_each_fault(&tree, &faults);
    for ((fault, expect), r) in expected.iter().zip(&results) {
        let declared = if expect.is_some() { "fail" } else { "pass" };
        assert!(
            r.fault_hits.contains(&format!("\"fault\":\"{fault}\"")),
            "{fault} never fired, so the run proves nothing about it"
        );
        assert!(
            listed
                .lines()
                .any(|l| l == format!("{fault} expect={declared}")),
            "{fault} is not declared expect={declared}"
        );
        match expect {
            None => {
                assert_eq!(
                    r.code,
                    Some(0),
                    "fault {fault} must be recovered from\n{}",
                    r.context()
                );
                assert_eq!(r.report["outcome"], "passed", "{fault}");
                if *fault == "registry-rate-limited-once" {
                    // The registry refused the first pull, the pre-pull's: it failed, and
                    // nothing else did; step 5.2 says so.
                    let said = r.step("pod-security-running")["message"].as_str().unwrap();
                    assert!(
                        said.contains("pre-pull failed (")
                            && said.contains("429 Too Many Requests"),
                        "{said}"
                    );
                    assert!(
                        said.contains("the kubelet pulled the image itself"),
                        "{said}"
                    );
                }
            }
            Some((step, reason)) => {
                eprintln!("{fault}: {}", r.step(step)["message"]);
                assert_fails_at(r, step, reason);
            }
        }
    }
}

/// With the project's own timeouts (minutes), a failure the cluster reports ends the run within
/// 15 s of the first report (the fault's first firing, as the world records it).
#[test]
fn reported_failures_end_the_run_within_15s_with_the_projects_timeouts() {
    let tree = Tree::with_project_timeouts();
    let results = run_each_fault(&tree, &REPORTED_FAULTS);
    for (fault, r) in REPORTED_FAULTS.iter().zip(&results) {
        assert_eq!(r.code, Some(1), "{fault}\n{}", r.context());
        let first: jiff::Timestamp = r
            .fault_hits
            .lines()
            .find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["fault"] == *fault).then(|| v["ts"].as_str()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("{fault} never fired\n{}", r.context()));
        let ended = jiff::Timestamp::try_from(r.ended).unwrap();
        let took = ended.duration_since(first);
        assert!(
            took <= jiff::SignedDuration::from_secs(15),
            "{fault}: the run ended {took:#} after the first report\n{}",
            r.context()
        );
        let failed = r.failed_steps();
        let msg = r.step(&failed[0])["message"].as_str().unwrap();
        assert!(
            !msg.contains("timed out"),
            "{fault} must not wait out its timeout: {msg}"
        );
    }
}

/// A failed run leaves what someone debugging it needs, and no credential.
#[test]
fn a_failed_run_leaves_a_bundle_to_debug_it() {
    let r = run(&Tree::new(), &["worker-unschedulable"]);
    assert_fails_at(&r, "pod-security-running", "FailedScheduling");
    let files: Vec<&str> = r.artifacts.keys().map(String::as_str).collect();
    let has = |prefix: &str| files.iter().any(|f| f.starts_with(prefix));
    for expected in [
        "README.md",
        "report.json",
        "junit.xml",
        "audit/kube-apiserver-audit.log",
        "audit/namespaces.log",
        "pod-security/events.txt",
        "pod-security/pods.txt",
        "pod-security/pods/raycluster-pod-security-head-",
        "pod-security/logs/kuberay-operator-",
        "pod-security/rayclusters/raycluster-pod-security.conditions.txt",
        "helm/kuberay-operator.status.txt",
        "helm/kuberay-operator.values.yaml",
        "nodes.txt",
        "kind-logs/kind-version.txt",
    ] {
        assert!(has(expected), "no {expected} in the bundle: {files:?}");
    }
    let readme = &r.artifacts["README.md"];
    assert!(
        readme.contains("Step `pod-security-running` (tutorial step 5.2) failed"),
        "{readme}"
    );
    assert!(
        readme.contains("apply --server-side -n pod-security"),
        "the step's commands: {readme}"
    );
    let events = &r.artifacts["pod-security/events.txt"];
    assert!(events.contains("FailedScheduling"), "{events}");
    let report: Value = serde_json::from_str(&r.artifacts["report.json"]).unwrap();
    assert!(
        report["artifacts"]
            .as_str()
            .is_some_and(|a| a.ends_with("artifacts")),
        "{report}"
    );
    assert!(
        r.step("pod-security-running")["message"]
            .as_str()
            .unwrap()
            .contains("artifacts: ")
    );
    for (file, text) in &r.artifacts {
        for secret in [
            "certificate-authority-data",
            "client-key-data",
            "Bearer ",
            "\"token\":",
            "token: ",
        ] {
            assert!(!text.contains(secret), "{file} holds {secret:?}");
        }
        assert!(!file.contains("kubeconfig"), "{file}");
    }
}

/// A volume whose ConfigMap does not exist: the kubelet reports FailedMount, and after a short
/// grace period the step ends quoting it.
#[test]
fn a_missing_configmap_volume_fails_5_2_quoting_the_kubelet() {
    let tree = Tree::new();
    tree.edit("manifests/ray-cluster.pod-security.yaml", |s| {
        let start = s
            .find("\n---\napiVersion: v1\nkind: ConfigMap")
            .unwrap_or_else(|| {
                panic!("the manifest's ConfigMap is no longer its last document:\n{s}")
            });
        format!("{}\n", &s[..start])
    });
    let r = run(&tree, &[]);
    assert_fails_at(
        &r,
        "pod-security-running",
        "FailedMount: MountVolume.SetUp failed for volume \"ray-example-configmap\" : configmap \"ray-example\" not found",
    );
}

#[test]
fn a_compliant_pod_that_loses_run_as_non_root_fails_naming_it() {
    let drop_run_as_non_root = |s: &str| s.replacen("            runAsNonRoot: true\n", "", 1);
    // With the preflight, the edit is caught before any cluster exists...
    let tree = Tree::new();
    tree.edit(
        "manifests/ray-cluster.pod-security.yaml",
        drop_run_as_non_root,
    );
    let r = run(&tree, &[]);
    assert_eq!(r.failed_steps(), ["preflight"], "{}", r.context());
    assert!(
        r.step("preflight")["message"]
            .as_str()
            .unwrap()
            .contains("runAsNonRoot"),
        "{}",
        r.report
    );
    assert!(
        !r.invocations.contains("\"create\",\"cluster\""),
        "no cluster for a broken manifest"
    );
    // ...and without it, the cluster itself refuses the head pod in step 5.2.
    let tree = Tree::new().without_preflight();
    tree.edit(
        "manifests/ray-cluster.pod-security.yaml",
        drop_run_as_non_root,
    );
    let r = run(&tree, &[]);
    assert_fails_at(&r, "pod-security-running", "runAsNonRoot != true");
    assert_eq!(r.step("pod-security-running")["doc"], "5.2");
}

#[test]
fn removing_the_enforce_label_fails_5_1_because_pods_are_admitted() {
    let drop_enforce = |s: &str| {
        s.replacen(
            "        pod-security.kubernetes.io/enforce: restricted\n",
            "",
            1,
        )
    };
    let tree = Tree::new();
    tree.edit("scenarios/pod-security.yaml", drop_enforce);
    let r = run(&tree, &[]);
    assert_eq!(r.failed_steps(), ["preflight"], "{}", r.context());
    assert!(
        r.step("preflight")["message"]
            .as_str()
            .unwrap()
            .contains("predicted ALLOWED under privileged:latest"),
        "{}",
        r.report
    );

    let tree = Tree::new().without_preflight();
    tree.edit("scenarios/pod-security.yaml", drop_enforce);
    let r = run(&tree, &[]);
    assert_fails_at(&r, "complete-rejected", "pods were admitted");
    assert_eq!(r.step("complete-rejected")["doc"], "5.1");
}

#[test]
fn turning_audit_logging_off_fails_step_2() {
    let tree = Tree::new();
    tree.edit("kind/kind-config.yaml", |s| {
        s.replace(
            "          audit-log-path: /var/log/kubernetes/kube-apiserver-audit.log\n",
            "",
        )
        .replace(
            "          audit-policy-file: /etc/kubernetes/policies/audit-policy.yaml\n",
            "",
        )
    });
    let r = run(&tree, &[]);
    assert_fails_at(&r, "audit-log-quiet", "audit logging is not configured");
    assert_eq!(r.step("audit-log-quiet")["doc"], "2");
}

/// Ctrl-C while the XGBoost job runs: cleanup deletes the cluster, the exit code is 130, and
/// neither a process nor the dashboard port-forward is left.
#[test]
fn ctrl_c_mid_run_cleans_up_and_exits_130() {
    let tree = Tree::new();
    let work = tempfile::tempdir().unwrap();
    let mut child = sim_command(&tree, &[], work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut forwarded: Option<String> = None;
    let mut seen = Vec::new();
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.find("port-forward 127.0.0.1:") {
            forwarded = line[i + "port-forward ".len()..]
                .split_whitespace()
                .next()
                .map(str::to_string);
        }
        let at_exec = line.starts_with("▶ [doc 5.2] xgboost");
        seen.push(line);
        if at_exec {
            break;
        }
    }
    let forwarded = forwarded.unwrap_or_else(|| {
        panic!(
            "no port-forward before the xgboost step:\n{}",
            seen.join("\n")
        )
    });
    // `sim run` forwards SIGINT to the harness, as a terminal's Ctrl-C reaches the whole group.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(130),
        "{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    let invocations = std::fs::read_to_string(work.path().join("state/invocations.jsonl")).unwrap();
    assert!(
        invocations.contains("\"delete\",\"cluster\""),
        "cleanup did not run:\n{invocations}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "failed");
    assert!(
        rest.iter().any(|l| l.contains("interrupted (Ctrl-C)")),
        "{}",
        rest.join("\n")
    );
    // Nothing of this run is left: no process mentions its temp dirs, the forward is closed.
    let marker = work.path().display().to_string();
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(leftovers.is_empty(), "processes left over: {leftovers:?}");
    assert!(
        std::net::TcpStream::connect(&forwarded).is_err(),
        "the port-forward {forwarded} still accepts connections"
    );
}

/// A kept cluster can be reused: the second run deletes the namespace the first one left and
/// passes again, keeping the cluster it did not create.
#[test]
fn a_kept_cluster_is_reused_by_the_next_run() {
    let tree = Tree::new();
    let work = tempfile::tempdir().unwrap();
    let (xtask, scenario) = (xtask_bin(), tree.path("scenarios/pod-security.yaml"));
    let (first, second) = (
        work.path().join("first.json"),
        work.path().join("second.json"),
    );
    let script = r#""$0" e2e --scenario "$1" --keep-cluster --report-json "$2" && "$0" e2e --scenario "$1" --reuse-cluster --report-json "$3""#;
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE])
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args(["--", "sh", "-c", script])
        .args([
            xtask.as_os_str(),
            scenario.as_os_str(),
            first.as_os_str(),
            second.as_os_str(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let second: Value = serde_json::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    assert_eq!(second["outcome"], "passed", "{second}");
    let kind_step = second["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "kind-cluster")
        .unwrap();
    let msg = kind_step["message"].as_str().unwrap();
    assert!(msg.contains("reused the existing kind cluster"), "{msg}");
    assert!(
        msg.contains("deleted namespace pod-security, left by an earlier run"),
        "{msg}"
    );
    let invocations = std::fs::read_to_string(work.path().join("state/invocations.jsonl")).unwrap();
    assert_eq!(
        invocations.matches("\"create\",\"cluster\"").count(),
        1,
        "{invocations}"
    );
    assert!(
        !invocations.contains("\"delete\",\"cluster\""),
        "neither run may delete a kept or reused cluster: {invocations}"
    );
}
