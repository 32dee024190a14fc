//! The fleet announcement on the query port: a client asks the NTP master for the fleet's D
//! (or, from loopback only, for a coordinated correction now) and gets the announcement.
//!
//! Its own magic ("DSYF" requests, "DSFA" replies) rather than a kind byte in the status
//! request: a server without fleet support drops the request as malformed (silence, which
//! the client's retries report) instead of answering a status reply the client would have to
//! tell apart. Like every request newer than the compact one, it is padded to the size of its
//! reply ([`FLEET_LEN`]), so it amplifies nothing. Byte table: `docs/query-api.md`.

use super::error::QueryError;
use crate::fleet::{FleetTimescale, PendingCorrection, UtcPolicy};
use crate::source::LeaderId;
use crate::wire::ptpv1::Uuid;

/// "DSYF".
pub const FLEET_REQUEST_MAGIC: u32 = 0x4453_5946;
/// "DSFA".
pub const FLEET_REPLY_MAGIC: u32 = 0x4453_4641;
/// The version this code writes; readers take any version ≥ 1 and read the fields they know.
pub const FLEET_VERSION: u8 = 1;
/// The length of a version-1 reply, and the least length of a request.
pub const FLEET_LEN: usize = 96;

mod at {
    pub const VERSION: usize = 8;
    pub const KIND: usize = 9;
    pub const RESULT: usize = 10;
    pub const FLAGS: usize = 11;
    pub const POLICY: usize = 12;
    pub const CLIENT_TX: usize = 16;
    pub const LEADER_SENDER: usize = 24;
    pub const LEADER_PORT: usize = 30;
    pub const LEADER_GRANDMASTER: usize = 32;
    pub const EPOCH: usize = 40;
    pub const STEPS_24H: usize = 44;
    pub const D: usize = 48;
    pub const AT_LEADER: usize = 56;
    pub const RATE: usize = 64;
    pub const PENDING_AT: usize = 72;
    pub const PENDING_DELTA: usize = 80;
    pub const PENDING_EPOCH: usize = 88;
    pub const D_AGE_MS: usize = 92;
}

const FLAG_TIMESCALE: u8 = 1 << 0;
const FLAG_PENDING: u8 = 1 << 1;
const FLAG_TOO_OFTEN: u8 = 1 << 2;

/// What a fleet request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FleetKind {
    /// The announcement of D.
    Announcement,
    /// A coordinated correction of D now (answered only to loopback), then the announcement.
    CorrectNow,
    /// A kind this version does not know: answered with [`FleetResult::UnknownKind`].
    Other(u8),
}

impl FleetKind {
    pub const fn code(self) -> u8 {
        match self {
            FleetKind::Announcement => 1,
            FleetKind::CorrectNow => 2,
            FleetKind::Other(c) => c,
        }
    }

    pub const fn from_code(code: u8) -> Self {
        match code {
            1 => FleetKind::Announcement,
            2 => FleetKind::CorrectNow,
            c => FleetKind::Other(c),
        }
    }
}

/// How the request went (byte 10 of the reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FleetResult {
    Ok,
    /// This node is not the fleet's authority (it announces nothing).
    NotAuthority,
    /// The authority has no D yet.
    NoAnnouncement,
    /// A correction asked from another address than loopback.
    NotLoopback,
    /// A correction is already pending.
    Pending,
    /// Not enough NTP measurements of D for a correction.
    NoEstimate,
    /// D already agrees with UTC.
    NothingToCorrect,
    UnknownKind,
    Other(u8),
}

impl FleetResult {
    pub const fn code(self) -> u8 {
        match self {
            FleetResult::Ok => 0,
            FleetResult::NotAuthority => 1,
            FleetResult::NoAnnouncement => 2,
            FleetResult::NotLoopback => 3,
            FleetResult::Pending => 4,
            FleetResult::NoEstimate => 5,
            FleetResult::NothingToCorrect => 6,
            FleetResult::UnknownKind => 7,
            FleetResult::Other(c) => c,
        }
    }

    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => FleetResult::Ok,
            1 => FleetResult::NotAuthority,
            2 => FleetResult::NoAnnouncement,
            3 => FleetResult::NotLoopback,
            4 => FleetResult::Pending,
            5 => FleetResult::NoEstimate,
            6 => FleetResult::NothingToCorrect,
            7 => FleetResult::UnknownKind,
            c => FleetResult::Other(c),
        }
    }

    pub const fn describe(self) -> &'static str {
        match self {
            FleetResult::Ok => "ok",
            FleetResult::NotAuthority => "this node is not the fleet's authority for D",
            FleetResult::NoAnnouncement => "the authority has no D yet",
            FleetResult::NotLoopback => "corrections are accepted from loopback only",
            FleetResult::Pending => "a correction is already pending",
            FleetResult::NoEstimate => "not enough NTP measurements of D yet",
            FleetResult::NothingToCorrect => "D already agrees with UTC",
            FleetResult::UnknownKind => "the server does not know this request kind",
            FleetResult::Other(_) => "unknown result code",
        }
    }
}

/// A fleet request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FleetRequest {
    pub version: u8,
    pub kind: FleetKind,
    pub request_id: u32,
    /// The client's transmit time, echoed untouched.
    pub client_tx: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn uuid_at(b: &[u8], at: usize) -> Uuid {
    Uuid(b[at..at + 6].try_into().expect("6 bytes"))
}

fn check_head(b: &[u8], magic: u32) -> Result<(), QueryError> {
    if b.len() < 8 {
        return Err(QueryError::TooShort {
            len: b.len(),
            min: 8,
        });
    }
    let found = u32_at(b, 0);
    if found != magic {
        return Err(QueryError::BadMagic {
            found,
            expected: magic,
        });
    }
    Ok(())
}

/// Whether a datagram claims to be a fleet request (its magic), before it is parsed.
pub fn is_fleet_request(datagram: &[u8]) -> bool {
    datagram.get(..4) == Some(&FLEET_REQUEST_MAGIC.to_be_bytes()[..])
}

impl FleetRequest {
    pub fn parse(b: &[u8]) -> Result<Self, QueryError> {
        check_head(b, FLEET_REQUEST_MAGIC)?;
        let version = b.get(at::VERSION).copied().unwrap_or(0);
        if b.len() < FLEET_LEN {
            return Err(QueryError::ExtendedRequestNotPadded {
                version,
                len: b.len(),
                min: FLEET_LEN,
            });
        }
        Ok(FleetRequest {
            version,
            kind: FleetKind::from_code(b[at::KIND]),
            request_id: u32_at(b, 4),
            client_tx: u64_at(b, at::CLIENT_TX),
        })
    }

    /// Always [`FLEET_LEN`] bytes: as long as the reply.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; FLEET_LEN];
        out[..4].copy_from_slice(&FLEET_REQUEST_MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&self.request_id.to_be_bytes());
        out[at::VERSION] = self.version;
        out[at::KIND] = self.kind.code();
        out[at::CLIENT_TX..at::CLIENT_TX + 8].copy_from_slice(&self.client_tx.to_be_bytes());
        out
    }
}

/// The authority's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FleetReply {
    pub version: u8,
    pub kind: FleetKind,
    pub request_id: u32,
    pub result: FleetResult,
    /// The authority's UTC policy; None when it is not one (or the code is unknown).
    pub policy: Option<UtcPolicy>,
    pub client_tx: u64,
    /// The announcement, with its pending correction.
    pub timescale: Option<FleetTimescale>,
    pub steps_last_24h: u32,
    pub too_often: bool,
    /// ms since the authority last measured D; None before the first (or beyond u32).
    pub d_age_ms: Option<u32>,
}

fn policy_code(p: Option<UtcPolicy>) -> u8 {
    match p {
        Some(UtcPolicy::Slew) => 1,
        Some(UtcPolicy::Scheduled) => 2,
        Some(UtcPolicy::None) => 3,
        None => 0,
    }
}

fn policy_from(code: u8) -> Option<UtcPolicy> {
    match code {
        1 => Some(UtcPolicy::Slew),
        2 => Some(UtcPolicy::Scheduled),
        3 => Some(UtcPolicy::None),
        _ => None,
    }
}

impl FleetReply {
    /// An answer to `request` carrying nothing but `result`.
    pub fn empty(request: &FleetRequest, result: FleetResult) -> Self {
        FleetReply {
            version: FLEET_VERSION,
            kind: request.kind,
            request_id: request.request_id,
            result,
            policy: None,
            client_tx: request.client_tx,
            timescale: None,
            steps_last_24h: 0,
            too_often: false,
            d_age_ms: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; FLEET_LEN];
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &FLEET_REPLY_MAGIC.to_be_bytes());
        put(4, &self.request_id.to_be_bytes());
        put(at::VERSION, &[self.version]);
        put(at::KIND, &[self.kind.code()]);
        put(at::RESULT, &[self.result.code()]);
        put(at::POLICY, &[policy_code(self.policy)]);
        put(at::CLIENT_TX, &self.client_tx.to_be_bytes());
        put(at::STEPS_24H, &self.steps_last_24h.to_be_bytes());
        put(
            at::D_AGE_MS,
            &self.d_age_ms.unwrap_or(u32::MAX).to_be_bytes(),
        );
        let mut flags = if self.too_often { FLAG_TOO_OFTEN } else { 0 };
        if let Some(ts) = self.timescale {
            flags |= FLAG_TIMESCALE;
            put(at::LEADER_SENDER, &ts.leader.sender.0);
            put(at::LEADER_PORT, &ts.leader.sender_port.to_be_bytes());
            put(at::LEADER_GRANDMASTER, &ts.leader.grandmaster.0);
            put(at::EPOCH, &ts.epoch.to_be_bytes());
            put(at::D, &ts.d_ns.to_be_bytes());
            put(at::AT_LEADER, &ts.at_leader_ns.to_be_bytes());
            put(at::RATE, &ts.rate_ppb.to_be_bytes());
            if let Some(p) = ts.pending {
                flags |= FLAG_PENDING;
                put(at::PENDING_AT, &p.at_leader_ns.to_be_bytes());
                put(at::PENDING_DELTA, &p.delta_ns.to_be_bytes());
                put(at::PENDING_EPOCH, &p.epoch.to_be_bytes());
            }
        }
        put(at::FLAGS, &[flags]);
        b
    }

    pub fn parse(b: &[u8]) -> Result<Self, QueryError> {
        check_head(b, FLEET_REPLY_MAGIC)?;
        if b.len() < FLEET_LEN {
            return Err(QueryError::TooShort {
                len: b.len(),
                min: FLEET_LEN,
            });
        }
        let flags = b[at::FLAGS];
        let i64_at = |at: usize| u64_at(b, at) as i64;
        let timescale = (flags & FLAG_TIMESCALE != 0).then(|| FleetTimescale {
            leader: LeaderId {
                sender: uuid_at(b, at::LEADER_SENDER),
                sender_port: u16::from_be_bytes([b[at::LEADER_PORT], b[at::LEADER_PORT + 1]]),
                grandmaster: uuid_at(b, at::LEADER_GRANDMASTER),
            },
            epoch: u32_at(b, at::EPOCH),
            d_ns: i64_at(at::D),
            at_leader_ns: i64_at(at::AT_LEADER),
            rate_ppb: i64_at(at::RATE),
            pending: (flags & FLAG_PENDING != 0).then(|| PendingCorrection {
                at_leader_ns: i64_at(at::PENDING_AT),
                delta_ns: i64_at(at::PENDING_DELTA),
                epoch: u32_at(b, at::PENDING_EPOCH),
            }),
        });
        let age = u32_at(b, at::D_AGE_MS);
        Ok(FleetReply {
            version: b[at::VERSION],
            kind: FleetKind::from_code(b[at::KIND]),
            request_id: u32_at(b, 4),
            result: FleetResult::from_code(b[at::RESULT]),
            policy: policy_from(b[at::POLICY]),
            client_tx: u64_at(b, at::CLIENT_TX),
            timescale,
            steps_last_24h: u32_at(b, at::STEPS_24H),
            too_often: flags & FLAG_TOO_OFTEN != 0,
            d_age_ms: (age != u32::MAX).then_some(age),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: FleetKind) -> FleetRequest {
        FleetRequest {
            version: FLEET_VERSION,
            kind,
            request_id: 0xdead_beef,
            client_tx: 1_785_427_891_123_456_789,
        }
    }

    fn full_reply() -> FleetReply {
        FleetReply {
            result: FleetResult::Ok,
            policy: Some(UtcPolicy::Scheduled),
            timescale: Some(FleetTimescale {
                leader: LeaderId {
                    sender: Uuid([0, 0x1d, 0xc1, 9, 8, 7]),
                    sender_port: 3,
                    grandmaster: Uuid([0, 0x1d, 0xc1, 1, 2, 3]),
                },
                epoch: 41,
                d_ns: 1_785_427_000_000_000_000,
                at_leader_ns: -5,
                rate_ppb: -12_345,
                pending: Some(PendingCorrection {
                    at_leader_ns: 900_000_000_000,
                    delta_ns: -200_000_000,
                    epoch: 42,
                }),
            }),
            steps_last_24h: 3,
            too_often: true,
            d_age_ms: Some(12_500),
            ..FleetReply::empty(&request(FleetKind::CorrectNow), FleetResult::Ok)
        }
    }

    #[test]
    fn requests_round_trip_and_are_as_long_as_the_reply() {
        for kind in [
            FleetKind::Announcement,
            FleetKind::CorrectNow,
            FleetKind::Other(77),
        ] {
            let bytes = request(kind).to_bytes();
            assert_eq!(bytes.len(), FLEET_LEN);
            assert_eq!(&bytes[..4], b"DSYF");
            assert!(is_fleet_request(&bytes));
            assert_eq!(FleetRequest::parse(&bytes), Ok(request(kind)));
        }
        assert_eq!(full_reply().to_bytes().len(), FLEET_LEN);
    }

    #[test]
    fn a_short_request_is_refused_as_unpadded_and_other_magics_as_bad() {
        let bytes = request(FleetKind::Announcement).to_bytes();
        assert_eq!(
            FleetRequest::parse(&bytes[..FLEET_LEN - 1]),
            Err(QueryError::ExtendedRequestNotPadded {
                version: 1,
                len: FLEET_LEN - 1,
                min: FLEET_LEN
            })
        );
        assert_eq!(
            FleetRequest::parse(&bytes[..7]),
            Err(QueryError::TooShort { len: 7, min: 8 })
        );
        let mut other = bytes.clone();
        other[3] = b'N';
        assert!(!is_fleet_request(&other));
        assert!(matches!(
            FleetRequest::parse(&other),
            Err(QueryError::BadMagic { .. })
        ));
    }

    #[test]
    fn replies_round_trip_with_and_without_an_announcement() {
        let full = full_reply();
        let bytes = full.to_bytes();
        assert_eq!(&bytes[..4], b"DSFA");
        assert_eq!(FleetReply::parse(&bytes), Ok(full));
        let empty = FleetReply::empty(&request(FleetKind::Announcement), FleetResult::NotAuthority);
        assert_eq!(FleetReply::parse(&empty.to_bytes()), Ok(empty));
        let no_pending = FleetReply {
            timescale: full
                .timescale
                .map(|t| FleetTimescale { pending: None, ..t }),
            ..full
        };
        assert_eq!(FleetReply::parse(&no_pending.to_bytes()), Ok(no_pending));
        // A longer reply of a later version reads as far as this one knows.
        let mut longer = bytes.clone();
        longer[at::VERSION] = 2;
        longer.extend_from_slice(&[0xAA; 32]);
        assert_eq!(
            FleetReply::parse(&longer).unwrap().timescale,
            full.timescale
        );
    }

    #[test]
    fn result_and_kind_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(FleetResult::from_code(code).code(), code);
            assert_eq!(FleetKind::from_code(code).code(), code);
        }
    }
}
