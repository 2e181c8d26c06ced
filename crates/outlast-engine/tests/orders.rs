//! Order placement, matching, cancels and their effect on balances and events.

mod common;

use common::*;
use outlast_engine::*;

#[test]
fn resting_buy_locks_its_notional() {
    let mut f = Fixture::new();
    let (order, status) = f.limit(ALICE, Side::Buy, 100, 5);
    assert_eq!(status, OrderStatus::New);
    assert_eq!(f.balance(ALICE, QUOTE), Balance { available: FUNDS - 500, locked: 500 });
    assert!(f.engine.open_order(MKT, order).is_some());
}

#[test]
fn resting_sell_locks_its_quantity() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 5);
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS - 5, locked: 5 });
}

#[test]
fn crossing_buy_trades_at_the_maker_price_and_gets_the_difference_back() {
    let mut f = Fixture::new();
    let (maker, _) = f.limit(ALICE, Side::Sell, 90, 5);
    let (taker, status) = f.limit(BOB, Side::Buy, 100, 5);
    assert_eq!(status, OrderStatus::Filled);
    let trades = f.trades();
    assert_eq!(trades.len(), 1);
    assert_eq!((trades[0].price, trades[0].qty, trades[0].quote_qty), (90, 5, 450));
    assert_eq!((trades[0].maker_order, trades[0].taker_order), (maker, taker));
    assert_eq!(f.balance(BOB, QUOTE), Balance { available: FUNDS - 450, locked: 0 });
    assert_eq!(f.balance(BOB, BASE), Balance { available: FUNDS + 5, locked: 0 });
    assert_eq!(f.balance(ALICE, QUOTE), Balance { available: FUNDS + 450, locked: 0 });
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS - 5, locked: 0 });
}

#[test]
fn same_price_fills_in_time_order_and_better_price_first() {
    let mut f = Fixture::new();
    let (first, _) = f.limit(ALICE, Side::Sell, 100, 3);
    let (second, _) = f.limit(BOB, Side::Sell, 100, 3);
    let (better, _) = f.limit(CAROL, Side::Sell, 99, 1);
    f.limit(CAROL, Side::Buy, 100, 5);
    let makers: Vec<OrderId> = f.trades().iter().map(|t| t.maker_order).collect();
    assert_eq!(makers, vec![better, first, second]);
    let rest = f.engine.open_order(MKT, second).expect("second maker partly filled");
    assert_eq!(rest.remaining, 2);
    assert!(f.engine.open_order(MKT, first).is_none());
}

#[test]
fn partial_fill_rests_the_remainder_as_partially_filled() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    let (order, status) = f.limit(BOB, Side::Buy, 100, 5);
    assert_eq!(status, OrderStatus::PartiallyFilled);
    assert_eq!(f.engine.open_order(MKT, order).unwrap().remaining, 3);
    assert_eq!(f.balance(BOB, QUOTE).locked, 300);
}

#[test]
fn ioc_expires_what_does_not_fill_and_releases_its_lock() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    let outcome = f.place(BOB, Side::Buy, OrderKind::Limit { price: 100, qty: 5, tif: TimeInForce::Ioc });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Expired, .. })));
    assert_eq!(f.balance(BOB, QUOTE), Balance { available: FUNDS - 200, locked: 0 });
    assert_eq!(f.engine.depth(MKT, 10).unwrap().bids, vec![]);
}

#[test]
fn fok_fills_completely_or_not_at_all() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    f.limit(ALICE, Side::Sell, 101, 2);
    let before = f.balance(BOB, QUOTE);
    let outcome = f.place(BOB, Side::Buy, OrderKind::Limit { price: 101, qty: 5, tif: TimeInForce::Fok });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Expired, .. })));
    assert!(f.trades().is_empty());
    assert_eq!(f.balance(BOB, QUOTE), before);
    let outcome = f.place(BOB, Side::Buy, OrderKind::Limit { price: 101, qty: 4, tif: TimeInForce::Fok });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Filled, .. })));
    assert_eq!(f.trades().len(), 2);
}

#[test]
fn limit_maker_is_rejected_if_it_would_take_and_rests_otherwise() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    let body = f.place_body(BOB, Side::Buy, OrderKind::LimitMaker { price: 100, qty: 1 });
    f.rejects(body, Reject::PostOnlyWouldTake);
    let outcome = f.place(BOB, Side::Buy, OrderKind::LimitMaker { price: 99, qty: 1 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::New, .. })));
}

#[test]
fn market_buy_by_base_quantity_walks_the_book_and_pays_from_available() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    f.limit(ALICE, Side::Sell, 110, 2);
    let outcome = f.place(BOB, Side::Buy, OrderKind::MarketBase { qty: 3 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Filled, .. })));
    assert_eq!(f.balance(BOB, QUOTE).available, FUNDS - 200 - 110);
    assert_eq!(f.balance(BOB, BASE).available, FUNDS + 3);
}

#[test]
fn market_buy_without_enough_liquidity_expires_the_rest() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    let outcome = f.place(BOB, Side::Buy, OrderKind::MarketBase { qty: 5 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Expired, .. })));
    let update = f.order_updates().pop().unwrap();
    assert_eq!((update.executed_qty, update.executed_quote), (2, 200));
}

#[test]
fn market_buy_stops_when_the_buyer_cannot_pay_for_another_lot() {
    let mut f = Fixture::new();
    let poor = 9;
    f.ok(CommandBody::CreateAccount { account: poor });
    f.ok(CommandBody::Deposit { account: poor, asset: QUOTE, amount: 250, chain_tx: "poor".into() });
    f.limit(ALICE, Side::Sell, 100, 5);
    let outcome = f.place(poor, Side::Buy, OrderKind::MarketBase { qty: 5 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Expired, .. })));
    assert_eq!(f.balance(poor, QUOTE).available, 50);
    assert_eq!(f.balance(poor, BASE).available, 2);
}

#[test]
fn market_buy_by_quote_amount_spends_at_most_that_amount() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 2);
    f.limit(ALICE, Side::Sell, 150, 10);
    let outcome = f.place(BOB, Side::Buy, OrderKind::MarketQuote { quote_qty: 560 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Filled, .. })));
    // 2 at 100, then 2 at 150 (a third lot would need 150 more than the 60 left).
    assert_eq!(f.balance(BOB, QUOTE), Balance { available: FUNDS - 500, locked: 0 });
    assert_eq!(f.balance(BOB, BASE).available, FUNDS + 4);
}

#[test]
fn market_sell_by_quote_amount_sells_until_it_receives_that_amount() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Buy, 100, 10);
    let outcome = f.place(BOB, Side::Sell, OrderKind::MarketQuote { quote_qty: 350 });
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Filled, .. })));
    assert_eq!(f.balance(BOB, QUOTE).available, FUNDS + 300);
    assert_eq!(f.balance(BOB, BASE).available, FUNDS - 3);
}

#[test]
fn market_sell_by_base_quantity_locks_then_delivers() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Buy, 100, 10);
    f.place(BOB, Side::Sell, OrderKind::MarketBase { qty: 4 });
    assert_eq!(f.balance(BOB, BASE), Balance { available: FUNDS - 4, locked: 0 });
    assert_eq!(f.balance(BOB, QUOTE).available, FUNDS + 400);
}

#[test]
fn cancel_releases_the_lock_and_reports_canceled() {
    let mut f = Fixture::new();
    let (order, _) = f.limit(ALICE, Side::Buy, 100, 5);
    assert_eq!(f.cancel(ALICE, order), Outcome::Applied(Summary::OrderCanceled(order)));
    assert_eq!(f.balance(ALICE, QUOTE), Balance { available: FUNDS, locked: 0 });
    assert_eq!(f.order_updates()[0].status, OrderStatus::Canceled);
    assert!(f.engine.open_order(MKT, order).is_none());
}

#[test]
fn cancel_by_client_order_id() {
    let mut f = Fixture::new();
    let client = ClientId::new("my-order-1").unwrap();
    let spec = OrderSpec { market: MKT, side: Side::Sell, kind: gtc(100, 1), stp: StpMode::None };
    let Outcome::Applied(Summary::OrderPlaced { order, .. }) =
        f.request(ALICE, client, AccountAction::PlaceOrder(spec))
    else {
        panic!("not placed")
    };
    let id = f.fresh_id();
    let outcome = f.request(ALICE, id, AccountAction::CancelOrder { market: MKT, target: OrderRef::Client(client) });
    assert_eq!(outcome, Outcome::Applied(Summary::OrderCanceled(order)));
}

#[test]
fn cancelling_another_accounts_order_is_rejected() {
    let mut f = Fixture::new();
    let (order, _) = f.limit(ALICE, Side::Buy, 100, 5);
    let id = f.fresh_id();
    let body = CommandBody::Account(AccountRequest {
        account: BOB,
        request_id: id,
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelOrder { market: MKT, target: OrderRef::Id(order) },
    });
    f.rejects(body, Reject::NotOrderOwner);
}

#[test]
fn cancel_all_cancels_only_that_accounts_orders_in_that_market() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Buy, 100, 1);
    f.limit(ALICE, Side::Buy, 99, 1);
    f.limit(ALICE, Side::Sell, 120, 1);
    let (bobs, _) = f.limit(BOB, Side::Buy, 100, 1);
    let id = f.fresh_id();
    let outcome = f.request(ALICE, id, AccountAction::CancelAll { market: MKT });
    assert_eq!(outcome, Outcome::Applied(Summary::CanceledAll { count: 3 }));
    assert_eq!(f.balance(ALICE, QUOTE).locked, 0);
    assert_eq!(f.balance(ALICE, BASE).locked, 0);
    assert!(f.engine.open_order(MKT, bobs).is_some());
}

#[test]
fn cancel_replace_swaps_orders_atomically() {
    let mut f = Fixture::new();
    let (old, _) = f.limit(ALICE, Side::Buy, 100, 5);
    let id = f.fresh_id();
    let new_order = OrderSpec { market: MKT, side: Side::Buy, kind: gtc(101, 5), stp: StpMode::None };
    let outcome = f.request(ALICE, id, AccountAction::CancelReplace { target: OrderRef::Id(old), new_order });
    let Outcome::Applied(Summary::Replaced { canceled, order, status }) = outcome else { panic!("{outcome:?}") };
    assert_eq!((canceled, status), (old, OrderStatus::New));
    assert_eq!(f.balance(ALICE, QUOTE).locked, 505);
    assert!(f.engine.open_order(MKT, order).is_some() && f.engine.open_order(MKT, old).is_none());
}

#[test]
fn cancel_replace_uses_the_released_funds_of_the_cancelled_order() {
    let mut f = Fixture::new();
    // Lock everything, then move it: only possible because the old lock is released first.
    let (old, _) = f.limit(ALICE, Side::Buy, 1_000, 1_000);
    assert_eq!(f.balance(ALICE, QUOTE).available, 0);
    let id = f.fresh_id();
    let new_order = OrderSpec { market: MKT, side: Side::Buy, kind: gtc(500, 2_000), stp: StpMode::None };
    let outcome = f.request(ALICE, id, AccountAction::CancelReplace { target: OrderRef::Id(old), new_order });
    assert!(matches!(outcome, Outcome::Applied(Summary::Replaced { .. })));
}

#[test]
fn cancel_replace_with_an_invalid_new_order_changes_nothing() {
    let mut f = Fixture::new();
    let (old, _) = f.limit(ALICE, Side::Buy, 100, 5);
    let id = f.fresh_id();
    let new_order = OrderSpec { market: MKT, side: Side::Buy, kind: gtc(100, 0), stp: StpMode::None };
    let body = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id: id,
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelReplace { target: OrderRef::Id(old), new_order },
    });
    f.rejects(body, Reject::ZeroQuantity);
    assert!(f.engine.open_order(MKT, old).is_some());
}

#[test]
fn self_trade_prevention_expire_taker_keeps_the_maker() {
    let mut f = Fixture::new();
    let (maker, _) = f.limit(ALICE, Side::Sell, 100, 5);
    let outcome = f.place_stp(ALICE, Side::Buy, gtc(100, 5), StpMode::ExpireTaker);
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::ExpiredInMatch, .. })));
    assert!(f.trades().is_empty());
    assert!(f.engine.open_order(MKT, maker).is_some());
    assert_eq!(f.balance(ALICE, QUOTE).locked, 0);
}

#[test]
fn self_trade_prevention_expire_maker_removes_own_order_and_keeps_matching() {
    let mut f = Fixture::new();
    let (own, _) = f.limit(ALICE, Side::Sell, 100, 5);
    let (other, _) = f.limit(BOB, Side::Sell, 101, 5);
    let outcome = f.place_stp(ALICE, Side::Buy, gtc(101, 5), StpMode::ExpireMaker);
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::Filled, .. })));
    assert!(f.engine.open_order(MKT, own).is_none());
    assert_eq!(f.trades()[0].maker_order, other);
    assert_eq!(f.balance(ALICE, BASE).locked, 0);
    let expired = f.order_updates().into_iter().find(|u| u.order == own).unwrap();
    assert_eq!(expired.status, OrderStatus::ExpiredInMatch);
}

#[test]
fn self_trade_prevention_expire_both() {
    let mut f = Fixture::new();
    let (own, _) = f.limit(ALICE, Side::Sell, 100, 5);
    let outcome = f.place_stp(ALICE, Side::Buy, gtc(100, 5), StpMode::ExpireBoth);
    assert!(matches!(outcome, Outcome::Applied(Summary::OrderPlaced { status: OrderStatus::ExpiredInMatch, .. })));
    assert!(f.engine.open_order(MKT, own).is_none());
    assert_eq!(f.balance(ALICE, BASE).locked + f.balance(ALICE, QUOTE).locked, 0);
}

#[test]
fn self_trade_is_allowed_with_stp_none() {
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 5);
    f.limit(ALICE, Side::Buy, 100, 5);
    assert_eq!(f.trades().len(), 1);
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS, locked: 0 });
}

#[test]
fn fees_go_to_the_fee_account_from_what_each_side_receives() {
    // Maker 0.1 %, taker 0.2 %, on amounts large enough to show them.
    let mut f = Fixture::with_fees(1_000, 2_000);
    f.limit(ALICE, Side::Sell, 100, 10_000);
    f.limit(BOB, Side::Buy, 100, 10_000);
    let trade = &f.trades()[0];
    // The maker (seller) receives 1,000,000 quote and pays 0.1 %; the taker receives 10,000 base and pays 0.2 %.
    assert_eq!((trade.maker_fee, trade.taker_fee), (1_000, 20));
    assert_eq!(f.balance(ALICE, QUOTE).available, FUNDS + 1_000_000 - 1_000);
    assert_eq!(f.balance(BOB, BASE).available, FUNDS + 10_000 - 20);
    assert_eq!(f.balance(FEE_ACCOUNT, QUOTE).available, 1_000);
    assert_eq!(f.balance(FEE_ACCOUNT, BASE).available, 20);
}

#[test]
fn depth_deltas_have_contiguous_update_ids_and_match_the_book() {
    let mut f = Fixture::new();
    let mut last = 0;
    let mut book: std::collections::BTreeMap<(bool, u64), u64> = Default::default();
    let steps: Vec<(AccountId, Side, u64, u64)> = vec![
        (ALICE, Side::Sell, 100, 3),
        (ALICE, Side::Sell, 101, 3),
        (BOB, Side::Buy, 99, 2),
        (BOB, Side::Buy, 101, 4),
    ];
    for (account, side, price, qty) in steps {
        f.limit(account, side, price, qty);
        for delta in f.depth_deltas() {
            assert_eq!(delta.first_update_id, last + 1, "no gap");
            let changed = delta.bids.len() + delta.asks.len();
            assert_eq!(delta.last_update_id - delta.first_update_id + 1, changed as u64);
            last = delta.last_update_id;
            for (price, qty) in delta.bids {
                book.insert((true, price), qty);
            }
            for (price, qty) in delta.asks {
                book.insert((false, price), qty);
            }
        }
    }
    book.retain(|_, qty| *qty > 0);
    let depth = f.engine.depth(MKT, 100).unwrap();
    assert_eq!(depth.last_update_id, last);
    let mut from_snapshot: std::collections::BTreeMap<(bool, u64), u64> = Default::default();
    from_snapshot.extend(depth.bids.iter().map(|&(p, q)| ((true, p), q)));
    from_snapshot.extend(depth.asks.iter().map(|&(p, q)| ((false, p), q)));
    assert_eq!(book, from_snapshot);
}

#[test]
fn event_sequence_numbers_are_consecutive_across_commands() {
    let mut f = Fixture::new();
    let mut last = f.engine.last_seq();
    for price in [100, 101, 102] {
        f.limit(ALICE, Side::Sell, price, 1);
        for event in &f.events {
            assert_eq!(event.seq, last + 1);
            last = event.seq;
        }
    }
    f.limit(BOB, Side::Buy, 102, 3);
    assert!(f.events.len() > 5);
    for event in &f.events {
        assert_eq!(event.seq, last + 1);
        last = event.seq;
    }
}

#[test]
fn cancel_only_market_accepts_cancels_but_not_orders_and_halted_accepts_neither() {
    let mut f = Fixture::new();
    let (order, _) = f.limit(ALICE, Side::Buy, 100, 1);
    let (other, _) = f.limit(ALICE, Side::Buy, 99, 1);
    f.ok(CommandBody::SetMarketStatus { market: MKT, status: MarketStatus::CancelOnly });
    let body = f.place_body(BOB, Side::Buy, gtc(100, 1));
    f.rejects(body, Reject::MarketCancelOnly);
    assert!(matches!(f.cancel(ALICE, order), Outcome::Applied(_)));
    f.ok(CommandBody::SetMarketStatus { market: MKT, status: MarketStatus::Halted });
    let body = f.place_body(BOB, Side::Buy, gtc(100, 1));
    f.rejects(body, Reject::MarketHalted);
    assert_eq!(f.cancel(ALICE, other), Outcome::Rejected(Reject::MarketHalted));
}

#[test]
fn engine_time_never_goes_backwards() {
    let mut f = Fixture::new();
    let late = f.now_ms + 10_000;
    let mut events = Vec::new();
    f.engine
        .apply(&Command { ts_ms: late, body: CommandBody::CreateAccount { account: 50 }, operator: None }, &mut events);
    f.engine
        .apply(&Command { ts_ms: 5, body: CommandBody::CreateAccount { account: 51 }, operator: None }, &mut events);
    assert_eq!(f.engine.now_ms(), late);
}
