//! Which client addresses the server answers: an allow list and a deny list of subnets.

use std::net::IpAddr;

/// An address range, `addr/prefix`. Bits of `addr` below the prefix are ignored, so a range
/// read by the caller's config code (which refuses such bits) matches the same way here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    pub const fn new(addr: IpAddr, prefix: u8) -> Self {
        Subnet { addr, prefix }
    }

    /// Whether `ip` is in the range. An IPv4 client reaching an IPv6 socket appears as
    /// `::ffff:a.b.c.d` and is matched as the IPv4 address it is. A prefix longer than the
    /// address is treated as the full address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(net.to_bits().into(), ip.to_bits().into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they carry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        return true;
    }
    let shift = width - prefix;
    (a >> shift) == (b >> shift)
}

/// An empty allow list allows every address; the deny list wins over the allow list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessList {
    pub allow: Vec<Subnet>,
    pub deny: Vec<Subnet>,
}

impl AccessList {
    pub fn allows(&self, ip: IpAddr) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|s| s.contains(ip));
        allowed && !self.deny.iter().any(|s| s.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn subnets_match_on_the_prefix_bits() {
        let lan = Subnet::new(v4(10, 77, 8, 0), 24);
        assert!(lan.contains(v4(10, 77, 8, 0)));
        assert!(lan.contains(v4(10, 77, 8, 255)));
        assert!(!lan.contains(v4(10, 77, 9, 0)));
        assert!(!lan.contains(v4(10, 77, 7, 255)));
        let host = Subnet::new(v4(10, 77, 8, 2), 32);
        assert!(host.contains(v4(10, 77, 8, 2)));
        assert!(!host.contains(v4(10, 77, 8, 3)));
        assert!(Subnet::new(v4(0, 0, 0, 0), 0).contains(v4(203, 0, 113, 9)));
        // IPv4 ranges match IPv4-mapped IPv6 sources, never native IPv6 ones.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 77, 8, 40).to_ipv6_mapped());
        assert!(lan.contains(mapped));
        assert!(!lan.contains(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let ula = Subnet::new(IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7);
        assert!(ula.contains("fd12:3456::1".parse().unwrap()));
        assert!(!ula.contains("fe80::1".parse().unwrap()));
        assert!(!ula.contains(v4(10, 0, 0, 1)));
    }

    #[test]
    fn empty_allow_list_allows_all_and_deny_wins() {
        let open = AccessList::default();
        assert!(open.allows(v4(198, 51, 100, 7)));
        let list = AccessList {
            allow: vec![Subnet::new(v4(10, 0, 0, 0), 8)],
            deny: vec![Subnet::new(v4(10, 66, 0, 0), 16)],
        };
        assert!(list.allows(v4(10, 77, 8, 2)));
        assert!(!list.allows(v4(10, 66, 1, 2)));
        assert!(!list.allows(v4(192, 168, 1, 2)));
    }
}
