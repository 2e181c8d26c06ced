//! The rows the history keeps, in minor units (the API formats them).

use outlast_engine::{
    AccountId, AssetId, ClientId, DepositId, MarketId, OrderId, OrderStatus, Side, StpMode, TimeInForce, TradeId,
};
use serde::{Deserialize, Serialize};

/// Order types as the API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderType {
    /// LIMIT
    Limit,
    /// LIMIT_MAKER
    LimitMaker,
    /// MARKET
    Market,
}

/// An order as last seen: open or ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Engine id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Market.
    pub market: MarketId,
    /// Client order id.
    pub client_id: ClientId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force (GTC for LIMIT_MAKER and market orders, as Binance reports them).
    pub tif: TimeInForce,
    /// Self-trade prevention mode.
    pub stp: StpMode,
    /// Limit price in quote minor units per whole base unit (0 for market orders).
    pub price: u64,
    /// Ordered base quantity (0 for a market order by quote amount).
    pub qty: u64,
    /// Ordered quote amount of a market order by quote amount (else 0).
    pub quote_qty: u64,
    /// Base filled so far.
    pub executed_qty: u64,
    /// Quote filled so far.
    pub executed_quote: u64,
    /// Status.
    pub status: OrderStatus,
    /// Engine time it was placed.
    pub placed_ms: u64,
    /// Engine time of its last change.
    pub updated_ms: u64,
}

/// A trade as a market's public tape shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketTrade {
    /// Trade id.
    pub id: TradeId,
    /// Price.
    pub price: u64,
    /// Base quantity.
    pub qty: u64,
    /// Quote amount.
    pub quote_qty: u64,
    /// Whether the buyer was the maker (Binance's `isBuyerMaker`).
    pub buyer_is_maker: bool,
    /// Engine time.
    pub ts_ms: u64,
}

/// A trade as one of its two accounts sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTrade {
    /// Trade id.
    pub id: TradeId,
    /// Market.
    pub market: MarketId,
    /// This account's order.
    pub order: OrderId,
    /// Price.
    pub price: u64,
    /// Base quantity.
    pub qty: u64,
    /// Quote amount.
    pub quote_qty: u64,
    /// Fee paid, in `commission_asset` minor units.
    pub commission: u64,
    /// The asset the fee was taken in (the one received).
    pub commission_asset: AssetId,
    /// This account bought.
    pub is_buyer: bool,
    /// This account's order was resting.
    pub is_maker: bool,
    /// Engine time.
    pub ts_ms: u64,
}

/// A credited deposit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRow {
    /// Engine id.
    pub id: DepositId,
    /// Asset.
    pub asset: AssetId,
    /// Amount.
    pub amount: u64,
    /// Chain transaction id.
    pub chain_tx: String,
    /// Engine time it was credited.
    pub ts_ms: u64,
}
