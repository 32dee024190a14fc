//! The 64-byte status reply, laid out exactly as the earlier DanteSync sent it.

use super::error::QueryError;
use super::units::AccumulatedPhase;
use crate::mode::Mode;

/// "DSYR".
pub const REPLY_MAGIC: u32 = 0x4453_5952;
pub const REPLY_LEN: usize = 64;

/// Byte 62. Unknown bits are kept, so a reply from a newer server re-encodes unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplyFlags(u8);

impl ReplyFlags {
    /// Bit 0: the last NTP exchanges failed, so the reported time is held, not checked.
    pub const NTP_FAILING: u8 = 0x01;
    /// Bit 1: the servo has settled.
    pub const SETTLED: u8 = 0x02;
    /// Bit 2: no NTP server is configured (PTP-only), so "NTP not failing" does not mean that
    /// NTP checks this node's time. Readers of the earlier layout ignore it (it was reserved).
    pub const NO_NTP_SERVER: u8 = 0x04;

    pub const fn new(ntp_failing: bool, settled: bool) -> Self {
        ReplyFlags((ntp_failing as u8) | ((settled as u8) << 1))
    }

    /// These flags with [`Self::NO_NTP_SERVER`] set or cleared.
    pub const fn with_no_ntp_server(self, on: bool) -> Self {
        if on {
            ReplyFlags(self.0 | Self::NO_NTP_SERVER)
        } else {
            ReplyFlags(self.0 & !Self::NO_NTP_SERVER)
        }
    }

    pub const fn from_bits(bits: u8) -> Self {
        ReplyFlags(bits)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn ntp_failing(self) -> bool {
        self.0 & Self::NTP_FAILING != 0
    }

    pub const fn settled(self) -> bool {
        self.0 & Self::SETTLED != 0
    }

    pub const fn no_ntp_server(self) -> bool {
        self.0 & Self::NO_NTP_SERVER != 0
    }
}

/// Every field of the reply, in wire order. Scaled fields carry their unit in the name:
/// "µs/s × 1000" and "ppm × 1000" are both parts per billion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueryReply {
    /// Echo of the request's id, so a tool can match replies to requests.
    pub request_id: u32,
    /// UTC, ns since the Unix epoch, read when the reply is built.
    pub system_time_ns: u64,
    /// CLOCK_MONOTONIC_RAW ns on Linux, QueryPerformanceCounter ticks on Windows: lets a tool
    /// compare nodes' counters without trusting their UTC.
    pub monotonic_counter: u64,
    pub ptp_offset_ns: i64,
    /// Drift rate of the PTP offset, µs/s × 1000.
    pub drift_rate_ppb: i32,
    /// Frequency adjustment applied to the clock, ppm × 1000.
    pub frequency_adjustment_ppb: i32,
    pub mode: Mode,
    pub is_locked: bool,
    /// All zeros when there is no grandmaster.
    pub grandmaster_uuid: [u8; 6],
    /// Units of `monotonic_counter` per second (1e9 on Linux).
    pub monotonic_frequency_hz: u64,
    pub last_ntp_offset_us: i32,
    pub accumulated_phase: AccumulatedPhase,
    pub flags: ReplyFlags,
}

impl QueryReply {
    pub fn to_bytes(&self) -> [u8; REPLY_LEN] {
        let mut out = [0u8; REPLY_LEN];
        out[0..4].copy_from_slice(&REPLY_MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&self.request_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.system_time_ns.to_be_bytes());
        out[16..24].copy_from_slice(&self.monotonic_counter.to_be_bytes());
        out[24..32].copy_from_slice(&self.ptp_offset_ns.to_be_bytes());
        out[32..36].copy_from_slice(&self.drift_rate_ppb.to_be_bytes());
        out[36..40].copy_from_slice(&self.frequency_adjustment_ppb.to_be_bytes());
        out[40] = self.mode.wire_code();
        out[41] = u8::from(self.is_locked);
        out[42..48].copy_from_slice(&self.grandmaster_uuid);
        out[48..56].copy_from_slice(&self.monotonic_frequency_hz.to_be_bytes());
        out[56..60].copy_from_slice(&self.last_ntp_offset_us.to_be_bytes());
        out[60..62].copy_from_slice(&self.accumulated_phase.as_micros().to_be_bytes());
        out[62] = self.flags.bits();
        // out[63] is reserved and stays 0.
        out
    }

    /// Writes the system time (offset 8) and the monotonic counter (offset 16) into encoded
    /// bytes, read back to back: the responder encodes everything else first and reads the
    /// clock last, right before sending.
    pub fn stamp_transmit(bytes: &mut [u8; REPLY_LEN], system_time_ns: u64, monotonic: u64) {
        bytes[8..16].copy_from_slice(&system_time_ns.to_be_bytes());
        bytes[16..24].copy_from_slice(&monotonic.to_be_bytes());
    }

    /// Reads the 64-byte base of a reply. Longer datagrams are accepted and the rest ignored,
    /// since an extended reply will start with this base; the reserved byte is ignored too, so
    /// that a future use of it does not break today's readers.
    pub fn parse(datagram: &[u8]) -> Result<QueryReply, QueryError> {
        let Some(b) = datagram.first_chunk::<REPLY_LEN>() else {
            return Err(QueryError::TooShort {
                len: datagram.len(),
                min: REPLY_LEN,
            });
        };
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        let magic = u32_at(0);
        if magic != REPLY_MAGIC {
            return Err(QueryError::BadMagic {
                found: magic,
                expected: REPLY_MAGIC,
            });
        }
        let mode = Mode::from_wire_code(b[40]).ok_or(QueryError::UnknownMode(b[40]))?;
        let is_locked = match b[41] {
            0 => false,
            1 => true,
            other => return Err(QueryError::BadLockedByte(other)),
        };
        Ok(QueryReply {
            request_id: u32_at(4),
            system_time_ns: u64_at(8),
            monotonic_counter: u64_at(16),
            ptp_offset_ns: u64_at(24) as i64,
            drift_rate_ppb: u32_at(32) as i32,
            frequency_adjustment_ppb: u32_at(36) as i32,
            mode,
            is_locked,
            grandmaster_uuid: [b[42], b[43], b[44], b[45], b[46], b[47]],
            monotonic_frequency_hz: u64_at(48),
            last_ntp_offset_us: u32_at(56) as i32,
            accumulated_phase: AccumulatedPhase::from_wire(i16::from_be_bytes([b[60], b[61]])),
            flags: ReplyFlags::from_bits(b[62]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ReplyFlags;

    #[test]
    fn no_ntp_server_is_bit_2_and_leaves_the_others() {
        let f = ReplyFlags::new(true, true).with_no_ntp_server(true);
        assert_eq!(f.bits(), 0x07);
        assert!(f.no_ntp_server() && f.ntp_failing() && f.settled());
        assert_eq!(f.with_no_ntp_server(false).bits(), 0x03);
        assert_eq!(ReplyFlags::default().with_no_ntp_server(true).bits(), 0x04);
        assert!(!ReplyFlags::new(false, true).no_ntp_server());
    }
}
