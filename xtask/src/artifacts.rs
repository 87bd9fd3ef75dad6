//! The failure bundle: what someone debugging a red run reads first, collected while the cluster
//! still exists. For every namespace the run touched: events as a time-ordered table, pods (YAML
//! and a status table), RayClusters with their conditions, the logs (current and previous) of
//! every container; the audit log (whole, and the slice about those namespaces); the Helm
//! release's status and values; node conditions; and `kind export logs`. Collection is bounded,
//! keeps what it got when a part fails (and says so), and never changes the verdict. No
//! kubeconfig, no Secret and no token is written.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::{
    Client, ResourceExt,
    api::{Api, DynamicObject, GroupVersionKind, ListParams, LogParams},
    discovery,
};
use serde::Serialize;

use crate::{
    audit,
    cmd::Command,
    kube_api::conditions,
    report::{Outcome, RunReport},
    steps::session::Session,
};

/// How long collection may take in all.
pub const BOUND: Duration = Duration::from_secs(60);
/// Lines of each container log kept.
const LOG_LINES: i64 = 2000;

/// What collection got and what it could not get.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    pub missed: Vec<String>,
}

impl Collected {
    fn write(&mut self, dir: &Path, rel: &str, text: impl AsRef<[u8]>) {
        let path = dir.join(rel);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        match written {
            Ok(()) => self.files.push(PathBuf::from(rel)),
            Err(e) => self.missed.push(format!("{rel}: {e}")),
        }
    }

    fn keep<T>(&mut self, what: &str, r: Result<T>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(e) => {
                self.missed.push(format!("{what}: {e:#}"));
                None
            }
        }
    }
}

/// A default folder for one run's bundle: `target/e2e/<UTC time>` under the project.
pub fn default_dir(project_root: &Path) -> PathBuf {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    project_root.join("target/e2e").join(now.replace(':', "-"))
}

/// What to collect: everything after a failure, only the evidence after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Evidence,
    Everything,
}

/// Collects into `dir`; bounded by [`BOUND`] (what was got by then is kept).
pub async fn collect(
    session: &Session<'_>,
    namespaces: &[String],
    scope: Scope,
    dir: &Path,
) -> Collected {
    let mut got = Collected::default();
    let work = collect_all(session, namespaces, scope, dir, &mut got);
    if tokio::time::timeout(BOUND, work).await.is_err() {
        got.missed.push(format!(
            "collection stopped after {}s; the rest was not collected",
            BOUND.as_secs()
        ));
    }
    got
}

async fn collect_all(
    session: &Session<'_>,
    namespaces: &[String],
    scope: Scope,
    dir: &Path,
    got: &mut Collected,
) {
    let Ok(client) = session.client() else {
        got.missed
            .push("the cluster's state: the run reached no cluster".into());
        return;
    };
    audit_log(session, namespaces, dir, got).await;
    if scope == Scope::Evidence {
        return;
    }
    for ns in namespaces {
        namespace(&client, ns, dir, got).await;
    }
    nodes(&client, dir, got).await;
    for (release, ns) in &session.env.helm_releases {
        helm_release(session, release, ns, dir, got).await;
    }
    if session.cluster_created || session.reused_cluster {
        kind_logs(session, dir, got).await;
    }
}

async fn audit_log(session: &Session<'_>, namespaces: &[String], dir: &Path, got: &mut Collected) {
    if !session.audit_readable() {
        got.missed
            .push("audit log: not readable on this cluster (see step audit-log-quiet)".into());
        return;
    }
    let read = session.env.audit.read_command(&session.sh).output().await;
    let Some(out) = got.keep("audit log", read) else {
        return;
    };
    if !out.success() {
        got.missed.push(format!("audit log: {}", out.last_words()));
        return;
    }
    let slice: String = out
        .stdout
        .lines()
        .filter(|line| {
            serde_json::from_str::<audit::AuditEvent>(line).is_ok_and(|e| {
                namespaces.iter().any(|ns| {
                    audit::in_namespace(std::slice::from_ref(&e), ns)
                        .next()
                        .is_some()
                })
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    got.write(dir, "audit/kube-apiserver-audit.log", &out.stdout);
    got.write(dir, "audit/namespaces.log", slice);
}

async fn namespace(client: &Client, ns: &str, dir: &Path, got: &mut Collected) {
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .with_context(|| format!("events in {ns}"));
    if let Some(events) = got.keep(&format!("events in {ns}"), events) {
        got.write(dir, &format!("{ns}/events.txt"), events_table(events.items));
    }
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .with_context(|| format!("pods in {ns}"));
    if let Some(pods) = got.keep(&format!("pods in {ns}"), pods) {
        let table: String = pods
            .items
            .iter()
            .map(|p| format!("{}\n", conditions::pod_summary(p)))
            .collect();
        got.write(dir, &format!("{ns}/pods.txt"), table);
        for pod in &pods.items {
            let yaml = to_yaml(&without_managed_fields(pod));
            got.write(dir, &format!("{ns}/pods/{}.yaml", pod.name_any()), yaml);
            logs(client, ns, pod, dir, got).await;
        }
    }
    rayclusters(client, ns, dir, got).await;
}

async fn logs(client: &Client, ns: &str, pod: &Pod, dir: &Path, got: &mut Collected) {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let name = pod.name_any();
    let statuses = pod.status.iter().flat_map(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
    });
    for c in statuses {
        let mut kinds = vec![(false, "log")];
        if c.restart_count > 0 {
            kinds.push((true, "previous.log"));
        }
        for (previous, file) in kinds {
            let params = LogParams {
                container: Some(c.name.clone()),
                previous,
                tail_lines: Some(LOG_LINES),
                ..Default::default()
            };
            match api.logs(&name, &params).await {
                Ok(text) => got.write(dir, &format!("{ns}/logs/{name}/{}.{file}", c.name), text),
                Err(e) => got
                    .missed
                    .push(format!("logs of {ns}/{name} container {}: {e}", c.name)),
            }
        }
    }
}

async fn rayclusters(client: &Client, ns: &str, dir: &Path, got: &mut Collected) {
    let gvk = GroupVersionKind::gvk("ray.io", "v1", "RayCluster");
    let Ok((resource, _)) = discovery::pinned_kind(client, &gvk).await else {
        return; // No RayCluster CRD: nothing to collect.
    };
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource);
    let listed = api.list(&ListParams::default()).await;
    if let Some(list) = got.keep(&format!("RayClusters in {ns}"), listed.map_err(Into::into)) {
        for rc in &list.items {
            let conds: String = conditions::custom_conditions(rc)
                .iter()
                .map(|c| format!("{}={} {}: {}\n", c.type_, c.status, c.reason, c.message))
                .collect();
            got.write(
                dir,
                &format!("{ns}/rayclusters/{}.yaml", rc.name_any()),
                to_yaml(&without_managed_fields(rc)),
            );
            got.write(
                dir,
                &format!("{ns}/rayclusters/{}.conditions.txt", rc.name_any()),
                conds,
            );
        }
    }
}

async fn nodes(client: &Client, dir: &Path, got: &mut Collected) {
    let listed = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await;
    if let Some(nodes) = got.keep("nodes", listed.map_err(Into::into)) {
        let mut text = String::new();
        for n in &nodes.items {
            let _ = writeln!(text, "{}", n.name_any());
            for c in n.status.iter().flat_map(|s| s.conditions.iter().flatten()) {
                let _ = writeln!(
                    text,
                    "  {}={} {}: {}",
                    c.type_,
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                );
            }
        }
        got.write(dir, "nodes.txt", text);
    }
}

async fn helm_release(
    session: &Session<'_>,
    release: &str,
    ns: &str,
    dir: &Path,
    got: &mut Collected,
) {
    let (sh, kubeconfig, context) = (&session.sh, &session.kubeconfig, session.env.context());
    let status: Command = xshell::cmd!(
        sh,
        "helm status {release} --namespace {ns} --kubeconfig {kubeconfig} --kube-context {context}"
    )
    .into();
    let values: Command = xshell::cmd!(
        sh,
        "helm get values {release} --all --namespace {ns} --kubeconfig {kubeconfig} --kube-context {context}"
    )
    .into();
    for (command, file) in [(status, "status.txt"), (values, "values.yaml")] {
        let line = command.shell_line();
        match command.output().await {
            Ok(out) if out.success() => {
                got.write(dir, &format!("helm/{release}.{file}"), out.stdout)
            }
            Ok(out) => got.missed.push(format!("`{line}`: {}", out.last_words())),
            Err(e) => got.missed.push(format!("`{line}`: {e:#}")),
        }
    }
}

async fn kind_logs(session: &Session<'_>, dir: &Path, got: &mut Collected) {
    let into = dir.join("kind-logs");
    let name = &session.env.cluster.name;
    let export: Command = xshell::cmd!(session.sh, "kind export logs {into} --name {name}").into();
    let line = export.shell_line();
    match export.output().await {
        Ok(out) if out.success() => got.files.push(PathBuf::from("kind-logs/")),
        Ok(out) => got.missed.push(format!("`{line}`: {}", out.last_words())),
        Err(e) => got.missed.push(format!("`{line}`: {e:#}")),
    }
}

/// The bundle's README: what failed, the first files to read, and how to rerun that part.
pub fn readme(report: &RunReport, failed_step_lines: &[String], dir: &Path) -> String {
    let mut out = format!("# {}: {}\n\n", report.scenario, verdict(report));
    match report.steps.iter().find(|s| s.outcome == Outcome::Failed) {
        Some(s) => {
            let _ = writeln!(out, "Step `{}` (tutorial step {}) failed:\n\n```\n{}\n```\n", s.id, s.doc, s.message);
            out.push_str("## Read first\n\n");
            for (file, why) in first_reads(dir) {
                let _ = writeln!(out, "- `{file}`: {why}");
            }
            out.push_str("\n## Rerun that part by hand\n\nKeep the cluster (`cargo xtask e2e --keep-cluster`, or `--reuse-cluster` on a kept one), then run what the step runs (`cargo xtask e2e --dry-run` prints every step):\n\n```bash\n");
            for l in failed_step_lines {
                let _ = writeln!(out, "{l}");
            }
            out.push_str("```\n");
        }
        None => out.push_str("Every step passed. `report.json` and `junit.xml` hold the evidence of each step; `audit/namespaces.log` is the audit log's slice the verdicts rest on.\n"),
    }
    if !report.missed.is_empty() {
        out.push_str("\n## Not collected\n\n");
        for m in &report.missed {
            let _ = writeln!(out, "- {m}");
        }
    }
    out
}

fn verdict(report: &RunReport) -> &'static str {
    if report.interrupted {
        "interrupted"
    } else if report.passed() {
        "passed"
    } else {
        "failed"
    }
}

/// The files a failure is usually explained by, those that were collected, most telling first.
fn first_reads(dir: &Path) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut namespaces: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("events.txt").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    namespaces.sort();
    for ns in namespaces {
        out.push((
            format!("{ns}/events.txt"),
            "what the operator, the scheduler and the kubelet reported, oldest first",
        ));
        out.push((
            format!("{ns}/pods.txt"),
            "each pod's phase, readiness and waiting reason",
        ));
        out.push((
            format!("{ns}/logs/"),
            "every container's log (and the previous one after a restart)",
        ));
    }
    for (file, why) in [
        (
            "audit/namespaces.log",
            "the API server's audit events about the run's namespaces (Pod Security 403s and annotations)",
        ),
        ("nodes.txt", "node conditions (pressure, readiness)"),
        (
            "kind-logs/",
            "`kind export logs`: the node's kubelet, containerd and control plane logs",
        ),
    ] {
        if dir.join(file).exists() {
            out.push((file.to_string(), why));
        }
    }
    out
}

/// `TIME  TYPE  REASON  OBJECT  MESSAGE`, oldest first.
pub fn events_table(mut events: Vec<Event>) -> String {
    let time = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    };
    // Oldest first; events of the same second in the order the API server stored them.
    let stored = |e: &Event| {
        e.metadata
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok())
            .unwrap_or(0)
    };
    events.sort_by_key(|e| (time(e), stored(e)));
    let mut out = String::from("TIME\tTYPE\tREASON\tOBJECT\tCOUNT\tMESSAGE\n");
    for e in &events {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}/{}\t{}\t{}",
            time(e),
            e.type_.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.involved_object.kind.clone().unwrap_or_default(),
            e.involved_object.name.clone().unwrap_or_default(),
            e.count.unwrap_or(1),
            e.message.clone().unwrap_or_default().replace('\n', " ")
        );
    }
    out
}

fn without_managed_fields<K: Serialize>(obj: &K) -> serde_json::Value {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    v
}

fn to_yaml(v: &serde_json::Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_a_time_ordered_table() {
        let event = |name: &str, at: &str, reason: &str| -> Event {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "involvedObject": {"kind": "Pod", "name": "head-x"},
                "reason": reason, "type": "Warning", "message": "line one\nline two",
                "lastTimestamp": at, "count": 3
            }))
            .unwrap()
        };
        let table = events_table(vec![
            event("b", "2026-12-01T10:00:05Z", "BackOff"),
            event("a", "2026-12-01T10:00:01Z", "Failed"),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "TIME\tTYPE\tREASON\tOBJECT\tCOUNT\tMESSAGE");
        assert!(
            lines[1].contains("\tFailed\tPod/head-x\t3\tline one line two"),
            "{table}"
        );
        assert!(lines[2].contains("\tBackOff\t"), "{table}");
    }

    #[test]
    fn the_readme_says_what_failed_what_to_read_and_how_to_rerun_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pod-security")).unwrap();
        std::fs::write(dir.path().join("pod-security/events.txt"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        std::fs::write(dir.path().join("audit/namespaces.log"), "").unwrap();
        let step = |id: &str, outcome| crate::report::StepResult {
            id: id.into(),
            doc: "5.2".into(),
            title: "t".into(),
            outcome,
            message: "pod x container ray-head: ErrImagePull: not found".into(),
            evidence: vec![],
            duration: Duration::ZERO,
        };
        let report = RunReport {
            scenario: "pod-security".into(),
            steps: vec![
                step("dashboard", Outcome::Passed),
                step("pod-security-running", Outcome::Failed),
            ],
            interrupted: false,
            cleanup: vec![],
            artifacts: Some(dir.path().to_path_buf()),
            missed: vec!["logs of pod-security/x container ray-head: 404".into()],
        };
        let text = readme(&report, &["kubectl apply -f x.yaml".into()], dir.path());
        assert!(text.starts_with("# pod-security: failed"), "{text}");
        assert!(text.contains("Step `pod-security-running` (tutorial step 5.2) failed:\n\n```\npod x container ray-head: ErrImagePull: not found"), "{text}");
        assert!(
            text.contains("- `pod-security/events.txt`: what the operator"),
            "{text}"
        );
        assert!(text.contains("- `audit/namespaces.log`"), "{text}");
        assert!(
            !text.contains("kind-logs"),
            "only what was collected: {text}"
        );
        assert!(
            text.contains("```bash\nkubectl apply -f x.yaml\n```"),
            "{text}"
        );
        assert!(
            text.contains("## Not collected\n\n- logs of pod-security/x container ray-head: 404"),
            "{text}"
        );
    }

    #[test]
    fn managed_fields_are_left_out_and_the_rest_kept() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "kubelet"}], "labels": {"a": "b"}}
        }))
        .unwrap();
        let v = without_managed_fields(&pod);
        assert!(v["metadata"].get("managedFields").is_none());
        assert_eq!(v["metadata"]["labels"]["a"], "b");
        assert!(to_yaml(&v).contains("name: p"));
    }
}
