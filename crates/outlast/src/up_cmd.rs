//! `outlast up` and `outlast status`: a local multi-cloud cluster, and a live view of one.
//!
//! `up` prints the endpoints, the demo users' keys and what to try, then the line `up: ready`
//! (for scripts), and runs until Ctrl-C or SIGTERM, when it stops every node cleanly.

use std::path::Path;
use std::process::ExitCode;

use outlast_client::{Client, FailoverPolicy};
use outlast_lab::control;
use outlast_lab::namespaces::{Namespaces, Ownership};
use outlast_lab::state_dir::StateDir;
use outlast_lab::topology::{Network, Topology};
use outlast_lab::up::{prepare, public_url, quick_policy, Cluster};

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| {
        eprintln!("error: cannot start the runtime: {error}");
        ExitCode::FAILURE
    })
}

/// Where this command must run for the cluster in `root`: `None` here, or `Some(code)` once it
/// ran inside the router namespace of a namespace rehearsal (see `outlast_lab::namespaces`).
async fn in_rehearsal(root: &Path, topology: &Topology, ownership: Ownership) -> Option<ExitCode> {
    if topology.network != Network::Namespaces {
        return None;
    }
    let ids: Vec<u64> = topology.nodes.iter().map(|n| n.id).collect();
    if Namespaces::of(root, &ids).inside() {
        return None;
    }
    Some(match outlast_lab::namespaces::run_inside(root, &ids, ownership).await {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => crate::fail(2, &error),
    })
}

pub fn up(dir: &Path, topology: Option<&Path>) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let binary = match crate::own_binary() {
            Ok(binary) => binary,
            Err(error) => return crate::fail(1, &error),
        };
        let (state, topology) = match prepare(dir, topology) {
            Ok(prepared) => prepared,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        if let Some(code) = in_rehearsal(dir, &topology, Ownership::Own).await {
            return code;
        }
        let resumed = state.data(topology.nodes[0].id).exists();
        eprintln!(
            "{} {} nodes in {} ...",
            if resumed { "resuming" } else { "starting" },
            topology.nodes.len(),
            dir.display()
        );
        // The lab chain (a devnet behind three providers' proxies), on the loopback network.
        let chain = match topology.network {
            Network::Loopback => match outlast_lab::chain::LabChain::start(&state).await {
                Ok(chain) => Some(chain),
                Err(error) => {
                    eprintln!("warning: no lab chain ({error}); deposits and withdrawals stay off-chain");
                    None
                }
            },
            Network::Namespaces => None,
        };
        let mut cluster = match Cluster::start_with_chain(&binary, state.clone(), topology, chain).await {
            Ok(cluster) => cluster,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let (listener, queue, sender) = match control::listen(&state.control_socket()) {
            Ok(control) => control,
            Err(error) => {
                eprintln!("error: control socket: {error}");
                return ExitCode::FAILURE;
            }
        };
        let control_task = tokio::spawn(control::serve(listener, sender));
        let code = serve(&mut cluster, &state, queue).await;
        eprintln!("stopping every node...");
        control_task.abort();
        let _ = std::fs::remove_file(state.control_socket());
        cluster.stop();
        code
    })
}

async fn serve(
    cluster: &mut Cluster,
    state: &StateDir,
    control: tokio::sync::mpsc::Receiver<control::Pending>,
) -> ExitCode {
    let leader = match cluster.leader().await {
        Ok(leader) => leader,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let users = match outlast_lab::demo::seed(&cluster.access, &state.demo_keys()).await {
        Ok(users) => users,
        Err(error) => {
            eprintln!("error: seeding the demo exchange: {error}");
            return ExitCode::FAILURE;
        }
    };
    let topology = cluster.topology.clone();
    let providers: std::collections::BTreeSet<_> = topology.nodes.iter().map(|n| &n.provider).collect();
    let regions: std::collections::BTreeSet<_> = topology.nodes.iter().map(|n| &n.region).collect();
    println!(
        "Outlast is up: {} nodes, {} providers, {} regions (state in {}).",
        topology.nodes.len(),
        providers.len(),
        regions.len(),
        state.root.display()
    );
    for node in &topology.nodes {
        let mark = if node.id == leader { "  <- leader" } else { "" };
        println!(
            "  node {}  {:<6} {:<15} {:<18} {}{mark}",
            node.id,
            node.provider,
            node.region,
            node.zone,
            public_url(&topology, node.id)
        );
    }
    match topology.network {
        Network::Loopback => println!(
            "WAN links: one-way latency between regions from {} (link proxies on 127.0.2.N).",
            state.topology().display()
        ),
        Network::Namespaces => println!(
            "Namespaces: each node on its own address (10.77.N.2, nodeN.{}), no link latency; reach them from \
             the router namespace (`ip netns exec {} ...`).",
            outlast_lab::namespaces::DOMAIN,
            Namespaces::of(&state.root, &cluster.ids()).router()
        ),
    }
    let first = public_url(&topology, topology.nodes[0].id);
    println!(
        "Web: trading page {first}/ and status page {first}/status (every node serves both; paste a demo key below)."
    );
    let ca = state.pki().ca_cert();
    if topology.tls {
        println!("HTTPS under this lab's own CA, {}: trust it in the browser (or `curl --cacert`).", ca.display());
        if let Ok(pins) = outlast_lab::access::public_pins(&state, &cluster.ids()) {
            println!("  Or, for a throwaway Chromium profile only: chromium --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list={pins}");
        }
        let plane = match topology.network {
            Network::Loopback => "https://127.0.1.N:7300",
            Network::Namespaces => "https://10.77.N.2:7300",
        };
        println!(
            "Operator API: only on the operator plane, {plane}, mutual TLS with {} (`outlast status --dir {}`).",
            state.pki().cert(&outlast_tls::Identity::Operator(outlast_lab::up::LAB_OPERATOR.into())).display(),
            state.root.display()
        );
    } else {
        println!("Operator token: in {}", state.operator_token().display());
    }
    println!("Demo users (Binance-style API keys; markets BTCUSDT and ETHUSDT):");
    for user in &users {
        println!(
            "  {:<6} account {}  apiKey {}  secret {}",
            user.name, user.account, user.credentials.key, user.credentials.secret
        );
    }
    if let Some(chain) = &cluster.chain {
        print_chain(chain, &first);
        match outlast_lab::demo::chain_demo(&cluster.access, chain, &users).await {
            Ok(demo) => {
                for (name, address) in &demo.addresses {
                    println!("  {name:<6} deposits USDT and ETH to {address:#x}");
                }
                println!(
                    "  demo deposit {:#x}: 1000 USDT credited to {} {:.1} s after it was mined ({} confirmations)",
                    demo.deposit_tx,
                    users[0].name,
                    demo.credited_after.as_secs_f64(),
                    outlast_lab::chain::CONFIRMATIONS
                );
                println!("  demo withdrawal: 25 USDT paid on chain in {}", demo.withdrawal_tx);
            }
            Err(error) => eprintln!("warning: the chain demo did not finish: {error}"),
        }
    }
    let alice = &users[0].credentials;
    // In the rehearsal only the router namespace reaches the nodes (status and chaos enter it
    // by themselves).
    let inside = match topology.network {
        Network::Loopback => String::new(),
        Network::Namespaces => format!("ip netns exec {} ", Namespaces::of(&state.root, &cluster.ids()).router()),
    };
    println!("Try, in another shell:");
    println!("  export OUTLAST_ENDPOINTS={}", cluster.endpoints().join(","));
    if topology.tls {
        println!("  export OUTLAST_CA_FILE={}", ca.display());
    }
    println!("  export OUTLAST_API_KEY={} OUTLAST_API_SECRET={}", alice.key, alice.secret);
    println!(
        "  {inside}outlast book --symbol BTCUSDT; {inside}outlast order --symbol BTCUSDT --side BUY --quantity 0.01 --price 59990"
    );
    println!("  outlast status --dir {}", state.root.display());
    println!("  outlast chaos provider-outage --attach {}   # a rehearsal on this cluster", state.root.display());
    println!("Ctrl-C stops every node cleanly; `outlast up` again resumes this cluster.");
    println!("up: ready");
    control::supervise(cluster, control).await;
    ExitCode::SUCCESS
}

/// The lab chain's endpoints.
fn print_chain(chain: &outlast_lab::chain::LabChain, first_origin: &str) {
    println!("Chain: an anvil devnet at {} (a block a second), the USDT token at {:#x}.", chain.url(), chain.token());
    let upstreams: Vec<String> = chain.upstreams().iter().map(|(label, url)| format!("{label} {url}")).collect();
    println!("  Provider upstreams (every node reads through all three): {}", upstreams.join(", "));
    println!("  Dapps: {first_origin}/rpc/devnet on every node (chain id 31337); each upstream's health is on the status page.");
}

/// `outlast status`: the cluster as any reachable node sees it.
pub fn status(dir: &Path, endpoints: Vec<String>) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let state = StateDir { root: dir.to_path_buf() };
        let view = if endpoints.is_empty() {
            // An `up` directory: its operator plane with its operator's certificate (or its token).
            let topology = match Topology::load(&state.topology()) {
                Ok(topology) => topology,
                Err(error) => return crate::fail(2, &error),
            };
            if let Some(code) = in_rehearsal(dir, &topology, Ownership::Visit).await {
                return code;
            }
            let access = outlast_lab::access::Access::of(&state, &topology);
            let access = match access {
                Ok(access) => access,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let policy = FailoverPolicy { attempts_max: access.ids().len() as u32, ..quick_policy() };
            let client = access.operator_all(policy);
            let view = client.call("GET", "/operator/v1/cluster", &[]).await;
            eprintln!("(as seen by {})", client.current());
            view
        } else {
            let token = match std::env::var("OUTLAST_OPERATOR_TOKEN").or_else(|_| state.read_token()) {
                Ok(token) => token,
                Err(error) => {
                    eprintln!("error: no operator token (set OUTLAST_OPERATOR_TOKEN or point --dir at an `up` directory): {error}");
                    return ExitCode::from(2);
                }
            };
            let policy = FailoverPolicy { attempts_max: endpoints.len() as u32, ..quick_policy() };
            let client = Client::new(endpoints, None, policy);
            let view = client.operator(&token, "GET", "/operator/v1/cluster", &[]).await;
            eprintln!("(as seen by {})", client.current());
            view
        };
        let view = match view {
            Ok(view) => view,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let leader = &view["leader"];
        match leader["id"].as_u64() {
            Some(id) => println!("leader: node {id} ({} {} {}), term {}", leader["provider"].as_str().unwrap_or("?"), leader["region"].as_str().unwrap_or("?"), leader["zone"].as_str().unwrap_or("?"), view["term"]),
            None => println!("leader: none known (term {})", view["term"]),
        }
        println!("{:<5} {:<8} {:<7} {:<16} {:<20} {:<8} {:>6} {:>8} {:>5}  api", "node", "role", "health", "region", "zone", "provider", "term", "applied", "lag");
        for node in view["nodes"].as_array().into_iter().flatten() {
            let text = |key: &str| node[key].as_str().map(str::to_string).unwrap_or_else(|| node[key].to_string());
            println!(
                "{:<5} {:<8} {:<7} {:<16} {:<20} {:<8} {:>6} {:>8} {:>5}  {}",
                text("id"), text("role"), if node["healthy"].as_bool() == Some(true) { "up" } else { "DOWN" },
                text("region"), text("zone"), text("provider"), text("term"), text("appliedIndex"), text("lag"), text("publicUrl")
            );
        }
        ExitCode::SUCCESS
    })
}

/// `outlast chaos <scenario>`: runs it on a fresh cluster in `dir` (or the attached `up`),
/// prints the verdict.
pub fn chaos(config: outlast_lab::chaos::ChaosConfig) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let binary = match crate::own_binary() {
            Ok(binary) => binary,
            Err(error) => return crate::fail(1, &error),
        };
        if let Err(error) = std::fs::create_dir_all(&config.dir) {
            eprintln!("error: {}: {error}", config.dir.display());
            return ExitCode::from(2);
        }
        // A namespace rehearsal runs in its router namespace: this same command, again, there.
        let rehearsal = match &config.attach {
            Some(up) => {
                Topology::load(&StateDir { root: up.clone() }.topology()).map(|t| (up.clone(), t, Ownership::Visit))
            }
            None => {
                let root = config.dir.join("cluster");
                prepare(&root, config.topology.as_deref()).map(|(_, t)| (root, t, Ownership::Own))
            }
        };
        match rehearsal {
            Err(error) => return crate::fail(2, &error),
            Ok((root, topology, ownership)) => {
                if let Some(code) = in_rehearsal(&root, &topology, ownership).await {
                    return code;
                }
            }
        }
        let names: Vec<&str> = config.steps.iter().map(|s| s.scenario.name()).collect();
        match &config.attach {
            Some(up) => eprintln!(
                "chaos {}: on the running cluster of {}, report in {}",
                names.join(" + "),
                up.display(),
                config.dir.display()
            ),
            None => eprintln!("chaos {}: fresh cluster in {}", names.join(" + "), config.dir.display()),
        }
        match outlast_lab::chaos::run(&binary, &config).await {
            Ok(report) => {
                println!("{}", report.markdown());
                println!("report: {}", config.dir.join("report.md").display());
                if report.verdict.pass {
                    println!("verdict: PASS");
                    ExitCode::SUCCESS
                } else {
                    println!("verdict: FAIL");
                    ExitCode::FAILURE
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        }
    })
}
