//! helm's Kubernetes client, reduced: a client certificate or bearer token over HTTPS with the kubeconfig's CA, JSON in
//! and out, and the `Warning` headers collected and printed the way client-go's default warning
//! handler (klog) prints them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::tools::args::kubeconfig_path;
use crate::tools::invocation::Invocation;
use crate::util;

pub const HELM_VERSION: &str = "v3.16.3";
pub const HELM_COMMIT: &str = "cfd07493f46efc9debd9cc1b02a0961186df7fdf";

/// The bytes of a kubeconfig field `FIELD-data` (base64) or `FIELD` (a file), as client-go reads
/// a CA, client certificate or key.
fn kubeconfig_bytes(entry: &Value, field: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    if let Some(d) = entry[format!("{field}-data")].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(d)
            .map(Some)
            .map_err(|e| {
                format!("Kubernetes cluster unreachable: illegal base64 data in {field}-data: {e}")
            });
    }
    match entry[field].as_str() {
        Some(path) => std::fs::read(path).map(Some).map_err(|e| {
            format!("Kubernetes cluster unreachable: unable to read {field} {path}: {e}")
        }),
        None => Ok(None),
    }
}

/// A tiny client-go: a client certificate or bearer token over HTTPS (CA from the kubeconfig), collecting `Warning` headers.
pub struct Kube {
    base: String,
    token: String,
    tls: Option<tokio_rustls::TlsConnector>,
    /// `Warning` headers seen so far (the text, unquoted).
    pub warnings: Vec<String>,
}

impl Kube {
    pub fn from_kubeconfig(
        inv: &Invocation,
        explicit: Option<&str>,
        context: Option<&str>,
    ) -> Result<Kube, String> {
        let path = kubeconfig_path(inv, explicit);
        let text = std::fs::read_to_string(&path).map_err(|_| "Kubernetes cluster unreachable: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable".to_string())?;
        let cfg: Value = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "Kubernetes cluster unreachable: error loading config file \"{}\": {e}",
                path.display()
            )
        })?;
        let ctx_name = context
            .map(String::from)
            .or_else(|| cfg["current-context"].as_str().map(String::from))
            .unwrap_or_default();
        let ctx = cfg["contexts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == ctx_name.as_str())
            .ok_or_else(|| {
                format!("Kubernetes cluster unreachable: context \"{ctx_name}\" does not exist")
            })?;
        let cl_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
        let cluster = cfg["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == cl_name)
            .map(|c| c["cluster"].clone())
            .unwrap_or_default();
        let server = cluster["server"].as_str().unwrap_or_default().to_string();
        let user = cfg["users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| u["name"] == user_name)
            .map(|u| u["user"].clone())
            .unwrap_or_default();
        let tls = if server.starts_with("https://") {
            let ca = kubeconfig_bytes(&cluster, "certificate-authority")?
                .ok_or_else(|| "Kubernetes cluster unreachable: no certificate-authority-data in the kubeconfig".to_string())?;
            let cert = kubeconfig_bytes(&user, "client-certificate")?;
            let key = kubeconfig_bytes(&user, "client-key")?;
            let client = match (&cert, &key) {
                (Some(c), Some(k)) => Some((c.as_slice(), k.as_slice())),
                (None, None) => None,
                _ => {
                    return Err("Kubernetes cluster unreachable: invalid configuration: client-cert-data and client-key-data must both be specified".into());
                }
            };
            Some(crate::tls::connector(&ca, client)?)
        } else {
            None
        };
        let token = user["token"].as_str().unwrap_or_default().to_string();
        Ok(Kube {
            base: server.trim_end_matches('/').to_string(),
            token,
            tls,
            warnings: vec![],
        })
    }

    pub async fn req(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let uri = format!("{}{path}", self.base);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(
                http::header::HOST,
                self.base
                    .trim_start_matches("https://")
                    .trim_start_matches("http://"),
            )
            .header(
                http::header::USER_AGENT,
                format!("Helm/{}", HELM_VERSION.trim_start_matches('v')),
            )
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(
                body.map(|b| Bytes::from(serde_json::to_vec(b).expect("json")))
                    .unwrap_or_default(),
            ))
            .map_err(|e| e.to_string())?;
        let mut req = req;
        if !self.token.is_empty() {
            req.headers_mut().insert(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token)
                    .parse()
                    .map_err(|_| "bad token".to_string())?,
            );
        }
        let host = self
            .base
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string();
        let unreachable = |e: String| {
            format!(
                "Kubernetes cluster unreachable: Get \"{uri}\": dial tcp {host}: connect: connection refused ({e})"
            )
        };
        let tcp = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = match &self.tls {
            Some(tls) => {
                let ip = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host);
                let name = rustls_pki_types::ServerName::try_from(ip.to_string())
                    .map_err(|e| unreachable(e.to_string()))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| {
                    format!("Kubernetes cluster unreachable: Get \"{uri}\": tls: {e}")
                })?;
                send(TokioIo::new(stream), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
        .map_err(unreachable)?;
        for w in resp.headers().get_all("warning") {
            if let Ok(s) = w.to_str() {
                self.warnings.push(parse_warning(s));
            }
        }
        let code = resp.status().as_u16();
        let b = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((code, serde_json::from_slice(&b).unwrap_or(Value::Null)))
    }
}

async fn send<I>(
    io: I,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// `299 - "text"` -> text (unquoting Go-quoted strings).
pub fn parse_warning(h: &str) -> String {
    let rest = h.splitn(3, ' ').nth(2).unwrap_or(h).trim();
    if let Some(q) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        rest.to_string()
    }
}

/// client-go's default warning handler output (klog).
pub fn klog_warning(w: &str) -> String {
    format!(
        "W{} {:>7} warnings.go:70] {w}\n",
        util::klog_time(),
        std::process::id()
    )
}

/// The collection path of object `v`, in its own namespace or else `ns`.
pub fn api_path(v: &Value, ns: &str) -> String {
    let ns = v["metadata"]["namespace"].as_str().unwrap_or(ns);
    let av = v["apiVersion"].as_str().unwrap_or("v1");
    let kind = v["kind"].as_str().unwrap_or_default();
    let plural = match kind {
        "ServiceAccount" => "serviceaccounts",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Role" => "roles",
        "RoleBinding" => "rolebindings",
        "Service" => "services",
        "Deployment" => "deployments",
        "CustomResourceDefinition" => "customresourcedefinitions",
        "Secret" => "secrets",
        _ => "unknown",
    };
    let prefix = if av.contains('/') {
        format!("/apis/{av}")
    } else {
        format!("/api/{av}")
    };
    let namespaced = !matches!(
        kind,
        "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "Namespace"
    );
    if namespaced {
        format!("{prefix}/namespaces/{ns}/{plural}")
    } else {
        format!("{prefix}/{plural}")
    }
}
