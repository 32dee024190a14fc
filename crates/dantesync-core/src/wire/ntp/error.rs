//! Why a datagram on the NTP port is not a usable time packet.

/// Every way [`NtpHeader::parse`](super::NtpHeader::parse) and [`classify`](super::classify)
/// can refuse a datagram. Control and private messages are errors *of parse* on purpose: code
/// that only wants time samples cannot mistake them for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty datagram")]
    Empty,
    #[error("NTP version {0} is not supported (1 to 4 are)")]
    UnsupportedVersion(u8),
    #[error("mode 6 control message (ntpq), not a time packet")]
    ControlMessage,
    #[error("mode 7 private message (ntpdc), not a time packet")]
    PrivateMessage,
    #[error("{len}-byte datagram is shorter than the 48-byte NTP header")]
    TooShort { len: usize },
    #[error("malformed NTPv4 extension area at byte {offset}: {fault}")]
    MalformedExtension {
        offset: usize,
        fault: ExtensionFault,
    },
}

/// What is wrong with the bytes after an NTPv4 header (RFC 7822 rules, see
/// [`Extensions`](super::Extensions)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionFault {
    #[error("extension field length {0} is below the 16-byte minimum")]
    FieldTooShort(u16),
    #[error("extension field length {0} is not a multiple of 4")]
    FieldNotWordAligned(u16),
    #[error("extension field length {length} runs past the {remaining} bytes left")]
    FieldOverruns { length: u16, remaining: usize },
    #[error("{0} trailing bytes are neither an extension field nor a 4, 20 or 24-byte MAC")]
    BadTrailer(usize),
}
