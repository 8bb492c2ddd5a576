//! Readiness notification in systemd's sd_notify protocol: a datagram to the socket named by
//! NOTIFY_SOCKET. Service managers and the test suite wait for READY=1 instead of sleeping.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. "READY=1") if NOTIFY_SOCKET is set; errors are logged, not fatal.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(abstract_name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}
