//! `outlast admin --node ADDR ...`: membership changes and status, through any node.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use outlast_cluster::config::NodeConfig;
use outlast_cluster::protocol::AdminRequest;
use outlast_cluster::protocol::{call_with, ClientReply, ClientRequest};
use outlast_cluster::{Identity, TcpDialer};

/// What to do.
#[derive(Subcommand)]
pub enum Action {
    /// Add the node described by its configuration file as a learner; waits until it has caught up.
    AddLearner {
        /// The new node's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Make exactly these nodes the voters (joint consensus).
    Voters {
        /// Node ids, comma-separated.
        #[arg(value_delimiter = ',')]
        ids: Vec<u64>,
        /// Allow a voter set that one provider's loss would stop.
        #[arg(long)]
        allow_unsafe_topology: bool,
    },
    /// Remove non-voting members.
    RemoveLearners {
        /// Node ids, comma-separated.
        #[arg(value_delimiter = ',')]
        ids: Vec<u64>,
    },
    /// Build a snapshot now.
    Snapshot,
    /// Print the node's status.
    Status,
    /// Finish a rolling upgrade: raise the cluster's data format, enabling the new build's
    /// command kinds. Refused unless every voter runs a build that reads the format.
    Finalize {
        /// The format to finalise (default: this build's newest).
        #[arg(long, default_value_t = outlast_engine::FORMAT_CURRENT)]
        format: u32,
    },
}

/// How `outlast admin` dials: as operator `operator` with the certificates in `pki` (a cluster
/// on TLS), or in clear without `pki`.
fn dialer(pki: Option<&Path>, operator: &str) -> Result<TcpDialer, String> {
    let Some(dir) = pki else { return Ok(TcpDialer::clear()) };
    let files = outlast_tls::PkiFiles::in_dir(dir);
    let cluster_file = dir.join("cluster");
    let cluster = std::fs::read_to_string(&cluster_file).map_err(|e| format!("{}: {e}", cluster_file.display()))?;
    let me = Identity::Operator(operator.to_string());
    let tls = outlast_tls::TlsFiles { ca: files.ca_cert(), cert: files.cert(&me), key: files.key(&me) };
    Ok(TcpDialer::tls(outlast_tls::Connector::new(cluster.trim(), &tls).map_err(|e| e.to_string())?))
}

pub fn run(node: &str, pki: Option<&Path>, operator: &str, action: Action) -> ExitCode {
    let dialer = match dialer(pki, operator) {
        Ok(dialer) => dialer,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let request = match action {
        Action::AddLearner { config } => match NodeConfig::load(&config) {
            Ok(config) => admin(AdminRequest::AddLearner { id: config.id, info: config.own_info() }),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        },
        Action::Voters { ids, allow_unsafe_topology } => {
            admin(AdminRequest::SetVoters { voters: ids.into_iter().collect::<BTreeSet<_>>(), allow_unsafe_topology })
        }
        Action::RemoveLearners { ids } => admin(AdminRequest::RemoveLearners { ids: ids.into_iter().collect() }),
        Action::Snapshot => admin(AdminRequest::Snapshot),
        Action::Status => ClientRequest::Status,
        Action::Finalize { format } => ClientRequest::Submit {
            body: outlast_engine::CommandBody::FinalizeFormat { format },
            forwarded: false,
            operator_token: None,
            operator: None,
        },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(call_with(&dialer, node, &Identity::AnyNode, &request, Duration::from_secs(60))) {
        Ok(ClientReply::Done(what)) => {
            println!("{what}");
            ExitCode::SUCCESS
        }
        Ok(ClientReply::Status(status)) => {
            println!("{status:?}");
            ExitCode::SUCCESS
        }
        Ok(ClientReply::Outcome { outcome: outlast_engine::Outcome::Rejected(reject), .. }) => {
            eprintln!("error: refused: {}", reject.name());
            ExitCode::FAILURE
        }
        Ok(ClientReply::Outcome { outcome, index }) => {
            println!("{outcome:?} at index {index}");
            ExitCode::SUCCESS
        }
        Ok(
            ClientReply::Unavailable(why)
            | ClientReply::NotSent(why)
            | ClientReply::Forbidden(why)
            | ClientReply::NotEnabled(why),
        ) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
        Ok(other) => {
            eprintln!("error: unexpected reply {other:?}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {node}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn admin(request: AdminRequest) -> ClientRequest {
    ClientRequest::Admin { request, forwarded: false, operator_token: None }
}
