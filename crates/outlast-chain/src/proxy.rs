//! A JSON-RPC proxy in front of a chain node that fails on command: the provider outage, the
//! black hole, the slow provider, the node stuck behind head and the lying node, for tests,
//! chaos and the lab's provider-labelled upstreams.
//!
//! It understands enough JSON-RPC to lie convincingly: when lagging it freezes the head it
//! shows and hides later blocks and receipts; when lying it changes block hashes and drops logs;
//! when dropping broadcasts it answers the right hash and sends nothing on. Must never: be used
//! in front of a production node (it exists to break things), or buffer without bound (bodies
//! are capped at `BODY_BYTES_MAX`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{keccak256, B256, U64};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use outlast_client::{Attempt, Transport};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Largest request body accepted.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Connections served at once.
pub const CONNECTIONS_MAX: usize = 256;
/// Deadline of each forwarded request.
const FORWARD_DEADLINE: Duration = Duration::from_secs(10);

/// What the proxy does to calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards faithfully.
    Pass,
    /// The provider is gone: every connection is dropped without an answer.
    Down,
    /// Requests are read and never answered.
    Blackhole,
    /// Each answer waits this long first.
    Slow(Duration),
    /// The node stopped syncing at this block: it shows it as the head and knows nothing newer.
    Lag(u64),
    /// Blocks come back with another hash, and logs are dropped.
    Lie,
    /// Broadcasts are answered with the right hash and never sent on.
    DropBroadcasts,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    upstream: String,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on `listen` (port 0 for any).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let shared = Arc::new(Shared {
            fault: Arc::clone(&fault),
            upstream: upstream.to_string(),
            transport: Transport::new(Duration::from_secs(2), outlast_client::public_roots()),
        });
        let accept = tokio::spawn(serve(listener, shared));
        Ok(FaultProxy { addr, fault, upstream: upstream.to_string(), accept })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it does now.
    pub fn fault(&self) -> Fault {
        self.fault.lock().unwrap().clone()
    }

    /// Changes what it does, from the next request on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Makes it lag: it freezes at the upstream's present head.
    pub async fn freeze(&self) -> Result<u64, String> {
        let rpc = crate::rpc::Rpc::new(&self.upstream, FORWARD_DEADLINE);
        let head = rpc.block_number().await.map_err(|e| e.to_string())?;
        self.set(Fault::Lag(head));
        Ok(head)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct Shared {
    fault: Arc<Mutex<Fault>>,
    upstream: String,
    transport: Transport,
}

/// Accepts connections until aborted; aborting drops every connection with it.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if connections.len() >= CONNECTIONS_MAX {
                    continue;
                }
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { handle(&shared, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, String> {
    let fault = shared.fault.lock().unwrap().clone();
    match fault {
        // An error ends the connection without an answer.
        Fault::Down => return Err("down".into()),
        Fault::Blackhole => std::future::pending::<()>().await,
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let body = Limited::new(request.into_body(), BODY_BYTES_MAX).collect().await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let answer = match serde_json::from_str::<Value>(&text) {
        Ok(call @ Value::Object(_)) => shared.call(&fault, call).await?.to_string(),
        // Batches and garbage go through as they are: the node answers them.
        _ => shared.forward(text).await?,
    };
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer)))
        .map_err(|e| e.to_string())
}

impl Shared {
    async fn forward(&self, body: String) -> Result<String, String> {
        let headers = [("content-type", "application/json")];
        match self.transport.send("POST", &self.upstream, &headers, body, FORWARD_DEADLINE).await {
            Attempt::Answer { body, .. } => Ok(body),
            Attempt::Failed(why) => Err(why),
        }
    }

    async fn ask(&self, call: &Value) -> Result<Value, String> {
        let text = self.forward(call.to_string()).await?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    /// One call, with the fault applied.
    async fn call(&self, fault: &Fault, mut call: Value) -> Result<Value, String> {
        let method = call["method"].as_str().unwrap_or_default().to_string();
        let id = call["id"].clone();
        let answer_with = |result: Value| json!({ "jsonrpc": "2.0", "id": id, "result": result });
        match (fault, method.as_str()) {
            (Fault::DropBroadcasts, "eth_sendRawTransaction") => {
                let raw: alloy_primitives::Bytes =
                    serde_json::from_value(call["params"][0].clone()).map_err(|e| e.to_string())?;
                Ok(answer_with(json!(keccak256(&raw))))
            }
            (Fault::Lag(head), _) => self.lagging(*head, &method, &mut call).await,
            (Fault::Lie, "eth_getBlockByNumber" | "eth_getBlockByHash") => {
                let mut answer = self.ask(&call).await?;
                if let Ok(hash) = serde_json::from_value::<B256>(answer["result"]["hash"].clone()) {
                    answer["result"]["hash"] = json!(keccak256(hash));
                }
                Ok(answer)
            }
            (Fault::Lie, "eth_getLogs") => {
                let answer = self.ask(&call).await?;
                Ok(if answer.get("result").is_some() { answer_with(json!([])) } else { answer })
            }
            _ => self.ask(&call).await,
        }
    }

    /// A node stuck at `head`.
    async fn lagging(&self, head: u64, method: &str, call: &mut Value) -> Result<Value, String> {
        let id = call["id"].clone();
        let answer_with = |result: Value| json!({ "jsonrpc": "2.0", "id": id, "result": result });
        let head_hex = json!(U64::from(head));
        let is_tag = |v: &Value| matches!(v.as_str(), Some("latest" | "pending" | "safe" | "finalized"));
        let beyond = |v: &Value| serde_json::from_value::<U64>(v.clone()).is_ok_and(|n| n.to::<u64>() > head);
        match method {
            "eth_blockNumber" => return Ok(answer_with(head_hex)),
            "eth_getBlockByNumber" => {
                if is_tag(&call["params"][0]) {
                    call["params"][0] = head_hex;
                } else if beyond(&call["params"][0]) {
                    return Ok(answer_with(Value::Null));
                }
            }
            "eth_getLogs" => {
                let filter = &mut call["params"][0];
                if filter.get("blockHash").is_none()
                    && (filter["toBlock"].is_null() || is_tag(&filter["toBlock"]) || beyond(&filter["toBlock"]))
                {
                    filter["toBlock"] = head_hex;
                }
            }
            "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" | "eth_call" => {
                let last = call["params"].as_array().map_or(0, |p| p.len().saturating_sub(1));
                if is_tag(&call["params"][last]) {
                    call["params"][last] = head_hex;
                }
            }
            _ => {}
        }
        let mut answer = self.ask(call).await?;
        // What was mined after the head it shows, it does not know of.
        let result = &answer["result"];
        if matches!(method, "eth_getTransactionReceipt" | "eth_getTransactionByHash" | "eth_getBlockByHash")
            && beyond(if result["blockNumber"].is_null() { &result["number"] } else { &result["blockNumber"] })
        {
            answer["result"] = Value::Null;
        }
        Ok(answer)
    }
}
