//! Every fault of `sim list-faults` has the observable effect it promises.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use sim::Fault;
use std::time::Duration;

#[test]
fn fault_list_is_complete() {
    let lines = sim::fault_list_lines();
    for (name, expect) in [
        ("apiserver-503-burst", "pass"),
        ("apiserver-429-burst", "pass"),
        ("watch-dropped", "pass"),
        ("port-forward-dropped-once", "pass"),
        ("kind-create-fails", "fail"),
        ("helm-install-fails", "fail"),
        ("operator-never-ready", "fail"),
        ("operator-never-creates-pods", "fail"),
        ("head-image-pull-backoff", "fail"),
        ("xgboost-exits-1", "fail"),
        ("pip-install-exits-1", "fail"),
        ("audit-log-unreadable", "fail"),
        ("psa-labels-ignored", "fail"),
        ("dashboard-never-answers", "fail"),
    ] {
        assert!(lines.contains(&format!("{name} expect={expect}")), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_create_and_helm_install_fail() {
    let tw = TestWorld::start(vec![Fault::KindCreateFails]).await;
    let out = tw.create_cluster().await;
    assert_eq!(out.code, 1);
    let hits = std::fs::read_to_string(tw.dir.path().join("state/fault-hits.jsonl")).unwrap();
    assert!(hits.contains("\"fault\":\"kind-create-fails\""), "{hits}");
    assert!(
        out.stderr.contains(" ✗ Starting control-plane")
            && out
                .stderr
                .contains("ERROR: failed to create cluster: failed to init node with kubeadm"),
        "{}",
        out.stderr
    );
    assert_eq!(tw.tool("kind", &["get", "clusters"]).await.stdout, "");

    let tw = TestWorld::start(vec![Fault::HelmInstallFails]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    let out = tw.helm_install(None).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("Error: INSTALLATION FAILED: "),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xgboost_exits_1_but_dashboard_says_succeeded() {
    let tw = TestWorld::start(vec![Fault::XgboostExits1, Fault::PortForwardDroppedOnce]).await;
    let (_c, pods, head) = up_to_pod_security_cluster(&tw).await;
    let (code, _out, err) = exec(&pods, &head, &["python3", "samples/xgboost_example.py"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("TypeError: XGBoostTrainer.__init__() missing 1 required positional argument"),
        "{err}"
    );
    // port-forward-dropped-once: the first connection dies, a retry works.
    assert!(try_dashboard_get(&pods, &head, "/api/jobs/").await.is_err());
    let (code, body) = try_dashboard_get(&pods, &head, "/api/jobs/").await.unwrap();
    assert_eq!(code, 200);
    let jobs: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(jobs[0]["status"], "SUCCEEDED");
    assert_eq!(
        try_dashboard_get(&pods, &head, "/api/jobs")
            .await
            .unwrap()
            .0,
        404,
        "aiohttp route needs the slash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_fails_and_dashboard_hangs() {
    let tw = TestWorld::start(vec![Fault::PipInstallExits1, Fault::DashboardNeverAnswers]).await;
    let (_c, pods, head) = up_to_pod_security_cluster(&tw).await;
    let (code, _, err) = exec(&pods, &head, &["pip3", "install", "jsonpatch"]).await;
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ERROR: Could not install packages"),
        "{err}"
    );
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        try_dashboard_get(&pods, &head, "/api/jobs/"),
    )
    .await;
    assert!(r.is_err(), "the dashboard never answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_image_pull_backoff() {
    let tw = TestWorld::start(vec![Fault::HeadImagePullBackoff]).await;
    let client = up_to_operator(&tw).await;
    apply_yaml(
        &client,
        &shared("upstream/kuberay/ray-cluster.pod-security.yaml"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let p = eventually("ImagePullBackOff", Duration::from_secs(20), || async {
        let l = pods
            .list(&ListParams::default().labels("ray.io/node-type=head"))
            .await
            .unwrap();
        l.items.into_iter().find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            == Some("ImagePullBackOff")
                    })
                })
        })
    })
    .await;
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_never_ready() {
    let tw = TestWorld::start(vec![Fault::OperatorNeverReady]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    install_operator(&tw).await;
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    eventually("Unhealthy", Duration::from_secs(20), || async {
        events
            .list(&ListParams::default().fields("reason=Unhealthy"))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    let d = Api::<Deployment>::namespaced(client.clone(), NS)
        .get("kuberay-operator")
        .await
        .unwrap();
    let cs = d.status.unwrap().conditions.unwrap();
    assert!(cs.iter().any(|c| c.type_ == "Available"
        && c.status == "False"
        && c.reason.as_deref() == Some("MinimumReplicasUnavailable")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_never_creates_pods() {
    let tw = TestWorld::start(vec![Fault::OperatorNeverCreatesPods]).await;
    let client = up_to_operator(&tw).await;
    apply_yaml(
        &client,
        &shared("upstream/kuberay/ray-cluster.pod-security.yaml"),
    )
    .await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    eventually("head svc", Duration::from_secs(10), || async {
        svcs.get_opt("raycluster-pod-security-head-svc")
            .await
            .unwrap()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    assert!(
        pods.list(&ListParams::default().labels("ray.io/cluster=raycluster-pod-security"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_labels_ignored_and_audit_unreadable() {
    let tw = TestWorld::start(vec![Fault::PsaLabelsIgnored, Fault::AuditLogUnreadable]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    label_namespace(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})).unwrap();
    pods.create(&PostParams::default(), &p)
        .await
        .expect("admitted despite restricted labels");
    let out = tw.read_audit_log().await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            1,
            "cat: /var/log/kubernetes/kube-apiserver-audit.log: Permission denied\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_bursts_are_visible_and_transient() {
    for (fault, code) in [
        (Fault::Apiserver429Burst, 429),
        (Fault::Apiserver503Burst, 503),
    ] {
        let tw = TestWorld::start(vec![fault]).await;
        assert_eq!(tw.create_cluster().await.code, 0);
        let client = tw.client().await;
        label_namespace(&client).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let mut errors = 0;
        for _ in 0..8 {
            if pods.list(&ListParams::default()).await.is_err() {
                errors += 1;
            }
        }
        assert!(
            pods.list(&ListParams::default()).await.is_ok(),
            "the burst is over"
        );
        let lines = tw.audit_lines().await;
        let hits = lines
            .iter()
            .filter(|l| l["responseStatus"]["code"] == code)
            .count();
        assert!(
            hits >= 1,
            "{fault:?}: {hits} audited {code}s, {errors} client-visible errors"
        );
    }
}
