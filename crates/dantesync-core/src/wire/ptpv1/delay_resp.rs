use super::bytes::{array_at, gather, put, put_scattered, u16_at};
use super::error::ParseError;
use super::timestamp::{put_timestamp, timestamp_at, Timestamp};
use super::uuid::Uuid;

/// Length of a Delay_Resp message, header included.
pub const DELAY_RESP_LEN: usize = 60;

const DELAY_RECEIPT_TIMESTAMP: usize = 40;
const REQUESTING_SOURCE_COMMUNICATION_TECHNOLOGY: usize = 49;
const REQUESTING_SOURCE_UUID: usize = 50;
const REQUESTING_SOURCE_PORT_ID: usize = 56;
const REQUESTING_SOURCE_SEQUENCE_ID: usize = 58;

/// The body of a Delay_Resp (bytes 40–59): when the master received a Delay_Req (T4), and
/// whose. Delay_Resp goes to the whole multicast group, so a node must match the requesting
/// fields against its own UUID, port and Delay_Req sequenceId before using T4.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct DelayRespBody {
    pub delay_receipt_timestamp: Timestamp,
    pub requesting_source_communication_technology: u8,
    pub requesting_source_uuid: Uuid,
    pub requesting_source_port_id: u16,
    pub requesting_source_sequence_id: u16,
    /// The byte at [`DelayRespBody::RESERVED_OFFSETS`].
    pub reserved: [u8; 1],
    /// Bytes after byte 59, if the datagram was longer than the message.
    pub trailing: Vec<u8>,
}

impl DelayRespBody {
    pub const RESERVED_OFFSETS: [usize; 1] = [48];

    pub(super) fn parse(buf: &[u8]) -> Result<DelayRespBody, ParseError> {
        if buf.len() < DELAY_RESP_LEN {
            return Err(ParseError::TooShort {
                needed: DELAY_RESP_LEN,
                got: buf.len(),
            });
        }
        Ok(DelayRespBody {
            delay_receipt_timestamp: timestamp_at(buf, DELAY_RECEIPT_TIMESTAMP),
            requesting_source_communication_technology: buf
                [REQUESTING_SOURCE_COMMUNICATION_TECHNOLOGY],
            requesting_source_uuid: Uuid(array_at(buf, REQUESTING_SOURCE_UUID)),
            requesting_source_port_id: u16_at(buf, REQUESTING_SOURCE_PORT_ID),
            requesting_source_sequence_id: u16_at(buf, REQUESTING_SOURCE_SEQUENCE_ID),
            reserved: gather(buf, &Self::RESERVED_OFFSETS),
            trailing: buf[DELAY_RESP_LEN..].to_vec(),
        })
    }

    pub(super) fn encoded_len(&self) -> usize {
        DELAY_RESP_LEN + self.trailing.len()
    }

    /// Writes bytes 40.. of the message; `out` holds exactly [`DelayRespBody::encoded_len`] bytes.
    pub(super) fn write(&self, out: &mut [u8]) {
        put_timestamp(out, DELAY_RECEIPT_TIMESTAMP, self.delay_receipt_timestamp);
        out[REQUESTING_SOURCE_COMMUNICATION_TECHNOLOGY] =
            self.requesting_source_communication_technology;
        put(out, REQUESTING_SOURCE_UUID, &self.requesting_source_uuid.0);
        put(
            out,
            REQUESTING_SOURCE_PORT_ID,
            &self.requesting_source_port_id.to_be_bytes(),
        );
        put(
            out,
            REQUESTING_SOURCE_SEQUENCE_ID,
            &self.requesting_source_sequence_id.to_be_bytes(),
        );
        put_scattered(out, &Self::RESERVED_OFFSETS, &self.reserved);
        put(out, DELAY_RESP_LEN, &self.trailing);
    }
}
