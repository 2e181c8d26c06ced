//! The link proxy on loopback: bytes arrive intact, in order, no earlier than the link's
//! latency; a blocked direction delivers nothing and its connection is closed when it heals.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_links::{serve_proxy, LinkRule, LinkTable, ProxyStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const SOURCE: &str = "127.0.1.7";

/// An echo server, a proxy in front of it for node 2, and node 1 dialling from `SOURCE`.
async fn setup() -> (SocketAddr, Arc<LinkTable>, Arc<ProxyStats>) {
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = echo.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let table = Arc::new(LinkTable::new());
    table.set_source(SOURCE.parse::<IpAddr>().unwrap(), 1);
    let stats = Arc::new(ProxyStats::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    tokio::spawn(serve_proxy(listener, upstream, 2, table.clone(), stats.clone()));
    (proxy, table, stats)
}

async fn dial(proxy: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(SOURCE.parse().unwrap(), 0)).unwrap();
    socket.connect(proxy).await.unwrap()
}

#[tokio::test]
async fn bytes_arrive_intact_in_order_and_no_earlier_than_the_latency() {
    let (proxy, table, _) = setup().await;
    table.set(1, 2, LinkRule { latency_ms: 30, jitter_ms: 20, ..LinkRule::default() });
    table.set(2, 1, LinkRule { latency_ms: 10, ..LinkRule::default() });
    let mut stream = dial(proxy).await;
    let message: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let sent = Instant::now();
    stream.write_all(&message).await.unwrap();
    let mut echoed = vec![0u8; message.len()];
    stream.read_exact(&mut echoed).await.unwrap();
    // A lower bound only: the link adds at least its latency both ways (never assert an upper one).
    assert!(sent.elapsed() >= Duration::from_millis(40), "{:?}", sent.elapsed());
    assert_eq!(echoed, message, "intact and in order despite jitter");
}

#[tokio::test]
async fn a_blocked_direction_delivers_nothing_and_its_connection_ends_when_it_heals() {
    let (proxy, table, stats) = setup().await;
    let mut stream = dial(proxy).await;
    stream.write_all(b"before").await.unwrap();
    let mut reply = [0u8; 6];
    stream.read_exact(&mut reply).await.unwrap();
    table.set(1, 2, LinkRule { blocked: true, ..LinkRule::default() });
    stream.write_all(b"during").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.bytes_discarded.load(Ordering::Relaxed) < 6 {
        assert!(Instant::now() < deadline, "the proxy never saw the bytes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut probe = [0u8; 1];
    assert!(
        matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing came back"
    );
    table.set(1, 2, LinkRule::default());
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut probe)).await.expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "the damaged stream is closed: {closed:?}");
    assert_eq!(stats.closed_on_heal.load(Ordering::Relaxed), 1);
    let mut fresh = dial(proxy).await;
    fresh.write_all(b"after").await.unwrap();
    let mut reply = [0u8; 5];
    fresh.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"after");
}
