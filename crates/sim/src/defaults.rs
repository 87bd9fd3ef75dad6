//! API defaulting applied on create (the subset of kube-apiserver's defaulters the world needs).

use serde_json::{Value, json};

use crate::util;

fn set_if_absent(v: &mut Value, key: &str, val: Value) {
    if let Some(o) = v.as_object_mut() {
        o.entry(key.to_string()).or_insert(val);
    }
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let tag_latest = !image.contains(':') || image.ends_with(":latest");
    set_if_absent(
        c,
        "imagePullPolicy",
        json!(if tag_latest { "Always" } else { "IfNotPresent" }),
    );
    set_if_absent(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_if_absent(c, "terminationMessagePolicy", json!("File"));
    set_if_absent(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(|p| p.as_array_mut()) {
        for p in ports {
            set_if_absent(p, "protocol", json!("TCP"));
        }
    }
}

/// Defaults shared by pods and pod templates.
pub fn pod_spec(spec: &mut Value) {
    set_if_absent(spec, "restartPolicy", json!("Always"));
    set_if_absent(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_absent(spec, "dnsPolicy", json!("ClusterFirst"));
    set_if_absent(spec, "securityContext", json!({}));
    set_if_absent(spec, "schedulerName", json!("default-scheduler"));
    for key in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(key).and_then(|c| c.as_array_mut()) {
            for c in cs {
                default_container(c);
            }
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(|v| v.as_array_mut()) {
        for v in vols {
            let has_source = v.as_object().is_some_and(|o| o.keys().any(|k| k != "name"));
            if !has_source {
                v["emptyDir"] = json!({});
            }
            if let Some(cm) = v.get_mut("configMap") {
                set_if_absent(cm, "defaultMode", json!(420));
            }
        }
    }
}

/// Pod create: spec defaults, service account token volume, tolerations, initial status.
pub fn pod(pod: &mut Value) {
    let spec = &mut pod["spec"];
    pod_spec(spec);
    let sa = spec["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(sa);
    spec["serviceAccount"] = json!(sa);
    set_if_absent(spec, "enableServiceLinks", json!(true));
    set_if_absent(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_if_absent(spec, "priority", json!(0));
    set_if_absent(
        spec,
        "tolerations",
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]),
    );
    // ServiceAccount admission: projected token volume, mounted in every container.
    let vol_name = format!("kube-api-access-{}", util::rand_suffix(5));
    let vols = spec
        .as_object_mut()
        .unwrap()
        .entry("volumes")
        .or_insert_with(|| json!([]));
    if let Some(a) = vols.as_array_mut() {
        a.push(json!({
            "name": vol_name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ],
                "defaultMode": 420
            }
        }));
    }
    for key in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(key).and_then(|c| c.as_array_mut()) {
            for c in cs {
                let mounts = c
                    .as_object_mut()
                    .unwrap()
                    .entry("volumeMounts")
                    .or_insert_with(|| json!([]));
                if let Some(m) = mounts.as_array_mut() {
                    m.push(json!({"name": vol_name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}));
                }
            }
        }
    }
    let qos = qos_class(&pod["spec"]);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
}

fn qos_class(spec: &Value) -> &'static str {
    let cs: Vec<&Value> = spec["containers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let any = cs.iter().any(|c| {
        c.pointer("/resources/requests").is_some() || c.pointer("/resources/limits").is_some()
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        let l = c.pointer("/resources/limits");
        let r = c.pointer("/resources/requests");
        l.is_some_and(|l| l.get("cpu").is_some() && l.get("memory").is_some())
            && (r.is_none() || r == l)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub fn service(svc: &mut Value, cluster_ip: &str) {
    let spec = &mut svc["spec"];
    set_if_absent(spec, "type", json!("ClusterIP"));
    if spec
        .get("clusterIP")
        .and_then(|c| c.as_str())
        .is_none_or(|c| c.is_empty())
    {
        spec["clusterIP"] = json!(cluster_ip);
    }
    let ip = spec["clusterIP"].clone();
    spec["clusterIPs"] = json!([ip]);
    set_if_absent(spec, "sessionAffinity", json!("None"));
    set_if_absent(spec, "ipFamilies", json!(["IPv4"]));
    set_if_absent(spec, "ipFamilyPolicy", json!("SingleStack"));
    set_if_absent(spec, "internalTrafficPolicy", json!("Cluster"));
    if let Some(ports) = spec.get_mut("ports").and_then(|p| p.as_array_mut()) {
        for p in ports {
            set_if_absent(p, "protocol", json!("TCP"));
            if p.get("targetPort").is_none() {
                p["targetPort"] = p["port"].clone();
            }
        }
    }
    svc["status"] = json!({"loadBalancer": {}});
}

pub fn deployment(d: &mut Value) {
    let spec = &mut d["spec"];
    set_if_absent(spec, "replicas", json!(1));
    set_if_absent(spec, "revisionHistoryLimit", json!(10));
    set_if_absent(spec, "progressDeadlineSeconds", json!(600));
    set_if_absent(
        spec,
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
    if let Some(t) = spec.pointer_mut("/template/spec") {
        pod_spec(t);
    }
    d["status"] = json!({});
}

pub fn namespace(ns: &mut Value, name: &str) {
    let meta = &mut ns["metadata"];
    if meta.get("labels").is_none() {
        meta["labels"] = json!({});
    }
    meta["labels"]["kubernetes.io/metadata.name"] = json!(name);
    ns["spec"] = json!({"finalizers": ["kubernetes"]});
    ns["status"] = json!({"phase": "Active"});
}

pub fn crd(crd: &mut Value) {
    let names = crd["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let now = util::now_rfc3339();
    crd["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "False", "lastTransitionTime": now, "reason": "Installing", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": accepted,
        "storedVersions": crd["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default()
    });
}
