//! The runner: executes the plan's steps in order, each bounded by its timeout, and stops at the
//! first failure (later steps are reported as skipped). Cleanup (deleting the kind cluster) runs
//! on success, on failure and on Ctrl-C; a second Ctrl-C aborts it and says what is left.

use std::time::Instant;

use anyhow::Result;
use tokio::sync::watch;

use crate::{
    plan::{Plan, PlannedStep},
    progress::Status,
    report::{Outcome, RunReport, StepResult},
    steps::session::Session,
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

/// Runs the plan and returns the report (the caller prints and writes it).
pub async fn run(plan: &Plan) -> Result<RunReport> {
    let mut session = Session::new(&plan.env)?;
    let interrupts = Interrupts::install()?;
    let mut results = Vec::new();
    let mut stopped: Option<String> = None;
    let mut interrupted = false;

    for step in &plan.steps {
        if let Some(why) = &stopped {
            results.push(StepResult {
                id: step.id.clone(),
                doc: step.doc.to_string(),
                title: step.title.clone(),
                outcome: Outcome::Skipped,
                message: format!("skipped: {why}"),
                evidence: vec![],
                duration: Default::default(),
            });
            continue;
        }
        let status = Status::shown(format!("[doc {}] {}", step.doc, step.id));
        eprintln!("▶ [doc {}] {}: {}", step.doc, step.id, step.title);
        let started = Instant::now();
        let end = tokio::select! {
            r = step.action.run(&mut session, &status) => StepEnd::Done(r),
            _ = tokio::time::sleep(step.timeout) => StepEnd::TimedOut,
            _ = interrupts.count(1) => StepEnd::Interrupted,
        };
        status.finish();
        let duration = started.elapsed();
        let snapshot = status.snapshot();
        let (outcome, message, evidence) = match end {
            StepEnd::Done(Ok(evidence)) => (Outcome::Passed, evidence.join("; "), evidence),
            StepEnd::Done(Err(e)) => (
                Outcome::Failed,
                failure(step, &format!("failed: {e:#}"), &snapshot),
                vec![],
            ),
            StepEnd::TimedOut => (
                Outcome::Failed,
                failure(
                    step,
                    &format!(
                        "timed out after {}",
                        humantime::format_duration(step.timeout)
                    ),
                    &snapshot,
                ),
                vec![],
            ),
            StepEnd::Interrupted => {
                interrupted = true;
                (
                    Outcome::Failed,
                    failure(step, "interrupted (Ctrl-C)", &snapshot),
                    vec![],
                )
            }
        };
        match outcome {
            Outcome::Passed => {
                eprintln!(
                    "✔ [doc {}] {} passed in {:.1}s",
                    step.doc,
                    step.id,
                    duration.as_secs_f64()
                );
                for e in &evidence {
                    eprintln!("    {e}");
                }
            }
            _ => eprintln!("✘ {message}"),
        }
        if outcome == Outcome::Failed {
            stopped = Some(if interrupted {
                "the run was interrupted".into()
            } else {
                format!("step {} failed", step.id)
            });
        }
        results.push(StepResult {
            id: step.id.clone(),
            doc: step.doc.to_string(),
            title: step.title.clone(),
            outcome,
            message,
            evidence,
            duration,
        });
    }

    session.close_forwards();
    let mut cleanup = Vec::new();
    let name = &plan.env.cluster.name;
    if let Some(cmd) = session.cleanup_command() {
        let line = cmd.shell_line();
        if interrupted {
            eprintln!("cleaning up: {line} (Ctrl-C again to abort and leave the cluster)");
        } else {
            eprintln!("cleaning up: {line}");
        }
        tokio::select! {
            r = cmd.output() => cleanup.push(match r {
                Ok(out) if out.success() => format!("deleted kind cluster {name}"),
                Ok(out) => format!("`{line}` failed ({}); kind cluster {name} may be left: delete it with `kind delete cluster --name {name}`", out.last_words()),
                Err(e) => format!("`{line}` could not run ({e:#}); kind cluster {name} may be left"),
            }),
            _ = interrupts.count(if interrupted { 2 } else { 1 }) => {
                interrupted = true;
                cleanup.push(format!("aborted by Ctrl-C; left behind: kind cluster {name} (delete it with `kind delete cluster --name {name}`)"));
            }
        }
    } else if session.cluster_created {
        cleanup.push(format!("kept kind cluster {name} (--keep-cluster); delete it with `kind delete cluster --name {name}`"));
    } else if session.reused_cluster {
        cleanup.push(format!("kept the reused kind cluster {name}"));
    }
    for c in &cleanup {
        eprintln!("cleanup: {c}");
    }
    Ok(RunReport {
        scenario: plan.name.clone(),
        steps: results,
        interrupted,
        cleanup,
    })
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
