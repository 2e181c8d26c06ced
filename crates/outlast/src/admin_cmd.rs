//! `outlast admin --node ADDR ...`: membership changes and status, through any node.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use outlast_cluster::config::NodeConfig;
use outlast_cluster::protocol::AdminRequest;
use outlast_cluster::protocol::{call, ClientReply, ClientRequest};

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
}

pub fn run(node: &str, action: Action) -> ExitCode {
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
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(call(node, &request, Duration::from_secs(60))) {
        Ok(ClientReply::Done(what)) => {
            println!("{what}");
            ExitCode::SUCCESS
        }
        Ok(ClientReply::Status(status)) => {
            println!("{status:?}");
            ExitCode::SUCCESS
        }
        Ok(ClientReply::Unavailable(why) | ClientReply::NotSent(why)) => {
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
    ClientRequest::Admin { request, forwarded: false }
}
