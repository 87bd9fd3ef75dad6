//! One simulated kind cluster: its apiserver's store, audit backend, identities and actors.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditLog, UserInfo};
use crate::authz::{LimitedUser, Rights};
use crate::events::{Event, EventCorrelator, EventType};
use crate::faults::Faults;
use crate::store::{Key, Store};
use crate::util;

/// World-wide settings shared by every cluster.
pub struct Env {
    pub state_dir: PathBuf,
    pub faults: Faults,
    /// Multiplier applied to every simulated latency.
    pub scale: f64,
}

impl Env {
    pub async fn sleep(&self, d: Duration) {
        util::sim_sleep(self.scale, d).await
    }
}

use crate::nodes::Node;
pub use crate::nodes::full_image;

/// Simulated latencies (kept under this path for the control loops that name it so).
pub(crate) use crate::latency;

#[derive(Clone, Debug)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KubeVersion {
    /// From a kindest/node image reference (`kindest/node:v1.26.15@sha256:…`).
    pub fn from_image(image: &str) -> Option<KubeVersion> {
        let tag = image.split('@').next()?.rsplit_once(':')?.1;
        let v = tag.strip_prefix('v')?;
        let mut it = v.split(['.', '-', '+']);
        Some(KubeVersion {
            major: it.next()?.parse().ok()?,
            minor: it.next()?.parse().ok()?,
            patch: it.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        })
    }
    pub fn git_version(&self) -> String {
        format!("v{}.{}.{}", self.major, self.minor, self.patch)
    }
    /// A stable fake 40-hex commit derived from the version.
    pub fn git_commit(&self) -> String {
        let mut h: u128 = 0x9e3779b97f4a7c15f39cc0605cedc834;
        for b in self.git_version().bytes() {
            h = (h ^ b as u128).wrapping_mul(0x0000000001000000000000000000013B);
        }
        format!("{:032x}{:08x}", h, (h >> 17) as u32)
    }

    pub fn version_json(&self) -> Value {
        let go = match self.minor {
            ..=26 => "go1.21.9",
            27..=29 => "go1.22.5",
            30..=31 => "go1.23.6",
            _ => "go1.24.4",
        };
        json!({
            "major": self.major.to_string(),
            "minor": self.minor.to_string(),
            "gitVersion": self.git_version(),
            "gitCommit": self.git_commit(),
            "gitTreeState": "clean",
            "buildDate": "2024-03-15T00:00:00Z",
            "goVersion": go,
            "compiler": "gc",
            "platform": "linux/amd64"
        })
    }
}

/// Who is calling the apiserver, as the audit log records it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserInfo,
    pub user_agent: String,
    pub source_ip: String,
    /// Requests from outside the cluster (the harness, helm) — faults that model an overloaded
    /// apiserver apply to them only.
    pub external: bool,
    /// `authorization.k8s.io/reason` text.
    pub authz_reason: String,
    /// What the caller may do (everything, but for a limited user).
    pub rights: Rights,
}

impl Caller {
    /// A user from outside the cluster, authenticated by a kubeconfig's credentials, calling
    /// from `(user agent, source IP)`.
    fn external(
        username: String,
        groups: Vec<String>,
        (user_agent, source_ip): (&str, &str),
        authz_reason: String,
        rights: Rights,
    ) -> Caller {
        Caller {
            user: UserInfo {
                username,
                uid: None,
                groups,
                extra: None,
            },
            user_agent: user_agent.into(),
            source_ip: source_ip.into(),
            external: true,
            authz_reason,
            rights,
        }
    }
}

pub struct Cluster {
    pub name: String,
    /// The control-plane node's name (`NAME-control-plane`).
    pub node_name: String,
    /// Every node, the control plane first.
    pub nodes: Vec<Node>,
    pub version: KubeVersion,
    pub image: String,
    pub store: Store,
    pub audit: Option<AuditLog>,
    pub addr: Mutex<Option<SocketAddr>>,
    /// The cluster's CA and serving certificate (`tls`).
    pub pki: crate::tls::ClusterPki,
    /// The kind admin's client certificate (kubeadm's `admin.conf`), signed by the cluster's CA.
    pub admin_cert: crate::tls::CertAndKey,
    /// Limited users' bearer tokens.
    users: Mutex<BTreeMap<String, Arc<LimitedUser>>>,
    pub cancel: CancellationToken,
    pub env: Arc<Env>,
    /// Servers running inside pods (key `ns/name`), started by container behaviours when a pod
    /// becomes Ready and dropped when it terminates; port-forwards reach them. (Today only Ray
    /// heads serve, hence the name, which `streams` uses.)
    pub pod_servers_by_name: Mutex<BTreeMap<String, PodServer>>,
    /// How long the node takes to pull an image whose reference contains the text (from the
    /// container behaviours, set at boot); others take `latency::PULL_SMALL_IMAGE`.
    pull_latencies: Mutex<Vec<(&'static str, Duration)>>,
    pub external_requests: AtomicU64,
    pub watches_started: AtomicU32,
    ip_counter: AtomicU32,
    events: Mutex<EventCorrelator>,
}

/// The O of kubeadm's `admin.conf` certificate: `system:masters` up to 1.28, the
/// `kubeadm:cluster-admins` group (bound to cluster-admin) from 1.29.
pub fn admin_group(version: &KubeVersion) -> &'static str {
    if version.minor >= 29 {
        "kubeadm:cluster-admins"
    } else {
        "system:masters"
    }
}

/// Whatever serves inside a pod; its owner downcasts it.
pub type PodServer = Arc<dyn std::any::Any + Send + Sync>;

impl Cluster {
    /// Wait for a controller's next pass: at least `CONTROLLER_TICK` after the previous one,
    /// as soon as the store has changed since `changes` last looked, else after
    /// `CONTROLLER_RESYNC`. False once the cluster is cancelled.
    pub async fn next_pass(&self, changes: &mut tokio::sync::watch::Receiver<u64>) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => return false,
            _ = self.env.sleep(crate::latency::CONTROLLER_TICK) => {}
        }
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = changes.changed() => true,
            _ = self.env.sleep(crate::latency::CONTROLLER_RESYNC - crate::latency::CONTROLLER_TICK) => {
                changes.mark_unchanged();
                true
            }
        }
    }

    pub fn new(
        name: &str,
        version: KubeVersion,
        image: &str,
        audit: Option<AuditLog>,
        nodes: Vec<Node>,
        env: Arc<Env>,
    ) -> Cluster {
        let pki = crate::tls::ClusterPki::new();
        let admin_cert = pki.client_cert("kubernetes-admin", admin_group(&version));
        Cluster {
            name: name.into(),
            node_name: nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
            nodes,
            version,
            image: image.into(),
            store: Store::new(),
            audit,
            addr: Mutex::new(None),
            admin_cert,
            pki,
            users: Mutex::new(BTreeMap::new()),
            cancel: CancellationToken::new(),
            env,
            pod_servers_by_name: Mutex::new(BTreeMap::new()),
            pull_latencies: Mutex::new(Vec::new()),
            external_requests: AtomicU64::new(0),
            watches_started: AtomicU32::new(0),
            ip_counter: AtomicU32::new(4),
            events: Mutex::new(EventCorrelator::default()),
        }
    }

    /// A cluster with nothing running, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Cluster {
        let env = Arc::new(Env {
            state_dir: std::env::temp_dir(),
            faults: Faults::default(),
            scale: 0.0,
        });
        let version = KubeVersion::from_image("kindest/node:v1.26.15").expect("a version");
        Cluster::new(
            "t",
            version,
            "kindest/node:v1.26.15",
            None,
            crate::nodes::node_names("t", 0)
                .into_iter()
                .map(|(n, r)| Node::new(n, r, 0, std::env::temp_dir(), vec![]))
                .collect(),
            env,
        )
    }

    pub fn set_pull_latencies(&self, latencies: Vec<(&'static str, Duration)>) {
        *self.pull_latencies.lock().unwrap() = latencies;
    }

    /// How long pulling `image` takes on this node.
    pub fn pull_latency(&self, image: &str) -> Duration {
        self.pull_latencies
            .lock()
            .unwrap()
            .iter()
            .find(|(text, _)| image.contains(text))
            .map_or(latency::PULL_SMALL_IMAGE, |(_, d)| *d)
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The control-plane node.
    pub fn control_plane(&self) -> &Node {
        &self.nodes[0]
    }

    /// Whether `image` is on node `node` (pulled, not being pulled).
    pub fn has_image(&self, node: &str, image: &str) -> bool {
        self.node(node).is_some_and(|n| n.has_image(image))
    }

    /// Pulls `image` onto node `node` (see `Node::pull_image`). Returns how long the caller waited.
    pub async fn pull_image(&self, node: &str, image: &str, takes: Duration) -> Duration {
        match self.node(node) {
            Some(n) => n.pull_image(image, takes, self.env.scale).await,
            None => Duration::ZERO,
        }
    }

    /// The server running in pod `ns/name`, if any.
    pub fn pod_server(&self, ns: &str, name: &str) -> Option<PodServer> {
        self.pod_servers_by_name
            .lock()
            .unwrap()
            .get(&format!("{ns}/{name}"))
            .cloned()
    }

    pub fn set_pod_server(&self, ns: &str, name: &str, server: PodServer) {
        self.pod_servers_by_name
            .lock()
            .unwrap()
            .insert(format!("{ns}/{name}"), server);
    }

    /// The pod's processes are gone.
    pub fn stop_pod_server(&self, ns: &str, name: &str) {
        self.pod_servers_by_name
            .lock()
            .unwrap()
            .remove(&format!("{ns}/{name}"));
    }

    pub fn pod_servers(&self) -> Vec<PodServer> {
        self.pod_servers_by_name
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// Stop every actor of the cluster and close its audit log.
    pub fn stop(&self) {
        self.cancel.cancel();
        if let Some(a) = &self.audit {
            a.close();
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.env.faults
    }

    pub fn server_url(&self) -> String {
        format!(
            "https://{}",
            self.addr.lock().unwrap().expect("apiserver started")
        )
    }

    /// The next pod IP on `node` (from its pod CIDR `10.244.<index>.0/24`).
    pub fn next_pod_ip(&self, node: &str) -> String {
        let index = self.node(node).map_or(0, |n| n.index);
        format!(
            "10.244.{index}.{}",
            self.ip_counter.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// The kind admin user (`kubernetes-admin`): `system:masters` up to 1.28, the
    /// `kubeadm:cluster-admins` group (bound to cluster-admin) from 1.29.
    pub fn admin_caller(&self, user_agent: &str, source_ip: &str) -> Caller {
        let (groups, reason) = if self.version.minor >= 29 {
            (
                vec![admin_group(&self.version).to_string(), "system:authenticated".to_string()],
                "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"".to_string(),
            )
        } else {
            (
                vec![
                    admin_group(&self.version).to_string(),
                    "system:authenticated".to_string(),
                ],
                String::new(),
            )
        };
        Caller::external(
            "kubernetes-admin".into(),
            groups,
            (user_agent, source_ip),
            reason,
            Rights::default(),
        )
    }

    /// Registers a limited user; returns its bearer token.
    pub fn add_limited_user(&self, user: LimitedUser) -> String {
        let token = format!("{}-{}", user.name, util::new_uid().replace('-', ""));
        self.users
            .lock()
            .unwrap()
            .insert(token.clone(), Arc::new(user));
        token
    }

    /// The caller a verified client certificate stands for (user CN, groups its O's): the kind
    /// admin's certificate is the kind admin.
    pub fn caller_for_cert(
        &self,
        id: &crate::tls::CertIdentity,
        user_agent: &str,
        source_ip: &str,
    ) -> Caller {
        let admin = self.admin_caller(user_agent, source_ip);
        let mut groups = id.organizations.clone();
        groups.push("system:authenticated".into());
        if id.common_name == admin.user.username && groups == admin.user.groups {
            return admin;
        }
        let authz_reason = if groups.iter().any(|g| g == "system:masters") {
            String::new()
        } else {
            format!(
                "RBAC: allowed by ClusterRoleBinding \"sim:cert-user\" of ClusterRole \"cluster-admin\" to User \"{}\"",
                id.common_name
            )
        };
        Caller::external(
            id.common_name.clone(),
            groups,
            (user_agent, source_ip),
            authz_reason,
            Rights::default(),
        )
    }

    /// The caller a bearer token stands for: a limited user.
    pub fn caller_for_token(
        &self,
        token: &str,
        user_agent: &str,
        source_ip: &str,
    ) -> Option<Caller> {
        let user = self.users.lock().unwrap().get(token).cloned()?;
        let reason = format!(
            "RBAC: allowed by ClusterRoleBinding \"sim:limited-user\" of ClusterRole \"sim:limited-user\" to User \"{}\"",
            user.name
        );
        Some(Caller::external(
            user.name.clone(),
            vec!["system:authenticated".into()],
            (user_agent, source_ip),
            reason,
            Rights(Some(user)),
        ))
    }

    /// A kube-controller-manager controller (`--use-service-account-credentials`).
    pub fn controller_caller(&self, controller: &str) -> Caller {
        let sa = controller.to_string();
        Caller {
            user: UserInfo {
                username: format!("system:serviceaccount:kube-system:{sa}"),
                uid: Some(uid_for(&format!("kube-system/{sa}"))),
                groups: vec![
                    "system:serviceaccounts".into(),
                    "system:serviceaccounts:kube-system".into(),
                    "system:authenticated".into(),
                ],
                extra: None,
            },
            user_agent: format!(
                "kube-controller-manager/{} (linux/amd64) kubernetes/{}/system:serviceaccount:kube-system:{sa}",
                self.version.git_version(),
                &self.version.git_commit()[..7]
            ),
            source_ip: "172.18.0.2".into(),
            external: false,
            authz_reason: format!(
                "RBAC: allowed by ClusterRoleBinding \"system:controller:{sa}\" of ClusterRole \"system:controller:{sa}\" to ServiceAccount \"{sa}/kube-system\""
            ),
            rights: Rights::default(),
        }
    }

    /// Record a core/v1 Event in positional form (the control loops' call sites); see `emit`.
    #[allow(clippy::too_many_arguments)]
    pub fn record_event(
        &self,
        involved: &Value,
        typ: &str,
        reason: &str,
        message: &str,
        component: &str,
        host: Option<&str>,
        field_path: Option<&str>,
    ) {
        let typ = if typ == "Warning" {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.emit(
            involved,
            &Event {
                typ,
                reason,
                message,
                component,
                host,
                field_path,
            },
        );
    }

    /// Record a core/v1 Event about `involved` (as a component's event recorder would POST it),
    /// through client-go's correlation.
    pub fn emit(&self, involved: &Value, ev: &Event) {
        let meta = |f: &str| {
            util::get_str(involved, &["metadata", f])
                .unwrap_or_default()
                .to_string()
        };
        let ns = util::get_str(involved, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_string();
        let scale = self.env.scale.max(1e-6);
        let correlated = self.events.lock().unwrap().correlate(
            ev,
            &meta("uid"),
            std::time::Instant::now(),
            scale,
        );
        let Some(c) = correlated else { return };
        if let Some((ev_name, count)) = &c.repeat_of {
            let now = util::now_rfc3339();
            let updated = self
                .store
                .update(&Key::new("events", &ns, ev_name), None, |e| {
                    e["count"] = json!(count);
                    e["lastTimestamp"] = json!(now);
                    e["message"] = json!(c.message);
                    Ok(true)
                });
            if updated.is_ok() {
                return;
            }
            // The event object is gone (namespace deleted): start a new one.
        }
        let ev_name = format!("{}.{:016x}", meta("name"), fastrand::u64(..));
        self.events
            .lock()
            .unwrap()
            .stored(c.dedup_key.clone(), ev_name.clone());
        let obj = event_object(involved, ev, &ns, &ev_name, &c.message);
        let _ = self
            .store
            .create(Key::new("events", &ns, &ev_name), obj, false);
    }
}

/// The core/v1 Event object for a new event.
fn event_object(involved: &Value, ev: &Event, ns: &str, ev_name: &str, message: &str) -> Value {
    let now = util::now_rfc3339();
    let mut involved_ref = json!({
        "kind": involved["kind"],
        "namespace": ns,
        "name": util::get_str(involved, &["metadata", "name"]).unwrap_or_default(),
        "uid": involved["metadata"]["uid"],
        "apiVersion": involved["apiVersion"],
        "resourceVersion": involved["metadata"]["resourceVersion"],
    });
    if let Some(fp) = ev.field_path {
        involved_ref["fieldPath"] = json!(fp);
    }
    let mut source = json!({"component": ev.component});
    if let Some(h) = ev.host {
        source["host"] = json!(h);
    }
    json!({
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": ev_name, "namespace": ns},
        "involvedObject": involved_ref,
        "reason": ev.reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": ev.typ.as_str(),
        "eventTime": null,
        "reportingComponent": ev.component,
        "reportingInstance": ev.host.unwrap_or(""),
    })
}

/// Deterministic UUID-shaped id for an identity (service account uids are stable).
pub fn uid_for(s: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let x = format!("{h:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_version_from_a_kindest_node_image() {
        let v = KubeVersion::from_image("kindest/node:v1.26.15@sha256:c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd").unwrap();
        assert_eq!((v.minor, v.git_version()), (26, "v1.26.15".to_string()));
        assert_eq!(
            KubeVersion::from_image("kindest/node:v1.30.0")
                .unwrap()
                .minor,
            30
        );
        assert!(KubeVersion::from_image("kindest/node:latest").is_none());
    }

    #[test]
    fn service_account_uids_are_stable_and_uuid_shaped() {
        let a = uid_for("kube-system/replicaset-controller");
        assert_eq!(a, uid_for("kube-system/replicaset-controller"));
        assert_ne!(a, uid_for("pod-security/kuberay-operator"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}
