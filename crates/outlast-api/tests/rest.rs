//! The REST API against a real (one-node) cluster: Binance's signing and errors, bad input that
//! changes nothing, account isolation, request weight, and unknown write outcomes.

mod common;

use common::*;

const ORDER: &str = "/api/v3/order";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_round_trip_with_binance_shapes() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let sell = node
        .signed(
            &alice,
            "POST",
            ORDER,
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.5&price=30000.00&newClientOrderId=a1",
        )
        .await;
    assert_eq!(sell.status, 200, "{}", sell.body);
    let sell = sell.json();
    assert_eq!((sell["status"].as_str(), sell["clientOrderId"].as_str()), (Some("NEW"), Some("a1")));
    assert_eq!(sell["price"], "30000.000000");
    let buy = node.signed(&bob, "POST", ORDER, "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.2").await.json();
    assert_eq!(buy["status"], "FILLED");
    assert_eq!(buy["fills"][0]["price"], "30000.000000");
    assert_eq!(buy["fills"][0]["qty"], "0.20000000");
    let depth = http(node.api, "GET", "/api/v3/depth?symbol=BTCUSDT", &[], b"").await.json();
    assert_eq!(depth["asks"][0], serde_json::json!(["30000.000000", "0.30000000"]));
    let query = node.signed(&alice, "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=a1").await.json();
    assert_eq!(
        (query["status"].as_str(), query["executedQty"].as_str()),
        (Some("PARTIALLY_FILLED"), Some("0.20000000"))
    );
    let account = node.signed(&alice, "GET", "/api/v3/account", "").await.json();
    let usdt = account["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "USDT").unwrap().clone();
    assert_eq!(usdt["free"], "1006000.000000");
    let trades = http(node.api, "GET", "/api/v3/trades?symbol=BTCUSDT", &[], b"").await.json();
    assert_eq!(trades.as_array().unwrap().len(), 1);
    let ticker = http(node.api, "GET", "/api/v3/ticker/24hr?symbol=BTCUSDT", &[], b"").await.json();
    assert_eq!((ticker["lastPrice"].as_str(), ticker["count"].as_u64()), (Some("30000.000000"), Some(1)));
    let canceled =
        node.signed(&alice, "DELETE", ORDER, &format!("symbol=BTCUSDT&orderId={}", sell["orderId"])).await.json();
    assert_eq!(canceled["status"], "CANCELED");
    // Retrying the cancel is answered like the first time, not as a second cancel.
    let again = node.signed(&alice, "DELETE", ORDER, &format!("symbol=BTCUSDT&orderId={}", sell["orderId"])).await;
    assert_eq!(again.json()["orderId"], sell["orderId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_binance_error_and_changes_nothing() {
    let node = TestNode::start(0).await;
    let (alice, _) = node.exchange().await;
    let digest = node.digest().await;
    let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100";
    let stale = format!("{order}&timestamp={}", now_ms() - 10_000);
    let future = format!("{order}&timestamp={}", now_ms() + 5_000);
    let cases: Vec<(&str, String, i64)> = vec![
        ("no signature", format!("{order}&timestamp={}", now_ms()), -1102),
        ("bad signature", format!("{order}&timestamp={}&signature={}", now_ms(), "ab".repeat(32)), -1022),
        ("stale timestamp", format!("{stale}&signature={}", sign(&alice.secret, stale.as_bytes())), -1021),
        ("future timestamp", format!("{future}&signature={}", sign(&alice.secret, future.as_bytes())), -1021),
    ];
    for (what, params, code) in cases {
        let reply = node.raw(&alice, "POST", ORDER, &params).await;
        assert_eq!(reply.code(), code, "{what}: {}", reply.body);
        assert_eq!(reply.status, 400, "{what}");
    }
    let signed_cases: Vec<(&str, &str, i64)> = vec![
        (
            "recvWindow too large",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100&recvWindow=60001",
            -1131,
        ),
        ("duplicate parameter", "symbol=BTCUSDT&symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", -1101),
        ("unknown parameter", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&icebergQty=1", -1104),
        ("unknown symbol", "symbol=NOPE&side=BUY&type=MARKET&quantity=0.1", -1121),
        (
            "too many decimals",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.123456789&price=100",
            -1111,
        ),
        (
            "beyond 64 bits",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=999999999999999999999&price=1",
            -1102,
        ),
        ("negative", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=-1&price=1", -1102),
        ("off tick", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100.001", -1013),
        ("insufficient funds", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=100000", -2010),
        ("bad side", "symbol=BTCUSDT&side=UP&type=MARKET&quantity=0.1", -1117),
        ("bad type", "symbol=BTCUSDT&side=BUY&type=MOON&quantity=0.1", -1116),
        ("bad tif", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=NOW&quantity=0.1&price=100", -1115),
        ("missing quantity", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=100", -1102),
        ("bad client id", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=a%20b", -1100),
        ("invalid utf-8", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=%ff", -1100),
    ];
    for (what, params, code) in signed_cases {
        let reply = node.signed(&alice, "POST", ORDER, params).await;
        assert_eq!(reply.code(), code, "{what}: {}", reply.body);
    }
    let no_key = http(node.api, "GET", "/api/v3/account?timestamp=1&signature=00", &[], b"").await;
    assert_eq!(no_key.code(), -2014);
    let unknown_key = Key { key: "X".repeat(64), secret: "s".into(), account: 0 };
    assert_eq!(node.signed(&unknown_key, "GET", "/api/v3/account", "").await.code(), -2015);
    let huge = vec![b'a'; 20_000];
    let oversize = http(node.api, "POST", ORDER, &[("x-mbx-apikey", &alice.key)], &huge).await;
    assert_eq!(oversize.status, 413);
    let raw_utf8 = common::http_bytes(node.api, "GET", b"/api/v3/depth?symbol=\xff\xfe", &[], b"").await;
    assert!(raw_utf8.status == 400, "{raw_utf8:?}");
    let operator =
        http(node.api, "POST", "/operator/v1/assets?symbol=EVIL&decimals=2", &[("authorization", "Bearer wrong")], b"")
            .await;
    assert_eq!((operator.status, operator.code()), (401, -1002));
    // Every endpoint refuses a parameter it does not read before it acts (the front door checks
    // between decoding and the action): an operator deposit, a cancel of everything.
    let auth = format!("Bearer {TOKEN}");
    let deposit = "/operator/v1/deposits?account=1&coin=USDT&amount=1&txId=unread-1&memo=x";
    let refused = http(node.api, "POST", deposit, &[("authorization", &auth)], b"").await;
    assert_eq!((refused.status, refused.code()), (400, -1104), "{}", refused.body);
    let cancel_all = node.signed(&alice, "DELETE", "/api/v3/openOrders", "symbol=BTCUSDT&side=BUY").await;
    assert_eq!(cancel_all.code(), -1104, "{}", cancel_all.body);
    assert_eq!(node.digest().await, digest, "no bad request changed the state");
    assert_eq!(http(node.api, "GET", "/api/v3/ping", &[], b"").await.status, 200, "still serving");
}

/// Two API keys on one request: which one acts is ambiguous, so the request is refused (-1101),
/// whichever order they come in, even when the first alone would have been valid and signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_two_api_keys_is_refused() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let digest = node.digest().await;
    let order =
        format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100&timestamp={}", now_ms());
    let signed = format!("{order}&signature={}", sign(&alice.secret, order.as_bytes()));
    for keys in [[&alice, &bob], [&alice, &alice]] {
        let headers = [("x-mbx-apikey", keys[0].key.as_str()), ("X-MBX-APIKEY", keys[1].key.as_str())];
        let reply = http(node.api, "POST", ORDER, &headers, signed.as_bytes()).await;
        assert_eq!((reply.status, reply.code()), (400, -1101), "{}", reply.body);
    }
    assert_eq!(node.digest().await, digest, "a refused request changed state");
    // The positive control: the same request with one key is accepted.
    assert_eq!(node.raw(&alice, "POST", ORDER, &signed).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_cannot_see_or_touch_another_accounts_orders_or_streams() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let order = node
        .signed(
            &alice,
            "POST",
            ORDER,
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=50000&newClientOrderId=secret-1",
        )
        .await
        .json();
    let id = order["orderId"].as_u64().unwrap();
    let digest = node.digest().await;
    // Bob names Alice's order by id and by client id: refused exactly like a missing order.
    let probes = [
        ("GET", format!("symbol=BTCUSDT&orderId={id}"), -2013),
        ("GET", "symbol=BTCUSDT&origClientOrderId=secret-1".to_string(), -2013),
        ("DELETE", format!("symbol=BTCUSDT&orderId={id}"), -2011),
        ("DELETE", "symbol=BTCUSDT&origClientOrderId=secret-1".to_string(), -2011),
    ];
    for (method, params, code) in probes {
        let reply = node.signed(&bob, method, ORDER, &params).await;
        assert_eq!(reply.code(), code, "{method} {params}: {}", reply.body);
        let missing = node
            .signed(&bob, method, ORDER, &params.replace(&id.to_string(), "999999").replace("secret-1", "nothing"))
            .await;
        assert_eq!(missing.code(), code, "same answer as for a missing order");
    }
    assert_eq!(node.digest().await, digest, "Alice's order is untouched");
    for (path, params) in [
        ("/api/v3/openOrders", "symbol=BTCUSDT"),
        ("/api/v3/allOrders", "symbol=BTCUSDT"),
        ("/api/v3/myTrades", "symbol=BTCUSDT"),
    ] {
        let rows = node.signed(&bob, "GET", path, params).await.json();
        assert_eq!(rows, serde_json::json!([]), "{path} shows Bob nothing of Alice's");
    }
    // Bob cannot keep alive or close Alice's listen key, nor use a forged one.
    let alice_listen =
        node.raw(&alice, "POST", "/api/v3/userDataStream", "").await.json()["listenKey"].as_str().unwrap().to_string();
    for method in ["PUT", "DELETE"] {
        let reply = node.raw(&bob, method, "/api/v3/userDataStream", &format!("listenKey={alice_listen}")).await;
        assert_eq!(reply.code(), -1125, "{method}: {}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_weight_is_counted_and_limited_with_retry_after() {
    let node = TestNode::start(0).await;
    let first = http(node.api, "GET", "/api/v3/exchangeInfo", &[], b"").await;
    assert_eq!(first.header("x-mbx-used-weight-1m"), Some("20"));
    let mut last = first;
    for _ in 0..400 {
        last = http(node.api, "GET", "/api/v3/exchangeInfo", &[], b"").await;
        if last.status == 429 {
            break;
        }
    }
    assert_eq!((last.status, last.code()), (429, -1003), "6,000 weight per minute, 20 per call");
    assert_eq!(last.header("retry-after"), Some("60"));
    // The operator and health checks still get through.
    assert_eq!(http(node.api, "GET", "/health", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_reached_no_leader_is_refused_as_not_done() {
    // One voter of three, the others never start: no leader, nothing can commit, and the write
    // provably went nowhere: -1001 (safe to retry anywhere), not -1007 (fate unknown).
    let node = TestNode::start(2).await;
    let auth = format!("Bearer {TOKEN}");
    let reply =
        http(node.api, "POST", "/operator/v1/assets?symbol=BTC&decimals=8", &[("authorization", &auth)], b"").await;
    assert_eq!((reply.status, reply.code()), (503, -1001), "{}", reply.body);
    assert!(reply.body.contains("not sent to any leader"), "{}", reply.body);
    // A linearizable read cannot be answered either: refused, not answered from local state.
    let list = http(node.api, "GET", "/operator/v1/withdrawals", &[("authorization", &auth)], b"").await;
    assert_eq!((list.status, list.code()), (503, -1001), "{}", list.body);
    // Market data is served from local state.
    assert_eq!(http(node.api, "GET", "/api/v3/exchangeInfo", &[], b"").await.status, 200);
    assert!(node.running.reader.read().assets().is_empty());
    assert_eq!(http(node.api, "GET", "/ready", &[], b"").await.status, 503, "not ready without a leader");
    assert_eq!(http(node.api, "GET", "/health", &[], b"").await.status, 200, "but alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_endpoints_follow_binance_and_withdraw_order_id_is_idempotent() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let params = "coin=USDT&address=0xfeed&amount=25.5&withdrawOrderId=w-1";
    let first = node.signed(&alice, "POST", "/sapi/v1/capital/withdraw/apply", params).await.json();
    let again = node.signed(&alice, "POST", "/sapi/v1/capital/withdraw/apply", params).await.json();
    assert_eq!(first["id"], again["id"], "one withdrawal, not two");
    let history = node.signed(&alice, "GET", "/sapi/v1/capital/withdraw/history", "coin=USDT").await.json();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!((history[0]["amount"].as_str(), history[0]["status"].as_u64()), (Some("25.500000"), Some(2)));
    let id = first["id"].as_str().unwrap();
    node.op("POST", &format!("/operator/v1/withdrawals/sent?id={id}&txId=0xchain")).await;
    node.op("POST", &format!("/operator/v1/withdrawals/confirmed?id={id}")).await;
    let history = node.signed(&alice, "GET", "/sapi/v1/capital/withdraw/history", "").await.json();
    assert_eq!((history[0]["status"].as_u64(), history[0]["txId"].as_str()), (Some(6), Some("0xchain")));
    let deposits = node.signed(&alice, "GET", "/sapi/v1/capital/deposit/hisrec", "coin=BTC").await.json();
    assert_eq!(deposits[0]["amount"], "10.00000000");
    assert_eq!(node.signed(&bob, "GET", "/sapi/v1/capital/withdraw/history", "").await.json(), serde_json::json!([]));
    let too_precise =
        node.signed(&alice, "POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&address=0x1&amount=0.0000001").await;
    assert_eq!(too_precise.code(), -1111);
    let metrics = http(node.api, "GET", "/metrics", &[], b"").await;
    assert!(metrics.body.contains("outlast_commit_latency_seconds_count"), "{}", metrics.body);
    assert!(!metrics.body.contains(&alice.secret) && !history.to_string().contains(&alice.secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klines_and_the_average_price_as_binance_serves_them() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    for (price, qty) in [("30000.00", "0.5"), ("30100.00", "0.25")] {
        let sell = format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity={qty}&price={price}");
        assert_eq!(node.signed(&alice, "POST", ORDER, &sell).await.status, 200);
        let buy = format!("symbol=BTCUSDT&side=BUY&type=MARKET&quantity={qty}");
        assert_eq!(node.signed(&bob, "POST", ORDER, &buy).await.json()["status"], "FILLED");
    }
    let get = async |query: &str| http(node.api, "GET", &format!("/api/v3/{query}"), &[], b"").await;
    for path in ["klines", "uiKlines"] {
        let candles = get(&format!("{path}?symbol=BTCUSDT&interval=1m")).await.json();
        let candle = candles.as_array().unwrap().last().unwrap().as_array().unwrap().clone();
        assert_eq!(candle.len(), 12, "{path}: {candle:?}");
        let open_ms = candle[0].as_u64().unwrap();
        assert_eq!(open_ms % 60_000, 0, "a minute opens on the minute");
        assert_eq!(candle[6].as_u64().unwrap(), open_ms + 59_999, "it closes a millisecond before the next");
        // Both trades are usually in one minute; a minute boundary between them splits them.
        let total: f64 =
            candles.as_array().unwrap().iter().map(|c| c[5].as_str().unwrap().parse::<f64>().unwrap()).sum();
        assert_eq!(total, 0.75, "{candles}");
        let count: u64 = candles.as_array().unwrap().iter().map(|c| c[8].as_u64().unwrap()).sum();
        assert_eq!(count, 2);
        assert_eq!(candle[4], "30100.000000", "the close is the last trade's price");
        assert_eq!(candle[9], candle[5], "every taker bought");
    }
    // Every interval answers, and one candle holds both trades from a day up.
    for interval in ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]
    {
        let candles = get(&format!("klines?symbol=BTCUSDT&interval={interval}&timeZone=05:45")).await;
        assert_eq!(candles.status, 200, "{interval}: {}", candles.body);
        let candles = candles.json();
        let count: u64 = candles.as_array().unwrap().iter().map(|c| c[8].as_u64().unwrap()).sum();
        assert_eq!(count, 2, "{interval}");
    }
    let day = get("klines?symbol=BTCUSDT&interval=1d").await.json();
    assert_eq!((day[0][2].as_str(), day[0][3].as_str()), (Some("30100.000000"), Some("30000.000000")));
    let open_ms = day[0][0].as_u64().unwrap();
    assert_eq!(
        get(&format!("klines?symbol=BTCUSDT&interval=1d&startTime={}", open_ms + 1)).await.json(),
        serde_json::json!([])
    );
    assert_eq!(get(&format!("klines?symbol=BTCUSDT&interval=1d&endTime={open_ms}&limit=1")).await.json(), day);
    let average = get("avgPrice?symbol=BTCUSDT").await.json();
    // (0.5 × 30,000 + 0.25 × 30,100) / 0.75
    assert_eq!((average["mins"].as_u64(), average["price"].as_str()), (Some(5), Some("30033.333333")));
    assert!(average["closeTime"].as_u64().unwrap() > 0);

    let digest = node.digest().await;
    let bad: Vec<(&str, &str, i64)> = vec![
        ("no interval", "klines?symbol=BTCUSDT", -1102),
        ("unknown interval", "klines?symbol=BTCUSDT&interval=2m", -1120),
        ("a minute is not a month", "klines?symbol=BTCUSDT&interval=1D", -1120),
        ("unknown symbol", "klines?symbol=NOPE&interval=1m", -1121),
        ("no symbol", "uiKlines?interval=1m", -1102),
        ("limit past 1,000", "klines?symbol=BTCUSDT&interval=1m&limit=1001", -1102),
        ("limit 0", "klines?symbol=BTCUSDT&interval=1m&limit=0", -1102),
        ("start after end", "klines?symbol=BTCUSDT&interval=1m&startTime=2&endTime=1", -1128),
        ("a zone past +14:00", "klines?symbol=BTCUSDT&interval=1m&timeZone=15", -1102),
        ("a zone that is not one", "klines?symbol=BTCUSDT&interval=1m&timeZone=Europe/Paris", -1102),
        ("a time that is not a number", "klines?symbol=BTCUSDT&interval=1m&startTime=yesterday", -1102),
        ("unknown parameter", "klines?symbol=BTCUSDT&interval=1m&x=1", -1104),
        ("average of nothing", "avgPrice?symbol=NOPE", -1121),
    ];
    for (what, query, code) in bad {
        let reply = get(query).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{what}: {}", reply.body);
    }
    assert_eq!(node.digest().await, digest, "bad input changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tape_and_rolling_tickers_as_binance_serves_them() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    for (price, qty) in [("30000.00", "0.5"), ("30100.00", "0.25"), ("30200.00", "0.125")] {
        let sell = format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity={qty}&price={price}");
        assert_eq!(node.signed(&alice, "POST", ORDER, &sell).await.status, 200);
        let buy = format!("symbol=BTCUSDT&side=BUY&type=MARKET&quantity={qty}");
        assert_eq!(node.signed(&bob, "POST", ORDER, &buy).await.json()["status"], "FILLED");
    }
    let get = async |query: &str| {
        let reply = http(node.api, "GET", &format!("/api/v3/{query}"), &[], b"").await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.json()
    };
    let tape = get("trades?symbol=BTCUSDT").await;
    let ids: Vec<u64> = tape.as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let historical = get(&format!("historicalTrades?symbol=BTCUSDT&fromId={}&limit=1", ids[1])).await;
    assert_eq!(historical, serde_json::json!([tape[1]]), "historicalTrades pages from fromId");
    let aggregates = get("aggTrades?symbol=BTCUSDT").await;
    assert_eq!(aggregates.as_array().unwrap().len(), 3);
    let first = &aggregates[0];
    assert_eq!(
        (first["a"].as_u64(), first["f"].as_u64(), first["l"].as_u64()),
        (Some(ids[0]), Some(ids[0]), Some(ids[0]))
    );
    assert_eq!(
        (first["p"].as_str(), first["q"].as_str(), first["m"].as_bool()),
        (Some("30000.000000"), Some("0.50000000"), Some(false))
    );
    let time = first["T"].as_u64().unwrap();
    let since = get(&format!("aggTrades?symbol=BTCUSDT&startTime={time}&endTime={}&limit=2", time + 3_600_000)).await;
    assert_eq!(since.as_array().unwrap().len(), 2, "the first two from startTime");
    assert_eq!(get(&format!("aggTrades?symbol=BTCUSDT&fromId={}", ids[2])).await, serde_json::json!([aggregates[2]]));

    // Rolling windows and the trading day hold all three trades; MINI drops the change.
    for query in [
        "ticker?symbol=BTCUSDT&windowSize=1m",
        "ticker?symbol=BTCUSDT&windowSize=7d",
        "ticker/tradingDay?symbol=BTCUSDT&timeZone=-3",
    ] {
        let ticker = get(query).await;
        assert_eq!(
            (ticker["count"].as_u64(), ticker["openPrice"].as_str(), ticker["lastPrice"].as_str()),
            (Some(3), Some("30000.000000"), Some("30200.000000")),
            "{query}: {ticker}"
        );
        assert_eq!(ticker["volume"], "0.87500000", "{query}");
        assert_eq!(ticker["priceChange"], "200.000000", "{query}");
        assert!(ticker.get("bidPrice").is_none(), "the window's statistics only: {query}");
    }
    let mini = get("ticker?symbols=%5B%22BTCUSDT%22%5D&type=MINI").await;
    assert_eq!(mini.as_array().unwrap().len(), 1);
    assert!(mini[0].get("priceChange").is_none() && mini[0]["count"] == 3, "{mini}");
    let day = get("ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!((day["count"].as_u64(), day["lastQty"].as_str()), (Some(3), Some("0.12500000")));
    let day_mini = get("ticker/24hr?symbol=BTCUSDT&type=MINI").await;
    assert!(day_mini.get("lastQty").is_none() && day_mini["count"] == 3, "{day_mini}");
    let weight = |reply: &Reply| reply.header("x-mbx-used-weight-1m").map(str::to_string);
    let before = http(node.api, "GET", "/api/v3/ping", &[], b"").await;
    let two = http(node.api, "GET", "/api/v3/ticker?symbols=%5B%22BTCUSDT%22,%22BTCUSDT%22%5D", &[], b"").await;
    let used = |reply: &Reply| weight(reply).unwrap().parse::<u64>().unwrap();
    assert_eq!(used(&two) - used(&before), 8, "4 a symbol");

    let digest = node.digest().await;
    let bad: Vec<(&str, &str, i64)> = vec![
        ("aggTrades without a symbol", "aggTrades", -1102),
        ("aggTrades of an unknown symbol", "aggTrades?symbol=NOPE", -1121),
        ("fromId with a time", "aggTrades?symbol=BTCUSDT&fromId=1&startTime=1", -1128),
        ("more than an hour", "aggTrades?symbol=BTCUSDT&startTime=1&endTime=3600002", -1127),
        ("start after end", "aggTrades?symbol=BTCUSDT&startTime=2&endTime=1", -1128),
        ("a fromId that is not a number", "historicalTrades?symbol=BTCUSDT&fromId=x", -1102),
        ("limit past 1,000 is capped, limit 0 is not", "historicalTrades?symbol=BTCUSDT&limit=0", -1102),
        ("a window past 7 days", "ticker?symbol=BTCUSDT&windowSize=8d", -1102),
        ("a window of weeks", "ticker?symbol=BTCUSDT&windowSize=1w", -1102),
        ("a rolling ticker of every market", "ticker", -1102),
        ("an unknown type", "ticker?symbol=BTCUSDT&type=SHORT", -1102),
        ("a trading day without a symbol", "ticker/tradingDay", -1102),
        ("a trading day in no zone", "ticker/tradingDay?symbol=BTCUSDT&timeZone=25", -1102),
        ("both symbol and symbols", "ticker?symbol=BTCUSDT&symbols=%5B%22BTCUSDT%22%5D", -1102),
        ("a symbols list of an unknown market", "ticker?symbols=%5B%22NOPE%22%5D", -1121),
    ];
    for (what, query, code) in bad {
        let reply = http(node.api, "GET", &format!("/api/v3/{query}"), &[], b"").await;
        assert_eq!((reply.status, reply.code()), (400, code), "{what}: {}", reply.body);
    }
    assert_eq!(node.digest().await, digest, "bad input changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_libraries_ask_for_on_start_is_answered() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let coins = node.signed(&alice, "GET", "/sapi/v1/capital/config/getall", "").await;
    assert_eq!(coins.status, 200, "{}", coins.body);
    let coins = coins.json();
    let btc = coins.as_array().unwrap().iter().find(|c| c["coin"] == "BTC").expect("every asset is a coin");
    assert_eq!(btc["free"], "10.00000000", "the caller's balance: {btc}");
    assert_eq!(btc["networkList"], serde_json::json!([]), "credited by the operator: no network here");
    assert_eq!((btc["depositAllEnable"].as_bool(), btc["withdrawAllEnable"].as_bool()), (Some(false), Some(true)));
    // Another account sees its own balance, never alice's.
    let spent = node.signed(&bob, "GET", "/sapi/v1/capital/config/getall", "").await.json();
    let usdt = |coins: &serde_json::Value| {
        coins.as_array().unwrap().iter().find(|c| c["coin"] == "USDT").unwrap()["free"].clone()
    };
    assert_eq!(usdt(&spent), usdt(&coins), "both were funded alike");
    node.signed(
        &alice,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        "coin=USDT&address=0xfeed&amount=1&withdrawOrderId=w-9",
    )
    .await;
    let after = node.signed(&alice, "GET", "/sapi/v1/capital/config/getall", "").await.json();
    assert_ne!(usdt(&after), usdt(&coins), "alice's withdrawal shows in her coins");
    assert_eq!(
        usdt(&node.signed(&bob, "GET", "/sapi/v1/capital/config/getall", "").await.json()),
        usdt(&spent),
        "and not in bob's"
    );

    for path in ["/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"] {
        assert_eq!(node.signed(&alice, "GET", path, "").await.json(), serde_json::json!([]), "{path}");
        assert_eq!(http(node.api, "GET", path, &[], b"").await.status, 401, "{path} takes a key");
    }
    let key = [("X-MBX-APIKEY", alice.key.as_str())];
    for path in ["/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"] {
        let info = http(node.api, "GET", path, &[], b"").await.json();
        assert_eq!(
            (info["symbols"].clone(), info["timezone"].as_str()),
            (serde_json::json!([]), Some("UTC")),
            "{path}"
        );
    }
    let unsigned = http(node.api, "GET", "/sapi/v1/capital/config/getall", &key, b"").await;
    assert_eq!((unsigned.status, unsigned.code()), (400, -1102), "getall is signed: {}", unsigned.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_replace_and_the_account_rules_as_binance_answers_them() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    const REPLACE: &str = "/api/v3/order/cancelReplace";
    let rest = |price: &str, id: &str| {
        format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price={price}&newClientOrderId={id}")
    };
    let first = node.signed(&alice, "POST", ORDER, &rest("31000", "first")).await.json();
    let replace = |target: &str, mode: &str, price: &str, id: &str| {
        format!("cancelReplaceMode={mode}&{target}&{}", rest(price, id))
    };
    let target = format!("cancelOrderId={}", first["orderId"]);
    let replaced = node.signed(&alice, "POST", REPLACE, &replace(&target, "STOP_ON_FAILURE", "31001", "second")).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let replaced = replaced.json();
    assert_eq!(
        (replaced["cancelResult"].as_str(), replaced["newOrderResult"].as_str()),
        (Some("SUCCESS"), Some("SUCCESS"))
    );
    assert_eq!(
        (replaced["cancelResponse"]["status"].as_str(), replaced["cancelResponse"]["origClientOrderId"].as_str()),
        (Some("CANCELED"), Some("first"))
    );
    assert_eq!(
        (replaced["newOrderResponse"]["status"].as_str(), replaced["newOrderResponse"]["price"].as_str()),
        (Some("NEW"), Some("31001.000000"))
    );
    let again =
        node.signed(&alice, "POST", REPLACE, &replace(&target, "STOP_ON_FAILURE", "31001", "second")).await.json();
    assert_eq!(again, replaced, "a retry repeats neither step");
    let open = node.signed(&alice, "GET", "/api/v3/openOrders", "symbol=BTCUSDT").await.json();
    assert_eq!(open.as_array().unwrap().len(), 1, "one order open, the new one: {open}");

    // The cancel fails (already canceled, under another cancel id): STOP_ON_FAILURE places nothing.
    let stale = format!("{target}&cancelNewClientOrderId=retry");
    let stopped = node.signed(&alice, "POST", REPLACE, &replace(&stale, "STOP_ON_FAILURE", "31002", "third")).await;
    assert_eq!((stopped.status, stopped.code()), (400, -2022), "{}", stopped.body);
    let data = &stopped.json()["data"];
    assert_eq!(
        (data["cancelResult"].as_str(), data["newOrderResult"].as_str()),
        (Some("FAILURE"), Some("NOT_ATTEMPTED"))
    );
    assert_eq!(data["cancelResponse"]["code"], -2011);
    // STOP_ON_FAILURE is both or neither: a new order the engine refuses (off the tick) leaves
    // the old one resting.
    let resting = open[0]["orderId"].clone();
    let atomic = format!("cancelOrderId={resting}");
    let refused =
        node.signed(&alice, "POST", REPLACE, &replace(&atomic, "STOP_ON_FAILURE", "31001.005", "off-tick")).await;
    assert_eq!((refused.status, refused.code()), (400, -2022), "{}", refused.body);
    let data = &refused.json()["data"];
    assert_eq!((data["cancelResult"].as_str(), data["newOrderResult"].as_str()), (Some("FAILURE"), Some("FAILURE")));
    assert_eq!(data["newOrderResponse"]["code"], -1013, "{data}");
    let still = node.signed(&alice, "GET", "/api/v3/openOrders", "symbol=BTCUSDT").await.json();
    assert_eq!(still.as_array().unwrap()[0]["orderId"], resting, "not canceled: {still}");
    // ALLOW_FAILURE places it anyway: one step failed.
    let allowed = node.signed(&alice, "POST", REPLACE, &replace(&stale, "ALLOW_FAILURE", "31002", "third")).await;
    assert_eq!((allowed.status, allowed.code()), (400, -2021), "{}", allowed.body);
    assert_eq!(allowed.json()["data"]["newOrderResponse"]["status"], "NEW");
    // Another account's order is unknown to bob: the cancel fails as for a missing order.
    let bobs = node
        .signed(
            &bob,
            "POST",
            REPLACE,
            &replace(&format!("cancelOrigClientOrderId=second"), "STOP_ON_FAILURE", "1", "b1"),
        )
        .await;
    assert_eq!((bobs.code(), bobs.json()["data"]["cancelResponse"]["code"].as_i64()), (-2022, Some(-2011)));
    let open = node.signed(&alice, "GET", "/api/v3/openOrders", "symbol=BTCUSDT").await.json();
    assert_eq!(open.as_array().unwrap().len(), 2, "bob touched nothing of alice's: {open}");

    node.op("POST", "/operator/v1/markets?symbol=ETHUSDT&baseAsset=BTC&quoteAsset=USDT&tickSize=0.01&stepSize=0.0001&minNotional=1&makerFeePpm=250&takerFeePpm=1000").await;
    let commission = node.signed(&alice, "GET", "/api/v3/account/commission", "symbol=ETHUSDT").await.json();
    let standard = &commission["standardCommission"];
    assert_eq!(
        (standard["maker"].as_str(), standard["taker"].as_str()),
        (Some("0.000250"), Some("0.001000")),
        "{commission}"
    );
    assert_eq!(node.signed(&alice, "GET", "/api/v3/rateLimit/order", "").await.json(), serde_json::json!([]));
    assert_eq!(
        node.signed(&alice, "GET", "/api/v3/myPreventedMatches", "symbol=BTCUSDT&orderId=1").await.json(),
        serde_json::json!([])
    );
    for path in ["/api/v3/openOrderList", "/api/v3/allOrderList"] {
        assert_eq!(node.signed(&alice, "GET", path, "").await.json(), serde_json::json!([]), "{path}");
    }

    let digest = node.digest().await;
    let oco = "symbol=BTCUSDT&side=SELL&quantity=0.1&aboveType=LIMIT_MAKER&abovePrice=40000&belowType=STOP_LOSS&belowStopPrice=20000";
    let bad: Vec<(&str, &str, String, i64)> = vec![
        ("no mode", REPLACE, rest("1", "x1"), -1102),
        ("an unknown mode", REPLACE, format!("cancelReplaceMode=SOMETIMES&{target}&{}", rest("1", "x2")), -1102),
        ("no order to cancel", REPLACE, format!("cancelReplaceMode=ALLOW_FAILURE&{}", rest("1", "x3")), -1102),
        ("both steps fail", REPLACE, replace("cancelOrderId=999", "ALLOW_FAILURE", "1.001", "x4"), -2022),
        ("commission of an unknown symbol", "/api/v3/account/commission", "symbol=NOPE".into(), -1121),
        ("prevented matches by nothing", "/api/v3/myPreventedMatches", "symbol=BTCUSDT".into(), -1102),
        ("an OCO", "/api/v3/orderList/oco", oco.into(), -2010),
        ("an OTO", "/api/v3/orderList/oto", oco.into(), -2010),
    ];
    for (what, path, params, code) in bad {
        let method = if path.contains("commission") || path.contains("Prevented") { "GET" } else { "POST" };
        let reply = node.signed(&alice, method, path, &params).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{what}: {}", reply.body);
    }
    assert_eq!(node.digest().await, digest, "bad input changed nothing");
}
