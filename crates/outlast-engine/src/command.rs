//! Commands: the only way to change the engine's state.
//!
//! A command is what the replicated log carries. It holds everything the engine needs to apply
//! it — including the time, stamped by the leader — so that applying the same log gives the same
//! state on every replica. Commands must never carry host-specific values (pointers, `usize`
//! sizes, floats).

use serde::{Deserialize, Serialize};

use crate::chain::{ChainDeposit, Hash32, PaymentAttempt};
use crate::controls::WithdrawalPolicy;

use crate::api_keys::ApiKeySpec;
use crate::listen_keys::ListenKeyRequest;
use crate::types::{
    AccountId, AssetId, ClientId, MarketId, MarketStatus, OrderId, Side, StpMode, TimeInForce, WithdrawalId,
};

/// One entry of the log: the leader's timestamp and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    /// Milliseconds since the Unix epoch, as the leader's clock read it when it proposed the
    /// command. The engine clamps it to be non-decreasing, so a leader with a slow clock cannot
    /// move engine time backwards.
    pub ts_ms: u64,
    /// What to do.
    pub body: CommandBody,
    /// Who gave it, for an operator command: the operator's name as the node that
    /// authenticated it recorded it (see `audit`); `None` for account requests.
    pub operator: Option<String>,
}

impl CommandBody {
    /// Whether only an operator may give this command: everything but an account holder's
    /// request (it creates money or changes configuration or control).
    pub fn operator_only(&self) -> bool {
        !matches!(self, CommandBody::Account(_) | CommandBody::ListenKey(_))
    }

    /// Whether an applied command goes into the audit trail: an operator-only command, but not
    /// the chain processors' own steps (the withdrawal and checkpoint records are their trail,
    /// and they would crowd out what people did).
    pub fn audited(&self) -> bool {
        self.operator_only()
            && !matches!(
                self,
                CommandBody::ChainDeposits { .. }
                    | CommandBody::WithdrawalSigned { .. }
                    | CommandBody::WithdrawalMined { .. }
            )
    }
}

/// The command families: operator configuration, wallet operations, and account requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandBody {
    /// Register an asset. Idempotent by symbol: the same asset again is a duplicate.
    CreateAsset {
        /// Upper-case letters and digits, 1 to 16 bytes.
        symbol: String,
        /// Minor units per whole unit, as a power of ten (0 to 18).
        decimals: u8,
    },
    /// Register a market. Idempotent by symbol.
    CreateMarket(MarketSpec),
    /// Change whether a market accepts orders.
    SetMarketStatus {
        /// The market.
        market: MarketId,
        /// The new status.
        status: MarketStatus,
    },
    /// Open an account. Idempotent: creating an existing account is a duplicate.
    CreateAccount {
        /// The operator-chosen id (not 0, which is the fee account).
        account: AccountId,
    },
    /// Credit a confirmed chain deposit. Idempotent by the chain transaction id.
    Deposit {
        /// Who is credited.
        account: AccountId,
        /// What is credited.
        asset: AssetId,
        /// How much, in minor units.
        amount: u64,
        /// The chain transaction id (plus output index, if the chain needs one).
        chain_tx: String,
    },
    /// The withdrawal was broadcast on chain with this transaction id.
    WithdrawalSent {
        /// The withdrawal.
        withdrawal: WithdrawalId,
        /// The chain transaction id.
        chain_tx: String,
    },
    /// The withdrawal's transaction is final on chain: the locked funds are debited.
    WithdrawalConfirmed {
        /// The withdrawal.
        withdrawal: WithdrawalId,
    },
    /// The withdrawal will not be paid: the locked funds return to the account.
    WithdrawalFailed {
        /// The withdrawal.
        withdrawal: WithdrawalId,
    },
    /// Let an API key act for an account. Only the same registration again is a duplicate; a
    /// taken or revoked name is refused. No secret is in it in clear (see `api_keys`).
    RegisterApiKey(ApiKeySpec),
    /// Stop an API key from acting for anyone, for good: its name is never registered again.
    RevokeApiKey {
        /// The key's public name.
        key: String,
    },
    /// A request made by an account holder (through the API).
    Account(AccountRequest),
    /// An account holder's listen key: open, keep alive, close (see `listen_keys`).
    ListenKey(ListenKeyRequest),
    /// A cluster administration action an operator asked for (a membership change, a
    /// snapshot), as text: it changes nothing but the audit trail. The node that authorised
    /// the action commits it before the action runs, so the trail shows every attempt; the
    /// membership itself is in Raft's own log entries.
    AdminNote {
        /// What was asked, e.g. `add learner 4 (aws us-east-1 us-east-1b)`.
        action: String,
    },
    /// Raise the cluster's active data format to `format` (see `format`): command kinds of
    /// that format are accepted from the next entry on. Given by an operator once every voter
    /// runs a build that reads it; a format not above the active one is a duplicate.
    FinalizeFormat {
        /// The new active format.
        format: u32,
    },
    /// Stop (or restart) withdrawal requests of one asset, e.g. while its chain or its
    /// payout path is in trouble. Withdrawals already requested are not affected.
    SetWithdrawalsPaused {
        /// The asset.
        asset: AssetId,
        /// Whether new requests are refused.
        paused: bool,
    },
    /// Start following a chain (see `chain`): deposits are credited from the block after
    /// `checkpoint_block`, and the hot wallet's transactions use nonces from `next_nonce`. Set
    /// once; the same again is a duplicate.
    ChainSetup {
        /// The chain's name.
        chain: String,
        /// The hot wallet's next unused nonce on it.
        next_nonce: u64,
        /// The last block not to scan for deposits.
        checkpoint_block: u64,
        /// Its hash.
        checkpoint_hash: Hash32,
    },
    /// Credit the deposits of the blocks after the chain's checkpoint up to `to_block`, and
    /// move the checkpoint there. Given by the leader's deposit watcher.
    ChainDeposits {
        /// The chain.
        chain: String,
        /// The hash of the block before the range: must be the checkpoint's.
        parent_hash: Hash32,
        /// The range's last block.
        to_block: u64,
        /// Its hash.
        to_hash: Hash32,
        /// The deposits found in the range.
        deposits: Vec<ChainDeposit>,
    },
    /// A transaction that pays (or cancels) a withdrawal is signed: its bytes are committed
    /// before they are broadcast. Given by the leader's withdrawal processor.
    WithdrawalSigned {
        /// The withdrawal.
        withdrawal: WithdrawalId,
        /// The chain.
        chain: String,
        /// The nonce: the chain's next for the first attempt, the same for the others.
        nonce: u64,
        /// The attempt's position (0 for the first).
        attempt: u32,
        /// The transaction.
        signed: PaymentAttempt,
    },
    /// Set an asset's withdrawal controls (see `controls`).
    SetWithdrawalPolicy {
        /// The asset.
        asset: AssetId,
        /// Its controls.
        policy: WithdrawalPolicy,
    },
    /// One operator approves a withdrawal waiting for approval: the second distinct operator's
    /// approval lets it be paid. The operator is the command's.
    ApproveWithdrawal {
        /// The withdrawal.
        withdrawal: WithdrawalId,
    },
    /// One of a withdrawal's attempts is mined with enough confirmations: a payment that did
    /// not revert confirms it; a cancel, or a payment that reverted, fails it (the nonce is
    /// spent and nothing was paid). Given by the leader's withdrawal processor.
    WithdrawalMined {
        /// The withdrawal.
        withdrawal: WithdrawalId,
        /// The mined transaction's hash.
        hash: Hash32,
        /// The block it is in.
        block: u64,
        /// Its receipt says it reverted.
        reverted: bool,
    },
}

/// A request from an account holder. Idempotent by `(account, request_id)` within the window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountRequest {
    /// Who asks.
    pub account: AccountId,
    /// The client's id for this request; for a new order it is also the client order id.
    pub request_id: ClientId,
    /// The client's own timestamp (Binance's `timestamp` parameter), in ms since the epoch.
    /// A retry carries the same value, which is what bounds how long ids must be remembered.
    pub request_ts_ms: u64,
    /// What is asked.
    pub action: AccountAction,
}

/// What an account holder can ask for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountAction {
    /// Place an order; its client order id is the request id.
    PlaceOrder(OrderSpec),
    /// Cancel one open order.
    CancelOrder {
        /// The market the order is in.
        market: MarketId,
        /// Which order.
        target: OrderRef,
    },
    /// Cancel every open order of the account in one market.
    CancelAll {
        /// The market.
        market: MarketId,
    },
    /// Cancel one order and place another atomically: if either part would be rejected, neither
    /// happens. The new order's client order id is the request id.
    CancelReplace {
        /// Which order to cancel.
        target: OrderRef,
        /// The order to place instead (in the same market).
        new_order: OrderSpec,
    },
    /// Ask for a withdrawal: the amount is locked until the operator marks it confirmed
    /// (debited) or failed (refunded).
    RequestWithdrawal {
        /// What to withdraw.
        asset: AssetId,
        /// How much, in minor units.
        amount: u64,
        /// Where to, on chain.
        address: String,
    },
    /// Put an address on the account's withdrawal allowlist (format 3): usable once the
    /// asset's `allowlist_delay_ms` has passed.
    AddWithdrawalAddress {
        /// The address.
        address: String,
    },
}

/// Names an open order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderRef {
    /// By the engine's order id.
    Id(OrderId),
    /// By the client order id it was placed with.
    Client(ClientId),
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderSpec {
    /// The market.
    pub market: MarketId,
    /// Buy or sell.
    pub side: Side,
    /// Order type and its quantities.
    pub kind: OrderKind,
    /// Self-trade prevention.
    pub stp: StpMode,
}

/// Order types. Prices are quote minor units per whole base unit; quantities are base minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderKind {
    /// A limit order.
    Limit {
        /// Limit price.
        price: u64,
        /// Base quantity.
        qty: u64,
        /// Time in force.
        tif: TimeInForce,
    },
    /// A post-only limit order: rejected if any part would take liquidity.
    LimitMaker {
        /// Limit price.
        price: u64,
        /// Base quantity.
        qty: u64,
    },
    /// A market order for a base quantity (whatever does not fill expires).
    MarketBase {
        /// Base quantity.
        qty: u64,
    },
    /// A market order for a quote amount: spend (buy) or receive (sell) up to this much quote.
    MarketQuote {
        /// Quote amount in quote minor units.
        quote_qty: u64,
    },
}

/// A market's parameters.
///
/// Prices are in quote minor units per whole base unit, quantities in base minor units. So that
/// every fill's quote amount is an exact integer, `tick_size × lot_size` must be a multiple of
/// `10^base_decimals`; the market is rejected otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarketSpec {
    /// e.g. `BTCUSDT`: upper-case letters and digits, 1 to 20 bytes.
    pub symbol: String,
    /// The asset being bought and sold.
    pub base: AssetId,
    /// The asset prices are in.
    pub quote: AssetId,
    /// Price increment.
    pub tick_size: u64,
    /// Quantity increment.
    pub lot_size: u64,
    /// Smallest price × quantity accepted, in quote minor units.
    pub min_notional: u64,
    /// Fee on the amount received by a maker, in parts per million.
    pub maker_fee_ppm: u32,
    /// Fee on the amount received by a taker, in parts per million.
    pub taker_fee_ppm: u32,
}
