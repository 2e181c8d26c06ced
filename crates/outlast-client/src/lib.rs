//! A client for Outlast's Binance-compatible API that survives the loss of the node it talks to.
//!
//! It is given several endpoints (one per provider or region) and keeps using one until it
//! fails — connection refused or reset, a timeout, or a 5xx answer — then moves to the next,
//! within a bounded time (`FailoverPolicy`). Writes are retried only in a way that is safe: an
//! order keeps its client order id across every attempt on every endpoint, so the exchange
//! applies it at most once, and an answer of "outcome unknown" (503, -1007) is retried the same
//! way. A 4xx answer is the exchange's verdict and is returned, never retried.

#![deny(missing_docs)]

mod failover;
mod signing;
mod transport;
mod watch;
mod websocket;

pub use failover::{Client, ClientError, Credentials, FailoverPolicy, Health};
pub use signing::sign;
pub use transport::{public_roots, trusting, trusting_ca_file, Attempt, Transport};
pub use watch::{watch_book, BookEvent};
pub use websocket::{connect_websocket, Io, Socket};
