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
