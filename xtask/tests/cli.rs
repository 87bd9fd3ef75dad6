//! The command line as users meet it: exit codes, errors with file:line, the dry run, `pss`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dry_run_prints_the_tutorial_and_touches_nothing() {
    // An empty PATH: a dry run must not need (or call) kind, helm, docker or kubectl.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["e2e", "--dry-run"])
        .env("PATH", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for doc in [
        "[doc 1]",
        "[doc 2]",
        "[doc 3]",
        "[doc 4]",
        "[doc 5.1]",
        "[doc 5.2]",
    ] {
        assert!(stdout.contains(doc), "{doc} missing:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!(
            "{}/manifests/ray-cluster.complete.yaml",
            root().display()
        )),
        "{stdout}"
    );
}

#[test]
fn overrides_come_from_flags_and_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "e2e",
            "--dry-run",
            "--kuberay-version",
            "1.7.0",
            "--cluster-name",
            "nightly",
        ])
        .env("E2E_NODE_IMAGE", "kindest/node:v1.35.0")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("--version 1.7.0"), "{stdout}");
    assert!(stdout.contains("--image kindest/node:v1.35.0"), "{stdout}");
    assert!(
        stdout.contains("kind delete cluster --name nightly"),
        "{stdout}"
    );
}

#[test]
fn a_broken_scenario_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(root().join("scenarios/pod-security.yaml")).unwrap();
    let broken = original.replacen(
        "    timeout: 10m\n",
        "    timeout: 10m\n    retries: 3\n",
        1,
    );
    let line = broken
        .lines()
        .position(|l| l.contains("retries: 3"))
        .unwrap()
        + 1;
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = xtask(&["e2e", "--dry-run", "--scenario", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:{line}:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("retries"), "{stderr}");
}

#[test]
fn a_copied_tree_runs_as_is() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scenarios", "manifests", "kind"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for f in std::fs::read_dir(root().join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    let scenario = dir.path().join("scenarios/pod-security.yaml");
    let out = xtask(&["e2e", "--dry-run", "--scenario", scenario.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let copied = std::fs::canonicalize(dir.path()).unwrap_or(dir.path().to_path_buf());
    assert!(
        stdout.contains(&format!(
            "{}/manifests/ray-cluster.complete.yaml",
            dir.path().display()
        )) || stdout.contains(&format!(
            "{}/manifests/ray-cluster.complete.yaml",
            copied.display()
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("{}/manifests", root().display())),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(xtask(&["e2e", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(xtask(&[]).status.code(), Some(2));
}

#[test]
fn pss_reports_forbidden_and_allowed_manifests_with_exit_codes() {
    let complete = root().join("manifests/ray-cluster.complete.yaml");
    let compliant = root().join("manifests/ray-cluster.pod-security.yaml");
    let out = xtask(&[
        "pss",
        "--kubernetes",
        "1.26",
        "--format",
        "json",
        complete.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let head = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] == "spec.headGroupSpec.template")
        .unwrap();
    assert_eq!(head["allowed"], false);
    assert!(head["message"].as_str().unwrap().starts_with(
        r#"violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "ray-head" must set securityContext.allowPrivilegeEscalation=false)"#
    ));

    let out = xtask(&["pss", compliant.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n").unwrap();
    let out = xtask(&["pss", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{}:", bad.display())),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn doc_check_accepts_the_upstream_page_with_every_difference_recorded() {
    let out = xtask(&["doc-check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("0 not covered; 0 stale difference(s)"),
        "{text}"
    );
    assert!(
        text.contains("[node-image] kindest/node:v1.26.0 is not an image"),
        "{text}"
    );
}

#[test]
fn doc_check_fails_on_a_changed_value_naming_the_line() {
    let page = std::fs::read_to_string(root().join("docs/upstream/pod-security.md")).unwrap();
    for (from, to, line) in [
        (
            "--image=kindest/node:v1.26.0",
            "--image=kindest/node:v1.27.3",
            "33",
        ),
        (
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce=baseline",
            "55",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let changed = dir.path().join("pod-security.md");
        std::fs::write(&changed, page.replace(from, to)).unwrap();
        let out = xtask(&["doc-check", "--doc", changed.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{line} ")))
            .unwrap_or_else(|| panic!("no row for line {line}: {text}"));
        assert!(row.contains("NOT COVERED"), "{row}");
        assert!(text.contains(to.split('=').next_back().unwrap()), "{text}");
    }
}

#[test]
fn doc_check_without_the_page_is_bad_input() {
    let out = xtask(&["doc-check", "--doc", "/nonexistent/page.md"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_committed_tutorial_as_tested_is_current() {
    let out = xtask(&["doc", "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "docs/pod-security.md is stale: refresh it with `cargo xtask doc` and commit it\n{}",
        text(&out.stderr)
    );
}

#[test]
fn a_stale_tutorial_as_tested_names_the_command_that_refreshes_it() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("pod-security.md");
    let current = std::fs::read_to_string(root().join("docs/pod-security.md")).unwrap();
    std::fs::write(&stale, current.replace("--timeout=600s", "--timeout=60s")).unwrap();
    let out = xtask(&["doc", "--check", "--out", stale.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refresh it with `cargo xtask doc`"),
        "{}",
        text(&out.stderr)
    );
    let written = dir.path().join("written.md");
    let out = xtask(&["doc", "--out", written.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), current);
}

/// A directory of stand-in tools: each prints what the real tool prints for the harness's
/// version questions.
fn stand_ins(tools: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, script) in tools {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    dir
}

fn e2e_with_path(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["e2e", "--cluster-name", "prereq-test"])
        .env("PATH", path)
        .output()
        .expect("run xtask")
}

const DOCKER: &str = r#"case "$1" in version) echo 27.3.1;; info) echo 16655466496;; esac"#;
const KIND_0_25: &str = r#"echo "kind v0.25.0 go1.22.9 linux/amd64""#;
const HELM: &str = r#"echo "v3.16.3+gcfd0749""#;

#[test]
fn missing_prerequisites_are_bad_set_up_and_nothing_starts() {
    let empty = tempfile::tempdir().unwrap();
    let out = e2e_with_path(empty.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for line in [
        "docker  MISSING  not found on PATH",
        "kind    MISSING  not found on PATH",
        "run `cargo xtask tools` (kind v0.25.0 into target/tools) or install kind v0.25.0",
        "helm    MISSING  not found on PATH",
        "nothing was created",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    assert!(!err.contains("▶"), "no step may start: {err}");
}

#[test]
fn an_unreachable_engine_a_small_one_and_a_kind_too_new_are_reported() {
    let tools = stand_ins(&[
        (
            "docker",
            r#"case "$1" in version) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1;; esac"#,
        ),
        ("kind", r#"echo "kind v0.31.0 go1.25.5 linux/amd64""#),
        ("helm", HELM),
    ]);
    let out = e2e_with_path(tools.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("docker  MISSING  engine not reachable"),
        "{err}"
    );
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(err.contains("kind    MISMATCH v0.31.0"), "{err}");
    assert!(
        err.contains("is built for kind v0.25.0, and kind v0.31.0 may not run it"),
        "{err}"
    );
    assert!(err.contains("helm    ok       v3.16.3+gcfd0749 ("), "{err}");

    let small = stand_ins(&[
        (
            "docker",
            r#"case "$1" in version) echo 27.3.1;; info) echo 2147483648;; esac"#,
        ),
        ("kind", KIND_0_25),
        ("helm", HELM),
    ]);
    let out = e2e_with_path(small.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("docker  MISMATCH engine 27.3.1, memory 2.0 GiB"),
        "{err}"
    );
}

#[test]
fn with_every_prerequisite_the_run_starts_and_a_failed_step_is_reported() {
    // kind is found, so step 1 runs it; the stand-in knows no cluster and cannot create one:
    // step 1 fails (exit 1), later steps are skipped, and both reports say why.
    let tools = stand_ins(&[
        ("docker", DOCKER),
        (
            "kind",
            &format!(
                r#"case "$1" in version) {KIND_0_25};; get) exit 0;; *) echo "ERROR: failed to create cluster: stand-in" >&2; exit 1;; esac"#
            ),
        ),
        (
            "helm",
            r#"case "$1" in version) echo "v3.16.3+gcfd0749";; *) exit 1;; esac"#,
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (report, junit) = (dir.path().join("report.json"), dir.path().join("junit.xml"));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["e2e", "--cluster-name", "prereq-test", "--report-json"])
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .env("PATH", tools.path())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("docker  ok       engine 27.3.1, memory 15.5 GiB"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "kind    ok       v0.25.0 ({})",
            tools.path().join("kind").display()
        )),
        "where it was found: {err}"
    );
    assert!(
        err.contains("▶ [doc 1] kind-cluster"),
        "the run started: {err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["outcome"], "failed");
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps[0]["id"], "preflight");
    assert_eq!(steps[1]["id"], "kind-cluster");
    assert_eq!(steps[1]["outcome"], "failed");
    let msg = steps[1]["message"].as_str().unwrap();
    assert!(msg.contains("scenarios/pod-security.yaml:"), "{msg}");
    assert!(
        msg.contains("ERROR: failed to create cluster: stand-in"),
        "{msg}"
    );
    assert!(steps[2..].iter().all(|s| s["outcome"] == "skipped"), "{r}");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testcase")
    );
}

#[test]
fn an_existing_cluster_is_reached_only_as_asked() {
    // Choices that cannot go together are refused before anything runs.
    for args in [
        &["e2e", "--dry-run", "--context", "prod"][..],
        &["e2e", "--dry-run", "--kubeconfig", "k", "--reuse-cluster"],
        &["e2e", "--dry-run", "--kubeconfig", "k", "--keep-cluster"],
        &["e2e", "--dry-run", "--namespace", "a", "--unique-namespace"],
    ] {
        let out = xtask(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = xtask(&[
        "e2e",
        "--dry-run",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--kubeconfig /nonexistent/kubeconfig"),
        "{}",
        text(&out.stderr)
    );

    // The dry run of such a run: the user's kubeconfig and context everywhere, the rights
    // asked first, the operator of one namespace, and a cleanup of only what the run creates.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let k = kubeconfig.display().to_string();
    let out = xtask(&[
        "e2e",
        "--dry-run",
        "--kubeconfig",
        &k,
        "--namespace",
        "team-a",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for want in [
        format!("kubectl --kubeconfig {k} --context prod wait --for=condition=Ready nodes --all"),
        format!("kubectl --kubeconfig {k} --context prod auth can-i $right"),
        "'create pods --subresource=exec -n team-a'".to_string(),
        "--namespace team-a --values".to_string(),
        "--set singleNamespaceInstall=true".to_string(),
        format!("kubectl --kubeconfig {k} --context prod apply --server-side -n team-a"),
        format!(
            "helm uninstall kuberay-operator --namespace team-a --wait --kubeconfig {k} --kube-context prod"
        ),
        format!("kubectl --kubeconfig {k} --context prod delete namespace team-a --wait"),
    ] {
        assert!(stdout.contains(&want), "{want} missing:\n{stdout}");
    }
    for never in ["kind create cluster", "kind delete cluster", "docker exec"] {
        assert!(!stdout.contains(never), "{never} printed:\n{stdout}");
    }
}
