//! Pod Security admission (built-in `PodSecurity` plugin) on top of the `pss` crate: enforce on
//! pod creates (403 Forbidden), audit annotations, `Warning` headers for pods and workload
//! resources, namespace label validation and the "existing pods violate" warnings.

use pss::{AUDIT_VIOLATIONS_ANNOTATION, ENFORCE_POLICY_ANNOTATION};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::faults::Fault;
use crate::store::Key;
use crate::util::{self, Status};

/// What admission decided for a request.
#[derive(Default, Debug)]
pub struct Outcome {
    pub warnings: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

fn namespace_policy(cl: &Cluster, ns: &str) -> pss::NamespacePolicy {
    let labels = if cl.faults().has(Fault::PsaLabelsIgnored) {
        cl.faults().hit(
            Fault::PsaLabelsIgnored,
            &format!("namespace {ns}: labels ignored"),
        );
        BTreeMap::new()
    } else {
        cl.store
            .get(&Key::new("namespaces", "", ns))
            .map(|n| util::labels_of(&n))
            .unwrap_or_default()
    };
    pss::NamespacePolicy::from_labels(&labels)
}

fn evaluator(cl: &Cluster) -> pss::Evaluator {
    pss::Evaluator::for_server_minor(cl.version.minor)
}

fn is_privileged(lv: &pss::LevelVersion) -> bool {
    lv.level == pss::Level::Privileged
}

/// Admission of a pod create. `Err` is the 403 the apiserver returns.
pub fn admit_pod_create(cl: &Cluster, ns: &str, pod: &Value) -> Result<Outcome, (Status, Outcome)> {
    let policy = namespace_policy(cl, ns);
    let ev = evaluator(cl);
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    let mut out = Outcome::default();
    out.annotations
        .insert(ENFORCE_POLICY_ANNOTATION.into(), policy.enforce.to_string());
    for e in &policy.errors {
        out.annotations
            .insert("pod-security.kubernetes.io/error".into(), e.clone());
    }
    if !is_privileged(&policy.audit) {
        let v = ev.evaluate_pod(&policy.audit, pod);
        if !v.allowed() {
            out.annotations.insert(
                AUDIT_VIOLATIONS_ANNOTATION.into(),
                pss::would_violate_message(&policy.audit, &v.forbidden_detail()),
            );
        }
    }
    if !is_privileged(&policy.enforce) {
        let v = ev.evaluate_pod(&policy.enforce, pod);
        if !v.allowed() {
            let msg = pss::enforce_message(name, &policy.enforce, &v.forbidden_detail());
            let st = Status::failure(
                403,
                "Forbidden",
                msg,
                Some(json!({"name": name, "kind": "pods"})),
            );
            return Err((st, out));
        }
    }
    if !is_privileged(&policy.warn) {
        let v = ev.evaluate_pod(&policy.warn, pod);
        if !v.allowed() {
            out.warnings.push(pss::would_violate_message(
                &policy.warn,
                &v.forbidden_detail(),
            ));
        }
    }
    Ok(out)
}

/// The pod template of a workload resource the PodSecurity plugin inspects.
pub fn workload_template(group: &str, resource: &str, obj: &Value) -> Option<Value> {
    let t = match (group, resource) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs")
        | ("", "replicationcontrollers") => obj.pointer("/spec/template"),
        ("batch", "cronjobs") => obj.pointer("/spec/jobTemplate/spec/template"),
        ("", "podtemplates") => obj.get("template"),
        _ => None,
    }?;
    Some(t.clone())
}

/// Admission of a workload create/update: never enforced, only audit annotation and warning.
pub fn admit_workload(cl: &Cluster, ns: &str, template: &Value) -> Outcome {
    let policy = namespace_policy(cl, ns);
    let ev = evaluator(cl);
    let opts = pss::EvalOptions { template: true };
    let mut out = Outcome::default();
    if !is_privileged(&policy.audit) {
        let v = ev.evaluate_pod_with(&policy.audit, template, &opts);
        if !v.allowed() {
            out.annotations.insert(
                AUDIT_VIOLATIONS_ANNOTATION.into(),
                pss::would_violate_message(&policy.audit, &v.forbidden_detail()),
            );
        }
    }
    if !is_privileged(&policy.warn) {
        let v = ev.evaluate_pod_with(&policy.warn, template, &opts);
        if !v.allowed() {
            out.warnings.push(pss::would_violate_message(
                &policy.warn,
                &v.forbidden_detail(),
            ));
        }
    }
    out
}

/// Namespace create/update: invalid PSA labels are rejected (422); raising the enforce level
/// warns about existing pods that would violate it.
pub fn admit_namespace(
    cl: &Cluster,
    old: Option<&Value>,
    new: &Value,
) -> Result<Vec<String>, Status> {
    if cl.faults().has(Fault::PsaLabelsIgnored) {
        return Ok(vec![]);
    }
    let labels = util::labels_of(new);
    let policy = pss::NamespacePolicy::from_labels(&labels);
    if !policy.errors.is_empty() {
        let name = util::get_str(new, &["metadata", "name"]).unwrap_or_default();
        let msg = policy.errors.join(", ");
        return Err(Status::failure(
            422,
            "Invalid",
            format!("namespaces \"{name}\" is invalid: {msg}"),
            Some(json!({"name": name, "kind": "namespaces"})),
        ));
    }
    let Some(old) = old else { return Ok(vec![]) };
    let old_policy = pss::NamespacePolicy::from_labels(&util::labels_of(old));
    if old_policy.enforce == policy.enforce || is_privileged(&policy.enforce) {
        return Ok(vec![]);
    }
    let ns = util::get_str(new, &["metadata", "name"]).unwrap_or_default();
    let (pods, _) = cl.store.list("pods", Some(ns));
    let ev = evaluator(cl);
    // reasons -> pod names
    let mut by_reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &pods {
        let phase = util::get_str(p, &["status", "phase"]).unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let v = ev.evaluate_pod(&policy.enforce, p);
        if !v.allowed() {
            by_reasons.entry(v.forbidden_reasons()).or_default().push(
                util::get_str(p, &["metadata", "name"])
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    if by_reasons.is_empty() {
        return Ok(vec![]);
    }
    let mut warnings = vec![format!(
        "existing pods in namespace {} violate the new PodSecurity enforce level {}",
        pss::go_quote(ns),
        pss::go_quote(&policy.enforce.to_string())
    )];
    for (reasons, mut names) in by_reasons {
        names.sort();
        let first = &names[0];
        let w = match names.len() {
            1 => format!("{first}: {reasons}"),
            2 => format!("{first} (and 1 other pod): {reasons}"),
            n => format!("{first} (and {} other pods): {reasons}", n - 1),
        };
        warnings.push(w);
    }
    Ok(warnings)
}
