//! The failover client against real node processes: the node it talks to is SIGKILLed, and the
//! same order, retried with the same client order id, lands once on a survivor; the book
//! watcher resynchronises on another node.

use std::path::Path;
use std::time::{Duration, Instant};

use outlast_client::{BookEvent, Client, ClientError, Credentials, FailoverPolicy};
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};

async fn cluster() -> (ProcessCluster, u64) {
    let binary = Path::new(env!("CARGO_BIN_EXE_outlast"));
    let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |_| {}).unwrap();
    cluster.spawn_all().unwrap();
    let leader = cluster.leader(&cluster.ids(), Duration::from_secs(20)).await.expect("a leader");
    (cluster, leader)
}

fn p(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

async fn setup(client: &Client) -> Credentials {
    let op = |path: &'static str, params: Vec<(&'static str, String)>| async move {
        client.operator(OPERATOR_TOKEN, "POST", path, &params).await.unwrap()
    };
    op("/operator/v1/assets", p(&[("symbol", "BTC"), ("decimals", "8")])).await;
    op("/operator/v1/assets", p(&[("symbol", "USDT"), ("decimals", "6")])).await;
    let market = [
        ("symbol", "BTCUSDT"),
        ("baseAsset", "BTC"),
        ("quoteAsset", "USDT"),
        ("tickSize", "0.01"),
        ("stepSize", "0.0001"),
        ("minNotional", "1"),
    ];
    op("/operator/v1/markets", p(&market)).await;
    op("/operator/v1/accounts", p(&[("account", "1")])).await;
    op("/operator/v1/deposits", p(&[("account", "1"), ("coin", "USDT"), ("amount", "100000"), ("txId", "t1")])).await;
    let key = op("/operator/v1/apiKeys", p(&[("account", "1")])).await;
    Credentials { key: key["apiKey"].as_str().unwrap().into(), secret: key["secretKey"].as_str().unwrap().into() }
}

/// Endpoints with the leader's first, so that killing "the node we talk to" kills the leader.
fn endpoints(cluster: &ProcessCluster, first: u64) -> Vec<String> {
    let mut ids = cluster.ids();
    ids.sort_by_key(|id| *id != first);
    ids.iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_order_lands_once_on_a_survivor_after_its_node_dies() {
    let (mut cluster, leader) = cluster().await;
    let admin = Client::new(endpoints(&cluster, leader), None, FailoverPolicy::default());
    let credentials = setup(&admin).await;
    let client = Client::new(endpoints(&cluster, leader), Some(credentials), FailoverPolicy::default());
    let order = p(&[
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "100"),
        ("newClientOrderId", "once-only"),
    ]);
    let first = client.place_order(&order).await.unwrap();
    let before = client.current().to_string();

    cluster.kill(leader);
    let again = client.place_order(&order).await.unwrap();
    assert_ne!(client.current(), before, "the client moved to another endpoint");
    assert_eq!(again["orderId"], first["orderId"], "the retry is the same order");
    let open = client.signed("GET", "/api/v3/openOrders", &p(&[("symbol", "BTCUSDT")])).await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1, "exactly one order is open: {open}");
    let fresh = client
        .place_order(&p(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", "101"),
        ]))
        .await
        .unwrap();
    assert_ne!(fresh["orderId"], first["orderId"]);
    // A 4xx is the exchange's verdict: returned at once, not retried elsewhere.
    let rejected = client
        .place_order(&p(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1000"),
            ("price", "100000"),
        ]))
        .await;
    assert!(matches!(rejected, Err(ClientError::Exchange { code: -2010, .. })), "{rejected:?}");
    let health = client.health().await;
    assert_eq!(health.iter().filter(|h| h.ready).count(), 2, "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_watcher_resynchronises_on_another_node() {
    let (mut cluster, leader) = cluster().await;
    let admin = Client::new(endpoints(&cluster, leader), None, FailoverPolicy::default());
    let credentials = setup(&admin).await;
    // The watcher reads from a follower; the trader talks to the others.
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let watcher = Client::new(endpoints(&cluster, follower), None, FailoverPolicy::default());
    let trader =
        std::sync::Arc::new(Client::new(endpoints(&cluster, leader), Some(credentials), FailoverPolicy::default()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        outlast_client::watch_book(&watcher, "BTCUSDT", deadline, |event| tx.send(event).is_ok()).await;
    });
    let mut price = 100;
    let mut killed = false;
    let mut synced_after_kill = false;
    while let Some(event) = tokio::time::timeout_at(deadline.into(), rx.recv()).await.expect("events in time") {
        match event {
            BookEvent::Synced { endpoint, .. } if killed => {
                assert!(!endpoint.contains(cluster.api_addr(follower)), "resynced elsewhere");
                synced_after_kill = true;
            }
            BookEvent::Synced { .. } | BookEvent::Top { .. } if !killed => {
                // Wait until the watcher has seen one order, then kill its node.
                if matches!(&event, BookEvent::Top { bid: Some(_), .. }) {
                    cluster.kill(follower);
                    killed = true;
                }
            }
            BookEvent::Top { bid: Some((bid, _)), .. } if synced_after_kill && bid.starts_with(&price.to_string()) => {
                break
            }
            _ => {}
        }
        price += 1;
        let order = p(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", &price.to_string()),
        ]);
        trader.place_order(&order).await.unwrap();
    }
    assert!(synced_after_kill);
    watch.abort();
}
