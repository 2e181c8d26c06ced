//! HTTPS for users: the public API, the page and the dapp endpoint over TLS with a server
//! certificate for the node's public name (a public CA's in production; one `outlast cert
//! server` issued from the cluster's CA in a lab, which the lab's clients trust).
//!
//! No client certificates here (users authenticate with API keys), TLS 1.2 and 1.3 (trading
//! bots and libraries still speak 1.2), HTTP/1.1 by ALPN.
//!
//! Must never: hold a connection whose handshake has not finished within `HANDSHAKE_TIMEOUT`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{server, TlsAcceptor};

use crate::config::HANDSHAKE_TIMEOUT;
use crate::live::Live;

/// Accepts users' TLS connections.
#[derive(Clone)]
pub struct PublicAcceptor {
    /// Reloaded when its files change (`live`).
    acceptor: Arc<Live<TlsAcceptor>>,
}

impl std::fmt::Debug for PublicAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicAcceptor")
    }
}

impl PublicAcceptor {
    /// An acceptor presenting the certificate chain in `cert_file` (PEM, leaf first) with the
    /// key in `key_file`.
    pub fn new(cert_file: &Path, key_file: &Path) -> io::Result<PublicAcceptor> {
        let (cert, key) = (cert_file.to_path_buf(), key_file.to_path_buf());
        let acceptor = Live::new(vec![cert.clone(), key.clone()], move |_reload| load(&cert, &key))?;
        Ok(PublicAcceptor { acceptor })
    }

    /// Runs the handshake on `stream`, within `HANDSHAKE_TIMEOUT`.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> io::Result<server::TlsStream<S>> {
        let acceptor = self.acceptor.get().1;
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(result) => result,
            Err(_) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}")))
            }
        }
    }
}

/// The acceptor for the chain in `cert_file` and the key in `key_file`.
fn load(cert_file: &Path, key_file: &Path) -> io::Result<TlsAcceptor> {
    let invalid = |path: &Path, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| invalid(cert_file, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert_file, &e))?;
    if chain.is_empty() {
        return Err(invalid(cert_file, &"no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| invalid(key_file, &e))?;
    let mut config = ServerConfig::builder_with_provider(crate::config::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid(cert_file, &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(key_file, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
