//! DHCPv6 sockets: one UDP socket per served interface, bound to [::]:547 on that device,
//! joined to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) there, reporting each datagram's
//! destination (IPV6_PKTINFO) so the policy knows unicast from multicast.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket};

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

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Bytes in the buffer.
    pub len: usize,
    /// Source address and port (scope id set for link-local sources).
    pub from: SocketAddrV6,
    /// Destination was a multicast address.
    pub multicast: bool,
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

    /// Receives one datagram into `buf`; `Ok(None)` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: all-zero is a valid sockaddr_in6, msghdr and iovec.
        let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut mh: libc::msghdr = unsafe { zeroed() };
        mh.msg_name = &mut from as *mut libc::sockaddr_in6 as *mut libc::c_void;
        mh.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every pointer in `mh` refers to a live buffer of the length given.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut mh, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut multicast = false;
        // SAFETY: walking the control messages the kernel wrote into `control`, with the
        // libc macros that bound-check against msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&mh);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                    let info: libc::in6_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in6_pktinfo);
                    multicast = Ipv6Addr::from(info.ipi6_addr.s6_addr).is_multicast();
                }
                c = libc::CMSG_NXTHDR(&mh, c);
            }
        }
        let addr = SocketAddrV6::new(
            Ipv6Addr::from(from.sin6_addr.s6_addr),
            u16::from_be(from.sin6_port),
            0,
            from.sin6_scope_id,
        );
        Ok(Some(Received {
            len: n as usize,
            from: addr,
            multicast,
        }))
    }

    /// Sends a reply; a link-local destination without a scope is sent on this interface.
    pub fn send(&self, bytes: &[u8], mut to: SocketAddrV6) -> io::Result<()> {
        if to.scope_id() == 0 && (to.ip().segments()[0] & 0xffc0) == 0xfe80 {
            to.set_scope_id(self.index);
        }
        self.socket.send_to(bytes, &to.into()).map(|_| ())
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
