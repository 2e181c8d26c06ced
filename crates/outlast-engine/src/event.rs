//! What applying a command produced: an `Outcome` for the caller and `Event`s for subscribers.
//!
//! Events are the engine's only output besides the outcome. They carry a global sequence number
//! (consecutive over all events ever produced, so a consumer can detect a gap), and their
//! prices and quantities are in minor units, never in internal ticks or lots.

use serde::{Deserialize, Serialize};

use crate::reject::Reject;
use crate::types::{
    AccountId, AssetId, ClientId, DepositId, MarketId, MarketStatus, OrderId, OrderStatus, Side, TradeId, WithdrawalId,
};

/// The result of applying one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command changed the state; events describe how.
    Applied(Summary),
    /// The command was a retry of one already applied: nothing changed, and this is what the
    /// original returned.
    Duplicate(Summary),
    /// The command changed nothing, for this reason.
    Rejected(Reject),
}

impl Outcome {
    /// The summary of an applied or duplicate command.
    pub fn summary(&self) -> Option<Summary> {
        match *self {
            Outcome::Applied(summary) | Outcome::Duplicate(summary) => Some(summary),
            Outcome::Rejected(_) => None,
        }
    }

    /// The rejection, if any.
    pub fn rejection(&self) -> Option<Reject> {
        match *self {
            Outcome::Rejected(reject) => Some(reject),
            _ => None,
        }
    }
}

/// The gist of an applied command: what was created or ended. Small and `Copy` because it is
/// remembered per request id to answer retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Summary {
    /// An asset exists with this id.
    AssetCreated(AssetId),
    /// A market exists with this id.
    MarketCreated(MarketId),
    /// A market's status is now this.
    MarketStatusSet(MarketStatus),
    /// The account exists.
    AccountCreated(AccountId),
    /// The deposit was credited.
    Deposited(DepositId),
    /// An order was placed; its status right after placement.
    OrderPlaced {
        /// The order.
        order: OrderId,
        /// Its status once the command finished (New, PartiallyFilled, Filled, Expired, …).
        status: OrderStatus,
    },
    /// An order was cancelled.
    OrderCanceled(OrderId),
    /// Orders were cancelled by a cancel-all.
    CanceledAll {
        /// How many.
        count: u32,
    },
    /// An order was cancelled and another placed.
    Replaced {
        /// The cancelled order.
        canceled: OrderId,
        /// The new order.
        order: OrderId,
        /// The new order's status once the command finished.
        status: OrderStatus,
    },
    /// A withdrawal was requested (funds locked).
    WithdrawalRequested(WithdrawalId),
    /// A withdrawal moved to a new state.
    WithdrawalUpdated(WithdrawalId, WithdrawalState),
    /// An API key now acts for this account.
    ApiKeyRegistered(AccountId),
    /// An API key that acted for this account was revoked.
    ApiKeyRevoked(AccountId),
    /// The account's listen key was opened, kept alive or closed.
    ListenKey(AccountId),
    /// A cluster administration action is in the audit trail.
    AdminNoted,
    /// The cluster's active data format is now this.
    FormatFinalized(u32),
    /// Withdrawal requests of this asset are now refused (`true`) or accepted.
    WithdrawalsPaused(AssetId, bool),
    /// A chain's deposits are credited up to this block.
    ChainUpdated(u64),
    /// An asset's withdrawal controls are set.
    WithdrawalPolicySet(AssetId),
    /// An address is on the account's withdrawal allowlist since this engine time.
    AddressAllowlisted(u64),
}

/// The states of a withdrawal. Only these transitions exist: Requested → Sent → Confirmed,
/// Requested → Failed, Sent → Failed. Confirmed and Failed are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WithdrawalState {
    /// Funds locked, waiting for the operator to send.
    Requested,
    /// Broadcast on chain; funds still locked.
    Sent,
    /// Final on chain; funds debited. Paid exactly once.
    Confirmed,
    /// Will not be paid; funds refunded. Refunded exactly once.
    Failed,
    /// Funds locked, waiting for two operators' approval (see `controls`); then Requested.
    PendingApproval,
}

/// One event with its global sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Consecutive over all events the engine ever produced, starting at 1.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// An order was accepted, filled (partly or fully), cancelled or expired.
    Order(OrderUpdate),
    /// Two orders traded.
    Trade(Trade),
    /// An account's balance of one asset after the command.
    Balance {
        /// The account.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Free to use.
        available: u64,
        /// Held by open orders and pending withdrawals.
        locked: u64,
    },
    /// Changed price levels of one market's book, each with its new total quantity (0: gone).
    Depth(DepthDelta),
    /// A deposit was credited.
    Deposit {
        /// The deposit.
        deposit: DepositId,
        /// Who was credited.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// The amount.
        amount: u64,
    },
    /// A withdrawal was requested or changed state.
    Withdrawal {
        /// The withdrawal.
        withdrawal: WithdrawalId,
        /// Whose.
        account: AccountId,
        /// Its new state.
        state: WithdrawalState,
    },
    /// A market's status changed (or it was created).
    Market {
        /// The market.
        market: MarketId,
        /// Its status.
        status: MarketStatus,
    },
}

/// An order's state after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// The order.
    pub order: OrderId,
    /// Its owner.
    pub account: AccountId,
    /// Its market.
    pub market: MarketId,
    /// The client order id.
    pub client_id: ClientId,
    /// Buy or sell.
    pub side: Side,
    /// The limit price (0 for market orders).
    pub price: u64,
    /// The original base quantity (0 for a market order by quote amount).
    pub qty: u64,
    /// Base quantity filled so far.
    pub executed_qty: u64,
    /// Quote amount filled so far.
    pub executed_quote: u64,
    /// Status after the change.
    pub status: OrderStatus,
    /// Engine time of the change.
    pub ts_ms: u64,
}

/// A trade between a resting (maker) order and an incoming (taker) order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The trade.
    pub trade: TradeId,
    /// The market.
    pub market: MarketId,
    /// The price (the maker's).
    pub price: u64,
    /// Base quantity.
    pub qty: u64,
    /// Quote amount.
    pub quote_qty: u64,
    /// The taker's side.
    pub taker_side: Side,
    /// The resting order.
    pub maker_order: OrderId,
    /// The incoming order.
    pub taker_order: OrderId,
    /// The resting order's owner.
    pub maker_account: AccountId,
    /// The incoming order's owner.
    pub taker_account: AccountId,
    /// Fee the maker paid, in the asset it received.
    pub maker_fee: u64,
    /// Fee the taker paid, in the asset it received.
    pub taker_fee: u64,
    /// Engine time of the trade.
    pub ts_ms: u64,
}

/// The levels of one market's book that one command changed.
///
/// Each changed level consumes one update id; a delta covers `first_update_id..=last_update_id`,
/// and the next delta of the same market starts at `last_update_id + 1`. A consumer that sees
/// any other number has missed something and must re-fetch the book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthDelta {
    /// The market.
    pub market: MarketId,
    /// The first update id in this delta.
    pub first_update_id: u64,
    /// The last update id in this delta.
    pub last_update_id: u64,
    /// Changed bid levels as (price, total quantity); quantity 0 means the level is gone.
    pub bids: Levels,
    /// Changed ask levels, likewise.
    pub asks: Levels,
}

/// Changed levels of one side. Most commands change one or two, which are stored inline so that
/// publishing a delta does not allocate.
pub type Levels = smallvec::SmallVec<[(u64, u64); 2]>;
