//! Hostile input: commands with arbitrary field values (full 64-bit ranges, any ids, any
//! timestamps) and arbitrary bytes posing as encoded commands. The engine must never panic,
//! must keep every invariant, and a rejected command must change nothing.

use outlast_engine::*;
use proptest::prelude::*;

fn client_id() -> impl Strategy<Value = ClientId> {
    prop_oneof![7 => any::<u64>().prop_map(ClientId::from_u64), 1 => (0u64..5).prop_map(ClientId::from_u64)]
}

fn order_kind() -> BoxedStrategy<OrderKind> {
    let tif = prop_oneof![Just(TimeInForce::Gtc), Just(TimeInForce::Ioc), Just(TimeInForce::Fok)];
    // Mostly values valid in market 1 (tick and lot 10), so orders rest and trade; the rest wild.
    let n = prop_oneof![2 => any::<u64>(), 1 => Just(u64::MAX), 1 => 0u64..100, 6 => (1u64..30).prop_map(|n| n * 10)];
    prop_oneof![
        (n.clone(), n.clone(), tif).prop_map(|(price, qty, tif)| OrderKind::Limit { price, qty, tif }),
        (n.clone(), n.clone()).prop_map(|(price, qty)| OrderKind::LimitMaker { price, qty }),
        n.clone().prop_map(|qty| OrderKind::MarketBase { qty }),
        n.prop_map(|quote_qty| OrderKind::MarketQuote { quote_qty }),
    ]
    .boxed()
}

fn spec() -> BoxedStrategy<OrderSpec> {
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    let stp = prop_oneof![
        Just(StpMode::None),
        Just(StpMode::ExpireTaker),
        Just(StpMode::ExpireMaker),
        Just(StpMode::ExpireBoth)
    ];
    (prop_oneof![1 => 0u32..3, 4 => Just(1u32), 1 => any::<u32>()], side, order_kind(), stp)
        .prop_map(|(market, side, kind, stp)| OrderSpec { market, side, kind, stp })
        .boxed()
}

fn body() -> BoxedStrategy<CommandBody> {
    let account = prop_oneof![6 => 1u64..3, 1 => 0u64..4, 1 => any::<u64>()];
    let amount = prop_oneof![any::<u64>(), 0u64..1_000, Just(u64::MAX)];
    let text = prop_oneof!["[a-z0-9]{1,8}", ".{0,140}"];
    let action =
        prop_oneof![
            spec().prop_map(AccountAction::PlaceOrder),
            (0u32..3, any::<u64>())
                .prop_map(|(market, id)| AccountAction::CancelOrder { market, target: OrderRef::Id(id % 64) }),
            (0u32..3, client_id())
                .prop_map(|(market, c)| AccountAction::CancelOrder { market, target: OrderRef::Client(c) }),
            (0u32..4).prop_map(|market| AccountAction::CancelAll { market }),
            (any::<u64>(), spec())
                .prop_map(|(id, new_order)| AccountAction::CancelReplace { target: OrderRef::Id(id % 64), new_order }),
            (0u32..4, amount.clone(), text.clone())
                .prop_map(|(asset, amount, address)| AccountAction::RequestWithdrawal { asset, amount, address }),
        ]
        .boxed();
    prop_oneof![
        1 => ("[A-Z0-9]{0,20}|.{0,5}", any::<u8>()).prop_map(|(symbol, decimals)| CommandBody::CreateAsset { symbol, decimals }),
        1 => (any::<u32>(), any::<u32>(), amount.clone(), amount.clone(), amount.clone(), any::<u32>(), any::<u32>()).prop_map(
            |(base, quote, tick_size, lot_size, min_notional, maker_fee_ppm, taker_fee_ppm)| CommandBody::CreateMarket(MarketSpec {
                symbol: "FUZZ".into(), base: base % 4, quote: quote % 4, tick_size, lot_size, min_notional, maker_fee_ppm, taker_fee_ppm,
            })
        ),
        1 => (0u32..4, prop_oneof![4 => Just(MarketStatus::Trading), 1 => Just(MarketStatus::CancelOnly), 1 => Just(MarketStatus::Halted)])
            .prop_map(|(market, status)| CommandBody::SetMarketStatus { market, status }),
        1 => account.clone().prop_map(|account| CommandBody::CreateAccount { account }),
        1 => (account.clone(), 0u32..4, amount.clone(), text.clone())
            .prop_map(|(account, asset, amount, chain_tx)| CommandBody::Deposit { account, asset, amount, chain_tx }),
        1 => (any::<u64>(), text).prop_map(|(w, chain_tx)| CommandBody::WithdrawalSent { withdrawal: w % 8, chain_tx }),
        1 => any::<u64>().prop_map(|w| CommandBody::WithdrawalConfirmed { withdrawal: w % 8 }),
        1 => any::<u64>().prop_map(|w| CommandBody::WithdrawalFailed { withdrawal: w % 8 }),
        30 => (account, client_id(), prop_oneof![6 => Just(0u64), 1 => any::<u64>()], action).prop_map(|(account, request_id, skew, action)| {
            CommandBody::Account(AccountRequest { account, request_id, request_ts_ms: skew, action })
        }),
    ]
    .boxed()
}

fn engine_with_markets() -> Engine {
    let mut engine = Engine::new(Limits::default());
    let mut sink = Vec::new();
    let setup = [
        CommandBody::CreateAsset { symbol: "A".into(), decimals: 8 },
        CommandBody::CreateAsset { symbol: "B".into(), decimals: 2 },
        CommandBody::CreateMarket(MarketSpec {
            symbol: "AB".into(),
            base: 0,
            quote: 1,
            tick_size: 1_000_000,
            lot_size: 100,
            min_notional: 1,
            maker_fee_ppm: 500,
            taker_fee_ppm: 1_000,
        }),
        CommandBody::CreateMarket(MarketSpec {
            symbol: "BA".into(),
            base: 1,
            quote: 0,
            tick_size: 10,
            lot_size: 10,
            min_notional: 0,
            maker_fee_ppm: 0,
            taker_fee_ppm: 0,
        }),
        CommandBody::CreateAccount { account: 1 },
        CommandBody::CreateAccount { account: 2 },
        CommandBody::Deposit { account: 1, asset: 0, amount: u64::MAX / 2, chain_tx: "a1".into() },
        CommandBody::Deposit { account: 2, asset: 1, amount: u64::MAX / 2, chain_tx: "b2".into() },
        CommandBody::Deposit { account: 1, asset: 1, amount: 1 << 40, chain_tx: "b1".into() },
        CommandBody::Deposit { account: 2, asset: 0, amount: 1 << 40, chain_tx: "a2".into() },
    ];
    for body in setup {
        assert!(matches!(engine.apply(&Command { ts_ms: 1, body, operator: None }, &mut sink), Outcome::Applied(_)));
    }
    engine
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_commands_never_panic_and_keep_invariants(bodies in prop::collection::vec((body(), any::<u64>()), 1..300)) {
        let mut engine = engine_with_markets();
        let mut events = Vec::new();
        for (body, ts) in bodies {
            // Most commands keep a plausible clock; one in sixteen jumps anywhere (forwards or back).
            let ts_ms = if ts % 16 != 0 { engine.now_ms().saturating_add(ts % 5_000) } else { ts };
            let mut body = body;
            if let CommandBody::Account(request) = &mut body {
                if request.request_ts_ms == 0 {
                    request.request_ts_ms = ts_ms.max(engine.now_ms());
                }
            }
            let before = engine.digest();
            events.clear();
            let outcome = engine.apply(&Command { ts_ms, body, operator: None }, &mut events);
            if let Err(why) = engine.check_invariants() {
                return Err(TestCaseError::fail(why));
            }
            if !matches!(outcome, Outcome::Applied(_)) {
                prop_assert_eq!(engine.digest(), before);
                prop_assert!(events.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_decode_into_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        // Whatever decodes is a command like any other: applying it must not panic either.
        if let Ok(command) = postcard::from_bytes::<Command>(&bytes) {
            let mut engine = engine_with_markets();
            let mut events = Vec::new();
            engine.apply(&command, &mut events);
            prop_assert!(engine.check_invariants().is_ok());
        }
    }
}

#[test]
fn commands_round_trip_through_their_encoding() {
    let command = Command {
        ts_ms: 42,
        body: CommandBody::Account(AccountRequest {
            account: 7,
            request_id: ClientId::new("x-1").unwrap(),
            request_ts_ms: 41,
            action: AccountAction::PlaceOrder(OrderSpec {
                market: 0,
                side: Side::Sell,
                kind: OrderKind::MarketQuote { quote_qty: 9 },
                stp: StpMode::ExpireBoth,
            }),
        }),
        operator: None,
    };
    let bytes = postcard::to_allocvec(&command).unwrap();
    assert_eq!(postcard::from_bytes::<Command>(&bytes).unwrap(), command);
    // A client id that breaks the rules does not decode.
    let bad = postcard::to_allocvec(&"has space").unwrap();
    assert!(postcard::from_bytes::<ClientId>(&bad).is_err());
}
