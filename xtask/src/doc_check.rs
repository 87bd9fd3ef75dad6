//! `cargo xtask doc-check`: does the documentation page still say what we run? Each command of
//! the page's shell blocks is matched, word for word, to a command of a step of the same tutorial
//! step (the lines `--dry-run` prints, paths relative to the repository). A command is `same`,
//! `differs` (every differing word explained by a difference recorded in the scenario, with its
//! reason), or `not covered`. A recorded difference whose words are no longer on the page, or no
//! longer in what we run, is stale: the page or the harness changed, and someone must look.

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Spanned;

use crate::{
    doc_page::{CommandKind, LineKind, Page, PageCommand},
    scenario::Difference,
};

/// One of our commands: the step it belongs to, and the line without its `# expect:` comment.
#[derive(Debug, Clone)]
pub struct OurLine {
    pub step: String,
    pub doc: String,
    pub text: String,
}

impl OurLine {
    pub fn new(step: &str, doc: &str, line: &str) -> OurLine {
        let text = line.split_once("   # ").map_or(line, |(c, _)| c).trim();
        OurLine {
            step: step.to_string(),
            doc: doc.to_string(),
            text: text.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Same,
    /// Explained by these recorded differences.
    Differs(Vec<String>),
    /// Why not: what differs without a recorded reason.
    NotCovered(String),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub page: String,
    /// The step whose command it matched (or the closest one).
    pub step: Option<String>,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Recorded differences that no longer match, and why.
    pub stale: Vec<String>,
    /// The recorded differences a row cites, with their reasons.
    pub reasons: BTreeMap<String, String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.stale.is_empty()
            && self
                .rows
                .iter()
                .all(|r| !matches!(r.verdict, Verdict::NotCovered(_)))
    }

    pub fn table(&self) -> String {
        let mut out = vec![format!(
            "{:>5}  {:<22} {:<34} page",
            "line", "step", "verdict"
        )];
        for r in &self.rows {
            let verdict = match &r.verdict {
                Verdict::Same => "same".to_string(),
                Verdict::Differs(ids) => format!("differs [{}]", ids.join(", ")),
                Verdict::NotCovered(_) => "NOT COVERED".to_string(),
            };
            let page: String = r.page.replace('\n', " ⏎ ").chars().take(70).collect();
            out.push(format!(
                "{:>5}  {:<22} {:<34} {page}",
                r.line,
                r.step.as_deref().unwrap_or("-"),
                verdict
            ));
            if let Verdict::NotCovered(why) = &r.verdict {
                out.push(format!("{:>5}  └ {why}", ""));
            }
        }
        out.push(String::new());
        for (id, why) in &self.reasons {
            out.push(format!("[{id}] {why}"));
        }
        for s in &self.stale {
            out.push(format!("STALE: {s}"));
        }
        let count = |f: fn(&Verdict) -> bool| self.rows.iter().filter(|r| f(&r.verdict)).count();
        out.push(format!(
            "{} page lines: {} same, {} differ with a recorded reason, {} not covered; {} stale difference(s)",
            self.rows.len(),
            count(|v| *v == Verdict::Same),
            count(|v| matches!(v, Verdict::Differs(_))),
            count(|v| matches!(v, Verdict::NotCovered(_))),
            self.stale.len()
        ));
        out.join("\n") + "\n"
    }
}

/// Shell words, with `--flag=value` as two words and `-n` as `--namespace` (kubectl and helm
/// take both).
pub fn words(text: &str) -> Vec<String> {
    let split =
        shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_string).collect());
    let mut out = Vec::new();
    for w in split {
        match w.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && !flag.contains(' ') => {
                out.push(flag.to_string());
                out.push(value.to_string());
            }
            _ if w == "-n" => out.push("--namespace".into()),
            _ => out.push(w),
        }
    }
    out
}

fn find(haystack: &[String], needle: &[String]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Takes every recorded difference's words out of both commands wherever both sides are there
/// (an empty side is always there); returns the words left on each side and the differences used.
fn explain(
    page: &[String],
    ours: &[String],
    differences: &[&Spanned<Difference>],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut page, mut ours) = (page.to_vec(), ours.to_vec());
    let mut used = Vec::new();
    // The longest pairs first, so that a pair about a whole command is not broken up by a pair
    // about one of its flags.
    let mut places: Vec<(&str, Vec<String>, Vec<String>)> = differences
        .iter()
        .flat_map(|d| {
            d.value
                .places
                .iter()
                .map(|p| (d.value.id.as_str(), words(&p.page), words(&p.ours)))
        })
        .filter(|(_, p, o)| !(p.is_empty() && o.is_empty()))
        .collect();
    places.sort_by_key(|(_, p, o)| std::cmp::Reverse(p.len() + o.len()));
    for (id, p, o) in &places {
        loop {
            let at_page = if p.is_empty() {
                Some(0)
            } else {
                find(&page, p)
            };
            let at_ours = if o.is_empty() {
                Some(0)
            } else {
                find(&ours, o)
            };
            let (Some(ip), Some(io)) = (at_page, at_ours) else {
                break;
            };
            page.drain(ip..ip + p.len());
            ours.drain(io..io + o.len());
            if !used.iter().any(|u| u == id) {
                used.push(id.to_string());
            }
        }
    }
    let (mut page, mut ours) = (page, ours);
    page.sort();
    ours.sort();
    // Words on both sides cancel out (order does not matter: labels, flags).
    let (mut i, mut j) = (0, 0);
    let (mut page_only, mut ours_only) = (Vec::new(), Vec::new());
    while i < page.len() || j < ours.len() {
        match (page.get(i), ours.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                page_only.push(a.clone());
                i += 1;
            }
            (Some(_), Some(b)) => {
                ours_only.push(b.clone());
                j += 1;
            }
            (Some(a), None) => {
                page_only.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                ours_only.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (page_only, ours_only, used)
}

/// The recorded differences whose page words stand in `text` (prose, a comment, a YAML edit).
fn cited_in(text: &str, differences: &[&Spanned<Difference>]) -> Vec<String> {
    differences
        .iter()
        .filter(|d| {
            d.value
                .places
                .iter()
                .any(|p| !p.page.is_empty() && text.contains(&p.page))
        })
        .map(|d| d.value.id.clone())
        .collect()
}

/// The verdict on one page command against our commands of its tutorial step.
fn match_command(
    command: &PageCommand,
    previous: Option<&str>,
    ours: &[OurLine],
    differences: &[&Spanned<Difference>],
) -> (Option<String>, Verdict) {
    // Our commands of the same tutorial step, those of the step the page was just at first.
    let mut candidates: Vec<&OurLine> = ours
        .iter()
        .filter(|o| Some(o.doc.as_str()) == command.doc.as_deref())
        .collect();
    candidates.sort_by_key(|o| Some(o.step.as_str()) != previous);
    if command.kind == CommandKind::YamlEdit {
        let text = format!("{}\n{}", command.comments.join("\n"), command.text);
        let cited = cited_in(&text, differences);
        let step = candidates.first().map(|o| o.step.clone());
        return match cited.is_empty() {
            true => (
                step,
                Verdict::NotCovered(
                    "a YAML edit no step makes, and no recorded difference explains".into(),
                ),
            ),
            false => (step, Verdict::Differs(cited)),
        };
    }
    let texts = match &command.inside {
        Some(_) => vec![command.effective(), command.text.clone()],
        None => vec![command.text.clone()],
    };
    // A command we deliberately do not run: a recorded difference takes all of its words.
    let (page_only, _, skipped) = explain(&words(&command.text), &[], differences);
    if page_only.is_empty() && !skipped.is_empty() {
        return (None, Verdict::Differs(skipped));
    }
    let mut closest: Option<(usize, String, String)> = None;
    for text in &texts {
        let page = words(text);
        for o in &candidates {
            let (page_only, ours_only, used) = explain(&page, &words(&o.text), differences);
            if page_only.is_empty() && ours_only.is_empty() {
                let verdict = match used.is_empty() {
                    true => Verdict::Same,
                    false => Verdict::Differs(used),
                };
                return (Some(o.step.clone()), verdict);
            }
            let distance = page_only.len() + ours_only.len();
            if closest.as_ref().is_none_or(|(d, _, _)| distance < *d) {
                let why = format!(
                    "closest is step {}: the page has {:?} where we run {:?}",
                    o.step, page_only, ours_only
                );
                closest = Some((distance, o.step.clone(), why));
            }
        }
    }
    match closest {
        Some((_, step, why)) => (Some(step), Verdict::NotCovered(why)),
        None => (
            None,
            Verdict::NotCovered(format!(
                "no step of tutorial step {}",
                command.doc.as_deref().unwrap_or("(none)")
            )),
        ),
    }
}

/// Checks the page against our commands and the recorded differences.
pub fn check(page: &Page, ours: &[OurLine], differences: &[&Spanned<Difference>]) -> Report {
    let mut rows: Vec<Row> = Vec::new();
    let mut previous: Option<String> = None;
    for c in &page.commands {
        let (step, verdict) = match_command(c, previous.as_deref(), ours, differences);
        if step.is_some() {
            previous = step.clone();
        }
        rows.push(Row {
            line: c.line,
            page: c.text.clone(),
            step,
            verdict,
        });
    }
    // Prose and comments a recorded difference is about (e.g. "Wait 20 seconds").
    for (i, line) in page.lines.iter().enumerate() {
        if page.kinds[i] == LineKind::Command {
            continue;
        }
        let cited = cited_in(line, differences);
        if !cited.is_empty() {
            let step = page.docs[i]
                .as_deref()
                .and_then(|doc| ours.iter().find(|o| o.doc == doc))
                .map(|o| o.step.clone());
            rows.push(Row {
                line: i + 1,
                page: line.trim().trim_start_matches("# ").to_string(),
                step,
                verdict: Verdict::Differs(cited),
            });
        }
    }
    rows.sort_by_key(|r| r.line);
    let cited: BTreeSet<&String> = rows
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Differs(ids) => Some(ids),
            _ => None,
        })
        .flatten()
        .collect();
    let page_text = page.lines.join("\n");
    let mut stale = Vec::new();
    for d in differences {
        let at = format!("scenario line {}", d.referenced.line());
        let d = &d.value;
        for p in &d.places {
            if !p.page.is_empty() && !page_text.contains(&p.page) {
                stale.push(format!(
                    "[{}] ({at}) the page no longer says {:?}",
                    d.id, p.page
                ));
            }
            if !p.ours.is_empty() && !ours.iter().any(|o| o.text.contains(&p.ours)) {
                stale.push(format!("[{}] ({at}) we no longer run {:?}", d.id, p.ours));
            }
        }
        if !cited.contains(&d.id) {
            stale.push(format!("[{}] ({at}) explains no line of the page", d.id));
        }
    }
    let reasons = differences
        .iter()
        .filter(|d| cited.contains(&d.value.id))
        .map(|d| (d.value.id.clone(), d.value.why.clone()))
        .collect();
    Report {
        rows,
        stale,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_page;

    const PAGE: &str = "\
# Step 2: Check the audit logs

```bash
docker exec kind-control-plane cat /var/log/audit.log
```

# Step 3: Create the namespace

Wait 20 seconds, then:

```bash
kubectl create ns pod-security
kubectl label ns pod-security a=b
```
";

    fn differences(yaml: &str) -> Vec<Spanned<Difference>> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn ours() -> Vec<OurLine> {
        vec![
            OurLine::new(
                "audit",
                "2",
                "docker exec e2e-control-plane cat /var/log/audit.log   # expect: quiet",
            ),
            OurLine::new("ns", "3", "kubectl create ns pod-security"),
            OurLine::new("ns", "3", "kubectl label --overwrite ns pod-security a=b"),
        ]
    }

    const RECORDED: &str = "\
- id: cluster-name
  why: our own cluster
  where:
    - {page: kind-control-plane, ours: e2e-control-plane}
- id: overwrite
  why: labels may exist
  where:
    - {page: '', ours: --overwrite}
- id: wait
  why: we watch
  where:
    - {page: Wait 20 seconds, ours: ''}
";

    fn verdicts(report: &Report) -> Vec<(usize, Option<&str>, &Verdict)> {
        report
            .rows
            .iter()
            .map(|r| (r.line, r.step.as_deref(), &r.verdict))
            .collect()
    }

    #[test]
    fn each_page_command_is_same_or_differs_for_a_recorded_reason() {
        let d = differences(RECORDED);
        let d: Vec<&Spanned<Difference>> = d.iter().collect();
        let report = check(&doc_page::parse(PAGE), &ours(), &d);
        let differs = |ids: &[&str]| Verdict::Differs(ids.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            verdicts(&report),
            [
                (4, Some("audit"), &differs(&["cluster-name"])),
                (9, Some("ns"), &differs(&["wait"])),
                (12, Some("ns"), &Verdict::Same),
                (13, Some("ns"), &differs(&["overwrite"])),
            ]
        );
        assert!(report.passed(), "{}", report.table());
    }

    #[test]
    fn a_changed_value_on_the_page_is_not_covered_and_its_record_goes_stale() {
        let d = differences(RECORDED);
        let d: Vec<&Spanned<Difference>> = d.iter().collect();
        let page = PAGE
            .replace("kind-control-plane", "kind-worker")
            .replace("a=b", "a=c");
        let report = check(&doc_page::parse(&page), &ours(), &d);
        assert!(!report.passed());
        let Verdict::NotCovered(why) = &report.rows[0].verdict else {
            panic!("{}", report.table())
        };
        assert!(
            why.contains(r#"the page has ["kind-worker"] where we run ["e2e-control-plane"]"#),
            "{why}"
        );
        assert!(matches!(report.rows[3].verdict, Verdict::NotCovered(_)));
        assert!(
            report.stale.iter().any(|s| s.contains("[cluster-name]")
                && s.contains("the page no longer says \"kind-control-plane\"")),
            "{:?}",
            report.stale
        );
    }

    #[test]
    fn a_record_for_something_we_no_longer_run_is_stale() {
        let d = differences(&RECORDED.replace("ours: --overwrite", "ours: --force"));
        let d: Vec<&Spanned<Difference>> = d.iter().collect();
        let report = check(&doc_page::parse(PAGE), &ours(), &d);
        assert!(
            report
                .stale
                .iter()
                .any(|s| s.contains("[overwrite]") && s.contains("we no longer run \"--force\""))
        );
        assert!(matches!(report.rows[3].verdict, Verdict::NotCovered(_)));
    }

    #[test]
    fn words_treat_equals_and_short_namespace_as_kubectl_does() {
        assert_eq!(
            words("kind create cluster --image=kindest/node:v1.26.0 -n x 'a b'"),
            [
                "kind",
                "create",
                "cluster",
                "--image",
                "kindest/node:v1.26.0",
                "--namespace",
                "x",
                "a b"
            ]
        );
    }
}
