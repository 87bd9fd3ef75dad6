//! What a fake tool is given (argv, CWD, environment) and what it answers (stdout, stderr, exit
//! code): the wire format between the thin tool clients and the world.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
