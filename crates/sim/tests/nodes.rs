//! Clusters of several nodes, as kind makes them from a config's `nodes:` list: names, the
//! control-plane taint, the scheduler spreading pods over the workers, and each node's own image
//! store (`crictl pull`, `kind load docker-image`, the kubelet's pulls).

mod common;

use common::*;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const WORKER: &str = "e2e-worker";
const WORKER2: &str = "e2e-worker2";
const CONTROL_PLANE: &str = "e2e-control-plane";

/// A world with `e2e`: one control plane and `workers` workers (no audit flags), all Ready.
async fn multinode(workers: usize) -> (TestWorld, kube::Client) {
    let tw = TestWorld::start(vec![]).await;
    let config = tw.kind_config(false, workers);
    let out = tw.create_cluster_with(&config, IMAGE).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client = tw.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    eventually("every node Ready", Duration::from_secs(10), || async {
        let l = nodes.list(&ListParams::default()).await.ok()?;
        let ready = l.items.iter().filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        (ready.count() == workers + 1).then_some(())
    })
    .await;
    (tw, client)
}

fn pod(name: &str, node: Option<&str>, tolerate_control_plane: bool) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox:1.36"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    if tolerate_control_plane {
        spec["tolerations"] = json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

/// The node the scheduler bound pod `name` to.
async fn bound_node(pods: &Api<Pod>, name: &str) -> String {
    eventually(
        &format!("{name} bound"),
        Duration::from_secs(10),
        || async { pods.get(name).await.ok()?.spec?.node_name },
    )
    .await
}

/// The kubelet's `Pulled` event of pod `name`.
async fn pulled_message(events: &Api<Event>, name: &str) -> String {
    let fields = format!("involvedObject.name={name},reason=Pulled");
    eventually(
        &format!("{name} Pulled"),
        Duration::from_secs(10),
        || async {
            let l = events
                .list(&ListParams::default().fields(&fields))
                .await
                .ok()?;
            l.items.into_iter().next().and_then(|e| e.message)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_names_every_node_and_taints_the_control_plane_only_with_workers() {
    let tw = TestWorld::start(vec![]).await;
    let config = tw.kind_config(false, 2);
    let out = tw.create_cluster_with(&config, IMAGE).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(" ✓ Preparing nodes 📦 📦 📦 \n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(" ✓ Joining worker nodes 🚜\n"),
        "{}",
        out.stderr
    );
    let listed = tw.tool("kind", &["get", "nodes", "--name", CLUSTER]).await;
    assert_eq!(
        listed.stdout,
        format!("{CONTROL_PLANE}\n{WORKER}\n{WORKER2}\n")
    );
    let nodes: Api<Node> = Api::all(tw.client().await);
    let cp = nodes.get(CONTROL_PLANE).await.unwrap();
    let taints = cp.spec.unwrap().taints.unwrap();
    assert_eq!(
        (taints[0].key.as_str(), taints[0].effect.as_str()),
        ("node-role.kubernetes.io/control-plane", "NoSchedule")
    );
    assert!(
        cp.metadata
            .labels
            .unwrap()
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    let w = nodes.get(WORKER2).await.unwrap();
    assert!(w.spec.as_ref().unwrap().taints.is_none());
    assert_eq!(w.spec.unwrap().pod_cidr.as_deref(), Some("10.244.2.0/24"));
    assert!(
        !w.metadata
            .labels
            .unwrap()
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    // Every node is a container `docker exec` reaches; deleting the cluster names them all.
    let ls = tw.tool("docker", &["exec", WORKER2, "ls", "/"]).await;
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let ps = tw.tool("docker", &["ps"]).await.stdout;
    assert!(ps.contains(WORKER2) && ps.contains(CONTROL_PLANE), "{ps}");
    let del = tw
        .tool("kind", &["delete", "cluster", "--name", CLUSTER])
        .await;
    assert!(
        del.stderr.ends_with(&format!(
            "Deleted nodes: [\"{CONTROL_PLANE}\" \"{WORKER}\" \"{WORKER2}\"]\n"
        )),
        "{}",
        del.stderr
    );

    // One node: no taint, as kind removes it.
    let tw = TestWorld::start(vec![]).await;
    let config = tw.kind_config(false, 0);
    assert_eq!(tw.create_cluster_with(&config, IMAGE).await.code, 0);
    let nodes: Api<Node> = Api::all(tw.client().await);
    assert!(
        nodes
            .get(CONTROL_PLANE)
            .await
            .unwrap()
            .spec
            .unwrap()
            .taints
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_spreads_pods_over_the_workers_and_honours_tolerations() {
    let (_tw, client) = multinode(2).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for n in ["a", "b", "c", "d"] {
        pods.create(&PostParams::default(), &pod(n, None, false))
            .await
            .unwrap();
        bound_node(&pods, n).await;
    }
    let mut on = std::collections::BTreeMap::<String, usize>::new();
    for n in ["a", "b", "c", "d"] {
        *on.entry(bound_node(&pods, n).await).or_default() += 1;
    }
    assert_eq!(
        on,
        [(WORKER.to_string(), 2), (WORKER2.to_string(), 2)].into()
    );
    // A pod that tolerates the taint goes where the fewest pods are: the control plane.
    pods.create(&PostParams::default(), &pod("t", None, true))
        .await
        .unwrap();
    assert_eq!(bound_node(&pods, "t").await, CONTROL_PLANE);
    let host_ip = eventually("t's hostIP", Duration::from_secs(10), || async {
        pods.get("t").await.ok()?.status?.host_ip
    })
    .await;
    assert_eq!(host_ip, "172.18.0.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_pulls_and_loads_images_into_its_own_store() {
    let (tw, client) = multinode(2).await;
    let pull = tw
        .tool(
            "docker",
            &["exec", WORKER, "crictl", "pull", "busybox:1.36"],
        )
        .await;
    assert_eq!(pull.code, 0, "{}", pull.stderr);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client, "default");
    pods.create(
        &PostParams::default(),
        &pod("on-worker", Some(WORKER), false),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("on-worker2", Some(WORKER2), false),
    )
    .await
    .unwrap();
    assert_eq!(
        pulled_message(&events, "on-worker").await,
        "Container image \"busybox:1.36\" already present on machine"
    );
    let m = pulled_message(&events, "on-worker2").await;
    assert!(
        m.starts_with("Successfully pulled image \"busybox:1.36\" in "),
        "{m}"
    );

    // `kind load docker-image` needs the image in the host's Docker, and fills only the nodes
    // that lack it (or the ones named).
    let absent = tw
        .tool(
            "kind",
            &["load", "docker-image", "alpine:3", "--name", CLUSTER],
        )
        .await;
    assert_eq!(
        (absent.code, absent.stderr.as_str()),
        (1, "ERROR: image: \"alpine:3\" not present locally\n")
    );
    assert_eq!(tw.tool("docker", &["pull", "alpine:3"]).await.code, 0);
    assert_eq!(
        tw.tool("docker", &["image", "inspect", "alpine:3"])
            .await
            .code,
        0
    );
    let one = tw
        .tool(
            "kind",
            &[
                "load",
                "docker-image",
                "alpine:3",
                "--name",
                CLUSTER,
                "--nodes",
                WORKER2,
            ],
        )
        .await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    let loaded: BTreeSet<&str> = one
        .stderr
        .lines()
        .filter_map(|l| l.rsplit('"').nth(1))
        .collect();
    assert_eq!(loaded, [WORKER2].into());
    let all = tw
        .tool(
            "kind",
            &["load", "docker-image", "alpine:3", "--name", CLUSTER],
        )
        .await;
    let loaded: BTreeSet<&str> = all
        .stderr
        .lines()
        .filter_map(|l| l.rsplit('"').nth(1))
        .collect();
    assert_eq!(loaded, [CONTROL_PLANE, WORKER].into(), "{}", all.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rayclusters_head_and_worker_run_on_different_workers() {
    let tw = TestWorld::start(vec![]).await;
    let config = tw.kind_config(true, 2);
    let out = tw.create_cluster_with(&config, IMAGE).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The audit log is the control plane's: the workers have none.
    assert_eq!(tw.read_audit_log().await.code, 0);
    let on_worker = tw.tool("docker", &["exec", WORKER, "cat", AUDIT_LOG]).await;
    assert_eq!(on_worker.code, 1, "{}", on_worker.stdout);
    let client = operator_on(&tw).await;
    let (pods, head) = pod_security_cluster_on(&client).await;
    let worker = ready_pod(
        &pods,
        "ray.io/cluster=raycluster-pod-security,ray.io/node-type=worker",
    )
    .await;
    let (h, w) = (
        head.spec.unwrap().node_name.unwrap(),
        worker.spec.unwrap().node_name.unwrap(),
    );
    assert_ne!(h, w);
    assert!(
        [h.as_str(), w.as_str()]
            .iter()
            .all(|n| n.starts_with(WORKER)),
        "{h} {w}"
    );
    // kind export logs: a directory per node, each pod's logs under its node.
    let logs = tw.dir.path().join("logs");
    let out = tw
        .tool(
            "kind",
            &["export", "logs", logs.to_str().unwrap(), "--name", CLUSTER],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for n in [CONTROL_PLANE, WORKER, WORKER2] {
        assert!(logs.join(n).join("kubelet.log").is_file(), "{n}");
    }
    let head_name = head.metadata.name.clone().unwrap();
    let head_dir = std::fs::read_dir(logs.join(&h).join("pods"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains(&head_name));
    assert!(head_dir, "{head_name} under {h}");
    let kubelet = std::fs::read_to_string(logs.join(&w).join("kubelet.log")).unwrap();
    assert!(!kubelet.contains(&head_name), "{kubelet}");
    // Each node pulled the Ray image for itself (the worker's init container first).
    let events: Api<Event> = Api::namespaced(tw.client().await, NS);
    for p in [head.metadata.name.unwrap(), worker.metadata.name.unwrap()] {
        let fields = format!("involvedObject.name={p},reason=Pulled");
        let l = events
            .list(&ListParams::default().fields(&fields))
            .await
            .unwrap();
        let pulled = l.items.iter().filter_map(|e| e.message.as_deref());
        assert_eq!(
            pulled
                .filter(|m| m.starts_with("Successfully pulled image"))
                .count(),
            1,
            "{p}"
        );
    }
}
