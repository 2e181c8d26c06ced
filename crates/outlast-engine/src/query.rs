//! Read-only views of the state, in minor units, for the API layer and for tests.
//!
//! Nothing here mutates, and everything returned is in a defined order.

use crate::account::{Balance, IdEntry};
use crate::engine::{Asset, DepositRecord, Engine, Market, Withdrawal};
use crate::types::{AccountId, AssetId, ClientId, MarketId, OrderId, Side, WithdrawalId};

/// A resting order, in minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Engine id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Client order id.
    pub client_id: ClientId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: u64,
    /// Original quantity.
    pub qty: u64,
    /// Unfilled quantity.
    pub remaining: u64,
    /// Quote filled so far.
    pub executed_quote: u64,
    /// Engine time it was placed.
    pub placed_ms: u64,
}

/// A depth snapshot of one book: best levels first, with the update id it reflects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthView {
    /// The last depth update id applied to this book.
    pub last_update_id: u64,
    /// (price, total quantity), best first.
    pub bids: Vec<(u64, u64)>,
    /// (price, total quantity), best first.
    pub asks: Vec<(u64, u64)>,
}

impl Engine {
    /// An account's balance of an asset; `None` if the account does not exist.
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Option<Balance> {
        self.accounts.get(&account).map(|a| a.balance(asset))
    }

    /// Whether the account exists.
    pub fn has_account(&self, account: AccountId) -> bool {
        self.accounts.contains_key(&account)
    }

    /// All account ids, ascending.
    pub fn account_ids(&self) -> Vec<AccountId> {
        let mut ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Assets, by id.
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    /// Markets, by id.
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    /// A market by symbol.
    pub fn market_id(&self, symbol: &str) -> Option<MarketId> {
        self.markets.iter().position(|m| m.spec.symbol == symbol).map(|i| i as MarketId)
    }

    /// An asset by symbol.
    pub fn asset_id(&self, symbol: &str) -> Option<AssetId> {
        self.assets.iter().position(|a| a.symbol == symbol).map(|i| i as AssetId)
    }

    /// A resting order of a market.
    pub fn open_order(&self, market: MarketId, id: OrderId) -> Option<OrderView> {
        let book = self.books.get(market as usize)?;
        let spec = &self.markets[market as usize].spec;
        let o = book.order(book.slot_of(id)?);
        Some(OrderView {
            id: o.id,
            account: o.account,
            client_id: o.client_id,
            side: o.side,
            price: o.price_ticks * spec.tick_size,
            qty: o.qty_lots * spec.lot_size,
            remaining: o.remaining_lots * spec.lot_size,
            executed_quote: o.executed_quote,
            placed_ms: o.placed_ms,
        })
    }

    /// The open orders of an account in a market, by client id.
    pub fn open_orders(&self, account: AccountId, market: MarketId) -> Vec<OrderView> {
        self.open_ids_in(account, market).into_iter().filter_map(|(_, id)| self.open_order(market, id)).collect()
    }

    /// The best `levels_max` levels of each side of a book.
    pub fn depth(&self, market: MarketId, levels_max: usize) -> Option<DepthView> {
        let book = self.books.get(market as usize)?;
        let spec = &self.markets[market as usize].spec;
        let side = |side: Side| -> Vec<(u64, u64)> {
            let mut levels = Vec::new();
            for slot in book.iter_side(side) {
                let price_ticks = book.order(slot).price_ticks;
                if levels.last().map(|&(p, _)| p) != Some(price_ticks) {
                    if levels.len() == levels_max {
                        break;
                    }
                    levels.push((price_ticks, book.level_lots(side, price_ticks)));
                }
            }
            levels.into_iter().map(|(p, q)| (p * spec.tick_size, q * spec.lot_size)).collect()
        };
        Some(DepthView { last_update_id: book.update_id, bids: side(Side::Buy), asks: side(Side::Sell) })
    }

    /// A withdrawal by id.
    pub fn withdrawal(&self, id: WithdrawalId) -> Option<&Withdrawal> {
        self.withdrawals.get(id.checked_sub(1)? as usize)
    }

    /// All withdrawals, by id.
    pub fn withdrawals(&self) -> &[Withdrawal] {
        &self.withdrawals
    }

    /// A deposit by chain transaction id.
    pub fn deposit_record(&self, chain_tx: &str) -> Option<&DepositRecord> {
        self.deposits.get(chain_tx)
    }

    /// How many request-id records the engine holds (a gauge for memory: about 100 bytes each).
    pub fn remembered_ids(&self) -> usize {
        self.ids.len()
    }

    /// What the engine remembers of a request id.
    pub fn request(&self, account: AccountId, id: ClientId) -> Option<IdEntry> {
        self.ids.get(account, &id).copied()
    }
}
