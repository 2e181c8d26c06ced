//! Outlast's replication layer on openraft.
//!
//! Today: the openraft type configuration, the Raft log storage on `outlast-log`
//! ([`LogStore`]) and the state machine that applies committed commands to the engine
//! ([`StateMachine`]), both checked with openraft's own storage test suite; and the TCP
//! transport ([`Network`] dials peers, [`serve`] answers them) in compact binary frames. The
//! node process and cluster membership come next (issue 3).
//!
//! Storage and state machine are separate, as in openraft's examples: the log store must never
//! interpret commands, and the state machine must never touch the log.

#![deny(missing_docs)]
// openraft's `StorageError` is large, and it is the error type openraft's traits require.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod batcher;
pub mod client;
pub mod config;
pub mod elections;
pub mod frame;
mod log_store;
mod network;
pub mod node;
#[cfg(feature = "planted-bugs")]
pub mod planted;
mod preferred;
pub mod rpc;
mod server;
mod state_machine;
pub mod topology;
mod types;

pub use log_store::LogStore;
pub use network::{Dialer, Network, Peer, TcpDialer};
pub use server::{serve, serve_connection, CONNECTIONS_MAX};
pub use state_machine::{AppliedEvents, EngineReader, StateMachine, FEED_BATCHES_MAX};
pub use types::{Batch, NodeId, NodeInfo, TypeConfig};
