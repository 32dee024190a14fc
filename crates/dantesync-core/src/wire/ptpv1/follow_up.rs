use super::bytes::{gather, put, put_scattered, u16_at};
use super::error::ParseError;
use super::timestamp::{put_timestamp, timestamp_at, Timestamp};

/// Length of a Follow_Up message, header included.
pub const FOLLOW_UP_LEN: usize = 52;

const ASSOCIATED_SEQUENCE_ID: usize = 42;
const PRECISE_ORIGIN_TIMESTAMP: usize = 44;

/// The body of a Follow_Up (bytes 40–51): the precise departure time of the Sync whose
/// sequenceId is `associated_sequence_id`. With a two-step leader (every Dante leader) this,
/// not the Sync's own originTimestamp, is the T1 to use.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct FollowUpBody {
    pub associated_sequence_id: u16,
    pub precise_origin_timestamp: Timestamp,
    /// The bytes at [`FollowUpBody::RESERVED_OFFSETS`], in that order.
    pub reserved: [u8; 2],
    /// Bytes after byte 51, if the datagram was longer than the message.
    pub trailing: Vec<u8>,
}

impl FollowUpBody {
    /// The upper half of the 32-bit word that holds associatedSequenceId.
    pub const RESERVED_OFFSETS: [usize; 2] = [40, 41];

    pub(super) fn parse(buf: &[u8]) -> Result<FollowUpBody, ParseError> {
        if buf.len() < FOLLOW_UP_LEN {
            return Err(ParseError::TooShort {
                needed: FOLLOW_UP_LEN,
                got: buf.len(),
            });
        }
        Ok(FollowUpBody {
            associated_sequence_id: u16_at(buf, ASSOCIATED_SEQUENCE_ID),
            precise_origin_timestamp: timestamp_at(buf, PRECISE_ORIGIN_TIMESTAMP),
            reserved: gather(buf, &Self::RESERVED_OFFSETS),
            trailing: buf[FOLLOW_UP_LEN..].to_vec(),
        })
    }

    pub(super) fn encoded_len(&self) -> usize {
        FOLLOW_UP_LEN + self.trailing.len()
    }

    /// Writes bytes 40.. of the message; `out` holds exactly [`FollowUpBody::encoded_len`] bytes.
    pub(super) fn write(&self, out: &mut [u8]) {
        put(
            out,
            ASSOCIATED_SEQUENCE_ID,
            &self.associated_sequence_id.to_be_bytes(),
        );
        put_timestamp(out, PRECISE_ORIGIN_TIMESTAMP, self.precise_origin_timestamp);
        put_scattered(out, &Self::RESERVED_OFFSETS, &self.reserved);
        put(out, FOLLOW_UP_LEN, &self.trailing);
    }
}
