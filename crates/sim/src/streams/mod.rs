//! `pods/exec` and `pods/portforward`: the request that switches protocols, checked as the
//! apiserver and kubelet check it, then the session over the protocol negotiated.
//!
//! | request | negotiated | session |
//! |---|---|---|
//! | WebSocket, `v5.channel.k8s.io` (≥ 1.29) or `v4.channel.k8s.io` | channel dialect | [`channels`] |
//! | WebSocket, `SPDY/3.1+portforward.k8s.io` (port-forward, ≥ 1.31: PortForwardWebsockets) | SPDY tunnelled in WebSocket | [`over_spdy`] |
//! | `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: v4.channel.k8s.io` or `portforward.k8s.io` | SPDY/3.1 | [`over_spdy`] |
//!
//! kube-rs speaks the channel dialect for both; kubectl ≥ 1.31 exec over WebSocket v5 and
//! port-forward through the SPDY tunnel, falling back to plain SPDY when the server refuses.

mod channels;
mod over_spdy;
pub mod spdy;

use bytes::Bytes;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::apiserver::audit_ctx::AuditCtx;
use crate::apiserver::request::{ReqInfo, parse_resource_path};
use crate::apiserver::response::{Body, full, json_response};
use crate::cluster::{Caller, Cluster};
use crate::faults::Fault;
use crate::ray;
use crate::store::Key;
use crate::util::{self, Status};

/// `SPDY/3.1`, the `Upgrade` token of a SPDY request and of its 101.
const SPDY_31: &str = "SPDY/3.1";
/// The WebSocket subprotocol that tunnels port-forward's SPDY (client-go
/// `WebsocketsSPDYTunnelingPrefix` + `portforward.k8s.io`).
const SPDY_TUNNEL_PORTFORWARD: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY sub-protocols the kubelet negotiates here (`X-Stream-Protocol-Version`).
const SPDY_EXEC_PROTOCOLS: &[&str] = &["v4.channel.k8s.io"];
const SPDY_PORTFORWARD_PROTOCOLS: &[&str] = &["portforward.k8s.io"];

/// Whether a request asks to switch protocols (`Upgrade: websocket` or `SPDY/3.1`).
pub fn is_upgrade(headers: &http::HeaderMap) -> bool {
    upgrades_to(headers, "websocket") || upgrades_to(headers, SPDY_31)
}

/// Whether the request's `Upgrade` header names `protocol`.
fn upgrades_to(headers: &http::HeaderMap, protocol: &str) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case(protocol))
}

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
    // (AuthorizePodWebsocketUpgradeCreatePermission) also as `create`. SPDY's POST is `create`.
    let mut verbs = vec![info.verb.as_str()];
    if cl.version.minor >= 35 && info.verb.as_str() != "create" {
        verbs.push("create");
    }
    if let Some(st) = verbs
        .into_iter()
        .find_map(|v| crate::apiserver::authorize::authorize(&caller, &info, v))
    {
        ax.forbidden = true;
        return ax.answer(&cl, 403, &st.to_value(), true);
    }
    let (switch, session) = match plan_upgrade(&cl, &req, &info) {
        Ok(x) => x,
        Err(st) => return ax.answer(&cl, st.code, &st.to_value(), true),
    };
    ax.emit_code(&cl, "ResponseStarted", 101);
    let response = switch.response();
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        let (ns, name) = (info.namespace.clone(), info.name.clone());
        match (switch, session) {
            (Switch::WebSocket { .. }, Session::Exec(e)) => {
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                channels::exec_session(cl.clone(), ws, e).await
            }
            (Switch::WebSocket { .. }, Session::PortForward { ports }) => {
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                channels::portforward_session(cl.clone(), ws, &ns, &name, ports).await
            }
            (Switch::SpdyTunnel { .. }, _) => {
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                let conn = spdy::Conn::over_websocket(ws);
                over_spdy::portforward(cl.clone(), conn, ns, name).await
            }
            (Switch::Spdy { .. }, Session::Exec(e)) => {
                over_spdy::exec(cl.clone(), spdy::Conn::over_io(io), e).await
            }
            (Switch::Spdy { .. }, Session::PortForward { .. }) => {
                over_spdy::portforward(cl.clone(), spdy::Conn::over_io(io), ns, name).await
            }
        }
        ax.emit_code(&cl, "ResponseComplete", 101);
    });
    response
}

const ONLY_EXEC: &str = "websocket upgrade is only supported for pods/exec and pods/portforward";

/// The protocol switched to, and what the 101 says of it.
enum Switch {
    /// WebSocket in a channel dialect: `Sec-WebSocket-Accept` and the chosen subprotocol.
    WebSocket {
        accept: String,
        protocol: &'static str,
    },
    /// WebSocket carrying SPDY (`SPDY/3.1+portforward.k8s.io`).
    SpdyTunnel { accept: String },
    /// SPDY/3.1 on the connection itself, with the negotiated `X-Stream-Protocol-Version`.
    Spdy { protocol: Option<&'static str> },
}

impl Switch {
    fn response(&self) -> Response<Body> {
        let b = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(http::header::CONNECTION, "Upgrade");
        let b = match self {
            Switch::WebSocket { accept, protocol } => b
                .header(http::header::UPGRADE, "websocket")
                .header(http::header::SEC_WEBSOCKET_ACCEPT, accept)
                .header(http::header::SEC_WEBSOCKET_PROTOCOL, *protocol),
            Switch::SpdyTunnel { accept } => b
                .header(http::header::UPGRADE, "websocket")
                .header(http::header::SEC_WEBSOCKET_ACCEPT, accept)
                .header(
                    http::header::SEC_WEBSOCKET_PROTOCOL,
                    SPDY_TUNNEL_PORTFORWARD,
                ),
            Switch::Spdy { protocol } => {
                let b = b.header(http::header::UPGRADE, SPDY_31);
                match protocol {
                    Some(p) => b.header("X-Stream-Protocol-Version", *p),
                    None => b,
                }
            }
        };
        b.body(full(Bytes::new())).expect("101 response")
    }
}

/// What runs over the upgraded connection.
enum Session {
    Exec(ExecPlan),
    /// The ports asked for in the query (the channel dialect needs them; SPDY names each
    /// stream's port in its headers).
    PortForward {
        ports: Vec<u16>,
    },
}

struct ExecPlan {
    pod: Value,
    container: Value,
    argv: Vec<String>,
    want_out: bool,
    want_err: bool,
    want_in: bool,
    tty: bool,
}

/// Check the request as the apiserver and kubelet would (target, handshake headers,
/// protocol, running pod and container, parameters) before switching protocols.
fn plan_upgrade(
    cl: &Cluster,
    req: &http::Request<Incoming>,
    info: &ReqInfo,
) -> Result<(Switch, Session), Status> {
    if !(info.group.is_empty()
        && info.resource == "pods"
        && (info.subresource == "exec" || info.subresource == "portforward"))
    {
        return Err(Status::bad_request(ONLY_EXEC));
    }
    let Some(pod) = cl.store.get(&Key::new("pods", &info.namespace, &info.name)) else {
        return Err(Status::not_found("pods", "", &info.name));
    };
    let is_exec = info.subresource == "exec";
    let switch = if upgrades_to(req.headers(), "websocket") {
        negotiate_websocket(cl, req, is_exec)?
    } else {
        negotiate_spdy(req, is_exec)?
    };
    let session = if is_exec {
        Session::Exec(plan_exec(info, pod)?)
    } else {
        let ports = plan_portforward(info, &pod)?;
        if ports.is_empty() && matches!(switch, Switch::WebSocket { .. }) {
            return Err(Status::bad_request("query parameter \"port\" is required"));
        }
        Session::PortForward { ports }
    };
    Ok((switch, session))
}

/// The offered values of a header that may repeat or list several, comma-separated.
fn offered(req: &http::Request<Incoming>, name: &str) -> Vec<String> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|s| s.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn negotiate_websocket(
    cl: &Cluster,
    req: &http::Request<Incoming>,
    is_exec: bool,
) -> Result<Switch, Status> {
    let offered = offered(req, "Sec-WebSocket-Protocol");
    let Some(key) = req.headers().get(http::header::SEC_WEBSOCKET_KEY) else {
        return Err(Status::bad_request("missing Sec-WebSocket-Key"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // The apiserver's tunnelling handler (PortForwardWebsockets: beta, on, from 1.31).
    if !is_exec && cl.version.minor >= 31 && offered.iter().any(|p| p == SPDY_TUNNEL_PORTFORWARD) {
        return Ok(Switch::SpdyTunnel { accept });
    }
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
    Ok(Switch::WebSocket { accept, protocol })
}

/// The kubelet's `httpstream.Handshake`: the first protocol the client offers that it serves;
/// none offered is the legacy protocol (served for port-forward only here).
fn negotiate_spdy(req: &http::Request<Incoming>, is_exec: bool) -> Result<Switch, Status> {
    let offered = offered(req, "X-Stream-Protocol-Version");
    let serves = if is_exec {
        SPDY_EXEC_PROTOCOLS
    } else {
        SPDY_PORTFORWARD_PROTOCOLS
    };
    if offered.is_empty() && !is_exec {
        return Ok(Switch::Spdy { protocol: None });
    }
    match offered
        .iter()
        .find_map(|o| serves.iter().find(|s| **s == o.as_str()))
    {
        Some(p) => Ok(Switch::Spdy { protocol: Some(*p) }),
        None => Err(Status::failure(
            403,
            "Forbidden",
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{}]",
                offered.join(" "),
                serves.join(" ")
            ),
            None,
        )),
    }
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
        want_in: flag("stdin"),
        tty: flag("tty"),
        pod,
        container,
        argv,
    })
}

/// A running pod, and the ports asked for in the query (`?ports=8265` or `?ports=a,b`).
fn plan_portforward(info: &ReqInfo, pod: &Value) -> Result<Vec<u16>, Status> {
    let phase = util::get_str(pod, &["status", "phase"]).unwrap_or_default();
    if phase != "Running" {
        return Err(Status::bad_request(format!(
            "unable to upgrade connection: pod not running: {phase}"
        )));
    }
    Ok(info
        .q_all("ports")
        .iter()
        .flat_map(|p| {
            p.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<u16>>()
        })
        .collect())
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

/// The kubelet's error for a port nothing listens on (sent on the port's error channel).
fn connection_refused(p: u16) -> String {
    format!(
        "error forwarding port {p} to pod {}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{}\": failed to connect to localhost:{p} inside namespace \"{}\", IPv4: dial tcp4 127.0.0.1:{p}: connect: connection refused IPv6 dial tcp6 [::1]:{p}: connect: connection refused ",
        util::new_uid().replace('-', ""),
        util::new_uid(),
        util::new_uid().replace('-', "")
    )
}
