//! `dryRun=All` on writes: validation, defaulting, admission (Pod Security's 403 and warnings)
//! and the audit event all happen, nothing is stored, no watch event is sent; other values get
//! the handlers' 422.

mod common;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

fn compliant(name: &str) -> Pod {
    let mut meta = json!({});
    if let Some(prefix) = name.strip_suffix('-') {
        meta["generateName"] = json!(format!("{prefix}-"));
    } else {
        meta["name"] = json!(name);
    }
    serde_json::from_value(json!({"metadata": meta, "spec": {
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}))
    .unwrap()
}

fn privileged(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}))
    .unwrap()
}

fn api_error(r: Result<Pod, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(e)) => *e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A cluster with the tutorial's restricted namespace (enforce, audit and warn).
async fn restricted_namespace(tw: &TestWorld) -> kube::Client {
    let out = tw.create_cluster().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client = tw.client().await;
    label_namespace(&client).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_create_is_admitted_like_a_real_one_and_stores_nothing() {
    let tw = TestWorld::start(vec![]).await;
    let client = restricted_namespace(&tw).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();

    // Rejected: the same 403 as a real create.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let dry_403 = api_error(pods.create(&dry, &privileged("bad")).await);
    let real_403 = api_error(
        pods.create(&PostParams::default(), &privileged("bad"))
            .await,
    );
    assert_eq!(dry_403, real_403);
    assert_eq!((dry_403.code, dry_403.reason.as_str()), (403, "Forbidden"));
    assert!(
        dry_403
            .message
            .starts_with("pods \"bad\" is forbidden: violates PodSecurity \"restricted:latest\""),
        "{}",
        dry_403.message
    );

    // Admitted: 201, a generated name, defaults, but no resourceVersion and nothing stored.
    let made = pods.create(&dry, &compliant("probe-")).await.unwrap();
    let name = made.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("probe-") && name.len() == "probe-".len() + 5,
        "{name}"
    );
    assert!(made.metadata.uid.is_some() && made.metadata.resource_version.is_none());
    assert_eq!(made.spec.unwrap().restart_policy.as_deref(), Some("Always"));
    assert!(pods.get_opt(&name).await.unwrap().is_none());

    // The first event the watch sees is the real pod created after the dry runs.
    pods.create(&PostParams::default(), &compliant("real"))
        .await
        .unwrap();
    match watch.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(p) => assert_eq!(p.metadata.name.as_deref(), Some("real")),
        other => panic!("expected the real pod's ADDED, got {other:?}"),
    }
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(names, ["real"]);

    // Both 403s are audited, the dry run's with its query.
    let lines = tw.audit_lines().await;
    let denied: Vec<&str> = lines
        .iter()
        .filter(|l| l["responseStatus"]["code"] == 403)
        .map(|l| l["requestURI"].as_str().unwrap())
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(
        denied.iter().any(|u| u.contains("dryRun=All")),
        "{denied:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_patch_and_delete_change_nothing_and_other_values_get_422() {
    let tw = TestWorld::start(vec![]).await;
    let client = restricted_namespace(&tw).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.create(&PostParams::default(), &compliant("keep"))
        .await
        .unwrap();
    let before = pods.get("keep").await.unwrap();

    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let patched = pods
        .patch(
            "keep",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["x"], "y");
    assert_eq!(
        patched.metadata.resource_version,
        before.metadata.resource_version
    );
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    pods.delete("keep", &dp).await.unwrap();
    let after = pods.get("keep").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert!(after.metadata.deletion_timestamp.is_none() && after.metadata.labels.is_none());

    // Lowering the namespace's enforce level in a dry run leaves it restricted.
    let nss: Api<Namespace> = Api::all(client.clone());
    let label =
        json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}});
    nss.patch(NS, &pp, &Patch::Merge(label)).await.unwrap();
    let ns = nss.get(NS).await.unwrap();
    assert_eq!(
        ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"],
        "restricted"
    );

    // An unknown value: the options validation's 422, before the body is read.
    let req = http::Request::post(format!("/api/v1/namespaces/{NS}/pods?dryRun=Foo"))
        .header("Content-Type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    match client.request::<serde_json::Value>(req).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
            assert_eq!(
                e.message,
                "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Foo\"}: supported values: \"All\""
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }
}
