//! `cargo xtask tools` and `e2e` against a loopback mirror (`sim mirror`) that serves stand-ins
//! in the upstream layout: a good download is verified, installed into the project's
//! `target/tools` and used by the run; a corrupted one is refused and nothing is left behind.
//! The stand-ins are copies of the `sim` binary, which, named `kind` or `helm`, is the world's
//! fake of that tool.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const KIND_PIN: &str = "b22ff7e5c02b8011e82cc3223d069d178b9e1543f1deb21e936d11764780a3d8";
const HELM_PIN: &str = "f5355c79190951eed23c5432a3b920e071f4c00a64f75e077de0dd4cb7b294ea";

fn platform() -> String {
    let os = if cfg!(target_os = "macos") {
        "darwin"
    } else {
        "linux"
    };
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    format!("{os}-{arch}")
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The mirror's files: kind and helm stand-ins for this platform, as the hosts lay them out.
fn stand_ins(dir: &Path) -> (PathBuf, PathBuf) {
    let sim = Path::new(env!("CARGO_BIN_EXE_sim"));
    let kind = dir.join(format!("dl/v0.25.0/kind-{}", platform()));
    std::fs::create_dir_all(kind.parent().unwrap()).unwrap();
    std::fs::copy(sim, &kind).unwrap();
    let stage = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(stage.path().join(platform())).unwrap();
    std::fs::copy(sim, stage.path().join(platform()).join("helm")).unwrap();
    let helm = dir.join(format!("helm-v3.16.3-{}.tar.gz", platform()));
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&helm)
        .arg("-C")
        .arg(stage.path())
        .arg(format!("{}/helm", platform()))
        .status()
        .unwrap();
    assert!(tar.success());
    (kind, helm)
}

/// A copy of the project whose scenario pins these downloads for this platform.
fn project_pinning(kind: &Path, helm: &Path) -> tempfile::TempDir {
    let tree = common::copy_project();
    let scenario = tree.path().join("scenarios/pod-security.yaml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    let platform = platform();
    let pin = |text: &str, tool: &str, pinned: &str, sum: &str| {
        // Each tool's line for this platform: `      linux-amd64: <sum>` under `kind:`/`helm:`.
        let start = text.find(&format!("\n  {tool}:\n")).unwrap();
        let at = start + text[start..].find(&format!("{platform}: ")).unwrap();
        let end = at + text[at..].find('\n').unwrap();
        let line = &text[at..end];
        assert!(
            platform != "linux-amd64" || line.ends_with(pinned),
            "{line}"
        );
        format!("{}{platform}: {sum}{}", &text[..at], &text[end..])
    };
    let text = pin(&text, "kind", KIND_PIN, &sha256(kind));
    let text = pin(&text, "helm", HELM_PIN, &sha256(helm));
    std::fs::write(&scenario, text).unwrap();
    tree
}

struct Mirror {
    child: Child,
    url: String,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mirror(dir: &Path) -> Mirror {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("mirror")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    Mirror {
        child,
        url: url.trim().to_string(),
    }
}

fn xtask_tools(tree: &Path, mirror: &Mirror) -> std::process::Output {
    Command::new(common::xtask_bin().unwrap())
        .args(["tools", "--scenario"])
        .arg(tree.join("scenarios/pod-security.yaml"))
        .args(["--tools-mirror", &mirror.url])
        .output()
        .unwrap()
}

#[test]
fn a_verified_download_is_installed_in_the_project_and_used() {
    let served = tempfile::tempdir().unwrap();
    let (kind, helm) = stand_ins(served.path());
    let tree = project_pinning(&kind, &helm);
    let mirror = mirror(served.path());
    let out = xtask_tools(tree.path(), &mirror);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = tree.path().join("target/tools/kind-v0.25.0/kind");
    assert!(
        stdout.contains(&format!(
            "kind v0.25.0 fetched from {}/dl/v0.25.0/kind-{}, sha256 {} verified: {}",
            mirror.url,
            platform(),
            sha256(&kind),
            installed.display()
        )),
        "{stdout}"
    );
    assert_eq!(sha256(&installed), sha256(&kind));
    assert!(tree.path().join("target/tools/helm-v3.16.3/helm").is_file());
    let again = xtask_tools(tree.path(), &mirror);
    assert!(String::from_utf8_lossy(&again.stdout).contains("kind v0.25.0 present:"));

    // The run finds them first on its PATH, and passes with them.
    // The world's latencies and the settle window cut as in tutorial.rs: this run is about
    // the tools it finds, not about time.
    let scenario = tree.path().join("scenarios/pod-security.yaml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(
        text.contains("settle: 10s"),
        "the scenario's settle window changed"
    );
    std::fs::write(&scenario, text.replace("settle: 10s", "settle: 2s")).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--latency-scale", "0.05", "--"])
        .arg(common::xtask_bin().unwrap())
        .args(["e2e", "--scenario"])
        .arg(tree.path().join("scenarios/pod-security.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains(&format!(
            "kind    ok       v0.25.0 ({})",
            installed.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "({})",
            tree.path().join("target/tools/helm-v3.16.3/helm").display()
        )),
        "{err}"
    );
    assert_eq!(run.status.code(), Some(0), "{err}");
}

#[test]
fn a_corrupted_download_is_refused_and_nothing_is_left() {
    let served = tempfile::tempdir().unwrap();
    let (kind, helm) = stand_ins(served.path());
    let tree = project_pinning(&kind, &helm);
    let pinned = sha256(&kind);
    let mut bytes = std::fs::read(&kind).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&kind, bytes).unwrap();
    let mirror = mirror(served.path());
    let out = xtask_tools(tree.path(), &mirror);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!(
        "checksum mismatch for {}/dl/v0.25.0/kind-{}: expected sha256 {pinned}, got {}; the download was removed",
        mirror.url,
        platform(),
        sha256(&kind)
    )), "{err}");
    assert!(
        !tree.path().join("target/tools/kind-v0.25.0").exists(),
        "nothing is left behind"
    );
}
