//! One chain's custody loop: while this node leads, and has applied everything the cluster
//! committed, it sets the chain up once, credits deposits (`watcher`) and pays withdrawals
//! (`payer`). Everything it decides goes through the log; everything it broadcasts comes from
//! committed state.
//!
//! Must never: act while not leading or while behind (a new leader first catches up, so it sees
//! every transaction the old one committed), or hold the engine's lock across a network call.

use openraft::async_runtime::WatchReceiver;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_chain::config::ChainConfig;
use outlast_chain::hd::DepositKeys;
use outlast_chain::pool::Pool;
use outlast_chain::signer::HotWallet;
use outlast_chain::Address;
use outlast_cluster::protocol::ClientReply;
use outlast_cluster::write::{submit, Writer};
use outlast_cluster::{Dialer, NodeId};
use outlast_engine::{AccountId, CommandBody, Outcome, WithdrawalId};

use crate::reads;

/// How long a new leader may take to catch up before a step.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(2);
/// The same error is logged again after this long.
const ERROR_REPEAT: Duration = Duration::from_secs(30);

/// One withdrawal this process is broadcasting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sending {
    /// When its newest attempt was first broadcast by this process.
    pub(crate) since: Instant,
    /// When its attempts were last broadcast.
    pub(crate) last: Instant,
}

/// What a node's custody loop last did, for the status page and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustodyStatus {
    /// Whether this node leads (custody acts only there).
    pub leading: bool,
    /// Steps completed while leading, well or not.
    pub steps: u64,
    /// The agreed tip when the last completed step began.
    pub step_tip: Option<u64>,
    /// The last step's error, if it failed.
    pub last_error: Option<String>,
}

/// One chain's custody.
pub struct Custody<D: Dialer> {
    pub(crate) writer: Writer<D>,
    pub(crate) node: NodeId,
    pub(crate) config: ChainConfig,
    pub(crate) pool: Arc<Pool>,
    pub(crate) wallet: Arc<dyn HotWallet>,
    keys: DepositKeys,
    /// Deposit addresses derived so far, and their owners.
    addresses: BTreeMap<AccountId, Address>,
    pub(crate) owners: HashMap<Address, AccountId>,
    /// Withdrawals this process is broadcasting (forgotten when it stops leading).
    pub(crate) sending: BTreeMap<WithdrawalId, Sending>,
    last_error: Option<(String, Instant)>,
    status: Arc<std::sync::Mutex<CustodyStatus>>,
}

impl<D: Dialer> Custody<D> {
    /// Custody of `config`'s chain over `pool`, paying from `wallet`.
    pub fn new(
        writer: Writer<D>,
        node: NodeId,
        config: ChainConfig,
        pool: Arc<Pool>,
        wallet: Arc<dyn HotWallet>,
    ) -> Result<Custody<D>, String> {
        let keys = DepositKeys::parse(&config.deposit_xpub)?;
        Ok(Custody {
            writer,
            node,
            config,
            pool,
            wallet,
            keys,
            addresses: BTreeMap::new(),
            owners: HashMap::new(),
            sending: BTreeMap::new(),
            last_error: None,
            status: Arc::default(),
        })
    }

    /// Its status, as the loop updates it.
    pub fn status(&self) -> Arc<std::sync::Mutex<CustodyStatus>> {
        Arc::clone(&self.status)
    }

    /// Runs until the task is aborted.
    pub async fn run(mut self) {
        let _heads = self.pool.watch_heads();
        let mut ticks = tokio::time::interval(Duration::from_millis(self.config.poll_ms));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let leading = self.writer.raft.metrics().borrow_watched().state == openraft::ServerState::Leader;
            self.status.lock().unwrap().leading = leading;
            if !leading {
                self.sending.clear();
                continue;
            }
            if !outlast_cluster::read::catch_up(&self.writer, self.node, CATCH_UP_DEADLINE).await {
                continue;
            }
            let step_tip = self.pool.agreed_tip();
            let result = self.step().await;
            {
                let mut status = self.status.lock().unwrap();
                status.steps += 1;
                status.step_tip = step_tip;
                status.last_error = result.as_ref().err().cloned();
            }
            self.report(result);
        }
    }

    /// One round: set up, then deposits and payments (a failure in one does not stop the other).
    pub async fn step(&mut self) -> Result<(), String> {
        let state = self.writer.reader.read().chain(&self.config.name).cloned();
        let Some(state) = state else { return self.setup().await };
        let deposits = self.credit_deposits(&state).await;
        let payments = self.pay().await;
        match (deposits, payments) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Ok(())) => Err(format!("deposits: {a}")),
            (Ok(()), Err(b)) => Err(format!("withdrawals: {b}")),
            (Err(a), Err(b)) => Err(format!("deposits: {a}; withdrawals: {b}")),
        }
    }

    fn report(&mut self, result: Result<(), String>) {
        let chain = &self.config.name;
        match result {
            Ok(()) => {
                if self.last_error.take().is_some() {
                    tracing::info!(chain, "custody works again");
                }
            }
            Err(why) => {
                let repeat =
                    self.last_error.as_ref().is_some_and(|(last, at)| *last == why && at.elapsed() < ERROR_REPEAT);
                if !repeat {
                    tracing::warn!(chain, "custody: {why}");
                    self.last_error = Some((why, Instant::now()));
                }
            }
        }
    }

    /// Starts following the chain: deposits from the first block not yet final, and the hot
    /// wallet's nonce as mined (the hot wallet must send nothing but what this cluster signs).
    async fn setup(&mut self) -> Result<(), String> {
        let tip = self.pool.agreed_tip().ok_or("no two upstreams report a head yet")?;
        let checkpoint = tip.saturating_sub(self.config.confirmations);
        let block = reads::block(&self.pool, checkpoint).await?.ok_or(format!("block {checkpoint} is not there"))?;
        let next_nonce = reads::mined_nonce(&self.pool, self.wallet.address()).await?;
        let setup = CommandBody::ChainSetup {
            chain: self.config.name.clone(),
            next_nonce,
            checkpoint_block: checkpoint,
            checkpoint_hash: block.hash.0,
        };
        match self.commit(setup).await? {
            Outcome::Applied(_) | Outcome::Duplicate(_) => {
                tracing::info!(chain = self.config.name, checkpoint, next_nonce, "following the chain");
                Ok(())
            }
            Outcome::Rejected(reject) => Err(format!("setting the chain up: {reject}")),
        }
    }

    /// Commits `body` through the log.
    pub(crate) async fn commit(&self, body: CommandBody) -> Result<Outcome, String> {
        match submit(&self.writer, body, None, false).await {
            ClientReply::Outcome { outcome, .. } => Ok(outcome),
            other => Err(format!("not committed: {other:?}")),
        }
    }

    /// Derives the deposit addresses of accounts that have none yet.
    pub(crate) fn refresh_addresses(&mut self, accounts: &[AccountId]) {
        for &account in accounts {
            if account == outlast_engine::FEE_ACCOUNT || self.addresses.contains_key(&account) {
                continue;
            }
            match self.keys.address(account) {
                Ok(address) => {
                    self.addresses.insert(account, address);
                    self.owners.insert(address, account);
                }
                Err(why) => tracing::debug!(account, "no deposit address: {why}"),
            }
        }
    }
}
