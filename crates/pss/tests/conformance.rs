//! Upstream PSA fixtures: every `<level>/v1.N/pass/*.yaml` must be allowed and every `fail/*.yaml`
//! denied at `<level>:v1.N` by the newest modelled apiserver, with the expected wording.

use std::fs;
use std::path::{Path, PathBuf};

use pss::{Evaluator, Level, LevelVersion, PolicyVersion};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/pod-security-admission")
}

/// Expected substring in the rendered detail for a fixture named after `check` (lowercased ID).
fn expected_substring(check: &str) -> Option<&'static str> {
    Some(match check {
        "apparmorprofile" => "forbidden AppArmor profile",
        "capabilities_baseline" => "capabilities",
        "capabilities_restricted" => "unrestricted capabilities",
        "hostnamespaces" => "host namespaces",
        "hostpathvolumes" => "hostPath",
        "hostports" => "hostPort",
        "hostprobesandhostlifecycle" => "probe or lifecycle host",
        "procmount" | "procmount_restricted" => "procMount",
        "restrictedvolumes" => "restricted volume types",
        "selinuxoptions" => "seLinuxOptions",
        "seccompprofile_baseline" | "seccompprofile_restricted" => "seccompProfile",
        "sysctls" => "forbidden sysctl",
        "windowshostprocess" => "hostProcess",
        "allowprivilegeescalation" => "allowPrivilegeEscalation",
        "privileged" => "privileged",
        "runasnonroot" => "runAsNonRoot",
        "runasuser" => "runAsUser",
        _ => return None,
    })
}

#[test]
fn upstream_fixtures() {
    let root = fixtures_root();
    let evaluator = Evaluator::newest();
    let mut total = 0usize;
    let mut mismatches = Vec::new();
    for level_name in ["baseline", "restricted"] {
        let level: Level = level_name.parse().unwrap();
        let level_dir = root.join(level_name);
        let mut versions: Vec<_> = fs::read_dir(&level_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", level_dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        versions.sort();
        for vdir in versions {
            let vname = vdir.file_name().unwrap().to_str().unwrap().to_string();
            let version: PolicyVersion =
                vname.parse().unwrap_or_else(|_| panic!("bad dir {vname}"));
            let lv = LevelVersion::new(level, version);
            for outcome in ["pass", "fail"] {
                let dir = vdir.join(outcome);
                let Ok(rd) = fs::read_dir(&dir) else { continue };
                let mut files: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
                files.sort();
                for file in files {
                    if file.extension().and_then(|e| e.to_str()) != Some("yaml") {
                        continue;
                    }
                    total += 1;
                    let rel = file.strip_prefix(&root).unwrap().display().to_string();
                    let text = fs::read_to_string(&file).unwrap();
                    let pod: serde_json::Value = match serde_saphyr::from_str(&text) {
                        Ok(v) => v,
                        Err(e) => {
                            mismatches.push(format!("{rel}: parse error {e}"));
                            continue;
                        }
                    };
                    let verdict = evaluator.evaluate_pod(&lv, &pod);
                    let detail = verdict.forbidden_detail();
                    if outcome == "pass" {
                        if !verdict.allowed() {
                            mismatches.push(format!("{rel}: expected allowed, got: {detail}"));
                        }
                        continue;
                    }
                    if verdict.allowed() {
                        mismatches.push(format!("{rel}: expected denied, got allowed"));
                        continue;
                    }
                    if detail.contains("unknown forbidden reason") {
                        mismatches.push(format!("{rel}: unknown forbidden reason: {detail}"));
                    }
                    let stem = file.file_stem().unwrap().to_str().unwrap();
                    let check = stem.trim_end_matches(|c: char| c.is_ascii_digit());
                    match expected_substring(check) {
                        Some(s) if detail.contains(s) => {}
                        Some(s) => mismatches.push(format!("{rel}: detail lacks {s:?}: {detail}")),
                        None => {
                            mismatches.push(format!("{rel}: no expectation for check {check:?}"))
                        }
                    }
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {total} fixtures mismatched:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(
        total,
        4537,
        "fixture count (is {} complete?)",
        root.display()
    );
}
