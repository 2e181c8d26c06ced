//! The load generator: traders placing, retrying and cancelling orders and asking for
//! withdrawals, deposits credited to them as a chain watcher would, and an operator driving
//! withdrawals to sent and confirmed or failed, all through the failover client, every
//! operation recorded in the history.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outlast_client::{Client, ClientError, Credentials, FailoverPolicy};
use serde_json::Value;

use crate::access::{Access, OperatorClient};
use crate::history::{Op, OpKind, OpResult};

/// Load settings.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Concurrent traders (accounts 101, 102, … on a fresh cluster).
    pub traders: u64,
    /// Most operations per trader (keeps every order within the history the API keeps).
    pub ops_per_trader_max: u64,
    /// Pause between a trader's operations.
    pub think: Duration,
    /// Where withdrawals go: an address on the lab chain when the run has one (custody pays
    /// them there), else a made-up one an operator moves by hand (`drive_withdrawals`).
    pub withdraw_to: Option<String>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig { traders: 8, ops_per_trader_max: 800, think: Duration::from_millis(20), withdraw_to: None }
    }
}

/// A trader: its account and key.
#[derive(Clone, Debug)]
pub struct Trader {
    /// Account id.
    pub account: u64,
    /// API key.
    pub credentials: Credentials,
}

/// The first trader account.
pub const FIRST_TRADER: u64 = 101;

fn p(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Opens and funds `count` new trader accounts, numbered from `FIRST_TRADER` or after the
/// highest account the exchange has, so a rehearsal on a cluster that already traded (an
/// attached `up`, a second run) starts with empty order histories of its own; creates their keys.
pub async fn open_traders(operator: &OperatorClient, count: u64) -> Result<Vec<Trader>, ClientError> {
    let audit = operator.call("GET", "/operator/v1/audit", &[]).await?;
    let first = audit["lastAccountId"].as_u64().map_or(FIRST_TRADER, |last| (last + 1).max(FIRST_TRADER));
    let mut traders = Vec::new();
    for account in first..first + count {
        let a = account.to_string();
        operator.call("POST", "/operator/v1/accounts", &p(&[("account", &a)])).await?;
        for (coin, amount) in [("USDT", "10000000"), ("BTC", "200")] {
            let tx = format!("chaos-{account}-{coin}");
            operator
                .call(
                    "POST",
                    "/operator/v1/deposits",
                    &p(&[("account", &a), ("coin", coin), ("amount", amount), ("txId", &tx)]),
                )
                .await?;
        }
        let key = format!("ChaosTrader{account:021}");
        let created = operator
            .call(
                "POST",
                "/operator/v1/apiKeys",
                &p(&[("account", &a), ("apiKey", &key), ("enableWithdrawals", "true")]),
            )
            .await?;
        let secret = created["secretKey"].as_str().unwrap_or_default().to_string();
        traders.push(Trader { account, credentials: Credentials { key, secret } });
    }
    Ok(traders)
}

/// The shared recorder.
#[derive(Debug, Default)]
pub struct Recorder {
    ops: Mutex<Vec<Op>>,
    next: AtomicU64,
}

impl Recorder {
    fn record(&self, mut op: Op) -> Op {
        op.id = self.next.fetch_add(1, Ordering::Relaxed);
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).push(op.clone());
        op
    }

    /// Marks the stream window `id` quiet: the connection was open and delivered nothing.
    fn mark_quiet(&self, id: u64) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(op) = ops.iter_mut().rev().find(|op| op.id == id) {
            op.seen = Some(QUIET.to_string());
        }
    }

    /// Every operation so far, in completion order.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A small deterministic generator per trader.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn classify(result: &Result<Value, ClientError>) -> OpResult {
    match result {
        Ok(_) => OpResult::Ok,
        Err(ClientError::Exchange { code, .. }) => OpResult::Fail(*code),
        Err(_) => OpResult::Unknown,
    }
}

/// Runs one trader until `stop`, through `access`; deposits to it are credited as the operator.
pub async fn trade(
    trader: Trader,
    access: Access,
    config: LoadConfig,
    started: Instant,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    // Spread traders over nodes: each starts on a different endpoint.
    let mut ids = access.ids().to_vec();
    let first = (trader.account as usize) % ids.len();
    ids.rotate_left(first);
    let policy = FailoverPolicy { budget: Duration::from_secs(5), ..FailoverPolicy::default() };
    let rotated = ids.iter().map(|id| access.endpoint(*id)).collect();
    let client = access.client(rotated, Some(trader.credentials.clone()), policy.clone());
    let operator = access.operator(&ids, policy);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ trader.account);
    let mut open: Vec<String> = Vec::new();
    let elapsed = |at: Instant| at.duration_since(started).as_millis() as u64;
    for n in 0..config.ops_per_trader_max {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let roll = rng.below(100);
        let invoked = Instant::now();
        let (kind, client_id, result) = if roll < 15 && !open.is_empty() {
            let client_id = open.swap_remove(rng.below(open.len() as u64) as usize);
            let result = client.cancel_order("BTCUSDT", None, Some(&client_id)).await;
            (OpKind::Cancel, client_id, result)
        } else if roll < 19 {
            let client_id = format!("d-{}-{n}", trader.account);
            let a = trader.account.to_string();
            let params = p(&[("account", &a), ("coin", "USDT"), ("amount", "5"), ("txId", &client_id)]);
            let result = operator.call("POST", "/operator/v1/deposits", &params).await;
            let done = elapsed(Instant::now());
            let at = operator.current();
            recorder.record(op(&trader, OpKind::Deposit, &client_id, &result, elapsed(invoked), done, at));
            tokio::time::sleep(config.think).await;
            continue;
        } else if roll < 23 {
            let client_id = format!("w-{}-{n}", trader.account);
            let address = config.withdraw_to.as_deref().unwrap_or("0xchaos");
            let params = p(&[("coin", "USDT"), ("address", address), ("amount", "1"), ("withdrawOrderId", &client_id)]);
            (
                OpKind::Withdraw,
                client_id.clone(),
                client.signed("POST", "/sapi/v1/capital/withdraw/apply", &params).await,
            )
        } else {
            let client_id = format!("o-{}-{n}", trader.account);
            let side = if rng.below(2) == 0 { "BUY" } else { "SELL" };
            // Around 60,000, so that some orders cross and trade.
            let price = (59_900 + rng.below(200)).to_string();
            let order = p(&[
                ("symbol", "BTCUSDT"),
                ("side", side),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "0.01"),
                ("price", &price),
                ("newClientOrderId", &client_id),
            ]);
            let result = client.place_order(&order).await;
            if result.is_ok() {
                open.push(client_id.clone());
                // Probe idempotency: every tenth acknowledged order is sent again as is.
                if n % 10 == 0 {
                    recorder.record(op(
                        &trader,
                        OpKind::Place,
                        &client_id,
                        &result,
                        elapsed(invoked),
                        elapsed(Instant::now()),
                        client.current(),
                    ));
                    let again_at = Instant::now();
                    let again = client.place_order(&order).await;
                    recorder.record(op(
                        &trader,
                        OpKind::Retry,
                        &client_id,
                        &again,
                        elapsed(again_at),
                        elapsed(Instant::now()),
                        client.current(),
                    ));
                    tokio::time::sleep(config.think).await;
                    continue;
                }
            }
            (OpKind::Place, client_id, result)
        };
        recorder.record(op(
            &trader,
            kind,
            &client_id,
            &result,
            elapsed(invoked),
            elapsed(Instant::now()),
            client.current(),
        ));
        tokio::time::sleep(config.think).await;
    }
}

fn op(
    trader: &Trader,
    kind: OpKind,
    client_id: &str,
    result: &Result<Value, ClientError>,
    invoke_ms: u64,
    complete_ms: u64,
    endpoint: &str,
) -> Op {
    Op {
        id: 0,
        account: trader.account,
        kind,
        client_id: client_id.to_string(),
        order_id: result.as_ref().ok().and_then(|v| v["orderId"].as_u64()),
        invoke_ms,
        complete_ms,
        endpoint: endpoint.to_string(),
        result: classify(result),
        seen: None,
    }
}

/// How often each node is asked to read back an acknowledged write.
pub const READ_PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// The read prober: every `READ_PROBE_INTERVAL`, asks one node (`endpoint` alone, no failover)
/// for the order of the latest acknowledged order or cancel of the next trader in turn, and for
/// the order book, and records what it answered. Run one per node, from before the first fault until `stop`; the
/// checker calls a read stale when it misses a write acknowledged before it began.
pub async fn probe_reads(
    access: Access,
    endpoint: String,
    traders: Vec<Trader>,
    started: Instant,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    // One attempt, a little longer than a node takes to catch up before it answers or refuses.
    let policy = FailoverPolicy {
        attempt_timeout: Duration::from_millis(1500),
        budget: Duration::from_millis(1500),
        attempts_max: 1,
        ..FailoverPolicy::default()
    };
    let clients: Vec<Client> = traders
        .iter()
        .map(|t| access.client(vec![endpoint.clone()], Some(t.credentials.clone()), policy.clone()))
        .collect();
    let elapsed = |at: Instant| at.duration_since(started).as_millis() as u64;
    for turn in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let next = tokio::time::Instant::now() + READ_PROBE_INTERVAL;
        let trader = &traders[turn % traders.len()];
        let acknowledged = recorder.ops().into_iter().rev().find(|o| {
            o.account == trader.account && o.result == OpResult::Ok && matches!(o.kind, OpKind::Place | OpKind::Cancel)
        });
        if let Some(target) = acknowledged {
            let invoked = Instant::now();
            let params = [("symbol", "BTCUSDT".to_string()), ("origClientOrderId", target.client_id.clone())];
            let result = clients[turn % traders.len()].signed("GET", "/api/v3/order", &params).await;
            let mut read = op(
                trader,
                OpKind::Read,
                &target.client_id,
                &result,
                elapsed(invoked),
                elapsed(Instant::now()),
                &endpoint,
            );
            read.seen = result.as_ref().ok().and_then(|v| v["status"].as_str()).map(str::to_string);
            recorder.record(read);
        }
        let invoked = Instant::now();
        let params = [("symbol", "BTCUSDT".to_string()), ("limit", "5".to_string())];
        let result = clients[turn % traders.len()].public("GET", "/api/v3/depth", &params).await;
        let depth =
            op(trader, OpKind::MarketData, "depth", &result, elapsed(invoked), elapsed(Instant::now()), &endpoint);
        recorder.record(depth);
        tokio::time::sleep_until(next).await;
    }
}

/// The operator's side: marks requested withdrawals sent, then confirmed (every fifth failed),
/// until `stop`; not those of the coins in `on_chain`, which custody pays. Errors are retried
/// on the next round.
pub async fn drive_withdrawals(access: Access, on_chain: Vec<String>, stop: Arc<AtomicBool>) {
    let policy = FailoverPolicy { budget: Duration::from_secs(3), ..FailoverPolicy::default() };
    let client = access.operator_all(policy);
    while !stop.load(Ordering::Relaxed) {
        for status in ["REQUESTED", "SENT"] {
            let Ok(list) =
                client.call("GET", "/operator/v1/withdrawals", &p(&[("status", status), ("limit", "200")])).await
            else {
                continue;
            };
            for w in list.as_array().into_iter().flatten() {
                let Some(id) = w["id"].as_u64() else { continue };
                if on_chain.iter().any(|coin| w["coin"] == coin.as_str()) {
                    continue;
                }
                let id_text = id.to_string();
                let (path, params) = match (status, id % 5) {
                    ("REQUESTED", _) => {
                        ("/operator/v1/withdrawals/sent", p(&[("id", &id_text), ("txId", &format!("0xchain{id}"))]))
                    }
                    (_, 0) => ("/operator/v1/withdrawals/failed", p(&[("id", &id_text)])),
                    _ => ("/operator/v1/withdrawals/confirmed", p(&[("id", &id_text)])),
                };
                let _ = client.call("POST", path, &params).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a stream window that delivered nothing is marked `seen`.
pub const QUIET: &str = "quiet";

/// The stream prober: keeps one depth stream open on one node (`endpoint`, an `http(s)://` origin, trusted as `access` says)
/// and records every `READ_PROBE_INTERVAL` of it, marked `QUIET` if it delivered no update; a
/// connection that cannot be made within a second, or that ends, is denied. A quiet window is
/// judged against the other nodes' (`functions`): with no commits there is nothing to send,
/// but a node whose stream is quiet while another's delivers has stopped serving it (paused,
/// cut off). Runs until `stop`.
pub async fn probe_stream(
    access: Access,
    endpoint: String,
    started: Instant,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    use futures_util::StreamExt;
    let elapsed = |at: Instant| at.duration_since(started).as_millis() as u64;
    let url = format!("{}/ws/btcusdt@depth@100ms", endpoint.replacen("http", "ws", 1));
    let tls = access.stream_tls();
    let record = |kind_result: OpResult, from: Instant| -> u64 {
        recorder
            .record(Op {
                id: 0,
                account: 0,
                kind: OpKind::Stream,
                client_id: "depth".into(),
                order_id: None,
                invoke_ms: elapsed(from),
                complete_ms: elapsed(Instant::now()),
                endpoint: endpoint.clone(),
                result: kind_result,
                seen: None,
            })
            .id
    };
    while !stop.load(Ordering::Relaxed) {
        let attempt = Instant::now();
        let connected = outlast_client::connect_websocket(&url, tls.as_ref(), Duration::from_secs(1)).await;
        let Ok(mut socket) = connected else {
            record(OpResult::Fail(-1001), attempt);
            tokio::time::sleep(READ_PROBE_INTERVAL).await;
            continue;
        };
        let mut window = Instant::now();
        let mut updates = 0u32;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let left = READ_PROBE_INTERVAL.saturating_sub(window.elapsed());
            match tokio::time::timeout(left, socket.next()).await {
                Ok(Some(Ok(message))) => updates += u32::from(message.is_text()),
                // Closed or broken: the stream ended under the client.
                Ok(_) => {
                    record(OpResult::Unknown, window);
                    break;
                }
                Err(_) => {
                    let quiet = record(OpResult::Ok, window);
                    if updates == 0 {
                        recorder.mark_quiet(quiet);
                    }
                    (window, updates) = (Instant::now(), 0);
                }
            }
        }
    }
}

/// Time between two of the customer's deposits on the lab chain.
pub const CHAIN_DEPOSIT_INTERVAL: Duration = Duration::from_millis(300);
/// What each of them pays, in the token's smallest unit (0.25 USDT).
pub const CHAIN_DEPOSIT_UNITS: u64 = 250_000;

/// The customer's side on the lab chain: pays the traders' deposit `addresses` in turn through
/// the devnet itself, until `stop`. Nothing is recorded: the checker reconciles the ledger with
/// what the canonical chain holds (a reorg may take a deposit away, and that one must never be
/// credited).
pub async fn pay_deposits(
    rpc: outlast_chain::rpc::Rpc,
    token: outlast_chain::Address,
    addresses: Vec<outlast_chain::Address>,
    stop: Arc<AtomicBool>,
) {
    for to in addresses.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Err(why) = crate::chain::customer_sends(&rpc, token, *to, CHAIN_DEPOSIT_UNITS).await {
            tracing::debug!("a deposit was not sent: {why}");
        }
        tokio::time::sleep(CHAIN_DEPOSIT_INTERVAL).await;
    }
}
