//! The emulated leader's timescale: its uptime, run from this host's monotonic clock at the
//! leader's own (wrong) rate.

use std::time::Instant;

/// Uptime of a leader whose oscillator is off by `drift_ppm`: it advances by
/// `(1 + drift_ppm · 1e-6)` seconds for every second of this host's monotonic clock
/// ([`Instant`]: CLOCK_MONOTONIC on Linux, which NTP may slew by at most 500 ppm but never
/// steps).
#[derive(Debug, Clone, Copy)]
pub struct Uptime {
    origin: Instant,
    start_ns: i128,
    drift_ppm: f64,
}

impl Uptime {
    /// A timescale that reads `start_ns` at `origin`.
    pub fn new(origin: Instant, start_ns: i128, drift_ppm: f64) -> Uptime {
        Uptime {
            origin,
            start_ns,
            drift_ppm,
        }
    }

    /// The instant the timescale reads its starting value.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The leader's uptime at `t`, ns. Instants before the origin read the starting value.
    pub fn at(&self, t: Instant) -> i128 {
        let elapsed = i128::try_from(t.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(i128::MAX / 2);
        // The drift term is small next to `elapsed`, so computing it alone in f64 keeps the
        // result exact to the nanosecond for any run length.
        let extra = (elapsed as f64 * self.drift_ppm * 1e-6).round() as i128;
        self.start_ns + elapsed + extra
    }

    /// The leader's uptime now, ns.
    pub fn now(&self) -> i128 {
        self.at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn runs_at_the_leaders_rate() {
        let origin = Instant::now();
        let uptime = Uptime::new(origin, 699_000_000_000, 100.0);
        assert_eq!(uptime.at(origin), 699_000_000_000);
        // 10 s of this host's clock are 10.001 s of the leader's.
        assert_eq!(uptime.at(origin + Duration::from_secs(10)), 709_001_000_000);
        let slow = Uptime::new(origin, 5_000_000_000, -33.7);
        assert_eq!(slow.at(origin + Duration::from_secs(1)), 5_999_966_300);
    }

    #[test]
    fn exact_to_the_nanosecond_after_a_long_run() {
        let origin = Instant::now();
        let uptime = Uptime::new(origin, 0, 0.0);
        let week = Duration::from_secs(7 * 86_400) + Duration::from_nanos(1);
        assert_eq!(uptime.at(origin + week), 604_800_000_000_001);
        let drifting = Uptime::new(origin, 0, 12.5);
        // 604800 s × 12.5e-6 = 7.56 s extra.
        assert_eq!(
            drifting.at(origin + Duration::from_secs(604_800)),
            604_807_560_000_000
        );
    }

    #[test]
    fn before_the_origin_reads_the_start() {
        let now = Instant::now();
        let uptime = Uptime::new(now + Duration::from_secs(1), 42, 0.0);
        assert_eq!(uptime.at(now), 42);
    }
}
