//! The operator plane from a test's side: TLS clients with or without an operator's
//! certificate, and one request over them.

use std::sync::Arc;
use std::time::Duration;

use outlast_tls::{Identity, PkiFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CLUSTER: &str = "lab";

/// A TLS client trusting `ca` and presenting `who`'s certificate from `pki` (none if `None`).
pub fn client(ca: &std::path::Path, who: Option<(&PkiFiles, &Identity)>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match who {
        Some((pki, who)) => {
            let chain = CertificateDer::pem_file_iter(pki.cert(who)).unwrap().map(|c| c.unwrap()).collect();
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(pki.key(who)).unwrap()).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One request over TLS; the raw answer, or `None` if the handshake or the exchange failed.
pub async fn https(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
) -> Option<String> {
    let exchange = async {
        let name = ServerName::try_from(Identity::Node(1).name(CLUSTER)).unwrap();
        let mut tls = connector.connect(name, TcpStream::connect(addr).await.ok()?).await.ok()?;
        let request =
            format!("{method} {path} HTTP/1.1\r\nhost: operator\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        tls.write_all(request.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.ok()?;
        Some(String::from_utf8_lossy(&reply).into_owned()).filter(|r| !r.is_empty())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("an end within 10 s")
}

pub fn body(reply: &str) -> serde_json::Value {
    serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

/// The cluster's certificates for node 1 and `operators`, under `dir`.
pub fn pki(dir: &std::path::Path, operators: &[Identity]) -> PkiFiles {
    let mut identities = vec![Identity::Node(1)];
    identities.extend(operators.iter().cloned());
    outlast_tls::write_cluster_pki(dir, CLUSTER, &identities).unwrap()
}

/// Serves `node`'s operator plane, over mutual TLS for `admitted` only, on a free port.
pub async fn serve(node: &super::TestNode, pki: &PkiFiles, admitted: Vec<Identity>) -> std::net::SocketAddr {
    let me = Identity::Node(1);
    let files = outlast_tls::TlsFiles { ca: pki.ca_cert(), cert: pki.cert(&me), key: pki.key(&me) };
    let acceptor = outlast_tls::Acceptor::for_http(CLUSTER, &files, Arc::new(move || admitted.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plane = listener.local_addr().unwrap();
    tokio::spawn(outlast_api::serve_operator_plane(listener, node.shared.clone(), acceptor));
    plane
}
