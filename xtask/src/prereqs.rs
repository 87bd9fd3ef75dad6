//! What the reader's machine must have before a run starts: a reachable Docker engine with room
//! for the node, kind (the release the node image is built for), and helm. Each is found with its
//! version, or reported with how to get it; nothing is created.

use std::fmt;

use xshell::{Shell, cmd};

use crate::cmd::Command;

/// kind's node, the operator and a head and a worker need about this much (README).
pub const MIN_DOCKER_MEMORY: u64 = 4 << 30;

/// One prerequisite, as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub name: &'static str,
    /// `ok`, `MISSING` or `MISMATCH`.
    pub verdict: &'static str,
    /// What was found: a version, and where it came from.
    pub found: String,
    /// Why it will not do, and what to do about it; `None` when it will do.
    pub problem: Option<String>,
}

impl Found {
    fn ok(name: &'static str, found: String) -> Found {
        Found {
            name,
            verdict: "ok",
            found,
            problem: None,
        }
    }
    fn missing(name: &'static str, found: impl Into<String>, problem: String) -> Found {
        Found {
            name,
            verdict: "MISSING",
            found: found.into(),
            problem: Some(problem),
        }
    }
    fn mismatch(name: &'static str, found: impl Into<String>, problem: String) -> Found {
        Found {
            verdict: "MISMATCH",
            ..Found::missing(name, found, problem)
        }
    }
}

/// The table of what was found.
pub struct Report(pub Vec<Found>);

impl Report {
    pub fn ok(&self) -> bool {
        self.0.iter().all(|f| f.problem.is_none())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "prerequisites:")?;
        for p in &self.0 {
            writeln!(f, "  {:<7} {:<8} {}", p.name, p.verdict, p.found)?;
            if let Some(why) = &p.problem {
                writeln!(f, "          └ {why}")?;
            }
        }
        Ok(())
    }
}

/// What a prerequisite must be.
pub struct Wanted {
    /// The kind release the node image is built for, when the scenario pins one.
    pub kind: Option<String>,
    pub node_image: String,
}

/// Where `program` is found on the shell's `PATH`.
fn located(sh: &Shell, program: &str) -> Option<std::path::PathBuf> {
    let path = sh.var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

async fn run(command: Command) -> Result<String, String> {
    match command.output().await {
        Ok(out) if out.success() => Ok(out.stdout.trim().to_string()),
        Ok(out) => Err(out.last_words()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Docker: the engine answers, and has the memory a kind node needs.
pub async fn docker(sh: &Shell) -> Found {
    let format = "{{.Server.Version}}";
    let server = run(cmd!(sh, "docker version --format {format}").into()).await;
    let version = match server {
        Ok(v) => v,
        Err(why) if why.contains("is it installed") => {
            return Found::missing(
                "docker",
                "not found on PATH",
                "install Docker (https://docs.docker.com/engine/install/) and start it".into(),
            );
        }
        Err(why) => {
            return Found::missing(
                "docker",
                "engine not reachable",
                format!("`docker version` says: {why}; start the Docker engine"),
            );
        }
    };
    let format = "{{.MemTotal}}";
    match run(cmd!(sh, "docker info --format {format}").into())
        .await
        .ok()
        .and_then(|m| m.parse::<u64>().ok())
    {
        Some(bytes) if bytes < MIN_DOCKER_MEMORY => Found::mismatch(
            "docker",
            format!("engine {version}, memory {}", gib(bytes)),
            format!(
                "the kind node, the operator and the Ray pods need about {}; give Docker more memory",
                gib(MIN_DOCKER_MEMORY)
            ),
        ),
        Some(bytes) => Found::ok("docker", format!("engine {version}, memory {}", gib(bytes))),
        None => Found::ok("docker", format!("engine {version} (memory not reported)")),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// kind: found, and the release the node image is built for when that is known.
pub async fn kind(sh: &Shell, wanted: &Wanted) -> Found {
    let get = match &wanted.kind {
        Some(v) => {
            format!("run `cargo xtask tools` (kind {v} into target/tools) or install kind {v}")
        }
        None => {
            "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)".into()
        }
    };
    let version = match run(cmd!(sh, "kind version").into()).await {
        // `kind v0.25.0 go1.22.9 linux/amd64`
        Ok(out) => out
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string(),
        Err(_) => return Found::missing("kind", "not found on PATH", get),
    };
    match &wanted.kind {
        Some(pinned) if &version != pinned => Found::mismatch(
            "kind",
            version.clone(),
            format!(
                "node image {} is built for kind {pinned}, and kind {version} may not run it: {get}",
                wanted.node_image
            ),
        ),
        _ => Found::ok("kind", with_place(version, located(sh, "kind"))),
    }
}

/// helm: found (v3 or v4; the harness reads both).
pub async fn helm(sh: &Shell) -> Found {
    match run(cmd!(sh, "helm version --short").into()).await {
        Ok(out) => Found::ok("helm", with_place(out, located(sh, "helm"))),
        Err(_) => Found::missing(
            "helm",
            "not found on PATH",
            "run `cargo xtask tools` (helm into target/tools) or install helm v3 or v4 (https://helm.sh/docs/intro/install/)".into(),
        ),
    }
}

fn with_place(version: String, place: Option<std::path::PathBuf>) -> String {
    match place {
        Some(p) => format!("{version} ({})", p.display()),
        None => version,
    }
}

/// Every prerequisite of a run on a kind cluster.
pub async fn check(sh: &Shell, wanted: &Wanted) -> Report {
    let (docker, kind, helm) = tokio::join!(docker(sh), kind(sh, wanted), helm(sh));
    Report(vec![docker, kind, helm])
}
