//! Interface addresses, read from the kernel (getifaddrs).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::ifaddrs::{addresses_by_interface, index, InterfaceNet};

/// IPv4 addresses (with prefix) of every interface, by name.
pub fn ipv4_addresses() -> std::io::Result<HashMap<String, Vec<Ipv4Net>>> {
    addresses_by_interface()
}

impl InterfaceNet for Ipv4Net {
    const FAMILY: libc::c_int = libc::AF_INET;

    unsafe fn from_sockaddrs(
        addr: *const libc::sockaddr,
        mask: *const libc::sockaddr,
    ) -> Option<Self> {
        // SAFETY: the caller vouches that both are sockaddr_in.
        let (a, m) = unsafe {
            (
                &*(addr as *const libc::sockaddr_in),
                &*(mask as *const libc::sockaddr_in),
            )
        };
        let addr = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
        let prefix = u32::from_be(m.sin_addr.s_addr).leading_ones() as u8;
        Ipv4Net::new(addr, prefix).ok()
    }
}

/// Whether an interface of that name exists.
pub fn exists(name: &str) -> bool {
    index(name) != 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_127_0_0_1() {
        let all = super::ipv4_addresses().expect("getifaddrs");
        assert!(all
            .get("lo")
            .is_some_and(|v| v.iter().any(|n| n.addr() == std::net::Ipv4Addr::LOCALHOST)));
        assert!(super::exists("lo"));
        assert!(!super::exists("no-such-if0"));
    }
}
