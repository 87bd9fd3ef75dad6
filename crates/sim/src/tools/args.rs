//! Helpers every fake tool shares: pflag-style argument parsing, where the kubeconfig is, relative
//! paths against the caller's CWD, node-container paths on the host, Go durations and Go-style
//! I/O error texts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::invocation::Invocation;

/// Positional arguments and flag values (repeatable flags keep every value).
pub type ParsedArgs = (Vec<String>, BTreeMap<String, Vec<String>>);

/// Minimal pflag-style parsing: `--flag value`, `--flag=value`, positional args.
pub fn parse_flags(
    args: &[String],
    with_value: &[&str],
    bools: &[&str],
) -> Result<ParsedArgs, String> {
    let mut pos = vec![];
    let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            pos.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(f) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-').filter(|f| f.len() == 1))
        {
            let (name, inline) = match f.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (f.to_string(), None),
            };
            if with_value.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("flag needs an argument: --{name}"))?
                    }
                };
                flags.entry(name).or_default().push(v);
            } else if bools.contains(&name.as_str()) {
                flags
                    .entry(name)
                    .or_default()
                    .push(inline.unwrap_or_else(|| "true".into()));
            } else {
                return Err(format!("unknown flag: {a}"));
            }
        } else {
            pos.push(a.clone());
        }
        i += 1;
    }
    Ok((pos, flags))
}

pub fn flag<'a>(flags: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    flags.get(name).and_then(|v| v.last()).map(String::as_str)
}

pub fn resolve(cwd: &str, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(cwd).join(p)
    }
}

pub fn kubeconfig_path(inv: &Invocation, explicit: Option<&str>) -> PathBuf {
    if let Some(k) = explicit.filter(|k| !k.is_empty()) {
        return resolve(&inv.cwd, k);
    }
    if let Some(k) = inv.env.get("KUBECONFIG").filter(|k| !k.is_empty()) {
        return resolve(&inv.cwd, k.split(':').next().unwrap_or(k));
    }
    PathBuf::from(
        inv.env
            .get("HOME")
            .cloned()
            .unwrap_or_else(|| "/root".into()),
    )
    .join(".kube/config")
}

pub fn to_vec(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// Map a path inside the node container to the host: extraMounts first, else the node's rootfs.
pub fn node_path_to_host(c_mounts: &[(String, PathBuf)], node_root: &Path, p: &str) -> PathBuf {
    for (cp, hp) in c_mounts {
        if p == cp {
            return hp.clone();
        }
        if let Some(rest) = p.strip_prefix(&format!("{}/", cp.trim_end_matches('/'))) {
            return hp.join(rest);
        }
    }
    node_root.join(p.trim_start_matches('/'))
}

/// `90s`, `5m`, `1m30s`, `900ms` (Go's time.ParseDuration subset).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += n * unit;
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        to_vec(a)
    }

    #[test]
    fn flags_take_values_inline_or_next_and_keep_repeats() {
        let (pos, flags) = parse_flags(
            &args(&[
                "rel",
                "--values",
                "a.yaml",
                "-f",
                "b.yaml",
                "--values=c.yaml",
                "chart",
            ]),
            &["values", "f"],
            &[],
        )
        .unwrap();
        assert_eq!(pos, ["rel", "chart"]);
        assert_eq!(flags["values"], ["a.yaml", "c.yaml"]);
        assert_eq!(flag(&flags, "values"), Some("c.yaml"));
        assert_eq!(flag(&flags, "f"), Some("b.yaml"));
    }

    #[test]
    fn bool_flags_default_to_true_and_double_dash_ends_flags() {
        let (pos, flags) = parse_flags(
            &args(&["--wait", "--debug=false", "--", "--not-a-flag"]),
            &[],
            &["wait", "debug"],
        )
        .unwrap();
        assert_eq!(flag(&flags, "wait"), Some("true"));
        assert_eq!(flag(&flags, "debug"), Some("false"));
        assert_eq!(pos, ["--not-a-flag"]);
    }

    #[test]
    fn unknown_flags_and_missing_values_are_errors() {
        assert_eq!(
            parse_flags(&args(&["--nope"]), &["name"], &[]),
            Err("unknown flag: --nope".to_string())
        );
        assert_eq!(
            parse_flags(&args(&["--name"]), &["name"], &[]),
            Err("flag needs an argument: --name".to_string())
        );
        // Only single-letter flags take one dash.
        assert_eq!(
            parse_flags(&args(&["-name", "x"]), &["name"], &[])
                .unwrap()
                .0,
            ["-name", "x"]
        );
    }

    #[test]
    fn kubeconfig_comes_from_the_flag_then_kubeconfig_env_then_home() {
        let mut inv = Invocation {
            tool: "kind".into(),
            args: vec![],
            cwd: "/work".into(),
            env: Default::default(),
        };
        inv.env.insert("HOME".into(), "/home/u".into());
        assert_eq!(
            kubeconfig_path(&inv, None),
            PathBuf::from("/home/u/.kube/config")
        );
        inv.env.insert("KUBECONFIG".into(), "kc1:kc2".into());
        assert_eq!(kubeconfig_path(&inv, None), PathBuf::from("/work/kc1"));
        assert_eq!(
            kubeconfig_path(&inv, Some("/abs/kc")),
            PathBuf::from("/abs/kc")
        );
        assert_eq!(kubeconfig_path(&inv, Some("")), PathBuf::from("/work/kc1"));
    }

    #[test]
    fn node_paths_go_through_extra_mounts_first() {
        let mounts = vec![("/etc/policies".to_string(), PathBuf::from("/host/pol"))];
        let root = Path::new("/state/node");
        assert_eq!(
            node_path_to_host(&mounts, root, "/etc/policies/audit.yaml"),
            PathBuf::from("/host/pol/audit.yaml")
        );
        assert_eq!(
            node_path_to_host(&mounts, root, "/etc/policies"),
            PathBuf::from("/host/pol")
        );
        assert_eq!(
            node_path_to_host(&mounts, root, "/etc/policies-other/x"),
            PathBuf::from("/state/node/etc/policies-other/x")
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("900ms"), Some(Duration::from_millis(900)));
        assert_eq!(parse_go_duration("5"), None);
    }
}
