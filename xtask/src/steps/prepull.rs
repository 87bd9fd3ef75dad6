//! Pulling the Ray image onto the nodes while the operator installs: the nodes exist from step 1,
//! but the kubelet would only pull when step 5.2 creates its pods. Started by the `kind_cluster`
//! step, it runs in the background, bounded, and leaves nothing behind but the image on the
//! nodes (it creates no pod, so Pod Security never sees it). When the host's Docker has the image,
//! it is loaded into kind instead of pulled. A failed pre-pull fails nothing: the kubelet then
//! pulls as it always does, and step 5.2 says which happened.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{cmd::Command, kind, tools};

/// How long a pre-pull may take before it is given up (the kubelet then pulls).
pub const BOUND: Duration = Duration::from_secs(20 * 60);

/// Where a pre-pull stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepull {
    Running { since: Instant },
    Done(Vec<String>),
    Failed(String),
}

impl Prepull {
    /// What step 5.2's evidence says about it.
    pub fn evidence(&self) -> String {
        match self {
            Prepull::Running { since } => format!(
                "pre-pull of the Ray image still running after {:.0}s: the kubelet joined it",
                since.elapsed().as_secs_f64()
            ),
            Prepull::Done(what) => format!(
                "pre-pulled while the earlier steps ran: {}",
                what.join("; ")
            ),
            Prepull::Failed(why) => {
                format!("pre-pull failed ({why}); the kubelet pulled the image itself")
            }
        }
    }
}

/// The pre-pull's state, shared between the background task and the steps.
pub type Shared = Arc<Mutex<Prepull>>;

/// Starts pulling `images` onto every node of `cluster`; returns its state and the task.
pub fn start(
    cluster: kind::Cluster,
    images: Vec<String>,
    tool_dirs: Vec<PathBuf>,
) -> (Shared, tokio::task::JoinHandle<()>) {
    let state: Shared = Arc::new(Mutex::new(Prepull::Running {
        since: Instant::now(),
    }));
    let shared = state.clone();
    let task = tokio::spawn(async move {
        let pulling = pull_all(&cluster, &images, &tool_dirs);
        let outcome = match tokio::time::timeout(BOUND, pulling).await {
            Ok(Ok(done)) => Prepull::Done(done),
            Ok(Err(why)) => Prepull::Failed(why),
            Err(_) => Prepull::Failed(format!("not done after {}s", BOUND.as_secs())),
        };
        if let Ok(mut s) = shared.lock() {
            *s = outcome;
        }
    });
    (state, task)
}

/// A command built in a shell that finds the fetched tools (a shell is not `Sync`, so it never
/// lives across an await of this task).
fn build(
    tool_dirs: &[PathBuf],
    f: impl FnOnce(&xshell::Shell) -> Command,
) -> Result<Command, String> {
    let sh = tools::shell_with(tool_dirs).map_err(|e| format!("{e:#}"))?;
    Ok(f(&sh))
}

async fn pull_all(
    cluster: &kind::Cluster,
    images: &[String],
    tool_dirs: &[PathBuf],
) -> Result<Vec<String>, String> {
    let nodes: Vec<String> = build(tool_dirs, |sh| cluster.nodes(sh))?
        .checked()
        .await
        .map_err(|e| format!("{e:#}"))?
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut done = Vec::new();
    for image in images {
        let started = Instant::now();
        let local = build(tool_dirs, |sh| kind::host_has_image(sh, image))?
            .output()
            .await;
        let how = if local.is_ok_and(|o| o.success()) {
            build(tool_dirs, |sh| cluster.load_image(sh, image))?
                .checked()
                .await
                .map_err(|e| format!("{e:#}"))?;
            "kind load docker-image"
        } else {
            let mut pulls = Vec::new();
            for node in &nodes {
                pulls.push(build(tool_dirs, |sh| cluster.pull_on_node(sh, node, image))?.checked());
            }
            for pulled in futures::future::join_all(pulls).await {
                pulled.map_err(|e| format!("{e:#}"))?;
            }
            "crictl pull"
        };
        done.push(format!(
            "{image} on {} in {:.1}s ({how})",
            nodes.join(", "),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_5_2_says_which_happened() {
        let done = Prepull::Done(vec![
            "rayproject/ray-ml:2.4.0-cpu on n in 25.0s (crictl pull)".into(),
        ]);
        assert_eq!(
            done.evidence(),
            "pre-pulled while the earlier steps ran: rayproject/ray-ml:2.4.0-cpu on n in 25.0s (crictl pull)"
        );
        let failed =
            Prepull::Failed("`docker exec n crictl pull x` exited with code 1: 429".into());
        assert!(
            failed
                .evidence()
                .ends_with("; the kubelet pulled the image itself")
        );
        let running = Prepull::Running {
            since: Instant::now(),
        };
        assert!(
            running
                .evidence()
                .starts_with("pre-pull of the Ray image still running after")
        );
    }
}
