//! TLS for the fake apiserver: a fixed CA and a server certificate for 127.0.0.1 (files in
//! `certs/`, generated once with openssl; valid until 2126). Real kind generates a CA per cluster
//! with kubeadm; here every cluster shares this CA (the kubeconfig embeds it as
//! `certificate-authority-data`, like kind's).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::rustls;

pub const CA_PEM: &str = include_str!("../certs/ca.crt");
const SERVER_CERT_PEM: &str = include_str!("../certs/apiserver.crt");
const SERVER_KEY_PEM: &str = include_str!("../certs/apiserver.key");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn acceptor() -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = vec![
        CertificateDer::from_pem_slice(SERVER_CERT_PEM.as_bytes()).expect("server cert"),
        CertificateDer::from_pem_slice(CA_PEM.as_bytes()).expect("ca cert"),
    ];
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes()).expect("server key");
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A client trusting the given PEM CA bundle (for the fake helm).
pub fn connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| format!("bad CA data: {e}"))?)
            .map_err(|e| format!("bad CA: {e}"))?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

pub fn ca_data_base64() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(CA_PEM)
}
