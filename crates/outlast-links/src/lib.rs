//! Simulated WAN links between real node processes, for `outlast up` and chaos runs.
//!
//! This kernel has no netem, so latency and loss come from userspace: one proxy listens in front
//! of each node and forwards to it. Every node dials its peers from its own loopback address
//! (127.0.1.N), so the proxy knows which node each connection comes from and applies the rule of
//! that *directed* link — source to destination for the bytes the caller sends, destination to
//! source for the replies. Rules (latency, jitter, blocked, bandwidth) live in a shared
//! `LinkTable` and take effect at once on open connections.
//!
//! A blocked direction discards its bytes: the caller sees its requests go unanswered, as in a
//! real partition, and the connection is closed when the link heals (its byte stream has a hole,
//! so it must not be reused). Nothing here knows about Raft or the engine.

#![deny(missing_docs)]

mod proxy;
mod table;

pub use proxy::{serve_proxy, ProxyStats};
pub use table::{LinkRule, LinkTable, NodeId};
