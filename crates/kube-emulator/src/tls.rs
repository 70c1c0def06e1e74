//! Optional TLS: a certificate authority and a server certificate made up
//! at start, so clients can verify the server the way they verify a real
//! cluster's.
//!
//! It exists because kubectl (client-go) sends a kubeconfig user's bearer
//! token only over TLS: without it, tests of namespace-limited identities
//! cannot use the real kubectl. The certificate names `127.0.0.1`, `::1`
//! and `localhost` (the emulator listens on loopback only); the CA is
//! handed to clients in the kubeconfig's `certificate-authority-data`.
//! Both keys live in memory only and die with the server.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// The names the server certificate is valid for.
const SERVER_NAMES: &[&str] = &["127.0.0.1", "::1", "localhost"];

/// A freshly made CA and the server's TLS settings.
pub struct Tls {
    /// The CA certificate, PEM-encoded (what clients must trust).
    pub ca_pem: String,
    /// The server side of the handshake.
    pub config: Arc<ServerConfig>,
}

/// Makes a CA, a server certificate signed by it, and a rustls server
/// configuration (ring provider, HTTP/1.1 offered by ALPN) presenting it.
pub fn generate() -> Result<Tls, Error> {
    let cert_err = |source| Error::Certificate { source };
    // Valid from the start of last year for ten years, like a cluster CA
    // (rcgen's default runs from 1975 to 4096).
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let (not_before, not_after) = (
        rcgen::date_time_ymd(year - 1, 1, 1),
        rcgen::date_time_ymd(year + 9, 1, 1),
    );
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    (ca.not_before, ca.not_after) = (not_before, not_after);
    ca.distinguished_name
        .push(DnType::CommonName, "kube-emulator CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(cert_err)?;
    let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
    let mut server = CertificateParams::new(names).map_err(cert_err)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "kube-emulator");
    (server.not_before, server.not_after) = (not_before, not_after);
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&key, &issuer).map_err(cert_err)?;

    let chain = vec![
        CertificateDer::from(server_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let tls_err = |source| Error::Tls { source };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(tls_err)?;
    // The server speaks HTTP/1.1 only; saying so stops clients from
    // trying HTTP/2 over the connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_ca_per_server() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(a.ca_pem, b.ca_pem, "keys are not reused between servers");
        assert_eq!(a.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
