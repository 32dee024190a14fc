//! The association mode (RFC 5905 §7.3), the three low bits of the first byte.

/// All eight modes are named, not only client and server, so that a server can recognise and
/// refuse the control (6) and private (7) messages that were once abused for amplification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// ntpq's management protocol: a different, 12-byte header, never a time sample.
    Control,
    /// ntpdc's implementation-specific protocol (e.g. monlist): never a time sample.
    Private,
}

impl Mode {
    /// From the three-bit wire value; only the three low bits of `bits` are read.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0b111 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    pub const fn to_bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }

    /// True for the modes whose packets carry the 48-byte time header.
    pub const fn carries_time(self) -> bool {
        !matches!(self, Mode::Control | Mode::Private)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips() {
        for bits in 0..8u8 {
            assert_eq!(Mode::from_bits(bits).to_bits(), bits);
        }
        assert_eq!(Mode::from_bits(0x17), Mode::Private);
        assert!(!Mode::Control.carries_time());
        assert!(Mode::Reserved.carries_time());
    }
}
