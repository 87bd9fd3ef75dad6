//! World fidelity, driven with kube-rs exactly as the harness drives a real kind cluster. Each test
//! names one behaviour and brings a fresh world up to the state it needs (see `common`).

mod common;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Service};
use kube::api::{Api, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use sim::Fault;
use std::time::Duration;

const COMPLETE: &str = "raycluster-complete";
const REJECTED_HEAD_EVENTS: &str =
    "involvedObject.name=raycluster-complete,reason=FailedToCreateHeadPod";

/// The tutorial up to step 5.1: ray-cluster.complete.yaml applied, its head pod rejected.
async fn up_to_rejected_head(tw: &TestWorld) -> (kube::Client, Event) {
    let client = up_to_operator(tw).await;
    apply_yaml(
        &client,
        &shared("upstream/kuberay/ray-cluster.complete.yaml"),
    )
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let ev = eventually("FailedToCreateHeadPod", Duration::from_secs(20), || async {
        let l = events
            .list(&ListParams::default().fields(REJECTED_HEAD_EVENTS))
            .await
            .unwrap();
        l.items.into_iter().next()
    })
    .await;
    (client, ev)
}

/// The 403 audit line of the rejected head pod, parsed.
async fn rejected_head_audit_line(tw: &TestWorld) -> Value {
    let lines = tw.audit_lines().await;
    lines
        .into_iter()
        .find(|l| l["responseStatus"]["code"] == 403)
        .expect("a 403 in the audit log")
}

fn condition<'a>(rc: &'a DynamicObject, t: &str) -> Option<&'a Value> {
    rc.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_creates_one_cluster_per_name_with_an_empty_audit_log() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(
        tw.tool("kind", &["get", "clusters"]).await.stderr,
        "No kind clusters found.\n"
    );
    let out = tw.create_cluster().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("Creating cluster \"e2e\" ...\n"),
        "{}",
        out.stderr
    );
    let again = tw.create_cluster().await;
    assert_eq!(
        (again.code, again.stderr.as_str()),
        (
            1,
            "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"e2e\"\n"
        )
    );
    // Step 2: the audit log exists and is empty.
    assert_eq!(tw.audit_raw().await, "");
    let v = tw.client().await.apiserver_version().await.unwrap();
    assert_eq!(
        (v.git_version.as_str(), v.minor.as_str()),
        ("v1.26.15", "26")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installed_operator_runs_one_pod() {
    let tw = TestWorld::start(vec![]).await;
    let client = up_to_operator(&tw).await;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let op = pods
        .list(&ListParams::default().labels(
            "app.kubernetes.io/name=kuberay-operator,app.kubernetes.io/instance=kuberay-operator",
        ))
        .await
        .unwrap();
    assert_eq!(op.items.len(), 1);
    assert!(running_ready(&op.items[0]));
}

/// `pods/log` is the container's log as text (not the pod object), with the apiserver's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_are_text_with_the_apiservers_errors() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _) = up_to_rejected_head(&tw).await;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let op = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=kuberay-operator"))
        .await
        .unwrap()
        .items
        .remove(0);
    let name = op.metadata.name.unwrap();
    let log = pods.logs(&name, &Default::default()).await.unwrap();
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{log}"
    );
    assert!(log.contains("\"msg\":\"starting manager\""), "{log}");
    assert!(
        log.contains("\"msg\":\"FailedToCreateHeadPod\""),
        "its failed creates: {log}"
    );
    let tail = pods
        .logs(
            &name,
            &kube::api::LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let previous = kube::api::LogParams {
        previous: true,
        ..Default::default()
    };
    match pods.logs(&name, &previous).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400);
            assert!(
                e.message
                    .starts_with("previous terminated container \"kuberay-operator\""),
                "{e:?}"
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_head_pod_is_reported_as_failed_to_create_head_pod() {
    let tw = TestWorld::start(vec![]).await;
    let (_client, ev) = up_to_rejected_head(&tw).await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let msg = ev.message.unwrap();
    assert!(
        msg.starts_with(
            "Failed to create head Pod pod-security/, pods \"raycluster-complete-head-"
        ),
        "{msg}"
    );
    assert!(msg.ends_with(HEAD_403), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_head_pod_sets_replica_failure_and_creates_only_the_service() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _) = up_to_rejected_head(&tw).await;
    let rcs = raycluster_api(&client);
    let rc = eventually(
        "ReplicaFailure condition",
        Duration::from_secs(10),
        || async {
            let rc = rcs.get(COMPLETE).await.unwrap();
            condition(&rc, "ReplicaFailure").is_some().then_some(rc)
        },
    )
    .await;
    let rf = condition(&rc, "ReplicaFailure").unwrap();
    assert_eq!(
        (rf["status"].as_str(), rf["reason"].as_str()),
        (Some("True"), Some("FailedCreateHeadPod"))
    );
    assert!(
        rf["message"]
            .as_str()
            .unwrap()
            .starts_with("FailedCreateHeadPod\npods \"raycluster-complete-head-")
    );
    let hr = condition(&rc, "HeadPodReady").unwrap();
    assert_eq!(
        (hr["status"].as_str(), hr["reason"].as_str()),
        (Some("False"), Some("HeadPodNotFound"))
    );
    assert!(
        rc.data["status"].get("state").is_none(),
        "state is never set on failure: {}",
        rc.data["status"]
    );
    // The head service exists anyway; no pods but the operator's.
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    svcs.get("raycluster-complete-head-svc").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let ray_pods = pods
        .list(&ListParams::default().labels("ray.io/cluster=raycluster-complete"))
        .await
        .unwrap();
    assert_eq!(ray_pods.items.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_403_has_psa_shape() {
    let tw = TestWorld::start(vec![]).await;
    up_to_rejected_head(&tw).await;
    // facts §4.2 shape.
    let d = rejected_head_audit_line(&tw).await;
    assert_eq!(d["verb"], "create");
    assert_eq!(d["stage"], "ResponseComplete");
    assert_eq!(d["level"], "Metadata");
    assert_eq!(
        d["user"]["username"],
        "system:serviceaccount:pod-security:kuberay-operator"
    );
    assert_eq!(
        d["objectRef"],
        json!({"resource": "pods", "namespace": "pod-security", "apiVersion": "v1"})
    );
    let m = d["responseStatus"]["message"].as_str().unwrap();
    let gen_name = d["responseStatus"]["details"]["name"].as_str().unwrap();
    assert_eq!(m, format!("pods \"{gen_name}\" {HEAD_403}"));
    assert_eq!(d["responseStatus"]["reason"], "Forbidden");
    assert_eq!(
        d["annotations"]["pod-security.kubernetes.io/enforce-policy"],
        "restricted:latest"
    );
    assert_eq!(
        d["annotations"]["pod-security.kubernetes.io/audit-violations"],
        format!(
            "would violate PodSecurity \"restricted:latest\": {}",
            HEAD_403.split("\"restricted:latest\": ").nth(1).unwrap()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_line_keeps_the_apiservers_key_order() {
    let tw = TestWorld::start(vec![]).await;
    up_to_rejected_head(&tw).await;
    let raw = tw.audit_raw().await;
    let line = raw.lines().find(|l| l.contains("\"code\":403")).unwrap();
    let keys = [
        "\"kind\":\"Event\"",
        "\"apiVersion\":\"audit.k8s.io/v1\"",
        "\"level\":",
        "\"auditID\":",
        "\"stage\":",
        "\"requestURI\":\"/api/v1/namespaces/pod-security/pods\"",
        "\"verb\":",
        "\"user\":",
        "\"sourceIPs\":",
        "\"userAgent\":",
        "\"objectRef\":",
        "\"responseStatus\":{\"metadata\":{},\"status\":\"Failure\",\"message\":",
        "\"reason\":\"Forbidden\",\"details\":{\"name\":",
        "\"kind\":\"pods\"},\"code\":403}",
        "\"requestReceivedTimestamp\":",
        "\"stageTimestamp\":",
        "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"",
    ];
    let mut at = 0;
    for k in keys {
        let i = line[at..]
            .find(k)
            .unwrap_or_else(|| panic!("{k} not after {at} in {line}"));
        at += i + k.len();
    }
    let d: Value = serde_json::from_str(line).unwrap();
    let ts = d["requestReceivedTimestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2024-08-14T05:40:56.794659Z".len(), "{ts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_names_controllers_and_the_kind_admin() {
    let tw = TestWorld::start(vec![]).await;
    let client = up_to_operator(&tw).await;
    // A harness request the tutorial's policy audits: pods in pod-security.
    let pods: Api<Pod> = Api::namespaced(client, NS);
    pods.list(&ListParams::default()).await.unwrap();
    let lines = tw.audit_lines().await;
    // The operator's own pod was created by the replicaset-controller and audited.
    assert!(lines.iter().any(|l| l["verb"] == "create"
        && l["user"]["username"] == "system:serviceaccount:kube-system:replicaset-controller"
        && l["responseStatus"]["code"] == 201));
    // Harness requests: kubernetes-admin, system:masters on 1.26.
    let admin = lines
        .iter()
        .find(|l| l["user"]["username"] == "kubernetes-admin")
        .unwrap();
    assert_eq!(
        admin["user"]["groups"],
        json!(["system:masters", "system:authenticated"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_correlation_combines_ten_messages() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _) = up_to_rejected_head(&tw).await;
    let events: Api<Event> = Api::namespaced(client, NS);
    // client-go's event correlation: 10+ distinct messages are combined into one event.
    let combined = eventually("combined FailedToCreateHeadPod", Duration::from_secs(15), || async {
        let l = events
            .list(&ListParams::default().fields(REJECTED_HEAD_EVENTS))
            .await
            .unwrap();
        l.items.into_iter().find(|e| {
            e.message.as_deref().is_some_and(|m| m.starts_with("(combined from similar events): Failed to create head Pod pod-security/, pods \"raycluster-complete-head-"))
        })
    })
    .await;
    assert!(combined.count.unwrap() >= 1);
    let all = events
        .list(&ListParams::default().fields("reason=FailedToCreateHeadPod"))
        .await
        .unwrap();
    assert!(
        all.items.len() <= 10,
        "{} distinct event objects",
        all.items.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_raycluster_garbage_collects_its_service() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _) = up_to_rejected_head(&tw).await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    svcs.get("raycluster-complete-head-svc").await.unwrap();
    raycluster_api(&client)
        .delete(COMPLETE, &Default::default())
        .await
        .unwrap();
    eventually(
        "head svc garbage-collected",
        Duration::from_secs(10),
        || async {
            svcs.get_opt("raycluster-complete-head-svc")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_raycluster_gets_a_ready_head_seen_through_a_watch() {
    let tw = TestWorld::start(vec![]).await;
    let client = up_to_operator(&tw).await;
    apply_yaml(
        &client,
        &shared("upstream/kuberay/ray-cluster.pod-security.yaml"),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    cms.get("ray-example").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let stream = watcher(
        pods.clone(),
        watcher::Config::default().labels(HEAD_SELECTOR),
    )
    .default_backoff()
    .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let head = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(p) = stream.try_next().await.unwrap() {
            if running_ready(&p) {
                return p;
            }
        }
        panic!("watch ended")
    })
    .await
    .expect("head Running+Ready");
    let head_name = head.metadata.name.clone().unwrap();
    assert!(head_name.starts_with("raycluster-pod-security-head-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_waits_for_the_gcs_with_the_ray_containers_security_context() {
    let tw = TestWorld::start(vec![]).await;
    let (_client, pods, _head) = up_to_pod_security_cluster(&tw).await;
    let w = ready_pod(
        &pods,
        "ray.io/cluster=raycluster-pod-security,ray.io/node-type=worker",
    )
    .await;
    assert!(
        w.metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with("raycluster-pod-security-large-group-worker-")
    );
    let workers = pods
        .list(
            &ListParams::default()
                .labels("ray.io/cluster=raycluster-pod-security,ray.io/node-type=worker"),
        )
        .await
        .unwrap();
    assert_eq!(workers.items.len(), 1);
    let spec = w.spec.as_ref().unwrap();
    let init = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(init.name, "wait-gcs-ready");
    assert_eq!(init.security_context, spec.containers[0].security_context);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_raycluster_reports_its_conditions_and_service_ports() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _pods, _head) = up_to_pod_security_cluster(&tw).await;
    let rcs = raycluster_api(&client);
    let rc = eventually("RayCluster ready", Duration::from_secs(20), || async {
        let rc = rcs.get("raycluster-pod-security").await.unwrap();
        (rc.data["status"]["state"] == "ready").then_some(rc)
    })
    .await;
    let hr = condition(&rc, "HeadPodReady").unwrap();
    assert_eq!(
        (hr["status"].as_str(), hr["reason"].as_str()),
        (Some("True"), Some("HeadPodRunningAndReady"))
    );
    assert_eq!(
        condition(&rc, "RayClusterProvisioned").unwrap()["status"],
        "True"
    );
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    let svc = svcs.get("raycluster-pod-security-head-svc").await.unwrap();
    let ports: Vec<String> = svc
        .spec
        .unwrap()
        .ports
        .unwrap()
        .into_iter()
        .map(|p| p.name.unwrap())
        .collect();
    assert_eq!(ports, ["gcs", "dashboard", "client", "metrics"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_tutorial_commands_with_exit_codes() {
    let tw = TestWorld::start(vec![]).await;
    let (_client, pods, head_name) = up_to_pod_security_cluster(&tw).await;
    // Exit codes come from the status channel.
    let (code, out, _err) = exec(
        &pods,
        &head_name,
        &["python3", "samples/xgboost_example.py"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("{'train-logloss'"),
        "{out}"
    );
    let (code, out, _) = exec(&pods, &head_name, &["pip3", "install", "jsonpatch"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Successfully installed jsonpatch"));
    let (code, _, err) = exec(&pods, &head_name, &["no-such-tool", "--x"]).await;
    assert_eq!(code, 127);
    assert!(err.contains("command not found"));
}

fn fixture_json(name: &str) -> Value {
    let path = shared(&format!("fixtures/ray/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<&String> {
    v.as_object().unwrap().keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_answers_like_the_recorded_fixtures() {
    let tw = TestWorld::start(vec![]).await;
    let (_client, pods, head_name) = up_to_pod_security_cluster(&tw).await;
    let (code, ..) = exec(
        &pods,
        &head_name,
        &["python3", "samples/xgboost_example.py"],
    )
    .await;
    assert_eq!(code, 0);
    // Port-forward to the dashboard, parse like the recorded fixture.
    let (code, body) = dashboard_get(&pods, &head_name, "/api/jobs/").await;
    assert_eq!(code, 200);
    let jobs: Vec<Value> = serde_json::from_str(&body).unwrap();
    let fixture = fixture_json("api-jobs.ray-2.60.0.json");
    assert_eq!(jobs.len(), 1);
    assert_eq!(keys(&jobs[0]), keys(&fixture[2]));
    assert_eq!(
        (
            jobs[0]["type"].as_str(),
            jobs[0]["status"].as_str(),
            jobs[0]["entrypoint"].as_str()
        ),
        (
            Some("DRIVER"),
            Some("SUCCEEDED"),
            Some("python3 samples/xgboost_example.py")
        )
    );
    assert!(jobs[0]["driver_exit_code"].is_null() && jobs[0]["submission_id"].is_null());
    let (code, body) = dashboard_get(&pods, &head_name, "/api/version").await;
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys(&v), keys(&fixture_json("api-version.ray-2.60.0.json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admitted_pods_are_audited_and_events_read_as_events_v1() {
    let tw = TestWorld::start(vec![]).await;
    let (client, _pods, _head) = up_to_pod_security_cluster(&tw).await;
    let lines = tw.audit_lines().await;
    assert!(lines.iter().any(|l| l["verb"] == "create"
        && l["responseStatus"]["code"] == 201
        && l["user"]["username"] == "system:serviceaccount:pod-security:kuberay-operator"));
    let ev2: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, NS);
    let l = ev2
        .list(
            &ListParams::default()
                .fields("regarding.name=raycluster-pod-security,reason=CreatedHeadPod"),
        )
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    assert!(
        l.items[0]
            .note
            .as_ref()
            .unwrap()
            .starts_with("Created head Pod pod-security/raycluster-pod-security-head-")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_raycluster_then_the_kind_cluster_stops_everything() {
    let tw = TestWorld::start(vec![]).await;
    let (client, pods, _head) = up_to_pod_security_cluster(&tw).await;
    // ownerReferences GC, graceful pod deletion.
    raycluster_api(&client)
        .delete("raycluster-pod-security", &Default::default())
        .await
        .unwrap();
    eventually("pods gone", Duration::from_secs(20), || async {
        pods.list(&ListParams::default().labels("ray.io/cluster=raycluster-pod-security"))
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    let kc = tw.kubeconfig.display().to_string();
    let del = tw
        .tool(
            "kind",
            &["delete", "cluster", "--name", "e2e", "--kubeconfig", &kc],
        )
        .await;
    assert_eq!(
        del.stderr.lines().next(),
        Some("Deleting cluster \"e2e\" ...")
    );
    assert!(
        client.apiserver_version().await.is_err(),
        "apiserver stopped"
    );
    let nc = tw.read_audit_log().await;
    assert_eq!(
        (nc.code, nc.stderr.as_str()),
        (
            1,
            "Error response from daemon: No such container: e2e-control-plane\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_drop_and_410() {
    let tw = TestWorld::start(vec![Fault::WatchDropped]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    // A raw watch: dropped mid-stream by the fault, then resuming from an old RV gives 410 Gone.
    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut w = pods
        .watch(&WatchParams::default().labels("app=x"), &rv)
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        let mut bookmarks = 0;
        loop {
            match w.next().await {
                None | Some(Err(_)) => break bookmarks,
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    assert!(
                        b.metadata.resource_version.parse::<u64>().unwrap()
                            >= rv.parse::<u64>().unwrap()
                    );
                    bookmarks += 1
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    let bookmarks = ended.expect("the fault drops the watch");
    assert!(
        bookmarks >= 1,
        "allowWatchBookmarks=true gets BOOKMARK events"
    );
    let mut w = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match w.next().await {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: "),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // kube-runtime's watcher relists and still sees a labelled pod appear.
    let stream = watcher(
        pods.clone(),
        watcher::Config::default()
            .labels("app in (demo),tier=web,!canary")
            .timeout(5),
    )
    .default_backoff()
    .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let pods2 = pods.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "demo", "labels": {"app": "demo", "tier": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}}]}})).unwrap();
        pods2.create(&PostParams::default(), &p).await.unwrap();
    });
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.next().await {
                Some(Ok(p)) if p.metadata.name.as_deref() == Some("demo") => return p,
                Some(_) => {}
                None => panic!("stream ended"),
            }
        }
    })
    .await
    .expect("pod seen through drops");
    assert_eq!(got.metadata.labels.unwrap()["tier"], "web");
}

/// Cluster + labelled namespace + the chart installed with `securityContext: null` (so the
/// operator's pods violate `restricted`). Returns the client and helm's output.
async fn up_to_open_operator(tw: &TestWorld) -> (kube::Client, sim::ToolOutput) {
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    let vals = tw.dir.path().join("open.yaml");
    std::fs::write(&vals, "securityContext: null\n").unwrap();
    (client, tw.helm_install(Some(&vals)).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_template_merges_empty_values_with_chart_defaults() {
    let tw = TestWorld::start(vec![]).await;
    // `{}` merges with the chart defaults (helm coalescing).
    let vals = tw.dir.path().join("open.yaml");
    std::fs::write(&vals, "securityContext: {}\n").unwrap();
    let args = helm_chart_args("template", Some(&vals));
    let t = tw.tool_in("helm", args, tw.dir.path()).await;
    assert_eq!(t.code, 0, "{}", t.stderr);
    assert!(
        t.stdout
            .contains("# Source: kuberay-operator/templates/deployment.yaml")
            && t.stdout.contains("runAsNonRoot: true"),
        "{}",
        t.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_prints_psa_warnings_like_klog_and_refuses_a_used_name() {
    let tw = TestWorld::start(vec![]).await;
    // `null` removes the chart's securityContext; the Deployment warning comes back through helm.
    let (_client, out) = up_to_open_operator(&tw).await;
    assert_eq!(out.code, 0);
    let w = out
        .stderr
        .lines()
        .find(|l| l.contains("warnings.go:70]"))
        .expect("a PodSecurity warning");
    assert!(w.starts_with('W') && w.contains("] would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"kuberay-operator\""), "{w}");
    let again = tw
        .helm_install(Some(&tw.dir.path().join("open.yaml")))
        .await;
    assert_eq!(
        (again.code, again.stderr.as_str()),
        (
            1,
            "Error: INSTALLATION FAILED: cannot re-use a name that is still in use\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_replicaset_pods_fail_the_deployment() {
    let tw = TestWorld::start(vec![]).await;
    let (client, out) = up_to_open_operator(&tw).await;
    assert_eq!(out.code, 0);
    // The ReplicaSet's pod creates are rejected: FailedCreate events, Deployment ReplicaFailure.
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let ev = eventually("FailedCreate", Duration::from_secs(10), || async {
        events
            .list(&ListParams::default().fields("reason=FailedCreate"))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    assert!(
        ev.message
            .unwrap()
            .starts_with("Error creating: pods \"kuberay-operator-")
    );
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let d = eventually("ReplicaFailure", Duration::from_secs(10), || async {
        let d = deploys.get("kuberay-operator").await.unwrap();
        d.status
            .clone()
            .and_then(|s| s.conditions)
            .filter(|cs| cs.iter().any(|c| c.type_ == "ReplicaFailure"))
            .map(|_| d)
    })
    .await;
    let cs = d.status.unwrap().conditions.unwrap();
    assert!(
        cs.iter()
            .any(|c| c.type_ == "Available" && c.status == "False")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_pod_create_gets_the_exact_403_and_a_named_audit_line() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.41.0"}]}})).unwrap();
    match pods.create(&PostParams::default(), &p).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.message, format!("pods \"bare\" {HEAD_403}"));
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // Named create: objectRef carries the name.
    let lines = tw.audit_lines().await;
    let l = lines
        .iter()
        .find(|l| l["responseStatus"]["code"] == 403 && l["user"]["username"] == "kubernetes-admin")
        .unwrap();
    assert_eq!(l["objectRef"]["name"], "bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_config_without_audit_flags_has_no_audit_log() {
    let tw = TestWorld::start(vec![]).await;
    let plain = tw.dir.path().join("plain.yaml");
    std::fs::write(
        &plain,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n",
    )
    .unwrap();
    let out = tw
        .create_cluster_with(&plain.display().to_string(), IMAGE)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cat = tw.read_audit_log().await;
    assert_eq!(
        (cat.code, cat.stderr.as_str()),
        (
            1,
            "cat: /var/log/kubernetes/kube-apiserver-audit.log: No such file or directory\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_get_kubeconfig_points_at_the_tls_apiserver() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let got = tw
        .tool("kind", &["get", "kubeconfig", "--name", "e2e"])
        .await;
    assert!(
        got.stdout.contains("current-context: kind-e2e"),
        "{}",
        got.stdout
    );
    assert!(
        got.stdout.contains("server: https://127.0.0.1:")
            && got.stdout.contains("certificate-authority-data: "),
        "{}",
        got.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_config_run_from_the_wrong_directory_fails_kubeadm_init() {
    let tw = TestWorld::start(vec![]).await;
    // The tutorial config's relative hostPath resolves elsewhere: the policy file is missing.
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = tw
        .dir
        .path()
        .join("ray-operator/config/security/kind-config.yaml")
        .display()
        .to_string();
    let kc = tw.kubeconfig.display().to_string();
    let args = [
        "create",
        "cluster",
        "--name",
        "e2e",
        "--config",
        &cfg,
        "--image",
        IMAGE,
        "--kubeconfig",
        &kc,
    ];
    let args = args.iter().map(|s| s.to_string()).collect();
    let out = tw.tool_in("kind", args, elsewhere.path()).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("ERROR: failed to create cluster: failed to init node with kubeadm"),
        "{}",
        out.stderr
    );
    assert_eq!(tw.tool("kind", &["get", "clusters"]).await.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_admin_is_a_kubeadm_cluster_admin_from_1_29() {
    let tw = TestWorld::start(vec![]).await;
    let out = tw
        .create_cluster_with(
            "ray-operator/config/security/kind-config.yaml",
            "kindest/node:v1.30.0",
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client = tw.client().await;
    label_namespace(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.list(&ListParams::default()).await.unwrap();
    let l = audited_admin_request(&tw).await;
    assert_eq!(
        l["user"]["groups"],
        json!(["kubeadm:cluster-admins", "system:authenticated"])
    );
    assert!(
        l["annotations"]["authorization.k8s.io/reason"]
            .as_str()
            .unwrap()
            .contains("kubeadm:cluster-admins")
    );
}
