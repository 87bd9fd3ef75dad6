//! The scenario file: the tutorial's steps and their expectations, as data.
//!
//! Parsing is strict: unknown fields and bad values are errors that name `file:line:column`.
//! Values are parsed once, into types (durations, doc step numbers, patterns), where they are
//! read. This module knows the file's frame (name, versions, steps with id, doc, title and
//! timeout); what each step kind's action says is read by `steps`, through [`Action`].

use std::{
    collections::HashSet,
    fmt,
    marker::PhantomData,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, Visitor},
};
use serde_saphyr::Spanned;

use crate::tools::ToolPin;

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

/// A step kind's action, as the step writes it under its key (`namespace: {...}`). The set of
/// kinds is `steps`' business; this module only needs to hand it the key and the value.
pub trait Action: Sized {
    /// Every action key, for "give one of" messages.
    const KEYS: &'static [&'static str];
    /// Reads the value under `key` as an action; `None` when `key` names no action.
    fn next_value<'de, M: MapAccess<'de>>(key: &str, map: &mut M)
    -> Result<Option<Self>, M::Error>;
    /// What the action is missing beyond its shape (e.g. an empty command), said in a sentence.
    fn check(&self) -> Result<(), String>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "A: Action"))]
struct ScenarioFile<A> {
    name: String,
    #[serde(default)]
    tutorial: Option<String>,
    /// Directory the scenario's paths resolve against, relative to the scenario file.
    #[serde(default)]
    root: Option<String>,
    cluster: ClusterSpec,
    versions: Versions,
    audit_log: AuditLogSpec,
    #[serde(default)]
    documentation: Option<Documentation>,
    steps: Vec<Spanned<StepFile<A>>>,
}

/// The documentation page the scenario reproduces, and every known way we differ from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Documentation {
    /// The page as published, kept in the repository (relative to the scenario's root).
    pub page: Spanned<String>,
    /// Where the page is published (the raw Markdown), for refreshing it.
    pub source: String,
    pub differences: Vec<Spanned<Difference>>,
}

/// One known difference between the page and what we run: what the page says, what we run
/// instead, and why. Each `where` pair matches whole words of a command; one side may be empty
/// when the other side has the words alone (we add a flag; the page says something we skip).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Difference {
    pub id: String,
    pub why: String,
    #[serde(rename = "where")]
    pub places: Vec<Place>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub ours: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: Spanned<String>,
}

/// The one place versions are pinned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub node_image: String,
    /// The kind release the node image is built for, with the sha256 of its downloads.
    #[serde(default)]
    pub kind: Option<ToolPin>,
    /// The helm release `cargo xtask tools` fetches, with the sha256 of its downloads.
    #[serde(default)]
    pub helm: Option<ToolPin>,
    pub kuberay_chart: String,
    pub ray_image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogSpec {
    /// Path of the audit log inside the control-plane node container.
    pub path: String,
}

/// A tutorial step number (`1`, `5.2`), or `-` for a step the tutorial does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocStep(String);

impl fmt::Display for DocStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DocStep {
    type Err = String;
    fn from_str(doc: &str) -> Result<Self, Self::Err> {
        let valid = doc == "-"
            || (!doc.is_empty()
                && doc
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
        if valid {
            Ok(DocStep(doc.to_string()))
        } else {
            Err(format!(
                "doc {doc:?} must be a tutorial step number like \"1\" or \"5.2\", or \"-\""
            ))
        }
    }
}

/// A duration as written (`10s`, `5m`), parsed when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenDuration(pub Duration);

/// A regular expression, compiled when read.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

macro_rules! parsed_from_str {
    ($t:ty, $parse:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let parse: fn(&str) -> Result<$t, String> = $parse;
                parse(&text).map_err(de::Error::custom)
            }
        }
    };
}
parsed_from_str!(DocStep, |s| s.parse());
parsed_from_str!(WrittenDuration, |s| humantime::parse_duration(s)
    .map(WrittenDuration)
    .map_err(|e| format!("bad duration {s:?}: {e} (write e.g. 30s, 5m)")));
parsed_from_str!(Pattern, |s| regex::Regex::new(s)
    .map(Pattern)
    .map_err(|e| format!("bad pattern: {e}")));

/// One step as written: its frame and its action, of which there may be none or several until
/// [`parse`] checks there is exactly one.
#[derive(Debug)]
struct StepFile<A> {
    id: Spanned<String>,
    doc: DocStep,
    title: String,
    timeout: WrittenDuration,
    actions: Vec<(&'static str, A)>,
    /// Keys that are neither a frame field nor an action, reported where they stand.
    unknown: Vec<Spanned<String>>,
}

impl<'de, A: Action> Deserialize<'de> for StepFile<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepVisitor(PhantomData))
    }
}

struct StepVisitor<A>(PhantomData<A>);

const STEP_FIELDS: [&str; 4] = ["id", "doc", "title", "timeout"];

impl<'de, A: Action> Visitor<'de> for StepVisitor<A> {
    type Value = StepFile<A>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step: id, doc, title, timeout and one action")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<StepFile<A>, M::Error> {
        let (mut id, mut doc, mut title, mut timeout) = (None, None, None, None);
        let (mut actions, mut unknown) = (Vec::new(), Vec::new());
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            match key.value.as_str() {
                "id" => id = Some(map.next_value()?),
                "doc" => doc = Some(map.next_value()?),
                "title" => title = Some(map.next_value()?),
                "timeout" => timeout = Some(map.next_value()?),
                other => match A::next_value(other, &mut map)? {
                    Some(action) => {
                        let name = A::KEYS.iter().find(|k| **k == other).copied();
                        actions.push((name.unwrap_or("?"), action));
                    }
                    None => {
                        map.next_value::<de::IgnoredAny>()?;
                        unknown.push(key);
                    }
                },
            }
        }
        Ok(StepFile {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            doc: doc.ok_or_else(|| de::Error::missing_field("doc"))?,
            title: title.ok_or_else(|| de::Error::missing_field("title"))?,
            timeout: timeout.ok_or_else(|| de::Error::missing_field("timeout"))?,
            actions,
            unknown,
        })
    }
}

/// A step, read and checked.
#[derive(Debug)]
pub struct Step<A> {
    /// Where the step begins in the file.
    pub at: SourceLocation,
    pub id: String,
    pub doc: DocStep,
    pub title: String,
    pub timeout: Duration,
    pub action: A,
}

/// Where the scenario came from: what its paths resolve against and its errors point at.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub root: PathBuf,
}

impl Source {
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
    /// A path from the scenario, resolved against the scenario's root; it must exist.
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

/// A scenario read from disk and checked.
#[derive(Debug)]
pub struct LoadedScenario<A> {
    pub source: Source,
    pub name: String,
    pub tutorial: Option<String>,
    pub cluster_name: String,
    pub versions: Versions,
    pub audit_log: AuditLogSpec,
    pub documentation: Option<Documentation>,
    pub steps: Vec<Step<A>>,
}

/// Reads and checks a scenario file.
pub fn load<A: Action>(path: &Path) -> Result<LoadedScenario<A>, ScenarioError> {
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

/// Parses and checks scenario text; `path` names it in errors and anchors its relative paths.
pub fn parse<A: Action>(path: &Path, text: &str) -> Result<LoadedScenario<A>, ScenarioError> {
    let file: ScenarioFile<A> = serde_saphyr::from_str(text).map_err(|e| {
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
            // The message repeats the location we already lead with.
            message: e
                .without_snippet()
                .to_string()
                .trim_end_matches(&format!(" at line {line}, column {column}"))
                .to_string(),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let root = match &file.root {
        Some(r) => base.join(r),
        None => base.to_path_buf(),
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let source = Source {
        path: path.to_path_buf(),
        root: normalize(&root),
    };
    check_cluster_name(&source, &file.cluster.name)?;
    let steps = steps(&source, file.steps)?;
    Ok(LoadedScenario {
        source,
        name: file.name,
        tutorial: file.tutorial,
        cluster_name: file.cluster.name.value,
        versions: file.versions,
        audit_log: file.audit_log,
        documentation: file.documentation,
        steps,
    })
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

fn check_cluster_name(source: &Source, name: &Spanned<String>) -> Result<(), ScenarioError> {
    let valid = !name.value.is_empty()
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(source.error(
            name,
            format!(
                "cluster name {:?} must be lowercase letters, digits and '-'",
                name.value
            ),
        ))
    }
}

/// Checks that go beyond the shape: at least one step, unique ids, exactly one action each.
fn steps<A: Action>(
    source: &Source,
    written: Vec<Spanned<StepFile<A>>>,
) -> Result<Vec<Step<A>>, ScenarioError> {
    if written.is_empty() {
        return Err(ScenarioError {
            location: source.location(1, 1),
            message: "the scenario has no steps".into(),
        });
    }
    let mut ids = HashSet::new();
    let mut steps = Vec::new();
    for spanned in written {
        let at = source.at(&spanned);
        let step = spanned.value;
        if !ids.insert(step.id.value.clone()) {
            return Err(source.error(&step.id, format!("duplicate step id {:?}", step.id.value)));
        }
        if let Some(key) = step.unknown.first() {
            let expected: Vec<&str> = STEP_FIELDS.iter().chain(A::KEYS).copied().collect();
            return Err(source.error(
                key,
                format!(
                    "unknown field `{}`, expected one of {}",
                    key.value,
                    expected.join(", ")
                ),
            ));
        }
        let id = step.id.value;
        let mut actions = step.actions;
        let action = match actions.len() {
            1 => actions.remove(0).1,
            0 => {
                return Err(ScenarioError {
                    location: at,
                    message: format!(
                        "step {id:?} has no action; give one of: {}",
                        A::KEYS.join(", ")
                    ),
                });
            }
            _ => {
                let names: Vec<&str> = actions.iter().map(|(n, _)| *n).collect();
                return Err(ScenarioError {
                    location: at,
                    message: format!(
                        "step {id:?} has several actions ({}); give exactly one",
                        names.join(", ")
                    ),
                });
            }
        };
        if let Err(why) = action.check() {
            return Err(ScenarioError {
                location: at,
                message: format!("step {id:?}: {why}"),
            });
        }
        steps.push(Step {
            at,
            id,
            doc: step.doc,
            title: step.title,
            timeout: step.timeout.0,
            action,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Two step kinds, enough to test the frame; the real kinds are tested in `steps`.
    #[derive(Debug)]
    enum TestAction {
        Preflight,
        Namespace(NamespaceSpec),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NamespaceSpec {
        name: String,
        #[serde(default)]
        #[allow(dead_code)]
        labels: BTreeMap<String, String>,
    }

    impl Action for TestAction {
        const KEYS: &'static [&'static str] = &["preflight", "namespace"];
        fn next_value<'de, M: MapAccess<'de>>(
            key: &str,
            map: &mut M,
        ) -> Result<Option<Self>, M::Error> {
            Ok(match key {
                "preflight" => {
                    map.next_value::<de::IgnoredAny>()?;
                    Some(TestAction::Preflight)
                }
                "namespace" => Some(TestAction::Namespace(map.next_value()?)),
                _ => None,
            })
        }
        fn check(&self) -> Result<(), String> {
            match self {
                TestAction::Namespace(n) if n.name.is_empty() => {
                    Err("namespace.name is empty".into())
                }
                _ => Ok(()),
            }
        }
    }

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

    fn parse_str(text: &str) -> Result<LoadedScenario<TestAction>, ScenarioError> {
        parse(Path::new("/tmp/scenarios/s.yaml"), text)
    }

    #[test]
    fn minimal_scenario_parses_and_root_defaults_to_the_files_directory() {
        let s = parse_str(MINIMAL).unwrap();
        assert_eq!(s.source.root, PathBuf::from("/tmp/scenarios"));
        assert_eq!(s.steps.len(), 1);
        let step = &s.steps[0];
        assert!(matches!(&step.action, TestAction::Namespace(n) if n.name == "pod-security"));
        assert_eq!(
            (step.doc.to_string(), step.timeout, step.at.line),
            ("3".to_string(), Duration::from_secs(60), 11)
        );
    }

    #[test]
    fn root_resolves_relative_to_the_scenario_file() {
        let s = parse_str(&MINIMAL.replace("name: t\n", "name: t\nroot: ..\n")).unwrap();
        assert_eq!(s.source.root, PathBuf::from("/tmp"));
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
        assert!(
            !err.message.contains("at line"),
            "the location is said once: {err}"
        );
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
                .contains("several actions (namespace, preflight)"),
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
    fn an_unknown_key_in_a_step_names_the_keys_it_may_have() {
        let err = parse_str(&MINIMAL.replace("    namespace:\n", "    namespaces:\n"))
            .err()
            .unwrap();
        assert!(
            err.message.contains(
                "unknown field `namespaces`, expected one of id, doc, title, timeout, preflight, namespace"
            ),
            "{err}"
        );
        assert_eq!((err.location.line, err.location.column), (15, 5), "{err}");
    }

    #[test]
    fn an_actions_own_check_fails_at_the_step() {
        let err = parse_str(&MINIMAL.replace("name: pod-security", "name: \"\""))
            .err()
            .unwrap();
        assert_eq!(err.location.line, 11, "{err}");
        assert!(
            err.message.contains("step \"ns\": namespace.name is empty"),
            "{err}"
        );
    }
}
