//! What extended version 3 appended: the sync mode and, in fleet mode, where the node stands
//! against the fleet's timescale (its state, D with its epoch, age and source, the path delay
//! and the phase error to leader + D + path delay), the values `/api/status` shows as
//! `status.sync_mode`, `status.fleet_state`, `status.fleet_d_ns`... (`docs/query-api.md`).
//!
//! The four codes and D's epoch go into the 14 bytes version 2 left reserved (370–383); the
//! four 64-bit values do not fit there, so version 3 also grows the reply to
//! [`SYNC_MODE_REPLY_LEN`] bytes. A version-1 or -2 reader ignores both: the reserved bytes
//! and everything past 384.

use super::extended::{at, from_opt, opt};
use crate::controller::FleetState;
use crate::fleet::{DSource, SyncMode};
use crate::path_delay::PathDelayState;

/// The version whose fields [`ExtendedSyncMode`] holds.
pub const SYNC_MODE_VERSION: u8 = 3;
/// Length of a version-3 reply: 384, the four values from 384 to 415, and 32 bytes reserved
/// for a later version to fill without growing the reply again.
pub const SYNC_MODE_REPLY_LEN: usize = 448;

const _: () = assert!(at::SYNC_PHASE_ERROR + 8 == at::SYNC_RESERVED);
const _: () = assert!(at::SYNC_RESERVED < SYNC_MODE_REPLY_LEN);

/// A status value that travels as a one-byte code.
pub trait WireCode: Sized + Copy {
    fn code(self) -> u8;
    fn from_code(code: u8) -> Option<Self>;
}

/// A code byte as read: a value this version knows, or a newer node's code kept as it came (so
/// that a reply re-encodes unchanged and a reader can say "unknown (code n)").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coded<T> {
    Known(T),
    Unknown(u8),
}

impl<T: WireCode> Coded<T> {
    pub fn code(self) -> u8 {
        match self {
            Coded::Known(v) => v.code(),
            Coded::Unknown(c) => c,
        }
    }

    pub fn from_code(code: u8) -> Self {
        T::from_code(code).map_or(Coded::Unknown(code), Coded::Known)
    }

    pub fn known(self) -> Option<T> {
        match self {
            Coded::Known(v) => Some(v),
            Coded::Unknown(_) => None,
        }
    }
}

impl<T: WireCode + Default> Default for Coded<T> {
    fn default() -> Self {
        Coded::Known(T::default())
    }
}

/// Byte 370: 0 classic, 1 fleet.
impl WireCode for SyncMode {
    fn code(self) -> u8 {
        match self {
            SyncMode::Classic => 0,
            SyncMode::Fleet => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SyncMode::Classic),
            1 => Some(SyncMode::Fleet),
            _ => None,
        }
    }
}

/// Byte 371: 0 off, 1 waiting, 2 tracking, 3 holding, 4 fallback.
impl WireCode for FleetState {
    fn code(self) -> u8 {
        match self {
            FleetState::Off => 0,
            FleetState::Waiting => 1,
            FleetState::Tracking => 2,
            FleetState::Holding => 3,
            FleetState::Fallback => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        FleetState::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Byte 372: 0 off, 1 measuring, 2 ok (known), 3 unanswered.
impl WireCode for PathDelayState {
    fn code(self) -> u8 {
        match self {
            PathDelayState::Off => 0,
            PathDelayState::Measuring => 1,
            PathDelayState::Ok => 2,
            PathDelayState::Unanswered => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        PathDelayState::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Byte 373: 0 none (not the fleet's authority, or no D yet), 1 measured, 2 persisted,
/// 3 own-clock.
impl WireCode for Option<DSource> {
    fn code(self) -> u8 {
        match self {
            None => 0,
            Some(DSource::Measured) => 1,
            Some(DSource::Persisted) => 2,
            Some(DSource::OwnClock) => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(None),
            1 => Some(Some(DSource::Measured)),
            2 => Some(Some(DSource::Persisted)),
            3 => Some(Some(DSource::OwnClock)),
            _ => None,
        }
    }
}

/// The fields of extended version 3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtendedSyncMode {
    /// `status.sync_mode` (offset 370).
    pub sync_mode: Coded<SyncMode>,
    /// `status.fleet_state` (offset 371).
    pub fleet_state: Coded<FleetState>,
    /// `status.path_delay_state` (offset 372).
    pub path_delay_state: Coded<PathDelayState>,
    /// `status.fleet_d_source`: set on the fleet's authority only (offset 373).
    pub d_source: Coded<Option<DSource>>,
    /// `status.fleet_epoch` (offset 376, an i64 holding the u32 epoch).
    pub d_epoch: Option<u32>,
    /// `status.fleet_d_ns`: D (UTC − leader time) at the last Sync, ns (offset 384).
    pub d_ns: Option<i64>,
    /// `status.fleet_d_age_s` in ns: since the last announcement of D arrived (offset 392).
    pub d_age_ns: Option<i64>,
    /// `status.path_delay_ns`: the mean path delay to the leader, ns (offset 400).
    pub path_delay_ns: Option<i64>,
    /// `status.phase_error_ns`: filtered phase error to leader + D + path delay, ns, positive
    /// when the clock is ahead (offset 408).
    pub phase_error_ns: Option<i64>,
}

impl ExtendedSyncMode {
    pub(super) fn write(&self, out: &mut [u8]) {
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        let opt = |v: Option<i64>| opt(v).to_be_bytes();
        put(
            at::SYNC_MODE,
            &[
                self.sync_mode.code(),
                self.fleet_state.code(),
                self.path_delay_state.code(),
                self.d_source.code(),
            ],
        );
        put(at::SYNC_D_EPOCH, &opt(self.d_epoch.map(i64::from)));
        put(at::SYNC_D, &opt(self.d_ns));
        put(at::SYNC_D_AGE, &opt(self.d_age_ns));
        put(at::SYNC_PATH_DELAY, &opt(self.path_delay_ns));
        put(at::SYNC_PHASE_ERROR, &opt(self.phase_error_ns));
    }

    /// Reads the fields from a reply at least [`SYNC_MODE_REPLY_LEN`] long.
    pub(super) fn read(b: &[u8]) -> Self {
        let opt = |at: usize| {
            from_opt(i64::from_be_bytes(
                b[at..at + 8].try_into().expect("8 bytes in the reply"),
            ))
        };
        ExtendedSyncMode {
            sync_mode: Coded::from_code(b[at::SYNC_MODE]),
            fleet_state: Coded::from_code(b[at::SYNC_MODE + 1]),
            path_delay_state: Coded::from_code(b[at::SYNC_MODE + 2]),
            d_source: Coded::from_code(b[at::SYNC_MODE + 3]),
            // An epoch is a u32; anything else in the field is not one.
            d_epoch: opt(at::SYNC_D_EPOCH).and_then(|e| u32::try_from(e).ok()),
            d_ns: opt(at::SYNC_D),
            d_age_ns: opt(at::SYNC_D_AGE),
            path_delay_ns: opt(at::SYNC_PATH_DELAY),
            phase_error_ns: opt(at::SYNC_PHASE_ERROR),
        }
    }

    /// Seconds since the last announcement of D arrived.
    pub fn d_age_s(&self) -> Option<f64> {
        self.d_age_ns.map(|ns| ns as f64 / 1e9)
    }
}
