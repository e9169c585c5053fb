//! The host's IP addresses, from getifaddrs(3): what an operator uses to find the machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every IPv4 and global IPv6 address of an interface that is not loopback, sorted.
///
/// IPv6 link-local addresses are left out: without their interface they reach nothing.
pub(crate) fn non_loopback() -> Vec<String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut addresses = Vec::new();
    let mut node = head;
    while !node.is_null() {
        // SAFETY: node is an element of the list getifaddrs returned, valid until freed.
        let interface = unsafe { &*node };
        node = interface.ifa_next;
        let loopback = interface.ifa_flags & (libc::IFF_LOOPBACK as libc::c_uint) != 0;
        if loopback || interface.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it names.
        if let Some(address) = unsafe { to_ip(interface.ifa_addr) } {
            let link_local = matches!(address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !address.is_loopback() && !link_local {
                addresses.push(address.to_string());
            }
        }
    }
    // SAFETY: head came from getifaddrs and is freed once; no reference into it survives.
    unsafe { libc::freeifaddrs(head) };
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The IP in a sockaddr, if it is IPv4 or IPv6.
///
/// # Safety
/// `address` must point at a valid sockaddr whose storage matches its `sa_family`.
unsafe fn to_ip(address: *const libc::sockaddr) -> Option<IpAddr> {
    // SAFETY: the caller guarantees a valid sockaddr; the casts follow its family.
    unsafe {
        match i32::from((*address).sa_family) {
            libc::AF_INET => {
                let v4 = &*address.cast::<libc::sockaddr_in>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                let v6 = &*address.cast::<libc::sockaddr_in6>();
                Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}
