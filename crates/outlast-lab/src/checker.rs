//! The checker: after the faults heal and the cluster settles, did the exchange keep every
//! promise?
//!
//! - every replica converged: the same applied index and digest on every node;
//! - every engine invariant holds (conservation per asset, locks, books) on every node;
//! - every acknowledged order and withdrawal is in the final state (acknowledged ops lost: RPO);
//! - nothing took effect twice: one order per client order id, one withdrawal per withdrawal id,
//!   and every retry returned the original order;
//! - a refused operation left no trace;
//! - every unknown outcome is resolved to exactly one of applied / not applied;
//! - no read was stale: every order a node answered about reflected each write to it that had
//!   been acknowledged before the read began (it existed; a cancel had taken effect). A node may
//!   refuse to answer (-1001) — that is honest — but never answer from a state that is behind.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use outlast_client::{Client, FailoverPolicy};
use serde::Serialize;
use serde_json::Value;

use crate::access::Access;
use crate::history::{Op, OpKind, OpResult};
use crate::load::Trader;

/// What the checker found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    /// PASS if every check held.
    pub pass: bool,
    /// Why not, one line per broken promise.
    pub failures: Vec<String>,
    /// Acknowledged operations.
    pub acknowledged: usize,
    /// Acknowledged operations missing from the final state.
    pub lost: usize,
    /// Operations applied more than once.
    pub duplicated: usize,
    /// Unknown outcomes found applied.
    pub unknown_applied: usize,
    /// Unknown outcomes found not applied.
    pub unknown_not_applied: usize,
    /// Refused operations.
    pub refused: usize,
    /// Reads answered (the read probes').
    pub reads: usize,
    /// Reads a node refused or did not answer (not caught up, cut off, down).
    pub reads_refused: usize,
    /// Reads that missed a write acknowledged before they began.
    pub stale_reads: usize,
    /// The converged digest.
    pub digest: String,
    /// The converged applied index.
    pub applied_index: u64,
    /// On the lab chain (chain scenarios): withdrawals confirmed, each reconciled with its
    /// mined payment.
    pub chain_withdrawals_confirmed: usize,
    /// On the lab chain: withdrawals failed (refunded), none of them paid.
    pub chain_withdrawals_failed: usize,
    /// On the lab chain: the hot wallet's token payments mined during the run.
    pub chain_payments_mined: usize,
    /// On the lab chain: deposits on the canonical chain, each credited once.
    pub chain_deposits: usize,
}

/// Waits (bounded) until every node reports the same applied index and digest; returns their
/// audits (or why not).
pub async fn converge(access: &Access, deadline: Duration) -> Result<Vec<Value>, String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < deadline {
        let mut audits = Vec::new();
        for id in access.ids() {
            let client = access.operator(&[*id], crate::up::quick_policy());
            match client.call("GET", "/operator/v1/audit", &[]).await {
                Ok(audit) => audits.push(audit),
                Err(error) => {
                    last = format!("node {id}: {error}");
                    break;
                }
            }
        }
        if audits.len() == access.ids().len() {
            let first = (&audits[0]["appliedIndex"], &audits[0]["digest"]);
            if audits.iter().all(|a| (&a["appliedIndex"], &a["digest"]) == first) {
                return Ok(audits);
            }
            last = audits
                .iter()
                .map(|a| {
                    format!(
                        "node {} at {} {}",
                        a["node"],
                        a["appliedIndex"],
                        &a["digest"].as_str().unwrap_or("")[..8.min(a["digest"].as_str().unwrap_or("").len())]
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("replicas did not converge within {deadline:?}: {last}"))
}

/// Checks the history against the settled cluster.
pub async fn check(access: &Access, traders: &[Trader], ops: &[Op]) -> Verdict {
    let mut verdict = Verdict::default();
    check_replicas(&mut verdict, access).await;
    check_reads(&mut verdict, ops);
    for trader in traders {
        let client = access.client(access.endpoints(), Some(trader.credentials.clone()), FailoverPolicy::default());
        match final_state(&client).await {
            Some(held) => check_account(&mut verdict, trader.account, &held, ops),
            None => verdict.failures.push(format!("account {}: final state unreadable", trader.account)),
        }
    }
    verdict.pass = verdict.failures.is_empty();
    verdict
}

/// Every read saw every write to its order acknowledged before the read was invoked: the order
/// existed once its placement was acknowledged, and was no longer open once a cancel of it was.
fn check_reads(verdict: &mut Verdict, ops: &[Op]) {
    // When each order's placement and cancel were first acknowledged, by (account, client id).
    let mut placed: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    let mut canceled: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.result == OpResult::Ok) {
        let acknowledged = match op.kind {
            OpKind::Place | OpKind::Retry => &mut placed,
            OpKind::Cancel => &mut canceled,
            _ => continue,
        };
        let at = acknowledged.entry((op.account, op.client_id.as_str())).or_insert(op.complete_ms);
        *at = (*at).min(op.complete_ms);
    }
    for read in ops.iter().filter(|op| op.kind == OpKind::Read) {
        let key = (read.account, read.client_id.as_str());
        let before = |at: Option<&u64>| at.is_some_and(|&at| at < read.invoke_ms);
        let stale = match (&read.result, read.seen.as_deref()) {
            (OpResult::Fail(-2013), _) if before(placed.get(&key)) => Some("answered that it does not exist"),
            (OpResult::Ok, Some("NEW" | "PARTIALLY_FILLED")) if before(canceled.get(&key)) => {
                Some("answered that it is still open")
            }
            (OpResult::Ok, _) => None,
            (OpResult::Fail(-2013), _) => None,
            (OpResult::Fail(_) | OpResult::Unknown, _) => {
                verdict.reads_refused += 1;
                continue;
            }
        };
        verdict.reads += 1;
        if let Some(what) = stale {
            verdict.stale_reads += 1;
            // One line per stale read would drown the report on a planted fault: the first few.
            if verdict.stale_reads <= 5 {
                verdict.failures.push(format!(
                    "stale read: {} at {} ms, asked about {} acknowledged earlier, {what}",
                    read.endpoint, read.invoke_ms, read.client_id
                ));
            }
        }
    }
    if verdict.stale_reads > 5 {
        verdict.failures.push(format!("stale reads: {} in all", verdict.stale_reads));
    }
}

/// Every replica converged on one digest, with the engine's invariants and conservation of
/// every asset intact on each.
async fn check_replicas(verdict: &mut Verdict, access: &Access) {
    let audits = match converge(access, Duration::from_secs(60)).await {
        Ok(audits) => audits,
        Err(why) => return verdict.failures.push(why),
    };
    verdict.digest = audits[0]["digest"].as_str().unwrap_or_default().to_string();
    verdict.applied_index = audits[0]["appliedIndex"].as_u64().unwrap_or(0);
    for audit in &audits {
        if audit["invariants"] != "ok" {
            verdict.failures.push(format!("node {}: invariant broken: {}", audit["node"], audit["invariants"]));
        }
        for asset in audit["assets"].as_array().into_iter().flatten() {
            if asset["conserved"] != true {
                verdict.failures.push(format!("node {}: {} not conserved: {asset}", audit["node"], asset["asset"]));
            }
        }
    }
}

/// What an account's final state holds, by client id: each order, withdrawal and deposit
/// with that id, as (exchange id, status).
type Held = BTreeMap<String, Vec<(u64, String)>>;

/// The account's final state through `client`; None if it could not be read.
async fn final_state(client: &Client) -> Option<Held> {
    let orders =
        client.signed("GET", "/api/v3/allOrders", &[("symbol", "BTCUSDT".into()), ("limit", "1000".into())]).await;
    let withdrawals = client.signed("GET", "/sapi/v1/capital/withdraw/history", &[("limit", "1000".into())]).await;
    let deposits = client.signed("GET", "/sapi/v1/capital/deposit/hisrec", &[("limit", "1000".into())]).await;
    let (Ok(orders), Ok(withdrawals), Ok(deposits)) = (orders, withdrawals, deposits) else { return None };
    let mut held = Held::new();
    for order in orders.as_array().into_iter().flatten() {
        let id = order["clientOrderId"].as_str().unwrap_or_default().to_string();
        held.entry(id)
            .or_default()
            .push((order["orderId"].as_u64().unwrap_or(0), order["status"].as_str().unwrap_or("").to_string()));
    }
    for w in withdrawals.as_array().into_iter().flatten() {
        let id = w["withdrawOrderId"].as_str().unwrap_or_default().to_string();
        held.entry(id)
            .or_default()
            .push((w["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0), w["status"].to_string()));
    }
    for d in deposits.as_array().into_iter().flatten() {
        let id = d["txId"].as_str().unwrap_or_default().to_string();
        held.entry(id).or_default().push((0, d["status"].to_string()));
    }
    Some(held)
}

/// Compares one account's recorded operations with what its final state holds: nothing
/// acknowledged lost, nothing applied twice, nothing refused in effect, every unknown resolved.
fn check_account(verdict: &mut Verdict, account: u64, held: &Held, ops: &[Op]) {
    for (client_id, copies) in held {
        if copies.len() > 1 {
            verdict.duplicated += copies.len() - 1;
            verdict.failures.push(format!("account {account}: {client_id} took effect {} times", copies.len()));
        }
    }
    let mut first_order: BTreeMap<&str, u64> = BTreeMap::new();
    let mut resolved_unknown: BTreeSet<&str> = BTreeSet::new();
    for op in ops.iter().filter(|op| op.account == account) {
        let present = held.get(&op.client_id);
        match (&op.kind, &op.result) {
            (OpKind::Place | OpKind::Withdraw | OpKind::Deposit, OpResult::Ok) => {
                verdict.acknowledged += 1;
                if present.is_none() {
                    verdict.lost += 1;
                    verdict.failures.push(format!("account {account}: acknowledged {} lost", op.client_id));
                }
                if let (OpKind::Place, Some(id)) = (op.kind, op.order_id) {
                    first_order.entry(&op.client_id).or_insert(id);
                }
            }
            (OpKind::Retry, OpResult::Ok) => {
                verdict.acknowledged += 1;
                if let (Some(first), Some(again)) = (first_order.get(op.client_id.as_str()), op.order_id) {
                    if *first != again {
                        verdict.duplicated += 1;
                        verdict.failures.push(format!(
                            "account {account}: retry of {} made order {again}, not {first}",
                            op.client_id
                        ));
                    }
                }
            }
            (OpKind::Cancel, OpResult::Ok) => {
                verdict.acknowledged += 1;
                let canceled = present.is_some_and(|c| c.iter().any(|(_, status)| status == "CANCELED"));
                if !canceled {
                    verdict.lost += 1;
                    verdict
                        .failures
                        .push(format!("account {account}: acknowledged cancel of {} not in effect", op.client_id));
                }
            }
            (OpKind::Place | OpKind::Withdraw | OpKind::Deposit | OpKind::Retry, OpResult::Unknown) => {
                if resolved_unknown.insert(&op.client_id) {
                    if present.is_some() {
                        verdict.unknown_applied += 1;
                    } else {
                        verdict.unknown_not_applied += 1;
                    }
                }
            }
            (OpKind::Place | OpKind::Withdraw | OpKind::Deposit, OpResult::Fail(code)) => {
                verdict.refused += 1;
                // A refusal changes nothing, unless an earlier unknown attempt of the same id applied.
                if present.is_some()
                    && !ops.iter().any(|o| o.client_id == op.client_id && o.result != OpResult::Fail(*code))
                {
                    verdict.failures.push(format!("account {account}: refused {} ({code}) took effect", op.client_id));
                }
            }
            (OpKind::Read | OpKind::MarketData | OpKind::Stream, _) => {}
            (_, OpResult::Fail(_)) => verdict.refused += 1,
            (OpKind::Cancel, OpResult::Unknown) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, client_id: &str, result: OpResult, at_ms: [u64; 2], seen: Option<&str>) -> Op {
        Op {
            id: 0,
            account: 101,
            kind,
            client_id: client_id.into(),
            order_id: None,
            invoke_ms: at_ms[0],
            complete_ms: at_ms[1],
            endpoint: "node".into(),
            result,
            seen: seen.map(str::to_string),
        }
    }

    #[test]
    fn a_read_that_misses_an_earlier_acknowledged_write_is_stale_and_a_refusal_is_not() {
        let history = |reads: Vec<Op>| {
            let mut ops = vec![
                op(OpKind::Place, "a", OpResult::Ok, [0, 10], None),
                op(OpKind::Place, "b", OpResult::Ok, [0, 10], None),
                op(OpKind::Cancel, "b", OpResult::Ok, [20, 30], None),
            ];
            ops.extend(reads);
            let mut verdict = Verdict::default();
            check_reads(&mut verdict, &ops);
            verdict
        };
        let fresh = history(vec![
            op(OpKind::Read, "a", OpResult::Ok, [11, 12], Some("NEW")),
            // Began before the acknowledgement: either answer is allowed.
            op(OpKind::Read, "b", OpResult::Ok, [25, 26], Some("NEW")),
            op(OpKind::Read, "a", OpResult::Fail(-2013), [5, 6], None),
            op(OpKind::Read, "b", OpResult::Ok, [31, 32], Some("CANCELED")),
            // Refused or unanswered: honest.
            op(OpKind::Read, "a", OpResult::Fail(-1001), [40, 41], None),
            op(OpKind::Read, "a", OpResult::Unknown, [40, 41], None),
        ]);
        assert_eq!((fresh.reads, fresh.reads_refused, fresh.stale_reads), (4, 2, 0), "{:?}", fresh.failures);
        assert!(fresh.failures.is_empty());
        let stale = history(vec![
            op(OpKind::Read, "a", OpResult::Fail(-2013), [11, 12], None),
            op(OpKind::Read, "b", OpResult::Ok, [31, 32], Some("NEW")),
        ]);
        assert_eq!(stale.stale_reads, 2);
        assert!(
            stale.failures[0].contains("a acknowledged earlier, answered that it does not exist"),
            "{:?}",
            stale.failures
        );
        assert!(stale.failures[1].contains("still open"), "{:?}", stale.failures);
    }
}
