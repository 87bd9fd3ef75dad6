//! The nodes of a kind cluster: one control-plane node and any workers, named as kind names them
//! (`NAME-control-plane`, `NAME-worker`, `NAME-worker2`, …), each a "container" with its own
//! filesystem, address and containerd image store (a pull on one node fills only that node's).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The taint kubeadm puts on a control-plane node; kind removes it when there are no workers.
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    /// As kind's config spells it (`role: worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

/// An image in a node's containerd.
#[derive(Clone, Copy, Debug)]
pub enum NodeImage {
    /// Being pulled; done then.
    Pulling(tokio::time::Instant),
    Present,
}

/// One node container.
pub struct Node {
    pub name: String,
    pub role: Role,
    /// Position in the cluster (0 = the control plane): its pod CIDR `10.244.<index>.0/24`.
    pub index: u32,
    /// The container's address on the kind network.
    pub ip: String,
    /// The node container's root filesystem (files `docker exec … cat` can read).
    pub root: PathBuf,
    /// kind `extraMounts`: (containerPath, absolute hostPath).
    pub mounts: Vec<(String, PathBuf)>,
    /// The node's images, by full reference (`docker.io/rayproject/ray-ml:2.4.0-cpu`).
    images: Mutex<BTreeMap<String, NodeImage>>,
}

impl Node {
    pub fn new(
        name: String,
        role: Role,
        index: u32,
        root: PathBuf,
        mounts: Vec<(String, PathBuf)>,
    ) -> Node {
        Node {
            name,
            role,
            index,
            ip: format!("172.18.0.{}", index + 2),
            root,
            mounts,
            images: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `image` is on the node (pulled, not being pulled).
    pub fn has_image(&self, image: &str) -> bool {
        matches!(
            self.images.lock().unwrap().get(&full_image(image)),
            Some(NodeImage::Present)
        )
    }

    /// Pulls `image` onto the node, as containerd does: a pull taking `takes` (times `scale`), or,
    /// when one is in progress, waiting for it to finish. Returns how long the caller waited.
    pub async fn pull_image(&self, image: &str, takes: Duration, scale: f64) -> Duration {
        let started = tokio::time::Instant::now();
        let key = full_image(image);
        let done_at = {
            let mut images = self.images.lock().unwrap();
            match images.get(&key).copied() {
                Some(NodeImage::Present) => return Duration::ZERO,
                Some(NodeImage::Pulling(at)) => at,
                None => {
                    let at = started + takes.mul_f64(scale.max(0.0));
                    images.insert(key.clone(), NodeImage::Pulling(at));
                    at
                }
            }
        };
        tokio::time::sleep_until(done_at).await;
        self.images.lock().unwrap().insert(key, NodeImage::Present);
        started.elapsed()
    }

    /// An image loaded from the host (`kind load docker-image`): present at once.
    pub fn load_image(&self, image: &str) {
        self.images
            .lock()
            .unwrap()
            .insert(full_image(image), NodeImage::Present);
    }
}

/// kind's node names: `NAME-control-plane`, then `NAME-worker`, `NAME-worker2`, …
pub fn node_names(cluster: &str, workers: usize) -> Vec<(String, Role)> {
    let mut out = vec![(format!("{cluster}-control-plane"), Role::ControlPlane)];
    for i in 1..=workers {
        let suffix = if i == 1 { String::new() } else { i.to_string() };
        out.push((format!("{cluster}-worker{suffix}"), Role::Worker));
    }
    out
}

/// `rayproject/ray:2` → `docker.io/rayproject/ray:2`, `busybox` → `docker.io/library/busybox:latest`,
/// as containerd names what it pulls.
pub fn full_image(img: &str) -> String {
    let with_tag = if img
        .rsplit('/')
        .next()
        .is_some_and(|l| l.contains(':') || l.contains('@'))
    {
        img.to_string()
    } else {
        format!("{img}:latest")
    };
    if with_tag.split('/').next().is_some_and(|f| f.contains('.')) {
        with_tag
    } else if with_tag.contains('/') {
        format!("docker.io/{with_tag}")
    } else {
        format!("docker.io/library/{with_tag}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_as_kind_names_them() {
        let names: Vec<String> = node_names("e2e", 3).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "e2e-control-plane",
                "e2e-worker",
                "e2e-worker2",
                "e2e-worker3"
            ]
        );
        assert_eq!(node_names("k", 0).len(), 1);
    }

    #[tokio::test]
    async fn each_node_has_its_own_images() {
        let a = Node::new("a".into(), Role::Worker, 1, PathBuf::new(), vec![]);
        let b = Node::new("b".into(), Role::Worker, 2, PathBuf::new(), vec![]);
        a.pull_image("busybox", Duration::ZERO, 1.0).await;
        assert!(a.has_image("docker.io/library/busybox:latest"));
        assert!(!b.has_image("busybox"));
    }
}
