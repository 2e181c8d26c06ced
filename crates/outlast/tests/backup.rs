//! Backups into each provider's real object-storage protocol and restores onto new hosts.
//!
//! Local servers that speak the protocols are started and stopped here: moto's server (S3),
//! gcp-storage-emulator (Google Cloud Storage) and Azurite (Azure Blob), from the tool folder
//! `.ci/run` fills (`target/emulators`, or `OUTLAST_EMULATORS`). An `outlast up` cluster takes
//! orders while `outlast backup` ships continuously to S3; once the load stops and the backup
//! holds everything applied, one-off backups go to GCS and Azure too. The cluster is stopped
//! and its five data directories wiped. Then, from each provider in turn, `outlast restore`
//! writes five new nodes on new addresses with a new membership, and they must come up
//! without `--init`, with the original cluster's digest (every acknowledged operation, in the
//! same state), serving every acknowledged order to its owner.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outlast_client::{Credentials, FailoverPolicy};
use outlast_lab::access::Access;
use outlast_lab::processes::ProcessCluster;
use outlast_lab::state_dir::StateDir;
use outlast_lab::topology::Topology;

const BINARY: &str = env!("CARGO_BIN_EXE_outlast");
/// Without '-': gcp-storage-emulator matches bucket names before decoding them.
const BUCKET: &str = "outlastbackups";
const DEADLINE: Duration = Duration::from_secs(60);

fn tools() -> PathBuf {
    std::env::var_os("OUTLAST_EMULATORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/emulators"))
}

fn free_port() -> u16 {
    outlast_cluster::ports::free_port().unwrap()
}

/// A server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(program: PathBuf, args: &[String], port: u16) -> Server {
    let child = Command::new(&program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run .ci/run once, or set OUTLAST_EMULATORS)", program.display()));
    let server = Server(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < DEADLINE, "{} did not listen on {port}", program.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// One provider's emulator, its bucket, and the environment `outlast` needs to reach it.
struct Provider {
    name: &'static str,
    url: String,
    env: Vec<(&'static str, String)>,
    _server: Server,
}

fn s3() -> Provider {
    let port = free_port();
    let server = start(tools().join("venv/bin/moto_server"), &["-p".into(), port.to_string()], port);
    // moto creates a bucket on an unsigned PUT.
    let status = Command::new(tools().join("venv/bin/python"))
        .args([
            "-c",
            &format!(
                "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:{port}/{BUCKET}', method='PUT'))"
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "creating the S3 bucket");
    let env = vec![
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ];
    Provider { name: "s3", url: format!("s3://{BUCKET}/prod"), env, _server: server }
}

fn gcs() -> Provider {
    let port = free_port();
    // The emulator with the ETag and Last-Modified headers real GCS sends (tests/emulators/gcs.py).
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/emulators/gcs.py");
    let args =
        [shim.to_str().unwrap(), "start", "--port", &port.to_string(), "--default-bucket", BUCKET, "--in-memory", "-q"]
            .map(String::from);
    let server = start(tools().join("venv/bin/python"), &args, port);
    // object_store's way to an emulator: a service-account key that names the endpoint and
    // turns OAuth off (no secret in it).
    let key = format!(
        r#"{{"gcs_base_url":"http://127.0.0.1:{port}","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}}"#
    );
    let env = vec![("GOOGLE_SERVICE_ACCOUNT_KEY", key)];
    Provider { name: "gcs", url: format!("gs://{BUCKET}/prod"), env, _server: server }
}

fn azure() -> Provider {
    let port = free_port();
    let data = tempfile::tempdir().unwrap().keep();
    let args = [
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--location",
        data.to_str().unwrap(),
        "--silent",
        "--skipApiVersionCheck",
    ]
    .map(String::from);
    let server = start(tools().join("npm/node_modules/.bin/azurite-blob"), &args, port);
    // The emulator's well-known development account (public, in Azurite's documentation).
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    );
    let status = Command::new(tools().join("venv/bin/python"))
        .args([
            "-c",
            &format!(
                "from azure.storage.blob import BlobServiceClient as B; B.from_connection_string('{connection}').create_container('{BUCKET}')"
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "creating the Azure container");
    let env = vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
        ("AZURITE_BLOB_STORAGE_URL", format!("http://127.0.0.1:{port}")),
        ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1".into()),
    ];
    Provider { name: "azure", url: format!("az://{BUCKET}/prod"), env, _server: server }
}

fn outlast(provider: &Provider, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    for (key, value) in &provider.env {
        command.env(key, value);
    }
    command
}

fn run(provider: &Provider, args: &[&str]) -> String {
    let output = outlast(provider, args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{}: outlast {args:?}: {text}", provider.name);
    text
}

/// The index and digest every node of the live cluster agrees on (after the load stopped).
async fn settled(access: &Access) -> (u64, String) {
    let started = Instant::now();
    loop {
        let view =
            access.operator_all(FailoverPolicy::default()).call("GET", "/operator/v1/cluster", &[]).await.unwrap();
        let nodes = view["nodes"].as_array().unwrap().clone();
        let applied: Vec<u64> = nodes.iter().filter_map(|n| n["appliedIndex"].as_u64()).collect();
        let digests: Vec<&str> = nodes.iter().filter_map(|n| n["digest"].as_str()).collect();
        if applied.len() == 5 && applied.iter().all(|a| *a == applied[0]) && digests.iter().all(|d| *d == digests[0]) {
            return (applied[0], digests[0].to_string());
        }
        assert!(started.elapsed() < DEADLINE, "the live cluster did not settle: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_in_s3_gcs_and_azure_restore_onto_new_hosts_with_every_acknowledged_order() {
    let providers = [s3(), gcs(), azure()];
    let dir = tempfile::tempdir().unwrap();
    // Without the lab chain: the backups are compared at one settled index.
    let up = common::up_without_chain(dir.path());
    let state = StateDir { root: dir.path().to_path_buf() };
    let topology = Topology::load(&state.topology()).unwrap();
    let access = Access::of(&state, &topology).unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_string();

    // A continuous backup to S3 from the start, then orders.
    let continuous =
        outlast(&providers[0], &["backup", "--dir", &dir_arg, "--to", &providers[0].url, "--interval-ms", "200"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let (alice_key, alice_secret) = up.user("alice");
    let credentials = Credentials { key: alice_key, secret: alice_secret };
    let alice = access.client(access.endpoints(), Some(credentials), FailoverPolicy::default());
    let mut acknowledged = Vec::new();
    for n in 0..40 {
        let price = format!("{}", 30_000 + n);
        let params = [
            ("symbol", "BTCUSDT".to_string()),
            ("side", "BUY".to_string()),
            ("type", "LIMIT".to_string()),
            ("timeInForce", "GTC".to_string()),
            ("quantity", "0.001".to_string()),
            ("price", price),
            ("newClientOrderId", format!("backup-test-{n}")),
        ];
        let order = alice.place_order(&params).await.expect("an acknowledged order");
        acknowledged.push(order["orderId"].as_u64().unwrap());
    }
    let (index, digest) = settled(&access).await;

    // The continuous backup catches up with everything applied (read from S3 as a restore
    // would); then one-off backups to GCS and Azure.
    for (key, value) in &providers[0].env {
        std::env::set_var(key, value);
    }
    let s3 = outlast_backup::Destination::open(&providers[0].url).unwrap();
    let started = Instant::now();
    loop {
        let manifest = s3.get(outlast_backup::manifest::NAME).await.unwrap();
        let manifest = manifest.map(|bytes| outlast_backup::Manifest::parse(&bytes).unwrap());
        if manifest.as_ref().is_some_and(|m| m.last_index >= index) {
            let manifest = manifest.unwrap();
            assert_eq!((manifest.last_index, manifest.digest.as_str()), (index, digest.as_str()));
            assert!(!manifest.segments.is_empty(), "the orders came as log segments after the base");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the continuous backup never caught up with index {index}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill").arg("-TERM").arg(continuous.id().to_string()).status().unwrap();
    let output = continuous.wait_with_output().unwrap();
    let shipped = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "the continuous backup: {shipped}{}", String::from_utf8_lossy(&output.stderr));
    for provider in &providers[1..] {
        let text = run(provider, &["backup", "--dir", &dir_arg, "--to", &provider.url, "--once"]);
        assert!(text.contains(&format!("backup at index {index} (digest {digest})")), "{}: {text}", provider.name);
    }
    let (key, secret) = up.user("alice");
    up.stop();
    for node in &topology.nodes {
        std::fs::remove_dir_all(state.data(node.id)).unwrap();
    }

    for provider in &providers {
        // Five new hosts: other addresses, other certificates, the old cluster's API key
        // encryption key (users' keys are sealed with it in the state).
        let kek = state.api_kek();
        let mut cluster =
            ProcessCluster::loopback(Path::new(BINARY), &["aws", "gcp", "azure", "aws", "gcp"], &[], |config| {
                config.api_kek_file = Some(kek.clone());
            })
            .unwrap();
        let configs: Vec<String> = cluster.ids().iter().map(|id| cluster.config(*id).display().to_string()).collect();
        let mut args = vec!["restore", "--from", provider.url.as_str()];
        for config in &configs {
            args.extend(["--config", config.as_str()]);
        }
        let text = run(provider, &args);
        assert!(
            text.contains(&format!("restored index {index} ")) && text.contains(&digest),
            "{}: {text}",
            provider.name
        );
        for id in cluster.ids() {
            cluster.spawn(id, &[]).unwrap();
        }
        let ids = cluster.ids();
        cluster
            .leader(&ids, DEADLINE)
            .await
            .unwrap_or_else(|| panic!("{}: the restored cluster elects a leader", provider.name));
        for id in &ids {
            let status = cluster.status(*id).await.unwrap();
            assert_eq!(status.digest, digest, "{}: node {id} holds the backed-up state", provider.name);
        }
        let endpoints = ids.iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect();
        let credentials = Credentials { key: key.clone(), secret: secret.clone() };
        let alice = outlast_client::Client::new(endpoints, Some(credentials), FailoverPolicy::default());
        for order_id in &acknowledged {
            let order = alice
                .signed("GET", "/api/v3/order", &[("symbol", "BTCUSDT".into()), ("orderId", order_id.to_string())])
                .await
                .unwrap_or_else(|e| panic!("{}: order {order_id}: {e}", provider.name));
            assert_eq!(order["status"], "NEW", "{}: {order}", provider.name);
        }
        for id in ids {
            assert!(cluster.terminate(id, DEADLINE).unwrap().success());
        }
    }
}
