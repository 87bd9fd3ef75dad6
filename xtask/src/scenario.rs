//! The scenario file: the tutorial's steps and their expectations, as data.
//!
//! Parsing is strict: unknown fields and bad values are errors that name `file:line:column`.
//! This module only reads and validates the file; `plan` turns it into steps the runner executes.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// Where something is in a file: what errors point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A scenario that could not be read: bad YAML, an unknown field or a bad value.
#[derive(Debug)]
pub struct ScenarioError {
    pub location: SourceLocation,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub tutorial: Option<String>,
    /// Directory the scenario's paths resolve against, relative to the scenario file.
    #[serde(default)]
    pub root: Option<String>,
    pub cluster: ClusterSpec,
    pub versions: Versions,
    pub audit_log: AuditLogSpec,
    pub steps: Vec<Spanned<StepSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub node_image: String,
    pub kuberay_chart: String,
    pub ray_image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogSpec {
    /// Path of the audit log inside the control-plane node container.
    pub path: String,
}

/// One step as written. Exactly one of the action fields must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub id: Spanned<String>,
    pub doc: Spanned<String>,
    pub title: String,
    pub timeout: Spanned<String>,
    #[serde(default)]
    pub preflight: Option<PreflightSpec>,
    #[serde(default)]
    pub kind_cluster: Option<KindClusterSpec>,
    #[serde(default)]
    pub audit_log: Option<AuditQuietSpec>,
    #[serde(default)]
    pub namespace: Option<NamespaceSpec>,
    #[serde(default)]
    pub helm_install: Option<HelmInstallSpec>,
    #[serde(default)]
    pub apply_rejected: Option<ApplyRejectedSpec>,
    #[serde(default)]
    pub apply_admitted: Option<ApplyAdmittedSpec>,
    #[serde(default)]
    pub port_forward: Option<PortForwardSpec>,
    #[serde(default)]
    pub exec: Option<ExecSpec>,
    #[serde(default)]
    pub delete: Option<DeleteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightSpec {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindClusterSpec {
    pub config: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuietSpec {
    pub no_events_in_namespace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmInstallSpec {
    pub release: String,
    pub chart: String,
    #[serde(default)]
    pub repo: Option<String>,
    pub namespace: String,
    pub values: Spanned<String>,
    /// The Deployment the chart creates, which must become Available.
    pub deployment: String,
    /// A CRD the chart installs, which must become Established.
    #[serde(default)]
    pub crd: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRejectedSpec {
    pub manifest: Spanned<String>,
    pub namespace: String,
    pub raycluster: String,
    pub settle: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyAdmittedSpec {
    pub manifest: Spanned<String>,
    pub namespace: String,
    pub raycluster: String,
    #[serde(default)]
    pub ray_image: bool,
    pub head_pods: u32,
    pub worker_pods: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortForwardSpec {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    pub probe: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    pub namespace: String,
    /// Label selector that must match exactly one running pod.
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    pub exit_code: i32,
    /// A regular expression stdout must match.
    #[serde(default)]
    pub stdout: Option<Spanned<String>>,
    /// Status the Ray dashboard must report for a DRIVER job with this command as entrypoint.
    #[serde(default)]
    pub dashboard_job: Option<Spanned<String>>,
    /// The service whose port-forward reaches the dashboard (a `port_forward` step before this one).
    #[serde(default)]
    pub dashboard: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSpec {
    pub manifest: Spanned<String>,
    pub namespace: String,
}

/// Job statuses of the Ray Jobs API (`ray.job_submission.JobStatus`).
pub const RAY_JOB_STATUSES: [&str; 5] = ["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"];

/// A scenario read from disk, with where it came from.
pub struct LoadedScenario {
    pub path: PathBuf,
    pub root: PathBuf,
    pub scenario: Scenario,
}

impl LoadedScenario {
    pub fn location(&self, line: u64, column: u64) -> SourceLocation {
        SourceLocation {
            file: self.path.clone(),
            line,
            column,
        }
    }
    pub fn at<T>(&self, spanned: &Spanned<T>) -> SourceLocation {
        self.location(spanned.referenced.line(), spanned.referenced.column())
    }
    pub fn error<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            location: self.at(spanned),
            message: message.into(),
        }
    }
    /// A path from the scenario, resolved against the scenario's root.
    pub fn resolve(&self, path: &Spanned<String>) -> Result<PathBuf, ScenarioError> {
        let resolved = self.root.join(&path.value);
        if !resolved.exists() {
            return Err(self.error(
                path,
                format!(
                    "{} does not exist (resolved to {})",
                    path.value,
                    resolved.display()
                ),
            ));
        }
        Ok(resolved)
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        location: SourceLocation {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
        },
        message: format!("cannot read the scenario: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` names it in errors and anchors its relative paths.
pub fn parse(path: &Path, text: &str) -> Result<LoadedScenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ScenarioError {
            location: SourceLocation {
                file: path.to_path_buf(),
                line,
                column,
            },
            message: e.without_snippet().to_string(),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let root = match &scenario.root {
        Some(r) => base.join(r),
        None => base.to_path_buf(),
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let root = normalize(&root);
    let loaded = LoadedScenario {
        path: path.to_path_buf(),
        root,
        scenario,
    };
    validate(&loaded)?;
    Ok(loaded)
}

/// Removes `.` and `..` components without touching the file system (so paths print cleanly).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Checks that go beyond the shape: one action per step, unique ids, parseable durations.
fn validate(loaded: &LoadedScenario) -> Result<(), ScenarioError> {
    let s = &loaded.scenario;
    if s.steps.is_empty() {
        return Err(ScenarioError {
            location: loaded.location(1, 1),
            message: "the scenario has no steps".into(),
        });
    }
    let name = &s.cluster.name;
    if name.value.is_empty()
        || !name
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(loaded.error(
            name,
            format!(
                "cluster name {:?} must be lowercase letters, digits and '-'",
                name.value
            ),
        ));
    }
    let mut ids = HashSet::new();
    for step in &s.steps {
        let spec = &step.value;
        if !ids.insert(spec.id.value.as_str()) {
            return Err(loaded.error(&spec.id, format!("duplicate step id {:?}", spec.id.value)));
        }
        if !valid_doc(&spec.doc.value) {
            return Err(loaded.error(
                &spec.doc,
                format!(
                    "doc {:?} must be a tutorial step number like \"1\" or \"5.2\", or \"-\"",
                    spec.doc.value
                ),
            ));
        }
        parse_duration(loaded, &spec.timeout)?;
        let actions = spec.action_names();
        match actions.len() {
            1 => {}
            0 => {
                return Err(loaded.error(
                    step,
                    format!(
                        "step {:?} has no action; give one of: {}",
                        spec.id.value,
                        StepSpec::ACTIONS.join(", ")
                    ),
                ));
            }
            _ => {
                return Err(loaded.error(
                    step,
                    format!(
                        "step {:?} has several actions ({}); give exactly one",
                        spec.id.value,
                        actions.join(", ")
                    ),
                ));
            }
        }
        if let Some(a) = &spec.apply_rejected {
            parse_duration(loaded, &a.settle)?;
        }
        if let Some(e) = &spec.exec {
            if e.command.is_empty() {
                return Err(loaded.error(step, "exec.command is empty"));
            }
            if let Some(re) = &e.stdout {
                regex::Regex::new(&re.value)
                    .map_err(|err| loaded.error(re, format!("bad stdout pattern: {err}")))?;
            }
            if let Some(st) = &e.dashboard_job {
                if !RAY_JOB_STATUSES.contains(&st.value.as_str()) {
                    return Err(loaded.error(
                        st,
                        format!(
                            "dashboard_job {:?} is not a Ray job status ({})",
                            st.value,
                            RAY_JOB_STATUSES.join(", ")
                        ),
                    ));
                }
                if e.dashboard.is_none() {
                    return Err(loaded.error(st, "dashboard_job needs `dashboard: <service>` (a port_forward step's service)"));
                }
            }
        }
    }
    Ok(())
}

fn valid_doc(doc: &str) -> bool {
    doc == "-"
        || (!doc.is_empty()
            && doc
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
}

/// Parses a duration like `10s` or `5m`, pointing at the value on error.
pub fn parse_duration(
    loaded: &LoadedScenario,
    value: &Spanned<String>,
) -> Result<Duration, ScenarioError> {
    humantime::parse_duration(&value.value).map_err(|e| {
        loaded.error(
            value,
            format!("bad duration {:?}: {e} (write e.g. 30s, 5m)", value.value),
        )
    })
}

impl StepSpec {
    pub const ACTIONS: [&'static str; 10] = [
        "preflight",
        "kind_cluster",
        "audit_log",
        "namespace",
        "helm_install",
        "apply_rejected",
        "apply_admitted",
        "port_forward",
        "exec",
        "delete",
    ];

    fn action_names(&self) -> Vec<&'static str> {
        let set = [
            self.preflight.is_some(),
            self.kind_cluster.is_some(),
            self.audit_log.is_some(),
            self.namespace.is_some(),
            self.helm_install.is_some(),
            self.apply_rejected.is_some(),
            self.apply_admitted.is_some(),
            self.port_forward.is_some(),
            self.exec.is_some(),
            self.delete.is_some(),
        ];
        Self::ACTIONS
            .iter()
            .zip(set)
            .filter(|(_, s)| *s)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "\
name: t
cluster:
  name: c
versions:
  node_image: kindest/node:v1.26.15
  kuberay_chart: \"1.5.1\"
  ray_image: rayproject/ray-ml:2.4.0-cpu
audit_log:
  path: /var/log/kubernetes/kube-apiserver-audit.log
steps:
  - id: ns
    doc: \"3\"
    title: namespace
    timeout: 1m
    namespace:
      name: pod-security
";

    fn parse_str(text: &str) -> Result<LoadedScenario, ScenarioError> {
        parse(Path::new("/tmp/scenarios/s.yaml"), text)
    }

    #[test]
    fn minimal_scenario_parses_and_root_defaults_to_the_files_directory() {
        let s = parse_str(MINIMAL).unwrap();
        assert_eq!(s.root, PathBuf::from("/tmp/scenarios"));
        assert_eq!(s.scenario.steps.len(), 1);
        assert_eq!(
            s.scenario.steps[0].value.namespace.as_ref().unwrap().name,
            "pod-security"
        );
    }

    #[test]
    fn root_resolves_relative_to_the_scenario_file() {
        let s = parse_str(&MINIMAL.replace("name: t\n", "name: t\nroot: ..\n")).unwrap();
        assert_eq!(s.root, PathBuf::from("/tmp"));
    }

    #[test]
    fn unknown_field_names_line_and_column() {
        let text = MINIMAL.replace(
            "      name: pod-security\n",
            "      name: pod-security\n      lables: {}\n",
        );
        let err = parse_str(&text).err().unwrap();
        assert_eq!(err.location.line, 17, "{err}");
        assert!(
            err.to_string().starts_with("/tmp/scenarios/s.yaml:17:"),
            "{err}"
        );
        assert!(err.message.contains("lables"), "{err}");
    }

    #[test]
    fn bad_duration_points_at_the_value() {
        let err = parse_str(&MINIMAL.replace("timeout: 1m", "timeout: soon"))
            .err()
            .unwrap();
        assert_eq!((err.location.line, err.location.column), (14, 14), "{err}");
        assert!(err.message.contains("bad duration \"soon\""), "{err}");
    }

    #[test]
    fn step_without_action_is_an_error_at_the_step() {
        let text = MINIMAL.replace("    namespace:\n      name: pod-security\n", "");
        let err = parse_str(&text).err().unwrap();
        assert_eq!(err.location.line, 11, "{err}");
        assert!(err.message.contains("has no action"), "{err}");
    }

    #[test]
    fn two_actions_in_one_step_are_an_error() {
        let text = format!("{MINIMAL}    preflight: {{}}\n");
        let err = parse_str(&text).err().unwrap();
        assert!(
            err.message
                .contains("several actions (preflight, namespace)"),
            "{err}"
        );
    }

    #[test]
    fn doc_must_be_a_step_number() {
        let err = parse_str(&MINIMAL.replace("doc: \"3\"", "doc: three"))
            .err()
            .unwrap();
        assert_eq!(err.location.line, 12, "{err}");
        assert!(parse_str(&MINIMAL.replace("doc: \"3\"", "doc: \"5.1\"")).is_ok());
        assert!(parse_str(&MINIMAL.replace("doc: \"3\"", "doc: \"5.\"")).is_err());
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let step =
            "  - id: ns\n    doc: \"3\"\n    title: again\n    timeout: 1m\n    preflight: {}\n";
        let err = parse_str(&format!("{MINIMAL}{step}")).err().unwrap();
        assert_eq!(err.location.line, 17, "{err}");
        assert!(err.message.contains("duplicate step id"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error_with_location() {
        let err = parse_str(&MINIMAL.replace("name: pod-security", "name: [a, b]"))
            .err()
            .unwrap();
        assert_eq!(err.location.line, 16, "{err}");
    }

    #[test]
    fn invalid_yaml_is_an_error_with_location() {
        let err = parse_str("name: t\ncluster:\n  name: c\n bad: indentation\n")
            .err()
            .unwrap();
        assert!(err.location.line >= 3, "{err}");
    }

    #[test]
    fn dashboard_job_must_be_a_ray_status_and_name_the_dashboard() {
        let exec = "    exec:\n      namespace: n\n      pod: a=b\n      container: c\n      command: [python3, x.py]\n      exit_code: 0\n      dashboard_job: DONE\n      dashboard: svc\n";
        let text = MINIMAL.replace("    namespace:\n      name: pod-security\n", exec);
        let err = parse_str(&text).err().unwrap();
        assert!(err.message.contains("not a Ray job status"), "{err}");
        let err = parse_str(
            &text
                .replace("DONE", "SUCCEEDED")
                .replace("      dashboard: svc\n", ""),
        )
        .err()
        .unwrap();
        assert!(err.message.contains("needs `dashboard"), "{err}");
    }

    #[test]
    fn the_projects_scenario_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml");
        let s = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.root.join("manifests").is_dir());
        assert_eq!(s.scenario.cluster.name.value, "kuberay-pod-security");
    }
}
