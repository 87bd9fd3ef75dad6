//! Levels, policy versions and namespace label resolution (mirrors PSA `api/helpers.go`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Minimally restrictive policy preventing known privilege escalations.
    Baseline,
    /// Heavily restricted, following pod hardening best practices.
    Restricted,
}

impl Level {
    /// The label value: `privileged`, `baseline` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a level or version string cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The rejected input.
    pub input: String,
    /// Why it was rejected, worded like the apiserver (`must be one of privileged, baseline, restricted`).
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for ParseError {}

const LEVEL_ERROR: &str = "must be one of privileged, baseline, restricted";
const VERSION_ERROR: &str = "must be \"latest\" or \"v1.x\"";

impl FromStr for Level {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(ParseError {
                input: s.to_string(),
                reason: LEVEL_ERROR,
            }),
        }
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// The newest rule set known to the evaluating apiserver build.
    Latest,
    /// `v1.<minor>`.
    V1(u32),
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyVersion::Latest => f.write_str("latest"),
            PolicyVersion::V1(m) => write!(f, "v1.{m}"),
        }
    }
}

impl FromStr for PolicyVersion {
    type Err = ParseError;
    /// Accepts `latest` or `^v1\.(0|[1-9][0-9]*)$` like the apiserver.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(PolicyVersion::Latest);
        }
        let err = || ParseError {
            input: s.to_string(),
            reason: VERSION_ERROR,
        };
        let digits = s.strip_prefix("v1.").ok_or_else(err)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(err());
        }
        digits
            .parse::<u32>()
            .map(PolicyVersion::V1)
            .map_err(|_| err())
    }
}

/// A level together with a version, printed as `restricted:latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// The version.
    pub version: PolicyVersion,
}

impl LevelVersion {
    /// Convenience constructor.
    pub fn new(level: Level, version: PolicyVersion) -> Self {
        LevelVersion { level, version }
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

impl FromStr for LevelVersion {
    type Err = ParseError;
    /// Parses `level:version` (e.g. `restricted:v1.26`); a bare level means `level:latest`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((l, v)) => Ok(LevelVersion {
                level: l.parse()?,
                version: v.parse()?,
            }),
            None => Ok(LevelVersion {
                level: s.parse()?,
                version: PolicyVersion::Latest,
            }),
        }
    }
}

/// Namespace label keys.
pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// Namespace label key for the enforce version.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
/// Namespace label key for the audit level.
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
/// Namespace label key for the audit version.
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
/// Namespace label key for the warn level.
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
/// Namespace label key for the warn version.
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// Audit annotation that Pod Security admission adds to every pod it evaluates: the enforce
/// policy it applied, e.g. `restricted:latest`.
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
/// Audit annotation it adds when the namespace's audit policy is violated: the
/// `would violate PodSecurity …` text.
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";

/// The three effective policies of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePolicy {
    /// Enforce policy (pods violating it are rejected).
    pub enforce: LevelVersion,
    /// Audit policy (violations are recorded as the `audit-violations` audit annotation).
    pub audit: LevelVersion,
    /// Warn policy (violations are returned as warnings).
    pub warn: LevelVersion,
    /// Label parse problems, worded like the apiserver's field errors.
    pub errors: Vec<String>,
}

impl NamespacePolicy {
    /// Resolves namespace labels like PSA's `PolicyToEvaluate` with the built-in defaults
    /// (`privileged:latest` for all modes): an unparsable enforce level fails closed
    /// (`restricted`), unparsable audit/warn levels fail open (`privileged`), an unparsable
    /// version means `latest`; when only `enforce` is labelled (no `warn`) and it is stricter
    /// than warn, warn takes the enforce level (and version unless `warn-version` is set).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> NamespacePolicy {
        let default = LevelVersion::new(Level::Privileged, PolicyVersion::Latest);
        let mut errors = Vec::new();
        // Same order as the apiserver: enforce, enforce-version, audit, audit-version, warn, warn-version.
        let enforce_level =
            level_label(labels, ENFORCE_LEVEL_LABEL, Level::Restricted, &mut errors);
        let enforce_version = version_label(labels, ENFORCE_VERSION_LABEL, &mut errors);
        let audit_level = level_label(labels, AUDIT_LEVEL_LABEL, Level::Privileged, &mut errors);
        let audit_version = version_label(labels, AUDIT_VERSION_LABEL, &mut errors);
        let warn_level = level_label(labels, WARN_LEVEL_LABEL, Level::Privileged, &mut errors);
        let warn_version = version_label(labels, WARN_VERSION_LABEL, &mut errors);

        let mut p = NamespacePolicy {
            enforce: LevelVersion::new(
                enforce_level.unwrap_or(default.level),
                enforce_version.unwrap_or(default.version),
            ),
            audit: LevelVersion::new(
                audit_level.unwrap_or(default.level),
                audit_version.unwrap_or(default.version),
            ),
            warn: LevelVersion::new(
                warn_level.unwrap_or(default.level),
                warn_version.unwrap_or(default.version),
            ),
            errors,
        };
        // Default warn to the enforce level when enforce is explicitly set stricter (PSA >= v0.26).
        if warn_level.is_none() && enforce_level.is_some() && p.enforce.level > p.warn.level {
            p.warn.level = p.enforce.level;
            if warn_version.is_none() {
                p.warn.version = p.enforce.version;
            }
        }
        p
    }
}

/// Parses a level label; on error records it and returns `fallback` (fail closed / open).
fn level_label(
    labels: &BTreeMap<String, String>,
    key: &str,
    fallback: Level,
    errors: &mut Vec<String>,
) -> Option<Level> {
    labels.get(key).map(|v| {
        v.parse::<Level>().unwrap_or_else(|e| {
            errors.push(field_invalid(key, v, e.reason));
            fallback
        })
    })
}

/// Parses a version label; on error records it and returns `latest`.
fn version_label(
    labels: &BTreeMap<String, String>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<PolicyVersion> {
    labels.get(key).map(|v| {
        v.parse::<PolicyVersion>().unwrap_or_else(|e| {
            errors.push(field_invalid(key, v, e.reason));
            PolicyVersion::Latest
        })
    })
}

fn field_invalid(key: &str, value: &str, reason: &str) -> String {
    format!(
        "metadata.labels[{key}]: Invalid value: {}: {reason}",
        crate::go::go_quote(value)
    )
}
