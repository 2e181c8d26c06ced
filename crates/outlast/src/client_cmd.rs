//! `outlast order | cancel | balance | book | watch | health`: the failover client from the
//! command line.
//!
//! Endpoints come from `--endpoints` or `OUTLAST_ENDPOINTS` (comma-separated base URLs, one per
//! provider or region); credentials only from `OUTLAST_API_KEY` and `OUTLAST_API_SECRET`, never
//! from arguments, so they stay out of shell history and `ps`. Results print as JSON.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use outlast_client::{BookEvent, Client, ClientError, Credentials, FailoverPolicy};

/// Where to connect.
#[derive(Args, Clone, Debug)]
pub struct Connect {
    /// Base URLs of the nodes' APIs, comma-separated (e.g. `https://ex1.example.com,https://ex2.example.com`).
    #[arg(long, env = "OUTLAST_ENDPOINTS", value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    /// The CA certificate (PEM) that `https://` endpoints' certificates chain to (`outlast up`
    /// prints its lab's).
    #[arg(long, env = "OUTLAST_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Seconds one call may take across all endpoints before it is reported unavailable.
    #[arg(long, default_value_t = 10)]
    budget_s: u64,
}

/// The client commands.
#[derive(Subcommand, Clone, Debug)]
pub enum Command {
    /// Place an order; retried on other endpoints with the same client order id.
    Order {
        #[command(flatten)]
        connect: Connect,
        /// Market, e.g. BTCUSDT.
        #[arg(long)]
        symbol: String,
        /// BUY or SELL.
        #[arg(long)]
        side: String,
        /// LIMIT, LIMIT_MAKER or MARKET.
        #[arg(long = "type", default_value = "LIMIT")]
        order_type: String,
        /// Base quantity.
        #[arg(long)]
        quantity: Option<String>,
        /// Quote amount (MARKET only).
        #[arg(long)]
        quote_quantity: Option<String>,
        /// Limit price.
        #[arg(long)]
        price: Option<String>,
        /// GTC, IOC or FOK (LIMIT only).
        #[arg(long, default_value = "GTC")]
        time_in_force: String,
        /// Client order id; generated if absent. Reuse it to retry safely.
        #[arg(long)]
        client_order_id: Option<String>,
    },
    /// Cancel an order by id or client order id.
    Cancel {
        #[command(flatten)]
        connect: Connect,
        /// Market.
        #[arg(long)]
        symbol: String,
        /// Exchange order id.
        #[arg(long)]
        order_id: Option<u64>,
        /// Client order id.
        #[arg(long)]
        client_order_id: Option<String>,
    },
    /// Show the account's balances.
    Balance {
        #[command(flatten)]
        connect: Connect,
    },
    /// Show a market's order book.
    Book {
        #[command(flatten)]
        connect: Connect,
        /// Market.
        #[arg(long)]
        symbol: String,
        /// Levels per side.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Follow a market's best bid and ask live, failing over between endpoints.
    Watch {
        #[command(flatten)]
        connect: Connect,
        /// Market.
        #[arg(long)]
        symbol: String,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Check every endpoint's readiness.
    Health {
        #[command(flatten)]
        connect: Connect,
    },
}

fn client(connect: &Connect, needs_key: bool) -> Result<Client, String> {
    let credentials = match (std::env::var("OUTLAST_API_KEY"), std::env::var("OUTLAST_API_SECRET")) {
        (Ok(key), Ok(secret)) => Some(Credentials { key, secret }),
        _ if needs_key => return Err("set OUTLAST_API_KEY and OUTLAST_API_SECRET".into()),
        _ => None,
    };
    let policy = FailoverPolicy { budget: Duration::from_secs(connect.budget_s), ..FailoverPolicy::default() };
    let tls = match &connect.ca_file {
        Some(path) => Some(outlast_client::trusting_ca_file(path).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Client::with_tls(connect.endpoints.clone(), credentials, policy, tls))
}

fn print(result: Result<serde_json::Value, ClientError>, client: &Client) -> ExitCode {
    match result {
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            eprintln!("via {}", client.current());
            ExitCode::SUCCESS
        }
        Err(error @ ClientError::Unavailable { .. }) => {
            eprintln!("error: {error}\n(for an order: its outcome is unknown; retry with the same --client-order-id)");
            ExitCode::from(3)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let needs_key = matches!(command, Command::Order { .. } | Command::Cancel { .. } | Command::Balance { .. });
        let connect = match &command {
            Command::Order { connect, .. }
            | Command::Cancel { connect, .. }
            | Command::Balance { connect }
            | Command::Book { connect, .. }
            | Command::Watch { connect, .. }
            | Command::Health { connect } => connect.clone(),
        };
        let client = match client(&connect, needs_key) {
            Ok(client) => client,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        client.prefer_healthy().await;
        match command {
            Command::Order {
                symbol,
                side,
                order_type,
                quantity,
                quote_quantity,
                price,
                time_in_force,
                client_order_id,
                ..
            } => {
                let mut params = vec![("symbol", symbol), ("side", side), ("type", order_type.clone())];
                if order_type == "LIMIT" {
                    params.push(("timeInForce", time_in_force));
                }
                let optional = [
                    ("quantity", quantity),
                    ("quoteOrderQty", quote_quantity),
                    ("price", price),
                    ("newClientOrderId", client_order_id),
                ];
                params.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
                print(client.place_order(&params).await, &client)
            }
            Command::Cancel { symbol, order_id, client_order_id, .. } => {
                print(client.cancel_order(&symbol, order_id, client_order_id.as_deref()).await, &client)
            }
            Command::Balance { .. } => {
                let nonzero =
                    |text: &serde_json::Value| text.as_str().is_some_and(|t| !t.trim_matches(['0', '.']).is_empty());
                let account = client.account().await.map(|a| {
                    let held = a["balances"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|b| nonzero(&b["free"]) || nonzero(&b["locked"]));
                    serde_json::Value::Array(held.cloned().collect())
                });
                print(account, &client)
            }
            Command::Book { symbol, limit, .. } => print(client.book(&symbol, limit).await, &client),
            Command::Health { .. } => {
                let mut ready = 0;
                for health in client.health().await {
                    ready += usize::from(health.ready);
                    let state = if health.ready { "ready" } else { "NOT READY" };
                    println!("{} {state} ({:?}): {}", health.endpoint, health.latency, health.detail);
                }
                if ready == 0 {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Command::Watch { symbol, seconds, .. } => {
                let until = Instant::now() + Duration::from_secs(seconds);
                outlast_client::watch_book(&client, &symbol, until, |event| {
                    match event {
                        BookEvent::Synced { endpoint, last_update_id } => {
                            println!("synced on {endpoint} at update {last_update_id}")
                        }
                        BookEvent::Top { update_id, bid, ask } => println!("{update_id}: bid {bid:?} ask {ask:?}"),
                        BookEvent::Failover { from, reason } => println!("failover from {from}: {reason}"),
                    }
                    true
                })
                .await;
                ExitCode::SUCCESS
            }
        }
    })
}
