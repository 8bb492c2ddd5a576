//! One walk over the kernel's interface address list (getifaddrs), shared by both families;
//! each family says which entries it takes and how it reads them.

use std::collections::HashMap;

/// An interface address with its prefix, of one address family.
pub(super) trait InterfaceNet: Sized {
    /// The family's `AF_*` constant; entries of other families are skipped.
    const FAMILY: libc::c_int;

    /// Reads an address and its netmask; `None` if they make no valid prefix.
    ///
    /// # Safety
    /// Both pointers are non-null and point to socket addresses of family `FAMILY`.
    unsafe fn from_sockaddrs(
        addr: *const libc::sockaddr,
        mask: *const libc::sockaddr,
    ) -> Option<Self>;
}

/// Addresses (with prefix) of family `N` of every interface, by name.
pub(super) fn addresses_by_interface<N: InterfaceNet>() -> std::io::Result<HashMap<String, Vec<N>>>
{
    let mut out: HashMap<String, Vec<N>> = HashMap::new();
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
        if unsafe { (*ifa.ifa_addr).sa_family } != N::FAMILY as libc::sa_family_t {
            continue;
        }
        // SAFETY: both are non-null and of family N::FAMILY (the netmask shares the address's
        // family); the name is NUL-terminated.
        let (net, name) = unsafe {
            (
                N::from_sockaddrs(ifa.ifa_addr, ifa.ifa_netmask),
                std::ffi::CStr::from_ptr(ifa.ifa_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        if let Some(net) = net {
            out.entry(name).or_default().push(net);
        }
    }
    // SAFETY: frees the list getifaddrs allocated; no references into it remain.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The index of an interface, 0 when there is none of that name.
pub(super) fn index(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else {
        return 0;
    };
    // SAFETY: a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}
