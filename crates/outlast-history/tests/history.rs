//! The read model: what it records from applied commands, its bounds, and its snapshot.

use outlast_engine::*;
use outlast_history::{History, HistoryLimits, OrderType};

struct Exchange {
    engine: Engine,
    history: History,
    now_ms: u64,
    next: u64,
}

impl Exchange {
    fn new(limits: HistoryLimits) -> Exchange {
        let mut x =
            Exchange { engine: Engine::new(Limits::default()), history: History::new(limits), now_ms: 1_000, next: 0 };
        x.apply(CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 0 });
        x.apply(CommandBody::CreateAsset { symbol: "USD".into(), decimals: 0 });
        x.apply(CommandBody::CreateMarket(MarketSpec {
            symbol: "BTCUSD".into(),
            base: 0,
            quote: 1,
            tick_size: 1,
            lot_size: 1,
            min_notional: 1,
            maker_fee_ppm: 0,
            taker_fee_ppm: 0,
        }));
        for account in [1, 2] {
            x.apply(CommandBody::CreateAccount { account });
            for asset in [0, 1] {
                let chain_tx = format!("fund-{account}-{asset}");
                x.apply(CommandBody::Deposit { account, asset, amount: 1_000_000, chain_tx });
            }
        }
        x
    }

    fn apply(&mut self, body: CommandBody) -> Outcome {
        self.now_ms += 1;
        let command = Command { ts_ms: self.now_ms, body, operator: None };
        let mut events = Vec::new();
        let outcome = self.engine.apply(&command, &mut events);
        self.history.record(&self.engine, &command, &outcome, &events);
        outcome
    }

    fn order(&mut self, account: AccountId, side: Side, price: u64, qty: u64, tif: TimeInForce) -> OrderId {
        self.next += 1;
        let spec = OrderSpec { market: 0, side, kind: OrderKind::Limit { price, qty, tif }, stp: StpMode::None };
        let request = AccountRequest {
            account,
            request_id: ClientId::new(&format!("c{}", self.next)).unwrap(),
            request_ts_ms: self.now_ms,
            action: AccountAction::PlaceOrder(spec),
        };
        match self.apply(CommandBody::Account(request)) {
            Outcome::Applied(Summary::OrderPlaced { order, .. }) => order,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn orders_trades_and_deposits_are_recorded_for_each_side() {
    let mut x = Exchange::new(HistoryLimits::default());
    let maker = x.order(1, Side::Sell, 100, 10, TimeInForce::Gtc);
    let taker = x.order(2, Side::Buy, 100, 4, TimeInForce::Ioc);
    let m = x.history.order(maker).unwrap();
    assert_eq!((m.executed_qty, m.status, m.order_type), (4, OrderStatus::PartiallyFilled, OrderType::Limit));
    let t = x.history.order(taker).unwrap();
    assert_eq!((t.executed_qty, t.status, t.tif), (4, OrderStatus::Filled, TimeInForce::Ioc));
    assert_eq!(x.history.order_by_client_id(1, &ClientId::new("c1").unwrap()).unwrap().id, maker);
    assert!(x.history.order_by_client_id(2, &ClientId::new("c1").unwrap()).is_none(), "client ids are per account");
    let maker_trades: Vec<_> = x.history.trades_of(1, 0).collect();
    assert_eq!(maker_trades.len(), 1);
    assert!(maker_trades[0].is_maker && !maker_trades[0].is_buyer);
    assert_eq!(x.history.fills_of(2, taker).count(), 1);
    assert_eq!(x.history.market_trades(0).count(), 1);
    assert_eq!(x.history.last_price(0), 100);
    let ticker = x.history.ticker(0, x.now_ms);
    assert_eq!((ticker.volume, ticker.count, ticker.open, ticker.last), (4, 1, 100, 100));
    assert_eq!(x.history.ticker(0, x.now_ms + 25 * 3_600_000).count, 0, "a day later the window is empty");
    assert_eq!(x.history.deposits_of(1).count(), 2);
}

#[test]
fn rolling_windows_count_the_trades_inside_them() {
    let hour_ms = 3_600_000;
    let mut x = Exchange::new(HistoryLimits::default());
    x.now_ms = 1_700_000_000_000;
    x.order(1, Side::Sell, 100, 10, TimeInForce::Gtc);
    x.order(2, Side::Buy, 100, 1, TimeInForce::Ioc); // day 0
    x.now_ms += 3 * 24 * hour_ms; // three days later
    x.order(2, Side::Buy, 100, 2, TimeInForce::Ioc);
    x.now_ms += 2 * hour_ms;
    x.order(2, Side::Buy, 100, 3, TimeInForce::Ioc);
    let now = x.now_ms;
    let volume = |window_ms: u64| x.history.ticker_since(0, now - window_ms, now).volume;
    assert_eq!(volume(60_000), 3, "the last minute holds the newest trade");
    assert_eq!(volume(hour_ms), 3);
    assert_eq!(volume(3 * hour_ms), 5, "three hours hold the last two");
    assert_eq!(volume(2 * 24 * hour_ms), 5, "from the hour's candles past a day");
    assert_eq!(volume(7 * 24 * hour_ms), 6, "a week holds all three");
    let week = x.history.ticker_since(0, now - 7 * 24 * hour_ms, now);
    assert_eq!((week.count, week.first_trade, week.last_trade), (3, 1, 3));
}

#[test]
fn each_bound_evicts_the_oldest_first_and_the_snapshot_round_trips() {
    let limits = HistoryLimits {
        orders_per_account_max: 3,
        trades_per_account_max: 2,
        trades_per_market_max: 2,
        ..HistoryLimits::default()
    };
    let mut x = Exchange::new(limits);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(x.order(1, Side::Sell, 200 + i, 1, TimeInForce::Gtc));
        x.order(2, Side::Buy, 200 + i, 1, TimeInForce::Ioc);
    }
    let kept: Vec<_> = x.history.orders_of(1, 0).map(|o| o.id).collect();
    assert_eq!(kept, ids[2..].to_vec(), "the newest three orders");
    assert!(x.history.order(ids[0]).is_none());
    assert!(x.history.order_by_client_id(1, &ClientId::new("c1").unwrap()).is_none(), "its client id is forgotten too");
    assert_eq!(x.history.trades_of(1, 0).count(), 2);
    assert_eq!(x.history.market_trades(0).map(|t| t.price).collect::<Vec<_>>(), vec![203, 204]);
    let restored = History::restore(&x.history.snapshot()).unwrap();
    assert_eq!(restored, x.history);
    assert!(History::restore(&[0xff, 0xff, 0xff]).is_err());
}
