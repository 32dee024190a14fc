use std::fmt;
use std::net::Ipv4Addr;

use super::{PTP_MULTICAST_ALT1, PTP_MULTICAST_ALT2, PTP_MULTICAST_ALT3, PTP_MULTICAST_DEFAULT};

/// The 16-byte, NUL-padded subdomain name of the PTPv1 header.
///
/// Kept as raw bytes so that whatever a sender put after the name's NUL survives a round
/// trip; [`Subdomain::as_str`] gives the name itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subdomain(pub [u8; 16]);

impl Subdomain {
    /// What every Dante leader uses.
    pub const DEFAULT: Subdomain = Subdomain::from_name("_DFLT");
    pub const ALT1: Subdomain = Subdomain::from_name("_ALT1");
    pub const ALT2: Subdomain = Subdomain::from_name("_ALT2");
    pub const ALT3: Subdomain = Subdomain::from_name("_ALT3");

    /// NUL-pads `name`; a name longer than the 16-byte field is cut at 16 bytes, as it would be
    /// on the wire.
    pub const fn from_name(name: &str) -> Subdomain {
        let name = name.as_bytes();
        let mut bytes = [0u8; 16];
        let mut i = 0;
        while i < name.len() && i < bytes.len() {
            bytes[i] = name[i];
            i += 1;
        }
        Subdomain(bytes)
    }

    /// The name up to its first NUL. A name that is not UTF-8 is cut before its first invalid
    /// byte, so this never fails on hostile input.
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let name = &self.0[..end];
        match std::str::from_utf8(name) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&name[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// The multicast group IEEE 1588-2002 assigns to the four predefined subdomains; `None`
    /// for any other name.
    pub fn multicast_group(&self) -> Option<Ipv4Addr> {
        match self.as_str() {
            "_DFLT" => Some(PTP_MULTICAST_DEFAULT),
            "_ALT1" => Some(PTP_MULTICAST_ALT1),
            "_ALT2" => Some(PTP_MULTICAST_ALT2),
            "_ALT3" => Some(PTP_MULTICAST_ALT3),
            _ => None,
        }
    }
}

impl Default for Subdomain {
    fn default() -> Self {
        Subdomain::DEFAULT
    }
}

impl fmt::Display for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subdomain({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_nul_padded_dflt() {
        let mut want = [0u8; 16];
        want[..5].copy_from_slice(b"_DFLT");
        assert_eq!(Subdomain::DEFAULT.0, want);
        assert_eq!(Subdomain::DEFAULT.as_str(), "_DFLT");
        assert_eq!(Subdomain::default(), Subdomain::DEFAULT);
    }

    #[test]
    fn name_ends_at_first_nul_even_with_bytes_after_it() {
        let mut bytes = *b"_ALT1\0garbage\0\0\0";
        assert_eq!(Subdomain(bytes).as_str(), "_ALT1");
        bytes = *b"sixteen-char-nam";
        assert_eq!(Subdomain(bytes).as_str(), "sixteen-char-nam");
        assert_eq!(
            Subdomain::from_name("a-name-longer-than-16").as_str(),
            "a-name-longer-th"
        );
    }

    #[test]
    fn invalid_utf8_is_cut_not_a_panic() {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&[b'a', b'b', 0xff, b'c']);
        assert_eq!(Subdomain(bytes).as_str(), "ab");
    }

    #[test]
    fn predefined_names_map_to_their_groups() {
        assert_eq!(
            Subdomain::DEFAULT.multicast_group(),
            Some(Ipv4Addr::new(224, 0, 1, 129))
        );
        assert_eq!(
            Subdomain::ALT1.multicast_group(),
            Some(Ipv4Addr::new(224, 0, 1, 130))
        );
        assert_eq!(
            Subdomain::ALT2.multicast_group(),
            Some(Ipv4Addr::new(224, 0, 1, 131))
        );
        assert_eq!(
            Subdomain::ALT3.multicast_group(),
            Some(Ipv4Addr::new(224, 0, 1, 132))
        );
        assert_eq!(Subdomain::from_name("studio").multicast_group(), None);
    }
}
