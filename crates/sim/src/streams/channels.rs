//! Exec and port-forward over WebSocket in the channel dialects (what kube-rs speaks, and
//! kubectl for exec): each binary message starts with its channel byte. Exec:
//! `v5.channel.k8s.io` (servers >= 1.29) or `v4.channel.k8s.io`; channels 1 stdout, 2 stderr,
//! 3 status (a metav1.Status JSON). Port-forward: `v4.channel.k8s.io`; channel 2i carries data of
//! the i-th requested port and 2i+1 its errors; each channel first gets a frame with the port
//! number (u16, little endian).

use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};

use super::{ExecPlan, connection_refused, dashboard_connection, exit_status_json};
use crate::cluster::Cluster;
use crate::faults::Fault;
use crate::ray::{self, ProcOut};

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

pub async fn exec_session(
    cl: Arc<Cluster>,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    plan: ExecPlan,
) {
    let ExecPlan {
        pod,
        container,
        argv,
        want_out,
        want_err,
        ..
    } = plan;
    let (mut sink, mut stream) = ws.split();
    // Connection established: an empty frame on the lowest writable channel.
    if sink.send(frame(1, &[])).await.is_err() {
        return;
    }
    let mut rx = ray::run_command(cl.clone(), pod, container, argv.clone());
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(ProcOut::Stdout(b)) => { if want_out && sink.send(frame(1, &b)).await.is_err() { return; } }
                Some(ProcOut::Stderr(b)) => { if want_err && sink.send(frame(2, &b)).await.is_err() { return; } }
                Some(ProcOut::Exit(code)) => {
                    let st = serde_json::to_vec(&exit_status_json(code, &argv)).expect("json");
                    let _ = sink.send(frame(3, &st)).await;
                    // A normal closure (1000), as the apiserver's wsstream ends a stream: a close
                    // frame without a code reads as 1005 in gorilla/websocket, an error to kubectl.
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
                    let _ = sink.close().await;
                    return;
                }
                None => return,
            },
            msg = stream.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            },
            _ = cl.cancel.cancelled() => return,
        }
    }
}

pub async fn portforward_session(
    cl: Arc<Cluster>,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    ns: &str,
    name: &str,
    ports: Vec<u16>,
) {
    let (mut sink, mut stream) = ws.split();
    for (i, p) in ports.iter().enumerate() {
        let le = p.to_le_bytes();
        if sink.send(frame((2 * i) as u8, &le)).await.is_err()
            || sink.send(frame((2 * i + 1) as u8, &le)).await.is_err()
        {
            return;
        }
    }
    let drop_once = cl
        .faults()
        .once(Fault::PortForwardDroppedOnce, "port-forward");
    let head = cl.pod_server(ns, name);
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let mut writers: BTreeMap<usize, PortWriter> = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        match (&head, *p) {
            (Some(h), ray::DASHBOARD_PORT) => {
                let client = dashboard_connection(&cl, h, ns, name);
                writers.insert(i, pipe_port(client, (2 * i) as u8, out_tx.clone()));
            }
            _ => {
                let msg = connection_refused(*p);
                let _ = out_tx.send(frame((2 * i + 1) as u8, msg.as_bytes())).await;
            }
        }
    }
    drop(out_tx);
    let mut out_open = true;
    loop {
        tokio::select! {
            m = out_rx.recv(), if out_open => match m {
                Some(m) => { if sink.send(m).await.is_err() { return; } }
                None => out_open = false,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                    if drop_once {
                        // Fault: the connection dies after the client's first bytes.
                        cl.faults().hit(Fault::PortForwardDroppedOnce, &format!("dropped port-forward to {ns}/{name}"));
                        return;
                    }
                    let ch = b[0] as usize;
                    if ch.is_multiple_of(2)
                        && let Some(w) = writers.get_mut(&(ch / 2))
                            && b.len() > 1 && w.write_all(&b[1..]).await.is_err() {
                                writers.remove(&(ch / 2));
                            }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = sink.close().await;
                    return;
                }
                _ => {}
            },
            _ = cl.cancel.cancelled() => return,
        }
    }
}

type PortWriter = tokio::io::WriteHalf<tokio::io::DuplexStream>;

/// Copy what the port's connection answers into data frames on channel `ch`; the returned
/// writer takes what the client sends to the port.
fn pipe_port(client: tokio::io::DuplexStream, ch: u8, tx: mpsc::Sender<Message>) -> PortWriter {
    let (mut rd, wr) = tokio::io::split(client);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(frame(ch, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    wr
}
