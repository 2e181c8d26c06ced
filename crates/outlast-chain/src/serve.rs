//! A chain's JSON-RPC as we serve it to dapps (`/rpc/<chain>` on every node): the allowlisted
//! methods (`methods`), reads through the pool with failover and hedging, broadcasts to several
//! providers, the chain id from configuration, and filters that live here, not on an upstream.
//!
//! Errors follow what stock clients expect: a revert or bad parameters pass through as the node
//! said them (final, so a client's own fallback does not retry them elsewhere); trouble with the
//! upstreams is -32603 (retried by viem and ethers); a method not served is -32601. Must never:
//! tell a client which provider URL failed (provider URLs carry API keys), or serve a method
//! that `methods` does not name.

use std::sync::Arc;

use alloy_primitives::Bytes;
use serde_json::{json, Value};

use crate::filters::{FilterError, Filters};
use crate::methods::{self, Kind};
use crate::pool::{Pool, PoolError};

/// Calls one batch may carry (ethers batches up to 100).
pub const BATCH_MAX: usize = 100;
/// Dapps' broadcasts followed until mined, at most (the oldest is dropped first).
pub const TRACKED_MAX: usize = 1_024;
/// A broadcast not mined after this many blocks is no longer sent again (its sender may have
/// replaced it, or it will never be valid).
pub const TRACKED_BLOCKS_MAX: u64 = 256;

/// A dapp's transaction, sent again until some block holds it: a provider may accept it and
/// drop it from its pool, and the dapp would wait for a receipt that never comes.
struct Tracked {
    raw: Bytes,
    hash: alloy_primitives::B256,
    /// The head when it was first sent.
    since_block: u64,
}

/// A JSON-RPC error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its code.
    pub code: i64,
    /// Its message.
    pub message: String,
}

impl Failure {
    fn new(code: i64, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

/// One chain's JSON-RPC server.
pub struct Server {
    pool: Arc<Pool>,
    filters: Filters,
    tracked: std::sync::Mutex<std::collections::VecDeque<Tracked>>,
}

impl Server {
    /// Serves `pool`'s chain.
    pub fn new(pool: Arc<Pool>) -> Server {
        Server { pool, filters: Filters::default(), tracked: Default::default() }
    }

    /// Broadcasts followed until mined.
    pub fn tracked(&self) -> usize {
        self.tracked.lock().unwrap().len()
    }

    /// Sends every followed broadcast that is not mined yet again, every `every`, until the
    /// server is dropped.
    pub fn follow_broadcasts(self: &Arc<Self>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let server = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(server) = server.upgrade() else { return };
                server.resend_unmined().await;
            }
        })
    }

    /// One round of `follow_broadcasts`.
    pub async fn resend_unmined(&self) {
        let Some(tip) = self.pool.tip() else { return };
        let followed: Vec<(Bytes, alloy_primitives::B256, u64)> =
            self.tracked.lock().unwrap().iter().map(|t| (t.raw.clone(), t.hash, t.since_block)).collect();
        for (raw, hash, since_block) in followed {
            let receipt = self.pool.read("eth_getTransactionReceipt", json!([hash])).await;
            let done = match receipt {
                Ok(receipt) => !receipt.is_null() || tip.saturating_sub(since_block) > TRACKED_BLOCKS_MAX,
                Err(_) => false,
            };
            // A nonce used by another transaction (a replacement): nothing to follow.
            let done = done
                || matches!(
                    self.pool.broadcast(&raw).await,
                    Err(PoolError::NonceUsed(_)) | Err(PoolError::Node { .. })
                );
            if done {
                self.tracked.lock().unwrap().retain(|t| t.hash != hash);
            }
        }
    }

    /// Its pool.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Answers one method call.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, Failure> {
        let chain = &self.pool.config().chain;
        let params = match params {
            Value::Null => json!([]),
            Value::Array(_) => params,
            _ => return Err(Failure::new(-32602, "params must be an array")),
        };
        match methods::kind(method) {
            None => Err(Failure::new(-32601, format!("the method {method} is not served here"))),
            Some(Kind::Static) => Ok(match method {
                "eth_chainId" => json!(format!("{:#x}", self.pool.config().chain_id)),
                "net_version" => json!(self.pool.config().chain_id.to_string()),
                _ => json!(self.pool.status().iter().any(|s| s.breaker != "open")),
            }),
            Some(Kind::Read) => self.pool.read(method, params).await.map_err(|e| failure(chain, e)),
            Some(Kind::Broadcast) => {
                let raw: Bytes = serde_json::from_value(params[0].clone())
                    .map_err(|_| Failure::new(-32602, "eth_sendRawTransaction takes the transaction's bytes in hex"))?;
                let hash = self.pool.broadcast(&raw).await.map_err(|e| failure(chain, e))?;
                let mut tracked = self.tracked.lock().unwrap();
                if !tracked.iter().any(|t| t.hash == hash) {
                    if tracked.len() == TRACKED_MAX {
                        tracked.pop_front();
                    }
                    tracked.push_back(Tracked { raw, hash, since_block: self.pool.tip().unwrap_or(0) });
                }
                Ok(json!(hash))
            }
            Some(Kind::Filter) => {
                let pool = &self.pool;
                let result = match method {
                    "eth_newBlockFilter" => self.filters.new_block_filter(pool).await.map(|id| json!(id)),
                    "eth_newFilter" => self.filters.new_log_filter(pool, &params[0]).await.map(|id| json!(id)),
                    "eth_getFilterChanges" => self.filters.changes(pool, &params[0]).await,
                    "eth_getFilterLogs" => self.filters.logs(pool, &params[0]).await,
                    _ => Ok(json!(self.filters.uninstall(&params[0]))),
                };
                result.map_err(|error| match error {
                    FilterError::NotFound => Failure::new(-32000, "filter not found"),
                    FilterError::Full => Failure::new(-32005, "too many filters on this node; uninstall some"),
                    FilterError::Invalid(why) => Failure::new(-32602, why),
                    FilterError::Pool(error) => failure(chain, error),
                })
            }
        }
    }

    /// Answers one request object.
    pub async fn answer(&self, request: &Value) -> Value {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let method = request.get("method").and_then(Value::as_str);
        let result = match (request.get("jsonrpc").and_then(Value::as_str), method) {
            (Some("2.0"), Some(method)) => {
                self.call(method, request.get("params").cloned().unwrap_or(Value::Null)).await
            }
            _ => Err(Failure::new(-32600, "not a JSON-RPC 2.0 request")),
        };
        match result {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(Failure { code, message }) => {
                json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
            }
        }
    }

    /// Answers a request body: one request or a batch.
    pub async fn answer_body(&self, body: &[u8]) -> Value {
        let error = |code: i64, message: &str| json!({ "jsonrpc": "2.0", "id": Value::Null, "error": { "code": code, "message": message } });
        match serde_json::from_slice::<Value>(body) {
            Err(_) => error(-32700, "parse error: the body is not JSON"),
            Ok(Value::Array(batch)) if batch.is_empty() => error(-32600, "an empty batch"),
            Ok(Value::Array(batch)) if batch.len() > BATCH_MAX => {
                error(-32600, &format!("a batch of {} calls; at most {BATCH_MAX}", batch.len()))
            }
            Ok(Value::Array(batch)) => {
                let mut answers = Vec::with_capacity(batch.len());
                for request in &batch {
                    answers.push(self.answer(request).await);
                }
                Value::Array(answers)
            }
            Ok(request) => self.answer(&request).await,
        }
    }
}

/// What a dapp is told of the pool's trouble (never a provider's URL).
fn failure(chain: &str, error: PoolError) -> Failure {
    match error {
        PoolError::Node { code, message } => Failure { code, message },
        PoolError::NonceUsed(_) => Failure::new(-32000, "nonce too low"),
        PoolError::Unavailable(_) | PoolError::NoAgreement(_) => {
            Failure::new(-32603, format!("no upstream of {chain} answered in time; try again"))
        }
    }
}
