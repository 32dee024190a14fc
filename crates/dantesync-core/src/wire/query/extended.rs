//! The extended reply (our design, versions 1 to 3): the 64-byte compact reply, then the four
//! timestamps of an NTP-style exchange, the servo's state at full resolution, the leader, the
//! NTP state, counters and the software version; version 2 adds, in the room version 1
//! reserved, what says whether the node can be trusted right now ([`ExtendedHealth`]); version
//! 3 adds the sync mode and fleet mode's state, D, path delay and phase error
//! ([`ExtendedSyncMode`]), partly in the room version 2 left and partly past it, so its reply
//! is longer (448 bytes instead of 384). `docs/query-api.md` has the byte table and the
//! versioning rules; this file (with `health.rs` and `sync_mode.rs`) is their one
//! implementation.
//!
//! Rates travel as signed parts per trillion (ppm × 10⁶) in 64 bits, times and offsets as ns.
//! A signed field that has no value yet holds [`ABSENT`] (`i64::MIN`); a time that has none
//! holds 0. Fields are only ever appended (into the reserved tail or past it): a reader takes
//! the fields of the versions it knows and ignores the rest, so older clients read newer
//! replies.

use super::error::QueryError;
use super::health::ExtendedHealth;
use super::reply::{QueryReply, REPLY_LEN};
use super::sync_mode::{ExtendedSyncMode, SYNC_MODE_REPLY_LEN, SYNC_MODE_VERSION};
use crate::controller::RxTimestamping;

/// The newest extended version this code writes and reads.
pub const EXTENDED_VERSION: u8 = 3;
/// The version whose fields [`ExtendedHealth`] holds.
pub const HEALTH_VERSION: u8 = 2;
/// Length of a version-1 (and version-2) extended reply, the shortest extended reply: every
/// extended request must be at least this long.
pub const EXTENDED_REPLY_LEN: usize = 384;
/// Length of the longest reply this code writes (version 3's).
pub const EXTENDED_REPLY_MAX_LEN: usize = SYNC_MODE_REPLY_LEN;

/// Length of an extended reply of `version` as this code writes it, and the least length a
/// reply of that version must have to be read: 384 for versions 1 and 2, 448 from version 3
/// (a newer version's reply is written and read as far as version 3's fields go).
pub const fn extended_reply_len(version: u8) -> usize {
    if version >= SYNC_MODE_VERSION {
        SYNC_MODE_REPLY_LEN
    } else {
        EXTENDED_REPLY_LEN
    }
}

/// A signed field with no value.
pub const ABSENT: i64 = i64::MIN;
/// Offset of the client's transmit time in an extended request.
pub const REQUEST_CLIENT_TX_AT: usize = 16;

/// Where the fixed fields of the extended part sit (offsets in the whole datagram).
pub(super) mod at {
    pub const VERSION: usize = 64;
    pub const LENGTH: usize = 66;
    pub const FLAGS: usize = 68;
    pub const REQUEST_RX: usize = 72;
    pub const CLIENT_TX: usize = 80;
    pub const REPLY_TX: usize = 88;
    pub const DRIFT: usize = 96;
    pub const DRIFT_SIGMA: usize = 104;
    pub const ERROR_BOUND: usize = 112;
    pub const NATURAL_RATE: usize = 120;
    pub const APPLIED: usize = 128;
    pub const SLEW: usize = 136;
    pub const NOISE: usize = 144;
    pub const LEADER_SENDER: usize = 152;
    pub const LEADER_SENDER_PORT: usize = 158;
    pub const LEADER_GRANDMASTER: usize = 160;
    pub const LEADER_SYNC_INTERVAL: usize = 166;
    pub const LEADER_STRATUM: usize = 168;
    pub const LEADER_VARIANCE: usize = 170;
    pub const LEADER_IDENTIFIER: usize = 172;
    pub const NTP_OFFSET: usize = 176;
    pub const NTP_DELAY: usize = 184;
    pub const NTP_AT: usize = 192;
    pub const LAST_CORRECTION: usize = 200;
    pub const NTP_CORRECTIONS: usize = 208;
    pub const PHASE: usize = 216;
    pub const NTP_INTERVAL: usize = 224;
    pub const WINDOW_SAMPLES: usize = 228;
    pub const UPTIME: usize = 232;
    pub const PTP_RECEIVED: usize = 240;
    pub const PTP_SAMPLES: usize = 248;
    pub const LEADER_CHANGES: usize = 256;
    pub const QUERY_ANSWERED: usize = 264;
    pub const QUERY_DROPPED: usize = 272;
    pub const QUERY_RATE_LIMITED: usize = 280;
    pub const VERSION_TEXT: usize = 288;
    pub const NTP_SERVER: usize = 304;
    /// Version 2, in what version 1 reserved.
    pub const SINCE_LAST_PTP: usize = 336;
    pub const PTP_PACKETS_PER_S: usize = 344;
    pub const EXTERNAL_STEPS: usize = 352;
    pub const CLOCK_INTERFERENCE: usize = 360;
    pub const LEAP_PENDING: usize = 368;
    pub const KERNEL_SYNC: usize = 369;
    /// Version 3, in what version 2 reserved: the sync mode, then the fleet state, the path
    /// delay's state and D's source (one byte each); 374–375 stay reserved.
    pub const SYNC_MODE: usize = 370;
    pub const SYNC_D_EPOCH: usize = 376;
    /// Version 3, past version 2's end.
    pub const SYNC_D: usize = 384;
    pub const SYNC_D_AGE: usize = 392;
    pub const SYNC_PATH_DELAY: usize = 400;
    pub const SYNC_PHASE_ERROR: usize = 408;
    pub const SYNC_RESERVED: usize = 416;
}

const _: () = assert!(at::NTP_SERVER + NTP_SERVER_LEN == at::SINCE_LAST_PTP);
const _: () = assert!(at::KERNEL_SYNC + 1 == at::SYNC_MODE);
const _: () =
    assert!(at::SYNC_D_EPOCH + 8 == EXTENDED_REPLY_LEN && EXTENDED_REPLY_LEN == at::SYNC_D);

/// Width of the software version text.
pub const VERSION_TEXT_LEN: usize = 16;
/// Width of the NTP server text.
pub const NTP_SERVER_LEN: usize = 32;

/// Bits of the extended flags word (offset 68). Unknown bits are kept on a round trip and
/// ignored by readers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtendedFlags(pub u32);

impl ExtendedFlags {
    /// The request's receive time is the kernel's (SO_TIMESTAMPNS); else it was read in user
    /// space right after the receive returned, later by the scheduling latency.
    pub const RX_KERNEL: u32 = 1 << 0;
    /// NTP has confirmed this node's time recently.
    pub const TIME_SYNCHRONISED: u32 = 1 << 1;
    /// The last NTP check failed.
    pub const NTP_FAILING: u32 = 1 << 2;
    /// A frequency learned in an earlier run still contributes to the rate.
    pub const LEARNED_PRIOR: u32 = 1 << 3;
    /// PTP datagrams are stamped by the kernel (or the Windows stack).
    pub const PTP_RX_KERNEL: u32 = 1 << 4;
    /// PTP datagrams are stamped in user space. Neither PTP bit: none received yet.
    pub const PTP_RX_USER: u32 = 1 << 5;
    /// There is a leader; its fields are meaningful.
    pub const LEADER: u32 = 1 << 6;
    /// The leader's quality (stratum, variance, identifier, preferred) is known.
    pub const LEADER_QUALITY: u32 = 1 << 7;
    /// The leader is a Preferred Leader.
    pub const LEADER_PREFERRED: u32 = 1 << 8;
    /// No NTP server is asked: the node runs PTP-only.
    pub const PTP_ONLY: u32 = 1 << 9;

    pub const fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    /// How the node stamps PTP, as the two PTP bits say.
    pub const fn ptp_timestamping(self) -> RxTimestamping {
        if self.has(Self::PTP_RX_KERNEL) {
            RxTimestamping::Kernel
        } else if self.has(Self::PTP_RX_USER) {
            RxTimestamping::UserSpace
        } else {
            RxTimestamping::Unknown
        }
    }
}

/// The leader's identity and quality as the extended reply carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtendedLeader {
    pub sender_uuid: [u8; 6],
    pub sender_port: u16,
    pub grandmaster_uuid: [u8; 6],
    /// log2 seconds; `i8::MIN` when not advertised yet.
    pub sync_interval_log2: i8,
    pub stratum: u8,
    pub variance: i16,
    /// ASCII, NUL-padded (`DFLT`, `GPS`...).
    pub identifier: [u8; 4],
}

/// Every field of an extended reply. Rates are parts per trillion (ppm × 10⁶).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedReply {
    /// The first 64 bytes: exactly the compact reply (its system time is the reply's
    /// transmit time, [`Self::reply_tx_ns`]).
    pub base: QueryReply,
    /// The version this reply is written in (offset 64).
    pub version: u8,
    pub flags: ExtendedFlags,
    /// T2: when the request arrived, ns since the Unix epoch on the node's clock.
    pub request_rx_ns: u64,
    /// T1: the client's own transmit time, echoed untouched from the request.
    pub client_tx: u64,
    /// T3: when the reply was sent, ns since the Unix epoch on the node's clock, read last.
    pub reply_tx_ns: u64,
    pub drift_ppt: Option<i64>,
    pub drift_sigma_ppt: Option<i64>,
    /// |drift| + 3σ: the lock uncertainty LOCK and NANO are decided on.
    pub error_bound_ppt: Option<i64>,
    pub natural_rate_ppt: Option<i64>,
    pub applied_ppt: i64,
    pub slew_ppt: i64,
    /// Timestamp noise around the rate fit, ns.
    pub noise_ns: Option<i64>,
    pub leader: ExtendedLeader,
    pub ntp_offset_ns: Option<i64>,
    pub ntp_delay_ns: Option<i64>,
    /// When the last NTP check completed, ns since the Unix epoch (0: never).
    pub ntp_at_ns: u64,
    /// When NTP last corrected the clock, ns since the Unix epoch (0: never).
    pub last_correction_ns: u64,
    pub ntp_corrections: u64,
    /// Integral of the drift since the last NTP correction, ns.
    pub accumulated_phase_ns: i64,
    /// How long until the next NTP check, ms.
    pub ntp_interval_ms: u32,
    pub window_samples: u32,
    pub uptime_ns: u64,
    pub ptp_received: u64,
    pub ptp_samples: u64,
    pub leader_changes: u64,
    pub query_answered: u64,
    pub query_dropped: u64,
    pub query_rate_limited: u64,
    /// ASCII, NUL-padded.
    pub software_version: [u8; VERSION_TEXT_LEN],
    /// The configured NTP server as text, UTF-8 NUL-padded (empty when PTP-only).
    pub ntp_server: [u8; NTP_SERVER_LEN],
    /// Version 2's fields: `Some` exactly when `version` is 2 or newer (a version-1 reply, from
    /// an older node, has none and its bytes 336–383 are zero).
    pub health: Option<ExtendedHealth>,
    /// Version 3's fields: `Some` exactly when `version` is 3 or newer (a reply of version 1 or
    /// 2, from an older node or to a request too short for version 3, has none).
    pub sync_mode: Option<ExtendedSyncMode>,
}

/// ppm as signed parts per trillion, rounded and saturated; NaN is absent.
pub fn ppm_to_ppt(ppm: f64) -> Option<i64> {
    if ppm.is_nan() {
        return None;
    }
    // `as` saturates; i64::MIN is the absent marker, so stop one above it.
    Some(((ppm * 1e6).round() as i64).max(ABSENT + 1))
}

pub fn ppt_to_ppm(ppt: i64) -> f64 {
    ppt as f64 / 1e6
}

/// `text` NUL-padded into `N` bytes, cut at a character boundary when too long.
pub fn text_field<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

/// A NUL-padded text field as a string (invalid UTF-8 replaced).
pub fn field_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A signed field's value on the wire: [`ABSENT`] for none, a value kept off the marker.
pub(super) fn opt(v: Option<i64>) -> i64 {
    v.map_or(ABSENT, |v| v.max(ABSENT + 1))
}

/// A signed field as read: `None` for [`ABSENT`].
pub(super) fn from_opt(v: i64) -> Option<i64> {
    (v != ABSENT).then_some(v)
}

impl ExtendedReply {
    /// The reply in its version's length ([`extended_reply_len`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = extended_reply_len(self.version);
        let mut out = vec![0u8; len];
        out[..REPLY_LEN].copy_from_slice(&self.base.to_bytes());
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(at::VERSION, &[self.version]);
        put(at::LENGTH, &(len as u16).to_be_bytes());
        put(at::FLAGS, &self.flags.0.to_be_bytes());
        put(at::REQUEST_RX, &self.request_rx_ns.to_be_bytes());
        put(at::CLIENT_TX, &self.client_tx.to_be_bytes());
        put(at::REPLY_TX, &self.reply_tx_ns.to_be_bytes());
        put(at::DRIFT, &opt(self.drift_ppt).to_be_bytes());
        put(at::DRIFT_SIGMA, &opt(self.drift_sigma_ppt).to_be_bytes());
        put(at::ERROR_BOUND, &opt(self.error_bound_ppt).to_be_bytes());
        put(at::NATURAL_RATE, &opt(self.natural_rate_ppt).to_be_bytes());
        put(at::APPLIED, &self.applied_ppt.to_be_bytes());
        put(at::SLEW, &self.slew_ppt.to_be_bytes());
        put(at::NOISE, &opt(self.noise_ns).to_be_bytes());
        let l = &self.leader;
        put(at::LEADER_SENDER, &l.sender_uuid);
        put(at::LEADER_SENDER_PORT, &l.sender_port.to_be_bytes());
        put(at::LEADER_GRANDMASTER, &l.grandmaster_uuid);
        put(
            at::LEADER_SYNC_INTERVAL,
            &l.sync_interval_log2.to_be_bytes(),
        );
        put(at::LEADER_STRATUM, &[l.stratum]);
        put(at::LEADER_VARIANCE, &l.variance.to_be_bytes());
        put(at::LEADER_IDENTIFIER, &l.identifier);
        put(at::NTP_OFFSET, &opt(self.ntp_offset_ns).to_be_bytes());
        put(at::NTP_DELAY, &opt(self.ntp_delay_ns).to_be_bytes());
        put(at::NTP_AT, &self.ntp_at_ns.to_be_bytes());
        put(at::LAST_CORRECTION, &self.last_correction_ns.to_be_bytes());
        put(at::NTP_CORRECTIONS, &self.ntp_corrections.to_be_bytes());
        put(at::PHASE, &self.accumulated_phase_ns.to_be_bytes());
        put(at::NTP_INTERVAL, &self.ntp_interval_ms.to_be_bytes());
        put(at::WINDOW_SAMPLES, &self.window_samples.to_be_bytes());
        put(at::UPTIME, &self.uptime_ns.to_be_bytes());
        put(at::PTP_RECEIVED, &self.ptp_received.to_be_bytes());
        put(at::PTP_SAMPLES, &self.ptp_samples.to_be_bytes());
        put(at::LEADER_CHANGES, &self.leader_changes.to_be_bytes());
        put(at::QUERY_ANSWERED, &self.query_answered.to_be_bytes());
        put(at::QUERY_DROPPED, &self.query_dropped.to_be_bytes());
        put(
            at::QUERY_RATE_LIMITED,
            &self.query_rate_limited.to_be_bytes(),
        );
        put(at::VERSION_TEXT, &self.software_version);
        put(at::NTP_SERVER, &self.ntp_server);
        if self.version >= HEALTH_VERSION {
            self.health.unwrap_or_default().write(&mut out);
        }
        if self.version >= SYNC_MODE_VERSION {
            self.sync_mode.unwrap_or_default().write(&mut out);
        }
        // The rest (from 336 in version 1, from 370 in version 2, 374–375 and from 416 in
        // version 3) reserved, zero.
        out
    }

    /// Writes the reply's transmit time (T3, both at offset 8 and 88) and the monotonic
    /// counter into encoded bytes: the responder encodes everything first and reads the clock
    /// last, right before sending.
    ///
    /// # Panics
    /// If `bytes` is shorter than an extended reply (it is meant for [`Self::to_bytes`]'s).
    pub fn stamp_transmit(bytes: &mut [u8], reply_tx_ns: u64, monotonic: u64) {
        QueryReply::stamp_transmit(
            (&mut bytes[..REPLY_LEN]).try_into().expect("64 bytes"),
            reply_tx_ns,
            monotonic,
        );
        bytes[at::REPLY_TX..at::REPLY_TX + 8].copy_from_slice(&reply_tx_ns.to_be_bytes());
    }

    /// Reads an extended reply of version 1 or newer; what a newer version appended past the
    /// fields known here is ignored, and so are the bytes an older version reserved when the
    /// reply is of that version. A reply of version 3 or newer must be at least 448 bytes.
    pub fn parse(datagram: &[u8]) -> Result<ExtendedReply, QueryError> {
        let base = QueryReply::parse(datagram)?;
        if datagram.len() < at::FLAGS {
            return Err(QueryError::TooShort {
                len: datagram.len(),
                min: EXTENDED_REPLY_LEN,
            });
        }
        let version = datagram[at::VERSION];
        let declared = usize::from(u16::from_be_bytes([
            datagram[at::LENGTH],
            datagram[at::LENGTH + 1],
        ]));
        if version == 0 {
            return Err(QueryError::NotExtended);
        }
        let min = extended_reply_len(version);
        if declared < min || datagram.len() < declared {
            return Err(QueryError::BadExtendedLength {
                version,
                declared,
                len: datagram.len(),
                min,
            });
        }
        let b: &[u8; EXTENDED_REPLY_LEN] = datagram
            .first_chunk()
            .expect("length checked against the declared length");
        let u16_at = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        let i64_at = |at: usize| u64_at(at) as i64;
        let six = |at: usize| [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]];
        let mut software_version = [0u8; VERSION_TEXT_LEN];
        software_version.copy_from_slice(&b[at::VERSION_TEXT..at::VERSION_TEXT + VERSION_TEXT_LEN]);
        let mut ntp_server = [0u8; NTP_SERVER_LEN];
        ntp_server.copy_from_slice(&b[at::NTP_SERVER..at::NTP_SERVER + NTP_SERVER_LEN]);
        Ok(ExtendedReply {
            base,
            version,
            flags: ExtendedFlags(u32_at(at::FLAGS)),
            request_rx_ns: u64_at(at::REQUEST_RX),
            client_tx: u64_at(at::CLIENT_TX),
            reply_tx_ns: u64_at(at::REPLY_TX),
            drift_ppt: from_opt(i64_at(at::DRIFT)),
            drift_sigma_ppt: from_opt(i64_at(at::DRIFT_SIGMA)),
            error_bound_ppt: from_opt(i64_at(at::ERROR_BOUND)),
            natural_rate_ppt: from_opt(i64_at(at::NATURAL_RATE)),
            applied_ppt: i64_at(at::APPLIED),
            slew_ppt: i64_at(at::SLEW),
            noise_ns: from_opt(i64_at(at::NOISE)),
            leader: ExtendedLeader {
                sender_uuid: six(at::LEADER_SENDER),
                sender_port: u16_at(at::LEADER_SENDER_PORT),
                grandmaster_uuid: six(at::LEADER_GRANDMASTER),
                sync_interval_log2: b[at::LEADER_SYNC_INTERVAL] as i8,
                stratum: b[at::LEADER_STRATUM],
                variance: u16_at(at::LEADER_VARIANCE) as i16,
                identifier: [
                    b[at::LEADER_IDENTIFIER],
                    b[at::LEADER_IDENTIFIER + 1],
                    b[at::LEADER_IDENTIFIER + 2],
                    b[at::LEADER_IDENTIFIER + 3],
                ],
            },
            ntp_offset_ns: from_opt(i64_at(at::NTP_OFFSET)),
            ntp_delay_ns: from_opt(i64_at(at::NTP_DELAY)),
            ntp_at_ns: u64_at(at::NTP_AT),
            last_correction_ns: u64_at(at::LAST_CORRECTION),
            ntp_corrections: u64_at(at::NTP_CORRECTIONS),
            accumulated_phase_ns: i64_at(at::PHASE),
            ntp_interval_ms: u32_at(at::NTP_INTERVAL),
            window_samples: u32_at(at::WINDOW_SAMPLES),
            uptime_ns: u64_at(at::UPTIME),
            ptp_received: u64_at(at::PTP_RECEIVED),
            ptp_samples: u64_at(at::PTP_SAMPLES),
            leader_changes: u64_at(at::LEADER_CHANGES),
            query_answered: u64_at(at::QUERY_ANSWERED),
            query_dropped: u64_at(at::QUERY_DROPPED),
            query_rate_limited: u64_at(at::QUERY_RATE_LIMITED),
            software_version,
            ntp_server,
            health: (version >= HEALTH_VERSION).then(|| ExtendedHealth::read(b)),
            // The datagram is at least version 3's length (checked above).
            sync_mode: (version >= SYNC_MODE_VERSION).then(|| ExtendedSyncMode::read(datagram)),
        })
    }

    pub fn software_version_text(&self) -> String {
        field_text(&self.software_version)
    }

    pub fn ntp_server_text(&self) -> String {
        field_text(&self.ntp_server)
    }

    /// The NTP-style offset and delay of the exchange that carried this reply, given the
    /// client's receive time T4 (same clock and unit as the T1 it sent, ns since the Unix
    /// epoch).
    pub fn exchange(&self, client_rx_ns: u64) -> Exchange {
        Exchange::from_timestamps(
            self.client_tx,
            self.request_rx_ns,
            self.reply_tx_ns,
            client_rx_ns,
        )
    }
}

/// An NTP-style exchange's offset of the server from the client, and its round-trip delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// θ = ((T2 − T1) + (T3 − T4)) / 2, ns: positive when the server is ahead.
    pub offset_ns: i64,
    /// δ = (T4 − T1) − (T3 − T2), ns.
    pub delay_ns: i64,
}

impl Exchange {
    /// From T1 (client send), T2 (server receive), T3 (server send), T4 (client receive), all
    /// ns since the Unix epoch; computed in 128 bits so no input can overflow it.
    pub fn from_timestamps(t1: u64, t2: u64, t3: u64, t4: u64) -> Exchange {
        let [t1, t2, t3, t4] = [t1, t2, t3, t4].map(i128::from);
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let delay = (t4 - t1) - (t3 - t2);
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        Exchange {
            offset_ns: clamp(offset),
            delay_ns: clamp(delay),
        }
    }
}
