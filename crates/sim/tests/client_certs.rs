//! Kubeconfigs as kind writes them: each cluster has its own CA, and the admin authenticates with
//! a client certificate that CA signed (kubeadm's `admin.conf`). Another cluster's kubeconfig is
//! refused (its CA does not verify the server; its certificate gets 401), as is a request with
//! no credentials.

mod common;

use common::*;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// A kubeconfig file as JSON.
fn read_kubeconfig(path: &std::path::Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The entry `name` of a kubeconfig list (`clusters`, `users`, `contexts`).
fn entry<'a>(cfg: &'a mut Value, list: &str, name: &str) -> &'a mut Value {
    cfg[list]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

async fn client_of(cfg: &Value) -> kube::Client {
    let kc: kube::config::Kubeconfig = serde_json::from_value(cfg.clone()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_has_its_ca_and_an_admin_client_certificate() {
    let tw = TestWorld::start(vec![]).await;
    let out = tw.create_cluster().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let other_kc = tw.dir.path().join("other.kubeconfig");
    let plain = tw.kind_config(false, 0);
    let out = tw
        .tool(
            "kind",
            &[
                "create",
                "cluster",
                "--name",
                "other",
                "--config",
                &plain,
                "--image",
                "kindest/node:v1.35.0",
                "--kubeconfig",
                &other_kc.display().to_string(),
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // What kind writes: names kind-NAME, the cluster's CA, the admin's certificate and key.
    let a = read_kubeconfig(&tw.kubeconfig);
    let b = read_kubeconfig(&other_kc);
    for (cfg, name) in [(&a, "kind-e2e"), (&b, "kind-other")] {
        assert_eq!(cfg["current-context"], name);
        assert_eq!(
            cfg["contexts"][0]["context"],
            json!({"cluster": name, "user": name})
        );
        let user = &cfg["users"][0];
        assert_eq!(user["name"], name);
        let keys: Vec<&String> = user["user"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["client-certificate-data", "client-key-data"],
            "{user}"
        );
        assert!(
            cfg["clusters"][0]["cluster"]["server"]
                .as_str()
                .unwrap()
                .starts_with("https://127.0.0.1:")
        );
    }
    let ca = |cfg: &Value| cfg["clusters"][0]["cluster"]["certificate-authority-data"].clone();
    assert_ne!(ca(&a), ca(&b), "one CA per cluster");
    assert_ne!(
        a["users"][0]["user"]["client-certificate-data"],
        b["users"][0]["user"]["client-certificate-data"]
    );

    // The client certificate authenticates the kind admin (audited as kubeadm's admin).
    let client = client_of(&a).await;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    pods.list(&ListParams::default()).await.unwrap();
    let admin = audited_admin_request(&tw).await;
    assert_eq!(
        admin["user"]["groups"],
        json!(["system:masters", "system:authenticated"])
    );
    let nss: Api<Namespace> = Api::all(client_of(&b).await);
    nss.get("default").await.unwrap();

    // Cluster A's kubeconfig pointed at cluster B: B's serving certificate is not A's CA's.
    let b_server = b["clusters"][0]["cluster"]["server"].clone();
    let mut a_at_b = a.clone();
    entry(&mut a_at_b, "clusters", "kind-e2e")["cluster"]["server"] = b_server;
    let nss: Api<Namespace> = Api::all(client_of(&a_at_b).await);
    let err = nss.get("default").await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );

    // B's CA (so TLS holds) with A's client certificate: the certificate is not B's, 401.
    let a_user = a["users"][0]["user"].clone();
    let mut b_with_a_cert = b.clone();
    entry(&mut b_with_a_cert, "users", "kind-other")["user"] = a_user;
    let nss: Api<Namespace> = Api::all(client_of(&b_with_a_cert).await);
    match nss.get("default").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (401, "Unauthorized"), "{s:?}")
        }
        other => panic!("expected 401, got {other:?}"),
    }

    // No credentials at all: the apiserver's 401, byte for byte.
    let mut anonymous = b.clone();
    entry(&mut anonymous, "users", "kind-other")["user"] = json!({});
    let client = client_of(&anonymous).await;
    let resp = client
        .send(
            http::Request::get("/api/v1/namespaces")
                .body(kube::client::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap().trim_end(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
    );
}
