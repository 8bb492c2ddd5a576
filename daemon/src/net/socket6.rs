//! DHCPv6 sockets: one UDP socket per served interface, bound to [::]:547 on that device,
//! joined to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) there, reporting each datagram's
//! destination (IPV6_PKTINFO) so the policy knows unicast from multicast.

use std::io;
use std::mem::size_of;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket};

use super::mmsg::{send_all, Datagram, RecvBatch};
use super::udp::{device_udp_socket, step, FailedStep};

/// DHCPv6 server (and relay) port.
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 section 7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Errors opening a DHCPv6 socket, with the interface concerned.
#[derive(Debug, thiserror::Error)]
pub enum SocketError6 {
    /// The interface does not exist.
    #[error("interface {0} does not exist")]
    NoSuchInterface(String),
    /// A socket call failed.
    #[error("cannot open DHCPv6 socket on {iface}: {step}: {source}")]
    Open {
        /// Interface.
        iface: String,
        /// Which call failed.
        step: &'static str,
        /// Cause.
        source: io::Error,
    },
}

/// Where a received datagram came from and went to, as DHCPv6 needs it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Source address and port (scope id set for link-local sources).
    pub from: SocketAddrV6,
    /// Destination was a multicast address.
    pub multicast: bool,
}

impl Received {
    /// The addressing of a datagram [`Socket6::recv_batch`] took; `None` for a sender that is
    /// not IPv6 (which an IPv6-only socket never reports).
    pub fn of(datagram: &Datagram<'_>) -> Option<Self> {
        match datagram.from {
            SocketAddr::V6(from) => Some(Received {
                from,
                multicast: datagram.destination.is_some_and(|d| d.is_multicast()),
            }),
            SocketAddr::V4(_) => None,
        }
    }
}

/// A socket receiving DHCPv6 on one interface.
#[derive(Debug)]
pub struct Socket6 {
    socket: Socket,
    iface: String,
    index: u32,
}

impl Socket6 {
    /// Opens [::]:547 on `iface` (SO_BINDTODEVICE), joins ff02::1:2, non-blocking.
    pub fn open(iface: &str) -> Result<Self, SocketError6> {
        let index = super::iface6::index(iface);
        if index == 0 {
            return Err(SocketError6::NoSuchInterface(iface.to_string()));
        }
        let opened = device_udp_socket(Domain::IPV6, iface, |socket| {
            step(socket.set_only_v6(true), "IPV6_V6ONLY")
        })
        .and_then(|socket| {
            step(receive_packet_info(&socket), "IPV6_RECVPKTINFO")?;
            step(
                socket.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, SERVER_PORT, 0, 0).into()),
                "bind [::]:547",
            )?;
            step(
                socket.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, index),
                "join ff02::1:2",
            )?;
            step(socket.set_multicast_loop_v6(false), "IPV6_MULTICAST_LOOP")?;
            Ok(socket)
        });
        let socket = opened.map_err(|FailedStep { step, source }| SocketError6::Open {
            iface: iface.to_string(),
            step,
            source,
        })?;
        Ok(Socket6 {
            socket,
            iface: iface.to_string(),
            index,
        })
    }

    /// The interface served.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// File descriptor, for poll.
    pub fn fd(&self) -> i32 {
        self.socket.as_raw_fd()
    }

    /// Takes every datagram waiting (up to the batch's slots) in one system call, each with
    /// its destination (IPV6_PKTINFO, see [`Received::of`]); 0 when none is waiting.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.recv(self.fd())
    }

    /// Sends replies (payload, destination) in as few system calls as the kernel allows; a
    /// link-local destination without a scope is sent on this interface. `outcome(index,
    /// result)` is told each one's fate.
    pub fn send_batch(
        &self,
        replies: &[(&[u8], SocketAddrV6)],
        outcome: impl FnMut(usize, io::Result<()>),
    ) {
        let datagrams: Vec<(&[u8], SocketAddr)> = replies
            .iter()
            .map(|(bytes, to)| (*bytes, SocketAddr::V6(self.scoped(*to))))
            .collect();
        send_all(self.fd(), &datagrams, outcome);
    }

    /// Sends a reply; a link-local destination without a scope is sent on this interface.
    pub fn send(&self, bytes: &[u8], to: SocketAddrV6) -> io::Result<()> {
        let to = self.scoped(to);
        self.socket.send_to(bytes, &to.into()).map(|_| ())
    }

    /// `to`, with this interface as its scope when it is link-local without one.
    fn scoped(&self, mut to: SocketAddrV6) -> SocketAddrV6 {
        if to.scope_id() == 0 && (to.ip().segments()[0] & 0xffc0) == 0xfe80 {
            to.set_scope_id(self.index);
        }
        to
    }
}

/// Asks the kernel for each datagram's destination (IPV6_PKTINFO), which socket2 cannot set.
fn receive_packet_info(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int from a valid pointer for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            &on as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
