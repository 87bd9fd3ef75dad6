//! The fake `kind`, `helm` and `docker` CLIs behind one door: `World::invoke` dispatches an
//! invocation (argv/cwd/env forwarded by the thin clients in `control`) by tool name and records
//! it in `<state dir>/invocations.jsonl`.

use std::io::Write;
use std::sync::Arc;

use crate::world::World;

mod args;
mod docker;
mod existing;
mod export;
mod helm;
mod invocation;
mod kind;

pub use existing::{EXISTING_CLUSTER_FILE, ExistingCluster};
pub use invocation::{Invocation, ToolOutput};

/// The names the `sim` binary answers to as a fake tool (argv[0]).
pub const TOOLS: [&str; 3] = ["kind", "helm", "docker"];

impl World {
    /// Run one tool invocation in this world and record it.
    pub async fn invoke(self: &Arc<Self>, inv: Invocation) -> ToolOutput {
        let out = match inv.tool.as_str() {
            "kind" => kind::run(self, &inv).await,
            "helm" => helm::run(self, &inv).await,
            "docker" => docker::run(self, &inv).await,
            other => ToolOutput::fail(format!("sim: unknown tool {other}\n"), 127),
        };
        record(self, &inv, &out);
        out
    }
}

fn record(world: &World, inv: &Invocation, out: &ToolOutput) {
    let _g = world.invocation_log.lock().unwrap();
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
        .open(world.invocations_path())
    {
        let _ = writeln!(f, "{line}");
    }
}
