//! The world: the kind clusters that exist, and the fake `kind`/`helm`/`docker` tools' control
//! endpoint. Tools are thin clients (see `control`) that forward argv/cwd/env here; every
//! invocation is recorded in `<state dir>/invocations.jsonl`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Env};
use crate::faults::Faults;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Invocation {
    pub tool: String,
    pub args: Vec<String>,
    pub cwd: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ToolOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl ToolOutput {
    pub fn ok(stdout: impl Into<String>) -> Self {
        ToolOutput {
            stdout: stdout.into(),
            stderr: String::new(),
            code: 0,
        }
    }
    pub fn fail(stderr: impl Into<String>, code: i32) -> Self {
        ToolOutput {
            stdout: String::new(),
            stderr: stderr.into(),
            code,
        }
    }
}

pub struct World {
    pub env: Arc<Env>,
    pub clusters: Mutex<BTreeMap<String, Arc<Cluster>>>,
    log: Mutex<()>,
}

impl World {
    pub fn new(state_dir: PathBuf, faults: Faults, scale: f64) -> Arc<World> {
        faults.set_log(state_dir.join("fault-hits.jsonl"));
        Arc::new(World {
            env: Arc::new(Env {
                state_dir,
                faults,
                scale,
            }),
            clusters: Mutex::new(BTreeMap::new()),
            log: Mutex::new(()),
        })
    }

    pub fn invocations_path(&self) -> PathBuf {
        self.env.state_dir.join("invocations.jsonl")
    }

    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.clusters.lock().unwrap().get(name).cloned()
    }

    pub fn cluster_by_node(&self, node: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .lock()
            .unwrap()
            .values()
            .find(|c| c.node_name == node)
            .cloned()
    }

    pub async fn invoke(self: &Arc<Self>, inv: Invocation) -> ToolOutput {
        let out = match inv.tool.as_str() {
            "kind" => crate::kind::run(self, &inv).await,
            "helm" => crate::helm::run(self, &inv).await,
            "docker" => crate::docker::run(self, &inv).await,
            other => ToolOutput::fail(format!("sim: unknown tool {other}\n"), 127),
        };
        self.record(&inv, &out);
        out
    }

    fn record(&self, inv: &Invocation, out: &ToolOutput) {
        let _g = self.log.lock().unwrap();
        let line = serde_json::json!({
            "ts": crate::util::now_rfc3339_micro(),
            "tool": inv.tool,
            "argv": std::iter::once(inv.tool.clone()).chain(inv.args.iter().cloned()).collect::<Vec<_>>(),
            "cwd": inv.cwd,
            "exit_code": out.code,
        });
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.invocations_path())
        {
            let _ = writeln!(f, "{line}");
        }
    }

    pub fn shutdown(&self) {
        for (_, c) in std::mem::take(&mut *self.clusters.lock().unwrap()) {
            c.cancel.cancel();
            if let Some(a) = &c.audit {
                a.close();
            }
        }
    }
}
