//! `cargo xtask`: the KubeRay Pod Security tutorial, end to end.
//!
//! See <https://github.com/matklad/cargo-xtask>. Subcommands:
//! - `e2e`: run the tutorial on a fresh kind cluster and assert every outcome it promises;
//! - `pss`: predict offline which Pod Security checks manifests violate;
//! - `sim`: run `e2e` against the simulated world (crates/sim).
//!
//! Data flows one way: scenario file → plan → runner → evidence → verdict → report.

mod artifacts;
mod audit;
mod cmd;
mod dashboard;
mod diagnosis;
mod doc;
mod doc_check;
mod doc_page;
mod dry_run;
mod helm;
mod kind;
mod kube_api;
mod kuberay;
mod manifest;
mod plan;
mod pod_security;
mod prereqs;
mod progress;
mod report;
mod runner;
mod scenario;
mod steps;
mod tools;
mod verdict;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand, ValueEnum};

/// Exit codes: 0 passed, 1 a step failed, 2 bad input or usage, 130 interrupted.
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The KubeRay Pod Security tutorial, end to end",
    arg_required_else_help = true
)]
struct Xtask {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the tutorial on a fresh kind cluster and assert every outcome it promises.
    E2e(Box<E2eArgs>),
    /// Predict offline which Pod Security checks the pod templates in manifests violate.
    Pss(PssArgs),
    /// Run `cargo xtask e2e` against the simulated world (not a real cluster).
    Sim(SimArgs),
    /// Check that the documentation page still says what the scenario runs.
    DocCheck(DocCheckArgs),
    /// Write the tutorial as tested (docs/pod-security.md), or check that it is current.
    Doc(DocArgs),
    /// Fetch the pinned kind and helm for this platform into target/tools, verified.
    Tools(ToolsArgs),
}

#[derive(clap::Args)]
struct ToolsArgs {
    /// The scenario (its `versions` pin kind and helm, with their sha256).
    #[arg(long, value_name = "PATH", default_value_os_t = project_root().join("scenarios/pod-security.yaml"))]
    scenario: PathBuf,
    /// Fetch from this mirror instead of the upstream hosts (same layout).
    #[arg(long, value_name = "URL", env = "E2E_TOOLS_MIRROR")]
    tools_mirror: Option<String>,
}

#[derive(clap::Args)]
struct DocArgs {
    /// The scenario (its steps, and the differences from the page it records).
    #[arg(long, value_name = "PATH", default_value_os_t = project_root().join("scenarios/pod-security.yaml"))]
    scenario: PathBuf,
    /// Where to write it.
    #[arg(long, value_name = "PATH", default_value_os_t = project_root().join("docs/pod-security.md"))]
    out: PathBuf,
    /// Write nothing; exit 1 if the file is not what would be written.
    #[arg(long)]
    check: bool,
}

#[derive(clap::Args)]
struct DocCheckArgs {
    /// The scenario (its steps, and the differences from the page it records).
    #[arg(long, value_name = "PATH", default_value_os_t = project_root().join("scenarios/pod-security.yaml"))]
    scenario: PathBuf,
    /// The page to check, in Markdown (default: the scenario's `documentation.page`).
    #[arg(long, value_name = "PATH")]
    doc: Option<PathBuf>,
}

#[derive(clap::Args)]
struct E2eArgs {
    /// The scenario file (steps and expectations). Its paths resolve against its `root`.
    #[arg(long, value_name = "PATH", default_value_os_t = project_root().join("scenarios/pod-security.yaml"))]
    scenario: PathBuf,
    /// Print the run as the shell commands a person would type; touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run on the cluster this kubeconfig reaches (any cluster, not only kind): the run never
    /// creates or deletes it, installs the operator for its namespace only, and removes only
    /// what it created.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["reuse_cluster", "keep_cluster", "cluster_name"])]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context to use (default: its current-context).
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    context: Option<String>,
    /// On an existing cluster, use the KubeRay operator that already acts on the namespace
    /// (cluster-wide, or watching it) instead of installing one.
    #[arg(long, requires = "kubeconfig")]
    reuse_operator: bool,
    /// Run the tutorial in this namespace instead of the scenario's.
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Run the tutorial in a fresh namespace of its own (the scenario's name and a random
    /// suffix), so that runs on one cluster never meet.
    #[arg(long, conflicts_with = "namespace")]
    unique_namespace: bool,
    /// Use an existing kind cluster of the scenario's name instead of failing; namespaces an
    /// earlier run left are deleted first, and the cluster is kept.
    #[arg(long)]
    reuse_cluster: bool,
    /// Keep the kind cluster at the end.
    #[arg(long)]
    keep_cluster: bool,
    /// kind cluster name (default: the scenario's).
    #[arg(long, value_name = "NAME")]
    cluster_name: Option<String>,
    /// kind node image, e.g. kindest/node:v1.35.0@sha256:… (default: the scenario's).
    #[arg(long, value_name = "IMAGE", env = "E2E_NODE_IMAGE")]
    node_image: Option<String>,
    /// KubeRay Helm chart version (default: the scenario's).
    #[arg(long, value_name = "VERSION", env = "E2E_KUBERAY_VERSION")]
    kuberay_version: Option<String>,
    /// Install the operator from this local chart directory instead of the Helm repository.
    #[arg(long, value_name = "PATH", env = "E2E_KUBERAY_CHART")]
    kuberay_chart: Option<PathBuf>,
    /// Ray image for the compliant RayCluster (default: the scenario's).
    #[arg(long, value_name = "IMAGE", env = "E2E_RAY_IMAGE")]
    ray_image: Option<String>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write the report as JUnit XML (one testcase per step).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Where to write the reports and, on failure, the cluster's state (default: a fresh folder
    /// under target/e2e/).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Fetch the pinned kind and helm into target/tools first (as `cargo xtask tools` does).
    #[arg(long)]
    fetch_tools: bool,
    /// Fetch them from this mirror instead of the upstream hosts (same layout).
    #[arg(long, value_name = "URL", env = "E2E_TOOLS_MIRROR")]
    tools_mirror: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct PssArgs {
    /// Pod Security level.
    #[arg(long, default_value = "restricted", value_parser = ["baseline", "restricted"])]
    level: String,
    /// Policy version: latest or v1.N.
    #[arg(long, default_value = "latest")]
    version: String,
    /// Kubernetes version of the API server that evaluates (decides what `latest` means and the
    /// wording), e.g. 1.26 (default: the newest modelled).
    #[arg(long, value_name = "1.N")]
    kubernetes: Option<String>,
    /// Don't model the wait-gcs-ready init container KubeRay injects into worker pods (older operators).
    #[arg(long)]
    no_ray_init_container: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Manifests (multi-document YAML).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct SimArgs {
    /// A fault to inject (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<String>,
    /// List the faults the world can inject and the outcome each must produce.
    #[arg(long)]
    list_faults: bool,
    /// Multiply the world's latencies by F (1 = as measured on real clusters; default 0.1,
    /// or 1 with --bench).
    #[arg(long, value_name = "F")]
    latency_scale: Option<f64>,
    /// Run the intact tutorial (at latency scale 1 unless given) and print each step's time and
    /// the whole.
    #[arg(long)]
    bench: bool,
    /// First create a cluster in the world as a user would (kind, without the tutorial's audit
    /// logging), then run `e2e --kubeconfig` against it.
    #[arg(long)]
    existing_cluster: bool,
    /// Nodes of that cluster: one control plane and N-1 workers.
    #[arg(
        long,
        value_name = "N",
        requires = "existing_cluster",
        default_value_t = 1
    )]
    nodes: u32,
    /// Arguments for `cargo xtask e2e`.
    #[arg(last = true, value_name = "E2E ARGS")]
    e2e_args: Vec<String>,
}

/// The repository root: the parent of this crate's directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// How a command ends when it does not pass.
enum Failure {
    /// Bad input or usage: exit 2.
    Usage(String),
    /// The work failed: exit 1.
    Failed(String),
}

fn usage(e: impl std::fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(e.to_string())
}

fn main() -> ExitCode {
    let args = Xtask::parse();
    let ended = match args.command {
        Command::E2e(a) => e2e(*a),
        Command::Pss(a) => pss(a),
        Command::Sim(a) => sim(a),
        Command::DocCheck(a) => doc_check(a),
        Command::Doc(a) => doc(a),
        Command::Tools(a) => tools_command(a),
    };
    match ended {
        Ok(code) => code,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Failed(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn e2e(a: E2eArgs) -> Result<ExitCode, Failure> {
    let loaded = scenario::load::<steps::ActionSpec>(&a.scenario).map_err(usage)?;
    let overrides = plan::Overrides {
        cluster_name: a.cluster_name,
        node_image: a.node_image,
        kuberay_version: a.kuberay_version,
        kuberay_chart: a.kuberay_chart,
        ray_image: a.ray_image,
        tools_mirror: a.tools_mirror,
        namespace: match (a.namespace, a.unique_namespace) {
            (Some(name), _) => Some(plan::NamespaceChoice::Named(name)),
            (None, true) => Some(plan::NamespaceChoice::Unique),
            (None, false) => None,
        },
    };
    let options = plan::ClusterOptions {
        reuse_cluster: a.reuse_cluster,
        keep_cluster: a.keep_cluster,
        existing: a.kubeconfig.map(|kubeconfig| plan::ExistingCluster {
            kubeconfig,
            context: a.context,
            reuse_operator: a.reuse_operator,
        }),
    };
    if let Some(dir) = &overrides.kuberay_chart
        && !dir.join("Chart.yaml").is_file()
    {
        return Err(usage(format!(
            "--kuberay-chart {}: no Chart.yaml there",
            dir.display()
        )));
    }
    let mut plan = plan::build(&loaded, &overrides, options).map_err(usage)?;
    if a.dry_run {
        print!(
            "{}",
            dry_run::render(&plan).map_err(|e| usage(format!("{e:#}")))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start the async runtime: {e}")))?;
    // Set-up before anything starts: missing or incompatible prerequisites are bad set-up.
    plan.env.tool_dirs = runtime.block_on(fetched_tools(&plan.tools, a.fetch_tools))?;
    let sh = tools::shell_with(&plan.env.tool_dirs).map_err(|e| failed(format!("{e:#}")))?;
    let wanted = prereqs::Wanted {
        kind: plan.versions.kind.as_ref().map(|k| k.version.clone()),
        node_image: plan.versions.node_image.clone(),
    };
    let found = runtime.block_on(prereqs::check(&sh, &wanted));
    eprint!("{found}");
    if !found.ok() {
        return Err(usage(
            "prerequisites missing or incompatible; nothing was created",
        ));
    }
    let dir = a
        .artifacts
        .clone()
        .unwrap_or_else(|| artifacts::default_dir(&plan.root));
    std::fs::create_dir_all(&dir)
        .map_err(|e| usage(format!("--artifacts {}: {e}", dir.display())))?;
    let report = runtime
        .block_on(runner::run(&plan, &dir))
        .map_err(|e| failed(format!("{e:#}")))?;
    println!("\n{}", report.table());
    write_bundle_reports(&plan, &report, &dir);
    let mut code = if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.passed() {
        0
    } else {
        EXIT_FAILED
    };
    let writes = [
        a.report_json.as_deref().map(|p| report.write_json(p)),
        a.junit.as_deref().map(|p| report.write_junit(p)),
    ];
    for e in writes.into_iter().flatten().filter_map(Result::err) {
        eprintln!("error: {e:#}");
        if code == 0 {
            code = EXIT_FAILED;
        }
    }
    // Leftover work (watch tasks, port-forward listeners) ends with the runtime, not later.
    runtime.shutdown_background();
    Ok(ExitCode::from(code))
}

fn pss(a: PssArgs) -> Result<ExitCode, Failure> {
    let lv: pss::LevelVersion = format!("{}:{}", a.level, a.version)
        .parse()
        .map_err(|e| usage(format!("--version {}: {e}", a.version)))?;
    let evaluator = match &a.kubernetes {
        None => pss::Evaluator::newest(),
        Some(v) => match v.parse::<pss::KubeVersion>() {
            Ok(version) if version.major == 1 => pss::Evaluator::for_server(version),
            _ => return Err(usage(format!("--kubernetes {v}: write 1.N, e.g. 1.26"))),
        },
    };
    let opts = pss::TemplateOptions {
        ray_wait_gcs_ready: !a.no_ray_init_container,
    };
    let mut entries = Vec::new();
    for path in &a.paths {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| usage(format!("{label}: {e}")))?;
        entries.extend(pss::evaluate_yaml(&label, &text, &evaluator, &lv, &opts).map_err(usage)?);
    }
    match a.format {
        Format::Text => print!("{}", pss::render_text(&entries)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into())
        ),
    }
    Ok(if entries.iter().all(|e| e.allowed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The page, the plan, and the page checked against the plan's commands.
struct Documentation {
    plan: plan::Plan,
    page_path: PathBuf,
    page: doc_page::Page,
    source: String,
    report: doc_check::Report,
}

/// Reads the scenario and its documentation page (or `doc`) and checks one against the other;
/// no cluster, no network.
fn documentation(scenario_path: &Path, doc: Option<&Path>) -> Result<Documentation, Failure> {
    let scenario = scenario::load::<steps::ActionSpec>(scenario_path).map_err(usage)?;
    let Some(docs) = &scenario.documentation else {
        return Err(usage(format!(
            "{}: the scenario has no `documentation` section",
            scenario_path.display()
        )));
    };
    let page_path = match doc {
        Some(p) => p.to_path_buf(),
        None => scenario.source.resolve(&docs.page).map_err(usage)?,
    };
    let text = std::fs::read_to_string(&page_path)
        .map_err(|e| usage(format!("{}: {e}", page_path.display())))?;
    let plan =
        plan::build(&scenario, &plan::Overrides::default(), Default::default()).map_err(usage)?;
    let ours: Vec<doc_check::OurLine> = dry_run::step_lines(&plan, true)
        .map_err(|e| usage(format!("{e:#}")))?
        .into_iter()
        .flat_map(|(step, lines)| {
            lines
                .into_iter()
                .map(|l| doc_check::OurLine::new(&step.id, &step.doc.to_string(), &l))
                .collect::<Vec<_>>()
        })
        .collect();
    let differences: Vec<_> = docs.differences.iter().collect();
    let page = doc_page::parse(&text);
    let report = doc_check::check(&page, &ours, &differences);
    Ok(Documentation {
        page_path,
        page,
        source: docs.source.clone(),
        report,
        plan,
    })
}

/// Matches the documentation page's commands to the scenario's steps.
fn doc_check(a: DocCheckArgs) -> Result<ExitCode, Failure> {
    let d = documentation(&a.scenario, a.doc.as_deref())?;
    println!("{}: {}\n", d.page_path.display(), d.source);
    print!("{}", d.report.table());
    Ok(if d.report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Writes the tutorial as tested, or checks that the committed one is current.
fn doc(a: DocArgs) -> Result<ExitCode, Failure> {
    let d = documentation(&a.scenario, None)?;
    if !d.report.passed() {
        return Err(failed(
            "the page and the scenario disagree; run `cargo xtask doc-check` and record the differences first",
        ));
    }
    let internal = |e: anyhow::Error| failed(format!("{e:#}"));
    let steps = dry_run::step_lines(&d.plan, true).map_err(internal)?;
    let mut cleanup = dry_run::stop_lines(&d.plan);
    cleanup.push(dry_run::cleanup_line(&d.plan).map_err(internal)?);
    let cleanup = cleanup.join("\n");
    let text =
        doc::render(&d.plan, &d.page, &d.report, steps, &cleanup, &d.source).map_err(internal)?;
    if a.check {
        let committed = std::fs::read_to_string(&a.out).unwrap_or_default();
        if committed != text {
            return Err(failed(format!(
                "{} is stale: the scenario or the page changed since it was written; refresh it with `cargo xtask doc`",
                a.out.display()
            )));
        }
        println!("{} is current", a.out.display());
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::write(&a.out, &text)
        .map_err(|e| failed(format!("cannot write {}: {e}", a.out.display())))?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The reports and the README in the artifacts folder; a part that cannot be written is said,
/// and never changes the verdict.
fn write_bundle_reports(plan: &plan::Plan, report: &report::RunReport, dir: &Path) {
    let failed_lines: Vec<String> = report
        .steps
        .iter()
        .find(|s| s.outcome == report::Outcome::Failed)
        .and_then(|s| {
            dry_run::step_lines(plan, false)
                .ok()?
                .into_iter()
                .find(|(step, _)| step.id == s.id)
                .map(|(_, lines)| lines)
        })
        .unwrap_or_default();
    let written = [
        report.write_json(&dir.join("report.json")),
        report.write_junit(&dir.join("junit.xml")),
        std::fs::write(
            dir.join("README.md"),
            artifacts::readme(report, &failed_lines, dir),
        )
        .map_err(anyhow::Error::from),
    ];
    for e in written.into_iter().filter_map(Result::err) {
        eprintln!("warning: the artifacts folder is incomplete: {e:#}");
    }
}

/// The directories of the pinned tools present in the project (fetching them first when asked).
async fn fetched_tools(fetches: &[tools::Fetch], fetch: bool) -> Result<Vec<PathBuf>, Failure> {
    let mut dirs = Vec::new();
    let sh = xshell::Shell::new().map_err(|e| failed(e.to_string()))?;
    for f in fetches {
        if fetch {
            let platform = tools::platform().map_err(|e| usage(format!("{e:#}")))?;
            match f.install(&sh, &platform).await {
                Ok(tools::Installed::Fetched(p)) => eprintln!(
                    "fetched {} {} into {} (sha256 verified)",
                    f.tool.name(),
                    f.version,
                    p.display()
                ),
                Ok(tools::Installed::Present(_)) => {}
                Err(e) => return Err(usage(format!("{e:#}"))),
            }
        }
        if f.binary().is_file() {
            dirs.push(f.dir.clone());
        }
    }
    Ok(dirs)
}

/// `cargo xtask tools`: fetches the pinned kind and helm, verified, and says what it has.
fn tools_command(a: ToolsArgs) -> Result<ExitCode, Failure> {
    let scenario = scenario::load::<steps::ActionSpec>(&a.scenario).map_err(usage)?;
    let overrides = plan::Overrides {
        tools_mirror: a.tools_mirror,
        ..Default::default()
    };
    let plan = plan::build(&scenario, &overrides, Default::default()).map_err(usage)?;
    if plan.tools.is_empty() {
        return Err(usage(format!(
            "{}: no kind or helm pinned for this platform",
            a.scenario.display()
        )));
    }
    let platform = tools::platform().map_err(|e| usage(format!("{e:#}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start the async runtime: {e}")))?;
    let sh = xshell::Shell::new().map_err(|e| failed(e.to_string()))?;
    let mut code = ExitCode::SUCCESS;
    for f in &plan.tools {
        match runtime.block_on(f.install(&sh, &platform)) {
            Ok(tools::Installed::Fetched(p)) => println!(
                "{} {} fetched from {}, sha256 {} verified: {}",
                f.tool.name(),
                f.version,
                f.url,
                f.sha256,
                p.display()
            ),
            Ok(tools::Installed::Present(p)) => {
                println!("{} {} present: {}", f.tool.name(), f.version, p.display())
            }
            Err(e) => {
                eprintln!("error: {} {}: {e:#}", f.tool.name(), f.version);
                code = ExitCode::from(EXIT_FAILED);
            }
        }
    }
    Ok(code)
}

/// The name of the cluster `sim --existing-cluster` makes in the world.
const EXISTING_CLUSTER: &str = "existing";

/// Builds the simulated world and runs this very binary's `e2e` inside it.
fn sim(a: SimArgs) -> Result<ExitCode, Failure> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(&cargo);
    build
        .args(["build", "--quiet", "--package", "sim", "--bins"])
        .current_dir(project_root());
    // `cargo run` gave this process the variables of the package it ran (CARGO_MANIFEST_DIR, …);
    // a build script that watches one (ring's does) would rebuild its crate, and everything above
    // it, every time the plain `cargo build`/`cargo test` and this nested one alternate.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            build.env_remove(key.as_ref());
        }
    }
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = cmd::Command::from(build)
        .interactive()
        .map_err(|e| failed(format!("{e:#}")))?;
    if !built.success() {
        return Err(failed(format!(
            "building the simulated world failed ({built})"
        )));
    }
    let me =
        std::env::current_exe().map_err(|e| failed(format!("cannot find this program: {e}")))?;
    let sim_bin = me.with_file_name(format!("sim{}", std::env::consts::EXE_SUFFIX));
    let mut run = std::process::Command::new(&sim_bin);
    let report = tempfile::NamedTempFile::new().map_err(|e| failed(e.to_string()))?;
    let scratch = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
    if a.list_faults {
        run.arg("list-faults");
    } else {
        run.arg("run");
        for f in &a.faults {
            run.args(["--fault", f]);
        }
        let scale = a.latency_scale.or(a.bench.then_some(1.0));
        if let Some(scale) = scale {
            run.args(["--latency-scale", &scale.to_string()]);
        }
        let kubeconfig = scratch
            .path()
            .join(format!("{EXISTING_CLUSTER}.kubeconfig"));
        if a.existing_cluster {
            run.args(["--existing-cluster", EXISTING_CLUSTER])
                .args(["--nodes", &a.nodes.to_string()])
                .arg("--kubeconfig-out")
                .arg(&kubeconfig);
        }
        run.arg("--").arg(&me).arg("e2e");
        if a.existing_cluster {
            run.arg("--kubeconfig").arg(&kubeconfig);
        }
        run.args(&a.e2e_args);
        if a.bench {
            run.arg("--report-json").arg(report.path());
        }
    }
    let status = cmd::Command::from(run)
        .interactive()
        .map_err(|e| failed(format!("{e:#}")))?;
    if a.bench && status.success() {
        let text = std::fs::read_to_string(report.path()).map_err(|e| failed(e.to_string()))?;
        print!(
            "{}",
            bench_table(&text).map_err(|e| failed(format!("{e:#}")))?
        );
    }
    Ok(ExitCode::from(
        status.code().map(|c| c as u8).unwrap_or(EXIT_INTERRUPTED),
    ))
}

/// Each step's time and the whole, from a run's JSON report.
fn bench_table(report_json: &str) -> anyhow::Result<String> {
    let report: serde_json::Value = serde_json::from_str(report_json)?;
    let mut out = String::from("\nbenchmark (simulated world):\n");
    let mut total = 0u64;
    for step in report["steps"].as_array().into_iter().flatten() {
        let ms = step["duration_ms"].as_u64().unwrap_or(0);
        total += ms;
        out.push_str(&format!(
            "  {:<5} {:<22} {:>7.1}s\n",
            step["doc"].as_str().unwrap_or_default(),
            step["id"].as_str().unwrap_or_default(),
            ms as f64 / 1000.0
        ));
    }
    out.push_str(&format!(
        "  {:<28} {:>7.1}s\n",
        "all steps",
        total as f64 / 1000.0
    ));
    Ok(out)
}
