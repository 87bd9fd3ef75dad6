//! Exec and port-forward over SPDY/3.1, as the kubelet serves them (its `streaming` server:
//! `remotecommand` and `portforward/httpstream.go`). The client opens one SPDY stream per
//! purpose and names it in the stream's headers; the kubelet answers each with a SYN_REPLY.
//!
//! * **exec** (`v4.channel.k8s.io`): streams `streamType: error | stdout | stderr` (and `stdin`,
//!   `resize` when asked for); once all the request's streams are open the command runs, its
//!   output goes to `stdout`/`stderr`, and at its end a metav1.Status JSON (Success, or
//!   NonZeroExitCode with an `ExitCode` cause) goes to `error`; then the connection goes away.
//! * **port-forward** (`portforward.k8s.io`): per forwarded connection, a stream pair with
//!   `streamType: error | data`, `port: N` and one `requestID`. When both are open the kubelet
//!   connects to the port; bytes flow on `data`; a failure is written as text on `error`. When
//!   the port's side ends, both streams are finished.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};

use super::spdy::{self, Conn, Event, Headers, Writer};
use super::{ExecPlan, connection_refused, dashboard_connection, exit_status_json};
use crate::cluster::Cluster;
use crate::faults::Fault;
use crate::ray::{self, ProcOut};

/// The kubelet's `streamCreationTimeout`: how long it waits for a request's streams.
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn exec(cl: Arc<Cluster>, mut conn: Conn, plan: ExecPlan) {
    let w = conn.writer();
    let mut expected: BTreeSet<&str> = BTreeSet::from(["error"]);
    if plan.want_out {
        expected.insert("stdout");
    }
    if plan.want_err {
        expected.insert("stderr");
    }
    if plan.want_in {
        expected.insert("stdin");
    }
    if plan.tty {
        expected.insert("resize");
    }
    let mut streams: BTreeMap<String, u32> = BTreeMap::new();
    let mut last_opened = 0;
    let opened = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        while !expected.iter().all(|t| streams.contains_key(*t)) {
            match conn.next_event().await {
                Ok(Some(Event::Open { id, headers, .. })) => {
                    let kind = spdy::header(&headers, "streamType").unwrap_or_default();
                    if !expected.contains(kind) {
                        w.reset(id).await;
                        continue;
                    }
                    w.reply(id).await;
                    last_opened = id;
                    streams.insert(kind.to_string(), id);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return false,
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if !opened {
        conn.close().await;
        return;
    }
    let ExecPlan {
        pod,
        container,
        argv,
        ..
    } = plan;
    let mut rx = ray::run_command(cl.clone(), pod, container, argv.clone());
    let out = streams.get("stdout").copied();
    let err = streams.get("stderr").copied();
    let status = streams["error"];
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(ProcOut::Stdout(b)) => { if let Some(id) = out { w.data(id, &b).await; } }
                Some(ProcOut::Stderr(b)) => { if let Some(id) = err { w.data(id, &b).await; } }
                Some(ProcOut::Exit(code)) => {
                    let st = serde_json::to_vec(&exit_status_json(code, &argv)).expect("json");
                    w.data(status, &st).await;
                    for id in streams.values() {
                        w.finish(*id).await;
                    }
                    break;
                }
                None => break,
            },
            ev = conn.next_event() => match ev {
                // stdin, resize: read and dropped (no process reads them here).
                Ok(Some(Event::Data { .. } | Event::Open { .. } | Event::Reset { .. })) => {}
                Ok(Some(Event::GoAway)) | Ok(None) | Err(_) => break,
            },
            _ = cl.cancel.cancelled() => break,
        }
    }
    w.go_away(last_opened).await;
    drop(w);
    conn.close().await;
}

/// One forwarded connection: its two streams, as they open.
#[derive(Default)]
struct Pair {
    port: u16,
    error: Option<u32>,
    data: Option<u32>,
}

/// The kubelet's check of a new port-forward stream (`httpStreamReceived`).
fn check_stream(headers: &Headers) -> Result<(&str, u16, &str), String> {
    let Some(port) = spdy::header(headers, "port") else {
        return Err("\"port\" header is required".into());
    };
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse \"{port}\" as a port: {e}"))?;
    let kind = spdy::header(headers, "streamType").unwrap_or_default();
    if kind != "error" && kind != "data" {
        return Err(format!("invalid stream type \"{kind}\""));
    }
    Ok((
        kind,
        port,
        spdy::header(headers, "requestID").unwrap_or_default(),
    ))
}

pub async fn portforward(cl: Arc<Cluster>, mut conn: Conn, ns: String, name: String) {
    let w = conn.writer();
    let drop_once = cl
        .faults()
        .once(Fault::PortForwardDroppedOnce, "port-forward");
    let head = cl.pod_server(&ns, &name);
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    // What the client sends on a data stream goes to the port's connection.
    let mut to_port: BTreeMap<u32, WriteHalf<tokio::io::DuplexStream>> = BTreeMap::new();
    loop {
        let ev = tokio::select! {
            ev = conn.next_event() => ev,
            _ = cl.cancel.cancelled() => break,
        };
        match ev {
            Ok(Some(Event::Open { id, headers, .. })) => {
                let (kind, port, request) = match check_stream(&headers) {
                    Ok(x) => x,
                    Err(_) => {
                        w.reset(id).await;
                        continue;
                    }
                };
                w.reply(id).await;
                let pair = pairs.entry(request.to_string()).or_default();
                pair.port = port;
                if kind == "error" {
                    pair.error = Some(id);
                } else {
                    pair.data = Some(id);
                }
                let (Some(error), Some(data)) = (pair.error, pair.data) else {
                    continue;
                };
                pairs.remove(request);
                match (&head, port) {
                    (Some(h), ray::DASHBOARD_PORT) => {
                        let client = dashboard_connection(&cl, h, &ns, &name);
                        let (rd, wr) = tokio::io::split(client);
                        to_port.insert(data, wr);
                        tokio::spawn(from_port(rd, w.clone(), data, error));
                    }
                    _ => {
                        w.data(error, connection_refused(port).as_bytes()).await;
                        w.finish(error).await;
                        w.finish(data).await;
                    }
                }
            }
            Ok(Some(Event::Data { id, data, fin })) => {
                if drop_once && !data.is_empty() && to_port.contains_key(&id) {
                    // Fault: the connection dies after the client's first bytes.
                    cl.faults().hit(
                        Fault::PortForwardDroppedOnce,
                        &format!("dropped port-forward to {ns}/{name}"),
                    );
                    for (_, mut port) in to_port {
                        let _ = port.shutdown().await;
                    }
                    conn.abort();
                    return;
                }
                if let Some(port) = to_port.get_mut(&id) {
                    if !data.is_empty() && port.write_all(&data).await.is_err() {
                        to_port.remove(&id);
                    } else if fin {
                        let _ = port.shutdown().await;
                        to_port.remove(&id);
                    }
                }
            }
            Ok(Some(Event::Reset { id })) => {
                to_port.remove(&id);
            }
            Ok(Some(Event::GoAway)) | Ok(None) | Err(_) => break,
        }
    }
    // The ports' connections see their end; each `from_port` then finishes its streams (or
    // finds the connection gone) and drops its writer, which ends the transport.
    for (_, mut port) in to_port {
        let _ = port.shutdown().await;
    }
}

/// What the port answers goes out on the data stream; when it ends, both streams finish.
async fn from_port(
    mut rd: tokio::io::ReadHalf<tokio::io::DuplexStream>,
    w: Writer,
    data: u32,
    error: u32,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !w.data(data, &buf[..n]).await {
                    return;
                }
            }
        }
    }
    w.finish(data).await;
    w.finish(error).await;
}
