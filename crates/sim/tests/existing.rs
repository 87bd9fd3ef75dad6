//! Runs against a cluster the harness did not create: a user's kind cluster without an audit log,
//! a limited user whose refused rights get the apiserver's 403 and SelfSubjectAccessReview
//! answers, and operators scoped to their namespace (`--watch-namespace`).

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{Api, ListParams, PostParams, WatchParams};
use serde_json::{Value, json};

const REFUSED: [&str; 6] = [
    "get:pods/exec",
    "list:secrets",
    "watch:pods",
    "create:configmaps",
    "get:pods/log",
    "create:customresourcedefinitions.apiextensions.k8s.io",
];

/// The args of the operator Deployment `kuberay-operator` in `ns`.
async fn operator_args(client: &kube::Client, ns: &str) -> Vec<String> {
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
    let d = deploys.get("kuberay-operator").await.unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap_or_default()
}

/// `POST selfsubjectaccessreviews` for `verb resource[/sub]` in `ns`.
async fn review(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    ns: &str,
) -> Value {
    let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns}}});
    let req = http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    client.request::<Value>(req).await.unwrap()
}

fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(e)) => *e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_cluster_has_its_nodes_and_no_audit_log() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(3, &[]).await;
    let nodes: Api<Node> = Api::all(tw.client().await);
    let names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(names, ["e2e-control-plane", "e2e-worker", "e2e-worker2"]);
    let audit = tw.read_audit_log().await;
    assert_eq!(
        (audit.code, audit.stderr.as_str()),
        (
            1,
            format!("cat: {AUDIT_LOG}: No such file or directory\n").as_str()
        )
    );
    // The program under test did not create it.
    assert!(
        !std::fs::read_to_string(tw.world.invocations_path())
            .unwrap_or_default()
            .contains("\"create\"")
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(tw.dir.path().join("state").join(sim::EXISTING_CLUSTER_FILE))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            record["user"].as_str(),
            record["forbid"].as_array().map(Vec::len)
        ),
        (Some("kubernetes-admin"), Some(0))
    );
    // The admin's kubeconfig is kind's: a client certificate and key, no token; `kind get
    // kubeconfig` prints the same credentials.
    let kc: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&tw.kubeconfig).unwrap()).unwrap();
    let user = &kc["users"][0];
    assert_eq!(user["name"], "kind-e2e");
    let keys: Vec<&String> = user["user"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["client-certificate-data", "client-key-data"],
        "{user}"
    );
    let got = tw
        .tool("kind", &["get", "kubeconfig", "--name", CLUSTER])
        .await;
    let printed: Value = serde_saphyr::from_str(&got.stdout).unwrap();
    assert_eq!(printed["users"][0], *user);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_subject_access_reviews_answer_for_the_requesting_user() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(1, &REFUSED).await;
    let jane = tw.client().await;
    let refused = review(&jane, "list", "", "secrets", "", "default").await;
    assert_eq!(refused["status"], json!({"allowed": false}));
    assert_eq!(refused["kind"], "SelfSubjectAccessReview");
    assert_eq!(refused["spec"]["resourceAttributes"]["resource"], "secrets");
    let exec_log = review(&jane, "get", "", "pods", "log", "default").await;
    assert_eq!(exec_log["status"]["allowed"], false);
    let ok = review(&jane, "list", "", "pods", "", "default").await;
    assert_eq!(ok["status"]["allowed"], true);
    assert_eq!(
        ok["status"]["reason"],
        "RBAC: allowed by ClusterRoleBinding \"sim:limited-user\" of ClusterRole \"sim:limited-user\" to User \"jane\""
    );
    // As kube-rs's typed API sends and reads it.
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let ssars: Api<SelfSubjectAccessReview> = Api::all(jane.clone());
    let asked: SelfSubjectAccessReview =
        serde_json::from_value(json!({"spec": {"resourceAttributes":
        {"verb": "watch", "resource": "pods", "namespace": "default"}}}))
        .unwrap();
    let answered = ssars.create(&PostParams::default(), &asked).await.unwrap();
    assert!(!answered.status.unwrap().allowed);
    // The admin may do everything; discovery lists the resource.
    let admin = tw.admin_client().await;
    let crd = review(
        &admin,
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "",
        "",
    )
    .await;
    assert_eq!(crd["status"]["allowed"], true);
    let req = http::Request::get("/apis/authorization.k8s.io/v1")
        .body(vec![])
        .unwrap();
    let list: Value = admin.request(req).await.unwrap();
    let ssar = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "selfsubjectaccessreviews")
        .unwrap();
    assert_eq!(
        (ssar["verbs"].clone(), ssar["namespaced"].clone()),
        (json!(["create"]), json!(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_right_gets_the_apiservers_403() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(1, &REFUSED).await;
    let jane = tw.client().await;
    let secrets: Api<Secret> = Api::namespaced(jane.clone(), "default");
    let e = api_error(secrets.list(&ListParams::default()).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "secrets is forbidden: User \"jane\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    let d = e.details.unwrap();
    assert_eq!(
        (d.kind.as_str(), d.name.as_str(), d.group.as_str()),
        ("secrets", "", "")
    );

    // list and watch are separate rights.
    let pods: Api<Pod> = Api::namespaced(jane.clone(), "default");
    pods.list(&ListParams::default()).await.unwrap();
    let e = api_error(pods.watch(&WatchParams::default(), "0").await.map(|_| ()));
    assert_eq!(
        e.message,
        "pods is forbidden: User \"jane\" cannot watch resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    // A subresource, named.
    let e = api_error(pods.logs("p", &Default::default()).await);
    assert_eq!(
        e.message,
        "pods \"p\" is forbidden: User \"jane\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(e.details.unwrap().name, "p");
    // A WebSocket exec is a GET: refused as `get pods/exec` before the pod is looked up.
    let exec = pods
        .exec("p", vec!["ls"], &kube::api::AttachParams::default())
        .await
        .map(|_| ());
    let err = format!("{:?}", exec.unwrap_err());
    assert!(err.contains("403"), "{err}");
    // Cluster scope, with the group.
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(jane.clone());
    let crd = serde_json::from_value(json!({"metadata": {"name": "xs.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "xs", "kind": "X"}, "versions": [{"name": "v1", "served": true, "storage": true}]}})).unwrap();
    let e = api_error(crds.create(&PostParams::default(), &crd).await);
    assert_eq!(
        e.message,
        "customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"jane\" cannot create resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope"
    );
    assert_eq!(e.details.unwrap().group, "apiextensions.k8s.io");
    // A dry run needs the right too.
    let cms: Api<ConfigMap> = Api::namespaced(jane, "default");
    let cm = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let e = api_error(cms.create(&dry, &cm).await);
    assert_eq!(
        e.message,
        "configmaps is forbidden: User \"jane\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    // The admin is not refused.
    let admin_cms: Api<ConfigMap> = Api::namespaced(tw.admin_client().await, "default");
    admin_cms.create(&dry, &cm).await.unwrap();
}

/// `helm install kuberay-operator` of the tutorial's chart into `ns`, with extra flags.
async fn helm_install_in(tw: &TestWorld, ns: &str, extra: &[&str]) -> sim::ToolOutput {
    let kc = tw.kubeconfig.display().to_string();
    let mut args = helm_chart_args_in("install", ns, None);
    args.extend(["--create-namespace", "--kubeconfig", &kc].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    tw.tool_in("helm", args, tw.dir.path()).await
}

/// The tutorial's compliant RayCluster (and its ConfigMap), applied in `ns`.
async fn raycluster_in(client: &kube::Client, ns: &str) {
    apply_yaml_in(
        client,
        &shared("upstream/kuberay/ray-cluster.pod-security.yaml"),
        ns,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_namespace_operators_reconcile_only_their_namespace() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(3, &[]).await;
    let client = tw.client().await;
    // Two releases in two namespaces: --set, then a values file; the second skips the CRDs.
    let a = helm_install_in(&tw, "team-a", &["--set", "singleNamespaceInstall=true"]).await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    let values = tw.dir.path().join("single.yaml");
    std::fs::write(&values, "singleNamespaceInstall: true\n").unwrap();
    let b = helm_install_in(&tw, "team-b", &["--values", values.to_str().unwrap()]).await;
    assert_eq!(b.code, 0, "{}", b.stderr);
    let args = operator_args(&client, "team-a").await;
    let at = args
        .iter()
        .position(|a| a == "--watch-namespace")
        .expect("--watch-namespace");
    assert_eq!(args[at + 1], "team-a");
    // Namespaced RBAC instead of the ClusterRole.
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), "team-b");
    roles.get("kuberay-operator").await.unwrap();
    let cluster_roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    assert!(
        cluster_roles
            .get_opt("kuberay-operator")
            .await
            .unwrap()
            .is_none()
    );
    wait_operator_available_in(&client, "team-a").await;
    wait_operator_available_in(&client, "team-b").await;

    // A RayCluster no operator watches stays untouched while one in team-a comes up.
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team-c"}})).unwrap(),
    )
    .await
    .unwrap();
    raycluster_in(&client, "team-c").await;
    raycluster_in(&client, "team-a").await;
    let pods_a: Api<Pod> = Api::namespaced(client.clone(), "team-a");
    ready_pod(&pods_a, HEAD_SELECTOR).await;
    let heads = pods_a
        .list(&ListParams::default().labels(HEAD_SELECTOR))
        .await
        .unwrap();
    assert_eq!(heads.items.len(), 1);
    let pods_c: Api<Pod> = Api::namespaced(client.clone(), "team-c");
    assert!(
        pods_c
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let svcs_c: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(client.clone(), "team-c");
    assert!(
        svcs_c
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Each operator says what it watches.
    let pods_b: Api<Pod> = Api::namespaced(client, "team-b");
    let op = pods_b
        .list(&ListParams::default().labels("app.kubernetes.io/name=kuberay-operator"))
        .await
        .unwrap()
        .items
        .remove(0);
    let log = pods_b
        .logs(&op.metadata.name.unwrap(), &Default::default())
        .await
        .unwrap();
    assert!(
        log.contains(
            r#""msg":"Only watch custom resources in the namespace.","namespace":"team-b""#
        ),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cluster_wide_releases_conflict_on_the_clusterrole_like_helm() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(1, &[]).await;
    assert_eq!(helm_install_in(&tw, "team-a", &[]).await.code, 0);
    let second = helm_install_in(&tw, "team-b", &[]).await;
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.starts_with("Error: INSTALLATION FAILED: rendered manifests contain a resource that already exists. Unable to continue with install: ClusterRole \"kuberay-operator\" in namespace \"\" exists and cannot be imported into the current release: invalid ownership metadata; annotation validation error: key \"meta.helm.sh/release-namespace\" must equal \"team-b\": current value is \"team-a\""),
        "{}",
        second.stderr
    );
    // The operator without --watch-namespace says it watches everything.
    let args = operator_args(&tw.client().await, "team-a").await;
    assert!(
        !args.iter().any(|a| a.starts_with("--watch-namespace")),
        "{args:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_user_without_crd_rights_installs_only_with_skip_crds() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(
        1,
        &["create:customresourcedefinitions.apiextensions.k8s.io"],
    )
    .await;
    let refused = helm_install_in(&tw, "team-a", &["--set", "singleNamespaceInstall=true"]).await;
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        "Error: INSTALLATION FAILED: failed to install CRD crds/ray.io_rayclusters.yaml: customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"jane\" cannot create resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope\n"
    );
    let skipped = helm_install_in(
        &tw,
        "team-a",
        &["--set", "singleNamespaceInstall=true", "--skip-crds"],
    )
    .await;
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_user_who_may_not_create_namespaces_is_refused_create_namespace() {
    let tw = TestWorld::start(vec![]).await;
    tw.existing_cluster(1, &["create:namespaces"]).await;
    let out = helm_install_in(&tw, "team-a", &[]).await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            1,
            "Error: INSTALLATION FAILED: namespaces is forbidden: User \"jane\" cannot create resource \"namespaces\" in API group \"\" at the cluster scope\n"
        )
    );
}
