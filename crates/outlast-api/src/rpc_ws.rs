//! `/rpc/<chain>` over WebSocket: the same JSON-RPC as over HTTP, plus `eth_subscribe` for
//! `newHeads` and `logs`, served from the chain's followed heads (`outlast_chain::heads`), not
//! proxied to one provider's socket: a provider that fails or skips heads changes nothing (the
//! next block number is read from whichever upstream answers), and a reorg reaches `logs`
//! subscribers as the retracted logs with `removed: true`, before the replacement blocks' logs.
//!
//! Bounds: `SUBSCRIPTIONS_MAX` per connection, messages of at most `MESSAGE_BYTES_MAX`, one
//! weight unit per message, the logs of `LOG_BLOCKS_HELD` blocks kept per subscription, and a
//! subscriber that falls behind the heads or blocks a send for `SEND_TIMEOUT` is closed with a
//! reason (never silently skipped). Must never: send a subscription an event from before it was
//! made, or a log twice without a `removed` between.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use outlast_chain::heads::HeadEvent;
use outlast_cluster::listener::Slot;
use outlast_custody::ChainHandle;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::api::{now_ms, Shared};
use crate::error::ApiError;
use crate::weights::{Charge, Counter};

/// Subscriptions one connection may hold.
pub const SUBSCRIPTIONS_MAX: usize = 16;
/// Largest message a client may send, in bytes.
pub const MESSAGE_BYTES_MAX: usize = 512 * 1024;
/// Blocks whose logs a `logs` subscription remembers, to retract them on a reorg.
pub const LOG_BLOCKS_HELD: usize = 64;
/// How long one send may block before the subscriber is closed as too slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Close code for a subscriber that fell behind (policy violation).
const CLOSE_LAGGED: u16 = 1008;

enum Kind {
    NewHeads,
    Logs {
        /// `address` and `topics` of the client's filter.
        criteria: Value,
        /// Logs sent, by block number.
        sent: BTreeMap<u64, Vec<Value>>,
    },
}

struct Subscription {
    id: String,
    kind: Kind,
}

/// The WebSocket handshake for `/rpc/<chain>`.
pub(crate) async fn handle(
    State(api): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(chain): Path<String>,
    slot: Option<Extension<Slot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::not_websocket(&rejection.body_text()).into_response(),
    };
    let Some(followed) = api.chains.get().and_then(|chains| chains.iter().find(|c| c.config.name == chain)).cloned()
    else {
        return ApiError::not_found().into_response();
    };
    if api.metrics.ws_open.load(Ordering::Relaxed) >= crate::streams::WS_CONNECTIONS_MAX {
        return ApiError::unavailable("too many WebSocket connections").into_response();
    }
    // Subscribed before the handshake is answered: no head after the open is missed.
    let heads = followed.heads.subscribe();
    upgrade.max_message_size(MESSAGE_BYTES_MAX).on_upgrade(move |socket| async move {
        let _slot = slot;
        api.metrics.ws_open.fetch_add(1, Ordering::Relaxed);
        let mut connection =
            Connection { api: api.clone(), chain: followed, socket, peer, subscriptions: Vec::new(), made: 0 };
        let why = connection.run(heads).await;
        let _ = connection
            .socket
            .send(Message::Close(why.map(|(code, reason)| CloseFrame { code, reason: reason.into() })))
            .await;
        api.metrics.ws_open.fetch_sub(1, Ordering::Relaxed);
    })
}

struct Connection {
    api: Shared,
    chain: ChainHandle,
    socket: WebSocket,
    peer: SocketAddr,
    subscriptions: Vec<Subscription>,
    made: u64,
}

/// Why a connection ends: a close code and reason, or none (the client left).
type End = Option<(u16, String)>;

impl Connection {
    async fn run(&mut self, mut heads: tokio::sync::broadcast::Receiver<HeadEvent>) -> End {
        loop {
            tokio::select! {
                message = self.socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let answer = self.answer(text.as_bytes()).await;
                        if let Err(end) = self.send(answer).await {
                            return end;
                        }
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let answer = self.answer(&bytes).await;
                        if let Err(end) = self.send(answer).await {
                            return end;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                },
                event = heads.recv() => match event {
                    Ok(event) => {
                        if let Err(end) = self.publish(event).await {
                            return end;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        self.api.metrics.ws_lagged.fetch_add(1, Ordering::Relaxed);
                        return Some((CLOSE_LAGGED, format!("lagged: {missed} heads missed; subscribe again")));
                    }
                    Err(RecvError::Closed) => return Some((1011, "the chain is no longer followed".into())),
                },
            }
        }
    }

    /// Sends `value`; `Err` ends the connection (the client is gone or too slow).
    async fn send(&mut self, value: Value) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(value.to_string().into()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(None),
            Err(_) => {
                self.api.metrics.ws_lagged.fetch_add(1, Ordering::Relaxed);
                Err(Some((CLOSE_LAGGED, "slow consumer: a send blocked too long".into())))
            }
        }
    }

    async fn answer(&mut self, body: &[u8]) -> Value {
        let limit = self.api.weight_limits.ip_per_minute;
        if let Charge::Over(_) = self.api.weights.charge(Counter::Ip(self.peer.ip()), 1, limit, now_ms()) {
            return json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32005, "message": "request weight over the limit" } });
        }
        let request: Value = match serde_json::from_slice(body) {
            Ok(request @ Value::Object(_)) => request,
            // Batches and anything else go the HTTP way.
            _ => return self.chain.server.answer_body(body).await,
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let reply = |result: Result<Value, (i64, String)>| match result {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err((code, message)) => {
                json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
            }
        };
        match request.get("method").and_then(Value::as_str) {
            Some("eth_subscribe") => reply(self.subscribe(&request["params"])),
            Some("eth_unsubscribe") => {
                let before = self.subscriptions.len();
                self.subscriptions.retain(|s| Some(s.id.as_str()) != request["params"][0].as_str());
                reply(Ok(json!(self.subscriptions.len() < before)))
            }
            _ => self.chain.server.answer(&request).await,
        }
    }

    fn subscribe(&mut self, params: &Value) -> Result<Value, (i64, String)> {
        if self.subscriptions.len() >= SUBSCRIPTIONS_MAX {
            return Err((-32005, format!("at most {SUBSCRIPTIONS_MAX} subscriptions per connection")));
        }
        let kind = match params[0].as_str() {
            Some("newHeads") => Kind::NewHeads,
            Some("logs") => {
                let filter = params.get(1).cloned().unwrap_or(json!({}));
                if !filter.is_object() {
                    return Err((-32602, "a logs filter is an object".into()));
                }
                Kind::Logs {
                    criteria: json!({ "address": filter.get("address"), "topics": filter.get("topics") }),
                    sent: BTreeMap::new(),
                }
            }
            _ => return Err((-32602, "subscriptions served: newHeads, logs".into())),
        };
        self.made += 1;
        let id = format!("{:#x}", (now_ms() << 16) ^ self.made);
        self.subscriptions.push(Subscription { id: id.clone(), kind });
        Ok(json!(id))
    }

    /// One head event to every subscription.
    async fn publish(&mut self, event: HeadEvent) -> Result<(), End> {
        let mut out = Vec::new();
        for subscription in &mut self.subscriptions {
            let notify = |result: Value| json!({ "jsonrpc": "2.0", "method": "eth_subscription", "params": { "subscription": subscription.id, "result": result } });
            match (&event, &mut subscription.kind) {
                (HeadEvent::Block { header, .. }, Kind::NewHeads) => out.push(notify(header.clone())),
                (HeadEvent::Block { number, hash, .. }, Kind::Logs { criteria, sent }) => {
                    let mut query = criteria.clone();
                    query["blockHash"] = json!(hash);
                    // A block whose logs cannot be read now is retried with the same hash: the
                    // subscriber gets them late rather than never.
                    let mut logs = None;
                    for _ in 0..3 {
                        if let Ok(Value::Array(read)) = self.chain.pool.read("eth_getLogs", json!([query])).await {
                            logs = Some(read);
                            break;
                        }
                    }
                    let Some(logs) = logs else {
                        return Err(Some((
                            1011,
                            format!("the logs of block {number} could not be read; subscribe again"),
                        )));
                    };
                    for log in &logs {
                        out.push(notify(log.clone()));
                    }
                    sent.insert(*number, logs);
                    while sent.len() > LOG_BLOCKS_HELD {
                        sent.pop_first();
                    }
                }
                (HeadEvent::Reorg { fork }, Kind::Logs { sent, .. }) => {
                    let gone: Vec<u64> = sent.range(fork + 1..).map(|(n, _)| *n).collect();
                    for number in gone.into_iter().rev() {
                        for mut log in sent.remove(&number).unwrap_or_default().into_iter().rev() {
                            log["removed"] = json!(true);
                            out.push(notify(log));
                        }
                    }
                }
                (HeadEvent::Reorg { .. }, Kind::NewHeads) => {}
            }
        }
        for message in out {
            self.send(message).await?;
        }
        Ok(())
    }
}
