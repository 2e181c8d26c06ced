//! Loopback ports for nodes and servers that a process starts itself (tests, the lab, the
//! benchmarks): one chooser, from below Linux's ephemeral range (32768–60999).
//!
//! A port the kernel picked for us (bind to port 0, then close) is one it may also pick as the
//! source port of some outgoing connection (a starting node dialling a peer) before our server
//! binds it, which then fails with "address in use". Below the ephemeral range the kernel never
//! picks; only another chooser like this one could, and processes start at different offsets.
//!
//! Must never: hand out a port in the ephemeral range.

use std::io;

/// Where the ports come from.
pub const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port on 127.0.0.1 no one listens on, from `PORTS`; processes start at different offsets
/// (by pid) so that test binaries running side by side rarely probe the same ports.
pub fn free_port() -> io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(PORTS.end - PORTS.start);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORTS.start + offset as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no free port below the ephemeral range"))
}
