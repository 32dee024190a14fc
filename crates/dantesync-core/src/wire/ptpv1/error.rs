use super::control::Control;

/// Why a datagram was not accepted as a PTPv1 message.
///
/// Each variant names the byte that decided it, so a log line is enough to tell a PTPv2 device
/// on the Dante group from a truncated datagram or a sender that does not follow IEEE 1588-2002.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram is not IEEE 1588-2002. AES67-mode and other PTPv2 devices share the
    /// multicast group and ports with Dante's PTPv1, so this is expected traffic: drop it.
    ///
    /// `version` is the version the datagram claims. PTPv2 and later keep it in the low nibble
    /// of byte 1 (the rest of bytes 0–1 is messageType, transportSpecific and, since
    /// 1588-2019, minorVersionPTP), so that nibble is reported when it is not 1; otherwise the
    /// whole 16-bit versionPTP of IEEE 1588-2002 is reported.
    #[error(
        "not a PTPv1 message: versionPTP is {version}, not 1 \
         (PTPv2 devices share the PTP group and ports; this datagram should be ignored)"
    )]
    NotVersion1 { version: u16 },

    /// Fewer bytes than the header or the message type needs. PTPv1 has no length field: the
    /// control field alone fixes the length, so a short datagram was cut in transit or by the
    /// receive buffer.
    #[error(
        "PTPv1 message truncated: {needed} bytes are needed, only {got} were received \
         (check the receive buffer size and any capture snap length)"
    )]
    TooShort { needed: usize, got: usize },

    /// The control field (byte 32) is not one of the five IEEE 1588-2002 message kinds.
    #[error(
        "PTPv1 control field is {0}; IEEE 1588-2002 defines only 0 (Sync), 1 (Delay_Req), \
         2 (Follow_Up), 3 (Delay_Resp) and 4 (Management)"
    )]
    BadControl(u8),

    /// The messageType (byte 20) contradicts the control field: Sync and Delay_Req are event
    /// messages (1), the others general messages (2). A contradiction means the sender is
    /// broken or the datagram is not PTP, and timestamps from it must not be trusted.
    #[error(
        "PTPv1 {control} must have messageType {} (1 = event, 2 = general), \
         but it says {message_type}",
        .control.message_type()
    )]
    BadMessageType { control: Control, message_type: u8 },

    /// A Boolean field holds something other than 0 or 1. Accepting it would either lose the
    /// actual byte (breaking the exact round trip) or guess at what the sender meant.
    #[error("PTPv1 field {field} is {value}, but a Boolean must be 0 or 1")]
    BadBoolean { field: &'static str, value: u8 },
}

/// Why a message could not be written into a caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer cannot hold the message; `needed` is [`super::Message::encoded_len`].
    #[error("buffer too small for the PTPv1 message: {needed} bytes needed, {got} available")]
    BufferTooSmall { needed: usize, got: usize },
}
