//! What follows the 48-byte header: NTPv4 extension fields (RFC 7822) and a legacy MAC.
//!
//! The codec does not interpret any of it (no symmetric keys, no NTS yet); it only has to know
//! where each part lies so that nothing in them is misread as header data, so that a server can
//! tell how long the request was (its reply must never be longer), and so that NTS can be added
//! later on top of these offsets.
//!
//! Rule used to tell a MAC from an extension field, for NTPv4 only (an extension field and a
//! MAC look alike, and RFC 7822 makes them distinguishable by length):
//!
//! - at most 24 bytes left: they must be a MAC, whose legal sizes are 4 (crypto-NAK, a lone
//!   zero key id), 20 (key id + MD5 or AES-CMAC) and 24 (key id + SHA-1); any other size is an
//!   error;
//! - more than 24 bytes left: an extension field starts here, with a 16-bit type and a 16-bit
//!   length covering the whole field; the length must be at least 16, a multiple of 4 and fit in
//!   the datagram, otherwise the packet is refused. RFC 7822 requires the last field of a packet
//!   without MAC to be at least 28 bytes, which this walk enforces implicitly: a shorter one
//!   would leave ≤ 24 bytes that are not a valid MAC.
//!
//! Malformed lengths are an error, not silently skipped: a packet that cannot be walked may have
//! been built by something that disagrees with us about where the header ends, and a time
//! server gains nothing by answering it. Versions 1 to 3 have no extension fields, so whatever
//! follows their header is kept as an opaque authenticator without checks.

use super::error::{ExtensionFault, ParseError};

/// Largest legacy MAC: 4-byte key id and 20-byte SHA-1 digest.
pub const MAX_MAC_LEN: usize = 24;
/// Smallest extension field allowed by RFC 7822.
pub const MIN_EXTENSION_FIELD_LEN: usize = 16;

/// One extension field, located in the datagram it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtensionField {
    /// E.g. 0x0104 NTS Unique Identifier, 0x0204 NTS Cookie, 0x0404 NTS Authenticator.
    pub field_type: u16,
    /// Byte offset of the field's type word in the datagram.
    pub offset: usize,
    /// Whole field, the 4-byte type/length word included, as the length word says.
    pub len: usize,
}

impl ExtensionField {
    /// The field's value (after its type/length word) within `datagram`, the buffer it was
    /// parsed from; `None` if `datagram` is a different, shorter buffer.
    pub fn value<'a>(&self, datagram: &'a [u8]) -> Option<&'a [u8]> {
        datagram.get(self.offset + 4..self.offset + self.len)
    }
}

/// A legacy MAC (or NTPv1-3 authenticator), located in the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac {
    pub offset: usize,
    pub len: usize,
}

impl Mac {
    /// The key id that starts the MAC (0 in a crypto-NAK); `None` for fewer than 4 bytes, which
    /// only an NTPv1-3 authenticator can have.
    pub fn key_id(&self, datagram: &[u8]) -> Option<u32> {
        let bytes = datagram.get(self.offset..self.offset + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// Everything found after the header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Extensions {
    /// In packet order.
    pub fields: Vec<ExtensionField>,
    pub mac: Option<Mac>,
    /// Length of the whole datagram, header included: the cap on the size of a reply.
    pub datagram_len: usize,
}

impl Extensions {
    /// Walks the bytes after the 48-byte header of an NTP packet of `version` (see the module
    /// documentation for the rule).
    pub(super) fn parse(datagram: &[u8], version: u8) -> Result<Extensions, ParseError> {
        let mut found = Extensions {
            datagram_len: datagram.len(),
            ..Extensions::default()
        };
        let mut offset = super::header::HEADER_LEN;
        if version < 4 {
            if datagram.len() > offset {
                found.mac = Some(Mac {
                    offset,
                    len: datagram.len() - offset,
                });
            }
            return Ok(found);
        }
        loop {
            let remaining = datagram.len() - offset;
            let malformed = |fault| ParseError::MalformedExtension { offset, fault };
            match remaining {
                0 => return Ok(found),
                4 | 20 | 24 => {
                    found.mac = Some(Mac {
                        offset,
                        len: remaining,
                    });
                    return Ok(found);
                }
                1..=MAX_MAC_LEN => return Err(malformed(ExtensionFault::BadTrailer(remaining))),
                _ => {}
            }
            let field_type = u16::from_be_bytes([datagram[offset], datagram[offset + 1]]);
            let length = u16::from_be_bytes([datagram[offset + 2], datagram[offset + 3]]);
            let len = usize::from(length);
            if len < MIN_EXTENSION_FIELD_LEN {
                return Err(malformed(ExtensionFault::FieldTooShort(length)));
            }
            if len % 4 != 0 {
                return Err(malformed(ExtensionFault::FieldNotWordAligned(length)));
            }
            if len > remaining {
                return Err(malformed(ExtensionFault::FieldOverruns {
                    length,
                    remaining,
                }));
            }
            found.fields.push(ExtensionField {
                field_type,
                offset,
                len,
            });
            offset += len;
        }
    }
}
