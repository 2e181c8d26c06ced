//! Matching: a taker against the opposite side of the book, in price-time priority.
//!
//! Each fill moves money at the maker's price (`settle`): the buyer pays quote, the seller
//! delivers base, each receives the other's asset less its fee, which goes to the fee account; a
//! buyer filled below its limit gets the difference back at once. Self-trade prevention and
//! fill-or-kill are decided here too. Nothing here validates input: `orders` did that, so every
//! arithmetic step is bounded and asserted.

use crate::engine::Engine;
use crate::event::{Event, EventKind, Trade};
use crate::money::fee;
use crate::orders::{Kind, NewOrder, Units};
use crate::types::{OrderId, OrderStatus, Side, StpMode, FEE_ACCOUNT};

/// Why matching stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Nothing left to fill (or, by quote amount, not enough left for one more lot).
    Done,
    /// The opposite side ran out at acceptable prices.
    NoLiquidity,
    /// The taker cannot pay for the next lot (market orders checked fill by fill).
    Unaffordable,
    /// Self-trade prevention expired the taker.
    SelfTrade,
}

/// A taker's progress through the book.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    pub(crate) remaining_lots: u64,
    pub(crate) quote_left: u64,
    pub(crate) lock_left: u64,
    pub(crate) executed_lots: u64,
    pub(crate) executed_quote: u64,
}

impl Engine {
    /// Whether a fill-or-kill order can fill completely right now, honouring self-trade
    /// prevention the way `match_order` will.
    pub(crate) fn fok_fillable(&self, order: &NewOrder, limit_ticks: u64, lots: u64) -> bool {
        let book = &self.books[order.market as usize];
        let mut fillable = 0u64;
        for slot in book.iter_side(order.side.opposite()) {
            let maker = book.order(slot);
            let crosses = match order.side {
                Side::Buy => maker.price_ticks <= limit_ticks,
                Side::Sell => maker.price_ticks >= limit_ticks,
            };
            if !crosses {
                break;
            }
            if maker.account == order.account && order.stp != StpMode::None {
                if order.stp == StpMode::ExpireMaker {
                    continue;
                }
                break;
            }
            fillable = fillable.saturating_add(maker.remaining_lots);
            if fillable >= lots {
                return true;
            }
        }
        false
    }

    pub(crate) fn match_order(
        &mut self,
        order: &NewOrder,
        id: OrderId,
        units: Units,
        progress: &mut Progress,
        events: &mut Vec<Event>,
    ) -> Stop {
        let opposite = order.side.opposite();
        loop {
            if progress.remaining_lots == 0 {
                return Stop::Done;
            }
            let book = &self.books[order.market as usize];
            let Some(slot) = book.best_slot(opposite) else {
                return Stop::NoLiquidity;
            };
            let maker = book.order(slot);
            let (maker_account, maker_price, maker_left) = (maker.account, maker.price_ticks, maker.remaining_lots);
            if let Some(limit) = order.kind.limit_ticks() {
                let crosses = match order.side {
                    Side::Buy => maker_price <= limit,
                    Side::Sell => maker_price >= limit,
                };
                if !crosses {
                    return Stop::NoLiquidity;
                }
            }
            if maker_account == order.account && order.stp != StpMode::None {
                if order.stp != StpMode::ExpireTaker {
                    self.take_off_book(order.market, slot, OrderStatus::ExpiredInMatch, events);
                }
                if order.stp == StpMode::ExpireMaker {
                    continue;
                }
                return Stop::SelfTrade;
            }
            let unit_quote = maker_price.checked_mul(units.quote_per_tick_lot).expect("maker notional was checked");
            let mut lots = progress.remaining_lots.min(maker_left);
            if let Kind::MarketQuote { .. } = order.kind {
                lots = lots.min(progress.quote_left / unit_quote);
                if lots == 0 {
                    return Stop::Done;
                }
            }
            let holder = &self.accounts[&order.account];
            match (order.kind, order.side) {
                (Kind::MarketBase { .. }, Side::Buy) => {
                    lots = lots.min(holder.balance(units.quote).available / unit_quote)
                }
                (Kind::MarketQuote { .. }, Side::Sell) => {
                    lots = lots.min(holder.balance(units.base).available / units.lot_size)
                }
                _ => {}
            }
            if lots == 0 {
                return Stop::Unaffordable;
            }
            self.settle(order, id, units, slot, lots, progress, events);
        }
    }

    /// Moves money for one fill of `lots` against the maker in `slot`, and publishes it.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        order: &NewOrder,
        id: OrderId,
        units: Units,
        slot: u32,
        lots: u64,
        progress: &mut Progress,
        events: &mut Vec<Event>,
    ) {
        let maker = self.books[order.market as usize].order(slot).clone();
        let base = lots * units.lot_size;
        let quote = Self::notional(units, maker.price_ticks, lots).expect("within the maker's notional");
        let (buyer, seller) = match order.side {
            Side::Buy => (order.account, maker.account),
            Side::Sell => (maker.account, order.account),
        };
        let (buyer_fee_ppm, seller_fee_ppm) = match order.side {
            Side::Buy => (units.taker_fee_ppm, units.maker_fee_ppm),
            Side::Sell => (units.maker_fee_ppm, units.taker_fee_ppm),
        };
        // The buyer pays quote: the maker and lock-based takers from locked funds.
        match (order.side, order.kind) {
            (Side::Sell, _) => self.debit_locked(buyer, units.quote, quote),
            (Side::Buy, Kind::MarketBase { .. }) => self.debit_available(buyer, units.quote, quote),
            (Side::Buy, Kind::MarketQuote { .. }) => {
                self.debit_locked(buyer, units.quote, quote);
                progress.lock_left -= quote;
                progress.quote_left -= quote;
            }
            (Side::Buy, Kind::Limit { price_ticks, .. } | Kind::Maker { price_ticks, .. }) => {
                let held = Self::notional(units, price_ticks, lots).expect("within the taker's notional");
                self.debit_locked(buyer, units.quote, quote);
                // Filled below its limit: the buyer gets the difference back now.
                let refund = held - quote;
                #[cfg(feature = "planted-faults")]
                let refund = if self.planted(crate::engine::PlantedBug::KeepPriceImprovement) { 0 } else { refund };
                self.unlock(buyer, units.quote, refund);
                progress.lock_left -= held;
            }
        }
        // The seller delivers base: the maker and lock-based takers from locked funds.
        match (order.side, order.kind) {
            (Side::Buy, _) => self.debit_locked(seller, units.base, base),
            (Side::Sell, Kind::MarketQuote { .. }) => {
                self.debit_available(seller, units.base, base);
                progress.quote_left = progress.quote_left.saturating_sub(quote);
            }
            (Side::Sell, _) => {
                self.debit_locked(seller, units.base, base);
                progress.lock_left -= base;
            }
        }
        let buyer_fee = fee(base, buyer_fee_ppm);
        let seller_fee = fee(quote, seller_fee_ppm);
        self.credit(buyer, units.base, base - buyer_fee);
        self.credit(seller, units.quote, quote - seller_fee);
        self.credit(FEE_ACCOUNT, units.base, buyer_fee);
        self.credit(FEE_ACCOUNT, units.quote, seller_fee);
        #[cfg(feature = "planted-faults")]
        if self.planted(crate::engine::PlantedBug::DoubleFee) {
            self.credit(FEE_ACCOUNT, units.quote, seller_fee);
        }
        if order.kind.lots().is_some() {
            progress.remaining_lots -= lots;
        }
        progress.executed_lots += lots;
        progress.executed_quote = progress.executed_quote.checked_add(quote).expect("bounded by the taker's funds");

        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let (maker_fee, taker_fee) = match order.side {
            Side::Buy => (seller_fee, buyer_fee),
            Side::Sell => (buyer_fee, seller_fee),
        };
        let trade = Trade {
            trade: trade_id,
            market: order.market,
            price: maker.price_ticks * units.tick_size,
            qty: base,
            quote_qty: quote,
            taker_side: order.side,
            maker_order: maker.id,
            taker_order: id,
            maker_account: maker.account,
            taker_account: order.account,
            maker_fee,
            taker_fee,
            ts_ms: self.now_ms,
        };
        self.emit(events, EventKind::Trade(trade));
        let filled = self.books[order.market as usize].fill(slot, lots, quote);
        let status = match &filled {
            Some(_) => OrderStatus::Filled,
            None => OrderStatus::PartiallyFilled,
        };
        let after = filled.unwrap_or_else(|| self.books[order.market as usize].order(slot).clone());
        if status == OrderStatus::Filled {
            self.close_order(&after);
        }
        self.emit_resting_update(order.market, &after, status, events);
    }
}
