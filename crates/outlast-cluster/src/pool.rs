//! Kept-open connections to other nodes' client ports, for forwarding to the leader.
//!
//! A forward on a new connection costs a TCP round trip, and with mutual TLS a handshake round
//! trip and two signatures, before the request itself: across an ocean that is most of a
//! forwarded write's time. The pool keeps connections that completed an exchange, per address,
//! and hands them out again for a while.
//!
//! A kept connection can have died meanwhile (the peer restarted, a link dropped it); an
//! exchange that breaks on one may or may not have reached the peer. So only a caller whose
//! request may safely arrive twice (`reuse`) gets a kept connection; when one breaks, the pool
//! drops every connection it keeps to that address (they are likely dead too) and the caller
//! may try again on a fresh one. Anything else always gets a fresh connection, so "could not
//! connect" keeps meaning "nothing was sent".
//!
//! Must never: hand one connection to two callers at once, keep a connection whose last
//! exchange did not complete (it may hold half a frame), or keep more than
//! `IDLE_PER_ADDRESS_MAX` per address or any for longer than `IDLE_REUSE_MAX`.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outlast_tls::Identity;
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use crate::network::Dialer;
use crate::protocol::Connection;

/// Idle connections kept per address: the forwards in flight at once in a busy moment.
pub const IDLE_PER_ADDRESS_MAX: usize = 16;

/// Longest a connection is kept idle: well under a listener's idle timeout, so the peer has
/// not closed it yet.
pub const IDLE_REUSE_MAX: Duration = Duration::from_secs(20);

/// A connection handed out by the pool.
pub struct Lease<S> {
    /// The connection.
    pub connection: Connection<S>,
    /// Whether it was kept from an earlier exchange (else dialled just now).
    pub reused: bool,
}

type Idle<S> = Vec<(Connection<S>, Instant)>;

/// The pool of one node (cheap to clone; clones share).
pub struct Pool<D: Dialer> {
    dialer: D,
    idle: Arc<Mutex<HashMap<String, Idle<D::Stream>>>>,
}

impl<D: Dialer> Clone for Pool<D> {
    fn clone(&self) -> Self {
        Pool { dialer: self.dialer.clone(), idle: self.idle.clone() }
    }
}

impl<D: Dialer> Pool<D> {
    /// An empty pool that dials with `dialer`.
    pub fn new(dialer: D) -> Pool<D> {
        Pool { dialer, idle: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Idle<D::Stream>>> {
        // A panic while holding the lock leaves a map of whole connections: still usable.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection to `peer` at `addr`: a kept one if `reuse` and one is fresh enough, else a
    /// new one dialled within `connect_timeout`. An error means nothing was sent.
    pub async fn checkout(
        &self,
        addr: &str,
        peer: &Identity,
        reuse: bool,
        connect_timeout: Duration,
    ) -> io::Result<Lease<D::Stream>> {
        if reuse {
            let mut idle = self.lock();
            if let Some(kept) = idle.get_mut(addr) {
                kept.retain(|(_, since)| since.elapsed() < IDLE_REUSE_MAX);
                if let Some((connection, _)) = kept.pop() {
                    return Ok(Lease { connection, reused: true });
                }
            }
        }
        match tokio::time::timeout(connect_timeout, self.dialer.dial(addr, peer)).await {
            Ok(stream) => Ok(Lease { connection: Connection::over(stream?), reused: false }),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {connect_timeout:?}"))),
        }
    }

    /// Keeps `connection`, whose last exchange completed, for the next caller.
    pub fn checkin(&self, addr: &str, connection: Connection<D::Stream>) {
        let mut idle = self.lock();
        let kept = idle.entry(addr.to_string()).or_default();
        if kept.len() < IDLE_PER_ADDRESS_MAX {
            kept.push((connection, Instant::now()));
        }
    }

    /// Drops every connection kept to `addr`: one of them broke.
    pub fn forget(&self, addr: &str) {
        self.lock().remove(addr);
    }
}
