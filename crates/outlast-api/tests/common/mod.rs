//! A one-node cluster with the API, in this process, and a small HTTP client that signs
//! requests as Binance clients do.
#![allow(dead_code)]

pub mod plane;

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use outlast_cluster::config::{NodeConfig, PeerConfig, Role};
use outlast_cluster::node::{self, RunningNode};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TOKEN: &str = "test-operator-token-0123456789abcdef";

pub struct TestNode {
    pub api: SocketAddr,
    pub running: RunningNode,
    pub shared: outlast_api::Shared,
    _dir: tempfile::TempDir,
}

pub struct Key {
    pub key: String,
    pub secret: String,
    pub account: u64,
}

async fn free_addr() -> String {
    format!("127.0.0.1:{}", outlast_cluster::ports::free_port().unwrap())
}

/// A node configuration whose voters are this node and `absent_peers` nodes that never start.
pub async fn config(dir: &std::path::Path, absent_peers: u64) -> NodeConfig {
    let peer = |id: u64, raft: String, client: String, public_url: String| PeerConfig {
        id,
        raft_addr: raft,
        client_addr: client,
        public_url,
        provider: format!("p{id}"),
        region: format!("r{id}"),
        zone: format!("z{id}"),
        role: Role::Voter,
    };
    let api = free_addr().await;
    let mut peers = vec![peer(1, free_addr().await, free_addr().await, format!("http://{api}"))];
    for id in 2..2 + absent_peers {
        peers.push(peer(id, "127.0.0.1:1".into(), "127.0.0.1:1".into(), String::new()));
    }
    let mut config = NodeConfig::of_peer(1, dir.to_path_buf(), peers).expect("node 1 is a peer");
    config.api_addr = Some(api);
    config
}

impl TestNode {
    /// A node that is the whole cluster (`absent_peers == 0`, it leads) or one voter of a
    /// cluster whose other voters never start (it cannot commit anything).
    pub async fn start(absent_peers: u64) -> TestNode {
        TestNode::start_serving(absent_peers, outlast_api::Serving::default()).await
    }

    /// `start`, with the public listener serving as `serving` says (TLS, per-address limit).
    pub async fn start_serving(absent_peers: u64, serving: outlast_api::Serving) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), absent_peers).await;
        let running = node::start(&config, outlast_engine::Limits::default()).await.unwrap();
        node::initialize(&running, &config, true).await.unwrap();
        if absent_peers == 0 {
            running.raft.wait(Some(Duration::from_secs(10))).current_leader(1, "leader").await.unwrap();
        }
        let keyring = outlast_api::Keyring::from_hex(&"5a".repeat(32)).unwrap();
        let operator = outlast_api::OperatorToken::new(TOKEN).unwrap();
        let listener = outlast_api::bind(config.api_addr.as_deref().unwrap().parse().unwrap()).unwrap();
        let api = listener.local_addr().unwrap();
        let shared = outlast_api::new_api(
            running.writer.clone(),
            running.reader.clone(),
            (1, config.own_info()),
            keyring,
            operator,
            outlast_api::WeightLimits::default(),
        );
        tokio::spawn(outlast_api::serve(listener, shared.clone(), None, serving));
        TestNode { api, running, shared, _dir: dir }
    }

    /// Operator call; panics unless it succeeds.
    pub async fn op(&self, method: &str, path_and_query: &str) -> Value {
        let auth = format!("Bearer {TOKEN}");
        let reply = http(self.api, method, path_and_query, &[("authorization", &auth)], b"").await;
        assert_eq!(reply.status, 200, "{path_and_query}: {}", reply.body);
        reply.json()
    }

    /// BTC (8 decimals) / USDT (6), market BTCUSDT (tick 0.01, step 0.0001), and accounts 1
    /// and 2, each with a key, 10 BTC and 1,000,000 USDT.
    pub async fn exchange(&self) -> (Key, Key) {
        self.op("POST", "/operator/v1/assets?symbol=BTC&decimals=8").await;
        self.op("POST", "/operator/v1/assets?symbol=USDT&decimals=6").await;
        self.op(
            "POST",
            "/operator/v1/markets?symbol=BTCUSDT&baseAsset=BTC&quoteAsset=USDT&tickSize=0.01&stepSize=0.0001&minNotional=1",
        )
        .await;
        let mut keys = Vec::new();
        for account in [1, 2] {
            self.op("POST", &format!("/operator/v1/accounts?account={account}")).await;
            let key = self.op("POST", &format!("/operator/v1/apiKeys?account={account}&enableWithdrawals=true")).await;
            for (coin, amount) in [("BTC", "10"), ("USDT", "1000000")] {
                self.op(
                    "POST",
                    &format!(
                        "/operator/v1/deposits?account={account}&coin={coin}&amount={amount}&txId={coin}-{account}"
                    ),
                )
                .await;
            }
            keys.push(Key {
                key: key["apiKey"].as_str().unwrap().to_string(),
                secret: key["secretKey"].as_str().unwrap().to_string(),
                account,
            });
        }
        let bob = keys.pop().unwrap();
        (keys.pop().unwrap(), bob)
    }

    /// A signed request: `params` plus timestamp and signature, in the query (GET, DELETE) or
    /// the body (POST, PUT).
    pub async fn signed(&self, key: &Key, method: &str, path: &str, params: &str) -> Reply {
        let sep = if params.is_empty() { "" } else { "&" };
        let payload = format!("{params}{sep}timestamp={}", now_ms());
        let signed = format!("{payload}&signature={}", sign(&key.secret, payload.as_bytes()));
        self.raw(key, method, path, &signed).await
    }

    /// A request with `params` as given (no timestamp or signature added).
    pub async fn raw(&self, key: &Key, method: &str, path: &str, params: &str) -> Reply {
        let headers = [("x-mbx-apikey", key.key.as_str())];
        if method == "POST" || method == "PUT" {
            http(self.api, method, path, &headers, params.as_bytes()).await
        } else {
            http(self.api, method, &format!("{path}?{params}"), &headers, b"").await
        }
    }

    pub async fn digest(&self) -> String {
        self.running.reader.read().digest_hex()
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn sign(secret: &str, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The Binance error code, if the body is an error.
    pub fn code(&self) -> i64 {
        self.json()["code"].as_i64().unwrap_or_else(|| panic!("no error code in {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), within 10 s.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    http_bytes(addr, method, path_and_query.as_bytes(), headers, body).await
}

/// Like `http`, with the request target as raw bytes (to send what a string cannot hold).
pub async fn http_bytes(addr: SocketAddr, method: &str, target: &[u8], headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut request = Vec::new();
        request.extend_from_slice(format!("{method} ").as_bytes());
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !body.is_empty() {
            request.extend_from_slice(b"content-type: application/x-www-form-urlencoded\r\n");
        }
        request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        stream.write_all(&request).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("an answer within 10 s")
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(": ")).map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let chunked = headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Reply { status, headers, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}
