//! The chain scenarios' faults, on the lab chain of a cluster the run started: a provider down,
//! a provider lying, reorgs shallower than the confirmations, and the leader SIGKILLed at the
//! two moments custody's contract is about: a payment committed that no provider has taken
//! yet, and a payment mined that is not final yet.
//!
//! Must never: wait without a deadline, or leave a provider faulty after its step.

use std::time::{Duration, Instant};

use outlast_chain::proxy::Fault as ProxyFault;
use outlast_chain::B256;
use outlast_client::FailoverPolicy;

use crate::access::Access;
use crate::chain::LabChain;
use crate::chaos::{incident, Fault};
use crate::target::Target;

/// How long a leader kill waits for a withdrawal to reach its moment.
const MOMENT_DEADLINE: Duration = Duration::from_secs(15);
/// Time between two reorgs of the reorg scenario.
const REORG_INTERVAL: Duration = Duration::from_secs(2);
/// Blocks each reorg replaces: fewer than the lab's confirmations, so nothing credited or
/// confirmed may change.
pub(crate) const REORG_DEPTH: u64 = crate::chain::CONFIRMATIONS - 1;

/// Provider `label` fails as `how` for the step's duration, then passes again.
pub(crate) async fn provider_fault(
    chain: &LabChain,
    fault: &Fault<'_>,
    label: &str,
    how: ProxyFault,
) -> Result<(String, u64), String> {
    let what = format!("RPC provider {label}: {how:?}");
    let at = fault.begins(&what);
    chain.set_fault(label, how)?;
    tokio::time::sleep(fault.step.duration).await;
    chain.set_fault(label, ProxyFault::Pass)?;
    Ok((what, at))
}

/// Replaces the newest `REORG_DEPTH` blocks with empty ones, again, for the step's duration:
/// each time the ledger has credited one of them (only a bug would: they lack confirmations),
/// or else after `REORG_INTERVAL`.
pub(crate) async fn reorgs(access: &Access, chain: &LabChain, fault: &Fault<'_>) -> Result<(String, u64), String> {
    let what = format!("reorg the chain's newest {REORG_DEPTH} block(s), again");
    let at = fault.begins(&what);
    let rpc = chain.rpc();
    let mut count = 0;
    while elapsed_since(fault, at) < fault.step.duration {
        let round = Instant::now();
        while round.elapsed() < REORG_INTERVAL {
            let head = rpc.block_number().await.map_err(|e| e.to_string())?;
            let checkpoint = crate::chain_checker::checkpoint(access, &chain.config().name).await;
            if checkpoint.is_some_and(|c| c + REORG_DEPTH > head) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        chain.reorg(REORG_DEPTH).await?;
        count += 1;
        incident(fault.watch, fault.started, format!("chain reorg {count} (depth {REORG_DEPTH})"));
    }
    Ok((what, at))
}

fn elapsed_since(fault: &Fault<'_>, at_ms: u64) -> Duration {
    Duration::from_millis((fault.started.elapsed().as_millis() as u64).saturating_sub(at_ms))
}

/// When a leader kill strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moment {
    /// A withdrawal's payment is committed (SENT) and no provider took it (every provider
    /// drops broadcasts meanwhile).
    Signed,
    /// A withdrawal's payment is mined and not yet confirmed.
    Mined,
}

/// For the step's duration: waits for a withdrawal at `moment`, SIGKILLs the leader, waits
/// (bounded) for the next one, restarts the killed node; again.
pub(crate) async fn kill_leader_at(
    cluster: &mut Target,
    chain: &LabChain,
    fault: &Fault<'_>,
    moment: Moment,
) -> Result<(String, u64), String> {
    let what = match moment {
        Moment::Signed => "SIGKILL the leader between a payment's commit and its broadcast, again",
        Moment::Mined => "SIGKILL the leader between a payment's mining and its confirmations, again",
    };
    let at = fault.begins(what);
    let coins: Vec<String> = chain.config().assets.iter().map(|a| a.symbol.clone()).collect();
    // Each kill strikes at another withdrawal's moment.
    let mut struck = std::collections::BTreeSet::new();
    while elapsed_since(fault, at) < fault.step.duration {
        // A payment signed from here on reaches no provider: a withdrawal requested after this
        // newest one and SENT is committed and not broadcast.
        let floor = match moment {
            Moment::Signed => {
                let floor = newest_withdrawal(cluster).await;
                chain.set_fault_all(ProxyFault::DropBroadcasts);
                floor
            }
            Moment::Mined => 0,
        };
        let found = withdrawal_at(cluster, chain, &coins, moment, floor, &struck).await;
        let leader = cluster.leader().await;
        if let (Some(id), Ok(leader)) = (found, &leader) {
            struck.insert(id);
            cluster.kill(*leader).await?;
            let when = if moment == Moment::Signed { "committed, not broadcast" } else { "mined, not final" };
            incident(fault.watch, fault.started, format!("SIGKILL leader node {leader}: withdrawal {id} {when}"));
        } else {
            incident(
                fault.watch,
                fault.started,
                format!("no withdrawal reached {moment:?} within {MOMENT_DEADLINE:?}"),
            );
        }
        chain.set_fault_all(ProxyFault::Pass);
        if let (Some(_), Ok(killed)) = (found, leader) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(cluster.wait_for_leader(Duration::from_secs(1)).await, Ok(next) if next != killed) {
                    break;
                }
            }
            cluster.start(killed).await?;
        }
    }
    Ok((what.to_string(), at))
}

fn operator(cluster: &Target) -> crate::access::OperatorClient {
    cluster.access().operator_all(FailoverPolicy { budget: Duration::from_secs(2), ..FailoverPolicy::default() })
}

/// The newest withdrawal's id (0 if none or unreadable).
async fn newest_withdrawal(cluster: &Target) -> u64 {
    let newest = operator(cluster).call("GET", "/operator/v1/withdrawals", &[("limit", "1".into())]).await;
    newest.ok().and_then(|list| list[0]["id"].as_u64()).unwrap_or(0)
}

/// Waits (bounded) for a withdrawal of `coins` after `floor`, not `struck` before, at
/// `moment`; its id.
async fn withdrawal_at(
    cluster: &Target,
    chain: &LabChain,
    coins: &[String],
    moment: Moment,
    floor: u64,
    struck: &std::collections::BTreeSet<u64>,
) -> Option<u64> {
    let operator = operator(cluster);
    let rpc = chain.rpc();
    let started = Instant::now();
    while started.elapsed() < MOMENT_DEADLINE {
        let sent = operator
            .call("GET", "/operator/v1/withdrawals", &[("status", "SENT".into()), ("limit", "50".into())])
            .await
            .unwrap_or_default();
        for w in sent.as_array().into_iter().flatten() {
            let Some(id) = w["id"].as_u64() else { continue };
            if !coins.iter().any(|c| w["coin"] == c.as_str()) || id <= floor || struck.contains(&id) {
                continue;
            }
            let Some(tx) = w["txId"].as_str().and_then(|t| t.parse::<B256>().ok()) else { continue };
            let mined = match rpc.receipt(tx).await {
                Ok(receipt) => receipt.is_some(),
                Err(_) => continue,
            };
            if mined == (moment == Moment::Mined) {
                return Some(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
