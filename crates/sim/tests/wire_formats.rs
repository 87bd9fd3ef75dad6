//! Wire formats real clients use, driven with kube-rs: protobuf request bodies (decoded for the
//! kinds kubectl and helm write, 415 otherwise), the OpenAPI documents (`/openapi/v2`,
//! `/openapi/v3`) that kubectl and helm validate against, field validation (`Strict`, `Warn`,
//! `Ignore`), and streaming-list watches per server version.

mod common;

use common::*;
use serde_json::Value;

/// Real kubectl and helm send protobuf bodies. The world decodes them for the kinds they write
/// (here kubectl's own bytes for `create namespace`); a protobuf body of any other kind gets the
/// apiserver's 415 (never a half-read object); YAML bodies are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_are_decoded_or_get_415() {
    let tw = TestWorld::start(vec![]).await;
    // Namespaces audited at Request level: the audit log shows the decoded request object.
    std::fs::write(
        tw.dir
            .path()
            .join("ray-operator/config/security/audit-policy.yaml"),
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Request\n  resources:\n  - group: \"\"\n    resources: [namespaces]\n",
    )
    .unwrap();
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    let post = |path: &str, ct: &str, body: &[u8]| {
        http::Request::post(path)
            .header(http::header::CONTENT_TYPE, ct)
            .body(body.to_vec())
            .unwrap()
    };
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/protobuf/kubectl-create-namespace.pb"
    ))
    .unwrap();
    let created: Value = client
        .request(post(
            "/api/v1/namespaces",
            "application/vnd.kubernetes.protobuf",
            &fixture,
        ))
        .await
        .unwrap();
    assert_eq!(created["metadata"]["name"], "pod-security");
    assert_eq!(
        created["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "pod-security"
    );
    let audited = tw.audit_lines().await;
    let create = audited
        .iter()
        .find(|l| l["verb"] == "create" && l["objectRef"]["resource"] == "namespaces")
        .expect("the create is audited");
    assert_eq!(
        create["requestObject"],
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pod-security"}})
    );
    // runtime.Unknown{typeMeta: {v1, Pod}, raw: ""}: a kind the world does not decode.
    let pod = post(
        "/api/v1/namespaces/pod-security/pods",
        "application/vnd.kubernetes.protobuf",
        b"k8s\0\n\t\n\x02v1\x12\x03Pod\x12\x00",
    );
    let s = refusal(&client, pod, "expected 415").await;
    assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
    assert_eq!(
        s.message,
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
    );
    let yaml = post(
        "/api/v1/namespaces",
        "application/yaml",
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-yaml\n",
    );
    let created: Value = client.request(yaml).await.unwrap();
    assert_eq!(created["metadata"]["name"], "from-yaml");
}

/// The apiserver's refusal of `req`, as kube-rs reads it; panics with what came instead.
async fn refusal(
    client: &kube::Client,
    req: http::Request<Vec<u8>>,
    expected: &str,
) -> Box<kube::core::Status> {
    match client.request::<Value>(req).await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("{expected}, got {other:?}"),
    }
}

/// GET `path` with `Accept`, answered as (status, Location, body).
async fn get_raw(client: &kube::Client, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let code = resp.status().as_u16();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (code, location, body)
}

async fn get_json(client: &kube::Client, path: &str) -> Value {
    let (code, _, body) = get_raw(client, path, "application/json").await;
    assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The real chart's RayCluster CRD, created, and Established.
async fn create_raycluster_crd(client: &kube::Client) {
    let text = std::fs::read_to_string(shared(
        "upstream/kuberay-operator-chart-1.5.1/crds/ray.io_rayclusters.yaml",
    ))
    .unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let req = http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&crd).unwrap())
        .unwrap();
    let _: Value = client.request(req).await.unwrap();
    eventually(
        "rayclusters in the OpenAPI index",
        std::time::Duration::from_secs(10),
        || async {
            let index = get_json(client, "/openapi/v3").await;
            index["paths"].get("apis/ray.io/v1").map(|_| ())
        },
    )
    .await;
}

/// `/openapi/v3` indexes every served group-version (CRD groups once Established); each
/// document declares `fieldValidation` on its kinds' PATCH (what kubectl and helm look for before
/// leaving validation to the server) and publishes the CRD's schema; a stale hash redirects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v3_index_and_documents() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    let index = get_json(&client, "/openapi/v3").await;
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        let url = index["paths"][gv]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
    }
    assert!(index["paths"].get("apis/ray.io/v1").is_none());

    create_raycluster_crd(&client).await;
    let index = get_json(&client, "/openapi/v3").await;
    let url = index["paths"]["apis/ray.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = get_json(&client, &url).await;
    assert_eq!(doc["openapi"], "3.0.0");
    let patch = &doc["paths"]["/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "ray.io", "version": "v1", "kind": "RayCluster"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
        "{patch}"
    );
    let schema = &doc["components"]["schemas"]["io.ray.v1.RayCluster"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "RayCluster"
    );
    assert_eq!(
        schema["properties"]["spec"]["properties"]["rayVersion"]["type"],
        "string"
    );
    assert_eq!(
        schema["properties"]["metadata"]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let core = get_json(
        &client,
        index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(
        core["paths"]["/api/v1/namespaces/{namespace}/secrets"]["post"]["x-kubernetes-group-version-kind"]
            ["kind"],
        "Secret"
    );
    // A stale hash is redirected to the current document, as kube-openapi does.
    let (code, location, _) = get_raw(
        &client,
        "/openapi/v3/apis/ray.io/v1?hash=0123",
        "application/json",
    )
    .await;
    assert_eq!((code, location.as_str()), (301, url.as_str()));
    let (code, _, _) = get_raw(
        &client,
        "/openapi/v3/apis/nothing.io/v1",
        "application/json",
    )
    .await;
    assert_eq!(code, 404);
}

/// `/openapi/v2` is served as JSON (Swagger 2.0, custom resources under `definitions`); asked
/// for protobuf only, as client-go asks, the world answers 406 (it serves no protobuf).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v2_is_json_only() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    create_raycluster_crd(&client).await;
    let doc = get_json(&client, "/openapi/v2").await;
    assert_eq!(doc["swagger"], "2.0");
    assert!(doc["paths"]["/api/v1/namespaces"]["post"].is_object());
    assert_eq!(
        doc["definitions"]["io.ray.v1.RayCluster"]["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let (code, _, body) = get_raw(
        &client,
        "/openapi/v2",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )
    .await;
    assert_eq!((code, body.len()), (406, 0));
}

/// `fieldValidation=Strict` refuses a field the kind does not declare, as the apiserver words it;
/// without it the write goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_refuses_unknown_fields() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    create_raycluster_crd(&client).await;
    let post = |path: &str, body: &str| {
        http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    };
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"dat":{"a":"b"}}"#;
    let s = refusal(
        &client,
        post(
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            cm,
        ),
        "expected 400",
    )
    .await;
    assert_eq!(
        (s.code, s.message.as_str()),
        (
            400,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"dat\""
        )
    );
    let rc = r#"{"apiVersion":"ray.io/v1","kind":"RayCluster","metadata":{"name":"r"},"spec":{"rayVersoin":"2.4.0"}}"#;
    let apply = http::Request::patch(
        "/apis/ray.io/v1/namespaces/default/rayclusters/r?fieldManager=t&fieldValidation=Strict",
    )
    .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
    .body(rc.as_bytes().to_vec())
    .unwrap();
    let s = refusal(&client, apply, "expected 500").await;
    assert_eq!(
        (s.code, s.message.as_str()),
        (
            500,
            "failed to create typed patch object (/r; ray.io/v1, Kind=RayCluster): .spec.rayVersoin: field not declared in schema"
        )
    );
    let created: Value = client
        .request(post("/api/v1/namespaces/default/configmaps", cm))
        .await
        .unwrap();
    assert_eq!(created["metadata"]["name"], "c");
    // The chart's real CRD schema types its fields and names the required ones: a number where
    // it wants a string, or no head group, is refused whatever the field validation, as the
    // apiextensions-apiserver refuses it.
    let typed = r#"{"apiVersion":"ray.io/v1","kind":"RayCluster","metadata":{"name":"t"},"spec":{"rayVersion":2}}"#;
    let s = refusal(
        &client,
        post("/apis/ray.io/v1/namespaces/default/rayclusters", typed),
        "expected 422",
    )
    .await;
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            422,
            "Invalid",
            "RayCluster.ray.io \"t\" is invalid: [spec.headGroupSpec: Required value, spec.rayVersion: Invalid value: \"integer\": spec.rayVersion in body must be of type string: \"integer\"]"
        )
    );
    let right = typed.replace(
        "\"rayVersion\":2",
        r#""rayVersion":"2.4.0","headGroupSpec":{"template":{"spec":{"containers":[{"name":"ray-head","image":"rayproject/ray:2.4.0"}]}}}"#,
    );
    let created: Value = client
        .request(post(
            "/apis/ray.io/v1/namespaces/default/rayclusters",
            &right,
        ))
        .await
        .unwrap();
    assert_eq!(created["spec"]["rayVersion"], "2.4.0");
    // The stored object is validated after a patch too: a merge patch that removes the head
    // group is refused, and so is a server-side apply whose value has the wrong type (there
    // already when the patch is made typed, as structured-merge-diff words it).
    let path = "/apis/ray.io/v1/namespaces/default/rayclusters/t";
    let merge = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(br#"{"spec":{"headGroupSpec":null}}"#.to_vec())
        .unwrap();
    let s = refusal(&client, merge, "expected 422").await;
    assert_eq!(
        (s.code, s.message.as_str()),
        (
            422,
            "RayCluster.ray.io \"t\" is invalid: spec.headGroupSpec: Required value"
        )
    );
    let apply = http::Request::patch(format!("{path}?fieldManager=t"))
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .body(
            br#"{"apiVersion":"ray.io/v1","kind":"RayCluster","metadata":{"name":"t","namespace":"default"},"spec":{"rayVersion":2}}"#
                .to_vec(),
        )
        .unwrap();
    let s = refusal(&client, apply, "expected 500").await;
    assert_eq!(
        (s.code, s.message.as_str()),
        (
            500,
            "failed to create typed patch object (default/t; ray.io/v1, Kind=RayCluster): .spec.rayVersion: expected string, got &value.valueUnstructured{Value:2}"
        )
    );
}

/// Streaming lists (client-go ≥ 1.35 informers, so `kubectl wait`): a 1.26 apiserver refuses
/// `resourceVersionMatch` on a watch (client-go then falls back to LIST+WATCH); a 1.35 one sends
/// the current objects, then the bookmark annotated `k8s.io/initial-events-end`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lists_follow_the_server_version() {
    const STREAMING: &str = "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1";
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    let (code, _, body) = get_raw(&client, STREAMING, "application/json").await;
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((code, st["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        st["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch"
    );

    let tw = TestWorld::start(vec![]).await;
    let out = tw
        .create_cluster_with(
            "ray-operator/config/security/kind-config.yaml",
            "kindest/node:v1.35.0",
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client = tw.client().await;
    let namespaces = get_json(&client, "/api/v1/namespaces").await["items"]
        .as_array()
        .unwrap()
        .len();
    let (code, _, body) = get_raw(&client, STREAMING, "application/json").await;
    assert_eq!(code, 200);
    let events: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = events
        .iter()
        .position(|e| {
            e["type"] == "BOOKMARK"
                && e["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
        })
        .expect("the initial-events-end bookmark");
    assert_eq!(end, namespaces, "{events:?}");
    assert!(events[..end].iter().all(|e| e["type"] == "ADDED"));
}

/// Without `fieldValidation` (the server's default, `Warn`) an unknown field is dropped with a
/// `Warning: unknown field "…"` header; with `Ignore`, silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_dropped_with_a_warning_by_default() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    for (query, warned) in [("", true), ("?fieldValidation=Ignore", false)] {
        let name = if warned { "warned" } else { "ignored" };
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"a":"b"}},"dat":{{"a":"b"}}}}"#
        );
        let req = http::Request::post(format!("/api/v1/namespaces/default/configmaps{query}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(kube::client::Body::from(body.into_bytes()))
            .unwrap();
        let resp = client.send(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let warnings: Vec<String> = resp
            .headers()
            .get_all("Warning")
            .iter()
            .map(|w| w.to_str().unwrap().to_string())
            .collect();
        let expected: &[&str] = if warned {
            &["299 - \"unknown field \\\"dat\\\"\""]
        } else {
            &[]
        };
        assert_eq!(warnings, expected);
        let stored = get_json(
            &client,
            &format!("/api/v1/namespaces/default/configmaps/{name}"),
        )
        .await;
        assert!(stored.get("dat").is_none(), "{stored}");
        assert_eq!(stored["data"]["a"], "b");
    }
}

/// A Deployment's `scale` subresource is an autoscaling/v1 Scale, read and written as the
/// apiserver does (`kubectl scale` merge-patches it), never the Deployment itself; a pod has no
/// `scale` (404), and a negative count is refused (422).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_scale_is_a_scale() {
    let tw = TestWorld::start(vec![]).await;
    let client = up_to_operator(&tw).await;
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/kuberay-operator/scale");
    let scale: Value = client
        .request(http::Request::get(&path).body(vec![]).unwrap())
        .await
        .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert!(
        scale["status"]["selector"]
            .as_str()
            .unwrap()
            .contains("app.kubernetes.io/name=kuberay-operator"),
        "{scale}"
    );
    let patch = |replicas: i64| {
        http::Request::patch(&path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(format!("{{\"spec\":{{\"replicas\":{replicas}}}}}").into_bytes())
            .unwrap()
    };
    let scaled: Value = client.request(patch(2)).await.unwrap();
    assert_eq!(scaled["kind"], "Scale");
    assert_eq!(scaled["spec"]["replicas"], 2);
    let deploys: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), NS);
    let d = deploys.get("kuberay-operator").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    // A patch that leaves spec.replicas out leaves the count as it is.
    let untouched: Value = client
        .request(
            http::Request::patch(&path)
                .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
                .body(br#"{"metadata":{}}"#.to_vec())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(untouched["spec"]["replicas"], 2);
    let s = refusal(&client, patch(-1), "expected 422").await;
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains("spec.replicas: Invalid value: -1"),
        "{s:?}"
    );
    let pod_scale = format!("/api/v1/namespaces/{NS}/pods/nope/scale");
    let s = refusal(
        &client,
        http::Request::get(&pod_scale).body(vec![]).unwrap(),
        "expected 404",
    )
    .await;
    assert_eq!(s.code, 404);
}

/// A subresource the world does not serve, or a verb its subresource does not take, is refused
/// (405), never answered with the parent object; a streaming subresource asked without an
/// upgrade gets the apiserver's 400. The ones it serves still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unserved_subresources_are_refused_not_answered_with_the_parent() {
    let tw = TestWorld::start(vec![]).await;
    assert_eq!(tw.create_cluster().await.code, 0);
    let client = tw.client().await;
    let ns = "/api/v1/namespaces/default";
    let cm = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#;
    let _: Value = client
        .request(
            http::Request::post(format!("{ns}/configmaps"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(cm.to_vec())
                .unwrap(),
        )
        .await
        .unwrap();
    let pod = "p";
    let _: Value = client
        .request(
            http::Request::post(format!("{ns}/pods"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(
                    br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#
                        .to_vec(),
                )
                .unwrap(),
        )
        .await
        .unwrap();
    let sys = ns;
    for (method, path, want) in [
        ("GET", format!("{sys}/pods/{pod}/binding"), 405),
        ("GET", format!("{sys}/pods/{pod}/eviction"), 405),
        (
            "PUT",
            "/api/v1/namespaces/default/finalize".to_string(),
            405,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/status".to_string(),
            405,
        ),
        ("GET", format!("{sys}/pods/{pod}/exec?command=ls"), 400),
        ("POST", format!("{sys}/pods/{pod}/portforward"), 400),
        ("GET", format!("{ns}/configmaps/c/status"), 404),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(&path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(b"{}".to_vec())
            .unwrap();
        let s = refusal(&client, req, &format!("{method} {path}: expected {want}")).await;
        assert_eq!(s.code, want, "{method} {path}: {s:?}");
        if want == 400 {
            assert_eq!(s.message, "Upgrade request required");
        }
    }
    let status: Value = client
        .request(
            http::Request::get("/api/v1/namespaces/default/status")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(status["kind"], "Namespace");
}
