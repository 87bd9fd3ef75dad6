//! Evaluates every upstream PSA fixture and prints how long it took.
//!
//! `cargo run --release -p pss --example conformance_timing`
//! (optionally pass the fixtures directory as the first argument).

use std::path::{Path, PathBuf};
use std::time::Instant;

use pss::{Evaluator, Level, LevelVersion, PolicyVersion};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/pod-security-admission")
        });
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();

    let start = Instant::now();
    // (level:version, expected allowed, text)
    let mut inputs = Vec::with_capacity(files.len());
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        let parts: Vec<&str> = rel.iter().filter_map(|s| s.to_str()).collect();
        let [level, version, outcome, _] = parts[..] else {
            continue;
        };
        let (Ok(level), Ok(version)) = (level.parse::<Level>(), version.parse::<PolicyVersion>())
        else {
            continue;
        };
        match std::fs::read_to_string(f) {
            Ok(text) => inputs.push((LevelVersion::new(level, version), outcome == "pass", text)),
            Err(e) => eprintln!("{}: {e}", f.display()),
        }
    }
    let read = start.elapsed();

    let parse_start = Instant::now();
    let mut pods = Vec::with_capacity(inputs.len());
    for (lv, pass, text) in &inputs {
        match serde_saphyr::from_str::<serde_json::Value>(text) {
            Ok(v) => pods.push((*lv, *pass, v)),
            Err(e) => eprintln!("parse error: {e}"),
        }
    }
    let parse = parse_start.elapsed();

    let eval_start = Instant::now();
    let evaluator = Evaluator::newest();
    let mut agree = 0usize;
    let mut detail_bytes = 0usize;
    for (lv, pass, pod) in &pods {
        let verdict = evaluator.evaluate_pod(lv, pod);
        detail_bytes += verdict.forbidden_detail().len();
        if verdict.allowed() == *pass {
            agree += 1;
        }
    }
    let eval = eval_start.elapsed();

    println!(
        "fixtures: {} files, {} evaluated, {} as expected",
        files.len(),
        pods.len(),
        agree
    );
    println!("read:     {:>9.3} ms", read.as_secs_f64() * 1e3);
    println!(
        "parse:    {:>9.3} ms (YAML -> JSON value)",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "evaluate: {:>9.3} ms (checks + rendered detail, {detail_bytes} bytes)",
        eval.as_secs_f64() * 1e3
    );
    println!("total:    {:>9.3} ms", start.elapsed().as_secs_f64() * 1e3);
    if agree != pods.len() {
        std::process::exit(1);
    }
}
