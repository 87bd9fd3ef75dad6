//! Label resolution, parsing, template discovery and file-level evaluation.

use std::collections::BTreeMap;

use pss::{
    Evaluator, Level, LevelVersion, NamespacePolicy, PolicyVersion, TemplateOptions, evaluate_yaml,
    pod_templates, render_text,
};
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), v.to_string()))
        .collect()
}

fn lv(s: &str) -> LevelVersion {
    s.parse().unwrap()
}

#[test]
fn level_and_version_parsing() {
    assert_eq!("restricted".parse::<Level>().unwrap(), Level::Restricted);
    assert!("Restricted".parse::<Level>().is_err());
    assert_eq!(Level::Baseline.to_string(), "baseline");
    for (s, v) in [
        ("latest", PolicyVersion::Latest),
        ("v1.0", PolicyVersion::V1(0)),
        ("v1.26", PolicyVersion::V1(26)),
    ] {
        assert_eq!(s.parse::<PolicyVersion>().unwrap(), v);
        assert_eq!(v.to_string(), s);
    }
    for bad in [
        "",
        "v1",
        "v1.",
        "1.26",
        "v2.0",
        "v1.01",
        "v1.-1",
        "v1.2x",
        "Latest",
        "v1.99999999999",
    ] {
        assert!(
            bad.parse::<PolicyVersion>().is_err(),
            "{bad:?} should be rejected"
        );
    }
    assert_eq!(lv("restricted:latest").to_string(), "restricted:latest");
    assert_eq!(
        lv("baseline:v1.25"),
        LevelVersion::new(Level::Baseline, PolicyVersion::V1(25))
    );
    assert!("restricted:v1".parse::<LevelVersion>().is_err());
}

#[test]
fn evaluator_versions() {
    let cases = [
        (22, 22),
        (23, 23),
        (24, 23),
        (25, 25),
        (26, 25),
        (27, 27),
        (28, 27),
        (29, 29),
        (30, 29),
        (31, 31),
        (32, 32),
        (33, 32),
        (34, 34),
        (35, 35),
        (36, 35),
        (37, 37),
        (40, 37),
        (10, 22),
    ];
    for (minor, latest) in cases {
        let ev = Evaluator::for_server_minor(minor);
        assert_eq!(
            ev.effective_version(PolicyVersion::Latest),
            latest,
            "server 1.{minor}"
        );
        assert_eq!(ev.effective_version(PolicyVersion::V1(3)), 3);
        assert_eq!(ev.effective_version(PolicyVersion::V1(99)), latest);
    }
    assert_eq!(Evaluator::newest(), Evaluator::for_server_minor(37));
}

#[test]
fn namespace_policy_from_labels() {
    let p = NamespacePolicy::from_labels(&BTreeMap::new());
    assert_eq!(
        (p.enforce, p.audit, p.warn),
        (
            lv("privileged:latest"),
            lv("privileged:latest"),
            lv("privileged:latest")
        )
    );
    assert!(p.errors.is_empty());

    // The tutorial's namespace: enforce+audit restricted; warn follows enforce.
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce", "restricted"),
        ("audit", "restricted"),
    ]));
    assert_eq!(
        (p.enforce, p.audit, p.warn),
        (
            lv("restricted:latest"),
            lv("restricted:latest"),
            lv("restricted:latest")
        )
    );

    // Warn follows enforce including its version, unless warn-version is labelled.
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce", "baseline"),
        ("enforce-version", "v1.26"),
    ]));
    assert_eq!(p.warn, lv("baseline:v1.26"));
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce", "baseline"),
        ("enforce-version", "v1.26"),
        ("warn-version", "v1.20"),
    ]));
    assert_eq!(p.warn, lv("baseline:v1.20"));
    // An explicit warn label wins, even if laxer.
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce", "restricted"),
        ("warn", "privileged"),
    ]));
    assert_eq!(p.warn, lv("privileged:latest"));
    // Enforce unlabelled: no defaulting.
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce-version", "v1.25"),
        ("audit", "baseline"),
    ]));
    assert_eq!(
        (p.enforce, p.audit, p.warn),
        (
            lv("privileged:v1.25"),
            lv("baseline:latest"),
            lv("privileged:latest")
        )
    );

    // Parse errors: enforce fails closed, audit/warn fail open, bad versions mean latest.
    let p = NamespacePolicy::from_labels(&labels(&[
        ("enforce", "strict"),
        ("enforce-version", "1.25"),
        ("audit", "Restricted"),
        ("warn", "nope"),
        ("warn-version", "v1.x"),
    ]));
    assert_eq!(p.enforce, lv("restricted:latest"));
    assert_eq!(p.audit, lv("privileged:latest"));
    assert_eq!(p.warn, lv("privileged:latest"));
    assert_eq!(
        p.errors,
        [
            r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#,
            r#"metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.25": must be "latest" or "v1.x""#,
            r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "Restricted": must be one of privileged, baseline, restricted"#,
            r#"metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "nope": must be one of privileged, baseline, restricted"#,
            r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v1.x": must be "latest" or "v1.x""#,
        ]
    );
    // Invalid enforce level with no warn label: warn follows the fail-closed enforce level.
    let p = NamespacePolicy::from_labels(&labels(&[("enforce", "bogus")]));
    assert_eq!(p.warn, lv("restricted:latest"));
    // Unrelated labels are ignored.
    let mut other = BTreeMap::new();
    other.insert(
        "kubernetes.io/metadata.name".to_string(),
        "pod-security".to_string(),
    );
    assert_eq!(
        NamespacePolicy::from_labels(&other).enforce,
        lv("privileged:latest")
    );
}

fn paths(obj: serde_json::Value) -> Vec<(String, String, String)> {
    pod_templates(&obj, &TemplateOptions::default())
        .into_iter()
        .map(|t| (t.kind, t.name, t.path))
        .collect()
}

fn s(kind: &str, name: &str, path: &str) -> (String, String, String) {
    (kind.to_string(), name.to_string(), path.to_string())
}

#[test]
fn pod_template_paths() {
    let tmpl = json!({"spec": {"containers": [{"name": "c"}]}});
    assert_eq!(
        paths(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})),
        [s("Pod", "p", "")]
    );
    assert_eq!(
        paths(
            json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"}, "template": tmpl})
        ),
        [s("PodTemplate", "pt", "template")]
    );
    for kind in [
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "ReplicationController",
    ] {
        assert_eq!(
            paths(
                json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": {"template": tmpl}})
            ),
            [s(kind, "w", "spec.template")]
        );
    }
    assert_eq!(
        paths(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"generateName": "cj-"},
            "spec": {"jobTemplate": {"spec": {"template": tmpl}}}})
        ),
        [s("CronJob", "cj-", "spec.jobTemplate.spec.template")]
    );
    let cluster = json!({"headGroupSpec": {"template": tmpl}, "workerGroupSpecs": [{"template": tmpl}, {"groupName": "no-template"}, {"template": tmpl}]});
    assert_eq!(
        paths(
            json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc"}, "spec": cluster})
        ),
        [
            s("RayCluster", "rc", "spec.headGroupSpec.template"),
            s("RayCluster", "rc", "spec.workerGroupSpecs[0].template"),
            s("RayCluster", "rc", "spec.workerGroupSpecs[2].template"),
        ]
    );
    assert_eq!(
        paths(
            json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "rj"},
            "spec": {"rayClusterSpec": cluster, "submitterPodTemplate": tmpl}})
        ),
        [
            s("RayJob", "rj", "spec.rayClusterSpec.headGroupSpec.template"),
            s(
                "RayJob",
                "rj",
                "spec.rayClusterSpec.workerGroupSpecs[0].template"
            ),
            s(
                "RayJob",
                "rj",
                "spec.rayClusterSpec.workerGroupSpecs[2].template"
            ),
            s("RayJob", "rj", "spec.submitterPodTemplate"),
        ]
    );
    assert_eq!(
        paths(
            json!({"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "rs"},
            "spec": {"rayClusterConfig": {"headGroupSpec": {"template": tmpl}}}})
        ),
        [s(
            "RayService",
            "rs",
            "spec.rayClusterConfig.headGroupSpec.template"
        )]
    );
    assert_eq!(
        paths(json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": tmpl}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}]})),
        [
            s("Deployment", "d", "items[1].spec.template"),
            s("Pod", "p", "items[2]")
        ]
    );
    assert!(
        paths(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}))
            .is_empty()
    );
    assert!(
        paths(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}))
            .is_empty()
    );
    assert!(paths(json!("scalar")).is_empty());
}

#[test]
fn ray_injections() {
    let rc = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc"}, "spec": {
        "enableInTreeAutoscaling": true,
        "autoscalerOptions": {"securityContext": {"allowPrivilegeEscalation": false}},
        "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head"}]}}},
        "workerGroupSpecs": [{"template": {"spec": {
            "initContainers": [{"name": "user-init"}],
            "containers": [{"name": "ray-worker", "securityContext": {"runAsNonRoot": true}}, {"name": "sidecar"}]}}}]}});
    let t = pod_templates(&rc, &TemplateOptions::default());
    assert_eq!(
        t[0].pod["spec"]["containers"][1],
        json!({"name": "autoscaler", "securityContext": {"allowPrivilegeEscalation": false}})
    );
    let init = t[1].pod["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    assert_eq!(init[0]["name"], "user-init");
    assert_eq!(
        init[1],
        json!({"name": "wait-gcs-ready", "securityContext": {"runAsNonRoot": true}})
    );
    let d = Evaluator::newest()
        .evaluate_pod(&lv("restricted:latest"), &t[1].pod)
        .forbidden_detail();
    assert!(
        d.contains(
            r#"pod or containers "user-init", "sidecar" must set securityContext.runAsNonRoot=true"#
        ),
        "{d}"
    );
    assert!(d.contains(r#"containers "user-init", "wait-gcs-ready", "ray-worker", "sidecar" must set securityContext.allowPrivilegeEscalation=false"#), "{d}");
    let off = pod_templates(
        &rc,
        &TemplateOptions {
            ray_wait_gcs_ready: false,
        },
    );
    assert_eq!(
        off[1].pod["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

const MULTI: &str = "\
# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
---
apiVersion: v1
kind: Pod
metadata:
  name: ok
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: c
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
--- # a deployment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  template:
    spec:
      containers:
      - name: c
        securityContext: {privileged: true}
";

#[test]
fn evaluate_yaml_entries_and_render() {
    let entries = evaluate_yaml(
        "m.yaml",
        MULTI,
        &Evaluator::newest(),
        &lv("restricted:latest"),
        &TemplateOptions::default(),
    )
    .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (
            entries[0].document,
            entries[0].kind.as_str(),
            entries[0].name.as_str()
        ),
        (1, "Pod", "ok")
    );
    assert!(entries[0].allowed && entries[0].message.is_none());
    assert_eq!(
        (entries[1].document, entries[1].template.as_str()),
        (2, "spec.template")
    );
    assert!(!entries[1].allowed);
    let msg = entries[1].message.as_deref().unwrap();
    assert!(msg.starts_with(r#"violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false"#), "{msg}");
    let text = render_text(&entries);
    assert!(text.starts_with("ALLOWED   m.yaml [document 1] Pod/ok\nFORBIDDEN m.yaml [document 2] Deployment/bad (spec.template)\n  violates PodSecurity"), "{text}");
    let json = serde_json::to_value(&entries).unwrap();
    assert_eq!(json[1]["template"], "spec.template");
    assert_eq!(json[0]["message"], serde_json::Value::Null);
    // Empty input: no entries.
    assert!(
        evaluate_yaml(
            "e.yaml",
            "",
            &Evaluator::newest(),
            &lv("baseline:latest"),
            &TemplateOptions::default()
        )
        .unwrap()
        .is_empty()
    );
    assert!(
        evaluate_yaml(
            "e.yaml",
            "# nothing\n---\n",
            &Evaluator::newest(),
            &lv("baseline:latest"),
            &TemplateOptions::default()
        )
        .unwrap()
        .is_empty()
    );
}

fn input_error(yaml: &str) -> pss::InputError {
    evaluate_yaml(
        "f.yaml",
        yaml,
        &Evaluator::newest(),
        &lv("restricted:latest"),
        &TemplateOptions::default(),
    )
    .unwrap_err()
}

#[test]
fn input_error_locations() {
    // Syntax error in the third document (line 9).
    let e = input_error(
        "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Pod\nspec: [unclosed\n",
    );
    assert_eq!(e.file, "f.yaml");
    assert!(e.line.is_some_and(|l| l >= 9), "{e:?}");
    assert!(e.column.is_some(), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "f.yaml:{}:{}: ",
            e.line.unwrap(),
            e.column.unwrap()
        )),
        "{e}"
    );

    // A bad indentation error on a known line.
    let e = input_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: indent\n");
    assert_eq!(e.line, Some(5), "{e:?}");

    // Not a mapping / missing fields: reported at the document's first content line.
    let e = input_error("apiVersion: v1\nkind: Pod\n---\n# c\n- a\n- b\n");
    assert_eq!((e.line, e.column), (Some(5), Some(1)));
    assert!(
        e.message.contains("document 1 is not a Kubernetes object"),
        "{e}"
    );
    let e = input_error("---\nkind: Pod\nmetadata: {name: x}\n");
    assert_eq!(e.line, Some(2));
    assert_eq!(e.message, "document 0: missing apiVersion");
    let e = input_error("apiVersion: v1\nkind: 3\n");
    assert_eq!(e.message, "document 0: kind must be a non-empty string");
    assert_eq!(
        e.to_string(),
        "f.yaml:1:1: document 0: kind must be a non-empty string"
    );
    let e = input_error("just a string\n");
    assert_eq!(e.line, Some(1));
}

#[test]
fn input_error_display_without_location() {
    let e = pss::InputError {
        file: "x".into(),
        line: None,
        column: None,
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "x: boom");
}
