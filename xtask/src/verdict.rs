//! Evidence rules: from what was observed to a verdict. Pure functions, so that each rule the
//! tutorial's claims rest on is unit-tested without a cluster.
//!
//! "Nothing happened" is never evidence. A rejection needs positive evidence (a Pod Security 403 in
//! the audit log and the operator saying its pod create failed) and the absence of pods over a
//! settle window; a run needs Ready pods and their allowed creates in the audit log; a script
//! needs its own exit code, whatever the dashboard says.

use pss::{EnforceRejection, LevelVersion};

use crate::{
    audit::{AdmittedPodCreate, PsaRejection},
    dashboard::{RayJob, RayJobStatus},
    kube_api::exec::ExecOutput,
};

/// Where a step stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Not decided yet: what is still awaited.
    Pending(String),
    /// Proven, with the evidence.
    Passed(Vec<String>),
    /// Disproven, with why.
    Failed(String),
}

/// What step 5.1 has seen since it applied the RayCluster.
#[derive(Debug, Default, Clone)]
pub struct RejectionEvidence {
    /// Pod Security 403s for this cluster's head pods (from the audit log).
    pub rejections: Vec<PsaRejection>,
    /// The operator's report: its Warning event, or the RayCluster's ReplicaFailure condition.
    pub operator_report: Option<String>,
    /// Pods of this cluster that exist or existed.
    pub pods_seen: Vec<String>,
    /// Whether the settle window has passed since the positive evidence was complete.
    pub settled: bool,
    /// The API server's 403 as the operator's report quotes it, parsed.
    pub operator_403: Option<EnforceRejection>,
    /// A server-side dry run of the head pod as KubeRay builds it: the Pod Security 403, or
    /// what the API server answered instead.
    pub dry_run: Option<Result<EnforceRejection, String>>,
}

/// What the rejection must look like.
#[derive(Debug, Clone)]
pub struct RejectionExpectation {
    /// The namespace's enforce policy, which the message must quote, e.g. `restricted:latest`.
    pub policy: LevelVersion,
    /// The offline evaluator's prediction of the head pod's detail, when available.
    pub predicted_detail: Option<String>,
    /// Whether the audit log is evidence (a cluster whose log can be read). Without it, the
    /// operator's quoted 403 and a server-side dry run stand in for it.
    pub audit_log: bool,
}

pub fn judge_rejection(seen: &RejectionEvidence, expect: &RejectionExpectation) -> Judgement {
    let (e, x) = (seen, expect);
    if !e.pods_seen.is_empty() {
        return Judgement::Failed(format!(
            "pods were admitted ({}): Pod Security did not reject them",
            e.pods_seen.join(", ")
        ));
    }
    // Each source of the API server's 403 that this run has, and what is still missing.
    let mut missing = Vec::new();
    let mut refusals: Vec<(&str, &EnforceRejection)> = Vec::new();
    if x.audit_log {
        match e.rejections.last() {
            Some(r) => refusals.push(("audit log", &r.rejection)),
            None => missing.push("a Pod Security 403 for the head pod in the audit log"),
        }
    }
    match (&e.operator_report, &e.operator_403) {
        (None, _) => {
            missing.push("the operator's FailedToCreateHeadPod event or ReplicaFailure condition")
        }
        (Some(_), Some(r)) => refusals.push(("operator", r)),
        (Some(report), None) if !x.audit_log => {
            return Judgement::Failed(format!(
                "the operator's report quotes no Pod Security 403, and the audit log cannot be read: {report}"
            ));
        }
        (Some(_), None) => {}
    }
    if !x.audit_log {
        match &e.dry_run {
            None => missing.push("a server-side dry run of the head pod refused by Pod Security"),
            Some(Ok(r)) => refusals.push(("dry run", r)),
            Some(Err(answer)) => {
                return Judgement::Failed(format!(
                    "a server-side dry run (dryRun=All) of the head pod as KubeRay builds it was not refused by Pod Security: {answer}"
                ));
            }
        }
    }
    for (source, r) in &refusals {
        if r.policy != x.policy {
            return Judgement::Failed(format!(
                "{source}: pod {} was rejected under \"{}\", expected \"{}\"",
                r.pod, r.policy, x.policy
            ));
        }
        if let Some(predicted) = &x.predicted_detail
            && &r.detail != predicted
        {
            return Judgement::Failed(format!(
                "the API server's reasons differ from the prediction.\n  {source}: {}\n  predicted: {predicted}",
                r.detail
            ));
        }
    }
    if !missing.is_empty() {
        return Judgement::Pending(missing.join(" and "));
    }
    if !e.settled {
        return Judgement::Pending("no pod to appear during the settle window".into());
    }
    let mut evidence = Vec::new();
    if let Some(last) = e.rejections.last().filter(|_| x.audit_log) {
        let r = &last.rejection;
        evidence.push(format!(
            "audit: {} pod create(s) refused with 403, e.g. pods \"{}\" by {}: violates PodSecurity \"{}\": {}",
            e.rejections.len(),
            r.pod,
            last.username,
            r.policy,
            r.detail
        ));
    }
    evidence.push(format!(
        "operator: {}",
        e.operator_report.as_deref().unwrap_or_default()
    ));
    if let Some(Ok(r)) = &e.dry_run {
        evidence.push(format!(
            "dry run: the head pod as KubeRay builds it, created with dryRun=All, refused: violates PodSecurity \"{}\": {}",
            r.policy, r.detail
        ));
    }
    evidence.push("pods: none with the cluster's label during the settle window".into());
    if x.predicted_detail.is_some() {
        let sources: Vec<&str> = refusals.iter().map(|(s, _)| *s).collect();
        evidence.push(format!(
            "the 403's reasons equal the offline prediction ({})",
            sources.join(", ")
        ));
    }
    if !x.audit_log {
        evidence.push("the audit log could not be read: this verdict rests on the operator's report, the dry run and the settle window".into());
    }
    Judgement::Passed(evidence)
}

/// What step 5.2 has seen since it applied the RayCluster.
#[derive(Debug, Default, Clone)]
pub struct AdmissionEvidence {
    pub ready_heads: Vec<String>,
    pub ready_workers: Vec<String>,
    /// Allowed pod creates in the namespace since the apply (from the audit log).
    pub creates: Vec<AdmittedPodCreate>,
    /// Pod Security 403s for this cluster's pods since the apply.
    pub rejections: Vec<PsaRejection>,
    /// Server-side dry runs of the Ready pods' specs (when the audit log cannot be read).
    pub dry_runs: Vec<PodDryRun>,
}

/// A Ready pod's spec created again with `dryRun=All`: what Pod Security said of it.
#[derive(Debug, Clone)]
pub struct PodDryRun {
    pub pod: String,
    /// The refusal (`CODE: message`), or None when admitted.
    pub refused: Option<String>,
    /// Pod Security `Warning` headers.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AdmissionExpectation {
    pub heads: usize,
    pub workers: usize,
    /// The namespace's enforce policy, under which every pod create must be evaluated.
    pub policy: LevelVersion,
    /// Whether the audit log is evidence; without it, dry runs of the Ready pods stand in.
    pub audit_log: bool,
}

pub fn judge_admission(seen: &AdmissionEvidence, expect: &AdmissionExpectation) -> Judgement {
    let (e, x) = (seen, expect);
    if let Some(r) = e.rejections.last() {
        return Judgement::Failed(r.rejection.to_string());
    }
    if let Some(c) = e.creates.iter().find(|c| c.audit_violations.is_some()) {
        return Judgement::Failed(format!(
            "a pod create by {} was allowed but audited: {}",
            c.username,
            c.audit_violations.as_deref().unwrap_or_default()
        ));
    }
    let under_policy = |c: &AdmittedPodCreate| {
        c.enforce_policy.as_deref().and_then(|p| p.parse().ok()) == Some(x.policy)
    };
    if let Some(c) = e.creates.iter().find(|c| !under_policy(c)) {
        return Judgement::Failed(format!(
            "a pod create by {} was evaluated under enforce-policy {:?}, expected \"{}\"",
            c.username, c.enforce_policy, x.policy
        ));
    }
    let want = x.heads + x.workers;
    let mut missing = Vec::new();
    if e.ready_heads.len() != x.heads || e.ready_workers.len() != x.workers {
        missing.push(format!(
            "{} head and {} worker pod(s) Running and Ready (now {} and {})",
            x.heads,
            x.workers,
            e.ready_heads.len(),
            e.ready_workers.len()
        ));
    }
    if let Some(d) = e.dry_runs.iter().find(|d| d.refused.is_some()) {
        return Judgement::Failed(format!(
            "a server-side dry run (dryRun=All) of pod {}'s spec was refused: {}",
            d.pod,
            d.refused.as_deref().unwrap_or_default()
        ));
    }
    if let Some(d) = e.dry_runs.iter().find(|d| !d.warnings.is_empty()) {
        return Judgement::Failed(format!(
            "a server-side dry run (dryRun=All) of pod {}'s spec was admitted with a warning: {}",
            d.pod,
            d.warnings.join(" | ")
        ));
    }
    if x.audit_log && e.creates.len() < want {
        missing.push(format!(
            "{want} allowed pod creates in the audit log (now {})",
            e.creates.len()
        ));
    }
    if !x.audit_log && e.dry_runs.len() < want {
        missing.push(format!(
            "server-side dry runs of the {want} Ready pods' specs (now {})",
            e.dry_runs.len()
        ));
    }
    if !missing.is_empty() {
        return Judgement::Pending(missing.join(" and "));
    }
    let mut evidence = vec![format!(
        "pods Running and Ready: head {}; worker {}",
        e.ready_heads.join(", "),
        e.ready_workers.join(", ")
    )];
    if x.audit_log {
        evidence.push(format!(
            "audit: {} pod create(s) allowed under enforce-policy {} with no audit-violations (by {})",
            e.creates.len(),
            x.policy,
            dedup(e.creates.iter().map(|c| c.username.as_str())).join(", ")
        ));
    } else {
        evidence.push(format!(
            "dry run: the specs of pods {}, created again with dryRun=All in the namespace (enforce {}), admitted with no Pod Security warning",
            e.dry_runs.iter().map(|d| d.pod.as_str()).collect::<Vec<_>>().join(", "),
            x.policy
        ));
        evidence.push("the audit log could not be read: this verdict rests on the Ready pods and the dry runs".into());
    }
    Judgement::Passed(evidence)
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// What a command run in a pod must show.
#[derive(Debug, Clone)]
pub struct ExecExpectation {
    pub command_line: String,
    pub exit_code: i32,
    pub stdout: Option<regex::Regex>,
    /// The status the dashboard must list for the DRIVER job of this command.
    pub dashboard_status: Option<RayJobStatus>,
}

/// Judges an exec from its exit code, its output and, if asked, the dashboard's DRIVER job.
/// The exit code is checked first and on its own: the dashboard cannot vouch for it.
pub fn judge_exec(
    expect: &ExecExpectation,
    output: &ExecOutput,
    dashboard_job: Option<&RayJob>,
) -> Judgement {
    let x = expect;
    let (exit_code, stdout, stderr) = (
        output.exit_code,
        output.stdout.as_str(),
        output.stderr.as_str(),
    );
    let job_text =
        dashboard_job.map(|j| format!("the dashboard lists DRIVER job {} as {}", j.id(), j.status));
    if exit_code != x.exit_code {
        let tail = last_lines(
            if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            },
            3,
        );
        let mut msg = format!(
            "`{}` exited {exit_code}, expected {}",
            x.command_line, x.exit_code
        );
        if let Some(t) = &job_text {
            msg.push_str(&format!(
                "; {t}, but a DRIVER job's status does not reflect the script's exit code"
            ));
        }
        msg.push_str(&format!("; last output: {tail}"));
        return Judgement::Failed(msg);
    }
    if let Some(re) = &x.stdout
        && !re.is_match(stdout)
    {
        return Judgement::Failed(format!(
            "`{}` exited {exit_code} but its stdout does not match /{}/; last output: {}",
            x.command_line,
            re.as_str(),
            last_lines(stdout, 3)
        ));
    }
    let mut evidence = vec![format!(
        "exec: `{}` exited {exit_code} (from the exec status channel)",
        x.command_line
    )];
    if let Some(re) = &x.stdout {
        evidence.push(format!(
            "stdout matches /{}/: {}",
            re.as_str(),
            matching_line(stdout, re)
        ));
    }
    match &x.dashboard_status {
        Some(want) => judge_driver_job(x, *want, dashboard_job, evidence),
        None => Judgement::Passed(evidence),
    }
}

/// The dashboard's word on a command that did what it must: its DRIVER job listed, finished, in
/// the wanted status. Only asked once the exit code has passed, which it cannot vouch for.
fn judge_driver_job(
    x: &ExecExpectation,
    want: RayJobStatus,
    job: Option<&RayJob>,
    mut evidence: Vec<String>,
) -> Judgement {
    match job {
        None => Judgement::Pending(format!(
            "a DRIVER job with entrypoint `{}` in /api/jobs/",
            x.command_line
        )),
        Some(j) if !j.status.is_terminal() => Judgement::Pending(format!(
            "DRIVER job {} to finish (now {})",
            j.id(),
            j.status
        )),
        Some(j) if j.status != want => Judgement::Failed(format!(
            "the dashboard lists DRIVER job {} as {}, expected {want}",
            j.id(),
            j.status
        )),
        Some(j) => {
            evidence.push(format!(
                "dashboard: the dashboard lists DRIVER job {} as {}",
                j.id(),
                j.status
            ));
            Judgement::Passed(evidence)
        }
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    if tail.is_empty() {
        "(none)".into()
    } else {
        tail.join(" ⏎ ")
    }
}

fn matching_line(text: &str, re: &regex::Regex) -> String {
    let line = text.lines().find(|l| re.is_match(l)).unwrap_or("").trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::HEAD_DETAIL;

    fn restricted() -> LevelVersion {
        "restricted:latest".parse().unwrap()
    }

    fn rejection(pod: &str, detail: &str) -> PsaRejection {
        PsaRejection {
            rejection: pss::EnforceRejection {
                pod: pod.into(),
                policy: restricted(),
                detail: detail.into(),
            },
            username: "system:serviceaccount:pod-security:kuberay-operator".into(),
        }
    }

    fn expect(predicted: Option<&str>) -> RejectionExpectation {
        RejectionExpectation {
            policy: restricted(),
            predicted_detail: predicted.map(str::to_string),
            audit_log: true,
        }
    }

    fn complete() -> RejectionEvidence {
        RejectionEvidence {
            rejections: vec![rejection("raycluster-complete-head-fkbf5", HEAD_DETAIL)],
            operator_report: Some(
                "Warning FailedToCreateHeadPod: Failed to create head Pod pod-security/, …".into(),
            ),
            pods_seen: vec![],
            settled: true,
            ..Default::default()
        }
    }

    fn refused(detail: &str) -> EnforceRejection {
        EnforceRejection {
            pod: String::new(),
            policy: restricted(),
            detail: detail.into(),
        }
    }

    /// Step 5.1 on a cluster whose audit log cannot be read: the operator's quoted 403 and the
    /// dry run stand in for the audit log.
    fn without_the_audit_log() -> (RejectionEvidence, RejectionExpectation) {
        let quoted = format!(
            "Warning FailedToCreateHeadPod: Failed to create head Pod pod-security/, pods \"raycluster-complete-head-fkbf5\" is forbidden: violates PodSecurity \"restricted:latest\": {HEAD_DETAIL}"
        );
        let e = RejectionEvidence {
            operator_403: crate::kuberay::quoted_rejection(&quoted),
            operator_report: Some(quoted),
            dry_run: Some(Ok(refused(HEAD_DETAIL))),
            settled: true,
            ..Default::default()
        };
        let x = RejectionExpectation {
            audit_log: false,
            ..expect(Some(HEAD_DETAIL))
        };
        (e, x)
    }

    #[test]
    fn without_the_audit_log_the_operators_403_and_a_dry_run_prove_the_rejection() {
        let (e, x) = without_the_audit_log();
        let Judgement::Passed(ev) = judge_rejection(&e, &x) else {
            panic!("{:?}", judge_rejection(&e, &x))
        };
        assert!(
            ev.iter().any(|l| l.starts_with("dry run: the head pod")),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|l| l == "the 403's reasons equal the offline prediction (operator, dry run)"),
            "{ev:?}"
        );
        assert!(!ev.iter().any(|l| l.starts_with("audit:")), "{ev:?}");

        // Still nothing without the positive evidence: a quiet cluster proves nothing.
        let quiet = RejectionEvidence {
            settled: true,
            ..Default::default()
        };
        assert!(matches!(judge_rejection(&quiet, &x), Judgement::Pending(_)));
        let mut no_dry_run = e.clone();
        no_dry_run.dry_run = None;
        let Judgement::Pending(w) = judge_rejection(&no_dry_run, &x) else {
            panic!()
        };
        assert!(w.contains("server-side dry run"), "{w}");

        let mut admitted = e.clone();
        admitted.dry_run = Some(Err("admitted (201)".into()));
        let Judgement::Failed(m) = judge_rejection(&admitted, &x) else {
            panic!()
        };
        assert!(
            m.contains("was not refused by Pod Security: admitted (201)"),
            "{m}"
        );

        let mut unquoted = e.clone();
        unquoted.operator_403 = None;
        assert!(matches!(
            judge_rejection(&unquoted, &x),
            Judgement::Failed(_)
        ));

        let mut other_reasons = e;
        other_reasons.dry_run = Some(Ok(refused("runAsNonRoot != true")));
        let Judgement::Failed(m) = judge_rejection(&other_reasons, &x) else {
            panic!()
        };
        assert!(m.contains("dry run: runAsNonRoot != true"), "{m}");
    }

    #[test]
    fn rejection_needs_audit_and_operator_evidence_and_a_quiet_settle_window() {
        assert!(matches!(
            judge_rejection(&complete(), &expect(Some(HEAD_DETAIL))),
            Judgement::Passed(_)
        ));

        let mut e = complete();
        e.rejections.clear();
        let Judgement::Pending(w) = judge_rejection(&e, &expect(None)) else {
            panic!()
        };
        assert!(w.contains("403"), "{w}");

        let mut e = complete();
        e.operator_report = None;
        let Judgement::Pending(w) = judge_rejection(&e, &expect(None)) else {
            panic!()
        };
        assert!(w.contains("FailedToCreateHeadPod"), "{w}");

        let mut e = complete();
        e.settled = false;
        assert_eq!(
            judge_rejection(&e, &expect(None)),
            Judgement::Pending("no pod to appear during the settle window".into())
        );
    }

    #[test]
    fn nothing_happening_is_not_a_rejection() {
        let quiet = RejectionEvidence {
            settled: true,
            ..Default::default()
        };
        assert!(matches!(
            judge_rejection(&quiet, &expect(None)),
            Judgement::Pending(_)
        ));
    }

    #[test]
    fn an_admitted_pod_fails_at_once() {
        let mut e = complete();
        e.pods_seen = vec!["raycluster-complete-head-x".into()];
        let Judgement::Failed(m) = judge_rejection(&e, &expect(None)) else {
            panic!()
        };
        assert!(
            m.contains("pods were admitted (raycluster-complete-head-x)"),
            "{m}"
        );
    }

    #[test]
    fn the_reasons_must_equal_the_prediction() {
        let predicted = HEAD_DETAIL.replace("ray-head", "ray-other");
        let Judgement::Failed(m) = judge_rejection(&complete(), &expect(Some(&predicted))) else {
            panic!()
        };
        assert!(m.contains("differ from the prediction"), "{m}");
        let wrong_policy = RejectionExpectation {
            policy: "baseline:latest".parse().unwrap(),
            predicted_detail: None,
            audit_log: true,
        };
        assert!(matches!(
            judge_rejection(&complete(), &wrong_policy),
            Judgement::Failed(_)
        ));
    }

    fn allowed(user: &str) -> AdmittedPodCreate {
        AdmittedPodCreate {
            username: user.into(),
            enforce_policy: Some("restricted:latest".into()),
            audit_violations: None,
        }
    }

    fn admission_expect() -> AdmissionExpectation {
        AdmissionExpectation {
            heads: 1,
            workers: 1,
            policy: restricted(),
            audit_log: true,
        }
    }

    fn dry_run(pod: &str) -> PodDryRun {
        PodDryRun {
            pod: pod.into(),
            refused: None,
            warnings: vec![],
        }
    }

    #[test]
    fn without_the_audit_log_ready_pods_need_clean_dry_runs() {
        let x = AdmissionExpectation {
            audit_log: false,
            ..admission_expect()
        };
        let mut e = AdmissionEvidence {
            ready_heads: vec!["h".into()],
            ready_workers: vec!["w".into()],
            ..Default::default()
        };
        let Judgement::Pending(w) = judge_admission(&e, &x) else {
            panic!()
        };
        assert!(
            w.contains("dry runs of the 2 Ready pods' specs (now 0)"),
            "{w}"
        );
        e.dry_runs = vec![dry_run("h"), dry_run("w")];
        let Judgement::Passed(ev) = judge_admission(&e, &x) else {
            panic!()
        };
        assert!(
            ev[1].starts_with("dry run: the specs of pods h, w"),
            "{ev:?}"
        );
        e.dry_runs[1].warnings = vec!["would violate PodSecurity \"restricted:latest\": …".into()];
        let Judgement::Failed(m) = judge_admission(&e, &x) else {
            panic!()
        };
        assert!(
            m.contains("pod w's spec was admitted with a warning"),
            "{m}"
        );
        e.dry_runs[1].warnings.clear();
        e.dry_runs[0].refused = Some("403: pods is forbidden: …".into());
        assert!(matches!(judge_admission(&e, &x), Judgement::Failed(_)));
    }

    #[test]
    fn admission_needs_ready_pods_and_allowed_creates() {
        let op = "system:serviceaccount:pod-security:kuberay-operator";
        let mut e = AdmissionEvidence {
            ready_heads: vec!["h".into()],
            ready_workers: vec!["w".into()],
            creates: vec![allowed(op), allowed(op)],
            rejections: vec![],
            dry_runs: vec![],
        };
        let Judgement::Passed(ev) = judge_admission(&e, &admission_expect()) else {
            panic!()
        };
        assert!(
            ev[1].contains("2 pod create(s) allowed under enforce-policy restricted:latest"),
            "{ev:?}"
        );

        e.creates.pop();
        let Judgement::Pending(w) = judge_admission(&e, &admission_expect()) else {
            panic!()
        };
        assert!(
            w.contains("2 allowed pod creates in the audit log (now 1)"),
            "{w}"
        );

        e.creates.push(allowed(op));
        e.ready_workers.clear();
        assert!(matches!(
            judge_admission(&e, &admission_expect()),
            Judgement::Pending(_)
        ));
    }

    #[test]
    fn admission_fails_on_a_rejection_or_an_audit_violation() {
        let detail = r#"runAsNonRoot != true (pod or container "ray-head" must set securityContext.runAsNonRoot=true)"#;
        let e = AdmissionEvidence {
            rejections: vec![rejection("raycluster-pod-security-head-abcde", detail)],
            ..Default::default()
        };
        let Judgement::Failed(m) = judge_admission(&e, &admission_expect()) else {
            panic!()
        };
        assert_eq!(
            m,
            format!(
                "pods \"raycluster-pod-security-head-abcde\" is forbidden: violates PodSecurity \"restricted:latest\": {detail}"
            )
        );

        let mut audited = allowed("op");
        audited.audit_violations =
            Some("would violate PodSecurity \"restricted:latest\": seccompProfile (…)".into());
        let e = AdmissionEvidence {
            creates: vec![audited],
            ..Default::default()
        };
        assert!(matches!(
            judge_admission(&e, &admission_expect()),
            Judgement::Failed(_)
        ));

        let mut privileged = allowed("op");
        privileged.enforce_policy = Some("privileged:latest".into());
        let e = AdmissionEvidence {
            creates: vec![privileged],
            ..Default::default()
        };
        assert!(matches!(
            judge_admission(&e, &admission_expect()),
            Judgement::Failed(_)
        ));
    }

    fn ran(exit_code: i32, stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            exit_code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn driver(status: &str) -> RayJob {
        serde_json::from_value(serde_json::json!({
            "type": "DRIVER", "job_id": "04000000", "status": status, "entrypoint": "python3 samples/xgboost_example.py"
        }))
        .unwrap()
    }

    fn xgboost() -> ExecExpectation {
        ExecExpectation {
            command_line: "python3 samples/xgboost_example.py".into(),
            exit_code: 0,
            stdout: Some(regex::Regex::new("'valid-error'").unwrap()),
            dashboard_status: Some(RayJobStatus::Succeeded),
        }
    }

    #[test]
    fn a_failed_script_fails_even_when_the_dashboard_says_succeeded() {
        let stderr = "TypeError: XGBoostTrainer.__init__() missing 1 required positional argument: 'train_loop_per_worker'";
        let Judgement::Failed(m) =
            judge_exec(&xgboost(), &ran(1, "", stderr), Some(&driver("SUCCEEDED")))
        else {
            panic!()
        };
        assert!(m.contains("exited 1, expected 0"), "{m}");
        assert!(m.contains("DRIVER job 04000000 as SUCCEEDED"), "{m}");
        assert!(m.contains("train_loop_per_worker"), "{m}");
    }

    #[test]
    fn a_good_run_needs_its_output_and_a_finished_driver_job() {
        let out = "…\n{'train-logloss': 0.01, 'train-error': 0.0, 'valid-logloss': 0.08, 'valid-error': 0.03}\n";
        assert!(matches!(
            judge_exec(&xgboost(), &ran(0, out, ""), Some(&driver("SUCCEEDED"))),
            Judgement::Passed(_)
        ));
        assert!(matches!(
            judge_exec(&xgboost(), &ran(0, out, ""), Some(&driver("RUNNING"))),
            Judgement::Pending(_)
        ));
        assert!(matches!(
            judge_exec(&xgboost(), &ran(0, out, ""), None),
            Judgement::Pending(_)
        ));
        assert!(matches!(
            judge_exec(&xgboost(), &ran(0, out, ""), Some(&driver("STOPPED"))),
            Judgement::Failed(_)
        ));
        assert!(matches!(
            judge_exec(
                &xgboost(),
                &ran(0, "no metrics", ""),
                Some(&driver("SUCCEEDED"))
            ),
            Judgement::Failed(_)
        ));
    }

    #[test]
    fn pip_needs_only_its_exit_code() {
        let pip = ExecExpectation {
            command_line: "pip3 install jsonpatch".into(),
            exit_code: 0,
            stdout: None,
            dashboard_status: None,
        };
        assert!(matches!(
            judge_exec(
                &pip,
                &ran(0, "Successfully installed jsonpatch-1.33", ""),
                None
            ),
            Judgement::Passed(_)
        ));
        let Judgement::Failed(m) =
            judge_exec(&pip, &ran(1, "", "ERROR: Could not find a version"), None)
        else {
            panic!()
        };
        assert!(m.contains("exited 1"), "{m}");
    }
}
