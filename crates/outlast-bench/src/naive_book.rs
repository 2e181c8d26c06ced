//! A textbook order book, the engine benchmark's same-process baseline.
//!
//! Price levels in `BTreeMap`s, each a `VecDeque` FIFO, and a `HashMap` from order id to where
//! the order rests — the structure most first matching engines use. It matches the same commands
//! as the engine but does none of the engine's other work (no accounts, funds, fees, idempotency
//! or events), so the ratio engine/naive tells how much the full exchange path costs relative to
//! bare matching, measured on the same machine in the same run.

use std::collections::{BTreeMap, HashMap, VecDeque};

use outlast_engine::{AccountAction, Command, CommandBody, OrderKind, OrderRef, OrderSpec, Side, TimeInForce};

/// The baseline book. Order ids are assigned like the engine's (one per placement, from 1), so
/// the workload's cancels name the same orders.
#[derive(Default)]
pub struct NaiveBook {
    bids: BTreeMap<u64, VecDeque<(u64, u64)>>,
    asks: BTreeMap<u64, VecDeque<(u64, u64)>>,
    index: HashMap<u64, (Side, u64)>,
    next_id: u64,
    /// Trades matched so far.
    pub trades: usize,
}

impl NaiveBook {
    /// A book whose first order id is `first_id`.
    pub fn starting_at(first_id: u64) -> NaiveBook {
        NaiveBook { next_id: first_id, ..NaiveBook::default() }
    }

    /// Applies the order part of `command`; other commands are ignored.
    pub fn apply(&mut self, command: &Command) {
        let CommandBody::Account(request) = &command.body else { return };
        match &request.action {
            AccountAction::PlaceOrder(spec) => self.place(spec),
            AccountAction::CancelOrder { target: OrderRef::Id(id), .. } => self.cancel(*id),
            AccountAction::CancelReplace { target: OrderRef::Id(id), new_order } => {
                self.cancel(*id);
                self.place(new_order);
            }
            _ => {}
        }
    }

    fn place(&mut self, spec: &OrderSpec) {
        let id = self.next_id;
        self.next_id += 1;
        let (limit, qty, rests) = match spec.kind {
            OrderKind::Limit { price, qty, tif } => (Some(price), qty, tif == TimeInForce::Gtc),
            OrderKind::LimitMaker { price, qty } => (Some(price), qty, true),
            OrderKind::MarketBase { qty } => (None, qty, false),
            OrderKind::MarketQuote { .. } => return,
        };
        let left = self.take(spec.side, limit, qty);
        if left > 0 && rests {
            let price = limit.expect("resting orders have a price");
            let levels = match spec.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            levels.entry(price).or_default().push_back((id, left));
            self.index.insert(id, (spec.side, price));
        }
    }

    /// Matches against the opposite side; returns the quantity left.
    fn take(&mut self, side: Side, limit: Option<u64>, mut qty: u64) -> u64 {
        while qty > 0 {
            let best = match side {
                Side::Buy => self.asks.first_entry(),
                Side::Sell => self.bids.last_entry(),
            };
            let Some(mut level) = best else { break };
            let price = *level.key();
            let crosses = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(limit)) => price <= limit,
                (Side::Sell, Some(limit)) => price >= limit,
            };
            if !crosses {
                break;
            }
            let queue = level.get_mut();
            while qty > 0 {
                let Some(front) = queue.front_mut() else { break };
                let fill = qty.min(front.1);
                qty -= fill;
                front.1 -= fill;
                self.trades += 1;
                if front.1 == 0 {
                    self.index.remove(&front.0);
                    queue.pop_front();
                }
            }
            if queue.is_empty() {
                level.remove();
            }
        }
        qty
    }

    fn cancel(&mut self, id: u64) {
        let Some((side, price)) = self.index.remove(&id) else { return };
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let queue = levels.get_mut(&price).expect("an indexed order has a level");
        queue.retain(|&(order, _)| order != id);
        if queue.is_empty() {
            levels.remove(&price);
        }
    }
}
