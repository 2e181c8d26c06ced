//! The failover client: endpoint rotation, bounded retries, hedging of calls that are safe to
//! repeat, signing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::signing::sign;
use crate::transport::{Attempt, Transport};

/// API credentials. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Credentials {
    /// API key name (sent as `X-MBX-APIKEY`).
    pub key: String,
    /// Secret (signs requests; never sent).
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ key: {:?}, secret: .. }}", self.key)
    }
}

/// How hard the client tries before giving up.
#[derive(Clone, Debug)]
pub struct FailoverPolicy {
    /// Deadline of one attempt on one endpoint (connect, send, answer).
    pub attempt_timeout: Duration,
    /// Total time one call may take across all its attempts.
    pub budget: Duration,
    /// Most attempts per call.
    pub attempts_max: u32,
    /// Pause after every endpoint failed once, doubled each round up to `backoff_max`.
    pub backoff: Duration,
    /// Longest pause between rounds.
    pub backoff_max: Duration,
    /// `recvWindow` sent with signed requests, in ms.
    pub recv_window_ms: u64,
    /// A call that is safe to repeat (`repeatable`) and has no answer after this long is also
    /// sent to the next endpoint, and the first answer wins: a node that stopped answering
    /// (paused, cut off, gray) costs this delay instead of a whole attempt timeout. `None`:
    /// never two attempts at once.
    pub hedge_after: Option<Duration>,
}

/// Parameters that make a call safe to send twice: the exchange applies a second copy as a
/// duplicate of the first (client order id, withdrawal id, chain transaction id).
const REPEATABLE_BY: [&str; 3] = ["newClientOrderId", "withdrawOrderId", "txId"];

/// Whether a call may be in flight twice at once: a read, or a change the exchange dedupes.
fn repeatable(method: &str, params: &[(&str, String)]) -> bool {
    method == "GET" || params.iter().any(|(name, _)| REPEATABLE_BY.contains(name))
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        // A leader failover takes about half a second; a dead endpoint costs at most one
        // attempt timeout. Ten seconds covers both several times over.
        FailoverPolicy {
            attempt_timeout: Duration::from_secs(2),
            budget: Duration::from_secs(10),
            attempts_max: 20,
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_millis(800),
            recv_window_ms: 5_000,
            // Above a healthy write's p99 across `up`'s WAN topology (~0.45 s), below the time a
            // new leader takes to be elected and known (~0.65 s) plus a commit.
            hedge_after: Some(Duration::from_millis(600)),
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The exchange answered with an error (4xx): its verdict, not retried.
    Exchange {
        /// HTTP status.
        status: u16,
        /// Binance error code.
        code: i64,
        /// Message.
        msg: String,
    },
    /// No endpoint gave an answer within the policy. For a write, its outcome is unknown: retry
    /// it with the same client order id to learn it.
    Unavailable {
        /// What each attempt ran into (endpoint and reason).
        attempts: Vec<String>,
    },
    /// The call was malformed before sending (no credentials for a signed call, …).
    Usage(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Exchange { status, code, msg } => write!(f, "exchange error {code} (HTTP {status}): {msg}"),
            ClientError::Unavailable { attempts } => write!(f, "no endpoint answered: {}", attempts.join("; ")),
            ClientError::Usage(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ClientError {}

/// One endpoint's health.
#[derive(Clone, Debug)]
pub struct Health {
    /// The endpoint.
    pub endpoint: String,
    /// Whether `/ready` answered 200.
    pub ready: bool,
    /// Its answer or the failure.
    pub detail: String,
    /// How long the check took.
    pub latency: Duration,
}

/// A client over several endpoints. Cheap to share behind an `Arc`; calls may run concurrently.
#[derive(Debug)]
pub struct Client {
    endpoints: Vec<String>,
    current: AtomicUsize,
    transport: Transport,
    /// What `https://` endpoints (and their `wss://` streams) are trusted with.
    tls: Arc<rustls::ClientConfig>,
    credentials: Option<Credentials>,
    policy: FailoverPolicy,
}

/// Percent-encodes a parameter value (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A fresh client order id: `oc-` and 24 random hex digits.
pub fn new_client_order_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 12];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Unique enough without the OS: the clock in ns and the process id.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    format!("oc-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Client {
    /// A client over `endpoints` (base URLs such as `http://10.0.0.1:7301`), starting with the
    /// first.
    pub fn new(endpoints: Vec<String>, credentials: Option<Credentials>, policy: FailoverPolicy) -> Client {
        Client::with_tls(endpoints, credentials, policy, None)
    }

    /// `new`, trusting `tls` for `https://` endpoints (see `trusting_ca_file`); with none, the
    /// public CAs browsers trust (`public_roots`).
    pub fn with_tls(
        endpoints: Vec<String>,
        credentials: Option<Credentials>,
        policy: FailoverPolicy,
        tls: Option<rustls::ClientConfig>,
    ) -> Client {
        assert!(!endpoints.is_empty(), "a client needs at least one endpoint");
        let endpoints = endpoints.into_iter().map(|e| e.trim_end_matches('/').to_string()).collect();
        let tls = tls.unwrap_or_else(crate::transport::public_roots);
        let transport = Transport::new(policy.attempt_timeout, tls.clone());
        let tls = Arc::new(tls);
        Client { endpoints, current: AtomicUsize::new(0), transport, tls, credentials, policy }
    }

    /// What the client trusts for `https://` endpoints and `wss://` streams.
    pub fn tls(&self) -> &Arc<rustls::ClientConfig> {
        &self.tls
    }

    /// The endpoint calls go to now.
    pub fn current(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// All endpoints, in order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn rotate_from(&self, failed: usize) {
        // Only the first caller to see this endpoint fail moves everyone on.
        let _ = self.current.compare_exchange(
            failed,
            (failed + 1) % self.endpoints.len(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Checks `/ready` on every endpoint at once.
    pub async fn health(&self) -> Vec<Health> {
        let checks = self.endpoints.iter().map(|endpoint| async move {
            let started = Instant::now();
            let attempt = self
                .transport
                .send("GET", &format!("{endpoint}/ready"), &[], String::new(), self.policy.attempt_timeout)
                .await;
            let (ready, detail) = match attempt {
                Attempt::Answer { status, body } => (status == 200, body),
                Attempt::Failed(why) => (false, why),
            };
            Health { endpoint: endpoint.clone(), ready, detail, latency: started.elapsed() }
        });
        futures_util::future::join_all(checks).await
    }

    /// Makes the first ready endpoint current; false if none is ready.
    pub async fn prefer_healthy(&self) -> bool {
        let health = self.health().await;
        match health.iter().position(|h| h.ready) {
            Some(index) => {
                self.current.store(index, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// An unsigned call (market data).
    pub async fn public(&self, method: &str, path: &str, params: &[(&str, String)]) -> Result<Value, ClientError> {
        self.call(method, path, params, false).await
    }

    /// A signed call. Each attempt is signed afresh (new timestamp); the parameters — client
    /// order ids included — stay the same, which is what makes retrying safe.
    pub async fn signed(&self, method: &str, path: &str, params: &[(&str, String)]) -> Result<Value, ClientError> {
        self.call(method, path, params, true).await
    }

    /// An operator call (`/operator/v1/...`) with the operator's bearer token.
    pub async fn operator(
        &self,
        token: &str,
        method: &str,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        self.call_with(method, path, params, false, Some(token)).await
    }

    /// An operator call on the operator plane (`operator_addr`), where the client certificate
    /// in the TLS configuration is the credential: no token is sent.
    pub async fn operator_plane(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        self.call_with(method, path, params, false, None).await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, String)],
        signed: bool,
    ) -> Result<Value, ClientError> {
        self.call_with(method, path, params, signed, None).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, String)],
        signed: bool,
        token: Option<&str>,
    ) -> Result<Value, ClientError> {
        if signed && self.credentials.is_none() {
            return Err(ClientError::Usage("this call needs an API key and secret".into()));
        }
        let started = Instant::now();
        let hedge_after = self.policy.hedge_after.filter(|_| repeatable(method, params));
        let mut attempts = Vec::new();
        let mut backoff = self.policy.backoff;
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let mut launched = 0;
        let mut last_launch = tokio::time::Instant::now();
        let mut next_index = self.current.load(Ordering::Relaxed) % self.endpoints.len();
        // A hedged change's refusal, waiting on the other copy's answer.
        let mut held: Option<ClientError> = None;
        loop {
            if in_flight.is_empty() {
                if let Some(refusal) = held.take() {
                    return Err(refusal);
                }
            }
            let left = self.policy.budget.saturating_sub(started.elapsed());
            let may_launch = launched < self.policy.attempts_max && !left.is_zero();
            if in_flight.is_empty() {
                if !may_launch {
                    break;
                }
                if launched > 0 && launched as usize % self.endpoints.len() == 0 {
                    // Every endpoint failed once this round: give the cluster a moment.
                    tokio::time::sleep(backoff.min(left)).await;
                    backoff = (backoff * 2).min(self.policy.backoff_max);
                }
                let index = if launched == 0 {
                    next_index
                } else {
                    self.current.load(Ordering::Relaxed) % self.endpoints.len()
                };
                in_flight.push(self.attempt(index, method, path, params, signed, token, started));
                (launched, last_launch, next_index) = (launched + 1, tokio::time::Instant::now(), index + 1);
                continue;
            }
            let hedge_at = hedge_after.filter(|_| may_launch && in_flight.len() < 2).map(|after| last_launch + after);
            tokio::select! {
                Some((index, attempt)) = futures_util::StreamExt::next(&mut in_flight) => {
                    let endpoint = &self.endpoints[index];
                    match attempt {
                        Attempt::Answer { status, body } if status < 500 => {
                            // This endpoint answers: later calls start here (it may have won
                            // a hedge against a silent one).
                            self.current.store(index, Ordering::Relaxed);
                            let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                            if status < 300 {
                                return Ok(value);
                            }
                            let code = value.get("code").and_then(Value::as_i64).unwrap_or(0);
                            let msg = value.get("msg").and_then(Value::as_str).unwrap_or("").to_string();
                            let refusal = ClientError::Exchange { status, code, msg };
                            if method != "GET" && !in_flight.is_empty() {
                                // A node may refuse a change for reasons of its own (its weight
                                // counters, its clock, a state that is behind) while the other
                                // copy still applies: that copy's answer is the one that counts.
                                held = Some(refusal);
                                continue;
                            }
                            return Err(refusal);
                        }
                        Attempt::Answer { status, body } => attempts.push(format!("{endpoint}: HTTP {status} {body}")),
                        Attempt::Failed(why) => attempts.push(format!("{endpoint}: {why}")),
                    }
                    self.rotate_from(index);
                }
                () = sleep_until_or_never(hedge_at) => {
                    // The attempt in flight is slow: ask the next endpoint as well.
                    let index = next_index % self.endpoints.len();
                    in_flight.push(self.attempt(index, method, path, params, signed, token, started));
                    (launched, last_launch, next_index) = (launched + 1, tokio::time::Instant::now(), index + 1);
                }
            }
        }
        Err(ClientError::Unavailable { attempts })
    }

    /// One attempt on endpoint `index` (signed afresh), within what is left of the budget.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        index: usize,
        method: &str,
        path: &str,
        params: &[(&str, String)],
        signed: bool,
        token: Option<&str>,
        started: Instant,
    ) -> (usize, Attempt) {
        let endpoint = &self.endpoints[index];
        let mut text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let mut headers = Vec::new();
        let bearer = token.map(|t| format!("Bearer {t}"));
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        if signed {
            let credentials = self.credentials.as_ref().expect("checked by the caller");
            text.push(format!("recvWindow={}", self.policy.recv_window_ms));
            text.push(format!("timestamp={}", now_ms()));
            let payload = text.join("&");
            text.push(format!("signature={}", sign(&credentials.secret, &payload)));
            headers.push(("x-mbx-apikey", credentials.key.as_str()));
        }
        let text = text.join("&");
        let (url, body) = if method == "POST" || method == "PUT" {
            (format!("{endpoint}{path}"), text)
        } else if text.is_empty() {
            (format!("{endpoint}{path}"), String::new())
        } else {
            (format!("{endpoint}{path}?{text}"), String::new())
        };
        let left = self.policy.budget.saturating_sub(started.elapsed());
        (index, self.transport.send(method, &url, &headers, body, self.policy.attempt_timeout.min(left)).await)
    }

    /// Places an order. `params` are Binance's (`symbol`, `side`, `type`, `quantity`, …); a
    /// `newClientOrderId` is added if absent, and kept for every retry.
    pub async fn place_order(&self, params: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut params = params.to_vec();
        if !params.iter().any(|(k, _)| *k == "newClientOrderId") {
            params.push(("newClientOrderId", new_client_order_id()));
        }
        self.signed("POST", "/api/v3/order", &params).await
    }

    /// Cancels an order by exchange id or client order id.
    pub async fn cancel_order(
        &self,
        symbol: &str,
        order_id: Option<u64>,
        client_order_id: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut params = vec![("symbol", symbol.to_string())];
        match (order_id, client_order_id) {
            (Some(id), _) => params.push(("orderId", id.to_string())),
            (None, Some(id)) => params.push(("origClientOrderId", id.to_string())),
            (None, None) => return Err(ClientError::Usage("name the order by id or client order id".into())),
        }
        self.signed("DELETE", "/api/v3/order", &params).await
    }

    /// The account with its balances.
    pub async fn account(&self) -> Result<Value, ClientError> {
        self.signed("GET", "/api/v3/account", &[]).await
    }

    /// The order book (`/api/v3/depth`).
    pub async fn book(&self, symbol: &str, limit: u32) -> Result<Value, ClientError> {
        self.public("GET", "/api/v3/depth", &[("symbol", symbol.to_string()), ("limit", limit.to_string())]).await
    }

    /// Moves to the next endpoint (after a stream on the current one failed).
    pub fn fail_over(&self) {
        self.rotate_from(self.current.load(Ordering::Relaxed) % self.endpoints.len());
    }
}

/// Sleeps until `at`, or forever if there is no `at`.
async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(super::encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(super::encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_ne!(super::new_client_order_id(), super::new_client_order_id());
    }
}
