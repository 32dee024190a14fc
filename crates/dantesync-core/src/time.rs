//! Clock readings.
//!
//! Every input to the core carries the moment it happened on two axes: the local
//! (disciplined) clock's reading, which offsets are measured on, and, where the host has one, a
//! monotonic clock's (CLOCK_MONOTONIC on Linux, QPC on Windows, true time in the simulator),
//! which nobody steps. The core never reads a clock itself.

use std::fmt;

/// A reading of the local system clock: nanoseconds since the Unix epoch (UTC).
///
/// i64 nanoseconds cover the years 1677 to 2262, far beyond any clock this runs against.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LocalTime(i64);

impl LocalTime {
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// This reading moved by `nanos` (positive = later).
    #[must_use]
    pub const fn add_nanos(self, nanos: i64) -> Self {
        Self(self.0.saturating_add(nanos))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn secs_since(self, earlier: LocalTime) -> f64 {
        (self.0 as f64 - earlier.0 as f64) * 1e-9
    }

    /// Nanoseconds from `earlier` to `self`, saturating.
    pub const fn nanos_since(self, earlier: LocalTime) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Debug for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LocalTime({}.{:09})",
            self.0.div_euclid(1_000_000_000),
            self.0.rem_euclid(1_000_000_000)
        )
    }
}

/// A reading of a monotonic clock: nanoseconds since an arbitrary origin. Nobody steps it, so
/// the difference of two readings is elapsed time, whatever happened to the local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime(i64);

impl MonoTime {
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }
}

/// One instant on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Moment {
    pub local: LocalTime,
    /// None when the host has no monotonic clock: then a step of the local clock by someone
    /// else cannot be told from elapsed time.
    pub mono: Option<MonoTime>,
}

impl Moment {
    pub const fn new(local: LocalTime, mono: MonoTime) -> Self {
        Self {
            local,
            mono: Some(mono),
        }
    }
}

impl From<LocalTime> for Moment {
    fn from(local: LocalTime) -> Self {
        Self { local, mono: None }
    }
}

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Seconds as whole nanoseconds, rounded.
pub fn secs_to_nanos(secs: f64) -> i64 {
    (secs * 1e9).round() as i64
}
