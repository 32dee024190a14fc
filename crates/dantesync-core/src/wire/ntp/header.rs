//! The 48-byte NTP header (RFC 5905 §7.3) shared by every time-carrying mode.

use super::classify::{classify, PacketKind};
use super::error::ParseError;
use super::extensions::Extensions;
use super::leap::Leap;
use super::mode::Mode;
use super::reference_id::ReferenceId;
use super::short_time::ShortTime;
use super::timestamp::NtpTimestamp;

pub const HEADER_LEN: usize = 48;

/// The header with every field decoded, and nothing else: what follows it is described by
/// [`Extensions`]. All fields are public because the server builds replies field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NtpHeader {
    pub leap: Leap,
    /// 1 to 4 in a parsed header; only the three low bits are written.
    pub version: u8,
    pub mode: Mode,
    /// 0 = unspecified or KoD, 1 = primary, 2-15 = secondary, 16 = unsynchronised.
    pub stratum: u8,
    /// log2 of the poll interval in seconds.
    pub poll: i8,
    /// log2 of the sender clock's precision in seconds.
    pub precision: i8,
    pub root_delay: ShortTime,
    pub root_dispersion: ShortTime,
    pub reference_id: ReferenceId,
    pub reference_ts: NtpTimestamp,
    /// T1 echoed by a server: what a client matches its reply against.
    pub origin_ts: NtpTimestamp,
    /// T2, when the request reached the server.
    pub receive_ts: NtpTimestamp,
    /// T3 (or T1 in a request), when the packet left its sender.
    pub transmit_ts: NtpTimestamp,
}

impl NtpHeader {
    /// A plain NTPv4 client request (mode 3) carrying `transmit` as its T1, the only field a
    /// server echoes back; everything else zero, as RFC 5905 clients send it.
    pub fn client_request(transmit: NtpTimestamp) -> NtpHeader {
        NtpHeader {
            leap: Leap::Unsynchronized,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: 4,
            precision: -20,
            root_delay: ShortTime::ZERO,
            root_dispersion: ShortTime::ZERO,
            reference_id: ReferenceId::from_bytes([0; 4]),
            reference_ts: NtpTimestamp::ZERO,
            origin_ts: NtpTimestamp::ZERO,
            receive_ts: NtpTimestamp::ZERO,
            transmit_ts: transmit,
        }
    }

    /// Decodes a datagram that claims to be a time packet.
    ///
    /// Refuses mode 6 and 7 messages with [`ParseError::ControlMessage`] and
    /// [`ParseError::PrivateMessage`] before looking at their length: their layouts differ and
    /// must never yield timestamps. Versions outside 1-4 are refused. Extension fields and MACs
    /// are walked, not verified (see [`Extensions`]).
    pub fn parse(datagram: &[u8]) -> Result<(NtpHeader, Extensions), ParseError> {
        let (version, mode) = match classify(datagram)? {
            PacketKind::Time { version, mode } => (version, mode),
            PacketKind::Control { .. } => return Err(ParseError::ControlMessage),
            PacketKind::Private { .. } => return Err(ParseError::PrivateMessage),
        };
        let Some(bytes) = datagram.first_chunk::<HEADER_LEN>() else {
            return Err(ParseError::TooShort {
                len: datagram.len(),
            });
        };
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let ts_at = |at: usize| {
            NtpTimestamp::from_bits((u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4)))
        };
        let header = NtpHeader {
            leap: Leap::from_bits(bytes[0] >> 6),
            version,
            mode,
            stratum: bytes[1],
            poll: bytes[2] as i8,
            precision: bytes[3] as i8,
            root_delay: ShortTime::from_bits(u32_at(4)),
            root_dispersion: ShortTime::from_bits(u32_at(8)),
            reference_id: ReferenceId::from_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
            reference_ts: ts_at(16),
            origin_ts: ts_at(24),
            receive_ts: ts_at(32),
            transmit_ts: ts_at(40),
        };
        let extensions = Extensions::parse(datagram, version)?;
        Ok((header, extensions))
    }

    /// The header's 48 bytes; any parsed header re-serialises to the bytes it came from.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = (self.leap.to_bits() << 6) | ((self.version & 0b111) << 3) | self.mode.to_bits();
        out[1] = self.stratum;
        out[2] = self.poll as u8;
        out[3] = self.precision as u8;
        out[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id.to_bytes());
        out[16..24].copy_from_slice(&self.reference_ts.to_bits().to_be_bytes());
        out[24..32].copy_from_slice(&self.origin_ts.to_bits().to_be_bytes());
        out[32..40].copy_from_slice(&self.receive_ts.to_bits().to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit_ts.to_bits().to_be_bytes());
        out
    }

    /// The kiss code when stratum is 0, where RFC 5905 puts a four-letter code in the
    /// reference id instead of a source: `RATE`, `DENY`, `RSTR` in a reply tell the client to
    /// back off; `INIT` is what an unsynchronised peer sends in its own requests. Whether to act
    /// on it (only in a reply to our request) is the client's decision.
    pub fn kiss_code(&self) -> Option<[u8; 4]> {
        (self.stratum == 0).then_some(self.reference_id.to_bytes())
    }
}
