//! The world's control endpoint (HTTP on 127.0.0.1) and the client side used by the multi-call
//! `kind`/`helm`/`docker` binaries: they forward argv, CWD and a few environment variables, and
//! print what the world answers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

use crate::tools::{Invocation, ToolOutput};
use crate::world::World;

pub const STATE_DIR_ENV: &str = "SIM_STATE_DIR";
pub const CONTROL_ADDR_FILE: &str = "control.addr";

pub async fn serve(world: Arc<World>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let world = world.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let world = world.clone();
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let out = match serde_json::from_slice::<Invocation>(&body) {
                                Ok(inv) => world.invoke(inv).await,
                                Err(e) => {
                                    ToolOutput::fail(format!("sim: bad invocation: {e}\n"), 2)
                                }
                            };
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from(serde_json::to_vec(&out).expect("json")),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Entry point of the `kind`/`helm`/`docker` personalities. Returns the process exit code.
pub async fn tool_main(tool: &str, args: Vec<String>) -> i32 {
    let Some(state) = std::env::var_os(STATE_DIR_ENV) else {
        eprintln!(
            "{tool}: this is the simulated {tool} of the `sim` crate; run it inside `sim run -- …` ({STATE_DIR_ENV} is not set)"
        );
        return 127;
    };
    let addr = match std::fs::read_to_string(std::path::Path::new(&state).join(CONTROL_ADDR_FILE)) {
        Ok(a) => a.trim().to_string(),
        Err(e) => {
            eprintln!("{tool}: cannot reach the simulated world: {e}");
            return 127;
        }
    };
    let mut env = BTreeMap::new();
    for k in ["KUBECONFIG", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.to_string(), v);
        }
    }
    let inv = Invocation {
        tool: tool.to_string(),
        args,
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        env,
    };
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(format!("http://{addr}/invoke"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(&inv).expect("json"),
        )))
        .expect("request");
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{tool}: cannot reach the simulated world at {addr}: {e}");
            return 127;
        }
    };
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let out: ToolOutput = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{tool}: bad answer from the simulated world: {e}");
            return 127;
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    let _ = std::io::stdout().flush();
    out.code
}
