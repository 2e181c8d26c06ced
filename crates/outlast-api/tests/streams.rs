//! WebSocket streams against a real (one-node) cluster: the depth diff stream continues the REST
//! snapshot without gaps, SUBSCRIBE / LIST_SUBSCRIPTIONS answer as Binance does, the user data
//! stream reports only its own account, and a subscriber that stops reading is cut off with a
//! reason instead of silently missing events; a user stream opens only from where its API key
//! may be used.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: &TestNode, path: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}{path}", node.api)).await.expect("connects");
    socket
}

/// The next text message as JSON, within `deadline`.
async fn next_json(socket: &mut Socket, deadline: Duration) -> Value {
    let until = Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn apply(book: &mut BTreeMap<String, String>, levels: &Value) {
    for level in levels.as_array().unwrap() {
        let (price, qty) = (level[0].as_str().unwrap().to_string(), level[1].as_str().unwrap().to_string());
        if qty.trim_matches(|c| c == '0' || c == '.').is_empty() {
            book.remove(&price);
        } else {
            book.insert(price, qty);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_depth_stream_continues_the_rest_snapshot_without_gaps() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let mut socket = connect(&node, "/stream").await;
    socket
        .send(Message::text(json!({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 7}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket, Duration::from_secs(5)).await, json!({"result": null, "id": 7}));
    socket.send(Message::text(json!({"method": "LIST_SUBSCRIPTIONS", "id": 8}).to_string())).await.unwrap();
    assert_eq!(
        next_json(&mut socket, Duration::from_secs(5)).await,
        json!({"result": ["btcusdt@depth@100ms"], "id": 8})
    );
    socket
        .send(Message::text(json!({"method": "SUBSCRIBE", "params": ["nope@depth"], "id": 9}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket, Duration::from_secs(5)).await["error"]["code"], 2);

    // Orders before and after the REST snapshot; the stream must bridge the two exactly.
    for i in 0..5 {
        node.signed(
            &alice,
            "POST",
            "/api/v3/order",
            &format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price={}", 100 + i),
        )
        .await;
    }
    let snapshot = http(node.api, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=1000", &[], b"").await.json();
    let mut last = snapshot["lastUpdateId"].as_u64().unwrap();
    let mut asks = BTreeMap::new();
    apply(&mut asks, &snapshot["asks"]);
    for i in 0..5 {
        node.signed(&bob, "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.15").await;
        node.signed(
            &alice,
            "POST",
            "/api/v3/order",
            &format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.2&price={}", 200 + i),
        )
        .await;
    }
    let target = http(node.api, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=1000", &[], b"").await.json();
    let target_id = target["lastUpdateId"].as_u64().unwrap();
    let mut synced = false;
    while last < target_id {
        let message = next_json(&mut socket, Duration::from_secs(5)).await;
        assert_eq!(message["stream"], "btcusdt@depth@100ms");
        let data = &message["data"];
        let (first, end) = (data["U"].as_u64().unwrap(), data["u"].as_u64().unwrap());
        if end <= last {
            continue; // older than the snapshot: dropped, as Binance's procedure says
        }
        if synced {
            assert_eq!(first, last + 1, "consecutive diffs leave no gap");
        } else {
            assert!(first <= last + 1, "the first diff after the snapshot covers it");
            synced = true;
        }
        apply(&mut asks, &data["a"]);
        last = end;
    }
    assert_eq!(last, target_id);
    let mut expected = BTreeMap::new();
    apply(&mut expected, &target["asks"]);
    assert_eq!(asks, expected, "snapshot + diffs = the book");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_stream_reports_the_accounts_own_orders_and_balances_only() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let listen =
        node.raw(&alice, "POST", "/api/v3/userDataStream", "").await.json()["listenKey"].as_str().unwrap().to_string();
    let mut socket = connect(&node, &format!("/ws/{listen}")).await;
    // Bob's activity must not show up on Alice's stream; Alice's must.
    node.signed(
        &bob,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100",
    )
    .await;
    node.signed(
        &alice,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price=100&newClientOrderId=mine",
    )
    .await;
    let mut seen: Vec<Value> = Vec::new();
    let has = |seen: &[Value], kind: &str| seen.iter().any(|m| m["e"] == kind);
    while !(has(&seen, "executionReport") && has(&seen, "outboundAccountPosition")) {
        seen.push(next_json(&mut socket, Duration::from_secs(5)).await);
    }
    let report = seen.iter().find(|m| m["e"] == "executionReport").expect("an execution report");
    assert_eq!(
        (report["c"].as_str(), report["x"].as_str(), report["X"].as_str()),
        (Some("mine"), Some("TRADE"), Some("FILLED"))
    );
    assert!(seen.iter().all(|m| m["e"] != "executionReport" || m["c"] == "mine"), "only Alice's orders: {seen:?}");
    assert!(seen.iter().any(|m| m["e"] == "outboundAccountPosition"));
    // Deposits and withdrawals are balance updates: +credited, -requested.
    node.op("POST", "/operator/v1/deposits?account=2&coin=BTC&amount=3&txId=bob-more").await;
    node.op("POST", "/operator/v1/deposits?account=1&coin=BTC&amount=2&txId=alice-more").await;
    let withdraw = "coin=USDT&address=0xfeed&amount=7&withdrawOrderId=w-stream";
    assert_eq!(node.signed(&alice, "POST", "/sapi/v1/capital/withdraw/apply", withdraw).await.status, 200);
    let mut updates: Vec<Value> = Vec::new();
    while updates.len() < 2 {
        let message = next_json(&mut socket, Duration::from_secs(5)).await;
        if message["e"] == "balanceUpdate" {
            updates.push(message);
        }
    }
    assert_eq!(
        (updates[0]["a"].as_str(), updates[0]["d"].as_str()),
        (Some("BTC"), Some("2.00000000")),
        "alice's deposit only"
    );
    assert_eq!((updates[1]["a"].as_str(), updates[1]["d"].as_str()), (Some("USDT"), Some("-7.000000")));
    // A forged listen key is refused at the handshake.
    let forged = format!("{}0", &listen[..listen.len() - 1]);
    let forged = if forged == listen { format!("{}1", &listen[..listen.len() - 1]) } else { forged };
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/ws/{forged}", node.api)).await.is_err());
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/ws/btcusdt@nonsense", node.api)).await.is_err());

    // Asking again gives the same key (one per account), kept alive; closing it ends the open
    // stream with a reason and refuses new ones.
    let again = node.raw(&alice, "POST", "/api/v3/userDataStream", "").await.json();
    assert_eq!(again["listenKey"].as_str(), Some(listen.as_str()));
    assert_eq!(listen.len(), 64, "random, not derived from the API key: {listen}");
    assert!(!listen.contains(&alice.key));
    let kept = node.raw(&alice, "PUT", "/api/v3/userDataStream", &format!("listenKey={listen}")).await;
    assert_eq!((kept.status, kept.body.as_str()), (200, "{}"));
    let closed = node.raw(&alice, "DELETE", "/api/v3/userDataStream", &format!("listenKey={listen}")).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut expired = false;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await.expect("the stream ends within 10 s") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                assert!(frame.is_some_and(|f| f.reason.contains("listenKey")), "a close with a reason");
                break;
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                expired |= message["e"] == "listenKeyExpired" && message["listenKey"] == listen.as_str();
            }
            Some(Ok(_)) => continue,
            other => panic!("the stream ended without a close frame: {other:?}"),
        }
    }
    assert!(expired, "listenKeyExpired came before the close");
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/ws/{listen}", node.api)).await.is_err());
    let gone = node.raw(&alice, "PUT", "/api/v3/userDataStream", &format!("listenKey={listen}")).await;
    assert_eq!(gone.code(), -1125);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reads_too_slowly_is_disconnected_with_a_reason() {
    let node = TestNode::start(0).await;
    let (alice, _) = node.exchange().await;
    // A small receive buffer, so the server feels a slow reader soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let stream = socket.connect(node.api).await.unwrap();
    let url = format!("ws://{}/ws/btcusdt@bookTicker", node.api);
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    // Far more applied entries than the feed buffers, each a book change this client is sent,
    // while it reads one message per 20 ms. One writer, so that every command is an entry of its
    // own (concurrent writers would share entries: group commit).
    let commands = 3 * outlast_cluster::FEED_BATCHES_MAX as u64;
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (shared, closed) = (node.shared.clone(), closed.clone());
        tokio::spawn(async move {
            for i in 0..commands / 2 {
                if closed.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let request = |action| {
                    outlast_engine::CommandBody::Account(outlast_engine::AccountRequest {
                        account: 1,
                        request_id: outlast_engine::ClientId::new(&format!(
                            "{}-{i}",
                            if matches!(action, outlast_engine::AccountAction::PlaceOrder(_)) { "p" } else { "c" }
                        ))
                        .unwrap(),
                        request_ts_ms: now_ms(),
                        action,
                    })
                };
                let spec = outlast_engine::OrderSpec {
                    market: 0,
                    side: outlast_engine::Side::Sell,
                    kind: outlast_engine::OrderKind::LimitMaker {
                        price: 1_000_000_000 + (i % 100) * 10_000,
                        qty: 100_000,
                    },
                    stp: outlast_engine::StpMode::None,
                };
                let placed = shared.write(request(outlast_engine::AccountAction::PlaceOrder(spec))).await;
                assert!(matches!(placed, Ok(outlast_engine::Outcome::Applied(_))), "{placed:?}");
                let target =
                    outlast_engine::OrderRef::Client(outlast_engine::ClientId::new(&format!("p-{i}")).unwrap());
                let _ = shared.write(request(outlast_engine::AccountAction::CancelOrder { market: 0, target })).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let reason = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await.expect("a close frame in time") {
            Some(Ok(Message::Close(Some(frame)))) => {
                closed.store(true, std::sync::atomic::Ordering::Relaxed);
                break frame;
            }
            // Slow while the writers run, then fast, so the close frame arrives soon.
            Some(Ok(_)) if !writer.is_finished() => tokio::time::sleep(Duration::from_millis(20)).await,
            Some(Ok(_)) => {}
            other => panic!("closed without a reason: {other:?}"),
        }
    };
    assert_eq!(u16::from(reason.code), 1008, "{}", reason.reason);
    assert!(reason.reason.contains("lagged"), "{}", reason.reason);
    writer.abort();
    let _ = alice;
}

/// Connects a TCP socket to `addr` from `source`.
async fn tcp_from(source: &str, addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A user stream carries the account's private events, so it opens only from where the API key
/// that made its listen key may be used, like any of that key's requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_stream_opens_only_from_an_address_its_api_key_allows() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = TestNode::start(0).await;
    node.exchange().await;
    let created = node.op("POST", "/operator/v1/apiKeys?account=1&ipRestrict=127.0.0.2").await;
    let key = created["apiKey"].as_str().unwrap().to_string();
    // The listen key, asked for from the allowed address.
    let mut stream = tcp_from("127.0.0.2", node.api).await;
    let request = format!(
        "POST /api/v3/userDataStream HTTP/1.1\r\nhost: x\r\nx-mbx-apikey: {key}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let body: Value = serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap_or_default();
    let listen = body["listenKey"].as_str().unwrap_or_else(|| panic!("{reply}")).to_string();
    let url = format!("ws://{}/ws/{listen}", node.api);
    // From 127.0.0.1 the stream is refused, with the key's error.
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["code"], -2015, "{body}");
        }
        other => panic!("a stream from a refused address: {other:?}"),
    }
    // From 127.0.0.2 it opens.
    let allowed = tokio_tungstenite::client_async(url.as_str(), tcp_from("127.0.0.2", node.api).await).await;
    assert!(allowed.is_ok(), "{allowed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kline_streams_send_the_open_candle_and_close_it_once_a_newer_one_opens() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let mut socket = connect(&node, "/stream").await;
    let subscribe = json!({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1s", "btcusdt@kline_1M"], "id": 1});
    socket.send(Message::text(subscribe.to_string())).await.unwrap();
    assert_eq!(next_json(&mut socket, Duration::from_secs(5)).await, json!({"result": null, "id": 1}));
    let unknown = json!({"method": "SUBSCRIBE", "params": ["btcusdt@kline_2m"], "id": 2});
    socket.send(Message::text(unknown.to_string())).await.unwrap();
    assert_eq!(next_json(&mut socket, Duration::from_secs(5)).await["error"]["code"], 2);
    let trade = async |price: &str| {
        let sell = format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price={price}");
        node.signed(&alice, "POST", "/api/v3/order", &sell).await;
        node.signed(&bob, "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1").await;
    };
    // The next message of `stream`, skipping the other one's.
    async fn next_of(socket: &mut Socket, stream: &str) -> Value {
        loop {
            let message = next_json(socket, Duration::from_secs(5)).await;
            if message["stream"] == stream {
                return message["data"].clone();
            }
        }
    }
    trade("100").await;
    let first = next_of(&mut socket, "btcusdt@kline_1s").await;
    assert_eq!((first["e"].as_str(), first["s"].as_str()), (Some("kline"), Some("BTCUSDT")));
    let k = &first["k"];
    assert_eq!((k["i"].as_str(), k["x"].as_bool(), k["c"].as_str()), (Some("1s"), Some(false), Some("100.000000")));
    assert_eq!(k["T"].as_u64().unwrap(), k["t"].as_u64().unwrap() + 999);
    let month = next_of(&mut socket, "btcusdt@kline_1M").await;
    assert_eq!((month["k"]["i"].as_str(), month["k"]["n"].as_u64()), (Some("1M"), Some(1)));
    // A trade in a later second opens a new 1s candle: the first comes once more, closed.
    let opened = k["t"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while http(node.api, "GET", "/api/v3/time", &[], b"").await.json()["serverTime"].as_u64().unwrap() < opened + 1_000
    {
        assert!(Instant::now() < deadline, "the server's clock moves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    trade("101").await;
    let closed = next_of(&mut socket, "btcusdt@kline_1s").await;
    assert_eq!((closed["k"]["t"].as_u64(), closed["k"]["x"].as_bool()), (Some(opened), Some(true)), "{closed}");
    let newer = next_of(&mut socket, "btcusdt@kline_1s").await;
    assert!(newer["k"]["t"].as_u64().unwrap() > opened);
    assert_eq!((newer["k"]["x"].as_bool(), newer["k"]["o"].as_str()), (Some(false), Some("101.000000")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_aggregate_and_partial_depth_streams_on_a_numbered_connection() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    // ccxt.pro numbers its connections: `/ws/0` is a bare raw connection, not a listen key.
    let mut socket = connect(&node, "/ws/0").await;
    let names = ["btcusdt@aggTrade", "btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@depth5@100ms", "!miniTicker@arr"];
    socket.send(Message::text(json!({"method": "SUBSCRIBE", "params": names, "id": 1}).to_string())).await.unwrap();
    assert_eq!(next_json(&mut socket, Duration::from_secs(5)).await, json!({"result": null, "id": 1}));
    // The kind of a raw message: its event type, or the shape of a partial book or an array.
    fn kind(message: &Value) -> String {
        match message {
            Value::Array(rows) => format!("arr:{}", rows[0]["e"].as_str().unwrap()),
            m if m.get("lastUpdateId").is_some() => "depth5".to_string(),
            m => m["e"].as_str().unwrap_or("reply").to_string(),
        }
    }
    async fn next_kind(socket: &mut Socket, wanted: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no {wanted} in time");
            let message = next_json(socket, Duration::from_secs(5)).await;
            if kind(&message) == wanted && accept(&message) {
                return message;
            }
        }
    }
    // Each sends the current state on subscribing, before any trade.
    let mut first = BTreeMap::new();
    while first.len() < 4 {
        let message = next_json(&mut socket, Duration::from_secs(5)).await;
        first.entry(kind(&message)).or_insert(message);
    }
    let ticker = &first["24hrTicker"];
    assert_eq!(
        (ticker["s"].as_str(), ticker["n"].as_u64(), ticker["F"].as_i64()),
        (Some("BTCUSDT"), Some(0), Some(-1))
    );
    assert_eq!(first["24hrMiniTicker"]["s"], "BTCUSDT");
    assert_eq!((first["depth5"]["bids"].clone(), first["depth5"]["asks"].clone()), (json!([]), json!([])));
    assert_eq!(first["arr:24hrMiniTicker"][0]["s"], "BTCUSDT");

    let sell = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.2&price=100";
    assert_eq!(node.signed(&alice, "POST", "/api/v3/order", sell).await.status, 200);
    let buy = node.signed(&bob, "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1").await;
    let trade_id = buy.json()["fills"][0]["tradeId"].as_u64().unwrap();
    let aggregate = next_kind(&mut socket, "aggTrade", |_| true).await;
    assert_eq!(
        (aggregate["a"].as_u64(), aggregate["f"].as_u64(), aggregate["l"].as_u64()),
        (Some(trade_id), Some(trade_id), Some(trade_id))
    );
    assert_eq!(
        (aggregate["p"].as_str(), aggregate["q"].as_str(), aggregate["m"].as_bool()),
        (Some("100.000000"), Some("0.10000000"), Some(false))
    );
    let book = next_kind(&mut socket, "depth5", |m| m["asks"] == json!([["100.000000", "0.10000000"]])).await;
    let rest = http(node.api, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=5", &[], b"").await.json();
    assert_eq!((book["bids"].clone(), book["asks"].clone()), (rest["bids"].clone(), rest["asks"].clone()));
    let ticker = next_kind(&mut socket, "24hrTicker", |m| m["n"] == 1).await;
    assert_eq!(
        (ticker["c"].as_str(), ticker["a"].as_str(), ticker["v"].as_str()),
        (Some("100.000000"), Some("100.000000"), Some("0.10000000"))
    );
    let mini = next_kind(&mut socket, "arr:24hrMiniTicker", |m| m[0]["v"] == "0.10000000").await;
    assert_eq!(mini.as_array().unwrap().len(), 1, "only the market that changed");

    socket
        .send(Message::text(json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@ticker"], "id": 2}).to_string()))
        .await
        .unwrap();
    socket.send(Message::text(json!({"method": "LIST_SUBSCRIPTIONS", "id": 3}).to_string())).await.unwrap();
    let list = next_kind(&mut socket, "reply", |m| m["id"] == 3).await;
    let mut listed: Vec<&str> = list["result"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["!miniTicker@arr", "btcusdt@aggTrade", "btcusdt@depth5@100ms", "btcusdt@miniTicker"]);
    // On a connection of its own: five messages a second is the most a client may send.
    let mut socket = connect(&node, "/ws/2").await;
    for bad in ["btcusdt@depth7", "btcusdt@depth5@250ms", "!bookTicker@arr", "nope@ticker"] {
        socket.send(Message::text(json!({"method": "SUBSCRIBE", "params": [bad], "id": 4}).to_string())).await.unwrap();
        let reply = next_kind(&mut socket, "reply", |m| m["id"] == 4).await;
        assert_eq!(reply["error"]["code"], 2, "{bad}: {reply}");
    }

    // More than five messages a second closes the connection, as Binance does.
    let mut chatty = connect(&node, "/ws/1").await;
    for id in 0..12 {
        if chatty.send(Message::text(json!({"method": "LIST_SUBSCRIPTIONS", "id": id}).to_string())).await.is_err() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let close = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, chatty.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a reason"),
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    assert!(close.reason.contains("too many messages"), "{close:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_opens_at_most_binances_connections_per_five_minutes() {
    let node = TestNode::start(0).await;
    node.exchange().await;
    let limit = outlast_api::WeightLimits::default().ws_connects_per_window;
    assert_eq!(limit, 300, "Binance's: 300 connections every 5 minutes");
    for n in 0..limit {
        let path = ["/ws", "/ws/btcusdt@trade", "/stream?streams=btcusdt@trade", "/ws-api/v3"][n as usize % 4];
        let mut socket = connect(&node, path).await;
        socket.close(None).await.unwrap();
    }
    for path in ["/ws", "/ws-api/v3"] {
        match tokio_tungstenite::connect_async(format!("ws://{}{path}", node.api)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429, "{path}");
                let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
                assert!(body.contains("-1003"), "{path}: {body}");
            }
            other => panic!("{path}: the connection past the limit was not refused: {other:?}"),
        }
    }
    let ping = http(node.api, "GET", "/api/v3/ping", &[], b"").await;
    assert_eq!(ping.status, 200, "REST is not what is limited");
}
