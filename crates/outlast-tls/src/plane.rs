//! The operator's side of the operator plane (`operator_addr`): an HTTPS client configuration
//! that presents an operator's certificate and accepts only a node of its own cluster, and the
//! SPKI pins a lab's browser can be told to trust.
//!
//! The plane's server certificate is the node's own (`node-<id>.<cluster>.outlast`), which names
//! no address: an operator dials a node by its address and checks that the other end is a node
//! of the cluster (a verified chain from the cluster's CA, valid for `nodes.<cluster>.outlast`),
//! whatever host the URL names.
//!
//! Must never: accept a server certificate on anything but webpki's verification of its chain
//! and of a name this module chose, never the URL's.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::config::{provider, TlsFiles};
use crate::names::Identity;

/// Verifies the server as any node of one cluster, ignoring the name the caller dialled.
struct AnyNodeOf {
    webpki: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl fmt::Debug for AnyNodeOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyNodeOf({:?})", self.name)
    }
}

impl ServerCertVerifier for AnyNodeOf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// An HTTPS client configuration for cluster `cluster`'s operator plane, as the operator whose
/// certificate and key `files` name (TLS 1.3, ring): it trusts only a node of that cluster.
pub fn operator_client_config(cluster: &str, files: &TlsFiles) -> io::Result<ClientConfig> {
    let material = files.load()?;
    let webpki = WebPkiServerVerifier::builder_with_provider(material.roots.clone(), provider())
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", files.ca.display())))?;
    let name = ServerName::try_from(Identity::AnyNode.name(cluster))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("cluster {cluster:?}: {e}")))?;
    let verifier = Arc::new(AnyNodeOf { webpki, name });
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(material.chain, material.key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", files.key.display())))
}

/// The SPKI pin of the key in `key_pem` (PEM): the base64 SHA-256 of its SubjectPublicKeyInfo,
/// as Chromium's `--ignore-certificate-errors-spki-list` takes it, for a lab's browser to trust
/// the certificates of that key without trusting the lab's CA for everything.
pub fn spki_pin(key_pem: &str) -> Result<String, String> {
    use base64::Engine;
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| format!("a key: {e}"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
    Ok(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
}
