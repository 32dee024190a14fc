//! The emulated leader's timescale: its uptime, run from one of this host's clocks (its
//! timebase) at the leader's own (wrong) rate.

use std::time::Instant;

/// The host clock the leader's uptime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Timebase {
    /// [`Instant`]: CLOCK_MONOTONIC on Linux, which never steps but follows every rate
    /// correction made to the system clock (NTP's, or a dantesync daemon's on this host).
    Monotonic,
    /// CLOCK_MONOTONIC_RAW (Linux only): the oscillator itself, which no rate correction
    /// touches. A leader on it keeps its drift when a follower on the same host disciplines
    /// the system clock; on CLOCK_MONOTONIC it would be dragged along by the corrections.
    Raw,
}

impl Timebase {
    /// Whether this platform has the clock.
    pub fn check(self) -> Result<(), String> {
        match self {
            Timebase::Monotonic => Ok(()),
            #[cfg(target_os = "linux")]
            Timebase::Raw => Ok(()),
            #[cfg(not(target_os = "linux"))]
            Timebase::Raw => {
                Err("--timebase raw needs CLOCK_MONOTONIC_RAW, which only Linux has".to_owned())
            }
        }
    }

    /// The clock's name, for the banner.
    pub fn name(self) -> &'static str {
        match self {
            Timebase::Monotonic => "CLOCK_MONOTONIC",
            Timebase::Raw => "CLOCK_MONOTONIC_RAW",
        }
    }
}

/// Reads CLOCK_MONOTONIC_RAW, ns.
#[cfg(target_os = "linux")]
fn raw_ns() -> i128 {
    use dantesync_clock::clock_exercise::Reference;
    i128::from(dantesync_clock::linux::MonotonicRaw.now_ns())
}

#[cfg(not(target_os = "linux"))]
fn raw_ns() -> i128 {
    unreachable!("Timebase::check refuses the raw timebase off Linux")
}

/// Uptime of a leader whose oscillator is off by `drift_ppm`: it advances by
/// `(1 + drift_ppm · 1e-6)` seconds for every second of the timebase. On the monotonic
/// timebase ([`Instant`]: CLOCK_MONOTONIC on Linux, which NTP may slew by at most 500 ppm but
/// never steps) instants map to uptimes directly ([`Uptime::at`]); on the raw one, only
/// readings taken now ([`Uptime::now`]) are meaningful.
#[derive(Debug, Clone, Copy)]
pub struct Uptime {
    origin: Instant,
    /// CLOCK_MONOTONIC_RAW at `origin`, ns (0 on the monotonic timebase).
    raw_origin_ns: i128,
    timebase: Timebase,
    start_ns: i128,
    drift_ppm: f64,
    /// (ns of the timebase after the origin, ppm added to the drift from then on).
    step: Option<(i128, f64)>,
}

impl Uptime {
    /// A timescale on the monotonic timebase that reads `start_ns` at `origin`.
    pub fn new(origin: Instant, start_ns: i128, drift_ppm: f64) -> Uptime {
        Uptime {
            origin,
            raw_origin_ns: 0,
            timebase: Timebase::Monotonic,
            start_ns,
            drift_ppm,
            step: None,
        }
    }

    /// The same timescale whose rate changes by `ppm` `after_s` seconds of the timebase after
    /// its origin; the uptime stays continuous at the change.
    pub fn with_rate_step(self, after_s: f64, ppm: f64) -> Uptime {
        Uptime {
            step: Some(((after_s * 1e9).round() as i128, ppm)),
            ..self
        }
    }

    /// The drift in force `elapsed` ns of the timebase after the origin, ppm.
    fn drift_at(&self, elapsed: i128) -> f64 {
        match self.step {
            Some((at, ppm)) if elapsed >= at => self.drift_ppm + ppm,
            _ => self.drift_ppm,
        }
    }

    /// A timescale on `timebase` that reads `start_ns` now. Call [`Timebase::check`] first.
    pub fn starting_now(timebase: Timebase, start_ns: i128, drift_ppm: f64) -> Uptime {
        let raw_origin_ns = match timebase {
            Timebase::Monotonic => 0,
            Timebase::Raw => raw_ns(),
        };
        Uptime {
            raw_origin_ns,
            timebase,
            ..Uptime::new(Instant::now(), start_ns, drift_ppm)
        }
    }

    /// The instant the timescale reads its starting value.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The leader's uptime at `t`, ns. Instants before the origin read the starting value.
    /// Only on the monotonic timebase.
    pub fn at(&self, t: Instant) -> i128 {
        debug_assert_eq!(self.timebase, Timebase::Monotonic);
        let elapsed = i128::try_from(t.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(i128::MAX / 2);
        self.after(elapsed)
    }

    /// The leader's uptime `elapsed` ns of the timebase after the origin.
    fn after(&self, elapsed: i128) -> i128 {
        let elapsed = elapsed.max(0);
        // The drift term is small next to `elapsed`, so computing it alone in f64 keeps the
        // result exact to the nanosecond for any run length.
        let extra = match self.step {
            Some((at, ppm)) if elapsed > at => (at as f64 * self.drift_ppm * 1e-6
                + (elapsed - at) as f64 * (self.drift_ppm + ppm) * 1e-6)
                .round() as i128,
            _ => (elapsed as f64 * self.drift_ppm * 1e-6).round() as i128,
        };
        self.start_ns + elapsed + extra
    }

    /// The leader's uptime `ago_ns` ns of the timebase before it read `reading`.
    #[cfg_attr(
        not(target_os = "linux"),
        allow(dead_code, reason = "kernel stamps are Linux's")
    )]
    pub fn before(&self, reading: i128, ago_ns: i128) -> i128 {
        // `ago_ns` is a transmit stamp's lag (µs): the drift in force now is the one then,
        // to within a nanosecond of the uptime even across a rate step.
        let now = match self.timebase {
            Timebase::Monotonic => self.origin.elapsed().as_nanos() as i128,
            Timebase::Raw => raw_ns() - self.raw_origin_ns,
        };
        reading - ago_ns - (ago_ns as f64 * self.drift_at(now) * 1e-6).round() as i128
    }

    /// The leader's uptime at a kernel stamp `stamp_rt` (CLOCK_REALTIME ns, a transmit or
    /// receive stamp). The uptime runs on another clock; both tick at the host's rate (to
    /// within the system clock's frequency correction, ≤ 500 ppm of the few µs since the
    /// stamp), so the time since the stamp carries over.
    #[cfg(target_os = "linux")]
    pub fn at_realtime_stamp(&self, stamp_rt: i64) -> i128 {
        use crate::sys::txstamp::realtime_ns;
        let a = realtime_ns();
        let now = self.now();
        let b = realtime_ns();
        let ago = (i128::from(a) + i128::from(b)) / 2 - i128::from(stamp_rt);
        self.before(now, ago.max(0))
    }

    /// The leader's uptime now, ns.
    pub fn now(&self) -> i128 {
        match self.timebase {
            Timebase::Monotonic => self.at(Instant::now()),
            Timebase::Raw => self.after(raw_ns() - self.raw_origin_ns),
        }
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

    #[cfg(target_os = "linux")]
    #[test]
    fn the_raw_timebase_runs_at_the_leaders_rate_from_the_start() {
        let uptime = Uptime::starting_now(Timebase::Raw, 1_000_000_000, 40.0);
        let a = uptime.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = uptime.now();
        assert!((1_000_000_000..1_100_000_000).contains(&a), "{a}");
        assert!((15_000_000..2_000_000_000).contains(&(b - a)), "{}", b - a);
        // The arithmetic is the monotonic timebase's.
        assert_eq!(uptime.after(10_000_000_000), 11_000_400_000);
        assert_eq!(uptime.after(-5), 1_000_000_000);
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn the_raw_timebase_is_refused_off_linux() {
        assert!(Timebase::Raw.check().unwrap_err().contains("only Linux"));
    }

    #[test]
    fn a_moment_ago_is_scaled_by_the_leaders_rate() {
        let uptime = Uptime::new(Instant::now(), 0, 100.0);
        // 1 ms of the host's clock ago is 1.0001 ms of the leader's.
        assert_eq!(uptime.before(5_000_000_000, 1_000_000), 4_998_999_900);
        assert_eq!(uptime.before(7, 0), 7);
    }

    #[test]
    fn a_rate_step_changes_the_rate_and_keeps_the_uptime_continuous() {
        let origin = Instant::now();
        let uptime = Uptime::new(origin, 699_000_000_000, 3.0).with_rate_step(60.0, 25.0);
        // 60 s at +3 ppm: 180 µs extra; then +28 ppm.
        assert_eq!(uptime.at(origin + Duration::from_secs(60)), 759_000_180_000);
        assert_eq!(uptime.at(origin + Duration::from_secs(70)), 769_000_460_000);
        assert_eq!(uptime.drift_at(59_999_999_999), 3.0);
        assert_eq!(uptime.drift_at(60_000_000_000), 28.0);
        assert_eq!(super::super::args::rate_step("60:-25.5"), Ok((60.0, -25.5)));
        assert!(super::super::args::rate_step("60").is_err());
        assert!(super::super::args::rate_step("-1:3").is_err());
    }

    #[test]
    fn before_the_origin_reads_the_start() {
        let now = Instant::now();
        let uptime = Uptime::new(now + Duration::from_secs(1), 42, 0.0);
        assert_eq!(uptime.at(now), 42);
    }
}
