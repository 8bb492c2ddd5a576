//! Interface addresses, read from the kernel (getifaddrs).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// IPv4 addresses (with prefix) of every interface, by name.
pub fn ipv4_addresses() -> std::io::Result<HashMap<String, Vec<Ipv4Net>>> {
    let mut out: HashMap<String, Vec<Ipv4Net>> = HashMap::new();
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
        if unsafe { (*ifa.ifa_addr).sa_family } != libc::AF_INET as libc::sa_family_t {
            continue;
        }
        // SAFETY: the family is AF_INET, so both are sockaddr_in; the name is NUL-terminated.
        let (addr, mask, name) = unsafe {
            let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
            (
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                Ipv4Addr::from(u32::from_be(m.sin_addr.s_addr)),
                std::ffi::CStr::from_ptr(ifa.ifa_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        let prefix = u32::from(mask).leading_ones() as u8;
        if let Ok(net) = Ipv4Net::new(addr, prefix) {
            out.entry(name).or_default().push(net);
        }
    }
    // SAFETY: frees the list getifaddrs allocated; no references into it remain.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Whether an interface of that name exists.
pub fn exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_127_0_0_1() {
        let all = super::ipv4_addresses().unwrap();
        assert!(all
            .get("lo")
            .is_some_and(|v| v.iter().any(|n| n.addr() == std::net::Ipv4Addr::LOCALHOST)));
        assert!(super::exists("lo"));
        assert!(!super::exists("no-such-if0"));
    }
}
