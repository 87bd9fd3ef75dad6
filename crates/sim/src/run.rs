//! `sim run`: start the world (and, with `--existing-cluster`, a user's cluster), put the fake
//! tools first on PATH, run the program under test as a child (in its own process group),
//! forward SIGINT/SIGTERM to it, exit with its status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::control::{CONTROL_ADDR_FILE, STATE_DIR_ENV};
use crate::faults::{Fault, Faults};
use crate::tools::ExistingCluster;
use crate::world::World;

pub struct RunOptions {
    pub faults: Vec<Fault>,
    pub latency_scale: f64,
    /// Keep the world's files here (invocations.jsonl, cluster node rootfs) instead of a temp dir.
    pub state_dir: Option<PathBuf>,
    /// A cluster to create before the program starts (`--existing-cluster`).
    pub existing: Option<ExistingCluster>,
    pub program: Vec<String>,
}

/// Start a world (control endpoint + tool bin dir) in this process. Returns the world and the bin dir.
pub async fn start_world(
    state_dir: &Path,
    faults: Vec<Fault>,
    scale: f64,
    tool_binary: &Path,
) -> std::io::Result<(Arc<World>, PathBuf)> {
    std::fs::create_dir_all(state_dir)?;
    let world = World::new(state_dir.to_path_buf(), Faults::new(faults), scale);
    let addr = crate::control::serve(world.clone()).await?;
    std::fs::write(state_dir.join(CONTROL_ADDR_FILE), addr.to_string())?;
    std::fs::write(
        state_dir.join("faults"),
        world.env.faults.names().join("\n"),
    )?;
    let bin = state_dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    for tool in crate::tools::TOOLS {
        let link = bin.join(tool);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(tool_binary, &link)?;
    }
    Ok((world, bin))
}

pub async fn run(opts: RunOptions) -> i32 {
    let (_tmp, state_dir) = match &opts.state_dir {
        Some(d) => (None, d.clone()),
        None => match tempfile::Builder::new().prefix("sim-world-").tempdir() {
            Ok(t) => {
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
            Err(e) => {
                eprintln!("sim: cannot create a state dir: {e}");
                return 2;
            }
        },
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sim: cannot find my own binary: {e}");
            return 2;
        }
    };
    // Signal handlers first: a SIGINT that arrives while the world starts is kept and forwarded
    // to the program as soon as it runs (instead of killing us with the world half up).
    let mut signals = Signals::install();
    let (world, bin) =
        match start_world(&state_dir, opts.faults.clone(), opts.latency_scale, &exe).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("sim: cannot start the world: {e}");
                return 2;
            }
        };
    if let Some(spec) = &opts.existing
        && let Err(e) = world.create_existing_cluster(spec).await
    {
        eprintln!(
            "sim: cannot create the existing cluster {:?}: {e}",
            spec.name
        );
        world.shutdown();
        return 2;
    }
    let Some((prog, args)) = opts.program.split_first() else {
        eprintln!("sim: no program given (usage: sim run [--fault NAME]... -- PROGRAM ARGS...)");
        return 2;
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .env("PATH", path_with(&bin))
        .env(STATE_DIR_ENV, &state_dir)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sim: cannot run {prog}: {e}");
            return 127;
        }
    };
    let status = signals.forward_until_exit(&mut child).await;
    world.shutdown();
    match status {
        Ok(s) => exit_code(s),
        Err(e) => {
            eprintln!("sim: waiting for {prog}: {e}");
            1
        }
    }
}

/// `PATH` with the fake tools' directory first.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    std::env::join_paths(paths).expect("PATH")
}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    }
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
        }
    }

    /// Wait for the child. First signal: forwarded (the program cleans up). A second one: kill
    /// its process group.
    async fn forward_until_exit(
        &mut self,
        child: &mut tokio::process::Child,
    ) -> std::io::Result<std::process::ExitStatus> {
        let pid = child.id().map(|p| p as i32);
        let mut signals = 0;
        loop {
            let sig = tokio::select! {
                s = child.wait() => return s,
                _ = self.int.recv() => libc::SIGINT,
                _ = self.term.recv() => libc::SIGTERM,
            };
            signals += 1;
            if signals == 1 {
                forward(pid, sig);
            } else {
                forward(pid.map(|p| -p), libc::SIGKILL);
            }
        }
    }
}

/// kill(2) on our child (`pid`) or its process group (`-pid`).
fn forward(pid: Option<i32>, sig: i32) {
    if let Some(p) = pid {
        // SAFETY: plain kill(2) on our own child's pid / process group.
        unsafe {
            libc::kill(p, sig);
        }
    }
}
