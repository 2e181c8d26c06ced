//! JSON-RPC 2.0 to one chain node over HTTP(S): one request, one answer, within a deadline.
//!
//! The building block of the multi-provider layer to come (several upstreams, health,
//! failover, agreement); on its own it trusts the one node it asks. Must never: retry (whether
//! a call may be repeated is the caller's decision), or turn a node's error into a value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use alloy_rpc_types_eth::TransactionReceipt;
use alloy_sol_types::SolCall;
use outlast_client::{Attempt, Transport};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::erc20::IERC20;

/// Why a call has no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcError {
    /// No answer, or not a JSON-RPC answer (connection, deadline, HTTP status).
    Transport(String),
    /// The node answered with an error object.
    Node {
        /// Its code (e.g. -32003 for a transaction the node refuses).
        code: i64,
        /// Its message.
        message: String,
    },
    /// The result is not what the method returns.
    Decode(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Transport(why) => write!(f, "no answer: {why}"),
            RpcError::Node { code, message } => write!(f, "node error {code}: {message}"),
            RpcError::Decode(why) => write!(f, "unexpected result: {why}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// A block number or other quantity as JSON-RPC writes it (`0x`-prefixed hex, no leading zeros).
pub fn quantity(n: u64) -> Value {
    json!(format!("{n:#x}"))
}

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client of one node's JSON-RPC endpoint.
pub struct Rpc {
    url: String,
    deadline: Duration,
    transport: Transport,
    next_id: AtomicU64,
}

impl Rpc {
    /// A client of `url`, each call answered within `deadline` or failed.
    pub fn new(url: &str, deadline: Duration) -> Rpc {
        let transport = Transport::new(CONNECT_TIMEOUT, outlast_client::public_roots());
        Rpc { url: url.to_string(), deadline, transport, next_id: AtomicU64::new(1) }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` (a JSON array).
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        let headers = [("content-type", "application/json")];
        let text = match self.transport.send("POST", &self.url, &headers, body, self.deadline).await {
            Attempt::Answer { status: 200, body } => body,
            Attempt::Answer { status, body } => {
                return Err(RpcError::Transport(format!(
                    "HTTP {status}: {}",
                    body.chars().take(200).collect::<String>()
                )))
            }
            Attempt::Failed(why) => return Err(RpcError::Transport(why)),
        };
        let answer: Value = serde_json::from_str(&text).map_err(|e| RpcError::Transport(format!("not JSON: {e}")))?;
        if answer["id"] != json!(id) {
            return Err(RpcError::Transport(format!("answer to another request: {}", answer["id"])));
        }
        if let Some(error) = answer.get("error") {
            let code = error["code"].as_i64().unwrap_or(0);
            let message = error["message"].as_str().unwrap_or_default().to_string();
            return Err(RpcError::Node { code, message });
        }
        let result = answer.get("result").cloned().ok_or_else(|| RpcError::Decode("no result".into()))?;
        serde_json::from_value(result).map_err(|e| RpcError::Decode(format!("{method}: {e}")))
    }

    /// The chain id (`eth_chainId`).
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_chainId", json!([])).await?.to())
    }

    /// The head's block number (`eth_blockNumber`).
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_blockNumber", json!([])).await?.to())
    }

    /// `address`'s next nonce, counting transactions still in the node's pool.
    pub async fn pending_nonce(&self, address: Address) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_getTransactionCount", json!([address, "pending"])).await?.to())
    }

    /// Broadcasts signed bytes (`eth_sendRawTransaction`); the node's answer is the hash.
    pub async fn send_raw(&self, raw: &[u8]) -> Result<B256, RpcError> {
        self.call("eth_sendRawTransaction", json!([Bytes::copy_from_slice(raw)])).await
    }

    /// The receipt of the transaction `hash`, if it is in a block the node holds.
    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, RpcError> {
        self.call("eth_getTransactionReceipt", json!([hash])).await
    }

    /// `address`'s balance of the native asset, in wei, at the head.
    pub async fn balance(&self, address: Address) -> Result<U256, RpcError> {
        self.call("eth_getBalance", json!([address, "latest"])).await
    }

    /// `owner`'s balance of the ERC-20 `token`, at the head.
    pub async fn erc20_balance(&self, token: Address, owner: Address) -> Result<U256, RpcError> {
        let data = Bytes::from(IERC20::balanceOfCall { owner }.abi_encode());
        let answer: Bytes = self.call("eth_call", json!([{ "to": token, "data": data }, "latest"])).await?;
        IERC20::balanceOfCall::abi_decode_returns(&answer).map_err(|e| RpcError::Decode(format!("balanceOf: {e}")))
    }
}
