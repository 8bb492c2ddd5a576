//! DHCPv4 sockets: one UDP socket per served interface, bound to port 67 on that device, and
//! reply sending per RFC 2131 4.1 (relay, unicast, to a client without an address, broadcast).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket};

use super::mmsg::{send_all, RecvBatch};
use super::udp::{device_udp_socket, step, FailedStep};

use crate::dhcp4::Destination;

/// DHCP server port.
pub const SERVER_PORT: u16 = 67;
/// DHCP client port.
pub const CLIENT_PORT: u16 = 68;

/// Errors opening a DHCPv4 socket, with the interface concerned.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The interface does not exist.
    #[error("interface {0} does not exist")]
    NoSuchInterface(String),
    /// A socket call failed.
    #[error("cannot open DHCPv4 socket on {iface}: {step}: {source}")]
    Open {
        /// Interface.
        iface: String,
        /// Which call failed.
        step: &'static str,
        /// Cause.
        source: io::Error,
    },
}

/// A socket receiving DHCPv4 on one interface.
#[derive(Debug)]
pub struct Socket4 {
    socket: Socket,
    iface: String,
}

impl Socket4 {
    /// Opens and binds 0.0.0.0:67 on `iface` (SO_BINDTODEVICE), non-blocking.
    pub fn open(iface: &str) -> Result<Self, SocketError> {
        if !super::iface::exists(iface) {
            return Err(SocketError::NoSuchInterface(iface.to_string()));
        }
        let opened = device_udp_socket(Domain::IPV4, iface, |socket| {
            step(socket.set_broadcast(true), "SO_BROADCAST")
        })
        .and_then(|socket| {
            step(
                socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, SERVER_PORT).into()),
                "bind 0.0.0.0:67",
            )?;
            Ok(socket)
        });
        let socket = opened.map_err(|FailedStep { step, source }| SocketError::Open {
            iface: iface.to_string(),
            step,
            source,
        })?;
        Ok(Socket4 {
            socket,
            iface: iface.to_string(),
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

    /// Takes every datagram waiting (up to the batch's slots) in one system call; 0 when none
    /// is waiting.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.recv(self.fd())
    }

    /// Sends replies (payload, destination), each where RFC 2131 4.1 says it goes, in as few
    /// system calls as the kernel allows; `outcome(index, result)` is told each one's fate.
    pub fn send_batch(
        &self,
        replies: &[(&[u8], Destination)],
        outcome: impl FnMut(usize, io::Result<()>),
    ) {
        let datagrams: Vec<(&[u8], SocketAddr)> = replies
            .iter()
            .map(|(bytes, destination)| (*bytes, SocketAddr::V4(self.address_of(*destination))))
            .collect();
        send_all(self.fd(), &datagrams, outcome);
    }

    /// Sends a reply where RFC 2131 4.1 says it goes.
    pub fn send(&self, bytes: &[u8], destination: Destination) -> io::Result<()> {
        let to = self.address_of(destination);
        self.socket.send_to(bytes, &to.into()).map(|_| ())
    }

    /// Where a reply to `destination` is sent (RFC 2131 4.1).
    fn address_of(&self, destination: Destination) -> SocketAddrV4 {
        match destination {
            Destination::Relay(giaddr) => SocketAddrV4::new(giaddr, SERVER_PORT),
            Destination::Unicast(ciaddr) => SocketAddrV4::new(ciaddr, CLIENT_PORT),
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            Destination::ToHardware { ip, hw } => {
                // The client has no address yet, so the kernel cannot ARP for it: tell the
                // kernel its hardware address, then unicast. Clients on other link types, or
                // a failed ARP entry, get a broadcast, which RFC 2131 allows.
                if hw.as_bytes().len() == 6 && self.set_arp(ip, hw.as_bytes()).is_ok() {
                    SocketAddrV4::new(ip, CLIENT_PORT)
                } else {
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
                }
            }
        }
    }

    fn set_arp(&self, ip: Ipv4Addr, mac: &[u8]) -> io::Result<()> {
        // SAFETY: arpreq is plain data; zeroed is a valid value.
        let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
        let pa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: sockaddr_in fits in sockaddr (both 16 bytes).
        req.arp_pa = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(pa) };
        req.arp_ha.sa_family = libc::ARPHRD_ETHER;
        for (dst, src) in req.arp_ha.sa_data.iter_mut().zip(mac) {
            *dst = *src as libc::c_char;
        }
        req.arp_flags = libc::ATF_COM;
        for (dst, src) in req.arp_dev.iter_mut().zip(self.iface.as_bytes()).take(15) {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCSARP reads a fully initialised arpreq.
        let rc = unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::SIOCSARP, &req) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
