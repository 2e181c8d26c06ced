//! Bad input: each kind gets its own stable code, and a rejected command changes nothing.

mod common;

use common::*;
use outlast_engine::*;

fn request(f: &mut Fixture, account: AccountId, action: AccountAction) -> CommandBody {
    let request_id = f.fresh_id();
    CommandBody::Account(AccountRequest { account, request_id, request_ts_ms: f.now_ms + 1, action })
}

fn order(f: &mut Fixture, account: AccountId, market: MarketId, side: Side, kind: OrderKind) -> CommandBody {
    request(f, account, AccountAction::PlaceOrder(OrderSpec { market, side, kind, stp: StpMode::None }))
}

/// A market with tick 10, lot 5 and minimum notional 1,000, for the unit checks.
fn coarse_market(f: &mut Fixture) -> MarketId {
    let Summary::MarketCreated(id) = f.ok(CommandBody::CreateMarket(MarketSpec {
        symbol: "COARSE".into(),
        base: BASE,
        quote: QUOTE,
        tick_size: 10,
        lot_size: 5,
        min_notional: 1_000,
        maker_fee_ppm: 0,
        taker_fee_ppm: 0,
    })) else {
        unreachable!()
    };
    id
}

#[test]
fn unknown_things_are_rejected_with_their_own_codes() {
    let mut f = Fixture::new();
    let body = order(&mut f, ALICE, 77, Side::Buy, gtc(1, 1));
    f.rejects(body, Reject::UnknownMarket);
    let body = request(&mut f, 404, AccountAction::CancelAll { market: MKT });
    f.rejects(body, Reject::UnknownAccount);
    f.rejects(CommandBody::Deposit { account: ALICE, asset: 9, amount: 1, chain_tx: "x".into() }, Reject::UnknownAsset);
    let body = request(&mut f, ALICE, AccountAction::CancelOrder { market: MKT, target: OrderRef::Id(12345) });
    f.rejects(body, Reject::UnknownOrder);
    let body = request(
        &mut f,
        ALICE,
        AccountAction::CancelOrder { market: MKT, target: OrderRef::Client(ClientId::new("nope").unwrap()) },
    );
    f.rejects(body, Reject::UnknownOrder);
    f.rejects(CommandBody::WithdrawalConfirmed { withdrawal: 3 }, Reject::UnknownWithdrawal);
    f.rejects(CommandBody::WithdrawalFailed { withdrawal: 0 }, Reject::UnknownWithdrawal);
}

#[test]
fn malformed_prices_and_quantities_are_rejected() {
    let mut f = Fixture::new();
    let m = coarse_market(&mut f);
    for (kind, code) in [
        (gtc(100, 0), Reject::ZeroQuantity),
        (gtc(0, 100), Reject::ZeroPrice),
        (gtc(105, 100), Reject::PriceOffTick),
        (gtc(100, 101), Reject::QuantityOffLot),
        (gtc(100, 5), Reject::BelowMinNotional),
        (gtc(u64::MAX / 10 * 10, u64::MAX / 5 * 5), Reject::Overflow),
        (OrderKind::MarketBase { qty: 0 }, Reject::ZeroQuantity),
        (OrderKind::MarketQuote { quote_qty: 0 }, Reject::ZeroQuantity),
        (OrderKind::MarketQuote { quote_qty: 999 }, Reject::BelowMinNotional),
        (OrderKind::LimitMaker { price: 100, qty: 3 }, Reject::QuantityOffLot),
    ] {
        let body = order(&mut f, ALICE, m, Side::Buy, kind);
        f.rejects(body, code);
    }
}

#[test]
fn insufficient_funds_is_rejected_for_each_way_of_locking() {
    let mut f = Fixture::new();
    let body = order(&mut f, ALICE, MKT, Side::Buy, gtc(2, FUNDS));
    f.rejects(body, Reject::InsufficientFunds);
    let body = order(&mut f, ALICE, MKT, Side::Sell, gtc(1, FUNDS + 1));
    f.rejects(body, Reject::InsufficientFunds);
    let body = order(&mut f, ALICE, MKT, Side::Sell, OrderKind::MarketBase { qty: FUNDS + 1 });
    f.rejects(body, Reject::InsufficientFunds);
    let body = order(&mut f, ALICE, MKT, Side::Buy, OrderKind::MarketQuote { quote_qty: FUNDS + 1 });
    f.rejects(body, Reject::InsufficientFunds);
    let body = request(
        &mut f,
        ALICE,
        AccountAction::RequestWithdrawal { asset: BASE, amount: FUNDS + 1, address: "addr".into() },
    );
    f.rejects(body, Reject::InsufficientFunds);
}

#[test]
fn the_fee_account_cannot_trade_withdraw_or_be_created() {
    let mut f = Fixture::new();
    let body = order(&mut f, FEE_ACCOUNT, MKT, Side::Buy, gtc(1, 1));
    f.rejects(body, Reject::ReservedAccount);
    f.rejects(CommandBody::CreateAccount { account: FEE_ACCOUNT }, Reject::ReservedAccount);
    f.rejects(
        CommandBody::Deposit { account: FEE_ACCOUNT, asset: BASE, amount: 1, chain_tx: "f".into() },
        Reject::ReservedAccount,
    );
}

#[test]
fn invalid_configuration_is_rejected() {
    let mut f = Fixture::new();
    f.rejects(CommandBody::CreateAsset { symbol: "btc".into(), decimals: 8 }, Reject::InvalidAsset);
    f.rejects(CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 19 }, Reject::InvalidAsset);
    f.rejects(CommandBody::CreateAsset { symbol: "BASE".into(), decimals: 3 }, Reject::DuplicateIdMismatch);
    let spec = MarketSpec {
        symbol: "BAD".into(),
        base: BASE,
        quote: QUOTE,
        tick_size: 1,
        lot_size: 1,
        min_notional: 0,
        maker_fee_ppm: 0,
        taker_fee_ppm: 0,
    };
    f.rejects(CommandBody::CreateMarket(MarketSpec { tick_size: 0, ..spec.clone() }), Reject::InvalidMarket);
    f.rejects(CommandBody::CreateMarket(MarketSpec { quote: BASE, ..spec.clone() }), Reject::InvalidMarket);
    f.rejects(CommandBody::CreateMarket(MarketSpec { taker_fee_ppm: 200_000, ..spec.clone() }), Reject::InvalidMarket);
    f.rejects(CommandBody::CreateMarket(MarketSpec { quote: 42, ..spec.clone() }), Reject::UnknownAsset);
    f.rejects(
        CommandBody::CreateMarket(MarketSpec { symbol: "BASEQUOTE".into(), ..spec.clone() }),
        Reject::DuplicateIdMismatch,
    );
    // tick × lot must be a whole number of quote units per lot once divided by 10^base_decimals.
    f.ok(CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 });
    let btc = f.engine.asset_id("BTC").unwrap();
    f.rejects(
        CommandBody::CreateMarket(MarketSpec {
            symbol: "BTCQ".into(),
            base: btc,
            tick_size: 100,
            lot_size: 1_000,
            ..spec
        }),
        Reject::InvalidMarket,
    );
    f.rejects(CommandBody::SetMarketStatus { market: 9, status: MarketStatus::Halted }, Reject::UnknownMarket);
}

#[test]
fn invalid_chain_text_is_rejected() {
    let mut f = Fixture::new();
    f.rejects(
        CommandBody::Deposit { account: ALICE, asset: BASE, amount: 1, chain_tx: String::new() },
        Reject::InvalidChainText,
    );
    f.rejects(
        CommandBody::Deposit { account: ALICE, asset: BASE, amount: 1, chain_tx: "a b".into() },
        Reject::InvalidChainText,
    );
    f.rejects(
        CommandBody::Deposit { account: ALICE, asset: BASE, amount: 1, chain_tx: "x".repeat(129) },
        Reject::InvalidChainText,
    );
    let body = request(&mut f, ALICE, AccountAction::RequestWithdrawal { asset: BASE, amount: 1, address: "".into() });
    f.rejects(body, Reject::InvalidChainText);
}

#[test]
fn a_deposit_that_would_overflow_the_asset_total_is_rejected() {
    let mut f = Fixture::new();
    f.rejects(
        CommandBody::Deposit { account: ALICE, asset: BASE, amount: u64::MAX, chain_tx: "big".into() },
        Reject::Overflow,
    );
}

#[test]
fn stale_and_future_requests_are_rejected() {
    let mut f = Fixture::new();
    let window = f.engine.limits().request_window_ms;
    let request_id = f.fresh_id();
    let action = AccountAction::CancelAll { market: MKT };
    let stale = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id,
        request_ts_ms: f.now_ms - window - 1,
        action: action.clone(),
    });
    f.rejects(stale, Reject::RequestExpired);
    let ahead = f.engine.limits().request_ahead_ms_max;
    let future = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id,
        request_ts_ms: f.now_ms + ahead + 10,
        action,
    });
    f.rejects(future, Reject::RequestFromFuture);
}

#[test]
fn every_reject_code_is_distinct_and_stable() {
    let mut codes: Vec<u16> = Reject::ALL.iter().map(|r| r.code()).collect();
    let count = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), count);
    // Pin a few: changing these breaks clients.
    assert_eq!(Reject::UnknownMarket.code(), 1001);
    assert_eq!(Reject::InsufficientFunds.code(), 3001);
    assert_eq!(Reject::DuplicateIdMismatch.code(), 4001);
    assert_eq!(Reject::PostOnlyWouldTake.name(), "PostOnlyWouldTake");
}
