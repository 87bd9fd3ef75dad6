//! Wire formats real clients use, driven with kube-rs: protobuf request bodies (decoded for the
//! kinds kubectl and helm write, 415 otherwise) and the OpenAPI documents (`/openapi/v2`,
//! `/openapi/v3`) that kubectl and helm validate against.

mod common;

use common::*;
use serde_json::Value;

/// Real kubectl and helm send protobuf bodies. The world decodes them for the kinds they write
/// (here kubectl's own bytes for `create namespace`); a protobuf body of any other kind gets the
/// apiserver's 415 (never a half-read object); YAML bodies are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_are_decoded_or_get_415() {
    let tw = TestWorld::start(vec![]).await;
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
    // runtime.Unknown{typeMeta: {v1, Pod}, raw: ""}: a kind the world does not decode.
    let pod = post(
        "/api/v1/namespaces/pod-security/pods",
        "application/vnd.kubernetes.protobuf",
        b"k8s\0\n\t\n\x02v1\x12\x03Pod\x12\x00",
    );
    match client.request::<Value>(pod).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
            assert_eq!(
                s.message,
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
            );
        }
        other => panic!("expected 415, got {other:?}"),
    }
    let yaml = post(
        "/api/v1/namespaces",
        "application/yaml",
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-yaml\n",
    );
    let created: Value = client.request(yaml).await.unwrap();
    assert_eq!(created["metadata"]["name"], "from-yaml");
}
