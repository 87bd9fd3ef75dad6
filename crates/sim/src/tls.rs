//! TLS for the fake apiservers, as kind (kubeadm) sets it up: each cluster has its own CA
//! (`kubernetes`), generated at run time with `rcgen`, which signs the apiserver's serving
//! certificate (for `127.0.0.1`, `localhost` and the in-cluster names) and the admin's client
//! certificate (CN `kubernetes-admin`, O the admins' group) that the kubeconfig embeds as
//! `client-certificate-data`/`client-key-data`, next to the CA as `certificate-authority-data`.
//!
//! The apiserver asks for a client certificate without requiring one, and leaves its
//! verification to authentication, as kube-apiserver does (`tls.RequestClientCert`, then the x509
//! authenticator): a certificate another CA signed completes the handshake and gets 401. Keys are
//! ECDSA P-256 (kubeadm's default is RSA 2048; ring cannot generate RSA keys).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The subject of a verified client certificate: kube-apiserver's user (CN) and groups (O).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub common_name: String,
    pub organizations: Vec<String>,
}

/// One cluster's PKI: its CA, the apiserver's serving certificate, and a way to sign clients.
pub struct ClusterPki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    /// Verifies client certificates against the CA (used after the handshake, per request).
    client_verifier: Arc<dyn ClientCertVerifier>,
}

/// A certificate and its private key, both PEM.
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

fn validity(params: &mut rcgen::CertificateParams, years: i32) {
    let today = jiff::Zoned::now().date();
    // From yesterday: a client whose clock is a little behind still accepts it.
    let from = today.yesterday().unwrap_or(today);
    params.not_before =
        rcgen::date_time_ymd(i32::from(from.year()), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(
        i32::from(today.year()) + years,
        today.month() as u8,
        today.day().min(28) as u8,
    );
}

impl ClusterPki {
    /// A new CA and serving certificate (kubeadm's: CA valid 10 years, the others 1 year).
    pub fn new() -> ClusterPki {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kubernetes");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        validity(&mut ca_params, 10);
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let mut params = rcgen::CertificateParams::new(vec![
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, 1);
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("server certificate");

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("CA as root");
        let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .expect("client verifier");
        ClusterPki {
            server_cert: cert.der().clone(),
            server_key: key.serialize_der(),
            ca,
            client_verifier,
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA as a kubeconfig's `certificate-authority-data`.
    pub fn ca_data_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem())
    }

    /// A client certificate signed by the CA, subject `O = organization, CN = cn` (kubeadm's
    /// `kubeconfig` phase: key usage digital signature + key encipherment, client auth). One O
    /// only: rcgen keeps one value per attribute type (kubeadm's admin has one).
    pub fn client_cert(&self, cn: &str, organization: &str) -> CertAndKey {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, organization);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, 1);
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("client certificate");
        CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The apiserver's TLS: the serving certificate (chain with the CA) and a client-certificate
    /// request that accepts whatever is presented (see the module doc).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let certs = vec![self.server_cert.clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::try_from(self.server_key.clone()).expect("server key");
        let verifier = Arc::new(RequestClientCert(self.client_verifier.clone()));
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .expect("server config");
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    }

    /// kube-apiserver's x509 authenticator: the identity of a client certificate chain (leaf
    /// first) the CA signed, valid now and for client auth; None otherwise.
    pub fn authenticate(&self, chain: &[CertificateDer<'static>]) -> Option<CertIdentity> {
        let (leaf, intermediates) = chain.split_first()?;
        self.client_verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .ok()?;
        subject_identity(leaf)
    }
}

impl Default for ClusterPki {
    fn default() -> Self {
        ClusterPki::new()
    }
}

/// `tls.RequestClientCert`: offer client auth (naming the CA as acceptable), take any
/// certificate the client proves it holds the key of, and leave the chain to authentication.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// One DER TLV: (tag, contents, the rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = if first < 0x80 {
        (usize::from(first), b)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, &b[n..])
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// CN and O's of a certificate's subject (the attributes in their order).
pub fn subject_identity(cert: &[u8]) -> Option<CertIdentity> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    let (_, certificate, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(certificate)?;
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2; // version
    }
    // serial, signature algorithm, issuer, validity, then the subject.
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (_, mut rdns, _) = tlv(tbs)?;
    let mut id = CertIdentity {
        common_name: String::new(),
        organizations: vec![],
    };
    while !rdns.is_empty() {
        let (_, mut set, rest) = tlv(rdns)?;
        rdns = rest;
        while !set.is_empty() {
            let (_, atv, rest) = tlv(set)?;
            set = rest;
            let (_, oid, value) = tlv(atv)?;
            let (_, value, _) = tlv(value)?;
            let value = String::from_utf8_lossy(value).into_owned();
            if oid == CN {
                id.common_name = value;
            } else if oid == O {
                id.organizations.push(value);
            }
        }
    }
    Some(id)
}

/// A client trusting the given PEM CA bundle and, when given, presenting a client certificate
/// (for the fake helm).
pub fn connector(
    ca_pem: &[u8],
    client: Option<(&[u8], &[u8])>,
) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| format!("bad CA data: {e}"))?)
            .map_err(|e| format!("bad CA: {e}"))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some((cert_pem, key_pem)) => {
            let certs = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("unable to load client certificate: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| format!("unable to load client key: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("bad client certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_of_the_cluster_ca_only() {
        let a = ClusterPki::new();
        let b = ClusterPki::new();
        let admin = a.client_cert("kubernetes-admin", "kubeadm:cluster-admins");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(admin.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(
            a.authenticate(&chain),
            Some(CertIdentity {
                common_name: "kubernetes-admin".into(),
                organizations: vec!["kubeadm:cluster-admins".into()],
            })
        );
        assert_eq!(b.authenticate(&chain), None);
        assert_eq!(a.authenticate(&[]), None);
        // The serving certificate is not a client certificate.
        assert_eq!(a.authenticate(std::slice::from_ref(&a.server_cert)), None);
    }
}
