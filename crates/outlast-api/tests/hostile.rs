//! Hostile requests against a running node: random paths, methods, parameter names and values
//! (escapes, non-UTF-8, huge numbers, duplicates), signed and unsigned. Every answer must be a
//! well-formed Binance error or a success, never a 5xx; a request that was refused changes
//! nothing; and the node keeps serving.

mod common;

use common::*;

/// A small deterministic generator (xorshift), so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "-1",
            "0.1",
            "1e9",
            "18446744073709551616",
            "99999999999999999999999",
            "0.000000001",
            "BTCUSDT",
            "btcusdt",
            "NOPE",
            "BUY",
            "SELL",
            "LIMIT",
            "MARKET",
            "GTC",
            "IOC",
            "%",
            "%zz",
            "%ff",
            "%00",
            "+",
            "&",
            "=",
            "[",
            "\"",
            "é",
            "%C3%A9",
            "a",
            "x-1",
            "<script>",
            "' OR 1=1",
            "NONE",
        ];
        (0..1 + self.next() % 3).map(|_| self.pick(PIECES)).collect()
    }
}

const PATHS: &[&str] = &[
    "/api/v3/order",
    "/api/v3/order/test",
    "/api/v3/order/cancelReplace",
    "/api/v3/account/commission",
    "/api/v3/myPreventedMatches",
    "/api/v3/orderList/oco",
    "/api/v3/openOrders",
    "/api/v3/allOrders",
    "/api/v3/myTrades",
    "/api/v3/account",
    "/api/v3/depth",
    "/api/v3/trades",
    "/api/v3/klines",
    "/api/v3/uiKlines",
    "/api/v3/avgPrice",
    "/api/v3/aggTrades",
    "/api/v3/historicalTrades",
    "/api/v3/ticker",
    "/api/v3/ticker/tradingDay",
    "/sapi/v1/capital/config/getall",
    "/sapi/v1/margin/allPairs",
    "/fapi/v1/exchangeInfo",
    "/api/v3/ticker/price",
    "/api/v3/ticker/24hr",
    "/api/v3/ticker/bookTicker",
    "/api/v3/exchangeInfo",
    "/sapi/v1/capital/withdraw/apply",
    "/sapi/v1/capital/withdraw/history",
    "/sapi/v1/capital/deposit/hisrec",
    "/api/v3/userDataStream",
    "/operator/v1/deposits",
    "/api/v3/nothing",
    "/",
    "/ws",
];
const NAMES: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "price",
    "quoteOrderQty",
    "orderId",
    "origClientOrderId",
    "newClientOrderId",
    "limit",
    "recvWindow",
    "coin",
    "amount",
    "address",
    "withdrawOrderId",
    "symbols",
    "x",
    "newOrderRespType",
    "selfTradePreventionMode",
    "startTime",
    "endTime",
    "interval",
    "timeZone",
    "listenKey",
    "fromId",
    "windowSize",
    "cancelReplaceMode",
    "cancelOrderId",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_hostile_requests_get_errors_change_nothing_and_never_break_the_node() {
    let node = TestNode::start(0).await;
    let (alice, _) = node.exchange().await;
    let seed = 0x5eed_u64;
    let mut rng = Rng(seed);
    let (mut answered, mut succeeded) = (0, 0);
    for case in 0..1_500 {
        let method = rng.pick(&["GET", "POST", "DELETE", "PUT"]);
        let path = rng.pick(PATHS);
        let params: Vec<String> = (0..rng.next() % 6).map(|_| format!("{}={}", rng.pick(NAMES), rng.text())).collect();
        // As any HTTP client would: bytes that may not appear in a request target are escaped
        // (invalid escapes like %zz stay; they are our decoder's business).
        let params: String = params
            .join("&")
            .bytes()
            .map(|b| {
                if b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let digest = node.digest().await;
        let reply = match rng.next() % 3 {
            0 => node.signed(&alice, method, path, &params).await,
            1 => node.raw(&alice, method, path, &params).await,
            _ => http(node.api, method, &format!("{path}?{params}"), &[], b"").await,
        };
        answered += 1;
        assert!(reply.status < 500, "case {case} (seed {seed}): {method} {path}?{params} -> {reply:?}");
        if reply.status == 200 {
            succeeded += 1;
        } else {
            let code = serde_json::from_str::<serde_json::Value>(&reply.body).ok().and_then(|v| v["code"].as_i64());
            assert!(
                code.is_some_and(|c| c < 0),
                "case {case}: {method} {path}?{params}: not a Binance error: {reply:?}"
            );
            assert_eq!(
                node.digest().await,
                digest,
                "case {case}: a refused request changed state: {method} {path}?{params}"
            );
        }
    }
    // Not even HTTP: the HTTP layer answers 400 and the node carries on.
    let garbage = common::http_bytes(node.api, "GET", b"/api/v3/depth?symbol=\"<>\xff", &[], b"").await;
    assert_eq!(garbage.status, 400);
    assert_eq!(http(node.api, "GET", "/api/v3/ping", &[], b"").await.status, 200);
    eprintln!("{answered} hostile requests answered, {succeeded} accepted, none broke the node");
}
