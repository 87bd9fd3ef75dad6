//! Exact apiserver wording for the tutorial's pods and for edge cases of every check.

use std::path::{Path, PathBuf};

use pss::{
    EnforceRejection, Evaluator, LevelVersion, TemplateOptions, enforce_message,
    parse_enforce_message, pod_templates, would_violate_message,
};
use serde_json::{Value, json};

fn upstream(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/upstream/kuberay")
        .join(file)
}

fn load_docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(upstream(file)).unwrap();
    serde_saphyr::from_multiple(&text).unwrap()
}

fn lv(s: &str) -> LevelVersion {
    s.parse().unwrap()
}

/// Detail at `level:version` on a `1.<minor>` apiserver.
fn detail(minor: u32, level_version: &str, pod: &Value) -> String {
    Evaluator::for_server_minor(minor)
        .evaluate_pod(&lv(level_version), pod)
        .forbidden_detail()
}

fn newest(level_version: &str, pod: &Value) -> String {
    detail(37, level_version, pod)
}

/// A pod passing `restricted` with the given extra spec fields merged in.
fn restricted_pod(extra_spec: Value) -> Value {
    let mut pod = json!({
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        }
    });
    if let (Some(spec), Some(extra)) = (pod["spec"].as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    pod
}

const RAY_HEAD_DETAIL: &str = concat!(
    r#"allowPrivilegeEscalation != false (container "ray-head" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "ray-head" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "ray-head" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "ray-head" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

#[test]
fn ray_cluster_complete_head_on_1_26() {
    let docs = load_docs("ray-cluster.complete.yaml");
    let templates = pod_templates(&docs[0], &TemplateOptions::default());
    let head = templates
        .iter()
        .find(|t| t.path == "spec.headGroupSpec.template")
        .unwrap();
    let ev = Evaluator::for_server_minor(26);
    assert_eq!(ev.effective_version(pss::PolicyVersion::Latest), 25);
    let verdict = ev.evaluate_pod(&lv("restricted:latest"), &head.pod);
    assert_eq!(verdict.forbidden_detail(), RAY_HEAD_DETAIL);
    assert_eq!(
        verdict.forbidden_reasons(),
        "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
    );
    let msg = enforce_message(
        "raycluster-complete-head-fkbf5",
        &lv("restricted:latest"),
        &verdict.forbidden_detail(),
    );
    assert_eq!(
        msg,
        format!(
            "pods \"raycluster-complete-head-fkbf5\" is forbidden: violates PodSecurity \"restricted:latest\": {RAY_HEAD_DETAIL}"
        )
    );
    // The same pod on the newest build reads the same.
    assert_eq!(newest("restricted:latest", &head.pod), RAY_HEAD_DETAIL);
}

#[test]
fn ray_cluster_complete_worker_has_wait_gcs_ready() {
    let docs = load_docs("ray-cluster.complete.yaml");
    let templates = pod_templates(&docs[0], &TemplateOptions::default());
    let worker = templates
        .iter()
        .find(|t| t.path == "spec.workerGroupSpecs[0].template")
        .unwrap();
    assert_eq!(
        detail(26, "restricted:latest", &worker.pod),
        concat!(
            r#"allowPrivilegeEscalation != false (containers "wait-gcs-ready", "ray-worker" must set securityContext.allowPrivilegeEscalation=false), "#,
            r#"unrestricted capabilities (containers "wait-gcs-ready", "ray-worker" must set securityContext.capabilities.drop=["ALL"]), "#,
            r#"runAsNonRoot != true (pod or containers "wait-gcs-ready", "ray-worker" must set securityContext.runAsNonRoot=true), "#,
            r#"seccompProfile (pod or containers "wait-gcs-ready", "ray-worker" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        )
    );
    // Without the injection, only the user's container is named.
    let plain = pod_templates(
        &docs[0],
        &TemplateOptions {
            ray_wait_gcs_ready: false,
        },
    );
    let worker = plain
        .iter()
        .find(|t| t.path == "spec.workerGroupSpecs[0].template")
        .unwrap();
    assert!(detail(26, "restricted:latest", &worker.pod).starts_with(
        r#"allowPrivilegeEscalation != false (container "ray-worker" must set securityContext.allowPrivilegeEscalation=false)"#
    ));
}

#[test]
fn ray_cluster_pod_security_is_allowed() {
    let docs = load_docs("ray-cluster.pod-security.yaml");
    let templates: Vec<_> = docs
        .iter()
        .flat_map(|d| pod_templates(d, &TemplateOptions::default()))
        .collect();
    assert_eq!(
        templates.len(),
        2,
        "head + one worker group; the ConfigMap has none"
    );
    for t in &templates {
        if t.path.contains("workerGroupSpecs") {
            let init = &t.pod["spec"]["initContainers"];
            assert_eq!(init[0]["name"], "wait-gcs-ready");
            assert_eq!(
                init[0]["securityContext"],
                t.pod["spec"]["containers"][0]["securityContext"]
            );
        }
        for minor in [26, 30, 37] {
            let v =
                Evaluator::for_server_minor(minor).evaluate_pod(&lv("restricted:latest"), &t.pod);
            assert!(
                v.allowed(),
                "{} on 1.{minor}: {}",
                t.path,
                v.forbidden_detail()
            );
        }
    }
}

#[test]
fn pss_example_audit_annotation_from_real_log() {
    // `kubectl run pss-example --image=…` on a 1.30 kind cluster (facts §4.3 item 1).
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss-example", "labels": {"run": "pss-example"}},
        "spec": {"containers": [{"name": "pss-example", "image": "nginx", "resources": {}}],
                 "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}});
    let lvr = lv("restricted:latest");
    let d = detail(30, "restricted:latest", &pod);
    assert_eq!(
        would_violate_message(&lvr, &d),
        r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "pss-example" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "pss-example" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "pss-example" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "pss-example" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );
    assert_eq!(
        enforce_message("pss-example", &lvr, &d),
        r#"pods "pss-example" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "pss-example" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "pss-example" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "pss-example" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "pss-example" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );
    // Baseline is fine with it.
    assert_eq!(detail(30, "baseline:latest", &pod), "");
}

#[test]
fn enforce_message_round_trip() {
    let lvr = lv("restricted:v1.26");
    let msg = enforce_message("raycluster-complete-head-fkbf5", &lvr, RAY_HEAD_DETAIL);
    let parsed = parse_enforce_message(&msg).unwrap();
    assert_eq!(
        parsed,
        EnforceRejection {
            pod: "raycluster-complete-head-fkbf5".to_string(),
            policy: lvr,
            detail: RAY_HEAD_DETAIL.to_string()
        }
    );
    assert_eq!(parsed.to_string(), msg);
    let kubectl = format!("Error from server (Forbidden): {msg}\n");
    assert_eq!(
        parse_enforce_message(&kubectl).unwrap().pod,
        "raycluster-complete-head-fkbf5"
    );
    let anonymous = enforce_message(
        "",
        &lvr,
        "privileged (container \"c\" must not set securityContext.privileged=true)",
    );
    assert!(
        anonymous.starts_with(
            "pods is forbidden: violates PodSecurity \"restricted:v1.26\": privileged"
        )
    );
    let parsed = parse_enforce_message(&anonymous).unwrap();
    assert_eq!((parsed.pod.as_str(), parsed.policy), ("", lvr));
    assert!(parsed.detail.starts_with("privileged ("));
    assert_eq!(
        parse_enforce_message(&anonymous.replace("restricted:v1.26", "strict:v1.26")),
        None,
        "an unknown level is not a Pod Security rejection"
    );
    assert_eq!(
        parse_enforce_message("pods \"x\" is forbidden: User cannot create"),
        None
    );
    assert_eq!(parse_enforce_message("secrets \"x\" not found"), None);
    assert_eq!(parse_enforce_message("pods \"unterminated"), None);
}

#[test]
fn plural_and_singular() {
    let one =
        json!({"spec": {"containers": [{"name": "a", "securityContext": {"privileged": true}}]}});
    assert_eq!(
        newest("baseline:latest", &one),
        r#"privileged (container "a" must not set securityContext.privileged=true)"#
    );
    let two = json!({"spec": {"containers": [
        {"name": "a", "securityContext": {"privileged": true}},
        {"name": "b", "securityContext": {"privileged": true}}]}});
    assert_eq!(
        newest("baseline:latest", &two),
        r#"privileged (containers "a", "b" must not set securityContext.privileged=true)"#
    );
    let vols = json!({"spec": {"containers": [{"name": "a"}], "volumes": [
        {"name": "v1", "hostPath": {"path": "/"}}, {"name": "v2", "nfs": {"server": "s", "path": "/"}},
        {"name": "v3", "hostPath": {"path": "/x"}}]}});
    assert_eq!(
        newest("baseline:latest", &vols),
        r#"hostPath volumes (volumes "v1", "v3")"#
    );
    let r = newest("restricted:latest", &vols);
    assert!(
        r.contains(r#"restricted volume types (volumes "v1", "v2", "v3" use restricted volume types "hostPath", "nfs")"#),
        "{r}"
    );
    let sysctl = json!({"spec": {"containers": [{"name": "a"}], "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}});
    assert_eq!(
        newest("baseline:latest", &sysctl),
        "forbidden sysctls (kernel.msgmax)"
    );
}

#[test]
fn ordering_baseline_before_restricted_sorted_by_id() {
    let pod = json!({"spec": {
        "hostPID": true,
        "securityContext": {"runAsUser": 0, "sysctls": [{"name": "b.x"}, {"name": "a.y"}]},
        "initContainers": [{"name": "init", "securityContext": {"privileged": true}}],
        "containers": [{"name": "main", "ports": [{"containerPort": 80, "hostPort": 80}]}]}});
    let v = Evaluator::newest().evaluate_pod(&lv("restricted:latest"), &pod);
    let ids: Vec<&str> = v.failures.iter().map(|f| f.check_id).collect();
    assert_eq!(
        ids,
        [
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "sysctls",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "runAsNonRoot",
            "runAsUser",
            "seccompProfile_restricted"
        ]
    );
    assert_eq!(
        v.failures[3].detail, "b.x, a.y",
        "sysctl names keep spec order"
    );
    assert!(v.forbidden_detail().starts_with(
        r#"host namespaces (hostPID=true), hostPort (container "main" uses hostPort 80), privileged (container "init" must not set securityContext.privileged=true), forbidden sysctls (b.x, a.y), allowPrivilegeEscalation != false (containers "init", "main" must"#
    ));
    assert!(
        v.forbidden_detail()
            .contains(r#"runAsUser=0 (pod must not set runAsUser=0)"#)
    );
    // Check id list is exposed in message order.
    let all = pss::check_ids();
    assert_eq!(all.first(), Some(&"appArmorProfile"));
    assert_eq!(all.last(), Some(&"seccompProfile_restricted"));
}

#[test]
fn setters_pod_and_containers() {
    let pod = json!({"spec": {
        "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"},
                            "seLinuxOptions": {"type": "spc_t", "user": "u"}, "windowsOptions": {"hostProcess": true}},
        "containers": [
            {"name": "a", "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Localhost"},
                                              "seLinuxOptions": {"role": "r"}}},
            {"name": "b", "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Bogus"},
                                              "windowsOptions": {"hostProcess": true}}},
            {"name": "c"}]}});
    let v = Evaluator::newest().evaluate_pod(&lv("restricted:latest"), &pod);
    let get = |id: &str| {
        v.failures
            .iter()
            .find(|f| f.check_id == id)
            .map(|f| f.detail.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        get("runAsNonRoot"),
        r#"pod and containers "a", "b" must not set securityContext.runAsNonRoot=false"#
    );
    assert_eq!(
        get("runAsUser"),
        r#"pod and containers "a", "b" must not set runAsUser=0"#
    );
    assert_eq!(
        get("seccompProfile_restricted"),
        r#"pod and container "b" must not set securityContext.seccompProfile.type to "Bogus", "Unconfined""#
    );
    assert_eq!(
        get("seLinuxOptions"),
        r#"pod and container "a" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set"#
    );
    assert_eq!(
        get("windowsHostProcess"),
        r#"pod and container "b" must not set securityContext.windowsOptions.hostProcess=true"#
    );

    // Implicit (unset) form: pod-level valid values cover containers that set nothing.
    let implicit = json!({"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "a", "securityContext": {"runAsNonRoot": true}}, {"name": "b"}]}});
    let v = Evaluator::newest().evaluate_pod(&lv("restricted:latest"), &implicit);
    let ids: Vec<_> = v
        .failures
        .iter()
        .map(|f| (f.check_id, f.detail.as_str()))
        .collect();
    assert!(ids.contains(&(
        "runAsNonRoot",
        r#"pod or container "b" must set securityContext.runAsNonRoot=true"#
    )));
    assert!(!ids.iter().any(|(id, _)| *id == "seccompProfile_restricted"));
}

#[test]
fn capabilities_both_parts() {
    let pod = restricted_pod(json!({"containers": [
        {"name": "a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["SYS_ADMIN", "NET_BIND_SERVICE", "CHOWN"]}}},
        {"name": "b", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]}));
    assert_eq!(
        newest("restricted:latest", &pod),
        r#"unrestricted capabilities (container "a" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b" must not include "CHOWN", "SYS_ADMIN" in securityContext.capabilities.add)"#
    );
    assert_eq!(
        newest("baseline:latest", &pod),
        r#"non-default capabilities (containers "a", "b" must not include "SYS_ADMIN" in securityContext.capabilities.add)"#
    );
}

#[test]
fn host_ports_sort_as_strings_and_defaulting() {
    let pod = json!({"spec": {"containers": [
        {"name": "a", "ports": [{"containerPort": 8080, "hostPort": 8080}, {"containerPort": 1, "hostPort": 10000}]},
        {"name": "b", "ports": [{"containerPort": 9090, "hostPort": 9090}, {"containerPort": 2, "hostPort": 8080}]}]}});
    assert_eq!(
        newest("baseline:latest", &pod),
        r#"hostPort (containers "a", "b" use hostPorts 10000, 8080, 9090)"#
    );
    // hostNetwork: hostPort defaults to containerPort on Pods …
    let hn = json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "ports": [{"containerPort": 6379}]}]}});
    assert_eq!(
        newest("baseline:latest", &hn),
        r#"host namespaces (hostNetwork=true), hostPort (container "a" uses hostPort 6379)"#
    );
    // … but on pod templates only up to 1.27.
    let tmpl = pss::EvalOptions { template: true };
    let d = |minor| {
        Evaluator::for_server_minor(minor)
            .evaluate_pod_with(&lv("baseline:latest"), &hn, &tmpl)
            .forbidden_detail()
    };
    assert_eq!(d(37), "host namespaces (hostNetwork=true)");
    assert_eq!(
        d(27),
        r#"host namespaces (hostNetwork=true), hostPort (container "a" uses hostPort 6379)"#
    );
}

#[test]
fn apparmor_wording_by_build() {
    let pod = json!({"metadata": {"annotations": {
        "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/a": "bogus",
        "container.apparmor.security.beta.kubernetes.io/c": "localhost/ok"}},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    assert_eq!(
        detail(26, "baseline:latest", &pod),
        r#"forbidden AppArmor profiles (container.apparmor.security.beta.kubernetes.io/a="bogus", container.apparmor.security.beta.kubernetes.io/b="unconfined")"#
    );
    assert_eq!(
        newest("baseline:latest", &pod),
        r#"forbidden AppArmor profiles (annotations must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/a="bogus"", "container.apparmor.security.beta.kubernetes.io/b="unconfined"")"#
    );
    let fields = json!({"spec": {"securityContext": {"appArmorProfile": {"type": "Unconfined"}},
        "containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
                       {"name": "b", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}]}});
    assert_eq!(
        newest("baseline:latest", &fields),
        r#"forbidden AppArmor profile (pod and container "a" must not set AppArmor profile type to "Unconfined")"#
    );
    // A 1.26 apiserver does not know the fields.
    assert_eq!(detail(26, "baseline:latest", &fields), "");
}

#[test]
fn sysctls_by_version() {
    let pod = json!({"spec": {"containers": [{"name": "a"}], "securityContext": {"sysctls": [
        {"name": "net.ipv4.ip_local_reserved_ports"}, {"name": "net.ipv4.tcp_keepalive_time"},
        {"name": "net.ipv4.tcp_rmem"}, {"name": "net.ipv4.tcp_notsent_lowat"}, {"name": "kernel.shm_rmid_forced"}]}}});
    assert_eq!(
        newest("baseline:v1.26", &pod),
        "forbidden sysctls (net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_rmem, net.ipv4.tcp_notsent_lowat)"
    );
    assert_eq!(
        newest("baseline:v1.27", &pod),
        "forbidden sysctls (net.ipv4.tcp_keepalive_time, net.ipv4.tcp_rmem, net.ipv4.tcp_notsent_lowat)"
    );
    assert_eq!(
        newest("baseline:v1.29", &pod),
        "forbidden sysctls (net.ipv4.tcp_rmem, net.ipv4.tcp_notsent_lowat)"
    );
    assert_eq!(
        newest("baseline:v1.32", &pod),
        "forbidden sysctls (net.ipv4.tcp_notsent_lowat)"
    );
    assert_eq!(newest("baseline:v1.37", &pod), "");
    assert_eq!(newest("baseline:latest", &pod), "");
    // `latest` on a 1.36 apiserver is v1.35: the 1.37 additions are still forbidden.
    assert_eq!(
        detail(36, "baseline:latest", &pod),
        "forbidden sysctls (net.ipv4.tcp_notsent_lowat)"
    );
    // A label newer than the build is clamped (1.26 -> v1.25 rules).
    assert_eq!(
        detail(26, "baseline:v1.37", &pod),
        "forbidden sysctls (net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_rmem, net.ipv4.tcp_notsent_lowat)"
    );
}

#[test]
fn windows_exemptions() {
    let pod = json!({"spec": {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true},
        "containers": [{"name": "w"}]}});
    assert_eq!(newest("restricted:v1.25", &pod), "");
    assert_eq!(newest("restricted:latest", &pod), "");
    assert_eq!(
        newest("restricted:v1.24", &pod),
        concat!(
            r#"allowPrivilegeEscalation != false (container "w" must set securityContext.allowPrivilegeEscalation=false), "#,
            r#"unrestricted capabilities (container "w" must set securityContext.capabilities.drop=["ALL"]), "#,
            r#"seccompProfile (pod or container "w" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        )
    );
    // runAsNonRoot is not exempt.
    let no_nonroot = json!({"spec": {"os": {"name": "windows"}, "containers": [{"name": "w"}]}});
    assert_eq!(
        newest("restricted:latest", &no_nonroot),
        r#"runAsNonRoot != true (pod or container "w" must set securityContext.runAsNonRoot=true)"#
    );
}

#[test]
fn user_namespace_relaxations_from_1_35() {
    let pod = json!({"spec": {"hostUsers": false,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 0},
        "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": false, "procMount": "Unmasked"}}]}});
    assert_eq!(newest("baseline:v1.35", &pod), "");
    assert_eq!(
        newest("baseline:v1.34", &pod),
        r#"procMount (container "c" must not set securityContext.procMount to "Unmasked")"#
    );
    // Restricted 1.35: runAsNonRoot/runAsUser relaxed, procMount_restricted still applies.
    let v = Evaluator::newest().evaluate_pod(&lv("restricted:v1.35"), &pod);
    let ids: Vec<_> = v.failures.iter().map(|f| f.check_id).collect();
    assert_eq!(ids, ["procMount_restricted"]);
    let v = Evaluator::newest().evaluate_pod(&lv("restricted:v1.34"), &pod);
    let ids: Vec<_> = v.failures.iter().map(|f| f.check_id).collect();
    assert_eq!(ids, ["procMount", "runAsNonRoot", "runAsUser"]);
    // A 1.34 apiserver has no relaxation even at latest.
    assert!(!detail(34, "restricted:latest", &pod).is_empty());
    assert!(detail(34, "restricted:latest", &pod).contains("runAsUser=0"));
}

#[test]
fn probes_hosts_sorted_and_version_gated() {
    let pod = json!({"spec": {"containers": [
        {"name": "z", "livenessProbe": {"httpGet": {"host": "b.example", "port": 80}},
         "lifecycle": {"preStop": {"tcpSocket": {"host": "a.example", "port": 1}}}},
        {"name": "m", "readinessProbe": {"tcpSocket": {"host": "b.example", "port": 80}}}]}});
    assert_eq!(
        newest("baseline:latest", &pod),
        r#"probe or lifecycle host (containers "m", "z" use probe or lifecycle hosts "a.example", "b.example")"#
    );
    assert_eq!(newest("baseline:v1.33", &pod), "");
    assert_eq!(detail(33, "baseline:latest", &pod), "");
}

#[test]
fn volumes_defaulting_and_image() {
    let pod = restricted_pod(
        json!({"volumes": [{"name": "implicit-empty-dir"}, {"name": "img", "image": {"reference": "x"}}]}),
    );
    assert_eq!(newest("restricted:latest", &pod), "");
    assert_eq!(
        detail(26, "restricted:latest", &pod),
        r#"restricted volume types (volume "img" uses restricted volume type "unknown")"#
    );
}

#[test]
fn seccomp_annotations_before_1_19() {
    let pod = json!({"metadata": {"annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/a": "docker/default",
        "container.seccomp.security.alpha.kubernetes.io/b": "bad"}},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
    assert_eq!(
        newest("baseline:v1.18", &pod),
        r#"seccompProfile (forbidden annotations container.seccomp.security.alpha.kubernetes.io/b="bad", seccomp.security.alpha.kubernetes.io/pod="unconfined")"#
    );
    assert_eq!(newest("baseline:v1.19", &pod), "");
}

#[test]
fn privileged_level_allows_everything() {
    let pod = json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "securityContext": {"privileged": true}}]}});
    assert!(
        Evaluator::newest()
            .evaluate_pod(&lv("privileged:latest"), &pod)
            .allowed()
    );
}

#[test]
fn bad_input_does_not_panic() {
    let ev = Evaluator::newest();
    for pod in [
        json!(null),
        json!(42),
        json!({"spec": "nope"}),
        json!({"spec": {"containers": "x", "volumes": [1, null, {"name": 3}]}}),
        json!({"spec": {"containers": [null, 1, {"name": null, "securityContext": "x", "ports": [{"hostPort": "80"}]}]}}),
        json!({"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/x": 5}}, "spec": {"securityContext": {"sysctls": [1, {"name": 2}]}}}),
    ] {
        let _ = ev
            .evaluate_pod(&lv("restricted:latest"), &pod)
            .forbidden_detail();
    }
}
