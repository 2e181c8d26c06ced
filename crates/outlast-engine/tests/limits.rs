//! Configured maxima: each is enforced with its own rejection code.

mod common;

use common::*;
use outlast_engine::*;

fn tight() -> Limits {
    Limits {
        accounts_max: 5,
        assets_max: 3,
        markets_max: 2,
        open_orders_per_account_max: 3,
        price_levels_per_side_max: 4,
        orders_per_book_max: 6,
        requests_per_account_max: 20,
        deposits_max: 8,
        withdrawals_max: 1,
        ..Limits::default()
    }
}

#[test]
fn open_orders_per_account_are_capped() {
    let mut f = Fixture::with_limits(tight(), 0, 0);
    for price in [1, 2, 3] {
        f.limit(ALICE, Side::Buy, price, 1);
    }
    let body = f.place_body(ALICE, Side::Buy, gtc(1, 1));
    f.rejects(body, Reject::OpenOrdersLimit);
    // An IOC never rests, so the cap does not apply to it.
    assert!(matches!(
        f.place(ALICE, Side::Buy, OrderKind::Limit { price: 1, qty: 1, tif: TimeInForce::Ioc }),
        Outcome::Applied(_)
    ));
}

#[test]
fn price_levels_and_book_size_are_capped() {
    let mut f = Fixture::with_limits(tight(), 0, 0);
    for price in [1, 2, 3] {
        f.limit(ALICE, Side::Buy, price, 1);
    }
    f.limit(BOB, Side::Buy, 4, 1);
    let body = f.place_body(BOB, Side::Buy, gtc(5, 1));
    f.rejects(body, Reject::PriceLevelsLimit);
    f.limit(BOB, Side::Buy, 4, 1); // an existing level is fine
    f.limit(BOB, Side::Buy, 4, 1);
    let body = f.place_body(CAROL, Side::Buy, gtc(4, 1));
    f.rejects(body, Reject::BookOrdersLimit);
}

#[test]
fn accounts_assets_markets_deposits_and_withdrawals_are_capped() {
    let mut f = Fixture::with_limits(tight(), 0, 0);
    f.ok(CommandBody::CreateAccount { account: 4 });
    f.rejects(CommandBody::CreateAccount { account: 5 }, Reject::AccountsLimit);
    f.ok(CommandBody::CreateAsset { symbol: "THIRD".into(), decimals: 0 });
    f.rejects(CommandBody::CreateAsset { symbol: "FOURTH".into(), decimals: 0 }, Reject::AssetsLimit);
    let spec = MarketSpec {
        symbol: "M2".into(),
        base: 2,
        quote: QUOTE,
        tick_size: 1,
        lot_size: 1,
        min_notional: 1,
        maker_fee_ppm: 0,
        taker_fee_ppm: 0,
    };
    f.ok(CommandBody::CreateMarket(spec.clone()));
    f.rejects(CommandBody::CreateMarket(MarketSpec { symbol: "M3".into(), ..spec }), Reject::MarketsLimit);
    f.ok(CommandBody::Deposit { account: 4, asset: BASE, amount: 1, chain_tx: "d7".into() });
    f.ok(CommandBody::Deposit { account: 4, asset: BASE, amount: 1, chain_tx: "d8".into() });
    f.rejects(
        CommandBody::Deposit { account: 4, asset: BASE, amount: 1, chain_tx: "d9".into() },
        Reject::DepositsLimit,
    );
    let id = f.fresh_id();
    let withdraw = AccountAction::RequestWithdrawal { asset: BASE, amount: 1, address: "a".into() };
    assert!(matches!(f.request(ALICE, id, withdraw.clone()), Outcome::Applied(_)));
    let request_id = f.fresh_id();
    f.rejects(
        CommandBody::Account(AccountRequest { account: ALICE, request_id, request_ts_ms: f.now_ms, action: withdraw }),
        Reject::WithdrawalsLimit,
    );
}

#[test]
fn remembered_request_ids_per_account_are_capped_inside_the_window() {
    let mut f = Fixture::with_limits(tight(), 0, 0);
    for _ in 0..20 {
        let id = f.fresh_id();
        assert!(matches!(f.request(ALICE, id, AccountAction::CancelAll { market: MKT }), Outcome::Applied(_)));
    }
    let request_id = f.fresh_id();
    let body = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id,
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelAll { market: MKT },
    });
    f.rejects(body.clone(), Reject::RequestsLimit);
    // Once the window has passed the old ids are forgotten and requests flow again.
    f.now_ms += f.engine.limits().request_window_ms + f.engine.limits().request_ahead_ms_max + 10;
    let CommandBody::Account(mut request) = body else { unreachable!() };
    request.request_ts_ms = f.now_ms;
    assert!(matches!(f.apply(CommandBody::Account(request)), Outcome::Applied(_)));
}
