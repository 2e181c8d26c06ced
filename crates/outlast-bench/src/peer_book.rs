//! The engine benchmark's peer: the same workload on orderbook-rs, a matching-engine crate from
//! crates.io that a team might pick instead of writing one.
//!
//! The engine's commands are translated once, before any timing, into the peer's own calls:
//! a GTC limit is `add_limit_order`, an IOC limit is `add_limit_order` with IOC, a market
//! order is `submit_market_order`, a cancel is `cancel_order`, and a move (cancel-replace)
//! is the peer's native `update_order(Replace)`, which keeps the order's id and sends it to the
//! back of its new level — the same priority the engine gives the new order. So both books
//! see the same orders at the same prices in the same sequence, and must make the same trades
//! (checked by [`PeerBook::validate`]). The peer does matching only: no accounts, funds, fees,
//! idempotency or events beyond its own.
//!
//! Must never: translate while timing (the id map lookup would be charged to the peer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use orderbook_rs::{OrderBook, OrderBookError, TradeListener, TradeResult};
use outlast_engine::{AccountAction, Command, CommandBody, OrderKind, OrderRef, OrderSpec};
use pricelevel::{Id, OrderUpdate, Price, Quantity, Side, TimeInForce};

/// One call on the peer book, with its ids already resolved.
#[derive(Clone, Copy, Debug)]
pub enum PeerOp {
    /// A limit order; `ioc` if it must not rest.
    Limit { id: u64, price: u64, qty: u64, side: Side, ioc: bool },
    /// A market order for a base quantity.
    Market { id: u64, qty: u64, side: Side },
    /// Cancel a resting order.
    Cancel { id: u64 },
    /// Move a resting order to a new price and quantity (it keeps its id).
    Replace { id: u64, price: u64, qty: u64, side: Side },
}

/// Translates engine commands into peer calls. Order ids follow the engine's (one per
/// placement, from `first_id`); a moved order keeps its peer id, so later commands that name the
/// engine's new id are mapped back to it.
#[derive(Default)]
pub struct Translator {
    next_id: u64,
    peer_id: HashMap<u64, u64>,
}

impl Translator {
    /// A translator whose first engine order id is `first_id`.
    pub fn starting_at(first_id: u64) -> Translator {
        Translator { next_id: first_id, peer_id: HashMap::new() }
    }

    /// The peer calls for `commands` (commands that are not orders are skipped).
    pub fn translate(&mut self, commands: &[Command]) -> Vec<PeerOp> {
        let mut ops = Vec::with_capacity(commands.len());
        for command in commands {
            let CommandBody::Account(request) = &command.body else { continue };
            match &request.action {
                AccountAction::PlaceOrder(spec) => {
                    let id = self.assign();
                    if let Some(op) = place(id, spec) {
                        ops.push(op);
                    }
                }
                AccountAction::CancelOrder { target: OrderRef::Id(target), .. } => {
                    ops.push(PeerOp::Cancel { id: self.resolve(*target) });
                }
                AccountAction::CancelReplace { target: OrderRef::Id(target), new_order } => {
                    let engine_id = self.assign();
                    let id = self.resolve(*target);
                    self.peer_id.insert(engine_id, id);
                    if let OrderKind::Limit { price, qty, .. } = new_order.kind {
                        ops.push(PeerOp::Replace { id, price, qty, side: side(new_order) });
                    }
                }
                _ => {}
            }
        }
        ops
    }

    fn assign(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn resolve(&self, engine_id: u64) -> u64 {
        self.peer_id.get(&engine_id).copied().unwrap_or(engine_id)
    }
}

fn side(spec: &OrderSpec) -> Side {
    match spec.side {
        outlast_engine::Side::Buy => Side::Buy,
        outlast_engine::Side::Sell => Side::Sell,
    }
}

fn place(id: u64, spec: &OrderSpec) -> Option<PeerOp> {
    let side = side(spec);
    match spec.kind {
        OrderKind::Limit { price, qty, tif } => {
            let ioc = tif != outlast_engine::TimeInForce::Gtc;
            Some(PeerOp::Limit { id, price, qty, side, ioc })
        }
        OrderKind::MarketBase { qty } => Some(PeerOp::Market { id, qty, side }),
        OrderKind::LimitMaker { .. } | OrderKind::MarketQuote { .. } => None,
    }
}

/// An orderbook-rs book driven by [`PeerOp`]s.
pub struct PeerBook {
    book: OrderBook<()>,
}

impl Default for PeerBook {
    fn default() -> Self {
        PeerBook { book: OrderBook::new("BTCUSDT") }
    }
}

impl PeerBook {
    /// Applies one call, ignoring the peer's answer (as the timed runs do).
    #[inline]
    pub fn apply(&self, op: &PeerOp) {
        // Refusals are counted by `validate`, not here: the timed loop does only the call.
        let _ = self.call(op);
    }

    /// Applies `ops` on a fresh book that counts trades through the peer's trade listener, and
    /// returns (calls the peer refused, trades it made). An IOC or market order whose remainder
    /// found no liquidity is not a refusal: the peer reports it as an error after trading what it
    /// could, where the engine expires the remainder.
    pub fn validate(ops: &[PeerOp]) -> (usize, usize) {
        let trades = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&trades);
        let listener: TradeListener = Arc::new(move |result: &TradeResult| {
            counter.fetch_add(result.match_result.trades().len(), Ordering::Relaxed);
        });
        let peer = PeerBook { book: OrderBook::with_trade_listener("BTCUSDT", listener) };
        let mut refused = 0;
        for op in ops {
            match peer.call(op) {
                Ok(()) | Err(Some(OrderBookError::InsufficientLiquidity { .. })) => {}
                Err(_) => refused += 1,
            }
        }
        (refused, trades.load(Ordering::Relaxed))
    }

    /// One call; `Err(None)` when a cancel or move found no such order.
    fn call(&self, op: &PeerOp) -> Result<(), Option<OrderBookError>> {
        match *op {
            PeerOp::Limit { id, price, qty, side, ioc } => {
                let tif = if ioc { TimeInForce::Ioc } else { TimeInForce::Gtc };
                self.book
                    .add_limit_order(Id::Sequential(id), u128::from(price), qty, side, tif, None)
                    .map(drop)
                    .map_err(Some)
            }
            PeerOp::Market { id, qty, side } => {
                self.book.submit_market_order(Id::Sequential(id), qty, side).map(drop).map_err(Some)
            }
            PeerOp::Cancel { id } => match self.book.cancel_order(Id::Sequential(id)) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(None),
                Err(error) => Err(Some(error)),
            },
            PeerOp::Replace { id, price, qty, side } => {
                let update = OrderUpdate::Replace {
                    order_id: Id::Sequential(id),
                    price: Price::new(u128::from(price)),
                    quantity: Quantity::new(qty),
                    side,
                };
                match self.book.update_order(update) {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(None),
                    Err(error) => Err(Some(error)),
                }
            }
        }
    }
}
