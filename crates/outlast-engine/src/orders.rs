//! Orders: validation, placement, cancel, cancel-all, cancel-replace, and depth deltas.
//!
//! Funds are locked when an order is placed (limit orders at their limit price) and released as
//! it fills (see `matching`) or ends. Every validation happens in `validate_order` /
//! `resolve_order` against `&self`; execution below them cannot fail, only assert.

use crate::book::RestingOrder;
use crate::command::{OrderKind, OrderRef, OrderSpec};
use crate::engine::Engine;
use crate::event::{DepthDelta, Event, EventKind, OrderUpdate, Summary};
use crate::matching::{Progress, Stop};
use crate::reject::Reject;
use crate::types::{
    AccountId, AssetId, ClientId, MarketId, MarketStatus, OrderId, OrderStatus, Side, StpMode, TimeInForce,
};

/// An order type in internal units (ticks and lots).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Limit { price_ticks: u64, lots: u64, tif: TimeInForce },
    Maker { price_ticks: u64, lots: u64 },
    MarketBase { lots: u64 },
    MarketQuote { quote: u64 },
}

impl Kind {
    pub(crate) fn limit_ticks(self) -> Option<u64> {
        match self {
            Kind::Limit { price_ticks, .. } | Kind::Maker { price_ticks, .. } => Some(price_ticks),
            Kind::MarketBase { .. } | Kind::MarketQuote { .. } => None,
        }
    }

    pub(crate) fn lots(self) -> Option<u64> {
        match self {
            Kind::Limit { lots, .. } | Kind::Maker { lots, .. } | Kind::MarketBase { lots } => Some(lots),
            Kind::MarketQuote { .. } => None,
        }
    }

    /// Whether an unfilled rest goes on the book.
    fn rests(self) -> bool {
        matches!(self, Kind::Limit { tif: TimeInForce::Gtc, .. } | Kind::Maker { .. })
    }
}

/// A validated order, ready to execute.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewOrder {
    pub(crate) account: AccountId,
    pub(crate) client_id: ClientId,
    pub(crate) market: MarketId,
    pub(crate) side: Side,
    pub(crate) stp: StpMode,
    pub(crate) kind: Kind,
    /// What is locked up front (amount 0 for market orders checked fill by fill).
    pub(crate) lock_asset: AssetId,
    pub(crate) lock_amount: u64,
}

/// What a cancel-replace frees before its new order is placed.
#[derive(Clone, Copy, Debug, Default)]
struct Freed {
    asset: AssetId,
    amount: u64,
    orders: u32,
}

/// Unit factors of a market, copied out so matching can borrow the engine mutably.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Units {
    pub(crate) base: AssetId,
    pub(crate) quote: AssetId,
    pub(crate) tick_size: u64,
    pub(crate) lot_size: u64,
    pub(crate) quote_per_tick_lot: u64,
    pub(crate) maker_fee_ppm: u32,
    pub(crate) taker_fee_ppm: u32,
}

impl Engine {
    pub(crate) fn units(&self, market: MarketId) -> Units {
        let m = &self.markets[market as usize];
        Units {
            base: m.spec.base,
            quote: m.spec.quote,
            tick_size: m.spec.tick_size,
            lot_size: m.spec.lot_size,
            quote_per_tick_lot: m.quote_per_tick_lot,
            maker_fee_ppm: m.spec.maker_fee_ppm,
            taker_fee_ppm: m.spec.taker_fee_ppm,
        }
    }

    /// Quote amount of `lots` at `price_ticks`, or `None` on overflow.
    pub(crate) fn notional(units: Units, price_ticks: u64, lots: u64) -> Option<u64> {
        price_ticks.checked_mul(lots)?.checked_mul(units.quote_per_tick_lot)
    }

    /// The (asset, amount) a resting order holds locked.
    pub(crate) fn resting_lock(units: Units, order: &RestingOrder) -> (AssetId, u64) {
        match order.side {
            Side::Buy => {
                let amount = Self::notional(units, order.price_ticks, order.remaining_lots);
                (units.quote, amount.expect("a resting order's notional was checked at placement"))
            }
            Side::Sell => (units.base, order.remaining_lots * units.lot_size),
        }
    }

    pub(crate) fn place_order(
        &mut self,
        account: AccountId,
        client_id: ClientId,
        spec: &OrderSpec,
        events: &mut Vec<Event>,
    ) -> Result<Summary, Reject> {
        let order = self.validate_order(account, client_id, spec, Freed::default())?;
        let (order, status) = self.execute_order(order, events);
        self.flush_depth(spec.market, events);
        Ok(Summary::OrderPlaced { order, status })
    }

    fn validate_order(
        &self,
        account: AccountId,
        client_id: ClientId,
        spec: &OrderSpec,
        freed: Freed,
    ) -> Result<NewOrder, Reject> {
        let market = self.markets.get(spec.market as usize).ok_or(Reject::UnknownMarket)?;
        match market.status {
            MarketStatus::Trading => {}
            MarketStatus::CancelOnly => return Err(Reject::MarketCancelOnly),
            MarketStatus::Halted => return Err(Reject::MarketHalted),
        }
        let units = self.units(spec.market);
        let book = &self.books[spec.market as usize];
        let to_ticks = |price: u64| -> Result<u64, Reject> {
            match price {
                0 => Err(Reject::ZeroPrice),
                p if p % units.tick_size != 0 => Err(Reject::PriceOffTick),
                p => Ok(p / units.tick_size),
            }
        };
        let to_lots = |qty: u64| -> Result<u64, Reject> {
            match qty {
                0 => Err(Reject::ZeroQuantity),
                q if q % units.lot_size != 0 => Err(Reject::QuantityOffLot),
                q => Ok(q / units.lot_size),
            }
        };
        let kind = match spec.kind {
            OrderKind::Limit { price, qty, tif } => {
                Kind::Limit { price_ticks: to_ticks(price)?, lots: to_lots(qty)?, tif }
            }
            OrderKind::LimitMaker { price, qty } => Kind::Maker { price_ticks: to_ticks(price)?, lots: to_lots(qty)? },
            OrderKind::MarketBase { qty } => Kind::MarketBase { lots: to_lots(qty)? },
            OrderKind::MarketQuote { quote_qty: 0 } => return Err(Reject::ZeroQuantity),
            OrderKind::MarketQuote { quote_qty } => Kind::MarketQuote { quote: quote_qty },
        };
        let mut lock = (units.quote, 0u64);
        if let (Some(price_ticks), Some(lots)) = (kind.limit_ticks(), kind.lots()) {
            let notional = Self::notional(units, price_ticks, lots).ok_or(Reject::Overflow)?;
            if notional < market.spec.min_notional {
                return Err(Reject::BelowMinNotional);
            }
            if let Kind::Maker { .. } = kind {
                let takes = match (spec.side, book.best_price(spec.side.opposite())) {
                    (_, None) => false,
                    (Side::Buy, Some(ask)) => ask <= price_ticks,
                    (Side::Sell, Some(bid)) => bid >= price_ticks,
                };
                if takes {
                    return Err(Reject::PostOnlyWouldTake);
                }
            }
            lock = match spec.side {
                Side::Buy => (units.quote, notional),
                Side::Sell => (units.base, lots * units.lot_size),
            };
        }
        match (kind, spec.side) {
            (Kind::MarketBase { lots }, Side::Sell) => lock = (units.base, lots * units.lot_size),
            (Kind::MarketQuote { quote }, side) => {
                if quote < market.spec.min_notional {
                    return Err(Reject::BelowMinNotional);
                }
                if side == Side::Buy {
                    lock = (units.quote, quote);
                }
            }
            _ => {}
        }
        let holder = &self.accounts[&account];
        let mut available = holder.balance(lock.0).available;
        if freed.asset == lock.0 {
            available = available.saturating_add(freed.amount);
        }
        if available < lock.1 {
            return Err(Reject::InsufficientFunds);
        }
        if kind.rests() {
            let price_ticks = kind.limit_ticks().expect("resting kinds have a price");
            let lots = kind.lots().expect("resting kinds have a quantity");
            if holder.open_orders - freed.orders >= self.limits.open_orders_per_account_max {
                return Err(Reject::OpenOrdersLimit);
            }
            if book.order_count() - freed.orders as usize >= self.limits.orders_per_book_max as usize {
                return Err(Reject::BookOrdersLimit);
            }
            let level_lots = book.level_lots(spec.side, price_ticks);
            if level_lots == 0 && book.level_count(spec.side) >= self.limits.price_levels_per_side_max as usize {
                return Err(Reject::PriceLevelsLimit);
            }
            // A level's total must stay expressible in base minor units for depth events.
            let level_total = level_lots.checked_add(lots).and_then(|total| total.checked_mul(units.lot_size));
            if level_total.is_none() {
                return Err(Reject::Overflow);
            }
        }
        Ok(NewOrder {
            account,
            client_id,
            market: spec.market,
            side: spec.side,
            stp: spec.stp,
            kind,
            lock_asset: lock.0,
            lock_amount: lock.1,
        })
    }

    /// Places a validated order: locks, matches, then rests or releases the remainder.
    fn execute_order(&mut self, order: NewOrder, events: &mut Vec<Event>) -> (OrderId, OrderStatus) {
        let id = self.next_order_id;
        self.next_order_id += 1;
        let units = self.units(order.market);
        let mut progress = Progress {
            remaining_lots: order.kind.lots().unwrap_or(u64::MAX),
            quote_left: match order.kind {
                Kind::MarketQuote { quote } => quote,
                _ => 0,
            },
            lock_left: order.lock_amount,
            executed_lots: 0,
            executed_quote: 0,
        };
        // Fill-or-kill is decided before anything moves: nothing is locked if it cannot fill.
        let fillable = match order.kind {
            Kind::Limit { tif: TimeInForce::Fok, price_ticks, lots } => self.fok_fillable(&order, price_ticks, lots),
            _ => true,
        };
        let stop = if fillable {
            self.lock(order.account, order.lock_asset, order.lock_amount);
            self.match_order(&order, id, units, &mut progress, events)
        } else {
            progress.lock_left = 0;
            Stop::NoLiquidity
        };
        let rest = stop == Stop::NoLiquidity && order.kind.rests() && progress.remaining_lots > 0;
        let status = if stop == Stop::SelfTrade {
            OrderStatus::ExpiredInMatch
        } else if rest && progress.executed_lots == 0 {
            OrderStatus::New
        } else if rest {
            OrderStatus::PartiallyFilled
        } else if stop == Stop::Done {
            OrderStatus::Filled
        } else {
            OrderStatus::Expired
        };
        let price_ticks = order.kind.limit_ticks().unwrap_or(0);
        let qty_lots = order.kind.lots().unwrap_or(0);
        if rest {
            let resting = RestingOrder::new(
                id,
                order.account,
                order.client_id,
                order.side,
                order.stp,
                price_ticks,
                qty_lots,
                progress.remaining_lots,
                progress.executed_quote,
                self.now_ms,
            );
            let (_, lock_needed) = Self::resting_lock(units, &resting);
            assert_eq!(progress.lock_left, lock_needed, "a resting order keeps exactly its lock");
            self.books[order.market as usize].insert(resting);
            self.account_mut(order.account).open_orders += 1;
        } else {
            self.unlock(order.account, order.lock_asset, progress.lock_left);
        }
        let update = OrderUpdate {
            order: id,
            account: order.account,
            market: order.market,
            client_id: order.client_id,
            side: order.side,
            price: price_ticks * units.tick_size,
            qty: qty_lots * units.lot_size,
            executed_qty: progress.executed_lots * units.lot_size,
            executed_quote: progress.executed_quote,
            status,
            ts_ms: self.now_ms,
        };
        self.emit(events, EventKind::Order(update));
        (id, status)
    }

    /// Bookkeeping for an order leaving the book: the open count, and the id kept for it past
    /// its window, if any.
    pub(crate) fn close_order(&mut self, order: &RestingOrder) {
        let holder = self.account_mut(order.account);
        assert!(holder.open_orders > 0, "an account closing an order had one open");
        holder.open_orders -= 1;
        if order.placed_ms.saturating_add(self.id_retention_ms()) < self.now_ms {
            self.ids.release_kept(order.account, &order.client_id);
        }
    }

    pub(crate) fn emit_resting_update(
        &mut self,
        market: MarketId,
        order: &RestingOrder,
        status: OrderStatus,
        events: &mut Vec<Event>,
    ) {
        let units = self.units(market);
        let update = OrderUpdate {
            order: order.id,
            account: order.account,
            market,
            client_id: order.client_id,
            side: order.side,
            price: order.price_ticks * units.tick_size,
            qty: order.qty_lots * units.lot_size,
            executed_qty: (order.qty_lots - order.remaining_lots) * units.lot_size,
            executed_quote: order.executed_quote,
            status,
            ts_ms: self.now_ms,
        };
        self.emit(events, EventKind::Order(update));
    }

    /// Removes a resting order (cancel or self-trade expiry), releasing its lock.
    pub(crate) fn take_off_book(
        &mut self,
        market: MarketId,
        slot: u32,
        status: OrderStatus,
        events: &mut Vec<Event>,
    ) -> OrderId {
        let units = self.units(market);
        let order = self.books[market as usize].remove(slot);
        let (asset, amount) = Self::resting_lock(units, &order);
        self.unlock(order.account, asset, amount);
        self.close_order(&order);
        self.emit_resting_update(market, &order, status, events);
        order.id
    }

    /// Publishes the levels this command changed in `market`, if any.
    fn flush_depth(&mut self, market: MarketId, events: &mut Vec<Event>) {
        let mut touched = std::mem::take(&mut self.touched_levels);
        let book = &mut self.books[market as usize];
        book.take_touched(&mut touched);
        if !touched.is_empty() {
            let units = self.units(market);
            let book = &mut self.books[market as usize];
            let first_update_id = book.update_id + 1;
            book.update_id += touched.len() as u64;
            let mut delta = DepthDelta {
                market,
                first_update_id,
                last_update_id: book.update_id,
                bids: Default::default(),
                asks: Default::default(),
            };
            for &(side, price_ticks, total_lots) in touched.iter() {
                debug_assert_eq!(total_lots, book.level_lots(side, price_ticks));
                let level = (price_ticks * units.tick_size, total_lots * units.lot_size);
                match side {
                    Side::Buy => delta.bids.push(level),
                    Side::Sell => delta.asks.push(level),
                }
            }
            self.emit(events, EventKind::Depth(delta));
        }
        self.touched_levels = touched;
    }

    /// Finds an open order of `account` in `market`; cancels are allowed unless halted.
    fn resolve_order(&self, account: AccountId, market: MarketId, target: OrderRef) -> Result<u32, Reject> {
        let status = self.markets.get(market as usize).ok_or(Reject::UnknownMarket)?.status;
        if status == MarketStatus::Halted {
            return Err(Reject::MarketHalted);
        }
        let book = &self.books[market as usize];
        match target {
            OrderRef::Id(id) => {
                let slot = book.slot_of(id).ok_or(Reject::UnknownOrder)?;
                if book.order(slot).account != account {
                    return Err(Reject::NotOrderOwner);
                }
                Ok(slot)
            }
            OrderRef::Client(client_id) => {
                match self.ids.get(account, &client_id).and_then(|e| self.open_order_of(e)) {
                    Some((open_market, id)) if open_market == market => {
                        Ok(book.slot_of(id).expect("an open id names a resting order"))
                    }
                    _ => Err(Reject::UnknownOrder),
                }
            }
        }
    }

    pub(crate) fn cancel_order(
        &mut self,
        account: AccountId,
        market: MarketId,
        target: OrderRef,
        events: &mut Vec<Event>,
    ) -> Result<Summary, Reject> {
        let slot = self.resolve_order(account, market, target)?;
        let id = self.take_off_book(market, slot, OrderStatus::Canceled, events);
        self.flush_depth(market, events);
        Ok(Summary::OrderCanceled(id))
    }

    /// Cancels every open order of `account` in `market`, in book priority order. It scans the
    /// book, which `orders_per_book_max` bounds.
    pub(crate) fn cancel_all(
        &mut self,
        account: AccountId,
        market: MarketId,
        events: &mut Vec<Event>,
    ) -> Result<Summary, Reject> {
        let status = self.markets.get(market as usize).ok_or(Reject::UnknownMarket)?.status;
        if status == MarketStatus::Halted {
            return Err(Reject::MarketHalted);
        }
        let open = self.open_ids_in(account, market);
        for &(_, id) in &open {
            let slot = self.books[market as usize].slot_of(id).expect("an open id names a resting order");
            self.take_off_book(market, slot, OrderStatus::Canceled, events);
        }
        self.flush_depth(market, events);
        Ok(Summary::CanceledAll { count: open.len() as u32 })
    }

    /// Cancels `target` and places `new_order` in its market, or does neither.
    pub(crate) fn cancel_replace(
        &mut self,
        account: AccountId,
        client_id: ClientId,
        target: OrderRef,
        new_order: &OrderSpec,
        events: &mut Vec<Event>,
    ) -> Result<Summary, Reject> {
        let slot = self.resolve_order(account, new_order.market, target)?;
        let units = self.units(new_order.market);
        let (asset, amount) = Self::resting_lock(units, self.books[new_order.market as usize].order(slot));
        let order = self.validate_order(account, client_id, new_order, Freed { asset, amount, orders: 1 })?;
        let canceled = self.take_off_book(new_order.market, slot, OrderStatus::Canceled, events);
        let (order, status) = self.execute_order(order, events);
        self.flush_depth(new_order.market, events);
        Ok(Summary::Replaced { canceled, order, status })
    }
}
