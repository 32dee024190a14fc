//! The 32-bit reference identifier (RFC 5905 §7.3).
//!
//! Its meaning depends on the stratum, which the field itself does not carry: at stratum 0 it
//! is a four-letter kiss code, at stratum 1 an ASCII source name (`GPS`, `PPS`), above that the
//! upstream server's IPv4 address (or the first four bytes of an MD5 hash of an IPv6 address).
//! So this type only offers the views; the header decides which one applies.

use std::fmt;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReferenceId([u8; 4]);

impl ReferenceId {
    /// "Unsynchronised, no reference yet", what a starting peer sends.
    pub const INIT: ReferenceId = ReferenceId(*b"INIT");
    /// Kiss code: the peer stepped its clock; chrony sends it in a KoD after a step.
    pub const STEP: ReferenceId = ReferenceId(*b"STEP");
    /// Kiss code: the client polls too fast and must back off.
    pub const RATE: ReferenceId = ReferenceId(*b"RATE");
    /// Kiss code: access denied, stop sending to this server.
    pub const DENY: ReferenceId = ReferenceId(*b"DENY");
    /// Kiss code: access restricted, stop sending to this server.
    pub const RSTR: ReferenceId = ReferenceId(*b"RSTR");

    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        ReferenceId(bytes)
    }

    pub const fn to_bytes(self) -> [u8; 4] {
        self.0
    }

    /// How a synchronised server names its upstream server.
    pub const fn from_ipv4(addr: Ipv4Addr) -> Self {
        ReferenceId(addr.octets())
    }

    pub const fn to_ipv4(self) -> Ipv4Addr {
        let [a, b, c, d] = self.0;
        Ipv4Addr::new(a, b, c, d)
    }

    /// The identifier as text when it is printable ASCII, optionally right-padded with NULs
    /// (`GPS\0` reads as `GPS`); `None` otherwise, e.g. for an address.
    pub fn as_ascii(&self) -> Option<&str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(4);
        let (text, padding) = self.0.split_at(end);
        let printable = !text.is_empty() && text.iter().all(|b| b.is_ascii_graphic());
        if printable && padding.iter().all(|&b| b == 0) {
            std::str::from_utf8(text).ok()
        } else {
            None
        }
    }
}

impl fmt::Debug for ReferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_ascii() {
            Some(text) => write!(f, "ReferenceId({text:?})"),
            None => write!(f, "ReferenceId({})", self.to_ipv4()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_views() {
        assert_eq!(ReferenceId::STEP.as_ascii(), Some("STEP"));
        assert_eq!(ReferenceId::from_bytes(*b"GPS\0").as_ascii(), Some("GPS"));
        assert_eq!(ReferenceId::from_bytes([0; 4]).as_ascii(), None);
        assert_eq!(ReferenceId::from_bytes([10, 5, 27, 10]).as_ascii(), None);
        assert_eq!(ReferenceId::from_bytes(*b"G\0PS").as_ascii(), None);
    }

    #[test]
    fn ipv4_views() {
        let id = ReferenceId::from_ipv4(Ipv4Addr::new(132, 199, 7, 201));
        assert_eq!(id.to_bytes(), [0x84, 0xc7, 0x07, 0xc9]);
        assert_eq!(id.to_ipv4(), Ipv4Addr::new(132, 199, 7, 201));
        assert_eq!(format!("{id:?}"), "ReferenceId(132.199.7.201)");
        assert_eq!(format!("{:?}", ReferenceId::RATE), "ReferenceId(\"RATE\")");
    }
}
