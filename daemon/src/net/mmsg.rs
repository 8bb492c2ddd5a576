//! Batched datagram I/O, the FFI edge of both DHCP families: `recvmmsg` takes every datagram
//! waiting on a socket (up to a batch) in one system call, and `sendmmsg` sends a batch's
//! replies in one. Under load the kernel's per-call cost dominates the packet path, so one call
//! per wake-up instead of one per datagram (plus the call that finds the socket empty) is most
//! of what a server can save.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::ptr;

use socket2::SockAddr;

/// The largest UDP payload: a slot this size never truncates a datagram.
pub const MAX_DATAGRAM: usize = 65536;

/// Room for one datagram's control messages: an IPV6_PKTINFO takes CMSG_SPACE(20) = 40 bytes;
/// the rest is margin, so a truncated control area never hides it.
const CONTROL_WORDS: usize = 16;

/// One received datagram, borrowed from its [`RecvBatch`] slot.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The payload.
    pub bytes: &'a [u8],
    /// The sender (scope id set for IPv6 link-local senders).
    pub from: SocketAddr,
    /// The address the datagram was sent to, when the socket asked for IPV6_PKTINFO.
    pub destination: Option<Ipv6Addr>,
    /// The datagram did not fit its slot (MSG_TRUNC): `bytes` holds only its start.
    pub truncated: bool,
}

/// Receive slots for up to `slots` datagrams per call, reused from call to call.
///
/// The buffers are allocated zeroed, so untouched pages cost no memory: only the pages the
/// kernel writes datagrams into become resident.
pub struct RecvBatch {
    buffers: Vec<u8>,
    slot_len: usize,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL_WORDS]>,
    with_control: bool,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
}

impl RecvBatch {
    /// Room for `slots` datagrams of up to `slot_len` bytes each; `with_control` asks for
    /// control messages (IPV6_PKTINFO) too.
    pub fn new(slots: usize, slot_len: usize, with_control: bool) -> Self {
        let slots = slots.max(1);
        RecvBatch {
            buffers: vec![0; slots * slot_len],
            slot_len,
            // SAFETY: all-zero is a valid sockaddr_storage (an AF_UNSPEC address).
            names: vec![unsafe { zeroed() }; slots],
            controls: vec![[0; CONTROL_WORDS]; slots],
            with_control,
            iovecs: Vec::with_capacity(slots),
            headers: Vec::with_capacity(slots),
            received: 0,
        }
    }

    /// Takes every datagram waiting on `fd`, up to the number of slots, without blocking;
    /// returns how many (0 when none was waiting). The previous call's datagrams are gone.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received = 0;
        let slots = self.names.len();
        self.iovecs.clear();
        for chunk in self.buffers.chunks_exact_mut(self.slot_len) {
            self.iovecs.push(libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            });
        }
        self.headers.clear();
        for i in 0..slots {
            // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths); the fields
            // that matter are set below (some libcs add padding fields, hence no literal).
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = ptr::addr_of_mut!(self.names[i]).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = ptr::addr_of_mut!(self.iovecs[i]);
            h.msg_hdr.msg_iovlen = 1;
            if self.with_control {
                h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
            }
            self.headers.push(h);
        }
        // SAFETY: `headers` holds `slots` initialised mmsghdr whose name, iovec, buffer and
        // control pointers all point into vectors of `self` that are not resized or moved
        // while the call runs, each with the length given; the kernel writes at most that.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.received = rc as usize;
        Ok(self.received)
    }

    /// The datagrams the last [`RecvBatch::recv`] took, in arrival order. A datagram whose
    /// sender is not an IPv4 or IPv6 address (which a UDP socket never reports) is skipped.
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram<'_>> {
        (0..self.received).filter_map(move |i| self.datagram(i))
    }

    fn datagram(&self, i: usize) -> Option<Datagram<'_>> {
        let header = &self.headers[i];
        let len = (header.msg_len as usize).min(self.slot_len);
        let start = i * self.slot_len;
        let from = sender(&self.names[i])?;
        let destination = if self.with_control {
            packet_info_destination(&header.msg_hdr)
        } else {
            None
        };
        Some(Datagram {
            bytes: &self.buffers[start..start + len],
            from,
            destination,
            truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }
}

/// The sender address the kernel wrote into `name`.
fn sender(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a = unsafe { &*ptr::from_ref(name).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(a.sin_addr.s_addr).into(),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                0,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The destination address of an IPV6_PKTINFO control message in `header`, if any.
fn packet_info_destination(header: &libc::msghdr) -> Option<Ipv6Addr> {
    let mut found = None;
    // SAFETY: walking the control messages the kernel wrote, with the libc macros that
    // bound-check against msg_controllen (which the kernel set to what it wrote); the data of
    // an IPV6_PKTINFO message is an in6_pktinfo, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(header);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo =
                    ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>());
                found = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            c = libc::CMSG_NXTHDR(header, c);
        }
    }
    found
}

/// Sends each datagram (payload, destination) on `fd` in as few `sendmmsg` calls as the kernel
/// allows, and reports each one's outcome to `outcome(index, result)` in order. A datagram the
/// kernel refuses is reported and skipped; the rest are still sent.
pub fn send_all(
    fd: RawFd,
    datagrams: &[(&[u8], SocketAddr)],
    mut outcome: impl FnMut(usize, io::Result<()>),
) {
    if datagrams.is_empty() {
        return;
    }
    let names: Vec<SockAddr> = datagrams.iter().map(|(_, to)| (*to).into()).collect();
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|(bytes, _)| libc::iovec {
            // The kernel only reads from a sent buffer; iovec has no const variant.
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = names
        .iter()
        .zip(iovecs.iter_mut())
        .map(|(name, iov)| {
            // SAFETY: all-zero is a valid mmsghdr; the fields that matter are set below.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = name.as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = name.len();
            h.msg_hdr.msg_iov = ptr::from_mut(iov);
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut next = 0;
    while next < headers.len() {
        let left = &mut headers[next..];
        // SAFETY: `left` holds initialised mmsghdr whose name and iovec pointers point into
        // `names`, `iovecs` and the caller's payloads, all alive and unmoved for the call; the
        // kernel reads them and writes only each header's msg_len.
        let rc = unsafe {
            libc::sendmmsg(
                fd,
                left.as_mut_ptr(),
                left.len().min(libc::UIO_MAXIOV as usize) as libc::c_uint,
                0,
            )
        };
        match rc {
            // The first datagram left failed; the kernel says why. The others get their turn.
            rc if rc < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                outcome(next, Err(e));
                next += 1;
            }
            0 => {
                outcome(next, Err(io::Error::other("sendmmsg sent nothing")));
                next += 1;
            }
            sent => {
                for i in next..next + sent as usize {
                    outcome(i, Ok(()));
                }
                next += sent as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::os::fd::AsRawFd;

    fn bound_v4() -> UdpSocket {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        s.set_nonblocking(true).expect("nonblocking");
        s
    }

    #[test]
    fn empty_socket_gives_no_datagram_and_no_error() {
        let server = bound_v4();
        let mut batch = RecvBatch::new(4, 2048, false);
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 0);
        assert_eq!(batch.datagrams().count(), 0);
    }

    #[test]
    fn one_send_call_and_one_receive_call_carry_a_batch_in_order() {
        let server = bound_v4();
        let client = bound_v4();
        let to = server.local_addr().expect("addr");
        let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let datagrams: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|p| (p.as_slice(), to)).collect();
        let mut outcomes = Vec::new();
        send_all(client.as_raw_fd(), &datagrams, |i, r| {
            outcomes.push((i, r.is_ok()))
        });
        assert_eq!(outcomes, (0..5).map(|i| (i, true)).collect::<Vec<_>>());

        // Three slots: the first call takes three, the next the remaining two.
        let mut batch = RecvBatch::new(3, 2048, false);
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 3);
        let from = client.local_addr().expect("addr");
        let got: Vec<(Vec<u8>, SocketAddr, bool)> = batch
            .datagrams()
            .map(|d| (d.bytes.to_vec(), d.from, d.truncated))
            .collect();
        assert_eq!(
            got,
            payloads[..3]
                .iter()
                .map(|p| (p.clone(), from, false))
                .collect::<Vec<_>>()
        );
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 2);
        let rest: Vec<Vec<u8>> = batch.datagrams().map(|d| d.bytes.to_vec()).collect();
        assert_eq!(rest, payloads[3..].to_vec());
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 0);
    }

    #[test]
    fn a_datagram_larger_than_its_slot_is_flagged_truncated() {
        let server = bound_v4();
        let client = bound_v4();
        let to = server.local_addr().expect("addr");
        client.send_to(&[7u8; 100], to).expect("send");
        let mut batch = RecvBatch::new(2, 64, false);
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 1);
        let d = batch.datagrams().next().expect("one datagram");
        assert!(d.truncated);
        assert_eq!(d.bytes, &[7u8; 64][..]);
    }

    #[test]
    fn a_refused_datagram_is_reported_and_the_rest_still_leave() {
        let server = bound_v4();
        let client = bound_v4();
        let to = server.local_addr().expect("addr");
        let too_big = vec![0u8; 70_000];
        let datagrams: Vec<(&[u8], SocketAddr)> =
            vec![(b"first", to), (too_big.as_slice(), to), (b"third", to)];
        let mut outcomes = Vec::new();
        send_all(client.as_raw_fd(), &datagrams, |i, r| {
            outcomes.push((i, r.is_ok()))
        });
        assert_eq!(outcomes, vec![(0, true), (1, false), (2, true)]);
        let mut batch = RecvBatch::new(4, 2048, false);
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 2);
        let got: Vec<Vec<u8>> = batch.datagrams().map(|d| d.bytes.to_vec()).collect();
        assert_eq!(got, vec![b"first".to_vec(), b"third".to_vec()]);
    }

    #[test]
    fn ipv6_packet_info_reports_the_destination() {
        let server = match UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
            Ok(s) => s,
            Err(e) => panic!("IPv6 loopback needed for this test: {e}"),
        };
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads an int from a valid pointer for the call's duration.
        let rc = unsafe {
            libc::setsockopt(
                server.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVPKTINFO,
                ptr::from_ref(&on).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let client = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind");
        client
            .send_to(b"hello", server.local_addr().expect("addr"))
            .expect("send");
        server.set_nonblocking(false).expect("blocking");
        let mut batch = RecvBatch::new(2, 2048, true);
        assert_eq!(batch.recv(server.as_raw_fd()).expect("recv"), 1);
        let d = batch.datagrams().next().expect("one datagram");
        assert_eq!(d.bytes, b"hello");
        assert_eq!(d.destination, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(d.from, client.local_addr().expect("addr"));
    }
}
