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
use crate::faults::Faults;
use crate::ray::RayHead;
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

/// Simulated latencies (before scaling).
pub mod latency {
    use std::time::Duration;
    pub const NODE_READY: Duration = Duration::from_secs(6);
    pub const CRD_ESTABLISHED: Duration = Duration::from_millis(500);
    pub const SCHEDULE: Duration = Duration::from_millis(300);
    pub const PULL_SMALL_IMAGE: Duration = Duration::from_secs(4);
    pub const PULL_RAY_IMAGE: Duration = Duration::from_secs(25);
    pub const CONTAINER_START: Duration = Duration::from_secs(1);
    pub const READINESS: Duration = Duration::from_secs(5);
    pub const POD_TERMINATION: Duration = Duration::from_secs(3);
    pub const CONTROLLER_TICK: Duration = Duration::from_millis(200);
    pub const XGBOOST_TRAINING: Duration = Duration::from_secs(20);
    pub const PIP_INSTALL: Duration = Duration::from_secs(4);
}

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
}

pub struct Cluster {
    pub name: String,
    pub node_name: String,
    pub version: KubeVersion,
    pub image: String,
    pub store: Store,
    pub audit: Option<AuditLog>,
    /// The node container's root filesystem (files `docker exec … cat` can read).
    pub node_root: PathBuf,
    /// kind `extraMounts`: (containerPath, absolute hostPath).
    pub mounts: Vec<(String, PathBuf)>,
    pub addr: Mutex<Option<SocketAddr>>,
    pub admin_token: String,
    pub cancel: CancellationToken,
    pub env: Arc<Env>,
    pub ray_heads: Mutex<BTreeMap<String, Arc<RayHead>>>,
    pub external_requests: AtomicU64,
    pub watches_started: AtomicU32,
    ip_counter: AtomicU32,
    events: Mutex<EventCorrelator>,
}

/// client-go's EventCorrelator (tools/record): identical events are counted on one object,
/// 10+ distinct messages of the same (source, object, type, reason) within 10 minutes are
/// combined ("(combined from similar events): …"), and a per-(source, object) token bucket
/// (burst 25, one token per 5 minutes) drops the rest. Times are simulated (scaled).
#[derive(Default)]
pub struct EventCorrelator {
    spam: std::collections::HashMap<String, (f64, std::time::Instant)>,
    aggregate:
        std::collections::HashMap<String, (std::collections::HashSet<String>, std::time::Instant)>,
    seen: std::collections::HashMap<String, (String, i64)>,
}

impl Cluster {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        version: KubeVersion,
        image: &str,
        audit: Option<AuditLog>,
        node_root: PathBuf,
        mounts: Vec<(String, PathBuf)>,
        env: Arc<Env>,
    ) -> Cluster {
        Cluster {
            name: name.into(),
            node_name: format!("{name}-control-plane"),
            version,
            image: image.into(),
            store: Store::new(),
            audit,
            node_root,
            mounts,
            addr: Mutex::new(None),
            admin_token: format!("kind-{}", util::new_uid().replace('-', "")),
            cancel: CancellationToken::new(),
            env,
            ray_heads: Mutex::new(BTreeMap::new()),
            external_requests: AtomicU64::new(0),
            watches_started: AtomicU32::new(0),
            ip_counter: AtomicU32::new(4),
            events: Mutex::new(EventCorrelator::default()),
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

    pub fn next_pod_ip(&self) -> String {
        format!(
            "10.244.0.{}",
            self.ip_counter.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// The kind admin user (`kubernetes-admin`): `system:masters` up to 1.28, the
    /// `kubeadm:cluster-admins` group (bound to cluster-admin) from 1.29.
    pub fn admin_caller(&self, user_agent: &str, source_ip: &str) -> Caller {
        let (groups, reason) = if self.version.minor >= 29 {
            (
                vec!["kubeadm:cluster-admins".to_string(), "system:authenticated".to_string()],
                "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"".to_string(),
            )
        } else {
            (
                vec![
                    "system:masters".to_string(),
                    "system:authenticated".to_string(),
                ],
                String::new(),
            )
        };
        Caller {
            user: UserInfo {
                username: "kubernetes-admin".into(),
                uid: None,
                groups,
                extra: None,
            },
            user_agent: user_agent.into(),
            source_ip: source_ip.into(),
            external: true,
            authz_reason: reason,
        }
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
        }
    }

    /// The KubeRay operator's service account token, bound to its pod.
    pub fn operator_caller(&self, ns: &str, pod: &Value) -> Caller {
        let sa = pod
            .pointer("/spec/serviceAccountName")
            .and_then(|v| v.as_str())
            .unwrap_or("kuberay-operator");
        let mut extra = BTreeMap::new();
        extra.insert(
            "authentication.kubernetes.io/pod-name".to_string(),
            vec![
                util::get_str(pod, &["metadata", "name"])
                    .unwrap_or_default()
                    .to_string(),
            ],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".to_string(),
            vec![
                util::get_str(pod, &["metadata", "uid"])
                    .unwrap_or_default()
                    .to_string(),
            ],
        );
        if self.version.minor >= 29 {
            extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={}", util::new_uid())],
            );
            extra.insert(
                "authentication.kubernetes.io/node-name".into(),
                vec![self.node_name.clone()],
            );
            extra.insert(
                "authentication.kubernetes.io/node-uid".into(),
                vec![uid_for(&self.node_name)],
            );
        }
        let ip = util::get_str(pod, &["status", "podIP"])
            .unwrap_or("10.244.0.5")
            .to_string();
        let crb = "kuberay-operator";
        Caller {
            user: UserInfo {
                username: format!("system:serviceaccount:{ns}:{sa}"),
                uid: Some(uid_for(&format!("{ns}/{sa}"))),
                groups: vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                    "system:authenticated".into(),
                ],
                extra: Some(extra),
            },
            user_agent: "kuberay-operator/v0.0.0 (linux/amd64) kubernetes/$Format".into(),
            source_ip: ip,
            external: false,
            authz_reason: format!(
                "RBAC: allowed by ClusterRoleBinding \"{crb}\" of ClusterRole \"{crb}\" to ServiceAccount \"{sa}/{ns}\""
            ),
        }
    }

    /// Record a core/v1 Event (as a component's event recorder would POST it).
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
        let ns = util::get_str(involved, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_string();
        let name = util::get_str(involved, &["metadata", "name"])
            .unwrap_or_default()
            .to_string();
        let uid = util::get_str(involved, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string();
        let host_s = host.unwrap_or("");
        let now_i = std::time::Instant::now();
        let scale = self.env.scale.max(1e-6);
        let mut message = message.to_string();
        let dedup_key;
        {
            let mut c = self.events.lock().unwrap();
            // Spam filter: burst 25, refill one token per 5 minutes.
            let spam_key = format!("{component}/{host_s}/{uid}");
            let (tokens, last) = c.spam.entry(spam_key).or_insert((25.0, now_i));
            *tokens =
                (*tokens + now_i.duration_since(*last).as_secs_f64() / (300.0 * scale)).min(25.0);
            *last = now_i;
            if *tokens < 1.0 {
                return;
            }
            *tokens -= 1.0;
            // Aggregation of similar events.
            let agg_key = format!("{component}/{host_s}/{uid}/{typ}/{reason}");
            let (msgs, first) = c
                .aggregate
                .entry(agg_key.clone())
                .or_insert_with(|| (Default::default(), now_i));
            if now_i.duration_since(*first).as_secs_f64() > 600.0 * scale {
                msgs.clear();
                *first = now_i;
            }
            msgs.insert(message.clone());
            if msgs.len() >= 10 {
                message = format!("(combined from similar events): {message}");
                dedup_key = format!("{agg_key}/combined");
            } else {
                dedup_key = format!("{agg_key}/{}/{message}", field_path.unwrap_or(""));
            }
            if let Some((ev_name, count)) = c.seen.get_mut(&dedup_key) {
                *count += 1;
                let (count, ev_name) = (*count, ev_name.clone());
                drop(c);
                let now = util::now_rfc3339();
                let updated = self
                    .store
                    .update(&Key::new("events", &ns, &ev_name), None, |e| {
                        e["count"] = json!(count);
                        e["lastTimestamp"] = json!(now);
                        e["message"] = json!(message);
                        Ok(true)
                    });
                if updated.is_ok() {
                    return;
                }
                // The event object is gone (namespace deleted): start a new one.
            }
        }
        let ev_name = format!("{name}.{:016x}", fastrand::u64(..));
        self.events
            .lock()
            .unwrap()
            .seen
            .insert(dedup_key, (ev_name.clone(), 1));
        let now = util::now_rfc3339();
        let mut involved_ref = json!({
            "kind": involved["kind"],
            "namespace": ns,
            "name": name,
            "uid": involved["metadata"]["uid"],
            "apiVersion": involved["apiVersion"],
            "resourceVersion": involved["metadata"]["resourceVersion"],
        });
        if let Some(fp) = field_path {
            involved_ref["fieldPath"] = json!(fp);
        }
        let mut source = json!({"component": component});
        if let Some(h) = host {
            source["host"] = json!(h);
        }
        let ev = json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message.as_str(),
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": typ,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": host.unwrap_or(""),
        });
        let _ = self
            .store
            .create(Key::new("events", &ns, &ev_name), ev, false);
    }
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
