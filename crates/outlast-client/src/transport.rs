//! One HTTP request to one endpoint, with a deadline, over HTTPS for `https://` endpoints (rustls,
//! trusting the roots the caller gives). What counts as "this endpoint failed" is decided by the
//! caller; this only reports what happened.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Largest response body read, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A pooled HTTP/1.1 client, for `http://` and `https://` endpoints.
#[derive(Clone, Debug)]
pub struct Transport {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// What one attempt produced.
#[derive(Debug)]
pub enum Attempt {
    /// An HTTP answer.
    Answer {
        /// Status code.
        status: u16,
        /// Body text.
        body: String,
    },
    /// No answer: connection failure, reset, or the deadline passed.
    Failed(String),
}

impl Transport {
    /// A transport whose connections time out after `connect_timeout`, trusting `tls` for
    /// `https://` endpoints.
    pub fn new(connect_timeout: Duration, tls: rustls::ClientConfig) -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        // `https://` URIs need the HTTP connector to hand them on.
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Transport { client: HyperClient::builder(TokioExecutor::new()).build(connector) }
    }

    /// Sends one request and reads the whole answer within `deadline`.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
        deadline: Duration,
    ) -> Attempt {
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let typed = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !typed {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(error) => return Attempt::Failed(format!("bad request: {error}")),
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let limited = http_body_util::Limited::new(response.into_body(), RESPONSE_BYTES_MAX);
            let bytes = limited.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>(Attempt::Answer { status, body: String::from_utf8_lossy(&bytes).into_owned() })
        };
        match tokio::time::timeout(deadline, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => Attempt::Failed(error),
            Err(_) => Attempt::Failed(format!("no answer within {deadline:?}")),
        }
    }
}

/// A client configuration for users' HTTPS (TLS 1.2 and 1.3, the ring provider) trusting `roots`.
pub fn trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A client configuration trusting the public CAs browsers trust (Mozilla's roots, compiled
/// in): for nodes whose `[api_tls]` certificate comes from a public CA.
pub fn public_roots() -> rustls::ClientConfig {
    trusting(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
}

/// A client configuration trusting the CA certificates in the PEM file `ca_file` (a lab's own CA).
pub fn trusting_ca_file(ca_file: &std::path::Path) -> std::io::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let invalid = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", ca_file.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).map_err(|e| invalid(&e))? {
        roots.add(cert.map_err(|e| invalid(&e))?).map_err(|e| invalid(&e))?;
    }
    if roots.is_empty() {
        return Err(invalid(&"no CA certificate"));
    }
    Ok(trusting(roots))
}
