use std::fmt;
use std::str::FromStr;

/// A PTPv1 clock or port identity: on Ethernet, the sender's MAC address.
///
/// `Ord` compares the six bytes as one big-endian number, which is the order the best-master
/// rule of IEEE 1588-2002 uses as its last tie-break.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 6]);

impl Uuid {
    /// Placeholder identity of fields a sender left empty.
    pub const ZERO: Uuid = Uuid([0; 6]);
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// Why a text could not be read as a [`Uuid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a PTPv1 UUID: expected six hex bytes like 00:1d:c1:a1:72:3c")]
pub struct UuidParseError {
    pub text: String,
}

/// Accepts `:` or `-` separators so a MAC copied from `ip link` or from Windows works as is;
/// operators use this to name a preferred or expected leader in configuration.
impl FromStr for Uuid {
    type Err = UuidParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || UuidParseError {
            text: text.to_owned(),
        };
        let mut bytes = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(error)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| error())?;
        }
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Uuid(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_a_mac_address() {
        let uuid = Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);
        assert_eq!(uuid.to_string(), "00:1d:c1:a1:72:3c");
        assert_eq!(format!("{uuid:?}"), "Uuid(00:1d:c1:a1:72:3c)");
    }

    #[test]
    fn parses_both_separators_and_rejects_malformed_text() {
        let want = Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);
        assert_eq!("00:1d:c1:a1:72:3c".parse::<Uuid>(), Ok(want));
        assert_eq!("00-1D-C1-A1-72-3C".parse::<Uuid>(), Ok(want));
        for bad in [
            "",
            "00:1d:c1:a1:72",
            "00:1d:c1:a1:72:3c:00",
            "0:1d:c1:a1:72:3c",
            "zz:1d:c1:a1:72:3c",
            "+1:1d:c1:a1:72:3c",
        ] {
            assert_eq!(
                bad.parse::<Uuid>(),
                Err(UuidParseError {
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn orders_as_a_big_endian_number() {
        let low = Uuid([0x00, 0x1d, 0xc1, 0x00, 0x00, 0xff]);
        let high = Uuid([0x00, 0x1d, 0xc1, 0x01, 0x00, 0x00]);
        assert!(low < high);
    }
}
