//! IPv6 interface addresses and indexes, read from the kernel.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// IPv6 addresses (with prefix) of every interface, by name.
pub fn ipv6_addresses() -> std::io::Result<HashMap<String, Vec<Ipv6Net>>> {
    let mut out: HashMap<String, Vec<Ipv6Net>> = HashMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; we only read it meanwhile.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose family we check first.
        if unsafe { (*ifa.ifa_addr).sa_family } != libc::AF_INET6 as libc::sa_family_t {
            continue;
        }
        // SAFETY: the family is AF_INET6, so both are sockaddr_in6; the name is NUL-terminated.
        let (addr, mask, name) = unsafe {
            let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
            let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
            (
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                Ipv6Addr::from(m.sin6_addr.s6_addr),
                std::ffi::CStr::from_ptr(ifa.ifa_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        let prefix = u128::from(mask).leading_ones() as u8;
        if let Ok(net) = Ipv6Net::new(addr, prefix) {
            out.entry(name).or_default().push(net);
        }
    }
    // SAFETY: frees the list getifaddrs allocated; no references into it remain.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The index of an interface, 0 when there is none of that name.
pub fn index(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else {
        return 0;
    };
    // SAFETY: a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
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
