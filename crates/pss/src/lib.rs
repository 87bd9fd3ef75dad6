//! Offline Pod Security Standards evaluator.
//!
//! Given pod specs (Pods, workload templates, KubeRay RayCluster/RayJob/RayService), says which
//! Pod Security checks fail, worded exactly as kube-apiserver's Pod Security admission words them
//! (`k8s.io/pod-security-admission`), for a chosen apiserver build (see [`Evaluator`]).
//!
//! ```
//! use pss::{Evaluator, LevelVersion};
//! let pod = serde_json::json!({"spec": {"containers": [{"name": "c"}]}});
//! let lv: LevelVersion = "baseline:latest".parse().unwrap();
//! assert!(Evaluator::newest().evaluate_pod(&lv, &pod).allowed());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checks;
mod eval;
mod go;
mod policy;
mod templates;
mod version;
mod yaml;

pub use eval::{
    CheckFailure, EnforceRejection, EvalOptions, Evaluator, NEWEST_SERVER_MINOR,
    OLDEST_SERVER_MINOR, Verdict, enforce_message, parse_enforce_message, violates_message,
    would_violate_message,
};
pub use go::{go_quote, parse_go_quoted};
pub use policy::{
    AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL, AUDIT_VIOLATIONS_ANNOTATION, ENFORCE_LEVEL_LABEL,
    ENFORCE_POLICY_ANNOTATION, ENFORCE_VERSION_LABEL, Level, LevelVersion, NamespacePolicy,
    ParseError, PolicyVersion, WARN_LEVEL_LABEL, WARN_VERSION_LABEL,
};
pub use templates::{PodTemplate, TemplateOptions, pod_templates};
pub use version::{KubeVersion, VersionError};
pub use yaml::{Entry, InputError, evaluate_yaml, render_text};

/// IDs of every check modelled, in message order (baseline, then restricted; each sorted).
pub fn check_ids() -> Vec<&'static str> {
    checks::CHECKS.iter().map(|c| c.id).collect()
}
