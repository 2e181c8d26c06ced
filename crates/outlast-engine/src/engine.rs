//! The engine: state, the `apply` entry point, and the helpers every command family shares.
//!
//! `apply` is the whole contract: a command in, an outcome and events out. Each command family
//! (`admin`, `wallet`, `requests` with `orders` and `matching`) first validates against `&self`
//! — no mutation — and only then executes, and execution cannot fail. That split is what
//! guarantees a rejected command leaves the state, and so the digest, untouched. The engine never reads a clock, never draws a
//! random number, never does I/O, and never lets `HashMap` order reach its output.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::book::Book;
use crate::command::{Command, CommandBody, MarketSpec};
use crate::event::{Event, EventKind, Outcome, WithdrawalState};
use crate::hasher::IdBuildHasher;
use crate::limits::Limits;
use crate::reject::Reject;
use crate::types::{AccountId, AssetId, MarketStatus, Side, WithdrawalId, FEE_ACCOUNT};

/// An asset and the running totals that conservation is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Ticker, e.g. `BTC`.
    pub symbol: String,
    /// Minor units per whole unit, as a power of ten.
    pub decimals: u8,
    /// All deposits ever credited, in minor units.
    pub deposited: u64,
    /// All withdrawals ever confirmed (paid out), in minor units.
    pub withdrawn: u64,
}

/// A market: its spec, status, and unit factors derived from the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Market {
    /// As created.
    pub spec: MarketSpec,
    /// Whether it accepts orders.
    pub status: MarketStatus,
    /// Quote minor units for one lot at a price of one tick (`tick × lot / 10^base_decimals`).
    pub quote_per_tick_lot: u64,
}

/// A credited deposit, remembered forever by chain transaction id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRecord {
    /// Engine id.
    pub id: u64,
    /// Credited account.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// Amount in minor units.
    pub amount: u64,
}

/// A withdrawal and where it is in its life cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// Engine id.
    pub id: WithdrawalId,
    /// Whose funds.
    pub account: AccountId,
    /// The client's request id (Binance `withdrawOrderId`).
    pub request_id: crate::types::ClientId,
    /// Asset.
    pub asset: AssetId,
    /// Amount in minor units.
    pub amount: u64,
    /// Destination address.
    pub address: String,
    /// Current state.
    pub state: WithdrawalState,
    /// The chain transaction, once sent.
    pub chain_tx: Option<String>,
    /// Engine time it was requested.
    pub requested_ms: u64,
}

/// The exchange's state machine. See the crate docs for the contract.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) limits: Limits,
    /// Engine time: the largest command timestamp seen.
    pub(crate) now_ms: u64,
    /// The last event sequence number issued.
    pub(crate) seq: u64,
    pub(crate) next_order_id: u64,
    pub(crate) next_trade_id: u64,
    pub(crate) next_deposit_id: u64,
    pub(crate) assets: Vec<Asset>,
    pub(crate) markets: Vec<Market>,
    pub(crate) books: Vec<Book>,
    pub(crate) accounts: HashMap<AccountId, Account, IdBuildHasher>,
    pub(crate) deposits: BTreeMap<String, DepositRecord>,
    /// Indexed by `id - 1`.
    pub(crate) withdrawals: Vec<Withdrawal>,
    /// API key name → the account it acts for.
    pub(crate) api_keys: BTreeMap<String, crate::api_keys::ApiKey>,
    /// The open listen keys (see `listen_keys`).
    pub(crate) listen_keys: crate::listen_keys::ListenKeys,
    /// The operator actions applied, oldest first, at most `audit_records_max` (see `audit`).
    pub(crate) audit: std::collections::VecDeque<crate::audit::AuditRecord>,
    /// Audit records ever made.
    pub(crate) audit_total: u64,
    /// Remembered request ids (idempotency).
    pub(crate) ids: crate::ids::IdTable,
    /// The cluster's active data format (see `format`).
    pub(crate) format: u32,
    /// Assets whose withdrawal requests are refused.
    pub(crate) withdrawals_paused: std::collections::BTreeSet<AssetId>,
    /// The chains followed, by name (see `chain`).
    pub(crate) chains: BTreeMap<String, crate::chain::ChainState>,
    /// Withdrawals paid on chain, by id.
    pub(crate) chain_payments: BTreeMap<WithdrawalId, crate::chain::ChainPayment>,
    /// The withdrawal controls (see `controls`).
    pub(crate) controls: crate::controls::Controls,
    /// Scratch for the command being applied (not state): balances it touched.
    pub(crate) touched_balances: Vec<(AccountId, AssetId)>,
    /// Scratch: depth levels touched, reused to avoid allocation.
    pub(crate) touched_levels: Vec<(Side, u64, u64)>,
    /// The bug planted by a test, if any (not state: never snapshotted).
    #[cfg(feature = "planted-faults")]
    pub(crate) planted: Option<PlantedBug>,
}

/// Bugs a test can plant to show that its checks catch them. Only with feature `planted-faults`.
#[cfg(feature = "planted-faults")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A buyer filled below its limit does not get the difference back (funds stay locked).
    KeepPriceImprovement,
    /// Applied requests are not remembered, so a retry applies twice.
    ForgetRequestIds,
    /// The fee is credited to the fee account twice (money is created).
    DoubleFee,
}

impl Engine {
    /// A new, empty engine with the fee account open, hashing client ids with seed 0. A node
    /// serving users should use `with_hash_seed` with a secret random seed instead.
    pub fn new(limits: Limits) -> Engine {
        Engine::with_hash_seed(limits, 0)
    }

    /// A new, empty engine whose user-keyed maps are hashed with `hash_seed`. The seed must be
    /// unpredictable to users (it defends against hash flooding); it never affects output.
    pub fn with_hash_seed(limits: Limits, hash_seed: u64) -> Engine {
        let mut accounts = HashMap::default();
        accounts.insert(FEE_ACCOUNT, Account::default());
        Engine {
            limits,
            now_ms: 0,
            seq: 0,
            next_order_id: 1,
            next_trade_id: 1,
            next_deposit_id: 1,
            assets: Vec::new(),
            markets: Vec::new(),
            books: Vec::new(),
            accounts,
            deposits: BTreeMap::new(),
            withdrawals: Vec::new(),
            api_keys: BTreeMap::new(),
            listen_keys: Default::default(),
            audit: Default::default(),
            audit_total: 0,
            ids: crate::ids::IdTable::new(hash_seed),
            format: crate::format::FORMAT_FIRST,
            withdrawals_paused: Default::default(),
            chains: BTreeMap::new(),
            chain_payments: BTreeMap::new(),
            controls: Default::default(),
            touched_balances: Vec::new(),
            touched_levels: Vec::new(),
            #[cfg(feature = "planted-faults")]
            planted: None,
        }
    }

    /// Plants a bug (tests only).
    #[cfg(feature = "planted-faults")]
    pub fn plant(&mut self, bug: PlantedBug) {
        self.planted = Some(bug);
    }

    /// Whether `bug` is planted; always false in a normal build.
    #[cfg(feature = "planted-faults")]
    pub(crate) fn planted(&self, bug: PlantedBug) -> bool {
        self.planted == Some(bug)
    }

    /// Applies one command, appending its events to `events`, and returns its outcome.
    /// A rejected or duplicate command appends nothing and changes nothing.
    pub fn apply(&mut self, command: &Command, events: &mut Vec<Event>) -> Outcome {
        let events_before = events.len();
        let seq_before = self.seq;
        // Time is clamped, not trusted: a new leader with a slower clock must not move it back.
        // It is set before dispatch so handlers read it, and restored if nothing applies.
        let now_ms_before = self.now_ms;
        self.now_ms = self.now_ms.max(command.ts_ms);
        let named_wrongly = command.operator.as_deref().is_some_and(|name| !crate::audit::operator_name_valid(name));
        let outcome = match &command.body {
            _ if named_wrongly || (command.operator.is_some() && !command.body.operator_only()) => {
                Outcome::Rejected(Reject::InvalidOperator)
            }
            // A kind of a format the cluster has not finalised: an older build may be applying
            // this log too, and could not read it.
            body if body.format_since() > self.format && !matches!(body, CommandBody::FinalizeFormat { .. }) => {
                Outcome::Rejected(Reject::FormatNotEnabled)
            }
            CommandBody::CreateAsset { symbol, decimals } => self.create_asset(symbol, *decimals),
            CommandBody::CreateMarket(spec) => self.create_market(spec, events),
            CommandBody::SetMarketStatus { market, status } => self.set_market_status(*market, *status, events),
            CommandBody::CreateAccount { account } => self.create_account(*account),
            CommandBody::Deposit { account, asset, amount, chain_tx } => {
                self.deposit(*account, *asset, *amount, chain_tx, events)
            }
            CommandBody::WithdrawalSent { withdrawal, chain_tx } => self.withdrawal_sent(*withdrawal, chain_tx, events),
            CommandBody::WithdrawalConfirmed { withdrawal } => self.withdrawal_confirmed(*withdrawal, events),
            CommandBody::WithdrawalFailed { withdrawal } => self.withdrawal_failed(*withdrawal, events),
            CommandBody::RegisterApiKey(spec) => self.register_api_key(spec),
            CommandBody::RevokeApiKey { key } => self.revoke_api_key(key),
            CommandBody::Account(request) => self.account_request(request, events),
            CommandBody::ListenKey(request) => self.listen_key_request(request),
            CommandBody::AdminNote { action } => crate::audit::admin_note(action),
            CommandBody::FinalizeFormat { format } => self.finalize_format(*format),
            CommandBody::SetWithdrawalsPaused { asset, paused } => self.set_withdrawals_paused(*asset, *paused),
            CommandBody::ChainSetup { chain, next_nonce, checkpoint_block, checkpoint_hash } => {
                self.chain_setup(chain, *next_nonce, *checkpoint_block, checkpoint_hash)
            }
            CommandBody::ChainDeposits { chain, parent_hash, to_block, to_hash, deposits } => {
                self.chain_deposits(chain, parent_hash, *to_block, to_hash, deposits, events)
            }
            CommandBody::WithdrawalSigned { withdrawal, chain, nonce, attempt, signed } => {
                self.withdrawal_signed(*withdrawal, chain, *nonce, *attempt, signed, events)
            }
            CommandBody::SetWithdrawalPolicy { asset, policy } => self.set_withdrawal_policy(*asset, policy),
            CommandBody::ApproveWithdrawal { withdrawal } => {
                self.approve_withdrawal(*withdrawal, command.operator.as_deref(), events)
            }
            CommandBody::WithdrawalMined { withdrawal, hash, block, reverted } => {
                self.withdrawal_mined(*withdrawal, hash, *block, *reverted, events)
            }
        };
        match outcome {
            Outcome::Applied(_) => {
                if command.body.audited() {
                    self.record_audit(command.operator.as_deref(), &command.body);
                }
                self.flush_balances(events)
            }
            Outcome::Duplicate(_) | Outcome::Rejected(_) => {
                self.now_ms = now_ms_before;
                assert_eq!(events.len(), events_before, "only applied commands emit events");
                assert_eq!(self.seq, seq_before, "only applied commands consume sequence numbers");
                assert!(self.touched_balances.is_empty());
            }
        }
        outcome
    }

    /// Hints the CPU to fetch what applying `command` will look at first and is likely not in
    /// cache: its request id's index slot. A caller applying a batch calls this for the next
    /// command before applying the current one, so the fetch overlaps that work. Changes
    /// nothing; skipping it changes nothing but speed.
    pub fn prefetch(&self, command: &Command) {
        if let CommandBody::Account(request) = &command.body {
            self.ids.prefetch(self.ids.hash(request.account, &request.request_id));
        }
    }

    /// The cluster's active data format (see `format`).
    pub fn format(&self) -> u32 {
        self.format
    }

    /// Whether withdrawal requests of `asset` are paused.
    pub fn withdrawals_paused(&self, asset: AssetId) -> bool {
        self.withdrawals_paused.contains(&asset)
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Engine time: the largest command timestamp applied so far.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The last event sequence number issued (0 before any event).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Appends an event with the next sequence number.
    pub(crate) fn emit(&mut self, events: &mut Vec<Event>, kind: EventKind) {
        self.seq += 1;
        events.push(Event { seq: self.seq, kind });
    }

    /// Emits one balance event per (account, asset) the command touched, in canonical order.
    fn flush_balances(&mut self, events: &mut Vec<Event>) {
        let mut touched = std::mem::take(&mut self.touched_balances);
        if touched.len() > 1 {
            touched.sort_unstable();
            touched.dedup();
        }
        for &(account, asset) in &touched {
            let balance = self.accounts[&account].balance(asset);
            let kind = EventKind::Balance { account, asset, available: balance.available, locked: balance.locked };
            self.emit(events, kind);
        }
        touched.clear();
        self.touched_balances = touched;
    }

    /// The account, which the caller has validated exists.
    pub(crate) fn account_mut(&mut self, account: AccountId) -> &mut Account {
        self.accounts.get_mut(&account).expect("validated account exists")
    }

    /// Moves `amount` of `asset` from available to locked. Validation ensured it is there.
    pub(crate) fn lock(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        if amount == 0 {
            return;
        }
        let balance = self.account_mut(account).balance_mut(asset);
        assert!(balance.available >= amount, "funds were checked before locking");
        balance.available -= amount;
        balance.locked = balance.locked.checked_add(amount).expect("conservation bounds every balance");
        self.touched_balances.push((account, asset));
    }

    /// Moves `amount` of `asset` from locked back to available.
    pub(crate) fn unlock(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        if amount == 0 {
            return;
        }
        let balance = self.account_mut(account).balance_mut(asset);
        assert!(balance.locked >= amount, "only locked funds are released");
        balance.locked -= amount;
        balance.available = balance.available.checked_add(amount).expect("conservation bounds every balance");
        self.touched_balances.push((account, asset));
    }

    /// Removes `amount` from locked funds (paid away).
    pub(crate) fn debit_locked(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        let balance = self.account_mut(account).balance_mut(asset);
        assert!(balance.locked >= amount, "a payment from locked funds was locked first");
        balance.locked -= amount;
        self.touched_balances.push((account, asset));
    }

    /// Removes `amount` from available funds (paid away at once, e.g. a market order's fill).
    pub(crate) fn debit_available(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        let balance = self.account_mut(account).balance_mut(asset);
        assert!(balance.available >= amount, "affordability was checked before the fill");
        balance.available -= amount;
        self.touched_balances.push((account, asset));
    }

    /// Adds `amount` to available funds.
    pub(crate) fn credit(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        if amount == 0 {
            return;
        }
        let balance = self.account_mut(account).balance_mut(asset);
        balance.available = balance.available.checked_add(amount).expect("conservation bounds every balance");
        self.touched_balances.push((account, asset));
    }
}
