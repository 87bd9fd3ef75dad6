//! `sim run`: fake tools on PATH, invocation log, exit status and signal forwarding. The real
//! harness's runs in the world are in `tutorial.rs`.

mod common;

use common::*;
use std::process::Command;

#[test]
fn list_faults_prints_expectations() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("list-faults")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l == "watch-dropped expect=pass"));
    assert!(text.lines().any(|l| l == "psa-labels-ignored expect=fail"));
    assert!(
        text.lines()
            .all(|l| l.ends_with(" expect=pass") || l.ends_with(" expect=fail")),
        "{text}"
    );
}

#[test]
fn tools_on_path_are_recorded_and_exit_status_propagates() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
set -e
test "$(command -v kind)" = "$SIM_STATE_DIR/bin/kind"
kind version
helm version --short
docker version --format '{{.Server.Version}}'
kind get clusters
kind create cluster --name t --kubeconfig "$PWD/kc" 2>/dev/null
kind get clusters
docker exec nope-control-plane cat /x || echo "docker-rc=$?"
kind delete cluster --name t --kubeconfig "$PWD/kc"
exit 7
"#;
    let r = sim_run(
        &["watch-dropped"],
        dir.path(),
        &["bash", "-c", script],
        &dir.path().join("state"),
    );
    assert_eq!(r.code, 7, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        &lines[..4],
        [
            "kind v0.25.0 go1.22.9 linux/amd64",
            "v3.16.3+gcfd0749",
            "27.3.1",
            "t"
        ]
    );
    assert!(r.stdout.contains("docker-rc=1"));
    assert!(r.stderr.contains("No kind clusters found."));
    assert!(
        r.stderr
            .contains("Error response from daemon: No such container: nope-control-plane")
    );
    assert!(r.stderr.contains("Deleting cluster \"t\" ..."));
    assert!(r.ran(&["kind", "delete", "cluster", "--name", "t"]));
    let inv = r.invocations();
    let create = inv.iter().find(|i| i["argv"][1] == "create").unwrap();
    assert_eq!(create["exit_code"], 0);
    assert_eq!(create["cwd"], dir.path().display().to_string());
    let docker = inv
        .iter()
        .find(|i| i["tool"] == "docker" && i["argv"][1] == "exec")
        .unwrap();
    assert_eq!(docker["exit_code"], 1);
}

#[test]
fn an_existing_cluster_is_there_before_the_program_with_its_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let kc = dir.path().join("user.kubeconfig");
    // The user's kubeconfig already has another cluster: kind merges, as it does.
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: \"https://10.0.0.1:6443\"}\ncontexts:\n- name: other\n  context: {cluster: other, user: other}\ncurrent-context: other\nusers:\n- name: other\n  user: {token: abc}\n",
    )
    .unwrap();
    // The program reads the kubeconfig and lists the nodes with kind; the cluster has no audit log.
    let script = r#"
set -e
cat "$1"
kind get nodes --name x
docker exec x-control-plane cat /var/log/kubernetes/kube-apiserver-audit.log || echo "no-audit-log=$?"
"#;
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "run",
            "--existing-cluster",
            "x",
            "--nodes",
            "3",
            "--kubeconfig-out",
        ])
        .arg(&kc)
        .args([
            "--limited-user",
            "jane",
            "--forbid",
            "list:secrets",
            "--forbid",
            "create:customresourcedefinitions.apiextensions.k8s.io",
        ])
        .arg("--state-dir")
        .arg(&state)
        .args(["--", "sh", "-c", script, "sh"])
        .arg(&kc)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&kc).unwrap();
    let cfg: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let named = |list: &str, name: &str| {
        cfg[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {list} {name}: {text}"))
    };
    assert_eq!(cfg["current-context"], "kind-x");
    assert_eq!(named("contexts", "kind-x")["context"]["user"], "jane");
    assert!(
        named("users", "jane")["user"]["token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        named("clusters", "kind-x")["cluster"]["server"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    // The other cluster is kept; the kind admin's credentials are not in the user's file.
    assert_eq!(named("users", "other")["user"]["token"], "abc");
    assert!(
        !text.contains("kind-x\n  user:") && !text.contains("client-key-data"),
        "{text}"
    );
    assert!(
        stdout.contains("x-control-plane\nx-worker\nx-worker2\n"),
        "{stdout}"
    );
    assert!(stdout.contains("no-audit-log=1"), "{stdout}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.join(sim::EXISTING_CLUSTER_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(record["user"], "jane");
    assert_eq!(
        record["forbid"],
        serde_json::json!([
            "list:secrets",
            "create:customresourcedefinitions.apiextensions.k8s.io"
        ])
    );
    assert_eq!(record["nodes"].as_array().unwrap().len(), 3);
    // Not something the program ran.
    let inv = std::fs::read_to_string(state.join("invocations.jsonl")).unwrap();
    assert!(!inv.contains("\"create\""), "{inv}");

    // A bad rule is refused before anything runs.
    let bad = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "run",
            "--existing-cluster",
            "y",
            "--limited-user",
            "j",
            "--forbid",
            "fly:pods",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown verb \"fly\""));
}

#[test]
fn two_programs_install_their_operators_into_one_existing_cluster_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Two installs at once, in two namespaces, each scoped to its own: both create the CRDs (one
    // wins, the other skips them) and both releases are deployed.
    let script = r#"
kc="$SIM_STATE_DIR/shared.kubeconfig"
install() {
  helm install kuberay-operator kuberay-operator --repo https://ray-project.github.io/kuberay-helm/ \
    --version 1.5.1 --namespace "$1" --create-namespace --kubeconfig "$kc" \
    --set singleNamespaceInstall=true > "$1.out" 2>&1
  echo "$1=$?"
}
install team-a & install team-b & wait
helm status kuberay-operator --namespace team-a --kubeconfig "$kc" | grep STATUS
helm status kuberay-operator --namespace team-b --kubeconfig "$kc" | grep STATUS
"#;
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "run",
            "--existing-cluster",
            "shared",
            "--nodes",
            "2",
            "--state-dir",
        ])
        .arg(&state)
        .args(["--", "bash", "-c", script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("team-a=0") && stdout.contains("team-b=0"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("STATUS: deployed").count(), 2, "{stdout}");
}

#[test]
fn sigint_is_forwarded_and_reported_as_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--", "sh", "-c", "echo ready; exec sleep 30"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The program runs (so `sim run` handles signals) once it has said so.
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready, "ready\n");
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, 2) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
