//! Pod Security: the namespace's policy from its labels, and offline predictions (crate `pss`) of
//! what the API server will admit or reject, worded as it words them.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use pss::{Evaluator, KubeVersion, LevelVersion, NamespacePolicy, TemplateOptions};

/// The enforce policy Pod Security admission applies in a namespace with these labels.
pub fn enforce_policy(labels: &BTreeMap<String, String>) -> LevelVersion {
    NamespacePolicy::from_labels(labels).enforce
}

/// The predicted verdict for one pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePrediction {
    pub kind: String,
    pub name: String,
    /// e.g. `spec.headGroupSpec.template`.
    pub template: String,
    /// The forbidden detail (`R1 (D1), R2 (D2)`), or None when the pod would be admitted.
    pub detail: Option<String>,
}

impl TemplatePrediction {
    pub fn describe(&self) -> String {
        match &self.detail {
            None => format!("{} {} {}: allowed", self.kind, self.name, self.template),
            Some(d) => format!(
                "{} {} {}: forbidden: {d}",
                self.kind, self.name, self.template
            ),
        }
    }
}

/// The evaluator of an API server of `version`; the newest rules modelled when it is unknown.
pub fn evaluator(version: Option<KubeVersion>) -> Evaluator {
    version
        .map(Evaluator::for_server)
        .unwrap_or_else(Evaluator::newest)
}

/// Predicts every pod template in `objects`, as pods created from them would be evaluated by an
/// API server of `server` (its version) under `policy`.
pub fn predict(
    objects: &[DynamicObject],
    server: Option<KubeVersion>,
    policy: &LevelVersion,
) -> Vec<TemplatePrediction> {
    let evaluator = evaluator(server);
    let mut out = Vec::new();
    for obj in objects {
        let Ok(value) = serde_json::to_value(obj) else {
            continue;
        };
        for t in pss::pod_templates(&value, &TemplateOptions::default()) {
            let verdict = evaluator.evaluate_pod(policy, &t.pod);
            out.push(TemplatePrediction {
                kind: t.kind,
                name: t.name,
                template: t.path,
                detail: (!verdict.allowed()).then(|| verdict.forbidden_detail()),
            });
        }
    }
    out
}

/// The template KubeRay builds a RayCluster's head pod from.
pub const HEAD_TEMPLATE: &str = "spec.headGroupSpec.template";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::HEAD_DETAIL;

    fn manifest(name: &str) -> Vec<DynamicObject> {
        crate::manifest::read(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../manifests")
                .join(name),
        )
        .unwrap()
    }

    fn restricted_latest() -> LevelVersion {
        let labels = BTreeMap::from([
            (
                "pod-security.kubernetes.io/enforce".to_string(),
                "restricted".to_string(),
            ),
            (
                "pod-security.kubernetes.io/enforce-version".to_string(),
                "latest".to_string(),
            ),
        ]);
        enforce_policy(&labels)
    }

    #[test]
    fn unlabelled_namespaces_are_privileged() {
        assert_eq!(
            enforce_policy(&BTreeMap::new()).to_string(),
            "privileged:latest"
        );
        assert_eq!(restricted_latest().to_string(), "restricted:latest");
    }

    #[test]
    fn the_complete_cluster_is_predicted_forbidden_with_the_tutorials_reasons() {
        let p = predict(
            &manifest("ray-cluster.complete.yaml"),
            Some(KubeVersion::new(1, 26)),
            &restricted_latest(),
        );
        let head = p.iter().find(|t| t.template == HEAD_TEMPLATE).unwrap();
        assert_eq!(head.detail.as_deref(), Some(HEAD_DETAIL));
        let worker = p
            .iter()
            .find(|t| t.template == "spec.workerGroupSpecs[0].template")
            .unwrap();
        assert!(
            worker
                .detail
                .as_deref()
                .unwrap()
                .contains(r#"containers "wait-gcs-ready", "ray-worker""#),
            "{worker:?}"
        );
    }

    #[test]
    fn the_pod_security_cluster_is_predicted_allowed() {
        let p = predict(
            &manifest("ray-cluster.pod-security.yaml"),
            Some(KubeVersion::new(1, 26)),
            &restricted_latest(),
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|t| t.detail.is_none()), "{p:?}");
    }
}
