//! The clock a replay pretends the controller disciplined.
//!
//! The controller believes every `SetFrequency` it asks for is applied to the clock that
//! stamps its packets, and subtracts the integral of that frequency from the PTP offsets
//! before estimating. A capture's timestamps were taken by a clock nobody disciplined, so fed
//! as they are, the controller would subtract corrections that never happened and report the
//! capture host's rate minus its own corrections. Replaying through this clock adds back
//! exactly what the controller will subtract: the readings it is given are the capture's
//! timestamps plus the integral of the frequencies it set, and the rate it estimates is the
//! capture host's own rate against the leader.

use std::convert::Infallible;

use dantesync_core::controller::ClockControl;
use dantesync_core::LocalTime;

/// A clock running on the capture's timestamps, with the controller's frequency applied.
///
/// The frequency is piecewise constant: each change takes effect at the capture time of the
/// event that asked for it. The integral runs over capture time, which is how a kernel applies
/// a frequency offset (a scaling of the raw oscillator's ticks).
#[derive(Clone, Debug, PartialEq)]
pub struct DisciplinedClock {
    /// Capture time of the last change of frequency (or step), ns.
    since_ns: i64,
    /// The clock's lead over the capture's timestamps at `since_ns`, ns.
    offset_ns: f64,
    /// The frequency applied since `since_ns`, ppm.
    ppm: f64,
}

impl DisciplinedClock {
    /// A clock that reads the capture's timestamps unchanged until a frequency is set.
    pub fn new(start_ns: i64) -> Self {
        Self {
            since_ns: start_ns,
            offset_ns: 0.0,
            ppm: 0.0,
        }
    }

    /// The reading at capture time `capture_ns`.
    pub fn read(&self, capture_ns: i64) -> LocalTime {
        LocalTime::from_nanos(capture_ns).add_nanos(self.offset_at(capture_ns).round() as i64)
    }

    /// Applies `ppm` (absolute, positive = faster) from capture time `capture_ns` on.
    pub fn set_frequency(&mut self, capture_ns: i64, ppm: f64) {
        self.rebase(capture_ns);
        self.ppm = ppm;
    }

    /// Moves the reading by `nanos` at capture time `capture_ns`.
    pub fn step(&mut self, capture_ns: i64, nanos: i64) {
        self.rebase(capture_ns);
        self.offset_ns += nanos as f64;
    }

    /// The clock as the controller's actions act on it at capture time `capture_ns`.
    pub fn at(&mut self, capture_ns: i64) -> DisciplinedAt<'_> {
        DisciplinedAt {
            clock: self,
            capture_ns,
        }
    }

    /// The capture time at which the clock reads `local`, at the present frequency; timers are
    /// set in the clock's readings, while the replay's events arrive in capture time.
    pub fn capture_time_of(&self, local: LocalTime) -> i64 {
        let ahead = (local.nanos() - self.since_ns) as f64 - self.offset_ns;
        self.since_ns + (ahead / (1.0 + self.ppm * 1e-6)).round() as i64
    }

    fn offset_at(&self, capture_ns: i64) -> f64 {
        self.offset_ns + self.ppm * 1e-6 * (capture_ns - self.since_ns) as f64
    }

    fn rebase(&mut self, capture_ns: i64) {
        self.offset_ns = self.offset_at(capture_ns);
        self.since_ns = capture_ns;
    }
}

/// The replay's clock at one capture instant: what [`dantesync_core::controller::execute`]
/// adjusts.
#[derive(Debug)]
pub struct DisciplinedAt<'a> {
    clock: &'a mut DisciplinedClock,
    capture_ns: i64,
}

impl ClockControl for DisciplinedAt<'_> {
    type Error = Infallible;
    fn set_frequency(&mut self, ppm: f64) -> Result<(), Infallible> {
        self.clock.set_frequency(self.capture_ns, ppm);
        Ok(())
    }
    fn step(&mut self, nanos: i64) -> Result<(), Infallible> {
        self.clock.step(self.capture_ns, nanos);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_785_427_891 * S;

    #[test]
    fn reads_the_capture_until_a_frequency_is_set() {
        let clock = DisciplinedClock::new(T0);
        assert_eq!(clock.read(T0).nanos(), T0);
        assert_eq!(clock.read(T0 + 14 * S).nanos(), T0 + 14 * S);
    }

    #[test]
    fn adds_the_integral_of_piecewise_constant_frequencies() {
        let mut clock = DisciplinedClock::new(T0);
        // 2 s at 0, then 4 s at +10 ppm (40 µs), then 5 s at −30 ppm (−150 µs).
        clock.set_frequency(T0 + 2 * S, 10.0);
        assert_eq!(clock.read(T0 + 2 * S).nanos(), T0 + 2 * S);
        assert_eq!(clock.read(T0 + 6 * S).nanos(), T0 + 6 * S + 40_000);
        clock.set_frequency(T0 + 6 * S, -30.0);
        assert_eq!(clock.read(T0 + 6 * S).nanos(), T0 + 6 * S + 40_000);
        assert_eq!(clock.read(T0 + 11 * S).nanos(), T0 + 11 * S - 110_000);
    }

    #[test]
    fn setting_the_same_frequency_again_changes_nothing() {
        let mut once = DisciplinedClock::new(T0);
        once.set_frequency(T0, -33.7);
        let mut twice = once.clone();
        twice.set_frequency(T0 + 3 * S + 123, -33.7);
        for t in [T0 + 3 * S + 123, T0 + 7 * S, T0 + 600 * S] {
            assert_eq!(once.read(t), twice.read(t));
        }
    }

    #[test]
    fn a_step_moves_the_reading_and_keeps_the_rate() {
        let mut clock = DisciplinedClock::new(T0);
        clock.set_frequency(T0, 100.0);
        clock.step(T0 + S, -5_000);
        assert_eq!(clock.read(T0 + S).nanos(), T0 + S + 100_000 - 5_000);
        assert_eq!(clock.read(T0 + 2 * S).nanos(), T0 + 2 * S + 200_000 - 5_000);
    }

    #[test]
    fn timers_land_at_the_capture_time_the_clock_reads_them() {
        let mut clock = DisciplinedClock::new(T0);
        clock.set_frequency(T0 + S, 200.0);
        // At +200 ppm the clock reads 10 s later 2 ms early.
        let at = clock.capture_time_of(LocalTime::from_nanos(T0 + 11 * S));
        assert!((at - (T0 + 11 * S - 1_999_600)).abs() <= 1, "{at}");
        assert!((clock.read(at).nanos() - (T0 + 11 * S)).abs() <= 1);
    }

    /// The point of the clock: the controller removes the integral of what it applied, so the
    /// offsets it works on must be the capture's own, whatever frequencies it chose.
    #[test]
    fn removing_the_applied_integral_gives_back_the_capture_time() {
        let mut clock = DisciplinedClock::new(T0);
        let plan = [(0, 0.0), (2, 12.5), (3, -40.0), (9, -33.7), (30, -33.72)];
        let mut applied = 0.0;
        let mut last = T0;
        let mut ppm = 0.0;
        for (at_s, next_ppm) in plan {
            let at = T0 + at_s * S;
            applied += ppm * 1e-6 * (at - last) as f64;
            last = at;
            ppm = next_ppm;
            clock.set_frequency(at, ppm);
        }
        let end = T0 + 45 * S;
        applied += ppm * 1e-6 * (end - last) as f64;
        let reading = clock.read(end).nanos();
        assert_eq!(reading - applied.round() as i64, end);
    }
}
