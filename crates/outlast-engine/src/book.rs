//! One market's order book: price levels in price-time priority, in internal units.
//!
//! Prices are in ticks and quantities in lots here; conversion to minor units happens at the
//! edges (validation and events). A side's levels are a vector sorted so that the best price is
//! last (cheap to reach and to pop); the orders of a level form a doubly linked FIFO list through
//! slots of a slab, so a cancel anywhere in the queue is O(1) once the level is found.
//!
//! The book knows nothing of accounts, balances or fees: it must never touch money. It records
//! which levels changed so the engine can publish a depth delta.

use std::collections::HashMap;

use crate::hasher::IdBuildHasher;
use crate::types::{AccountId, ClientId, OrderId, Side, StpMode};

/// "No slot": the end of a level's list.
const NIL: u32 = u32::MAX;

/// An order resting on the book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Engine order id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Client order id.
    pub client_id: ClientId,
    /// Side.
    pub side: Side,
    /// Self-trade prevention mode it was placed with.
    pub stp: StpMode,
    /// Limit price in ticks.
    pub price_ticks: u64,
    /// Original quantity in lots.
    pub qty_lots: u64,
    /// Unfilled quantity in lots (always > 0 while resting).
    pub remaining_lots: u64,
    /// Quote filled so far, in quote minor units.
    pub executed_quote: u64,
    /// Engine time it was placed.
    pub placed_ms: u64,
    prev: u32,
    next: u32,
}

impl RestingOrder {
    /// A new resting order, not yet linked.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: OrderId,
        account: AccountId,
        client_id: ClientId,
        side: Side,
        stp: StpMode,
        price_ticks: u64,
        qty_lots: u64,
        remaining_lots: u64,
        executed_quote: u64,
        placed_ms: u64,
    ) -> RestingOrder {
        assert!(remaining_lots > 0 && remaining_lots <= qty_lots);
        RestingOrder {
            id,
            account,
            client_id,
            side,
            stp,
            price_ticks,
            qty_lots,
            remaining_lots,
            executed_quote,
            placed_ms,
            prev: NIL,
            next: NIL,
        }
    }
}

/// All orders at one price on one side.
#[derive(Clone, Copy, Debug)]
struct Level {
    price_ticks: u64,
    total_lots: u64,
    count: u32,
    head: u32,
    tail: u32,
}

/// The book of one market.
#[derive(Clone, Debug, Default)]
pub struct Book {
    /// Ascending by price: best bid last.
    bids: Vec<Level>,
    /// Descending by price: best ask last.
    asks: Vec<Level>,
    slots: Vec<Option<RestingOrder>>,
    free: Vec<u32>,
    index: HashMap<OrderId, u32, IdBuildHasher>,
    /// The last depth update id published for this market.
    pub update_id: u64,
    /// Levels changed by the current command as (side, price, total lots after the change);
    /// scratch, not state.
    touched: Vec<(Side, u64, u64)>,
}

impl Book {
    fn levels(&self, side: Side) -> &Vec<Level> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn levels_mut(&mut self, side: Side) -> &mut Vec<Level> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Where `price_ticks` is (Ok) or would go (Err) in `side`'s sorted levels.
    fn level_position(&self, side: Side, price_ticks: u64) -> Result<usize, usize> {
        let levels = self.levels(side);
        match side {
            Side::Buy => levels.binary_search_by(|level| level.price_ticks.cmp(&price_ticks)),
            Side::Sell => levels.binary_search_by(|level| price_ticks.cmp(&level.price_ticks)),
        }
    }

    /// Number of resting orders.
    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    /// Number of price levels on one side.
    pub fn level_count(&self, side: Side) -> usize {
        self.levels(side).len()
    }

    /// Total lots resting at `price_ticks` on `side` (0 if no level).
    pub fn level_lots(&self, side: Side, price_ticks: u64) -> u64 {
        match self.level_position(side, price_ticks) {
            Ok(position) => self.levels(side)[position].total_lots,
            Err(_) => 0,
        }
    }

    /// The best price on `side`, if any.
    pub fn best_price(&self, side: Side) -> Option<u64> {
        self.levels(side).last().map(|level| level.price_ticks)
    }

    /// The first order in priority on `side`, by slot.
    pub fn best_slot(&self, side: Side) -> Option<u32> {
        self.levels(side).last().map(|level| level.head)
    }

    /// The order in `slot`.
    pub fn order(&self, slot: u32) -> &RestingOrder {
        self.slots[slot as usize].as_ref().expect("slot holds a resting order")
    }

    /// The slot of order `id`, if it rests here.
    pub fn slot_of(&self, id: OrderId) -> Option<u32> {
        self.index.get(&id).copied()
    }

    /// Slots in priority order on `side` (best price first, then time).
    pub fn iter_side(&self, side: Side) -> impl Iterator<Item = u32> + '_ {
        self.levels(side).iter().rev().flat_map(move |level| {
            let mut slot = level.head;
            std::iter::from_fn(move || {
                if slot == NIL {
                    return None;
                }
                let current = slot;
                slot = self.order(current).next;
                Some(current)
            })
        })
    }

    /// Puts `order` at the back of its price level. The caller has checked the limits.
    pub fn insert(&mut self, order: RestingOrder) -> u32 {
        let (side, price_ticks, lots, id) = (order.side, order.price_ticks, order.remaining_lots, order.id);
        let slot = match self.free.pop() {
            Some(slot) => {
                assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(order);
                slot
            }
            None => {
                self.slots.push(Some(order));
                u32::try_from(self.slots.len() - 1).expect("orders_per_book_max < u32::MAX")
            }
        };
        let previous = self.index.insert(id, slot);
        assert!(previous.is_none(), "order ids are unique");
        let position = match self.level_position(side, price_ticks) {
            Ok(position) => position,
            Err(position) => {
                let level = Level { price_ticks, total_lots: 0, count: 0, head: NIL, tail: NIL };
                self.levels_mut(side).insert(position, level);
                position
            }
        };
        let level = self.levels(side)[position];
        if level.tail != NIL {
            self.slot_mut(level.tail).next = slot;
            self.slot_mut(slot).prev = level.tail;
        }
        let level = &mut self.levels_mut(side)[position];
        if level.head == NIL {
            level.head = slot;
        }
        level.tail = slot;
        level.count += 1;
        level.total_lots = level.total_lots.checked_add(lots).expect("level totals are checked on validation");
        let total = level.total_lots;
        self.touched.push((side, price_ticks, total));
        slot
    }

    fn slot_mut(&mut self, slot: u32) -> &mut RestingOrder {
        self.slots[slot as usize].as_mut().expect("slot holds a resting order")
    }

    /// Fills `lots` of the order in `slot` for `quote` quote units. Returns the order if this
    /// filled it completely (it has then left the book).
    pub fn fill(&mut self, slot: u32, lots: u64, quote: u64) -> Option<RestingOrder> {
        let order = self.slot_mut(slot);
        assert!(lots > 0 && lots <= order.remaining_lots, "a fill never exceeds the remainder");
        order.remaining_lots -= lots;
        order.executed_quote = order.executed_quote.checked_add(quote).expect("fills stay within the order's notional");
        let (side, price_ticks, done) = (order.side, order.price_ticks, order.remaining_lots == 0);
        let position = self.level_position(side, price_ticks).expect("a resting order has a level");
        let level = &mut self.levels_mut(side)[position];
        assert!(level.total_lots >= lots);
        level.total_lots -= lots;
        let total = level.total_lots;
        self.touched.push((side, price_ticks, total));
        if done {
            Some(self.remove(slot))
        } else {
            None
        }
    }

    /// Takes the order in `slot` off the book.
    pub fn remove(&mut self, slot: u32) -> RestingOrder {
        let order = self.slots[slot as usize].take().expect("slot holds a resting order");
        self.free.push(slot);
        let removed = self.index.remove(&order.id);
        assert_eq!(removed, Some(slot));
        if order.prev != NIL {
            self.slot_mut(order.prev).next = order.next;
        }
        if order.next != NIL {
            self.slot_mut(order.next).prev = order.prev;
        }
        let position = self.level_position(order.side, order.price_ticks).expect("a resting order has a level");
        let levels = self.levels_mut(order.side);
        let level = &mut levels[position];
        if level.head == slot {
            level.head = order.next;
        }
        if level.tail == slot {
            level.tail = order.prev;
        }
        assert!(level.total_lots >= order.remaining_lots && level.count > 0);
        level.total_lots -= order.remaining_lots;
        level.count -= 1;
        let total = level.total_lots;
        if level.count == 0 {
            assert_eq!(total, 0, "an empty level holds no quantity");
            levels.remove(position);
        }
        self.touched.push((order.side, order.price_ticks, total));
        order
    }

    /// Drains the levels changed since the last call as (side, price, total lots now): each
    /// (side, price) once with its latest total, in a canonical order (bids then asks, each by
    /// ascending price).
    pub fn take_touched(&mut self, into: &mut Vec<(Side, u64, u64)>) {
        into.clear();
        into.append(&mut self.touched);
        if into.len() > 1 {
            // Latest first, then a stable sort keeps the latest of each level in front.
            into.reverse();
            into.sort_by_key(|&(side, price, _)| (side, price));
            into.dedup_by_key(|&mut (side, price, _)| (side, price));
        }
    }

    /// Checks the book's own invariants: sorted levels, totals and counts that match the
    /// orders, consistent links and index, and no crossed book. Returns a description of the
    /// first violation.
    pub fn check(&self) -> Result<(), String> {
        for side in [Side::Buy, Side::Sell] {
            let levels = self.levels(side);
            for pair in levels.windows(2) {
                let sorted = match side {
                    Side::Buy => pair[0].price_ticks < pair[1].price_ticks,
                    Side::Sell => pair[0].price_ticks > pair[1].price_ticks,
                };
                if !sorted {
                    return Err(format!("{side:?} levels out of order"));
                }
            }
            for level in levels {
                let (mut lots, mut count, mut slot, mut prev) = (0u64, 0u32, level.head, NIL);
                while slot != NIL {
                    let order = self.order(slot);
                    if order.prev != prev || order.side != side || order.price_ticks != level.price_ticks {
                        return Err(format!("order {} mislinked", order.id));
                    }
                    if order.remaining_lots == 0 || order.remaining_lots > order.qty_lots {
                        return Err(format!("order {} has remainder {}", order.id, order.remaining_lots));
                    }
                    if self.index.get(&order.id) != Some(&slot) {
                        return Err(format!("order {} missing from index", order.id));
                    }
                    lots += order.remaining_lots;
                    count += 1;
                    prev = slot;
                    slot = order.next;
                }
                if prev != level.tail || lots != level.total_lots || count != level.count || count == 0 {
                    return Err(format!("{side:?} level {} totals disagree", level.price_ticks));
                }
            }
        }
        let indexed = self.slots.iter().filter(|slot| slot.is_some()).count();
        if indexed != self.index.len() {
            return Err("index and slots disagree".into());
        }
        if let (Some(bid), Some(ask)) = (self.best_price(Side::Buy), self.best_price(Side::Sell)) {
            if bid >= ask {
                return Err(format!("book crossed: bid {bid} >= ask {ask}"));
            }
        }
        Ok(())
    }
}
