//! `pods/exec` and `pods/portforward` over WebSocket, as kube-rs (and kubectl) speak them:
//! channel-prefixed binary frames. Exec: subprotocol `v5.channel.k8s.io` (servers >= 1.29) or
//! `v4.channel.k8s.io`; channels 1 stdout, 2 stderr, 3 status (a metav1.Status JSON: Success, or
//! Failure/NonZeroExitCode with an `ExitCode` cause). Port-forward: `v4.channel.k8s.io`; channel
//! 2i carries data of the i-th requested port and 2i+1 its errors; each channel first gets a
//! frame with the port number (u16, little endian).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{Message, protocol::Role};

use crate::apiserver::audit_ctx::AuditCtx;
use crate::apiserver::request::{ReqInfo, parse_resource_path};
use crate::apiserver::response::{Body, full, json_response};
use crate::cluster::{Caller, Cluster};
use crate::faults::Fault;
use crate::ray::{self, ProcOut};
use crate::store::Key;
use crate::util::{self, Status};

fn container_running(pod: &Value, name: &str) -> bool {
    pod.pointer("/status/containerStatuses")
        .and_then(|c| c.as_array())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["name"] == name && c.pointer("/state/running").is_some())
        })
}

pub async fn handle_upgrade(
    cl: Arc<Cluster>,
    caller: Caller,
    req: http::Request<Incoming>,
) -> Response<Body> {
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let Some(info) = parse_resource_path(req.method(), &uri) else {
        return json_response(400, &Status::bad_request(ONLY_EXEC).to_value(), &[], "");
    };
    let mut ax = AuditCtx::new(&cl, &caller, &uri, Some(&info), "");
    // A WebSocket upgrade is a GET, authorized as `get`; from 1.35
    // (AuthorizePodWebsocketUpgradeCreatePermission) also as `create`.
    let mut verbs = vec![info.verb.as_str()];
    if cl.version.minor >= 35 {
        verbs.push("create");
    }
    if let Some(st) = verbs
        .into_iter()
        .find_map(|v| crate::apiserver::authorize::authorize(&caller, &info, v))
    {
        ax.forbidden = true;
        return ax.answer(&cl, 403, &st.to_value(), true);
    }
    let (handshake, session) = match plan_upgrade(&cl, &req, &info) {
        Ok(x) => x,
        Err(st) => return ax.answer(&cl, st.code, &st.to_value(), true),
    };
    ax.emit_code(&cl, "ResponseStarted", 101);
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        match session {
            Session::Exec(e) => exec_session(cl.clone(), ws, e).await,
            Session::PortForward { ports } => {
                portforward_session(cl.clone(), ws, &info.namespace, &info.name, ports).await
            }
        }
        ax.emit_code(&cl, "ResponseComplete", 101);
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::SEC_WEBSOCKET_ACCEPT, handshake.accept)
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, handshake.protocol)
        .body(full(Bytes::new()))
        .expect("101 response")
}

const ONLY_EXEC: &str = "websocket upgrade is only supported for pods/exec and pods/portforward";

/// The WebSocket handshake answer: `Sec-WebSocket-Accept` and the chosen subprotocol.
struct Handshake {
    accept: String,
    protocol: &'static str,
}

/// What runs over the upgraded connection.
enum Session {
    Exec(ExecPlan),
    PortForward { ports: Vec<u16> },
}

struct ExecPlan {
    pod: Value,
    container: Value,
    argv: Vec<String>,
    want_out: bool,
    want_err: bool,
}

/// Check the request as the apiserver and kubelet would (target, handshake headers,
/// subprotocol, running pod and container, parameters) before switching protocols.
fn plan_upgrade(
    cl: &Cluster,
    req: &http::Request<Incoming>,
    info: &ReqInfo,
) -> Result<(Handshake, Session), Status> {
    if !(info.group.is_empty()
        && info.resource == "pods"
        && (info.subresource == "exec" || info.subresource == "portforward"))
    {
        return Err(Status::bad_request(ONLY_EXEC));
    }
    let Some(pod) = cl.store.get(&Key::new("pods", &info.namespace, &info.name)) else {
        return Err(Status::not_found("pods", "", &info.name));
    };
    let offered: Vec<String> = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|h| h.to_str().ok())
        .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    let Some(key) = req.headers().get(http::header::SEC_WEBSOCKET_KEY) else {
        return Err(Status::bad_request("missing Sec-WebSocket-Key"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let is_exec = info.subresource == "exec";
    let protocol =
        if is_exec && offered.iter().any(|p| p == "v5.channel.k8s.io") && cl.version.minor >= 29 {
            "v5.channel.k8s.io"
        } else {
            "v4.channel.k8s.io"
        };
    if !offered.is_empty() && !offered.iter().any(|p| p == protocol) {
        return Err(Status::bad_request(format!(
            "unable to upgrade connection: none of the offered subprotocols {offered:?} is supported"
        )));
    }
    let session = if is_exec {
        Session::Exec(plan_exec(info, pod)?)
    } else {
        plan_portforward(info, &pod)?
    };
    Ok((Handshake { accept, protocol }, session))
}

/// `?container=` (default: the first), which must be running; `?command=` (at least one).
fn plan_exec(info: &ReqInfo, pod: Value) -> Result<ExecPlan, Status> {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let cname = info.q("container").map(String::from).unwrap_or_else(|| {
        containers
            .first()
            .and_then(|c| c["name"].as_str())
            .unwrap_or_default()
            .to_string()
    });
    let Some(container) = containers.into_iter().find(|c| c["name"] == cname.as_str()) else {
        return Err(Status::bad_request(format!(
            "container {cname} is not valid for pod {}",
            info.name
        )));
    };
    let phase = util::get_str(&pod, &["status", "phase"]).unwrap_or_default();
    if phase != "Running" || !container_running(&pod, &cname) {
        return Err(Status::bad_request(format!(
            "unable to upgrade connection: container not found (\"{cname}\")"
        )));
    }
    let argv = info.q_all("command");
    if argv.is_empty() {
        return Err(Status::bad_request("you must specify at least 1 command"));
    }
    let flag = |k: &str| info.q(k).is_some_and(|v| v == "true" || v == "1");
    Ok(ExecPlan {
        want_out: flag("stdout"),
        want_err: flag("stderr"),
        pod,
        container,
        argv,
    })
}

/// A running pod and at least one port (`?ports=8265` or `?ports=a,b`).
fn plan_portforward(info: &ReqInfo, pod: &Value) -> Result<Session, Status> {
    let phase = util::get_str(pod, &["status", "phase"]).unwrap_or_default();
    if phase != "Running" {
        return Err(Status::bad_request(format!(
            "unable to upgrade connection: pod not running: {phase}"
        )));
    }
    let ports: Vec<u16> = info
        .q_all("ports")
        .iter()
        .flat_map(|p| {
            p.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<u16>>()
        })
        .collect();
    if ports.is_empty() {
        return Err(Status::bad_request("query parameter \"port\" is required"));
    }
    Ok(Session::PortForward { ports })
}

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// The status written on channel 3 when the process ends (kubelet's remotecommand writeStatus).
pub fn exit_status_json(code: i32, argv: &[String]) -> serde_json::Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        })
    }
}

async fn exec_session(
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

async fn portforward_session(
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

/// An in-memory connection to the Ray head's dashboard (or, with the fault, to a server that
/// reads and never answers).
fn dashboard_connection(
    cl: &Cluster,
    head: &crate::cluster::PodServer,
    ns: &str,
    name: &str,
) -> tokio::io::DuplexStream {
    let (client, server) = tokio::io::duplex(64 * 1024);
    if cl.faults().has(Fault::DashboardNeverAnswers) {
        cl.faults().hit(
            Fault::DashboardNeverAnswers,
            &format!("dashboard of {ns}/{name} silent"),
        );
        tokio::spawn(async move {
            let mut server = server;
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = server.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
    } else {
        tokio::spawn(ray::serve_dashboard(head.clone(), server));
    }
    client
}

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

/// The kubelet's error for a port nothing listens on (sent on the port's error channel).
fn connection_refused(p: u16) -> String {
    format!(
        "error forwarding port {p} to pod {}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{}\": failed to connect to localhost:{p} inside namespace \"{}\", IPv4: dial tcp4 127.0.0.1:{p}: connect: connection refused IPv6 dial tcp6 [::1]:{p}: connect: connection refused ",
        util::new_uid().replace('-', ""),
        util::new_uid(),
        util::new_uid().replace('-', "")
    )
}
