//! Custody: the exchange's side of each chain it follows, run on every node and active only where
//! the leader runs. A deposit watcher credits confirmed deposits through the log (`watcher`);
//! a payer signs each withdrawal, commits the bytes, then broadcasts them, and settles the
//! withdrawal from the mined receipt (`payer`). Both read the chain through a pool of
//! providers with agreement (`reads`), and a new leader resumes from the log alone.
//!
//! Must never: move money on one upstream's word, broadcast anything not committed, or keep
//! state that a new leader would need (everything it needs is in the log).

mod custody;
pub mod payer;
pub mod reads;
pub mod units;
pub mod watcher;

use std::sync::Arc;

use outlast_chain::config::ChainConfig;
use outlast_chain::pool::Pool;
use outlast_chain::signer::{HotWallet, KeyFile};
use outlast_cluster::write::Writer;
use outlast_cluster::{Dialer, NodeId};

pub use custody::{Custody, CustodyStatus};

/// What the API shows of a chain this node follows: its settings, its upstreams' health, and
/// what its custody loop last did here. Cheap to clone.
#[derive(Clone)]
pub struct ChainHandle {
    /// The chain's configuration.
    pub config: ChainConfig,
    /// Its upstreams.
    pub pool: Arc<Pool>,
    /// The custody loop's state on this node.
    pub status: Arc<std::sync::Mutex<CustodyStatus>>,
    /// The chain's JSON-RPC for dapps (`/rpc/<chain>`), over the same upstreams.
    pub server: Arc<outlast_chain::serve::Server>,
    /// The chain's canonical blocks, for subscriptions.
    pub heads: Arc<outlast_chain::heads::Heads>,
}

/// A chain followed by this node: what the API shows, and the custody task.
pub struct Followed {
    /// What the API shows.
    pub handle: ChainHandle,
    /// The custody loop.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts custody of every chain in `chains` on this node (each acts only while it leads).
pub fn start<D: Dialer>(writer: &Writer<D>, node: NodeId, chains: &[ChainConfig]) -> Result<Vec<Followed>, String> {
    let mut followed = Vec::new();
    for config in chains {
        config.validate()?;
        let wallet: Arc<dyn HotWallet> = Arc::new(KeyFile::load(&config.hot_wallet_key_file)?);
        let pool = Pool::new(config.pool())?;
        let custody = Custody::new(writer.clone(), node, config.clone(), Arc::clone(&pool), wallet)?;
        let server = Arc::new(outlast_chain::serve::Server::new(Arc::clone(&pool)));
        // Dapps' transactions are sent again until mined, a few times a poll period.
        let _follow = server.follow_broadcasts(std::time::Duration::from_millis(config.poll_ms * 4));
        let heads =
            outlast_chain::heads::Heads::follow(Arc::clone(&pool), std::time::Duration::from_millis(config.poll_ms));
        let handle = ChainHandle { config: config.clone(), pool, status: custody.status(), server, heads };
        followed.push(Followed { handle, task: tokio::spawn(custody.run()) });
    }
    Ok(followed)
}
