//! The public listener: HTTPS with HSTS when the node has a server certificate, a cap on
//! connections per client address, and a header deadline for clients that trickle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use outlast_api::http_server::HEADER_TIMEOUT;
use outlast_api::Serving;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Reads until the peer closes (or `deadline` passes): what it sent.
async fn read_all<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, deadline: Duration) -> Option<Vec<u8>> {
    let mut reply = Vec::new();
    match tokio::time::timeout(deadline, stream.read_to_end(&mut reply)).await {
        Ok(_) => Some(reply),
        Err(_) => None,
    }
}

/// A node serving HTTPS for `exchange.test` with a certificate from a lab CA answers a client
/// that trusts that CA, with HSTS on every response; a client speaking clear HTTP to the same
/// port gets no HTTP answer at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_with_hsts_to_a_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, ca_pem) = outlast_tls::Authority::generate("lab").unwrap();
    let issued = ca.issue_server(&["exchange.test".into()]).unwrap();
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    let tls = outlast_tls::PublicAcceptor::new(&cert, &key).unwrap();
    let node = TestNode::start_serving(0, Serving { tls: Some(tls), ..Serving::default() }).await;

    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("exchange.test").unwrap();
    let tcp = TcpStream::connect(node.api).await.unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("the handshake for exchange.test");
    tls.write_all(b"GET /api/v3/ping HTTP/1.1\r\nhost: exchange.test\r\nconnection: close\r\n\r\n").await.unwrap();
    let reply = String::from_utf8(read_all(&mut tls, Duration::from_secs(10)).await.unwrap()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("strict-transport-security: max-age=31536000"), "{reply}");

    let mut clear = TcpStream::connect(node.api).await.unwrap();
    clear.write_all(b"GET /api/v3/ping HTTP/1.1\r\nhost: exchange.test\r\nconnection: close\r\n\r\n").await.unwrap();
    let answer = read_all(&mut clear, Duration::from_secs(10)).await.unwrap_or_default();
    assert!(!answer.starts_with(b"HTTP/"), "clear HTTP was answered on the HTTPS port");
}

/// Connects to `addr` from `source`.
async fn connect_from(source: &str, addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// One address holding its whole allowance of idle sockets gets no more: the next one is closed
/// at once, while another address is served. A client that sends half a request and stops is
/// disconnected once the header deadline passes, freeing its slot, and so is one that never
/// sent anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_and_a_trickle_is_cut_off() {
    const PER_SOURCE: usize = 8;
    let node = TestNode::start_serving(0, Serving { per_source_max: PER_SOURCE, ..Serving::default() }).await;
    let mut idle = Vec::new();
    for _ in 0..PER_SOURCE - 1 {
        idle.push(connect_from("127.0.0.1", node.api).await);
    }
    // The last allowed one trickles: half a request line, then nothing.
    let mut trickle = connect_from("127.0.0.1", node.api).await;
    trickle.write_all(b"GET /api/v3/pi").await.unwrap();
    // Wait (bounded) until the server counts all of them: then one more is shed at once.
    let shed = async {
        loop {
            let mut extra = connect_from("127.0.0.1", node.api).await;
            let _ = extra.write_all(b"GET /api/v3/ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
            if let Some(reply) = read_all(&mut extra, Duration::from_secs(5)).await {
                if reply.is_empty() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), shed).await.expect("the extra connection was never shed");
    // Another address is served meanwhile.
    let mut other = connect_from("127.0.0.2", node.api).await;
    other.write_all(b"GET /api/v3/ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let reply = read_all(&mut other, Duration::from_secs(10)).await.unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
    // The trickling client is cut off by the header deadline, not kept forever.
    let closed = read_all(&mut trickle, HEADER_TIMEOUT * 3).await;
    assert!(closed.is_some(), "a half-sent request kept its connection past {:?}", HEADER_TIMEOUT * 3);
    // So is a socket that never sent anything.
    let closed = read_all(&mut idle[0], HEADER_TIMEOUT * 3).await;
    assert!(closed.is_some(), "an idle socket kept its connection past {:?}", HEADER_TIMEOUT * 3);
}

/// Requests the HTTP parser itself refuses (before any handler runs) are answered as Binance
/// clients expect every error: the status, `{"code","msg"}` JSON, and the connection closed.
/// The node keeps serving, and nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_http_parser_refuses_get_json_errors_and_change_nothing() {
    let node = TestNode::start(0).await;
    node.exchange().await;
    let digest = node.digest().await;
    let long_target = format!("/api/v3/depth?symbol={}", "A".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("a non-UTF-8 target", b"GET /api/v3/depth?symbol=\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), &["400"]),
        ("a space in the request line", b"GET /api/v3/ping x HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), &["400"]),
        (
            "an absurd Content-Length",
            b"POST /api/v3/order HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999999\r\n\r\n".to_vec(),
            &["400"],
        ),
        (
            "two different Content-Lengths",
            b"POST /api/v3/order HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n".to_vec(),
            &["400"],
        ),
        // Over this server's limit, and over hyper's own (whichever refuses, the answer is JSON).
        (
            "a header block over the limit",
            format!("GET /api/v3/ping HTTP/1.1\r\nhost: x\r\nx-junk: {}\r\n\r\n", "j".repeat(100_000)).into_bytes(),
            &["431"],
        ),
        (
            "a header block over the parser's buffer",
            format!("GET /api/v3/ping HTTP/1.1\r\nhost: x\r\nx-junk: {}\r\n\r\n", "j".repeat(2_000_000)).into_bytes(),
            &["431"],
        ),
        (
            "a target over the limit",
            format!("GET {long_target} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
            &["414", "431"],
        ),
        ("a header with no colon", b"GET /api/v3/ping HTTP/1.1\r\nhost: x\r\nnocolon\r\n\r\n".to_vec(), &["400"]),
    ];
    for (what, request, statuses) in cases {
        // The server closes after a parse error; a refusal by a handler closes on request.
        let at = request.windows(9).position(|w| w == b"host: x\r\n").expect("a host header") + 9;
        let request = [&request[..at], b"connection: close\r\n", &request[at..]].concat();
        let mut stream = TcpStream::connect(node.api).await.unwrap();
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(&request).await;
        let reply = read_all(&mut stream, HEADER_TIMEOUT * 3)
            .await
            .unwrap_or_else(|| panic!("{what}: not closed within {:?}", HEADER_TIMEOUT * 3));
        let text = String::from_utf8_lossy(&reply);
        let status = text.get(9..12).unwrap_or_default();
        assert!(statuses.contains(&status), "{what}: {text:.200}");
        assert!(text.to_ascii_lowercase().contains("content-type: application/json"), "{what}: {text:.200}");
        let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{what}: {e}: {text:.300}"));
        assert_eq!(body["code"], -1000, "{what}: {body}");
        assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    }
    let ping = http(node.api, "GET", "/api/v3/ping", &[], b"").await;
    assert_eq!(ping.status, 200);
    assert_eq!(node.digest().await, digest, "nothing changed");
}
