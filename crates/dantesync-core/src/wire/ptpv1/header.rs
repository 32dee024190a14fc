use super::bytes::{array_at, gather, put, put_scattered, u16_at};
use super::control::Control;
use super::error::ParseError;
use super::flags::Flags;
use super::subdomain::Subdomain;
use super::uuid::Uuid;

/// Length of the common header every PTPv1 message starts with.
pub const HEADER_LEN: usize = 40;

/// The only versionPTP this codec reads.
pub const VERSION_PTP: u16 = 1;

/// sourceCommunicationTechnology (and the other *CommunicationTechnology fields) of an
/// IEEE 802.3 sender: every Dante device.
pub const COMMUNICATION_TECHNOLOGY_ETHERNET: u8 = 1;

const VERSION_NETWORK: usize = 2;
const SUBDOMAIN: usize = 4;
const MESSAGE_TYPE: usize = 20;
const SOURCE_COMMUNICATION_TECHNOLOGY: usize = 21;
const SOURCE_UUID: usize = 22;
const SOURCE_PORT_ID: usize = 28;
const SEQUENCE_ID: usize = 30;
const CONTROL: usize = 32;
const FLAGS: usize = 34;

/// The common PTPv1 header (bytes 0–39). versionPTP is not stored: it is 1 in every parsed
/// message and always written as 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Header {
    pub version_network: u16,
    pub subdomain: Subdomain,
    /// Always the value `control` requires in a parsed message. When writing, the value the
    /// message's variant requires is written instead, so that the bytes always parse back.
    pub message_type: u8,
    pub source_communication_technology: u8,
    pub source_uuid: Uuid,
    pub source_port_id: u16,
    pub sequence_id: u16,
    /// Always equal to the [`super::Message`] variant in a parsed message. When writing, the
    /// variant wins: it is what decides the layout of the bytes that follow.
    pub control: Control,
    pub flags: Flags,
    /// The bytes at [`Header::RESERVED_OFFSETS`], in that order; zero from conforming senders.
    pub reserved: [u8; 5],
}

impl Header {
    pub const RESERVED_OFFSETS: [usize; 5] = [33, 36, 37, 38, 39];

    /// A header as a single-port Ethernet device on the default subdomain sends it: the usual
    /// starting point for a message this node originates (a Delay_Req, or a Sync in tests).
    pub fn new(control: Control, source_uuid: Uuid, sequence_id: u16) -> Header {
        Header {
            version_network: 1,
            subdomain: Subdomain::DEFAULT,
            message_type: control.message_type(),
            source_communication_technology: COMMUNICATION_TECHNOLOGY_ETHERNET,
            source_uuid,
            source_port_id: 1,
            sequence_id,
            control,
            flags: Flags::EMPTY,
            reserved: [0; 5],
        }
    }

    /// Reads and checks the header: version, then length, then control, then messageType, so
    /// that a PTPv2 datagram is named as such even when it is shorter than a PTPv1 header.
    pub(super) fn parse(buf: &[u8]) -> Result<Header, ParseError> {
        check_version(buf)?;
        if buf.len() < HEADER_LEN {
            return Err(ParseError::TooShort {
                needed: HEADER_LEN,
                got: buf.len(),
            });
        }
        let control = Control::from_u8(buf[CONTROL]).ok_or(ParseError::BadControl(buf[CONTROL]))?;
        let message_type = buf[MESSAGE_TYPE];
        if message_type != control.message_type() {
            return Err(ParseError::BadMessageType {
                control,
                message_type,
            });
        }
        Ok(Header {
            version_network: u16_at(buf, VERSION_NETWORK),
            subdomain: Subdomain(array_at(buf, SUBDOMAIN)),
            message_type,
            source_communication_technology: buf[SOURCE_COMMUNICATION_TECHNOLOGY],
            source_uuid: Uuid(array_at(buf, SOURCE_UUID)),
            source_port_id: u16_at(buf, SOURCE_PORT_ID),
            sequence_id: u16_at(buf, SEQUENCE_ID),
            control,
            flags: Flags(u16_at(buf, FLAGS)),
            reserved: gather(buf, &Self::RESERVED_OFFSETS),
        })
    }

    /// Writes bytes 0–39 of a message whose layout is `control`'s; `out` holds at least
    /// [`HEADER_LEN`] bytes.
    pub(super) fn write(&self, control: Control, out: &mut [u8]) {
        put(out, 0, &VERSION_PTP.to_be_bytes());
        put(out, VERSION_NETWORK, &self.version_network.to_be_bytes());
        put(out, SUBDOMAIN, &self.subdomain.0);
        out[MESSAGE_TYPE] = control.message_type();
        out[SOURCE_COMMUNICATION_TECHNOLOGY] = self.source_communication_technology;
        put(out, SOURCE_UUID, &self.source_uuid.0);
        put(out, SOURCE_PORT_ID, &self.source_port_id.to_be_bytes());
        put(out, SEQUENCE_ID, &self.sequence_id.to_be_bytes());
        out[CONTROL] = control.to_u8();
        put(out, FLAGS, &self.flags.0.to_be_bytes());
        put_scattered(out, &Self::RESERVED_OFFSETS, &self.reserved);
    }
}

/// Whether `buf` starts like a PTPv1 message, without parsing the rest: lets a receive loop
/// that shares the PTP ports with PTPv2 devices drop their traffic before any other work.
pub fn is_ptpv1(buf: &[u8]) -> bool {
    check_version(buf).is_ok()
}

fn check_version(buf: &[u8]) -> Result<(), ParseError> {
    let [high, low, ..] = *buf else {
        return Err(ParseError::TooShort {
            needed: HEADER_LEN,
            got: buf.len(),
        });
    };
    let version = u16::from_be_bytes([high, low]);
    if version == VERSION_PTP {
        return Ok(());
    }
    let nibble = low & 0x0f;
    let claimed = if nibble == 1 {
        version
    } else {
        u16::from(nibble)
    };
    Err(ParseError::NotVersion1 { version: claimed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 0–39 of the first Sync in inferno-fpga/dante_ptpv1.pcap.
    const DANTE_SYNC_HEADER: [u8; 40] = [
        0x00, 0x01, 0x00, 0x01, 0x5f, 0x44, 0x46, 0x4c, 0x54, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c, 0x00, 0x01,
        0x0a, 0xa4, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn reads_every_field_of_a_dante_header() {
        let header = Header::parse(&DANTE_SYNC_HEADER).unwrap();
        assert_eq!(header.version_network, 1);
        assert_eq!(header.subdomain, Subdomain::DEFAULT);
        assert_eq!(header.message_type, 1);
        assert_eq!(header.source_communication_technology, 1);
        assert_eq!(header.source_uuid.to_string(), "00:1d:c1:a1:72:3c");
        assert_eq!(header.source_port_id, 1);
        assert_eq!(header.sequence_id, 2724);
        assert_eq!(header.control, Control::Sync);
        assert_eq!(header.flags, Flags::BOUNDARY_CLOCK | Flags::ASSIST);
        assert_eq!(header.reserved, [0; 5]);

        let mut out = [0xaa; HEADER_LEN];
        header.write(Control::Sync, &mut out);
        assert_eq!(out, DANTE_SYNC_HEADER);
    }

    #[test]
    fn new_header_matches_what_dante_sends_apart_from_identity_and_flags() {
        let mut header = Header::new(
            Control::Sync,
            Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
            2724,
        );
        header.flags = Flags(0x000c);
        assert_eq!(Header::parse(&DANTE_SYNC_HEADER), Ok(header));
    }

    #[test]
    fn ptpv2_is_named_as_version_2_whatever_its_message_type() {
        // PTPv2 Sync (messageType 0), Delay_Req (1) with transportSpecific 1, and a v2.1
        // Announce (minorVersionPTP 1 in the high nibble of byte 1).
        for start in [[0x00, 0x02], [0x11, 0x02], [0x0b, 0x12]] {
            assert_eq!(
                Header::parse(&start),
                Err(ParseError::NotVersion1 { version: 2 }),
                "{start:02x?}"
            );
            assert!(!is_ptpv1(&start));
        }
    }

    #[test]
    fn other_versions_report_the_16_bit_field() {
        assert_eq!(
            Header::parse(&[0x01, 0x01]),
            Err(ParseError::NotVersion1 { version: 257 })
        );
        assert_eq!(
            Header::parse(&[0x00, 0x00]),
            Err(ParseError::NotVersion1 { version: 0 })
        );
        assert_eq!(
            Header::parse(&[0xff, 0xf3]),
            Err(ParseError::NotVersion1 { version: 3 })
        );
    }

    #[test]
    fn short_buffers_are_too_short_for_a_header() {
        assert_eq!(
            Header::parse(&[]),
            Err(ParseError::TooShort { needed: 40, got: 0 })
        );
        assert_eq!(
            Header::parse(&[0x00]),
            Err(ParseError::TooShort { needed: 40, got: 1 })
        );
        assert_eq!(
            Header::parse(&DANTE_SYNC_HEADER[..39]),
            Err(ParseError::TooShort {
                needed: 40,
                got: 39
            })
        );
        assert!(is_ptpv1(&DANTE_SYNC_HEADER[..2]));
    }

    #[test]
    fn control_and_message_type_are_checked() {
        let mut buf = DANTE_SYNC_HEADER;
        buf[32] = 5;
        assert_eq!(Header::parse(&buf), Err(ParseError::BadControl(5)));
        buf[32] = 2; // Follow_Up with the Sync's messageType 1
        assert_eq!(
            Header::parse(&buf),
            Err(ParseError::BadMessageType {
                control: Control::FollowUp,
                message_type: 1
            })
        );
        buf[20] = 2;
        assert_eq!(
            Header::parse(&buf).map(|h| h.control),
            Ok(Control::FollowUp)
        );
        buf[32] = 1; // Delay_Req with messageType 2
        assert_eq!(
            Header::parse(&buf),
            Err(ParseError::BadMessageType {
                control: Control::DelayReq,
                message_type: 2
            })
        );
    }

    #[test]
    fn reserved_bytes_survive_a_round_trip() {
        let mut buf = DANTE_SYNC_HEADER;
        for (i, off) in Header::RESERVED_OFFSETS.into_iter().enumerate() {
            buf[off] = 0xa0 + u8::try_from(i).unwrap();
        }
        let header = Header::parse(&buf).unwrap();
        assert_eq!(header.reserved, [0xa0, 0xa1, 0xa2, 0xa3, 0xa4]);
        let mut out = [0; HEADER_LEN];
        header.write(Control::Sync, &mut out);
        assert_eq!(out, buf);
    }
}
