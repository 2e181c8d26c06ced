//! One HTTP request to one endpoint, with a deadline. What counts as "this endpoint failed" is
//! decided by the caller; this only reports what happened.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Largest response body read, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A pooled HTTP/1.1 client.
#[derive(Clone, Debug)]
pub struct Transport {
    client: HyperClient<HttpConnector, Full<Bytes>>,
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
    /// A transport whose connections time out after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
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
        if !body.is_empty() {
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
