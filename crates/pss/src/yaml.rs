//! File-level evaluation for the CLI: multi-document YAML in, one [`Entry`] per pod template out.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::eval::{Evaluator, violates_message};
use crate::policy::LevelVersion;
use crate::templates::{TemplateOptions, pod_templates};

/// The verdict for one pod template of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The file label given to [`evaluate_yaml`].
    pub file: String,
    /// 0-based index of the document among the non-empty documents of the file.
    pub document: usize,
    /// Kind of the object (`Pod`, `Deployment`, `RayCluster`, …).
    pub kind: String,
    /// `metadata.name` of the object (or `generateName`).
    pub name: String,
    /// Path of the pod template inside the object (`""` for a Pod), see [`crate::PodTemplate::path`].
    pub template: String,
    /// Whether the pod would be admitted at the requested level/version.
    pub allowed: bool,
    /// `violates PodSecurity "LEVEL:VERSION": DETAIL` when not allowed.
    pub message: Option<String>,
}

/// A problem with the input: invalid YAML or a document that is not a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file label.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    /// `file:line:column: message` (line/column omitted when unknown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// One YAML document of a stream: its text and the 1-based line where it starts.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

/// `---` at column 0 followed by whitespace or end of line always starts a new document in YAML
/// (it cannot occur inside block or quoted scalars), so a line split is exact.
fn is_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

fn split_documents(yaml: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in yaml.split_inclusive('\n').enumerate() {
        if is_marker(line) && offset > start {
            chunks.push(Chunk {
                text: &yaml[start..offset],
                first_line: start_line,
            });
            start = offset;
            start_line = i + 1;
        }
        offset += line.len();
    }
    chunks.push(Chunk {
        text: &yaml[start..],
        first_line: start_line,
    });
    chunks
}

/// True when the chunk holds no content: only blank lines, comments, directives and markers.
fn is_blank_document(text: &str) -> bool {
    text.lines().all(|l| {
        let t = if is_marker(l) { &l[3..] } else { l };
        let t = t.trim();
        t.is_empty() || t.starts_with('#') || l.starts_with('%') || t == "..."
    })
}

/// Line (1-based, in the chunk) of the first content line.
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = if is_marker(l) { &l[3..] } else { l };
            let t = t.trim();
            !(t.is_empty() || t.starts_with('#') || l.starts_with('%'))
        })
        .map_or(1, |i| i + 1)
}

/// Evaluates every pod template in a (multi-document) YAML or JSON text.
///
/// Documents are numbered 0-based among the non-empty ones. Objects without pod templates
/// (ConfigMaps, Services, …) produce no entries. Invalid YAML, or a document that is not a
/// mapping with string `apiVersion` and `kind`, is an [`InputError`] with line/column where known.
/// Every template is evaluated as the pod a controller would create from it (Pod defaulting).
pub fn evaluate_yaml(
    file_label: &str,
    yaml: &str,
    evaluator: &Evaluator,
    lv: &LevelVersion,
    opts: &TemplateOptions,
) -> Result<Vec<Entry>, InputError> {
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    let mut entries = Vec::new();
    let mut document = 0usize;
    for chunk in split_documents(yaml) {
        if is_blank_document(chunk.text) {
            continue;
        }
        let value: Value = serde_saphyr::from_str(chunk.text).map_err(|e| {
            let loc = e.location();
            InputError {
                file: file_label.to_string(),
                line: loc.map(|l| l.line() as usize + chunk.first_line - 1),
                column: loc.map(|l| l.column() as usize),
                message: plain_message(&e),
            }
        })?;
        if value.is_null() {
            continue;
        }
        let err_here = |message: String| InputError {
            file: file_label.to_string(),
            line: Some(chunk.first_line + first_content_line(chunk.text) - 1),
            column: Some(1),
            message,
        };
        let Some(obj) = value.as_object() else {
            return Err(err_here(format!(
                "document {document} is not a Kubernetes object (expected a mapping with apiVersion and kind)"
            )));
        };
        for key in ["apiVersion", "kind"] {
            match obj.get(key) {
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => {
                    return Err(err_here(format!(
                        "document {document}: {key} must be a non-empty string"
                    )));
                }
                None => return Err(err_here(format!("document {document}: missing {key}"))),
            }
        }
        for t in pod_templates(&value, opts) {
            let verdict = evaluator.evaluate_pod(lv, &t.pod);
            let allowed = verdict.allowed();
            entries.push(Entry {
                file: file_label.to_string(),
                document,
                kind: t.kind,
                name: t.name,
                template: t.path,
                allowed,
                message: (!allowed).then(|| violates_message(lv, &verdict.forbidden_detail())),
            });
        }
        document += 1;
    }
    Ok(entries)
}

/// The parser's message without source snippet or location suffix.
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    // Drop library-specific advice.
    let first = first.trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable");
    // Location is reported separately.
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// Human-readable report: one block per entry, `ALLOWED` or `FORBIDDEN`.
pub fn render_text(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let status = if e.allowed { "ALLOWED  " } else { "FORBIDDEN" };
        out.push_str(&format!(
            "{status} {} [document {}] {}/{}",
            e.file, e.document, e.kind, e.name
        ));
        if !e.template.is_empty() {
            out.push_str(&format!(" ({})", e.template));
        }
        out.push('\n');
        if let Some(m) = &e.message {
            out.push_str("  ");
            out.push_str(m);
            out.push('\n');
        }
    }
    out
}
