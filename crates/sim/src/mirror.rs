//! `sim mirror DIR`: a download host on loopback serving the files under DIR over HTTP, with the
//! layout of the hosts it stands in for (`/dl/v0.25.0/kind-linux-amd64`,
//! `/helm-v3.16.3-linux-amd64.tar.gz`), so that fetching pinned tools is tested without a network.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves `dir` on 127.0.0.1 (a free port) until the process ends; returns where.
pub async fn serve(dir: PathBuf) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let dir = dir.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let dir = dir.clone();
                    async move { Ok::<_, Infallible>(answer(&dir, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The file at the request's path under `dir`, or 404 (also for any path leaving `dir`).
fn answer(dir: &Path, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let rel = Path::new(req.uri().path().trim_start_matches('/'));
    let inside = rel.components().all(|c| matches!(c, Component::Normal(_)));
    match std::fs::read(dir.join(rel)) {
        Ok(bytes) if inside && req.method() == http::Method::GET => Response::builder()
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(bytes)))
            .expect("response"),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"404 page not found\n")))
            .expect("response"),
    }
}
