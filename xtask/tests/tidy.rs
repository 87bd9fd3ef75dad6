//! Repository hygiene as tests (rust-analyzer's `tidy.rs` idea): every source file says what it
//! is for, no file grows past 900 lines, and no two modules of a crate import each other, directly
//! or through others (a module's own `#[cfg(test)] mod tests` does not count).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

const CRATES: [&str; 3] = ["xtask/src", "crates/pss/src", "crates/sim/src"];
const MAX_LINES: usize = 900;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `steps/exec.rs` → `steps::exec`; `steps/mod.rs` → `steps`; `main.rs`/`lib.rs` → `crate`.
fn module_name(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [one] if one == "main" || one == "lib" => "crate".into(),
        _ => parts.join("::"),
    }
}

/// The code of a file without its unit tests.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// The modules a module refers to through `crate::…` and `super::…` paths (groups included).
fn references(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut out = BTreeSet::new();
    for (base, prefix) in [("crate::", String::new()), ("super::", parent.to_string())] {
        for (start, _) in text.match_indices(base) {
            let rest = &text[start + base.len()..];
            // The path, or the `{…}` group it opens, up to the end of the item.
            let end = rest
                .find([';', '(', ')', '<', ' ', '\n', ','])
                .unwrap_or(rest.len());
            let end = if rest.starts_with('{') {
                rest.find("};").map_or(end, |e| e + 1)
            } else {
                end
            };
            let words = rest[..end]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .filter(|w| !w.is_empty());
            for word in words {
                let parts: Vec<&str> = word.split("::").filter(|p| !p.is_empty()).collect();
                for k in (1..=parts.len()).rev() {
                    let path = parts[..k].join("::");
                    let candidate = if prefix.is_empty() {
                        path
                    } else {
                        format!("{prefix}::{path}")
                    };
                    if modules.contains(&candidate) {
                        if candidate != module {
                            out.insert(candidate);
                        }
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in &s.edges[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let src = repo().join(krate);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let texts: BTreeMap<String, String> = files
            .iter()
            .map(|f| (module_name(&src, f), std::fs::read_to_string(f).unwrap()))
            .collect();
        let modules: BTreeSet<String> = texts.keys().cloned().collect();
        let edges: BTreeMap<String, BTreeSet<String>> = texts
            .iter()
            .map(|(m, text)| (m.clone(), references(m, without_tests(text), &modules)))
            .collect();
        let found = cycles(&edges);
        assert!(found.is_empty(), "{krate}: import cycles: {found:?}");
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d::e"].map(String::from).into();
    let refs = |m: &str, text: &str| references(m, text, &modules);
    assert_eq!(
        refs(
            "a",
            "use crate::{b::X, d::e::{f, g}};\nfn x() { super::c::y() }"
        ),
        ["b", "c", "d::e"].map(String::from).into(),
        "in a top-level module, super:: is the crate"
    );
    assert!(
        refs("d::e", "use super::e::X;").is_empty(),
        "a module's own items are no edge"
    );
    assert_eq!(
        refs("d::e", "crate::a::f();"),
        ["a"].map(String::from).into()
    );
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", refs("a", "use crate::b;")),
        ("b", refs("b", "use crate::c::x;")),
        ("c", refs("c", "crate::a::f();")),
        ("d::e", refs("d::e", "use crate::a;")),
    ]
    .map(|(m, e)| (m.to_string(), e))
    .into();
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3, "{found:?}");
}

#[test]
fn every_source_file_says_what_it_is_for_and_stays_short() {
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&repo().join(krate), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} does not begin with a //! line saying what it is for",
                f.display()
            );
            let lines = text.lines().count();
            assert!(
                lines <= MAX_LINES,
                "{} has {lines} lines; split it (at most {MAX_LINES})",
                f.display()
            );
        }
    }
}
