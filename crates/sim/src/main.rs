//! `sim` binary: `sim run …`, `sim list-faults`, `sim mirror DIR`; invoked as `kind`, `helm` or `docker` (argv[0],
//! via the symlinks `sim run` puts first on PATH) it is that fake tool.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use sim::Fault;

#[derive(Parser)]
#[command(
    name = "sim",
    about = "A simulated kind/Kubernetes/KubeRay/Ray world for the xtask e2e harness (not a real cluster)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the world and run PROGRAM in it (fake kind/helm/docker first on PATH).
    Run {
        /// Inject a fault (repeatable); see `sim list-faults`.
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// Multiply every simulated latency by F (default 0.1).
        #[arg(long, value_name = "F", default_value_t = 0.1)]
        latency_scale: f64,
        /// Keep the world's files (invocations.jsonl, node filesystems) in DIR.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Before PROGRAM starts, create a kind cluster NAME as a user would (no audit log) and
        /// write its kubeconfig (see --kubeconfig-out).
        #[arg(long, value_name = "NAME")]
        existing_cluster: Option<String>,
        /// Nodes of the existing cluster: one control plane, N-1 workers.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "existing_cluster", value_parser = clap::value_parser!(u32).range(1..=20))]
        nodes: u32,
        /// Where the existing cluster's kubeconfig goes (default STATE_DIR/NAME.kubeconfig).
        #[arg(long, value_name = "PATH", requires = "existing_cluster")]
        kubeconfig_out: Option<PathBuf>,
        /// The kubeconfig's user is NAME, who may do everything but each --forbid.
        #[arg(long, value_name = "NAME", requires = "existing_cluster")]
        limited_user: Option<String>,
        /// A right the limited user lacks: VERB:RESOURCE[.GROUP][/SUBRESOURCE] (repeatable), e.g.
        /// create:customresourcedefinitions.apiextensions.k8s.io, get:pods/exec.
        #[arg(long = "forbid", value_name = "RULE", requires = "limited_user")]
        forbid: Vec<String>,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
    /// Print `NAME expect=pass|fail` per fault.
    ListFaults,
    /// Serve the files under DIR on loopback over HTTP (a stand-in download host), printing its
    /// URL, until killed.
    Mirror {
        /// The files, laid out as on the hosts they stand in for.
        dir: PathBuf,
    },
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if sim::TOOLS.contains(&base.as_str()) {
        let code = rt.block_on(sim::tool_main(&base, std::env::args().skip(1).collect()));
        std::process::exit(code);
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Mirror { dir } => rt.block_on(async {
            match sim::serve_mirror(dir).await {
                Ok(addr) => {
                    println!("http://{addr}");
                    std::future::pending::<()>().await
                }
                Err(e) => {
                    eprintln!("sim: cannot serve the mirror: {e}");
                    std::process::exit(1);
                }
            }
        }),
        Cmd::ListFaults => {
            for l in sim::fault_list_lines() {
                println!("{l}");
            }
        }
        Cmd::Run {
            faults: names,
            latency_scale,
            state_dir,
            existing_cluster,
            nodes,
            kubeconfig_out,
            limited_user,
            forbid,
            program,
        } => {
            let mut fs = vec![];
            for n in names {
                match Fault::parse(&n) {
                    Some(f) => fs.push(f),
                    None => {
                        eprintln!("sim: unknown fault {n:?} (see `sim list-faults`)");
                        std::process::exit(2);
                    }
                }
            }
            let code = rt.block_on(sim::run(sim::RunOptions {
                faults: fs,
                latency_scale,
                state_dir,
                existing: existing_cluster.map(|name| sim::ExistingCluster {
                    name,
                    nodes: nodes as usize,
                    kubeconfig: kubeconfig_out,
                    limited_user: limited_user.map(|u| (u, forbid)),
                }),
                program,
            }));
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            std::process::exit(code);
        }
    }
}
