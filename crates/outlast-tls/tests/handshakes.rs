//! Who gets in: handshakes over in-memory pipes between certificates made by `Authority`.

use std::sync::Arc;

use outlast_tls::{write_cluster_pki, Acceptor, Admit, Authority, Connector, Identity, PkiFiles, TlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn files(pki: &PkiFiles, who: &Identity) -> TlsFiles {
    TlsFiles { ca: pki.ca_cert(), cert: pki.cert(who), key: pki.key(who) }
}

fn members(ids: &[u64]) -> Admit {
    let ids = ids.to_vec();
    Arc::new(move || ids.iter().map(|&id| Identity::Node(id)).collect())
}

/// Runs one handshake: `client` dials expecting `expect`, the server is `server` admitting
/// `admit`. The server's view of who connected, or the errors of both sides.
async fn handshake(client: &Connector, expect: &Identity, server: &Acceptor) -> Result<Identity, (String, String)> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (dialled, accepted) = tokio::join!(client.connect(a, expect), server.accept(b));
    match (dialled, accepted) {
        (Ok(mut c), Ok((mut s, who))) => {
            // The session carries bytes both ways.
            c.write_all(b"ping").await.unwrap();
            c.flush().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            Ok(who)
        }
        (c, s) => Err((
            c.err().map(|e| e.to_string()).unwrap_or_default(),
            s.err().map(|e| e.to_string()).unwrap_or_default(),
        )),
    }
}

#[tokio::test]
async fn only_current_members_of_this_cluster_under_its_ca_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Identity> = (1..=4).map(Identity::Node).chain([Identity::Operator("alice".into())]).collect();
    let pki = write_cluster_pki(&dir.path().join("lab"), "lab", &nodes).unwrap();
    let server = Acceptor::new("lab", &files(&pki, &Identity::Node(1)), members(&[1, 2, 3])).unwrap();
    let connector = |who: &Identity| Connector::new("lab", &files(&pki, who)).unwrap();

    // A member dialling a member, each checking the other.
    assert_eq!(handshake(&connector(&Identity::Node(2)), &Identity::Node(1), &server).await, Ok(Identity::Node(2)));

    // A valid certificate of the cluster, but not a member (nor an admitted operator).
    let (_, refused) = handshake(&connector(&Identity::Node(4)), &Identity::Node(1), &server).await.unwrap_err();
    assert!(!refused.is_empty());
    assert!(handshake(&connector(&Identity::Operator("alice".into())), &Identity::Node(1), &server).await.is_err());

    // An operator's tool that needs some node of the cluster, not a particular one.
    let tool =
        Acceptor::new("lab", &files(&pki, &Identity::Node(1)), Arc::new(|| vec![Identity::Operator("alice".into())]))
            .unwrap();
    let alice = connector(&Identity::Operator("alice".into()));
    assert_eq!(handshake(&alice, &Identity::AnyNode, &tool).await, Ok(Identity::Operator("alice".into())));

    // Dialling node 3 but reaching node 1: the client refuses.
    let (dialler, _) = handshake(&connector(&Identity::Node(2)), &Identity::Node(3), &server).await.unwrap_err();
    assert!(dialler.contains("node 3"), "{dialler}");

    // Another CA, same cluster id and node id.
    let other = write_cluster_pki(&dir.path().join("other"), "lab", &[Identity::Node(2)]).unwrap();
    let stranger = Connector::new("lab", &TlsFiles { ca: pki.ca_cert(), ..files(&other, &Identity::Node(2)) }).unwrap();
    assert!(handshake(&stranger, &Identity::Node(1), &server).await.is_err());

    // This CA's key, but certificates of another cluster: replayed here they prove nothing.
    let key = std::fs::read_to_string(pki.ca_key()).unwrap();
    let elsewhere = Authority::from_key_pem("prod", &key).unwrap();
    let replay = PkiFiles::in_dir(&dir.path().join("replay"));
    std::fs::create_dir_all(&replay.dir).unwrap();
    replay.write(&Identity::Node(2), &elsewhere.issue(&Identity::Node(2)).unwrap()).unwrap();
    let replayed =
        Connector::new("lab", &TlsFiles { ca: pki.ca_cert(), ..files(&replay, &Identity::Node(2)) }).unwrap();
    assert!(handshake(&replayed, &Identity::Node(1), &server).await.is_err());

    // Membership is read at every handshake: node 4 added, node 2 removed.
    let now = Acceptor::new("lab", &files(&pki, &Identity::Node(1)), members(&[1, 3, 4])).unwrap();
    assert_eq!(handshake(&connector(&Identity::Node(4)), &Identity::Node(1), &now).await, Ok(Identity::Node(4)));
    assert!(handshake(&connector(&Identity::Node(2)), &Identity::Node(1), &now).await.is_err());
}

#[tokio::test]
async fn plaintext_is_refused_and_the_key_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_cluster_pki(dir.path(), "lab", &[Identity::Node(1)]).unwrap();
    let server = Acceptor::new("lab", &files(&pki, &Identity::Node(1)), members(&[1])).unwrap();
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let (_, accepted) = tokio::join!(
        async {
            a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            a.shutdown().await.unwrap();
        },
        server.accept(b)
    );
    assert!(accepted.is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [pki.ca_key(), pki.key(&Identity::Node(1))] {
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{}", key.display());
        }
    }
    assert!(Authority::generate("Not A Label").is_err());
}

/// A node of another wire-protocol version is refused during the handshake, and both sides say
/// which versions met; a client that names no version at all is refused by the server.
#[tokio::test]
async fn a_peer_of_another_protocol_version_is_refused_with_both_versions_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_cluster_pki(&dir.path().join("lab"), "lab", &[Identity::Node(1), Identity::Node(2)]).unwrap();
    let server = Acceptor::new("lab", &files(&pki, &Identity::Node(1)), members(&[1, 2])).unwrap();
    let speaking = |protocol: &[u8]| Connector::speaking("lab", &files(&pki, &Identity::Node(2)), protocol).unwrap();
    let this = String::from_utf8_lossy(outlast_tls::PROTOCOL).into_owned();

    let (dialler, listener) = handshake(&speaking(b"outlast/0"), &Identity::Node(1), &server).await.unwrap_err();
    assert!(dialler.contains("does not speak outlast/0"), "{dialler}");
    assert!(listener.contains(&format!("does not speak {this}")), "{listener}");

    let (_, listener) = handshake(&speaking(b""), &Identity::Node(1), &server).await.unwrap_err();
    assert!(listener.contains("no protocol version"), "{listener}");

    // The positive control: the same certificate, this version.
    assert_eq!(handshake(&speaking(outlast_tls::PROTOCOL), &Identity::Node(1), &server).await, Ok(Identity::Node(2)));
}

/// The certificate a server presented to a client that dialled it now.
async fn presented(client: &Connector, expect: &Identity, server: &Acceptor) -> Vec<u8> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (dialled, accepted) = tokio::join!(client.connect(a, expect), server.accept(b));
    accepted.expect("the server accepts");
    let stream = dialled.expect("the client connects");
    stream.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

/// A node's certificate rotated on disk (re-issued by the same CA) is taken on reload: new
/// handshakes present it, on both sides. Files that do not load — a key that is not a key —
/// or a certificate of another CA or cluster are refused with the file named, and the
/// material in use stays.
#[tokio::test]
async fn a_reload_takes_rotated_certificates_and_refuses_broken_files() {
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (Identity::Node(1), Identity::Node(2));
    let pki = write_cluster_pki(&dir.path().join("lab"), "lab", &[one.clone(), two.clone()]).unwrap();
    let ca = Authority::from_key_pem("lab", &std::fs::read_to_string(pki.ca_key()).unwrap()).unwrap();
    let server = Acceptor::new("lab", &files(&pki, &one), members(&[1, 2])).unwrap();
    let client = Connector::new("lab", &files(&pki, &two)).unwrap();
    let before = presented(&client, &one, &server).await;

    pki.write(&one, &ca.issue(&one).unwrap()).unwrap();
    assert_eq!(presented(&client, &one, &server).await, before, "nothing changes before a reload");
    let reloaded = outlast_tls::reload_changed();
    let mine: Vec<_> = reloaded.iter().filter(|r| r.files.contains(&*pki.cert(&one).to_string_lossy())).collect();
    assert_eq!(mine.len(), 1, "{reloaded:?}");
    assert!(mine[0].error.is_none(), "{reloaded:?}");
    let after = presented(&client, &one, &server).await;
    assert_ne!(after, before, "the rotated certificate is presented");
    let on_disk = rustls::pki_types::CertificateDer::from_pem_file(pki.cert(&one)).unwrap();
    assert_eq!(after, on_disk.to_vec());

    std::fs::write(pki.key(&one), "not a key").unwrap();
    let refused = outlast_tls::reload_all();
    let mine: Vec<_> = refused.iter().filter(|r| r.files.contains(&*pki.key(&one).to_string_lossy())).collect();
    assert!(!mine.is_empty() && mine.iter().all(|r| r.error.is_some()), "{refused:?}");
    assert_eq!(presented(&client, &one, &server).await, after, "the working certificate stays");

    // A matching pair that is not a node's of this cluster: from another CA, or this CA's
    // certificate for an operator. Each loads as files, and each is refused, naming why.
    let stranger = Authority::generate("lab").unwrap().0;
    for (issued, why) in [
        (stranger.issue(&one).unwrap(), "not a valid certificate of the cluster's CA"),
        (ca.issue(&Identity::Operator("alice".into())).unwrap(), "names no node of cluster lab"),
    ] {
        pki.write(&one, &issued).unwrap();
        let refused = outlast_tls::reload_all();
        let mine: Vec<_> = refused.iter().filter(|r| r.files.contains(&*pki.cert(&one).to_string_lossy())).collect();
        assert!(mine.iter().any(|r| r.error.as_deref().is_some_and(|e| e.contains(why))), "{why}: {refused:?}");
        assert_eq!(presented(&client, &one, &server).await, after, "the working certificate stays ({why})");
    }
}

/// An operator-plane handshake: `config` dials `dialled` (an address, as a URL would name it);
/// the server is `server`. The server's view of who connected, or the client's error.
async fn plane_handshake(config: rustls::ClientConfig, dialled: &str, server: &Acceptor) -> Result<Identity, String> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let name = rustls::pki_types::ServerName::try_from(dialled.to_string()).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let (dialled, accepted) = tokio::join!(connector.connect(name, a), server.accept(b));
    match (dialled, accepted) {
        (Ok(_), Ok((_, who))) => Ok(who),
        (client, _) => Err(client.err().map(|e| e.to_string()).unwrap_or_else(|| "the server refused".into())),
    }
}

#[tokio::test]
async fn the_operator_plane_client_accepts_any_node_of_its_cluster_at_any_address_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Identity::Operator("alice".into());
    let pki = write_cluster_pki(&dir.path().join("lab"), "lab", &[Identity::Node(1), alice.clone()]).unwrap();
    let admit: Admit = Arc::new(|| vec![Identity::Operator("alice".into())]);
    let plane = Acceptor::for_http("lab", &files(&pki, &Identity::Node(1)), admit.clone()).unwrap();
    let config = || outlast_tls::operator_client_config("lab", &files(&pki, &alice)).unwrap();

    // Dialled by address, the node's certificate (which names no address) is accepted.
    assert_eq!(plane_handshake(config(), "127.0.1.1", &plane).await, Ok(alice.clone()));
    assert_eq!(plane_handshake(config(), "ex1.example.com", &plane).await, Ok(alice.clone()));

    // A server with an operator's certificate of the same CA is not a node.
    let impostor = Acceptor::for_http("lab", &files(&pki, &alice), admit.clone()).unwrap();
    let error = plane_handshake(config(), "127.0.1.1", &impostor).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");

    // A node of another CA, with the same cluster id and node id.
    let other = write_cluster_pki(&dir.path().join("other"), "lab", &[Identity::Node(1)]).unwrap();
    let stranger =
        Acceptor::for_http("lab", &TlsFiles { ca: pki.ca_cert(), ..files(&other, &Identity::Node(1)) }, admit.clone())
            .unwrap();
    let error = plane_handshake(config(), "127.0.1.1", &stranger).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");

    // A node of another cluster under the same CA key.
    let key = std::fs::read_to_string(pki.ca_key()).unwrap();
    let elsewhere = Authority::from_key_pem("prod", &key).unwrap();
    let replay = PkiFiles::in_dir(&dir.path().join("replay"));
    std::fs::create_dir_all(&replay.dir).unwrap();
    replay.write(&Identity::Node(1), &elsewhere.issue(&Identity::Node(1)).unwrap()).unwrap();
    let replayed =
        Acceptor::for_http("lab", &TlsFiles { ca: pki.ca_cert(), ..files(&replay, &Identity::Node(1)) }, admit)
            .unwrap();
    assert!(plane_handshake(config(), "127.0.1.1", &replayed).await.is_err());
}

#[test]
fn an_spki_pin_is_the_base64_sha256_of_the_public_key_and_differs_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_cluster_pki(dir.path(), "lab", &[Identity::Node(1), Identity::Node(2)]).unwrap();
    let pin = |id| outlast_tls::spki_pin(&std::fs::read_to_string(pki.key(&Identity::Node(id))).unwrap()).unwrap();
    let one = pin(1);
    assert_eq!(one.len(), 44, "{one}");
    assert!(one.ends_with('='));
    assert_eq!(one, pin(1));
    assert_ne!(one, pin(2));
    assert!(outlast_tls::spki_pin("not a key").is_err());
}
