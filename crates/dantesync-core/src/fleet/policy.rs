//! How the authority lets D follow UTC (config `fleet.utc_policy` and its companions).
//!
//! - `slew`: D follows UTC continuously, at a rate bounded by `slew_max_ppb`; every node moves
//!   its clock at the same announced rate, so the fleet stays together while it follows UTC.
//!   For installations where wall-clock time matters more than a perfectly steady audio clock
//!   rate (logs, video timecode against UTC).
//! - `scheduled`: D is constant; once a day at `daily_utc_s` (seconds after midnight UTC) one
//!   coordinated correction, rounded to `quantum_ns`, announced `lead_s` ahead and applied at
//!   the same leader instant by every node. For studios and broadcast: the clock rate never
//!   moves during the day, and the one step happens when nobody records.
//! - `none`: pure Dante time: D is set once (measured, or kept from the state file) and never
//!   corrected, whatever UTC does. For closed networks whose only concern is that the PCs agree.
//!
//! In `slew` and `scheduled`, D drifting further than `emergency_limit_ns` from UTC brings an
//! emergency correction (still announced `lead_s` ahead and applied at one leader instant).

/// See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UtcPolicy {
    Slew,
    #[default]
    Scheduled,
    None,
}

impl UtcPolicy {
    pub const ALL: [UtcPolicy; 3] = [UtcPolicy::Slew, UtcPolicy::Scheduled, UtcPolicy::None];

    pub fn name(self) -> &'static str {
        match self {
            UtcPolicy::Slew => "slew",
            UtcPolicy::Scheduled => "scheduled",
            UtcPolicy::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The authority's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorityConfig {
    pub policy: UtcPolicy,
    /// The window D's samples are filtered over (s).
    pub window_s: f64,
    /// Samples needed before the first D is announced.
    pub min_samples: usize,
    /// `slew`: the largest rate at which D moves (ppb, i.e. ns per s).
    pub slew_max_ppb: i64,
    /// `slew`: the time over which an error of D is worked off (s).
    pub slew_time_constant_s: f64,
    /// `scheduled`: the daily correction's time, seconds after midnight UTC.
    pub daily_utc_s: u32,
    /// Scheduled corrections are multiples of this (ns); 0 leaves them exact.
    pub quantum_ns: i64,
    /// How long ahead of its instant a correction is announced (s): several client polls.
    pub lead_s: f64,
    /// `slew`/`scheduled`: D this far off UTC (ns) brings a correction at once.
    pub emergency_limit_ns: i64,
    /// More corrections than this in 24 h raise the `too_often` warning.
    pub warn_steps_per_24h: u32,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            policy: UtcPolicy::Scheduled,
            window_s: 600.0,
            min_samples: 4,
            slew_max_ppb: 20_000,
            slew_time_constant_s: 300.0,
            daily_utc_s: 3 * 3600,
            quantum_ns: 200_000_000,
            lead_s: 30.0,
            emergency_limit_ns: 2_000_000_000,
            warn_steps_per_24h: 2,
        }
    }
}

pub const DAY_NS: i64 = 86_400_000_000_000;

/// `delta` rounded to the nearest multiple of `quantum` (half away from zero); 0 keeps it.
pub fn quantize(delta_ns: i64, quantum_ns: i64) -> i64 {
    if quantum_ns <= 0 {
        return delta_ns;
    }
    let q = i128::from(quantum_ns);
    let d = i128::from(delta_ns);
    let n = (d.abs() + q / 2) / q * d.signum();
    (n * q).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The first instant at or after `utc_ns` that is `daily_s` seconds after a UTC midnight.
pub fn next_daily(utc_ns: i64, daily_s: u32) -> i64 {
    let midnight = utc_ns - utc_ns.rem_euclid(DAY_NS);
    let today = midnight + i64::from(daily_s % 86_400) * 1_000_000_000;
    if today >= utc_ns {
        today
    } else {
        today + DAY_NS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_round_to_the_quantum() {
        assert_eq!(quantize(349_999_999, 200_000_000), 400_000_000);
        assert_eq!(quantize(299_999_999, 200_000_000), 200_000_000);
        assert_eq!(quantize(-300_000_000, 200_000_000), -400_000_000);
        assert_eq!(quantize(99_999_999, 200_000_000), 0);
        assert_eq!(quantize(123, 0), 123);
    }

    #[test]
    fn the_daily_instant_is_today_or_tomorrow() {
        // 2026-07-30 16:11:31 UTC.
        let now = 1_785_427_891_000_000_000;
        let midnight = 1_785_369_600_000_000_000;
        assert_eq!(
            next_daily(now, 3 * 3600),
            midnight + DAY_NS + 3 * 3_600_000_000_000
        );
        assert_eq!(
            next_daily(now, 17 * 3600),
            midnight + 17 * 3_600_000_000_000
        );
        assert_eq!(next_daily(midnight, 0), midnight);
    }

    #[test]
    fn policy_names_round_trip() {
        for p in UtcPolicy::ALL {
            assert_eq!(UtcPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(UtcPolicy::from_name("step"), None);
    }
}
