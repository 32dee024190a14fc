//! Why a datagram is not a valid query request or reply.

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{len}-byte datagram is shorter than the {min}-byte minimum")]
    TooShort { len: usize, min: usize },
    #[error("magic 0x{found:08X} is not 0x{expected:08X}")]
    BadMagic { found: u32, expected: u32 },
    #[error(
        "extended request (version {version}) of {len} bytes refused: extended requests must be \
         padded to at least {min} bytes, the size of their reply, so they cannot amplify"
    )]
    ExtendedRequestNotPadded { version: u8, len: usize, min: usize },
    #[error("a compact reply (extended version byte 0) where an extended reply was expected")]
    NotExtended,
    #[error(
        "extended reply of version {version} declares {declared} bytes and is {len} bytes long; \
         that version needs at least {min}"
    )]
    BadExtendedLength {
        version: u8,
        declared: usize,
        len: usize,
        min: usize,
    },
    #[error("mode byte {0} is not one of 0 (INIT) to 5 (NTP-only)")]
    UnknownMode(u8),
    #[error("is_locked byte {0} is neither 0 nor 1")]
    BadLockedByte(u8),
}
