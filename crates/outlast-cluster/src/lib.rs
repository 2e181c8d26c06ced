//! Outlast's replication layer on openraft: everything between the engine and the network.
//!
//! Storage and state machine, apart as in openraft's examples: [`LogStore`] (the Raft log on
//! `outlast-log`; it must never interpret commands) and [`StateMachine`] (the engine applying
//! committed commands; it must never touch the log), both checked with openraft's storage test
//! suite. The network: `frame` (bounded length-prefixed postcard), `rpc` (Raft's messages),
//! [`Network`] (dials peers through a [`Dialer`], which names the peer it must reach: with TLS
//! the peer must prove it) and [`serve`] (answers them).
//!
//! The node's own jobs, one per module: `protocol` (the internal client protocol's messages and
//! a connection carrying them), `internal_server` (serves that protocol), `write` (stamping and
//! replicating commands, through the `batcher`), `read` (linearizable reads, read index,
//! catch-up), `shared_round` (concurrent reads share one read-index round), `status`, `admin`
//! (membership changes at the leader), `forward` (a follower's one hop to the leader), `pool`
//! (kept-open connections for those hops), `elections` and `preferred` (who campaigns when),
//! `authority` (who may give which command), `topology` (which failure domains the voters
//! survive), `config` (the node's file),
//! `listener` (the accept seam and the one bounded accept loop), `planted` (test-only faults,
//! feature `planted-faults`) and `node` (the assembly of all of it, started the same way by
//! `outlast node` and by the simulation, which differ only in the seams: disk, dialer,
//! listeners, clock).
//!
//! Must never: read the OS clock, entropy or network inside a node except through those seams
//! (a simulation replaces them and must stay a pure function of its seed). `Connection::open`
//! dials TCP directly (through a `TcpDialer`): it is for clients and tools outside a node.

#![deny(missing_docs)]
// openraft's `StorageError` is large, and it is the error type openraft's traits require.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod authority;
pub mod batcher;
pub mod clocks;
pub mod config;
pub mod config_check;
pub mod elections;
pub mod format;
pub mod forward;
pub mod frame;
pub mod internal_server;
pub mod listener;
mod log_store;
mod network;
pub mod node;
mod per_key;
#[cfg(feature = "planted-faults")]
pub mod planted;
pub mod pool;
pub mod ports;
mod preferred;
pub mod protocol;
pub mod quorum;
pub mod read;
pub mod restore;
pub mod rpc;
pub mod runtime;
mod server;
pub mod shared_round;
mod state_machine;
pub mod status;
pub mod stream_append;
pub mod topology;
mod types;
pub mod upgrade;
pub mod write;

pub use log_store::LogStore;
pub use network::{Dialer, Kept, Network, Peer, TcpDialer};
pub use server::{serve, CONNECTIONS_MAX};
pub use state_machine::{AppliedEvents, EngineReader, Export, StateMachine, FEED_BATCHES_MAX};
pub use types::{Batch, NodeId, NodeInfo, Raft, TypeConfig};
// Who a dial must reach (see `Dialer`), from `outlast-tls`.
pub use outlast_tls::Identity;
