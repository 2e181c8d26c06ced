//! systemd's readiness protocol: under `Type=notify` the service manager waits for `READY=1` on
//! the datagram socket that `NOTIFY_SOCKET` names (a path, or `@name` in the abstract
//! namespace), and shows `STOPPING=1` while the node shuts down. A dozen lines instead of a
//! crate. Without the variable it does nothing; it must never stop a node from serving, so a
//! lost notification is only logged.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Tells the service manager `state` (`READY=1`, `STOPPING=1`), if one listens.
pub fn notify(state: &str) {
    if let Some(socket) = std::env::var_os("NOTIFY_SOCKET") {
        if let Err(error) = notify_to(&socket, state) {
            eprintln!("warning: cannot tell the service manager {state:?} at {socket:?}: {error}");
        }
    }
}

fn notify_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let address = match socket.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(socket)?,
    };
    sender.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reaches_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buffer = [0; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");

        let name = format!("outlast-notify-test-{}", std::process::id());
        let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1");
        assert!(notify_to(OsStr::new("/nonexistent/notify"), "READY=1").is_err());
    }
}
