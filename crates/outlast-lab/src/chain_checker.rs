//! The checker's reconciliation with the chain itself, for a chaos run on the lab chain.
//!
//! After the load stops and custody settles, the devnet's canonical chain (read from the devnet,
//! never through a provider's proxy: the proxies are what the faults break) must match the
//! ledger, for the test token the load moves:
//! - every CONFIRMED withdrawal is one mined, successful transaction of the hot wallet whose one
//!   `Transfer` pays the withdrawal's address its amount; no two withdrawals name one
//!   transaction;
//! - every token transfer the hot wallet made during the run is some CONFIRMED withdrawal's
//!   transaction: a second transaction for a withdrawal (another nonce), or a payment for one
//!   the ledger failed and refunded, is money gone twice; nothing of the hot wallet's is still
//!   pending, and its nonce on chain is the ledger's next one;
//! - every transfer to a trader's deposit address on the canonical chain is credited exactly
//!   once, with its amount, and nothing else is credited from the chain (a deposit a reorg took
//!   away never is);
//! - the hot wallet's balance on chain moved by exactly what the ledger paid out, and each
//!   deposit address holds exactly what the ledger credited to it.
//!
//! Must never: read the chain through a provider, or judge before every withdrawal of the run
//! is settled and the ledger's checkpoint has passed the last deposit (it would report what is
//! merely late as lost).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use outlast_chain::erc20::TRANSFER_TOPIC;
use outlast_chain::rpc::{quantity, Rpc};
use outlast_chain::{Address, B256, U256};
use outlast_client::FailoverPolicy;
use serde_json::{json, Value};

use crate::access::Access;
use crate::checker::Verdict;
use crate::load::Trader;

/// How long custody may take to settle every withdrawal of the run once the load stops.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(120);
/// How long the ledger's checkpoint may take to pass the chain's head once deposits stop.
const CREDIT_DEADLINE: Duration = Duration::from_secs(60);
/// Most failure lines of one kind in a verdict (a planted bug would drown the report).
const LINES_PER_KIND_MAX: usize = 5;

/// What the reconciliation needs to know of a run on the lab chain, taken before its load.
pub struct ChainRun {
    /// The devnet itself.
    pub rpc: Rpc,
    /// The chain's name in the ledger (deposit keys start with it).
    pub chain: String,
    /// The token the load moves, its symbol, and its decimals on chain.
    pub token: Address,
    /// Its symbol in the ledger.
    pub coin: String,
    /// Its decimals on chain.
    pub decimals: u32,
    /// The hot wallet.
    pub hot: Address,
    /// The hot wallet's token balance when the run began.
    pub hot_balance: U256,
    /// The first block of the run (the chain before it is not judged).
    pub first_block: u64,
    /// The highest withdrawal id before the run (those are not the run's).
    pub withdrawals_before: u64,
    /// Each trader's account, deposit address and that address's balance when the run began.
    pub deposit_addresses: Vec<(u64, Address, U256)>,
}

fn word(address: Address) -> B256 {
    address.into_word()
}

/// A decimal amount as the API writes it ("0.25000000") in units of `decimals` places.
pub fn to_units(text: &str, decimals: u32) -> Option<U256> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > decimals as usize || whole.is_empty() {
        return None;
    }
    let digits = format!("{whole}{fraction:0<width$}", width = decimals as usize);
    U256::from_str_radix(&digits, 10).ok()
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> Result<T, String> {
    serde_json::from_value(value[name].clone()).map_err(|e| format!("{name}: {e} in {value}"))
}

/// The token balance of `owner` at the chain's head.
async fn token_balance(rpc: &Rpc, token: Address, owner: Address) -> Result<U256, String> {
    rpc.erc20_balance(token, owner).await.map_err(|e| e.to_string())
}

impl ChainRun {
    /// Takes the chain's state for the run about to begin: waits (bounded) until every
    /// withdrawal made before it is settled, so the hot wallet's balance is the run's start.
    pub async fn begin(
        access: &Access,
        chain: &crate::chain::LabChain,
        traders: &[Trader],
    ) -> Result<ChainRun, String> {
        let config = chain.config();
        let asset =
            config.assets.iter().find(|a| a.token == Some(chain.token())).ok_or("the lab chain has no token")?;
        let rpc = chain.rpc();
        let coin = asset.symbol.clone();
        // Deposits count from the checkpoint the leader's custody sets up: none may be sent before.
        let started = Instant::now();
        while checkpoint(access, &config.name).await.is_none() {
            if started.elapsed() > CREDIT_DEADLINE {
                return Err(format!("custody did not set {} up within {CREDIT_DEADLINE:?}", config.name));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let withdrawals = settled(access, &coin, 0, SETTLE_DEADLINE).await?;
        let withdrawals_before = withdrawals.iter().filter_map(|w| w["id"].as_u64()).max().unwrap_or(0);
        let mut deposit_addresses = Vec::new();
        for trader in traders {
            let address = chain.deposit_address(trader.account)?;
            deposit_addresses.push((trader.account, address, token_balance(&rpc, chain.token(), address).await?));
        }
        Ok(ChainRun {
            first_block: rpc.block_number().await.map_err(|e| e.to_string())?,
            hot_balance: token_balance(&rpc, chain.token(), chain.hot_wallet()).await?,
            rpc,
            chain: config.name.clone(),
            token: chain.token(),
            coin,
            decimals: u32::from(asset.decimals),
            hot: chain.hot_wallet(),
            withdrawals_before,
            deposit_addresses,
        })
    }
}

/// Waits (bounded) until no withdrawal of `coin` after `after` is on its way (requested,
/// awaiting approval, or sent); returns those withdrawals, every one settled.
async fn settled(access: &Access, coin: &str, after: u64, deadline: Duration) -> Result<Vec<Value>, String> {
    let operator = access.operator_all(FailoverPolicy::default());
    let started = Instant::now();
    loop {
        let listed = operator
            .call("GET", "/operator/v1/withdrawals", &[("limit", "10000".into())])
            .await
            .map_err(|e| format!("listing withdrawals: {e}"))?;
        let ours: Vec<Value> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w["coin"] == coin && w["id"].as_u64().is_some_and(|id| id > after))
            .cloned()
            .collect();
        let moving: Vec<u64> = ours
            .iter()
            .filter(|w| !matches!(w["status"].as_str(), Some("CONFIRMED" | "FAILED")))
            .filter_map(|w| w["id"].as_u64())
            .collect();
        if moving.is_empty() {
            return Ok(ours);
        }
        if started.elapsed() > deadline {
            return Err(format!(
                "{} {coin} withdrawals still on their way after {deadline:?} (ids {:?}...)",
                moving.len(),
                &moving[..moving.len().min(LINES_PER_KIND_MAX)]
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits (bounded) until the customer's deposits are all mined and the ledger's checkpoint has
/// passed the head they were mined under; returns the checkpoint.
async fn credited_through_head(access: &Access, run: &ChainRun) -> Result<u64, String> {
    let started = Instant::now();
    let customer = crate::chain::customer();
    let count = async |tag: &str| {
        run.rpc.call::<U256>("eth_getTransactionCount", json!([customer, tag])).await.map_err(|e| e.to_string())
    };
    while count("pending").await? != count("latest").await? {
        if started.elapsed() > CREDIT_DEADLINE {
            return Err("the customer's deposits were not all mined".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let head = run.rpc.block_number().await.map_err(|e| e.to_string())?;
    let mut last = None;
    while started.elapsed() < CREDIT_DEADLINE {
        let checkpoint = checkpoint(access, &run.chain).await;
        if let Some(checkpoint) = checkpoint.filter(|c| *c >= head) {
            return Ok(checkpoint);
        }
        last = checkpoint;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("the ledger's checkpoint on {} stayed at {last:?}, short of block {head}", run.chain))
}

/// The ledger's checkpoint on `chain` (None if not set up, or unreadable).
pub(crate) async fn checkpoint(access: &Access, chain: &str) -> Option<u64> {
    chain_view(access, chain).await?["checkpointBlock"].as_u64()
}

/// The cluster's view of `chain` (None if unreadable).
async fn chain_view(access: &Access, chain: &str) -> Option<Value> {
    let operator = access.operator_all(FailoverPolicy::default());
    let view = operator.call("GET", "/operator/v1/cluster", &[]).await.ok()?;
    view["chains"].as_array()?.iter().find(|c| c["name"] == chain).cloned()
}

/// `address`'s transaction count at `tag` ("latest": mined; "pending": sent too).
async fn nonce(rpc: &Rpc, address: Address, tag: &str) -> Result<u64, String> {
    let count: U256 = rpc.call("eth_getTransactionCount", json!([address, tag])).await.map_err(|e| e.to_string())?;
    u64::try_from(count).map_err(|_| format!("a nonce past u64: {count}"))
}

/// The token's transfers in `from..=to` with `topics` (after the event's own), from the devnet.
async fn transfers(run: &ChainRun, from: u64, to: u64, topics: Value) -> Result<Vec<Value>, String> {
    let mut all = vec![json!(TRANSFER_TOPIC)];
    all.extend(topics.as_array().cloned().unwrap_or_default());
    let filter = json!([{ "address": run.token, "fromBlock": quantity(from), "toBlock": quantity(to), "topics": all }]);
    run.rpc.call::<Vec<Value>>("eth_getLogs", filter).await.map_err(|e| format!("eth_getLogs: {e}"))
}

/// A `Transfer` log's (from, to, value).
fn transfer_of(log: &Value) -> Result<(Address, Address, U256), String> {
    let topics: Vec<B256> = field(log, "topics")?;
    let data: outlast_chain::Bytes = field(log, "data")?;
    if topics.len() != 3 || data.len() != 32 {
        return Err(format!("not a token Transfer: {log}"));
    }
    Ok((Address::from_word(topics[1]), Address::from_word(topics[2]), U256::from_be_slice(&data)))
}

/// Reconciles the ledger with the chain (see the module doc); failures go into `verdict`.
pub async fn reconcile(verdict: &mut Verdict, access: &Access, run: &ChainRun, traders: &[Trader]) {
    let mut failures = Failures::default();
    if let Err(why) = reconcile_or_fail(verdict, &mut failures, access, run, traders).await {
        failures.add("unjudged", format!("could not finish: {why}"));
    }
    verdict.failures.extend(failures.lines());
    verdict.pass = verdict.failures.is_empty();
}

async fn reconcile_or_fail(
    verdict: &mut Verdict,
    failures: &mut Failures,
    access: &Access,
    run: &ChainRun,
    traders: &[Trader],
) -> Result<(), String> {
    let withdrawals = settled(access, &run.coin, run.withdrawals_before, SETTLE_DEADLINE).await?;
    // A checkpoint that stopped short (custody refused a reorg deeper than its confirmations)
    // is a failure, and the deposits up to where it stopped are still judged.
    let checkpoint = match credited_through_head(access, run).await {
        Ok(checkpoint) => checkpoint,
        Err(why) => {
            failures.add("deposit", why);
            checkpoint(access, &run.chain).await.ok_or("the ledger has no checkpoint on the chain")?
        }
    };
    // Nothing of the hot wallet's may still be on its way to being mined (a second payment sent
    // and not yet mined would pass every check below), and every nonce the ledger reserved is
    // spent on chain, none beyond.
    let started = Instant::now();
    let (mined, pending) = loop {
        let mined = nonce(&run.rpc, run.hot, "latest").await?;
        let pending = nonce(&run.rpc, run.hot, "pending").await?;
        if mined == pending || started.elapsed() > CREDIT_DEADLINE {
            break (mined, pending);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if mined != pending {
        failures.add(
            "nonce",
            format!("the hot wallet still has transactions pending (nonce {mined} mined, {pending} sent)"),
        );
    }
    let reserved = chain_view(access, &run.chain).await.and_then(|c| c["nextNonce"].as_u64());
    if reserved != Some(mined) {
        failures.add(
            "nonce",
            format!("the hot wallet's nonce on chain is {mined}; the ledger reserved up to {reserved:?}"),
        );
    }
    let head = run.rpc.block_number().await.map_err(|e| e.to_string())?;

    // Withdrawals: each confirmed one is its own mined payment, exactly as asked.
    let mut paid_by: BTreeMap<B256, u64> = BTreeMap::new();
    let mut paid_out = U256::ZERO;
    for w in &withdrawals {
        let id = w["id"].as_u64().unwrap_or(0);
        let tx: Option<B256> = w["txId"].as_str().and_then(|t| t.parse().ok());
        let receipt = match tx {
            Some(tx) => {
                run.rpc.call::<Value>("eth_getTransactionReceipt", json!([tx])).await.map_err(|e| e.to_string())?
            }
            None => Value::Null,
        };
        let payments: Vec<(Address, Address, U256)> = receipt["logs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|log| log["address"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(run.token))
            .filter_map(|log| transfer_of(log).ok())
            .filter(|(from, _, _)| *from == run.hot)
            .collect();
        let succeeded = receipt["status"] == "0x1";
        match w["status"].as_str() {
            Some("CONFIRMED") => {
                verdict.chain_withdrawals_confirmed += 1;
                let (Some(tx), true) = (tx, succeeded) else {
                    failures.add(
                        "confirmed",
                        format!("withdrawal {id} is CONFIRMED with no successful transaction mined ({})", w["txId"]),
                    );
                    continue;
                };
                if let Some(other) = paid_by.insert(tx, id) {
                    failures.add("confirmed", format!("withdrawals {other} and {id} name one transaction {tx}"));
                }
                let to: Option<Address> = w["address"].as_str().and_then(|a| a.parse().ok());
                let amount = w["amount"].as_str().and_then(|a| to_units(a, run.decimals));
                match (payments.as_slice(), to, amount) {
                    ([(_, paid_to, paid)], Some(to), Some(amount)) if *paid_to == to && *paid == amount => {
                        paid_out += amount
                    }
                    _ => failures.add(
                        "confirmed",
                        format!("withdrawal {id} ({} to {}) was paid {payments:?} by {tx}", w["amount"], w["address"]),
                    ),
                }
            }
            _ => {
                verdict.chain_withdrawals_failed += 1;
                if succeeded && !payments.is_empty() {
                    failures.add("refunded", format!("withdrawal {id} was refunded, yet {} paid it", w["txId"]));
                }
            }
        }
    }

    // Every token payment of the hot wallet during the run belongs to one confirmed withdrawal.
    let outgoing = transfers(run, run.first_block + 1, head, json!([word(run.hot)])).await?;
    for log in &outgoing {
        let tx: B256 = field(log, "transactionHash")?;
        if !paid_by.contains_key(&tx) {
            let (_, to, value) = transfer_of(log)?;
            failures.add(
                "unowned",
                format!("the hot wallet paid {value} to {to} in {tx}, which no confirmed withdrawal names"),
            );
        }
    }
    verdict.chain_payments_mined = outgoing.len();

    // Deposits: every canonical transfer to a deposit address credited once, nothing else.
    let owners: BTreeMap<Address, u64> =
        run.deposit_addresses.iter().map(|(account, address, _)| (*address, *account)).collect();
    let words: Vec<B256> = owners.keys().map(|a| word(*a)).collect();
    let incoming = transfers(run, run.first_block + 1, checkpoint, json!([null, words])).await?;
    let mut canonical: BTreeMap<String, (u64, U256)> = BTreeMap::new();
    for log in &incoming {
        let (_, to, value) = transfer_of(log)?;
        let tx: B256 = field(log, "transactionHash")?;
        let index = u32::try_from(field::<U256>(log, "logIndex")?).map_err(|_| "a log index past u32")?;
        let key = outlast_engine::deposit_key(&run.chain, &tx.0, index);
        canonical.insert(key, (owners.get(&to).copied().unwrap_or(0), value));
    }
    verdict.chain_deposits = canonical.len();
    let mut credited_to: BTreeMap<u64, U256> = BTreeMap::new();
    let mut credited: BTreeMap<String, usize> = BTreeMap::new();
    for trader in traders {
        let client = access.client(access.endpoints(), Some(trader.credentials.clone()), FailoverPolicy::default());
        let history = client
            .signed("GET", "/sapi/v1/capital/deposit/hisrec", &[("coin", run.coin.clone()), ("limit", "1000".into())])
            .await
            .map_err(|e| format!("account {}: deposit history: {e}", trader.account))?;
        for d in history.as_array().into_iter().flatten() {
            let Some(key) = d["txId"].as_str().filter(|k| k.starts_with(&format!("{}:", run.chain))) else { continue };
            *credited.entry(key.to_string()).or_default() += 1;
            let amount = d["amount"].as_str().and_then(|a| to_units(a, run.decimals)).unwrap_or_default();
            *credited_to.entry(trader.account).or_default() += amount;
            match canonical.get(key) {
                None => failures.add(
                    "deposit",
                    format!("account {} was credited {key}, which is not on the canonical chain", trader.account),
                ),
                Some((account, value)) if *account != trader.account || *value != amount => failures.add(
                    "deposit",
                    format!(
                        "account {} was credited {amount} for {key}; the chain paid {value} to account {account}",
                        trader.account
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    for (key, (account, value)) in &canonical {
        match credited.get(key).copied().unwrap_or(0) {
            1 => {}
            0 => failures.add("deposit", format!("account {account}'s deposit {key} of {value} was never credited")),
            n => failures.add("deposit", format!("account {account}'s deposit {key} was credited {n} times")),
        }
    }

    // Balances on chain against the ledger.
    let hot_now = token_balance(&run.rpc, run.token, run.hot).await?;
    if run.hot_balance.checked_sub(paid_out) != Some(hot_now) {
        failures.add(
            "balance",
            format!(
                "the hot wallet holds {hot_now} on chain; the ledger paid out {paid_out} of {} since the run began",
                run.hot_balance
            ),
        );
    }
    for (account, address, before) in &run.deposit_addresses {
        let now = token_balance(&run.rpc, run.token, *address).await?;
        let credited = credited_to.get(account).copied().unwrap_or_default();
        if now.checked_sub(*before) != Some(credited) {
            failures.add(
                "balance",
                format!(
                    "account {account}'s deposit address received {} on chain; the ledger credited {credited}",
                    now.saturating_sub(*before)
                ),
            );
        }
    }
    Ok(())
}

/// Failure lines, the first few of each kind, and a count of the rest.
#[derive(Default)]
struct Failures {
    by_kind: BTreeMap<&'static str, (Vec<String>, usize)>,
}

impl Failures {
    fn add(&mut self, kind: &'static str, line: String) {
        let (lines, count) = self.by_kind.entry(kind).or_default();
        *count += 1;
        if lines.len() < LINES_PER_KIND_MAX {
            lines.push(format!("chain: {line}"));
        }
    }

    fn lines(self) -> Vec<String> {
        let mut out = Vec::new();
        for (kind, (lines, count)) in self.by_kind {
            out.extend(lines);
            if count > LINES_PER_KIND_MAX {
                out.push(format!("chain: {count} {kind} discrepancies in all"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_become_chain_units_and_finer_ones_are_refused() {
        assert_eq!(to_units("0.25000000", 6), Some(U256::from(250_000u64)));
        assert_eq!(to_units("12", 6), Some(U256::from(12_000_000u64)));
        assert_eq!(to_units("1.5", 0), None);
        assert_eq!(to_units("0.0000001", 6), None);
        assert_eq!(to_units(".5", 6), None);
    }
}
