//! The unmodified harness on a cluster it did not make (`e2e --kubeconfig`): the world creates
//! the cluster first, as a user would with kind but without the tutorial's audit logging, and the
//! harness must prove every step from the API server's own answers, ask for its rights before it
//! touches anything, and remove only what it created. Two runs share one cluster side by side.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The world's latencies in these tests (as in tutorial.rs).
const LATENCY_SCALE: &str = "0.05";

/// A copy of the project with short timeouts (`common::copy_project_with_short_timeouts`), then
/// `edit`ed.
fn project(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = common::copy_project_with_short_timeouts();
    edit(dir.path());
    dir
}

/// Replaces `from` by `to` in a file of the copied project; the edit must change something.
fn edit_file(root: &Path, rel: &str, from: &str, to: &str) {
    let p = root.join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// Removes the preflight step, so that a broken manifest reaches the cluster.
fn without_preflight(root: &Path) {
    let p = root.join("scenarios/pod-security.yaml");
    let s = std::fs::read_to_string(&p).unwrap();
    let start = s.find("  - id: preflight\n").unwrap();
    let end = start + s[start..].find("\n\n").unwrap() + 2;
    std::fs::write(&p, format!("{}{}", &s[..start], &s[end..])).unwrap();
}

/// One harness run's report and what it printed.
struct Run {
    code: Option<i32>,
    report: Value,
    stderr: String,
}

impl Run {
    fn step(&self, id: &str) -> &Value {
        if self.report.is_null() {
            panic!("no report: {}", self.stderr);
        }
        common::report_step(&self.report, id)
    }
    fn says(&self, id: &str) -> String {
        self.step(id)["message"].as_str().unwrap().to_string()
    }
    fn cleanup(&self) -> Vec<String> {
        self.report["cleanup"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }
}

/// What one `sim run --existing-cluster` did: each harness run, and the tools the world saw.
struct World {
    runs: Vec<Run>,
    invocations: String,
}

/// Creates a cluster of `nodes` in a world and runs `runs` harnesses on it at once, each with
/// `--kubeconfig` and `e2e_args`. `sim_args` go to `sim run` (e.g. a limited user).
fn on_existing_cluster(
    tree: &Path,
    nodes: u32,
    sim_args: &[&str],
    runs: usize,
    e2e_args: &[&str],
) -> World {
    on_existing_cluster_after(tree, nodes, sim_args, "", runs, e2e_args)
}

/// As `on_existing_cluster`, after the shell line `setup` (where `$KUBECONFIG` is the cluster's
/// kubeconfig) has set the cluster up as its owner would.
fn on_existing_cluster_after(
    tree: &Path,
    nodes: u32,
    sim_args: &[&str],
    setup: &str,
    runs: usize,
    e2e_args: &[&str],
) -> World {
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("existing.kubeconfig");
    let xtask = common::xtask_bin().unwrap_or_else(|e| panic!("{e}"));
    let script = work.path().join("runs.sh");
    let mut lines = vec![
        "set -u".to_string(),
        format!("KUBECONFIG={}", quote(&kubeconfig)),
        setup.to_string(),
    ];
    for i in 0..runs {
        let mut cmd: Vec<String> = vec![
            quote(&xtask),
            "e2e".into(),
            "--scenario".into(),
            quote(tree.join("scenarios/pod-security.yaml")),
            "--kubeconfig".into(),
            quote(&kubeconfig),
            "--report-json".into(),
            quote(work.path().join(format!("report{i}.json"))),
            "--artifacts".into(),
            quote(work.path().join(format!("artifacts{i}"))),
        ];
        cmd.extend(e2e_args.iter().map(|a| a.to_string()));
        lines.push(format!(
            "{} > {} 2>&1 &",
            cmd.join(" "),
            quote(work.path().join(format!("stderr{i}")))
        ));
        lines.push(format!("pid{i}=$!"));
    }
    for i in 0..runs {
        lines.push(format!(
            "wait $pid{i}; echo $? > {}",
            quote(work.path().join(format!("code{i}")))
        ));
    }
    std::fs::write(&script, lines.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE])
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args([
            "--existing-cluster",
            "existing",
            "--nodes",
            &nodes.to_string(),
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .args(sim_args)
        .arg("--")
        .arg("sh")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sim run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: String| std::fs::read_to_string(work.path().join(name)).unwrap_or_default();
    World {
        runs: (0..runs)
            .map(|i| Run {
                code: read(format!("code{i}")).trim().parse().ok(),
                report: serde_json::from_str(&read(format!("report{i}.json")))
                    .unwrap_or(Value::Null),
                stderr: read(format!("stderr{i}")),
            })
            .collect(),
        invocations: read("state/invocations.jsonl".into()),
    }
}

fn quote(p: impl AsRef<std::ffi::OsStr>) -> String {
    let s = p.as_ref().to_string_lossy().into_owned();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A run that passed, with every verdict resting on the API server's answers.
fn assert_passed_without_the_audit_log(r: &Run, nodes: u32) {
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.report["outcome"], "passed", "{}", r.stderr);
    let step1 = r.says("kind-cluster");
    assert_eq!(r.step("kind-cluster")["outcome"], "skipped", "{step1}");
    assert!(
        step1.contains("the cluster exists (--kubeconfig"),
        "{step1}"
    );
    assert!(
        step1.contains("this run never creates or deletes it"),
        "{step1}"
    );
    assert!(step1.contains("SelfSubjectAccessReview"), "{step1}");
    let want_nodes: Vec<String> = std::iter::once("existing-control-plane".to_string())
        .chain((1..nodes).map(|i| match i {
            1 => "existing-worker".to_string(),
            n => format!("existing-worker{n}"),
        }))
        .collect();
    assert!(
        step1.contains(&format!("nodes Ready: {}", want_nodes.join(", "))),
        "{step1}"
    );
    let step2 = r.says("audit-log-quiet");
    assert_eq!(r.step("audit-log-quiet")["outcome"], "skipped", "{step2}");
    assert!(step2.contains("the audit log cannot be read"), "{step2}");

    let rejected = r.says("complete-rejected");
    for want in [
        "operator: Warning FailedToCreateHeadPod",
        "dry run: the head pod as KubeRay builds it, created with dryRun=All, refused: violates PodSecurity \"restricted:latest\"",
        "pods: none with the cluster's label during the settle window",
        "the 403's reasons equal the offline prediction (operator, dry run)",
        "the audit log could not be read",
    ] {
        assert!(rejected.contains(want), "{want} not in: {rejected}");
    }
    assert!(!rejected.contains("audit: "), "{rejected}");
    let running = r.says("pod-security-running");
    assert!(running.contains("dry run: the specs of pods"), "{running}");
    assert!(
        running.contains("admitted with no Pod Security warning"),
        "{running}"
    );
    assert_eq!(r.report["outcome"], "passed");
}

/// The namespace a run used, from its namespace step.
fn namespace_of(r: &Run) -> String {
    let said = r.says("namespace");
    let rest = said.strip_prefix("namespace ").unwrap();
    rest[..rest.find(' ').unwrap()].to_string()
}

#[test]
fn the_tutorial_passes_on_an_existing_cluster_of_one_and_of_three_nodes() {
    let tree = project(|_| {});
    let (one, three) = std::thread::scope(|s| {
        let one = s.spawn(|| on_existing_cluster(tree.path(), 1, &[], 1, &["--unique-namespace"]));
        let three =
            s.spawn(|| on_existing_cluster(tree.path(), 3, &[], 1, &["--unique-namespace"]));
        (one.join().unwrap(), three.join().unwrap())
    });
    for (world, nodes) in [(&one, 1), (&three, 3)] {
        let r = &world.runs[0];
        assert_passed_without_the_audit_log(r, nodes);
        let ns = namespace_of(r);
        assert!(ns.starts_with("pod-security-"), "{ns}");
        // Only what the run created is removed; the cluster stays.
        let cleanup = r.cleanup();
        assert!(
            cleanup.contains(&format!(
                "uninstalled helm release kuberay-operator from namespace {ns}"
            )),
            "{cleanup:?}"
        );
        assert!(
            cleanup.contains(&format!("deleted namespace {ns}, which this run created")),
            "{cleanup:?}"
        );
        assert!(
            !world.invocations.contains("\"delete\",\"cluster\""),
            "the harness deleted the cluster:\n{}",
            world.invocations
        );
        assert!(
            world.invocations.contains("singleNamespaceInstall=true"),
            "the operator was not scoped to its namespace:\n{}",
            world.invocations
        );
    }
    // On three nodes, the Ray pods run on the workers (the control plane is tainted).
    let running = three.runs[0].says("pod-security-running");
    let placement = running
        .split("; ")
        .skip_while(|l| !l.starts_with("nodes: "))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(placement.starts_with("nodes: "), "{running}");
    assert!(!placement.contains("existing-control-plane"), "{placement}");
    assert!(placement.contains("existing-worker"), "{placement}");
}

#[test]
fn two_runs_with_unique_namespaces_share_one_cluster() {
    let tree = project(|_| {});
    let world = on_existing_cluster(tree.path(), 3, &[], 2, &["--unique-namespace"]);
    let (a, b) = (&world.runs[0], &world.runs[1]);
    assert_passed_without_the_audit_log(a, 3);
    assert_passed_without_the_audit_log(b, 3);
    let (na, nb) = (namespace_of(a), namespace_of(b));
    assert_ne!(na, nb);
    // Neither run's operator acted on the other's RayClusters: each saw its own pods only.
    for (r, theirs) in [(a, &nb), (b, &na)] {
        for step in ["complete-rejected", "pod-security-running"] {
            let said = r.says(step);
            assert!(
                !said.contains(theirs.as_str()),
                "{step} mentions {theirs}: {said}"
            );
        }
    }
}

#[test]
fn breakages_are_caught_without_the_audit_log() {
    // No enforce label: the head pod would be admitted, and 5.1 says so at once (its dry run,
    // the first answer it gets, is admitted).
    let no_enforce = project(|root| {
        edit_file(
            root,
            "scenarios/pod-security.yaml",
            "        pod-security.kubernetes.io/enforce: restricted\n",
            "",
        );
        // The preflight would refuse the scenario first; without it the cluster decides.
        without_preflight(root);
    });
    // A compliant pod that loses runAsNonRoot: the API server refuses it in 5.2.
    let no_run_as_non_root = project(|root| {
        edit_file(
            root,
            "manifests/ray-cluster.pod-security.yaml",
            "            runAsNonRoot: true\n",
            "",
        );
        without_preflight(root);
    });
    let (admitted, refused) = std::thread::scope(|s| {
        let a =
            s.spawn(|| on_existing_cluster(no_enforce.path(), 1, &[], 1, &["--unique-namespace"]));
        let b = s.spawn(|| {
            on_existing_cluster(
                no_run_as_non_root.path(),
                1,
                &[],
                1,
                &["--unique-namespace"],
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let r = &admitted.runs[0];
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.step("complete-rejected")["outcome"], "failed");
    let said = r.says("complete-rejected");
    assert!(
        said.contains("a server-side dry run (dryRun=All) of the head pod as KubeRay builds it was not refused by Pod Security: admitted (201)"),
        "{said}"
    );
    let r = &refused.runs[0];
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.step("pod-security-running")["outcome"], "failed");
    let said = r.says("pod-security-running");
    assert!(said.contains("runAsNonRoot != true"), "{said}");
    assert!(
        said.contains("violates PodSecurity \"restricted:latest\""),
        "{said}"
    );
    // The failed runs still removed what they created, and only that.
    for world in [&admitted, &refused] {
        let cleanup = world.runs[0].cleanup();
        assert!(
            cleanup
                .iter()
                .any(|c| c.starts_with("deleted namespace pod-security-")),
            "{cleanup:?}"
        );
    }
}

#[test]
fn a_user_missing_a_right_is_stopped_before_anything_is_touched() {
    let tree = project(|_| {});
    let world = on_existing_cluster(
        tree.path(),
        1,
        &[
            "--limited-user",
            "tutorial-runner",
            "--forbid",
            "create:pods/exec",
            "--forbid",
            "create:customresourcedefinitions.apiextensions.k8s.io",
        ],
        1,
        &["--namespace", "team-a"],
    );
    let r = &world.runs[0];
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.step("kind-cluster")["outcome"], "failed");
    let said = r.says("kind-cluster");
    assert!(said.contains("lacks 2 of the"), "{said}");
    assert!(said.contains("nothing was touched"), "{said}");
    assert!(
        said.contains("  - create pods --subresource=exec -n team-a"),
        "{said}"
    );
    assert!(
        said.contains("  - create customresourcedefinitions.apiextensions.k8s.io (cluster-wide)"),
        "{said}"
    );
    for later in ["namespace", "operator", "complete-rejected"] {
        assert_eq!(r.step(later)["outcome"], "skipped", "{later}");
    }
    assert_eq!(r.cleanup()[0], "this run created nothing on the cluster");
    assert!(
        !world.invocations.contains("\"install\""),
        "helm ran:\n{}",
        world.invocations
    );
}

#[test]
fn a_kind_cluster_reached_by_its_kubeconfig_still_has_its_audit_log_read() {
    // The user made the cluster with the tutorial's kind config (audit logging on); the harness
    // reaches it through kind's context, finds the node, and reads the log as for its own.
    let tree = project(|_| {});
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("kind.kubeconfig");
    let report = work.path().join("report.json");
    let config = work.path().join("kind-config.yaml");
    let text = std::fs::read_to_string(tree.path().join("kind/kind-config.yaml"))
        .unwrap()
        .replace(
            "hostPath: audit-policy.yaml",
            &format!(
                "hostPath: {}",
                tree.path().join("kind/audit-policy.yaml").display()
            ),
        );
    std::fs::write(&config, text).unwrap();
    let xtask = common::xtask_bin().unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        "kind create cluster --name mine --config {} --kubeconfig {} && {} e2e --scenario {} --kubeconfig {} --report-json {} --artifacts {}",
        quote(&config),
        quote(&kubeconfig),
        quote(&xtask),
        quote(tree.path().join("scenarios/pod-security.yaml")),
        quote(&kubeconfig),
        quote(&report),
        quote(work.path().join("artifacts")),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", LATENCY_SCALE])
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code(),
        report: serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
            .unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.step("kind-cluster")["outcome"], "skipped");
    assert_eq!(
        r.step("audit-log-quiet")["outcome"],
        "passed",
        "{}",
        r.says("audit-log-quiet")
    );
    assert!(
        r.says("audit-log-quiet")
            .contains("in mine-control-plane is readable"),
        "{}",
        r.says("audit-log-quiet")
    );
    let rejected = r.says("complete-rejected");
    assert!(rejected.contains("audit: "), "{rejected}");
    assert!(!rejected.contains("dry run:"), "{rejected}");
    let invocations = std::fs::read_to_string(work.path().join("state/invocations.jsonl")).unwrap();
    assert!(
        !invocations.contains("\"delete\",\"cluster\""),
        "the harness deleted the user's cluster:\n{invocations}"
    );
}

#[test]
fn an_operator_already_acting_on_the_namespace_is_never_doubled() {
    // The cluster's owner runs KubeRay cluster-wide: a second operator would reconcile the run's
    // RayClusters too. The run stops before installing one, unless asked to use it.
    let tree = project(|_| {});
    let cluster_wide = "helm install kuberay-operator kuberay-operator --repo https://ray-project.github.io/kuberay-helm/ --version 1.5.1 --namespace ray-system --create-namespace --kubeconfig \"$KUBECONFIG\" --kube-context kind-existing >/dev/null";
    let (stopped, reused) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            on_existing_cluster_after(
                tree.path(),
                1,
                &[],
                cluster_wide,
                1,
                &["--unique-namespace"],
            )
        });
        let b = s.spawn(|| {
            on_existing_cluster_after(
                tree.path(),
                1,
                &[],
                cluster_wide,
                1,
                &["--unique-namespace", "--reuse-operator"],
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let r = &stopped.runs[0];
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let said = r.says("operator");
    assert!(
        said.contains("a KubeRay operator already acts on namespace pod-security-")
            && said.contains("(Deployment ray-system/kuberay-operator)")
            && said.contains("Pass --reuse-operator"),
        "{said}"
    );
    assert!(
        r.cleanup()
            .iter()
            .any(|c| c.starts_with("deleted namespace pod-security-")),
        "{:?}",
        r.cleanup()
    );
    let r = &reused.runs[0];
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.step("operator")["outcome"], "skipped");
    assert!(
        r.says("operator")
            .contains("Deployment ray-system/kuberay-operator (Available)"),
        "{}",
        r.says("operator")
    );
    // Only the one install, the owner's: the runs installed no operator of their own.
    for world in [&stopped, &reused] {
        let installs = world
            .invocations
            .lines()
            .filter(|l| l.contains("\"install\""))
            .count();
        assert_eq!(installs, 1, "{}", world.invocations);
    }
}

#[test]
fn a_user_who_may_not_install_crds_runs_where_they_are_installed() {
    // The cluster's owner installed KubeRay for a namespace of theirs (so its CRDs are there);
    // the run's user may not create, list or watch CRDs, only read them. Those rights are not
    // asked for, and helm is told to skip the chart's CRDs.
    let tree = project(|_| {});
    let owner_installs = "kind get kubeconfig --name existing > \"$KUBECONFIG.admin\" && helm install kuberay-operator kuberay-operator --repo https://ray-project.github.io/kuberay-helm/ --version 1.5.1 --namespace ray-system --create-namespace --set singleNamespaceInstall=true --kubeconfig \"$KUBECONFIG.admin\" --kube-context kind-existing >/dev/null";
    let crds = "customresourcedefinitions.apiextensions.k8s.io";
    let forbid: Vec<String> = ["create", "list", "watch"]
        .iter()
        .map(|v| format!("{v}:{crds}"))
        .collect();
    let mut sim_args = vec!["--limited-user", "tutorial-runner"];
    for f in &forbid {
        sim_args.extend(["--forbid", f.as_str()]);
    }
    let world = on_existing_cluster_after(
        tree.path(),
        1,
        &sim_args,
        owner_installs,
        1,
        &["--unique-namespace"],
    );
    let r = &world.runs[0];
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let operator = r.says("operator");
    assert!(
        operator.contains("CRD rayclusters.ray.io was already installed"),
        "{operator}"
    );
    assert!(
        operator.contains("CRD rayclusters.ray.io Established"),
        "{operator}"
    );
    assert!(
        world.invocations.contains("\"--skip-crds\""),
        "{}",
        world.invocations
    );
}
