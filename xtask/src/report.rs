//! The run's outcome: the final table, `--report-json`, `--junit`.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

impl Outcome {
    fn mark(self) -> &'static str {
        match self {
            Outcome::Passed => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "SKIP",
        }
    }
}

/// One step's verdict.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub id: String,
    pub doc: String,
    pub title: String,
    pub outcome: Outcome,
    /// Why it failed or was skipped; a summary of the evidence when it passed.
    pub message: String,
    pub evidence: Vec<String>,
    pub duration: Duration,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub scenario: String,
    pub steps: Vec<StepResult>,
    pub interrupted: bool,
    /// What cleanup did, or what it left behind.
    pub cleanup: Vec<String>,
    /// The folder the reports and the failure bundle were written to.
    pub artifacts: Option<std::path::PathBuf>,
    /// What the bundle could not collect.
    pub missed: Vec<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        // A step is skipped after a failure, or because it does not apply to the cluster (see
        // `steps::NotApplicable`): only a failure fails the run.
        !self.interrupted && self.steps.iter().all(|s| s.outcome != Outcome::Failed)
    }

    /// The table printed at the end: doc step, step, verdict, duration, evidence.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let id_w = self
            .steps
            .iter()
            .map(|s| s.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "{:<5} {:<id_w$} {:<7} {:>8}  {}\n",
            "DOC", "STEP", "VERDICT", "TIME", "EVIDENCE"
        ));
        for s in &self.steps {
            let time = format!("{:.1}s", s.duration.as_secs_f64());
            let lines: Vec<&str> = if s.outcome == Outcome::Passed {
                s.evidence.iter().map(String::as_str).collect()
            } else {
                s.message.lines().map(str::trim).collect()
            };
            let mut lines = lines.into_iter();
            out.push_str(&format!(
                "{:<5} {:<id_w$} {:<7} {:>8}  {}\n",
                s.doc,
                s.id,
                s.outcome.mark(),
                time,
                lines.next().unwrap_or("")
            ));
            for l in lines {
                out.push_str(&format!(
                    "{:<5} {:<id_w$} {:<7} {:>8}  {}\n",
                    "", "", "", "", l
                ));
            }
        }
        let verdict = if self.interrupted {
            "INTERRUPTED".to_string()
        } else if self.passed() {
            format!(
                "PASSED: every expected outcome of {} was observed",
                self.scenario
            )
        } else {
            "FAILED".to_string()
        };
        for c in &self.cleanup {
            out.push_str(&format!("cleanup: {c}\n"));
        }
        if let Some(dir) = &self.artifacts {
            out.push_str(&format!("artifacts: {}\n", dir.display()));
        }
        out.push_str(&verdict);
        out.push('\n');
        out
    }

    pub fn json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Step<'a> {
            id: &'a str,
            doc: &'a str,
            outcome: Outcome,
            message: &'a str,
            duration_ms: u128,
        }
        let steps: Vec<Step> = self
            .steps
            .iter()
            .map(|s| Step {
                id: &s.id,
                doc: &s.doc,
                outcome: s.outcome,
                message: &s.message,
                duration_ms: s.duration.as_millis(),
            })
            .collect();
        let mut json = serde_json::json!({
            "outcome": if self.passed() { "passed" } else { "failed" },
            "steps": steps,
            "cleanup": self.cleanup,
        });
        if let Some(dir) = &self.artifacts {
            json["artifacts"] = serde_json::json!(dir.display().to_string());
        }
        json
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.json())?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn junit(&self) -> Result<String> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(self.scenario.clone());
        for s in &self.steps {
            let status = match s.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(s.message.clone());
                    st
                }
                Outcome::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(s.message.clone());
                    st
                }
            };
            let mut case = TestCase::new(format!("[doc {}] {}: {}", s.doc, s.id, s.title), status);
            case.set_classname(self.scenario.clone());
            case.set_time(s.duration);
            case.set_system_out(s.evidence.join("\n"));
            suite.add_test_case(case);
        }
        let mut report = Report::new("cargo xtask e2e");
        report.add_test_suite(suite);
        report.to_string().context("cannot render JUnit XML")
    }

    pub fn write_junit(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.junit()?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        let step = |id: &str, doc: &str, outcome, message: &str| StepResult {
            id: id.into(),
            doc: doc.into(),
            title: id.into(),
            outcome,
            message: message.into(),
            evidence: vec![format!("{id} evidence")],
            duration: Duration::from_millis(1500),
        };
        RunReport {
            scenario: "pod-security".into(),
            steps: vec![
                step("kind-cluster", "1", Outcome::Passed, "ok"),
                step(
                    "complete-rejected",
                    "5.1",
                    Outcome::Failed,
                    "pods were admitted",
                ),
                step(
                    "xgboost",
                    "5.2",
                    Outcome::Skipped,
                    "skipped: an earlier step failed",
                ),
            ],
            interrupted: false,
            cleanup: vec!["kind delete cluster --name x: done".into()],
            artifacts: Some("/p/target/e2e/run".into()),
            missed: vec![],
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let j = report().json();
        assert_eq!(j["outcome"], "failed");
        assert_eq!(
            j["steps"][0],
            serde_json::json!({"id": "kind-cluster", "doc": "1", "outcome": "passed", "message": "ok", "duration_ms": 1500})
        );
        assert_eq!(j["steps"][2]["outcome"], "skipped");
        assert_eq!(j["artifacts"], "/p/target/e2e/run");
    }

    #[test]
    fn junit_has_one_testcase_per_step() {
        let xml = report().junit().unwrap();
        assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
        assert!(
            xml.contains("<failure message=\"pods were admitted\""),
            "{xml}"
        );
        assert!(xml.contains("<skipped"), "{xml}");
    }

    #[test]
    fn table_shows_evidence_for_passes_and_reasons_otherwise() {
        let t = report().table();
        assert!(
            t.contains("1     kind-cluster      PASS        1.5s  kind-cluster evidence"),
            "{t}"
        );
        assert!(t.contains("FAIL        1.5s  pods were admitted"), "{t}");
        assert!(t.trim_end().ends_with("FAILED"), "{t}");
    }
}
