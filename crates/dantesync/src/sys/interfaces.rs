//! The host's interfaces with their IPv4 addresses (getifaddrs): the one listing the daemon
//! (to choose where to join the PTP group) and gm-sim (to resolve `--interface NAME`) share.

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

/// An interface with an IPv4 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub addr: Ipv4Addr,
    pub loopback: bool,
    pub up: bool,
}

/// Every (interface, IPv4 address) pair, from getifaddrs.
pub fn interfaces() -> io::Result<Vec<Interface>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, freed below.
    if unsafe { libc::getifaddrs(&raw mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned and not yet freed; its name,
        // when not null, is a NUL-terminated string and a non-null ifa_addr of family AF_INET is a
        // sockaddr_in.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && !ifa.ifa_name.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                out.push(Interface {
                    name: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                    addr: Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    loopback: ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0,
                    up: ifa.ifa_flags & libc::IFF_UP as u32 != 0,
                });
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
