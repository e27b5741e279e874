//! The few lines of systemd's notification protocol (`sd_notify(3)`) the
//! daemon needs: one datagram to `$NOTIFY_SOCKET` saying `READY=1` once SIP
//! listens, so `Type=notify` units are started only when calls can come in.
//!
//! The socket is taken out of the environment at start (before any thread
//! exists), so the embedded PostgreSQL we spawn, which speaks the same
//! protocol, cannot announce itself in our place.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

static SOCKET: OnceLock<Option<String>> = OnceLock::new();

/// Take `$NOTIFY_SOCKET` from the environment. Call first thing in `main`,
/// while the process is single-threaded.
pub fn take_socket() {
    let socket = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    if socket.is_some() {
        std::env::remove_var("NOTIFY_SOCKET");
    }
    let _ = SOCKET.set(socket);
}

/// Send `state` (e.g. `READY=1\nSTATUS=...`); a no-op outside systemd.
pub fn notify(state: &str) {
    let Some(Some(path)) = SOCKET.get() else {
        return;
    };
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(path),
    };
    let sent = UnixDatagram::unbound().and_then(|s| {
        let addr = addr?;
        s.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = sent {
        tracing::warn!(socket = %path, error = %e, "cannot notify systemd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let _ = SOCKET.set(Some(path.display().to_string()));
        notify("READY=1\nSTATUS=test");
        let mut buf = [0; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=test");
    }
}
