//! What the containers of a pod do, as far as the kubelet can tell: how long an image pull takes
//! (or that it never succeeds), what an init container waits for, whether the readiness probe
//! passes, and what starts serving once the pod is Ready. The kubelet stays generic; workloads
//! (`ray`, `operator`) register behaviours here, keyed by image, init-container name or pod label.

use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::latency;
use crate::store::Key;
use crate::util;

/// Which containers (or pods) a behaviour applies to.
pub enum When {
    /// The container's image reference contains this text.
    ImageContains(&'static str),
    /// An init container of this name.
    InitContainer(&'static str),
    /// The pod carries this label with this value.
    PodLabel(&'static str, &'static str),
}

/// An init container that runs until the future ends: `true` when it completed, `false` when the
/// pod or the cluster went away first.
pub type InitRun = for<'a> fn(&'a Arc<Cluster>, &'a Key, &'a Value) -> BoxFuture<'a, bool>;

/// What the matching containers do differently from a plain container.
pub enum Does {
    /// Pulling the image takes this long.
    PullTakes(Duration),
    /// `(cluster, pod, container index)`: the pull fails forever (ImagePullBackOff) when true.
    PullFails(fn(&Cluster, &Value, usize) -> bool),
    /// `(cluster, pod, container index)`: the registry refuses the pull this once, with this
    /// message (e.g. a rate limit); the kubelet backs off and pulls again.
    PullRefusedOnce(fn(&Cluster, &Value, usize) -> Option<String>),
    /// `(cluster, pod, container)`: the container cannot be created, with this message
    /// (CreateContainerConfigError), however often the kubelet retries.
    ConfigError(fn(&Cluster, &Value, &Value) -> Option<String>),
    /// `(cluster, pod)`: the scheduler finds no node for the pod, with this message.
    Unschedulable(fn(&Cluster, &Value) -> Option<String>),
    /// `(cluster, pod)`: the container exits 1 right after it starts, and keeps being restarted.
    CrashLoops(fn(&Cluster, &Value) -> bool),
    /// The init container runs until this returns.
    InitRuns(InitRun),
    /// `(cluster, pod, pod IP)`: the readiness probe keeps failing with this message when `Some`.
    ProbeFails(fn(&Cluster, &Value, &str) -> Option<String>),
    /// `(cluster, pod)`: called once when the pod becomes Ready.
    OnReady(fn(&Cluster, &Value)),
}

pub struct Behaviour {
    pub when: When,
    pub does: Does,
}

/// The behaviours known to one cluster's kubelet.
#[derive(Default)]
pub struct Behaviours(Vec<Behaviour>);

impl Behaviours {
    pub fn with(mut self, bs: impl IntoIterator<Item = Behaviour>) -> Self {
        self.0.extend(bs);
        self
    }

    fn matching<'a>(
        &'a self,
        pod: &'a Value,
        c: Option<&'a Value>,
    ) -> impl Iterator<Item = &'a Does> {
        self.0
            .iter()
            .filter(move |b| applies(&b.when, pod, c))
            .map(|b| &b.does)
    }

    pub fn pull_latency(&self, pod: &Value, c: &Value) -> Duration {
        self.matching(pod, Some(c))
            .find_map(|d| match d {
                Does::PullTakes(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(latency::PULL_SMALL_IMAGE)
    }

    /// The pull latencies by image text, for whoever pulls (the kubelet, or `crictl pull`).
    pub fn pull_latencies(&self) -> Vec<(&'static str, Duration)> {
        self.0
            .iter()
            .filter_map(|b| match (&b.when, &b.does) {
                (When::ImageContains(s), Does::PullTakes(t)) => Some((*s, *t)),
                _ => None,
            })
            .collect()
    }

    pub fn pull_fails(&self, cl: &Cluster, pod: &Value, c: &Value, i: usize) -> bool {
        self.matching(pod, Some(c)).any(|d| match d {
            Does::PullFails(f) => f(cl, pod, i),
            _ => false,
        })
    }

    pub fn pull_refused_once(
        &self,
        cl: &Cluster,
        pod: &Value,
        c: &Value,
        i: usize,
    ) -> Option<String> {
        self.matching(pod, Some(c)).find_map(|d| match d {
            Does::PullRefusedOnce(f) => f(cl, pod, i),
            _ => None,
        })
    }

    pub fn config_error(&self, cl: &Cluster, pod: &Value, c: &Value) -> Option<String> {
        self.matching(pod, Some(c)).find_map(|d| match d {
            Does::ConfigError(f) => f(cl, pod, c),
            _ => None,
        })
    }

    pub fn unschedulable(&self, cl: &Cluster, pod: &Value) -> Option<String> {
        self.matching(pod, None).find_map(|d| match d {
            Does::Unschedulable(f) => f(cl, pod),
            _ => None,
        })
    }

    pub fn crash_loops(&self, cl: &Cluster, pod: &Value) -> bool {
        self.matching(pod, None).any(|d| match d {
            Does::CrashLoops(f) => f(cl, pod),
            _ => false,
        })
    }

    pub fn init_run(&self, pod: &Value, c: &Value) -> Option<InitRun> {
        self.matching(pod, Some(c)).find_map(|d| match d {
            Does::InitRuns(f) => Some(*f),
            _ => None,
        })
    }

    pub fn probe_failure(&self, cl: &Cluster, pod: &Value, ip: &str) -> Option<String> {
        self.matching(pod, None).find_map(|d| match d {
            Does::ProbeFails(f) => f(cl, pod, ip),
            _ => None,
        })
    }

    pub fn on_ready(&self, cl: &Cluster, pod: &Value) {
        for d in self.matching(pod, None) {
            if let Does::OnReady(f) = d {
                f(cl, pod)
            }
        }
    }
}

/// The pod, unless it is gone or being deleted.
pub fn alive(cl: &Cluster, key: &Key) -> Option<Value> {
    cl.store
        .get(key)
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
}

fn applies(when: &When, pod: &Value, c: Option<&Value>) -> bool {
    match when {
        When::ImageContains(s) => {
            c.is_some_and(|c| c["image"].as_str().unwrap_or_default().contains(s))
        }
        When::InitContainer(n) => c.is_some_and(|c| c["name"] == *n),
        When::PodLabel(k, v) => util::labels_of(pod).get(*k).map(String::as_str) == Some(*v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dashboard(_: &Cluster, _: &Value) {}

    #[test]
    fn behaviours_apply_by_image_init_name_and_label() {
        let b = Behaviours::default().with([
            Behaviour {
                when: When::ImageContains("rayproject/"),
                does: Does::PullTakes(Duration::from_secs(25)),
            },
            Behaviour {
                when: When::PodLabel("app", "web"),
                does: Does::OnReady(dashboard),
            },
        ]);
        let pod = json!({"metadata": {"labels": {"app": "web"}}});
        let ray = json!({"name": "c", "image": "rayproject/ray:2.41.0"});
        let other = json!({"name": "c", "image": "busybox"});
        assert_eq!(b.pull_latency(&pod, &ray), Duration::from_secs(25));
        assert_eq!(b.pull_latency(&pod, &other), latency::PULL_SMALL_IMAGE);
        assert!(b.init_run(&pod, &ray).is_none());
        assert!(applies(&When::InitContainer("c"), &pod, Some(&other)));
        assert!(!applies(&When::InitContainer("c"), &pod, None));
        assert!(applies(&When::PodLabel("app", "web"), &pod, None));
        assert!(!applies(&When::PodLabel("app", "db"), &pod, None));
    }
}
