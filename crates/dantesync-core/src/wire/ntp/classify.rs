//! Telling what kind of NTP message a datagram is from its first byte alone.
//!
//! Every NTP message, whatever its mode, keeps the version in bits 3-5 and the mode in bits 0-2
//! of byte 0 (mode 7 puts response/more flags where the others keep the leap indicator). That
//! lets a server sort out control and private messages, which are short and laid out
//! differently, before treating anything as a time packet.

use super::error::ParseError;
use super::mode::Mode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// Modes 0-5: a 48-byte time header is expected (not yet checked).
    Time { version: u8, mode: Mode },
    /// Mode 6 (ntpq): to be refused by a time server.
    Control { version: u8 },
    /// Mode 7 (ntpdc, e.g. monlist): to be refused by a time server.
    Private { version: u8 },
}

/// Reads byte 0 only; versions 1 to 4 are accepted, in every mode.
pub fn classify(datagram: &[u8]) -> Result<PacketKind, ParseError> {
    let first = *datagram.first().ok_or(ParseError::Empty)?;
    let version = (first >> 3) & 0b111;
    if !(1..=4).contains(&version) {
        return Err(ParseError::UnsupportedVersion(version));
    }
    Ok(match Mode::from_bits(first) {
        Mode::Control => PacketKind::Control { version },
        Mode::Private => PacketKind::Private { version },
        mode => PacketKind::Time { version, mode },
    })
}
