//! What the containers of the world print: `GET .../pods/NAME/log` as kube-apiserver answers it
//! (text, `container`, `previous`, `tailLines`; the real errors for a missing container, a
//! container not chosen, or no previous run). The lines are what those programs print at start
//! and what they report as they go: the KubeRay operator's controller-runtime JSON lines (its
//! failed pod creates among them, from its own Warning events), Ray's start-up lines, and the
//! `wait-gcs-ready` loop. No process runs: this is a plausible log, not a recorded one.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::util::{self, Status};

/// The query of a log request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogQuery {
    pub container: Option<String>,
    pub previous: bool,
    pub tail_lines: Option<usize>,
}

/// The log of one container of `pod`, or the error kube-apiserver answers.
pub fn container_log(cl: &Cluster, pod: &Value, q: &LogQuery) -> Result<String, Status> {
    let name = util::get_str(pod, &["metadata", "name"]).unwrap_or_default();
    let names: Vec<&str> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    let app: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match &q.container {
        Some(c) if names.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(Status::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if app.len() == 1 => app[0].to_string(),
        None => {
            return Err(Status::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                app.join(" ")
            )));
        }
    };
    let status = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][k].as_array().into_iter().flatten())
        .find(|s| s["name"] == container.as_str());
    let restarts = status.and_then(|s| s["restartCount"].as_i64()).unwrap_or(0);
    let started = status.is_some_and(|s| {
        s["state"].get("running").is_some()
            || s["state"].get("terminated").is_some()
            || restarts > 0
    });
    if q.previous && restarts == 0 {
        return Err(Status::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    if !started {
        let reason = status
            .and_then(|s| s["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating");
        return Err(Status::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let c = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .chain(pod["spec"]["containers"].as_array())
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    let lines = lines_of(cl, pod, &c, q.previous);
    let keep = q.tail_lines.unwrap_or(lines.len()).min(lines.len());
    Ok(lines[lines.len() - keep..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect())
}

fn lines_of(cl: &Cluster, pod: &Value, c: &Value, previous: bool) -> Vec<String> {
    let image = c["image"].as_str().unwrap_or_default();
    let started = pod["status"]["startTime"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if image.contains("kuberay/operator") {
        operator_lines(cl, pod, &started, previous)
    } else if c["name"] == "wait-gcs-ready" {
        vec![
            "Waiting for GCS to be ready.".into(),
            "GCS is ready.".into(),
        ]
    } else if image.contains("rayproject/") {
        ray_lines(pod, &started)
    } else {
        vec![]
    }
}

fn operator_lines(cl: &Cluster, pod: &Value, ts: &str, previous: bool) -> Vec<String> {
    let line = |level: &str, logger: &str, msg: &str, extra: Value| {
        let mut l = json!({"level": level, "ts": ts, "logger": logger, "msg": msg});
        if let (Some(l), Some(extra)) = (l.as_object_mut(), extra.as_object()) {
            l.extend(extra.clone());
        }
        l.to_string()
    };
    let scope = crate::operator::objects::watch_namespaces(pod);
    let mut out = vec![
        match scope.as_deref() {
            None => line(
                "info",
                "setup",
                "Flag watchNamespace is not set. Watch custom resources in all namespaces.",
                json!({}),
            ),
            Some([one]) => line(
                "info",
                "setup",
                "Only watch custom resources in the namespace.",
                json!({"namespace": one}),
            ),
            Some(many) => line(
                "info",
                "setup",
                "Only watch custom resources in multiple namespaces.",
                json!({"namespaces": many}),
            ),
        },
        line("info", "setup", "Setup manager", json!({})),
    ];
    if previous {
        out.push(line(
            "error",
            "setup",
            "problem running manager",
            json!({"error": "failed to wait for raycluster caches to sync: timed out waiting for cache to be synced"}),
        ));
        return out;
    }
    out.push(line("info", "setup", "starting manager", json!({})));
    out.push(line(
        "info",
        "controller-runtime.metrics",
        "Serving metrics server",
        json!({"bindAddress": ":8080", "secure": false}),
    ));
    out.push(line(
        "info",
        "",
        "Starting Controller",
        json!({"controller": "raycluster-controller", "controllerGroup": "ray.io", "controllerKind": "RayCluster"}),
    ));
    // What it reported as it went: its Warning events, as it logs them.
    let ns = util::get_str(pod, &["metadata", "namespace"]).unwrap_or_default();
    let (events, _) = cl.store.list("events", None);
    let in_scope = |e: &Value| {
        let ns = e["involvedObject"]["namespace"]
            .as_str()
            .unwrap_or_default();
        scope.as_ref().is_none_or(|s| s.iter().any(|n| n == ns))
    };
    for e in events.iter().filter(|e| {
        e["source"]["component"] == "raycluster-controller" && e["type"] == "Warning" && in_scope(e)
    }) {
        out.push(line(
            "error",
            "controllers.RayCluster",
            e["reason"].as_str().unwrap_or_default(),
            json!({"RayCluster": {"name": e["involvedObject"]["name"], "namespace": e["involvedObject"]["namespace"]},
                   "reconcileID": e["metadata"]["uid"], "error": e["message"], "operatorNamespace": ns}),
        ));
    }
    out
}

fn ray_lines(pod: &Value, ts: &str) -> Vec<String> {
    let ip = pod["status"]["podIP"].as_str().unwrap_or("10.244.0.5");
    let head = util::labels_of(pod)
        .get("ray.io/node-type")
        .map(String::as_str)
        == Some("head");
    let when = ts.replace('T', " ").trim_end_matches('Z').to_string();
    let mut out = vec![
        format!("{when},000\tINFO usage_lib.py:467 -- Usage stats collection is disabled."),
        format!(
            "{when},000\tINFO scripts.py:{} -- Local node IP: {ip}",
            if head { 744 } else { 926 }
        ),
    ];
    if head {
        out.push(format!(
            "{when},000\tSUCC scripts.py:781 -- Ray runtime started."
        ));
        out.push(format!(
            "{when},000\tINFO scripts.py:788 -- Dashboard: http://{ip}:8265"
        ));
    } else {
        out.push(format!(
            "{when},000\tSUCC scripts.py:939 -- Ray runtime started."
        ));
    }
    out.push(format!("{when},000\tINFO scripts.py:1050 -- --block"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(statuses: Value) -> Value {
        json!({
            "metadata": {"name": "raycluster-pod-security-head-x", "namespace": "pod-security", "labels": {"ray.io/node-type": "head"}},
            "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray-ml:2.4.0-cpu"}, {"name": "sidecar", "image": "busybox"}]},
            "status": {"startTime": "2026-12-01T10:00:00Z", "podIP": "10.244.0.7", "containerStatuses": statuses}
        })
    }

    #[test]
    fn lines_errors_and_tail_as_the_apiserver_answers() {
        let cl = Cluster::for_tests();
        let running =
            pod(json!([{"name": "ray-head", "restartCount": 0, "state": {"running": {}}}]));
        let q = |c: &str| LogQuery {
            container: Some(c.into()),
            ..Default::default()
        };
        let log = container_log(&cl, &running, &q("ray-head")).unwrap();
        assert!(
            log.contains("Local node IP: 10.244.0.7\n") && log.contains("Ray runtime started."),
            "{log}"
        );
        let tail = container_log(
            &cl,
            &running,
            &LogQuery {
                tail_lines: Some(1),
                ..q("ray-head")
            },
        )
        .unwrap();
        assert_eq!(
            tail,
            "2026-12-01 10:00:00,000\tINFO scripts.py:1050 -- --block\n"
        );
        let e = container_log(&cl, &running, &LogQuery::default()).unwrap_err();
        assert_eq!(
            e.message.as_deref().unwrap(),
            "a container name must be specified for pod raycluster-pod-security-head-x, choose one of: [ray-head sidecar]"
        );
        let e = container_log(&cl, &running, &q("nope")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_deref().unwrap()),
            (
                400,
                "container nope is not valid for pod raycluster-pod-security-head-x"
            )
        );
        let e = container_log(
            &cl,
            &running,
            &LogQuery {
                previous: true,
                ..q("ray-head")
            },
        )
        .unwrap_err();
        assert_eq!(
            e.message.as_deref().unwrap(),
            "previous terminated container \"ray-head\" in pod \"raycluster-pod-security-head-x\" not found"
        );
        let waiting = pod(
            json!([{"name": "ray-head", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]),
        );
        let e = container_log(&cl, &waiting, &q("ray-head")).unwrap_err();
        assert_eq!(
            e.message.as_deref().unwrap(),
            "container \"ray-head\" in pod \"raycluster-pod-security-head-x\" is waiting to start: ImagePullBackOff"
        );
    }
}
