//! Test fixture: an engine with two assets, one market and funded accounts, plus terse helpers.
#![allow(dead_code)]

use outlast_engine::*;

/// Base asset id in the fixture.
pub const BASE: AssetId = 0;
/// Quote asset id in the fixture.
pub const QUOTE: AssetId = 1;
/// The fixture's market.
pub const MKT: MarketId = 0;
/// Funded traders.
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CAROL: AccountId = 3;
/// What each trader starts with, of each asset.
pub const FUNDS: u64 = 1_000_000;

pub struct Fixture {
    pub engine: Engine,
    pub now_ms: u64,
    pub events: Vec<Event>,
    next_id: u64,
}

impl Fixture {
    /// Base and quote with 0 decimals, tick 1, lot 1, min notional 1, the given fees (ppm).
    pub fn with_fees(maker_fee_ppm: u32, taker_fee_ppm: u32) -> Fixture {
        Fixture::with_limits(Limits::default(), maker_fee_ppm, taker_fee_ppm)
    }

    pub fn new() -> Fixture {
        Fixture::with_fees(0, 0)
    }

    pub fn with_limits(limits: Limits, maker_fee_ppm: u32, taker_fee_ppm: u32) -> Fixture {
        let mut f = Fixture { engine: Engine::new(limits), now_ms: 1_000_000, events: Vec::new(), next_id: 0 };
        f.ok(CommandBody::CreateAsset { symbol: "BASE".into(), decimals: 0 });
        f.ok(CommandBody::CreateAsset { symbol: "QUOTE".into(), decimals: 0 });
        f.ok(CommandBody::CreateMarket(MarketSpec {
            symbol: "BASEQUOTE".into(),
            base: BASE,
            quote: QUOTE,
            tick_size: 1,
            lot_size: 1,
            min_notional: 1,
            maker_fee_ppm,
            taker_fee_ppm,
        }));
        for account in [ALICE, BOB, CAROL] {
            f.ok(CommandBody::CreateAccount { account });
            for asset in [BASE, QUOTE] {
                f.ok(CommandBody::Deposit {
                    account,
                    asset,
                    amount: FUNDS,
                    chain_tx: format!("fund-{account}-{asset}"),
                });
            }
        }
        f
    }

    /// Applies a command at the fixture's clock (which advances 1 ms per command).
    pub fn apply(&mut self, body: CommandBody) -> Outcome {
        self.apply_as(None, body)
    }

    /// `apply`, for a command that names who gave it (the audit trail's "who").
    pub fn apply_as(&mut self, operator: Option<&str>, body: CommandBody) -> Outcome {
        self.now_ms += 1;
        self.events.clear();
        let command = Command { ts_ms: self.now_ms, body, operator: operator.map(str::to_string) };
        let outcome = self.engine.apply(&command, &mut self.events);
        if let Err(why) = self.engine.check_invariants() {
            panic!("invariant broken after {outcome:?}: {why}");
        }
        outcome
    }

    /// Applies a command that must be applied; returns its summary.
    pub fn ok(&mut self, body: CommandBody) -> Summary {
        match self.apply(body.clone()) {
            Outcome::Applied(summary) => summary,
            other => panic!("{body:?} was not applied: {other:?}"),
        }
    }

    /// A fresh request id.
    pub fn fresh_id(&mut self) -> ClientId {
        self.next_id += 1;
        ClientId::from_u64(self.next_id)
    }

    /// Applies an account request with the given id.
    pub fn request(&mut self, account: AccountId, id: ClientId, action: AccountAction) -> Outcome {
        let request_ts_ms = self.now_ms;
        self.apply(CommandBody::Account(AccountRequest { account, request_id: id, request_ts_ms, action }))
    }

    /// Places an order under a fresh id.
    pub fn place(&mut self, account: AccountId, side: Side, kind: OrderKind) -> Outcome {
        self.place_stp(account, side, kind, StpMode::None)
    }

    pub fn place_stp(&mut self, account: AccountId, side: Side, kind: OrderKind, stp: StpMode) -> Outcome {
        let id = self.fresh_id();
        self.request(account, id, AccountAction::PlaceOrder(OrderSpec { market: MKT, side, kind, stp }))
    }

    /// Places a GTC limit order that must be applied; returns (order id, status).
    pub fn limit(&mut self, account: AccountId, side: Side, price: u64, qty: u64) -> (OrderId, OrderStatus) {
        match self.place(account, side, OrderKind::Limit { price, qty, tif: TimeInForce::Gtc }) {
            Outcome::Applied(Summary::OrderPlaced { order, status }) => (order, status),
            other => panic!("limit order not placed: {other:?}"),
        }
    }

    pub fn cancel(&mut self, account: AccountId, order: OrderId) -> Outcome {
        let id = self.fresh_id();
        self.request(account, id, AccountAction::CancelOrder { market: MKT, target: OrderRef::Id(order) })
    }

    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        self.engine.balance(account, asset).expect("account exists")
    }

    pub fn trades(&self) -> Vec<Trade> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Trade(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn order_updates(&self) -> Vec<OrderUpdate> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Order(u) => Some(u.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn depth_deltas(&self) -> Vec<DepthDelta> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Depth(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// Asserts `body` is rejected with `code` and changes neither the digest nor the events.
    pub fn rejects(&mut self, body: CommandBody, code: Reject) {
        let before = self.engine.digest();
        let outcome = self.apply(body.clone());
        assert_eq!(outcome, Outcome::Rejected(code), "{body:?}");
        assert!(self.events.is_empty(), "a rejection emits nothing");
        assert_eq!(self.engine.digest(), before, "a rejection changes nothing: {body:?}");
    }

    /// A place-order command body under a fresh id.
    pub fn place_body(&mut self, account: AccountId, side: Side, kind: OrderKind) -> CommandBody {
        let request_id = self.fresh_id();
        CommandBody::Account(AccountRequest {
            account,
            request_id,
            request_ts_ms: self.now_ms + 1,
            action: AccountAction::PlaceOrder(OrderSpec { market: MKT, side, kind, stp: StpMode::None }),
        })
    }
}

pub fn gtc(price: u64, qty: u64) -> OrderKind {
    OrderKind::Limit { price, qty, tif: TimeInForce::Gtc }
}
