//! The workload: a client host that sets up accounts and then deposits into them through the
//! nodes' client protocol over the simulated network, retrying on any doubt, and records what
//! was acknowledged. Each attempt goes to a node drawn from the seed, followers included, as an
//! ordinary client's would (unmarked): a follower forwards it to the leader, so the real
//! forwarding path runs.
//!
//! The k-th deposit into an account is 2^k minor units under its own chain transaction id, so
//! an account's final balance says exactly which of its deposits were applied: every
//! acknowledged one must be there, none that was never sent, and none twice (a deposit's id
//! makes a retry a no-op).
//!
//! Between deposits it reads a balance linearizably on a node drawn from the seed (followers
//! forward such a read to the leader): the answer must hold every deposit acknowledged before
//! the read was sent, and nothing never sent. A node may refuse (no leader, cut off); it must
//! never answer from a state that is behind.
//!
//! Must never: read the OS clock or entropy.

use std::collections::BTreeMap;
use std::time::Duration;

use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
use outlast_cluster::{frame, NodeId};
use outlast_engine::{CommandBody, Outcome};

use crate::check::{now_ms, shared, Shared};
use crate::node::{host, CLIENT_PORT};
use crate::plan::NODES;
use crate::rng::Rng;

/// Accounts the workload deposits into.
pub const ACCOUNTS: u64 = 8;
/// Deposits into one account at most (amounts up to 2^39 stay far from any limit).
pub const DEPOSITS_PER_ACCOUNT_MAX: u32 = 40;
/// Attempts of one command before it is left in doubt.
const ATTEMPTS_MAX: u32 = 8;
/// One request's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Pause between attempts, ms.
const RETRY_PAUSE_MS: u64 = 40;
/// The asset deposited.
const ASSET: u32 = 0;

/// What the driver did with each account's deposits: bit k is deposit k.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Deposits sent at least once.
    pub attempted: BTreeMap<u64, u64>,
    /// Deposits acknowledged as applied.
    pub acked: BTreeMap<u64, u64>,
    /// Commands acknowledged after the heal (liveness needs some).
    pub acked_after_heal: u64,
}

/// One request to node `node`, or `None` if no reply came in time.
async fn request(node: NodeId, request: &ClientRequest) -> Option<ClientReply> {
    let work = async {
        let mut stream = turmoil::net::TcpStream::connect((host(node).as_str(), CLIENT_PORT)).await.ok()?;
        frame::write(&mut stream, request).await.ok()?;
        frame::read::<_, ClientReply>(&mut stream).await.ok()?
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work).await.ok()?
}

/// Submits `body` to nodes drawn from `rng` until one answers with an outcome (`None` after
/// `ATTEMPTS_MAX`), and says which node answered in `via`. Every failed attempt leaves the
/// command in doubt, so the retry carries the same command.
async fn submit(body: &CommandBody, via: &mut NodeId, rng: &mut Rng) -> Option<Outcome> {
    for _ in 0..ATTEMPTS_MAX {
        let node = NODES[rng.below(NODES.len() as u64) as usize];
        let submit =
            ClientRequest::Submit { body: body.clone(), forwarded: false, operator_token: None, operator: None };
        if let Some(ClientReply::Outcome { outcome, .. }) = request(node, &submit).await {
            *via = node;
            return Some(outcome);
        }
        tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
    }
    None
}

/// The driver's software: genesis, then deposits until `until_ms` of simulated time, and on
/// past it (up to `deadline_ms`) until one deposit sent after the heal is acknowledged: a
/// request caught in the heal may wait out its whole timeout, and liveness means the healed
/// cluster serves again, not that it does so within one fixed window.
pub async fn run(
    seed: u64,
    until_ms: u64,
    heal_ms: u64,
    deadline_ms: u64,
    observed: Shared,
    ledger: std::sync::Arc<std::sync::Mutex<Ledger>>,
) -> turmoil::Result {
    let mut rng = Rng::new(seed, 2);
    // Reads draw from their own stream, so the deposits' draws stay what they were.
    let mut read_rng = Rng::new(seed, 3);
    let mut via = NODES[0];
    let mut genesis = vec![CommandBody::CreateAsset { symbol: "USD".into(), decimals: 2 }];
    genesis.extend((1..=ACCOUNTS).map(|account| CommandBody::CreateAccount { account }));
    for body in &genesis {
        // Set-up must land before deposits mean anything; a reply of any outcome will do (a
        // retry of an applied creation is refused as a duplicate name or account).
        while submit(body, &mut via, &mut rng).await.is_none() {
            if now_ms() > deadline_ms {
                shared(&observed).violate("set-up never committed".into());
                return Ok(());
            }
        }
    }
    shared(&observed).note("set-up committed");
    let mut next_k: BTreeMap<u64, u32> = BTreeMap::new();
    let served_after_heal = |ledger: &std::sync::Mutex<Ledger>| ledger.lock().expect("ledger").acked_after_heal > 0;
    while now_ms() < until_ms || (!served_after_heal(&ledger) && now_ms() < deadline_ms) {
        let account = 1 + rng.below(ACCOUNTS);
        let k = *next_k.entry(account).or_default();
        if k >= DEPOSITS_PER_ACCOUNT_MAX {
            continue;
        }
        next_k.insert(account, k + 1);
        let bit = 1u64 << k;
        let body = CommandBody::Deposit { account, asset: ASSET, amount: bit, chain_tx: format!("tx-{account}-{k}") };
        *ledger.lock().expect("ledger").attempted.entry(account).or_default() |= bit;
        match submit(&body, &mut via, &mut rng).await {
            Some(Outcome::Applied(_)) | Some(Outcome::Duplicate(_)) => {
                shared(&observed).note(format!("ack tx-{account}-{k} via n{via}"));
                let mut l = ledger.lock().expect("ledger");
                *l.acked.entry(account).or_default() |= bit;
                if now_ms() > heal_ms {
                    l.acked_after_heal += 1;
                }
            }
            Some(Outcome::Rejected(reject)) => {
                shared(&observed).violate(format!("deposit tx-{account}-{k} rejected: {reject:?}"))
            }
            None => shared(&observed).note(format!("deposit tx-{account}-{k} in doubt")),
        }
        read_back(&mut read_rng, &observed, &ledger).await;
        tokio::time::sleep(Duration::from_millis(rng.between(1, 30))).await;
    }
    Ok(())
}

/// Reads one account's balance linearizably on a node drawn from `rng` and checks it against
/// what was acknowledged before the read was sent (a stale read) and what was ever sent.
async fn read_back(rng: &mut Rng, observed: &Shared, ledger: &std::sync::Mutex<Ledger>) {
    let account = 1 + rng.below(ACCOUNTS);
    let node = NODES[rng.below(NODES.len() as u64) as usize];
    let acked_before = ledger.lock().expect("ledger").acked.get(&account).copied().unwrap_or(0);
    let query = Query::Balance { account, asset: ASSET };
    let reply = request(node, &ClientRequest::Read { query, follower_ok: false, forwarded: false }).await;
    let Some(ClientReply::Read { answer: Answer::Balance(Some(balance)), node: from }) = reply else { return };
    let held = balance.available + balance.locked;
    let attempted = ledger.lock().expect("ledger").attempted.get(&account).copied().unwrap_or(0);
    let mut o = shared(observed);
    if acked_before & !held != 0 {
        o.violate(format!(
            "stale read: n{node} (answered from n{from}) gave account {account} balance {held:#b}, \
             missing deposits {:#b} acknowledged before the read",
            acked_before & !held
        ));
    } else if held & !attempted != 0 {
        o.violate(format!(
            "n{from} gave account {account} balance {held:#b}: deposits {:#b} never sent",
            held & !attempted
        ));
    }
}
