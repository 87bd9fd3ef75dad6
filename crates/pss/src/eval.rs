//! Evaluator, verdicts and the apiserver's message formats.

use serde_json::Value;

use crate::checks::{Ctx, PodView, active_checks};
use crate::go::{go_quote, parse_go_quoted};
use crate::policy::{LevelVersion, PolicyVersion};

/// Oldest apiserver build modelled (Pod Security admission appeared in Kubernetes 1.22).
pub const OLDEST_SERVER_MINOR: u32 = 22;
/// Newest apiserver build modelled (the PSA library's development head, Kubernetes 1.37).
pub const NEWEST_SERVER_MINOR: u32 = 37;

/// Which apiserver build evaluates: decides what `latest` means (the newest policy version
/// that build knows, e.g. server minor 26 -> v1.25 rules), clamps newer requested versions,
/// and selects build-dependent behaviour (AppArmor wording before 1.30, `image` volumes from 1.33).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluator {
    build: u32,
    max_version: u32,
}

/// Options for [`Evaluator::evaluate_pod_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// The object is a pod *template* of a workload resource (Deployment, Job, …) rather than a
    /// Pod. Only changes API defaulting: with `hostNetwork: true`, `hostPort` defaults to
    /// `containerPort` on Pods always, but on templates only for apiservers up to 1.27
    /// (`DefaultHostNetworkHostPortsInPodTemplates`). Leave `false` to predict what happens to
    /// the pods a controller creates from the template.
    pub template: bool,
}

impl Evaluator {
    /// The evaluator of a Kubernetes `1.<minor>` apiserver. Minors outside the modelled range
    /// (22..=37) are clamped to it.
    pub fn for_server_minor(minor: u32) -> Evaluator {
        let build = minor.clamp(OLDEST_SERVER_MINOR, NEWEST_SERVER_MINOR);
        // Newest MinimumVersion among the checks shipped with that build.
        let max_version = match build {
            37.. => 37,
            35 | 36 => 35,
            34 => 34,
            32 | 33 => 32,
            31 => 31,
            29 | 30 => 29,
            27 | 28 => 27,
            25 | 26 => 25,
            23 | 24 => 23,
            _ => 22,
        };
        Evaluator { build, max_version }
    }

    /// The evaluator of the API server that reports `version` (see [`Evaluator::for_server_minor`]).
    pub fn for_server(version: crate::KubeVersion) -> Evaluator {
        Evaluator::for_server_minor(version.minor)
    }

    /// The newest build modelled (1.37).
    pub fn newest() -> Evaluator {
        Evaluator::for_server_minor(NEWEST_SERVER_MINOR)
    }

    /// The server minor this evaluator models (after clamping).
    pub fn server_minor(&self) -> u32 {
        self.build
    }

    /// Minor of the rule set actually used for `v`: `latest` and versions newer than the build
    /// map to the build's newest policy version.
    pub fn effective_version(&self, v: PolicyVersion) -> u32 {
        match v {
            PolicyVersion::Latest => self.max_version,
            PolicyVersion::V1(m) => m.min(self.max_version),
        }
    }

    /// Evaluates a Pod or PodTemplateSpec (`{"metadata": …, "spec": …}`) against `lv`, after
    /// applying the API defaulting that matters to Pod Security (see [`EvalOptions`]).
    pub fn evaluate_pod(&self, lv: &LevelVersion, pod: &Value) -> Verdict {
        self.evaluate_pod_with(lv, pod, &EvalOptions::default())
    }

    /// Like [`Evaluator::evaluate_pod`], with options.
    pub fn evaluate_pod_with(&self, lv: &LevelVersion, pod: &Value, opts: &EvalOptions) -> Verdict {
        let version = self.effective_version(lv.version);
        let host_port_defaulting = !opts.template || self.build <= 27;
        let ctx = Ctx {
            pod: PodView::new(pod, host_port_defaulting),
            version,
            build: self.build,
        };
        let failures = active_checks(lv.level, version)
            .into_iter()
            .filter_map(|check| {
                (check.run)(&ctx).map(|(reason, detail)| CheckFailure {
                    check_id: check.id,
                    reason,
                    detail,
                })
            })
            .collect();
        Verdict { failures }
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator::newest()
    }
}

/// The result of evaluating one pod: the failing checks in apiserver order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Failing checks: baseline checks (sorted by ID), then restricted checks (sorted by ID).
    pub failures: Vec<CheckFailure>,
}

/// One failing check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// Check ID, e.g. `runAsNonRoot`, `capabilities_restricted`.
    pub check_id: &'static str,
    /// Short reason, e.g. `runAsNonRoot != true`.
    pub reason: String,
    /// Detail, e.g. `pod or container "c" must set securityContext.runAsNonRoot=true`.
    pub detail: String,
}

impl Verdict {
    /// True when no check failed.
    pub fn allowed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `R1 (D1), R2 (D2)` — the text after `violates PodSecurity "…": ` (empty details are omitted).
    pub fn forbidden_detail(&self) -> String {
        let mut out = String::new();
        for (i, f) in self.failures.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(if f.reason.is_empty() {
                "unknown forbidden reason"
            } else {
                &f.reason
            });
            if !f.detail.is_empty() {
                out.push_str(" (");
                out.push_str(&f.detail);
                out.push(')');
            }
        }
        out
    }

    /// `R1, R2` — reasons only (used in namespace-label warnings).
    pub fn forbidden_reasons(&self) -> String {
        self.failures
            .iter()
            .map(|f| f.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The enforce rejection: `pods "NAME" is forbidden: violates PodSecurity "restricted:latest": <detail>`
/// (`pods is forbidden: …` when `pod_name` is empty).
pub fn enforce_message(pod_name: &str, lv: &LevelVersion, detail: &str) -> String {
    if pod_name.is_empty() {
        format!("pods is forbidden: {}", violates(lv, detail))
    } else {
        format!(
            "pods {} is forbidden: {}",
            go_quote(pod_name),
            violates(lv, detail)
        )
    }
}

fn violates(lv: &LevelVersion, detail: &str) -> String {
    format!(
        "violates PodSecurity {}: {detail}",
        go_quote(&lv.to_string())
    )
}

/// `violates PodSecurity "restricted:latest": <detail>` (the error text inside the enforce message).
pub fn violates_message(lv: &LevelVersion, detail: &str) -> String {
    violates(lv, detail)
}

/// `would violate PodSecurity "restricted:latest": <detail>` — the warning text and the value of
/// the `pod-security.kubernetes.io/audit-violations` audit annotation.
pub fn would_violate_message(lv: &LevelVersion, detail: &str) -> String {
    format!(
        "would violate PodSecurity {}: {detail}",
        go_quote(&lv.to_string())
    )
}

/// An enforce rejection as the apiserver words it, parsed: `pods "NAME" is forbidden: violates
/// PodSecurity "restricted:latest": <detail>`. Its [`Display`](std::fmt::Display) writes the
/// message back exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnforceRejection {
    /// The pod's name; empty for `pods is forbidden: …` (a pod created with `generateName`
    /// before the name was set, or a dry run).
    pub pod: String,
    /// The namespace's enforce policy that rejected it.
    pub policy: LevelVersion,
    /// What was violated, e.g. `allowPrivilegeEscalation != false (container "c" must set …)`.
    pub detail: String,
}

impl std::fmt::Display for EnforceRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&enforce_message(&self.pod, &self.policy, &self.detail))
    }
}

/// Parses an enforce message back into its parts.
///
/// Accepts the bare apiserver message, optionally preceded by kubectl's
/// `Error from server (Forbidden): ` prefix, and ignores a trailing newline. `None` when the
/// text is not a Pod Security enforce rejection.
pub fn parse_enforce_message(msg: &str) -> Option<EnforceRejection> {
    let msg = msg.trim_end_matches(['\n', '\r']);
    let msg = msg
        .strip_prefix("Error from server (Forbidden): ")
        .unwrap_or(msg);
    let rest = msg.strip_prefix("pods ")?;
    let (pod, rest) = if let Some(r) = rest.strip_prefix("is forbidden: ") {
        (String::new(), r)
    } else {
        let (name, after) = parse_go_quoted(rest)?;
        (name, after.strip_prefix(" is forbidden: ")?)
    };
    let rest = rest.strip_prefix("violates PodSecurity ")?;
    let (policy, rest) = parse_go_quoted(rest)?;
    let detail = rest.strip_prefix(": ")?;
    Some(EnforceRejection {
        pod,
        policy: policy.parse().ok()?,
        detail: detail.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_rendering() {
        let v = Verdict {
            failures: vec![
                CheckFailure {
                    check_id: "a",
                    reason: "r1".into(),
                    detail: "d1".into(),
                },
                CheckFailure {
                    check_id: "b",
                    reason: "r2".into(),
                    detail: String::new(),
                },
                CheckFailure {
                    check_id: "c",
                    reason: String::new(),
                    detail: "d3".into(),
                },
            ],
        };
        assert_eq!(
            v.forbidden_detail(),
            "r1 (d1), r2, unknown forbidden reason (d3)"
        );
        assert_eq!(v.forbidden_reasons(), "r1, r2, ");
        assert!(!v.allowed());
        assert!(Verdict::default().allowed());
    }
}
