//! IPv6 interface addresses and indexes, read from the kernel.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::ifaddrs::{self, addresses_by_interface, InterfaceNet};

/// IPv6 addresses (with prefix) of every interface, by name.
pub fn ipv6_addresses() -> std::io::Result<HashMap<String, Vec<Ipv6Net>>> {
    addresses_by_interface()
}

impl InterfaceNet for Ipv6Net {
    const FAMILY: libc::c_int = libc::AF_INET6;

    unsafe fn from_sockaddrs(
        addr: *const libc::sockaddr,
        mask: *const libc::sockaddr,
    ) -> Option<Self> {
        // SAFETY: the caller vouches that both are sockaddr_in6.
        let (a, m) = unsafe {
            (
                &*(addr as *const libc::sockaddr_in6),
                &*(mask as *const libc::sockaddr_in6),
            )
        };
        let addr = Ipv6Addr::from(a.sin6_addr.s6_addr);
        let prefix = u128::from_be_bytes(m.sin6_addr.s6_addr).leading_ones() as u8;
        Ipv6Net::new(addr, prefix).ok()
    }
}

/// The index of an interface, 0 when there is none of that name.
pub fn index(name: &str) -> u32 {
    ifaddrs::index(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_colon_colon_1() {
        let all = super::ipv6_addresses().expect("getifaddrs");
        if let Some(lo) = all.get("lo") {
            assert!(lo.iter().any(|n| n.addr() == std::net::Ipv6Addr::LOCALHOST));
        }
        assert!(super::index("lo") > 0);
        assert_eq!(super::index("no-such-if0"), 0);
    }
}
