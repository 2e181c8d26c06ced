//! Retries: a repeated request returns the original result and changes nothing.

mod common;

use common::*;
use outlast_engine::*;

fn place_request(id: &str, ts: u64, kind: OrderKind) -> CommandBody {
    CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id: ClientId::new(id).unwrap(),
        request_ts_ms: ts,
        action: AccountAction::PlaceOrder(OrderSpec { market: MKT, side: Side::Buy, kind, stp: StpMode::None }),
    })
}

fn assert_duplicate(f: &mut Fixture, body: CommandBody, original: Summary) {
    let before = f.engine.digest();
    assert_eq!(f.apply(body), Outcome::Duplicate(original));
    assert!(f.events.is_empty());
    assert_eq!(f.engine.digest(), before);
}

#[test]
fn a_retried_order_returns_the_original_result_and_places_nothing() {
    let mut f = Fixture::new();
    let body = place_request("order-1", f.now_ms, gtc(100, 5));
    let Outcome::Applied(original) = f.apply(body.clone()) else { panic!() };
    assert_duplicate(&mut f, body.clone(), original);
    assert_eq!(f.balance(ALICE, QUOTE).locked, 500);
    // Still a duplicate after the order has filled: the summary is what the first apply said.
    f.limit(BOB, Side::Sell, 100, 5);
    assert_duplicate(&mut f, body, original);
}

#[test]
fn a_retry_signed_again_with_a_new_timestamp_is_still_a_duplicate() {
    let mut f = Fixture::new();
    let Outcome::Applied(original) = f.apply(place_request("order-1", f.now_ms, gtc(100, 5))) else { panic!() };
    let again = place_request("order-1", f.now_ms + 1, gtc(100, 5));
    assert_duplicate(&mut f, again, original);
}

#[test]
fn reusing_an_id_for_a_different_request_is_rejected() {
    let mut f = Fixture::new();
    f.apply(place_request("order-1", f.now_ms, gtc(100, 5)));
    let other = place_request("order-1", f.now_ms, gtc(100, 6));
    f.rejects(other, Reject::DuplicateIdMismatch);
}

#[test]
fn a_rejected_request_is_not_remembered_so_it_can_be_fixed_and_resent() {
    let mut f = Fixture::new();
    f.rejects(place_request("order-1", f.now_ms, gtc(100, FUNDS)), Reject::InsufficientFunds);
    assert!(matches!(f.apply(place_request("order-1", f.now_ms, gtc(100, 5))), Outcome::Applied(_)));
}

#[test]
fn a_retried_cancel_returns_the_original_result() {
    let mut f = Fixture::new();
    let (order, _) = f.limit(ALICE, Side::Buy, 100, 5);
    let cancel = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id: ClientId::new("cancel-1").unwrap(),
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelOrder { market: MKT, target: OrderRef::Id(order) },
    });
    let Outcome::Applied(original) = f.apply(cancel.clone()) else { panic!() };
    assert_duplicate(&mut f, cancel, original);
}

#[test]
fn ids_are_forgotten_after_the_window_but_a_retry_that_old_is_expired() {
    let mut f = Fixture::new();
    let ts = f.now_ms;
    let body = place_request("order-1", ts, OrderKind::Limit { price: 100, qty: 1, tif: TimeInForce::Ioc });
    assert!(matches!(f.apply(body.clone()), Outcome::Applied(_)));
    let limits = f.engine.limits().clone();
    f.now_ms += limits.request_window_ms + limits.request_ahead_ms_max + 5;
    // The same signed request, replayed late, cannot apply again.
    f.rejects(body, Reject::RequestExpired);
    // A fresh request may reuse the id once it has been forgotten.
    let reuse = place_request("order-1", f.now_ms, OrderKind::Limit { price: 100, qty: 1, tif: TimeInForce::Ioc });
    assert!(matches!(f.apply(reuse), Outcome::Applied(_)));
    assert!(f.engine.request(ALICE, ClientId::new("order-1").unwrap()).is_some());
}

#[test]
fn an_open_orders_id_stays_reserved_after_the_window() {
    let mut f = Fixture::new();
    f.apply(place_request("keep", f.now_ms, gtc(100, 1)));
    let limits = f.engine.limits().clone();
    f.now_ms += limits.request_window_ms + limits.request_ahead_ms_max + 5;
    f.rejects(place_request("keep", f.now_ms, gtc(100, 1)), Reject::ClientOrderIdInUse);
    // And it still cancels by client id.
    let cancel = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id: ClientId::new("c").unwrap(),
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelOrder { market: MKT, target: OrderRef::Client(ClientId::new("keep").unwrap()) },
    });
    assert!(matches!(f.apply(cancel), Outcome::Applied(Summary::OrderCanceled(_))));
    assert!(f.engine.request(ALICE, ClientId::new("keep").unwrap()).is_none(), "closed and aged out: forgotten");
}

#[test]
fn ids_are_per_account() {
    let mut f = Fixture::new();
    f.apply(place_request("same", f.now_ms, gtc(100, 1)));
    let bob = CommandBody::Account(AccountRequest {
        account: BOB,
        request_id: ClientId::new("same").unwrap(),
        request_ts_ms: f.now_ms,
        action: AccountAction::PlaceOrder(OrderSpec {
            market: MKT,
            side: Side::Buy,
            kind: gtc(100, 1),
            stp: StpMode::None,
        }),
    });
    assert!(matches!(f.apply(bob), Outcome::Applied(_)));
}

#[test]
fn operator_commands_are_idempotent_by_their_natural_keys() {
    let mut f = Fixture::new();
    let asset = CommandBody::CreateAsset { symbol: "BASE".into(), decimals: 0 };
    assert_eq!(f.apply(asset), Outcome::Duplicate(Summary::AssetCreated(BASE)));
    assert_eq!(
        f.apply(CommandBody::CreateAccount { account: ALICE }),
        Outcome::Duplicate(Summary::AccountCreated(ALICE))
    );
    let status = CommandBody::SetMarketStatus { market: MKT, status: MarketStatus::Trading };
    assert_eq!(f.apply(status), Outcome::Duplicate(Summary::MarketStatusSet(MarketStatus::Trading)));
}

#[test]
fn client_ids_follow_binance_rules() {
    assert!(ClientId::new("abc.DEF_123:/-").is_some());
    assert!(ClientId::new("").is_none());
    assert!(ClientId::new(&"x".repeat(37)).is_none());
    assert!(ClientId::new("has space").is_none());
    assert_eq!(ClientId::from_u64(0).as_str(), "0");
    assert_eq!(ClientId::from_u64(u64::MAX).as_str(), "18446744073709551615");
}

#[test]
fn remembered_ids_are_bounded_by_the_window_across_many_requests() {
    let mut f = Fixture::new();
    let limits = f.engine.limits().clone();
    // Ten thousand cancels-of-nothing spread over two windows: the table must not keep them all.
    let step_ms = (limits.request_window_ms + limits.request_ahead_ms_max) / 4_000;
    let mut peak = 0;
    for n in 0..10_000u64 {
        f.now_ms += step_ms;
        let id = ClientId::from_u64(1_000_000 + n);
        let account = [ALICE, BOB, CAROL][n as usize % 3];
        assert!(matches!(f.request(account, id, AccountAction::CancelAll { market: MKT }), Outcome::Applied(_)));
        peak = peak.max(f.engine.remembered_ids());
    }
    assert!(peak <= 4_100, "ids older than the window are forgotten: peak {peak}");
    assert!(peak >= 3_900, "ids inside the window are all remembered: peak {peak}");
}
