//! Socket set-up both DHCP families share: one UDP socket per served interface.

use std::io;

use socket2::{Domain, Protocol, Socket, Type};

/// A socket call that failed: which one (named as in error messages), and why.
#[derive(Debug)]
pub(super) struct FailedStep {
    /// The call, e.g. "SO_BINDTODEVICE".
    pub step: &'static str,
    /// Cause.
    pub source: io::Error,
}

/// Names the call that produced `result`, for error messages.
pub(super) fn step<T>(result: io::Result<T>, step: &'static str) -> Result<T, FailedStep> {
    result.map_err(|source| FailedStep { step, source })
}

/// A non-blocking UDP socket of `domain` that only sees traffic of `iface`, with large
/// buffers. `family_options` sets what one family needs before the socket is tied to the
/// device; binding to an address is left to the caller.
pub(super) fn device_udp_socket(
    domain: Domain,
    iface: &str,
    family_options: impl FnOnce(&Socket) -> Result<(), FailedStep>,
) -> Result<Socket, FailedStep> {
    let socket = step(
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)),
        "socket",
    )?;
    family_options(&socket)?;
    // Several interfaces each bind the server port; SO_BINDTODEVICE keeps their traffic apart.
    step(socket.set_reuse_address(true), "SO_REUSEADDR")?;
    step(
        socket.bind_device(Some(iface.as_bytes())),
        "SO_BINDTODEVICE",
    )?;
    // Bursts of clients (after an outage, say) must not overflow the default buffers.
    step(socket.set_recv_buffer_size(4 << 20), "SO_RCVBUF")?;
    step(socket.set_send_buffer_size(4 << 20), "SO_SNDBUF")?;
    step(socket.set_nonblocking(true), "O_NONBLOCK")?;
    Ok(socket)
}
