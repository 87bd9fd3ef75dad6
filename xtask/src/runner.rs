//! The runner: executes the plan's steps in order, each bounded by its timeout, and stops at the
//! first failure (later steps are reported as skipped). Cleanup (deleting the kind cluster) runs
//! on success, on failure and on Ctrl-C; a second Ctrl-C aborts it and says what is left.

use std::{path::Path, time::Instant};

use anyhow::Result;
use tokio::sync::watch;

use crate::{
    artifacts::{self, Scope},
    helm,
    kube_api::objects,
    plan::{Plan, PlannedStep},
    progress::Status,
    report::{Outcome, RunReport, StepResult},
    steps::{
        NotApplicable,
        session::{Created, Session},
    },
};

/// Counts SIGINT/SIGTERM deliveries.
struct Interrupts(watch::Receiver<u32>);

impl Interrupts {
    fn install() -> Result<Interrupts> {
        let (tx, rx) = watch::channel(0u32);
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            loop {
                #[cfg(unix)]
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { return },
                    _ = term.recv() => {}
                }
                #[cfg(not(unix))]
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Interrupts(rx))
    }

    /// Resolves once at least `n` interrupts have arrived.
    async fn count(&self, n: u32) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
}

enum StepEnd {
    Done(Result<Vec<String>>),
    TimedOut,
    Interrupted,
}

/// Runs the plan and returns the report (the caller prints and writes it). The cluster's state
/// goes to `artifacts` before cleanup: everything after a failure, the evidence after a pass.
pub async fn run(plan: &Plan, artifacts: &Path) -> Result<RunReport> {
    let mut session = Session::new(&plan.env)?;
    let interrupts = Interrupts::install()?;
    let mut results: Vec<StepResult> = Vec::new();
    let mut interrupted = false;
    for step in &plan.steps {
        let stopped = results.iter().rev().find(|r| r.outcome == Outcome::Failed);
        if let Some(failed) = stopped {
            let why = if interrupted {
                "the run was interrupted".to_string()
            } else {
                format!("step {} failed", failed.id)
            };
            results.push(result(
                step,
                Outcome::Skipped,
                format!("skipped: {why}"),
                vec![],
                Default::default(),
            ));
            continue;
        }
        let (mut r, was_interrupted) = run_step(step, &mut session, &interrupts).await;
        interrupted |= was_interrupted;
        if r.outcome == Outcome::Failed {
            r.message
                .push_str(&format!("\n    artifacts: {}", artifacts.display()));
        }
        results.push(r);
    }
    session.close_forwards();
    let failed = interrupted || results.iter().any(|r| r.outcome == Outcome::Failed);
    let (missed, stopped) =
        bundle(plan, &session, &interrupts, failed, interrupted, artifacts).await;
    interrupted |= stopped;
    let (cleanup, cleanup_interrupted) = cleanup(plan, &session, &interrupts, interrupted).await;
    for c in &cleanup {
        eprintln!("cleanup: {c}");
    }
    Ok(RunReport {
        scenario: plan.name.clone(),
        steps: results,
        interrupted: interrupted || cleanup_interrupted,
        cleanup,
        artifacts: Some(artifacts.to_path_buf()),
        missed,
    })
}

/// Collects the cluster's state into the artifacts folder; a Ctrl-C (a second one after an
/// interrupted run) stops it, and says so.
async fn bundle(
    plan: &Plan,
    session: &Session<'_>,
    interrupts: &Interrupts,
    failed: bool,
    interrupted: bool,
    dir: &Path,
) -> (Vec<String>, bool) {
    let scope = if failed {
        Scope::Everything
    } else {
        Scope::Evidence
    };
    if failed {
        eprintln!(
            "collecting the cluster's state into {} (at most {}s)",
            dir.display(),
            artifacts::BOUND.as_secs()
        );
    }
    let namespaces = &plan.env.scenario_namespaces;
    tokio::select! {
        got = artifacts::collect(session, namespaces, scope, dir) => (got.missed, false),
        _ = interrupts.count(if interrupted { 2 } else { 1 }) => (vec!["collection stopped by Ctrl-C".into()], true),
    }
}

fn result(
    step: &PlannedStep,
    outcome: Outcome,
    message: String,
    evidence: Vec<String>,
    duration: std::time::Duration,
) -> StepResult {
    StepResult {
        id: step.id.clone(),
        doc: step.doc.to_string(),
        title: step.title.clone(),
        outcome,
        message,
        evidence,
        duration,
    }
}

/// Runs one step, bounded by its timeout and by Ctrl-C, and prints how it ended. Also says
/// whether it was interrupted.
async fn run_step(
    step: &PlannedStep,
    session: &mut Session<'_>,
    interrupts: &Interrupts,
) -> (StepResult, bool) {
    let status = Status::shown(format!("[doc {}] {}", step.doc, step.id));
    eprintln!("▶ [doc {}] {}: {}", step.doc, step.id, step.title);
    let started = Instant::now();
    let end = tokio::select! {
        r = step.action.run(session, &status) => StepEnd::Done(r),
        _ = tokio::time::sleep(step.timeout) => StepEnd::TimedOut,
        _ = interrupts.count(1) => StepEnd::Interrupted,
    };
    status.finish();
    let duration = started.elapsed();
    let snapshot = status.snapshot();
    let interrupted = matches!(end, StepEnd::Interrupted);
    let failed = |what: &str| failure(step, what, &snapshot);
    let r = match end {
        StepEnd::Done(Ok(evidence)) => {
            eprintln!(
                "✔ [doc {}] {} passed in {:.1}s",
                step.doc,
                step.id,
                duration.as_secs_f64()
            );
            for e in &evidence {
                eprintln!("    {e}");
            }
            result(
                step,
                Outcome::Passed,
                evidence.join("; "),
                evidence,
                duration,
            )
        }
        StepEnd::Done(Err(e)) if e.downcast_ref::<NotApplicable>().is_some() => {
            eprintln!("- [doc {}] {} skipped: {e}", step.doc, step.id);
            result(
                step,
                Outcome::Skipped,
                format!("skipped: {e}"),
                vec![],
                duration,
            )
        }
        StepEnd::Done(Err(e)) => result(
            step,
            Outcome::Failed,
            failed(&format!("failed: {e:#}")),
            vec![],
            duration,
        ),
        StepEnd::TimedOut => {
            let what = format!(
                "timed out after {}",
                humantime::format_duration(step.timeout)
            );
            result(step, Outcome::Failed, failed(&what), vec![], duration)
        }
        StepEnd::Interrupted => result(
            step,
            Outcome::Failed,
            failed("interrupted (Ctrl-C)"),
            vec![],
            duration,
        ),
    };
    if r.outcome == Outcome::Failed {
        eprintln!("✘ {}", r.message);
    }
    (r, interrupted)
}

/// Deletes the cluster if this run created it (and was not asked to keep it); a Ctrl-C aborts
/// the deletion and says what is left. Returns what happened, and whether a Ctrl-C aborted it.
async fn cleanup(
    plan: &Plan,
    session: &Session<'_>,
    interrupts: &Interrupts,
    interrupted: bool,
) -> (Vec<String>, bool) {
    if plan.env.existing() {
        return tokio::select! {
            done = remove_created(session) => (done, false),
            _ = interrupts.count(if interrupted { 2 } else { 1 }) => (
                vec![format!("aborted by Ctrl-C; left behind: {}", left_behind(session))],
                true,
            ),
        };
    }
    let name = &plan.env.cluster.name;
    let delete_it = format!("delete it with `kind delete cluster --name {name}`");
    let Some(cmd) = session.cleanup_command() else {
        let kept = if session.cluster_created {
            vec![format!(
                "kept kind cluster {name} (--keep-cluster); {delete_it}"
            )]
        } else if session.reused_cluster {
            vec![format!("kept the reused kind cluster {name}")]
        } else {
            vec![]
        };
        return (kept, false);
    };
    let line = cmd.shell_line();
    if interrupted {
        eprintln!("cleaning up: {line} (Ctrl-C again to abort and leave the cluster)");
    } else {
        eprintln!("cleaning up: {line}");
    }
    tokio::select! {
        r = cmd.output() => (vec![match r {
            Ok(out) if out.success() => format!("deleted kind cluster {name}"),
            Ok(out) => format!("`{line}` failed ({}); kind cluster {name} may be left: {delete_it}", out.last_words()),
            Err(e) => format!("`{line}` could not run ({e:#}); kind cluster {name} may be left"),
        }], false),
        _ = interrupts.count(if interrupted { 2 } else { 1 }) => (
            vec![format!("aborted by Ctrl-C; left behind: kind cluster {name} ({delete_it})")],
            true,
        ),
    }
}

/// How long removing one thing the run created may take (a namespace waits for its pods).
const REMOVAL_BOUND: std::time::Duration = std::time::Duration::from_secs(180);

/// On a cluster the run did not create: removes what it created, newest first, and nothing else.
async fn remove_created(session: &Session<'_>) -> Vec<String> {
    let mut said = Vec::new();
    let context = session.env.context();
    let target = helm::Target {
        kubeconfig: Some(&session.kubeconfig),
        context: &context,
    };
    let status = Status::default();
    for created in session.created_newest_first() {
        let removed = match created {
            Created::HelmRelease(release, ns) => {
                let cmd = helm::uninstall(&session.sh, release, ns, &target);
                eprintln!("cleaning up: {}", cmd.shell_line());
                tokio::time::timeout(REMOVAL_BOUND, cmd.checked())
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r.map(|_| ()))
                    .map(|()| format!("uninstalled helm release {release} from namespace {ns}"))
            }
            Created::Namespace(ns) => {
                eprintln!("cleaning up: kubectl delete namespace {ns} --wait");
                let gone = async {
                    let client = session.client()?;
                    objects::delete_namespace_and_wait(&client, ns, &status).await
                };
                tokio::time::timeout(REMOVAL_BOUND, gone)
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r)
                    .map(|()| format!("deleted namespace {ns}, which this run created"))
            }
        };
        said.push(removed.unwrap_or_else(|e| {
            format!(
                "could not remove {}: {e:#}; it is left behind",
                describe(created)
            )
        }));
    }
    if said.is_empty() {
        said.push("this run created nothing on the cluster".into());
    }
    said.push(
        "the cluster itself and its CRDs (cluster-wide, possibly shared) are left as they were"
            .into(),
    );
    said
}

fn describe(created: &Created) -> String {
    match created {
        Created::HelmRelease(release, ns) => format!("helm release {release} in namespace {ns}"),
        Created::Namespace(ns) => format!("namespace {ns}"),
    }
}

fn left_behind(session: &Session<'_>) -> String {
    let all: Vec<String> = session.created_newest_first().map(describe).collect();
    if all.is_empty() {
        "nothing".into()
    } else {
        all.join(", ")
    }
}

/// `file:line:col: step ID (doc N) WHAT` and, when known, what it awaited and saw last.
fn failure(step: &PlannedStep, what: &str, s: &crate::progress::Snapshot) -> String {
    let mut m = format!("{}: step {} (doc {}) {what}", step.at, step.id, step.doc);
    if !s.awaiting.is_empty() {
        m.push_str(&format!("\n    awaited: {}", s.awaiting));
    }
    if !s.observed.is_empty() {
        m.push_str(&format!("\n    last observed: {}", s.observed));
    }
    m
}
