use super::bytes::{array_at, gather, i16_at, i32_at, put, put_scattered, u16_at};
use super::error::ParseError;
use super::timestamp::{put_timestamp, timestamp_at, Timestamp};
use super::uuid::Uuid;

/// Length of a Sync or Delay_Req message, header included.
pub const SYNC_LEN: usize = 124;

const ORIGIN_TIMESTAMP: usize = 40;
const EPOCH_NUMBER: usize = 48;
const CURRENT_UTC_OFFSET: usize = 50;
const GRANDMASTER_COMMUNICATION_TECHNOLOGY: usize = 53;
const GRANDMASTER_CLOCK_UUID: usize = 54;
const GRANDMASTER_PORT_ID: usize = 60;
const GRANDMASTER_SEQUENCE_ID: usize = 62;
const GRANDMASTER_CLOCK_STRATUM: usize = 67;
const GRANDMASTER_CLOCK_IDENTIFIER: usize = 68;
const GRANDMASTER_CLOCK_VARIANCE: usize = 74;
const GRANDMASTER_PREFERRED: usize = 77;
const GRANDMASTER_IS_BOUNDARY_CLOCK: usize = 79;
const SYNC_INTERVAL: usize = 83;
const LOCAL_CLOCK_VARIANCE: usize = 86;
const LOCAL_STEPS_REMOVED: usize = 90;
const LOCAL_CLOCK_STRATUM: usize = 95;
const LOCAL_CLOCK_IDENTIFIER: usize = 96;
const PARENT_COMMUNICATION_TECHNOLOGY: usize = 101;
const PARENT_UUID: usize = 102;
const PARENT_PORT_FIELD: usize = 110;
const ESTIMATED_MASTER_VARIANCE: usize = 114;
const ESTIMATED_MASTER_DRIFT: usize = 116;
const UTC_REASONABLE: usize = 123;

/// The body shared by Sync and Delay_Req (bytes 40–123).
///
/// A Dante leader fills the grandmaster fields with its own identity and quality, which is
/// what the best-master choice compares; its originTimestamp is only approximate because it
/// always sets [`super::Flags::ASSIST`] and sends the precise one in a Follow_Up.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct SyncBody {
    pub origin_timestamp: Timestamp,
    pub epoch_number: u16,
    pub current_utc_offset: i16,
    pub grandmaster_communication_technology: u8,
    pub grandmaster_clock_uuid: Uuid,
    pub grandmaster_port_id: u16,
    pub grandmaster_sequence_id: u16,
    pub grandmaster_clock_stratum: u8,
    /// Four ASCII bytes, NUL-padded (`DFLT` on Dante leaders, `GPS`, `ATOM`... elsewhere).
    pub grandmaster_clock_identifier: [u8; 4],
    pub grandmaster_clock_variance: i16,
    pub grandmaster_preferred: bool,
    pub grandmaster_is_boundary_clock: bool,
    /// log2 of the Sync period in seconds (−2 = 250 ms on Dante), read from byte 83 alone.
    /// Dante leaders and ptpd write it sign-extended to 16 bits, so byte 82 is 0xFF when it is
    /// negative; that byte is kept in `reserved` (index 10) like the other unused bytes.
    pub sync_interval: i8,
    pub local_clock_variance: i16,
    pub local_steps_removed: u16,
    pub local_clock_stratum: u8,
    pub local_clock_identifier: [u8; 4],
    pub parent_communication_technology: u8,
    pub parent_uuid: Uuid,
    pub parent_port_field: u16,
    pub estimated_master_variance: i16,
    pub estimated_master_drift: i32,
    pub utc_reasonable: bool,
    /// The bytes at [`SyncBody::RESERVED_OFFSETS`], in that order.
    pub reserved: [u8; 26],
    /// Bytes after byte 123, if the datagram was longer than the message.
    pub trailing: Vec<u8>,
}

impl SyncBody {
    /// Offsets the standard leaves unused: the padding that aligns the small fields above to
    /// 16- or 32-bit words.
    pub const RESERVED_OFFSETS: [usize; 26] = [
        52, 64, 65, 66, 72, 73, 76, 78, 80, 81, 82, 84, 85, 88, 89, 92, 93, 94, 100, 108, 109, 112,
        113, 120, 121, 122,
    ];

    /// Index in `reserved` of byte 82, the high byte of a 16-bit encoding of `sync_interval`.
    pub const SYNC_INTERVAL_HIGH_BYTE: usize = 10;

    /// `sync_interval` plus the sign extension into byte 82 that Dante leaders and ptpd write,
    /// for messages this node originates.
    pub fn set_sync_interval(&mut self, log2_seconds: i8) {
        self.sync_interval = log2_seconds;
        self.reserved[Self::SYNC_INTERVAL_HIGH_BYTE] = if log2_seconds < 0 { 0xff } else { 0 };
    }

    pub(super) fn parse(buf: &[u8]) -> Result<SyncBody, ParseError> {
        if buf.len() < SYNC_LEN {
            return Err(ParseError::TooShort {
                needed: SYNC_LEN,
                got: buf.len(),
            });
        }
        Ok(SyncBody {
            origin_timestamp: timestamp_at(buf, ORIGIN_TIMESTAMP),
            epoch_number: u16_at(buf, EPOCH_NUMBER),
            current_utc_offset: i16_at(buf, CURRENT_UTC_OFFSET),
            grandmaster_communication_technology: buf[GRANDMASTER_COMMUNICATION_TECHNOLOGY],
            grandmaster_clock_uuid: Uuid(array_at(buf, GRANDMASTER_CLOCK_UUID)),
            grandmaster_port_id: u16_at(buf, GRANDMASTER_PORT_ID),
            grandmaster_sequence_id: u16_at(buf, GRANDMASTER_SEQUENCE_ID),
            grandmaster_clock_stratum: buf[GRANDMASTER_CLOCK_STRATUM],
            grandmaster_clock_identifier: array_at(buf, GRANDMASTER_CLOCK_IDENTIFIER),
            grandmaster_clock_variance: i16_at(buf, GRANDMASTER_CLOCK_VARIANCE),
            grandmaster_preferred: bool_at(buf, GRANDMASTER_PREFERRED, "grandmasterPreferred")?,
            grandmaster_is_boundary_clock: bool_at(
                buf,
                GRANDMASTER_IS_BOUNDARY_CLOCK,
                "grandmasterIsBoundaryClock",
            )?,
            sync_interval: i8::from_be_bytes([buf[SYNC_INTERVAL]]),
            local_clock_variance: i16_at(buf, LOCAL_CLOCK_VARIANCE),
            local_steps_removed: u16_at(buf, LOCAL_STEPS_REMOVED),
            local_clock_stratum: buf[LOCAL_CLOCK_STRATUM],
            local_clock_identifier: array_at(buf, LOCAL_CLOCK_IDENTIFIER),
            parent_communication_technology: buf[PARENT_COMMUNICATION_TECHNOLOGY],
            parent_uuid: Uuid(array_at(buf, PARENT_UUID)),
            parent_port_field: u16_at(buf, PARENT_PORT_FIELD),
            estimated_master_variance: i16_at(buf, ESTIMATED_MASTER_VARIANCE),
            estimated_master_drift: i32_at(buf, ESTIMATED_MASTER_DRIFT),
            utc_reasonable: bool_at(buf, UTC_REASONABLE, "utcReasonable")?,
            reserved: gather(buf, &Self::RESERVED_OFFSETS),
            trailing: buf[SYNC_LEN..].to_vec(),
        })
    }

    pub(super) fn encoded_len(&self) -> usize {
        SYNC_LEN + self.trailing.len()
    }

    /// Writes bytes 40.. of the message; `out` holds exactly [`SyncBody::encoded_len`] bytes.
    pub(super) fn write(&self, out: &mut [u8]) {
        put_timestamp(out, ORIGIN_TIMESTAMP, self.origin_timestamp);
        put(out, EPOCH_NUMBER, &self.epoch_number.to_be_bytes());
        put(
            out,
            CURRENT_UTC_OFFSET,
            &self.current_utc_offset.to_be_bytes(),
        );
        out[GRANDMASTER_COMMUNICATION_TECHNOLOGY] = self.grandmaster_communication_technology;
        put(out, GRANDMASTER_CLOCK_UUID, &self.grandmaster_clock_uuid.0);
        put(
            out,
            GRANDMASTER_PORT_ID,
            &self.grandmaster_port_id.to_be_bytes(),
        );
        put(
            out,
            GRANDMASTER_SEQUENCE_ID,
            &self.grandmaster_sequence_id.to_be_bytes(),
        );
        out[GRANDMASTER_CLOCK_STRATUM] = self.grandmaster_clock_stratum;
        put(
            out,
            GRANDMASTER_CLOCK_IDENTIFIER,
            &self.grandmaster_clock_identifier,
        );
        put(
            out,
            GRANDMASTER_CLOCK_VARIANCE,
            &self.grandmaster_clock_variance.to_be_bytes(),
        );
        out[GRANDMASTER_PREFERRED] = u8::from(self.grandmaster_preferred);
        out[GRANDMASTER_IS_BOUNDARY_CLOCK] = u8::from(self.grandmaster_is_boundary_clock);
        put(out, SYNC_INTERVAL, &self.sync_interval.to_be_bytes());
        put(
            out,
            LOCAL_CLOCK_VARIANCE,
            &self.local_clock_variance.to_be_bytes(),
        );
        put(
            out,
            LOCAL_STEPS_REMOVED,
            &self.local_steps_removed.to_be_bytes(),
        );
        out[LOCAL_CLOCK_STRATUM] = self.local_clock_stratum;
        put(out, LOCAL_CLOCK_IDENTIFIER, &self.local_clock_identifier);
        out[PARENT_COMMUNICATION_TECHNOLOGY] = self.parent_communication_technology;
        put(out, PARENT_UUID, &self.parent_uuid.0);
        put(
            out,
            PARENT_PORT_FIELD,
            &self.parent_port_field.to_be_bytes(),
        );
        put(
            out,
            ESTIMATED_MASTER_VARIANCE,
            &self.estimated_master_variance.to_be_bytes(),
        );
        put(
            out,
            ESTIMATED_MASTER_DRIFT,
            &self.estimated_master_drift.to_be_bytes(),
        );
        out[UTC_REASONABLE] = u8::from(self.utc_reasonable);
        put_scattered(out, &Self::RESERVED_OFFSETS, &self.reserved);
        put(out, SYNC_LEN, &self.trailing);
    }
}

fn bool_at(buf: &[u8], off: usize, field: &'static str) -> Result<bool, ParseError> {
    match buf[off] {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(ParseError::BadBoolean { field, value }),
    }
}
