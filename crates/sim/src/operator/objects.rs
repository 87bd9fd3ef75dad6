//! The operator's `--watch-namespace` scope, and the objects the KubeRay operator creates for a
//! RayCluster, shaped like KubeRay v1.5.1's: the
//! head Service, and head and worker pods built from the group templates (the `ray start`
//! command, env, probes, `/dev/shm`, and the `wait-gcs-ready` init container of workers).

use serde_json::{Value, json};

use crate::util;

/// The namespaces an operator pod reconciles: its `--watch-namespace a,b` (or
/// `--watch-namespace=a,b`), or every namespace (None).
pub fn watch_namespaces(pod: &Value) -> Option<Vec<String>> {
    let args: Vec<&str> = pod
        .pointer("/spec/containers/0/args")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    let value = args.iter().enumerate().find_map(|(i, a)| {
        if *a == "--watch-namespace" {
            args.get(i + 1).copied()
        } else {
            a.strip_prefix("--watch-namespace=")
        }
    })?;
    let nss: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    (!nss.is_empty()).then_some(nss)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeType {
    Head,
    Worker,
}

impl NodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Head => "head",
            NodeType::Worker => "worker",
        }
    }
}

/// Does pod `p` carry `ray.io/node-type: t`?
pub fn node_type_is(p: &Value, t: NodeType) -> bool {
    util::labels_of(p)
        .get("ray.io/node-type")
        .map(String::as_str)
        == Some(t.as_str())
}

fn labels(cluster: &str, node_type: &str, group: &str) -> Value {
    json!({
        "ray.io/cluster": cluster,
        "ray.io/node-type": node_type,
        "ray.io/group": group,
        "ray.io/identifier": format!("{cluster}-{node_type}"),
        "ray.io/is-ray-node": "yes",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    })
}

fn owner_ref(rc: &Value) -> Value {
    json!([{
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "name": rc["metadata"]["name"],
        "uid": rc["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true
    }])
}

pub fn head_service(rc: &Value, name: &str, ns: &str) -> Value {
    let c0 = rc
        .pointer("/spec/headGroupSpec/template/spec/containers/0")
        .cloned()
        .unwrap_or(json!({}));
    let mut ports: Vec<Value> = c0["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("name").is_some())
        .map(|p| json!({"name": p["name"], "protocol": "TCP", "appProtocol": "tcp", "port": p["containerPort"], "targetPort": p["containerPort"]}))
        .collect();
    if ports.is_empty() {
        for (n, p) in [
            ("client", 10001),
            ("gcs-server", 6379),
            ("dashboard", 8265),
            ("serve", 8000),
        ] {
            ports.push(json!({"name": n, "protocol": "TCP", "appProtocol": "tcp", "port": p, "targetPort": p}));
        }
    }
    if !ports.iter().any(|p| p["name"] == "metrics") {
        ports.push(json!({"name": "metrics", "protocol": "TCP", "appProtocol": "tcp", "port": 8080, "targetPort": 8080}));
    }
    let mut l = labels(name, "head", "headgroup");
    l.as_object_mut().unwrap().remove("ray.io/group");
    l.as_object_mut().unwrap().remove("ray.io/is-ray-node");
    json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": format!("{name}-head-svc"), "namespace": ns, "labels": l, "ownerReferences": owner_ref(rc)},
        "spec": {
            "ports": ports,
            "selector": {"ray.io/cluster": name, "ray.io/node-type": "head"},
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "type": "ClusterIP"
        }
    })
}

fn ray_start_args(params: &Value) -> String {
    let mut v: Vec<String> = params
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "--{k}={}",
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(" ")
}

/// A head pod (`group` None) or a pod of a worker group, as KubeRay builds it from the template.
pub fn build_pod(rc: &Value, ns: &str, node_type: NodeType, group: Option<&Value>) -> Value {
    let name = util::get_str(rc, &["metadata", "name"]).unwrap_or_default();
    let spec_src = match group {
        None => rc
            .pointer("/spec/headGroupSpec")
            .cloned()
            .unwrap_or(json!({})),
        Some(g) => g.clone(),
    };
    let template = &spec_src["template"];
    let group_name = group
        .and_then(|g| g["groupName"].as_str())
        .unwrap_or("headgroup");
    let meta = pod_metadata(rc, template, ns, node_type, group_name);
    let mut spec = template["spec"].clone();
    let svc = format!("{name}-head-svc.{ns}.svc.cluster.local");
    let params = ray_start_args(&spec_src["rayStartParams"]);
    if let Some(c0) = spec.pointer_mut("/containers/0") {
        make_ray_container(c0, node_type, &svc, &params);
    }
    let mut vols = spec["volumes"].as_array().cloned().unwrap_or_default();
    vols.push(json!({"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}));
    spec["volumes"] = json!(vols);
    if node_type == NodeType::Worker {
        let c0 = spec.pointer("/containers/0").cloned().unwrap_or(json!({}));
        let mut inits = spec["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        inits.insert(0, wait_gcs_ready(&c0, &svc, name));
        spec["initContainers"] = json!(inits);
    }
    json!({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec})
}

/// The template's metadata plus KubeRay's labels, annotation, generateName and owner.
fn pod_metadata(
    rc: &Value,
    template: &Value,
    ns: &str,
    node_type: NodeType,
    group_name: &str,
) -> Value {
    let name = util::get_str(rc, &["metadata", "name"]).unwrap_or_default();
    let object_or_empty =
        |v: Option<&Value>| v.cloned().filter(|m| m.is_object()).unwrap_or(json!({}));
    let mut meta = object_or_empty(template.get("metadata"));
    let mut l = object_or_empty(meta.get("labels"));
    for (k, v) in labels(name, node_type.as_str(), group_name)
        .as_object()
        .unwrap()
    {
        l[k] = v.clone();
    }
    meta["labels"] = l;
    let mut ann = object_or_empty(meta.get("annotations"));
    ann["ray.io/ft-enabled"] = json!("false");
    meta["annotations"] = ann;
    meta["generateName"] = json!(match node_type {
        NodeType::Head => format!("{name}-head-"),
        NodeType::Worker => format!("{name}-{group_name}-worker-"),
    });
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = owner_ref(rc);
    meta
}

/// The Ray container: `ray start` command, KubeRay's env, the metrics port, exec probes and
/// `/dev/shm`.
fn make_ray_container(c0: &mut Value, node_type: NodeType, svc: &str, params: &str) {
    let head = node_type == NodeType::Head;
    let start = if head {
        format!(
            "ulimit -n 65536; ray start --head  --block  --dashboard-agent-listen-port=52365  --memory=2147483648  --metrics-export-port=8080  --num-cpus=1 {params}"
        )
    } else {
        format!(
            "ulimit -n 65536; ray start  --address={svc}:6379  --block  --dashboard-agent-listen-port=52365  --memory=2147483648  --metrics-export-port=8080  --num-cpus=1 {params}"
        )
    };
    c0["command"] = json!(["/bin/bash", "-c", "--"]);
    c0["args"] = json!([start]);
    let mut env = c0["env"].as_array().cloned().unwrap_or_default();
    env.extend([
        json!({"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['ray.io/cluster']"}}}),
        json!({"name": "RAY_CLOUD_INSTANCE_ID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
        json!({"name": "RAY_NODE_TYPE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['ray.io/group']"}}}),
        json!({"name": "KUBERAY_GEN_RAY_START_CMD", "value": c0["args"][0]}),
        json!({"name": "RAY_PORT", "value": "6379"}),
        json!({"name": "RAY_ADDRESS", "value": if head { "127.0.0.1:6379".to_string() } else { format!("{svc}:6379") }}),
        json!({"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"}),
        json!({"name": "RAY_USAGE_STATS_EXTRA_TAGS", "value": "kuberay_version=v1.5.1;kuberay_crd=RayCluster"}),
        json!({"name": "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "value": "1"}),
    ]);
    c0["env"] = json!(env);
    let mut ports = c0["ports"].as_array().cloned().unwrap_or_default();
    if !ports.iter().any(|p| p["containerPort"] == 8080) {
        ports.push(json!({"containerPort": 8080, "name": "metrics", "protocol": "TCP"}));
    }
    c0["ports"] = json!(ports);
    let probe_cmd = if head {
        "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success && wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
    } else {
        "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
    };
    c0["readinessProbe"] = json!({"exec": {"command": ["bash", "-c", probe_cmd]}, "initialDelaySeconds": 10, "timeoutSeconds": 2, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 10});
    c0["livenessProbe"] = json!({"exec": {"command": ["bash", "-c", probe_cmd]}, "initialDelaySeconds": 30, "timeoutSeconds": 2, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 120});
    let mut mounts = c0["volumeMounts"].as_array().cloned().unwrap_or_default();
    mounts.push(json!({"mountPath": "/dev/shm", "name": "shared-mem"}));
    c0["volumeMounts"] = json!(mounts);
}

/// ENABLE_INIT_CONTAINER_INJECTION: wait for the GCS, same image and securityContext as the Ray
/// container.
fn wait_gcs_ready(c0: &Value, svc: &str, name: &str) -> Value {
    let mut init = json!({
        "name": "wait-gcs-ready",
        "image": c0["image"],
        "imagePullPolicy": c0.get("imagePullPolicy").cloned().unwrap_or(json!("IfNotPresent")),
        "command": ["/bin/bash", "-lc", "--"],
        "args": [format!("SECONDS=0\nwhile true; do\n  if (( SECONDS <= 120 )); then\n    if ray health-check --address {svc}:6379 > /dev/null 2>&1; then\n      echo \"GCS is ready.\"\n      break\n    fi\n    echo \"$SECONDS seconds elapsed: Waiting for GCS to be ready.\"\n  else\n    if ray health-check --address {svc}:6379; then\n      echo \"GCS is ready. Any error messages above can be safely ignored.\"\n      break\n    fi\n    echo \"$SECONDS seconds elapsed: Still waiting for GCS to be ready. For troubleshooting, refer to the FAQ at https://github.com/ray-project/kuberay/blob/master/docs/guidance/FAQ.md.\"\n  fi\n  sleep 5\ndone\n")],
        "env": [{"name": "FQ_RAY_IP", "value": svc}, {"name": "RAY_IP", "value": format!("{name}-head-svc")}],
        "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}, "requests": {"cpu": "200m", "memory": "256Mi"}},
    });
    if let Some(sc) = c0.get("securityContext") {
        init["securityContext"] = sc.clone();
    }
    if let Some(vm) = c0.get("volumeMounts") {
        init["volumeMounts"] = vm.clone();
    }
    init
}
