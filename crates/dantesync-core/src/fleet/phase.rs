//! The phase loop of fleet mode: from the phase error of each Sync to a frequency on top of
//! the rate servo's.
//!
//! The rate servo already holds the clock at the leader's rate, so what is left for this loop
//! is small: the phase the rate estimate's error accumulates, and the phase the node starts
//! with once the first step has removed the bulk. It is a PI loop on a filtered phase error:
//!
//! - each sample's error (20–200 µs of timestamp jitter) first passes a robust gate (a sample
//!   further than `OUTLIER_SIGMAS` of the running jitter from the filtered error is counted and
//!   dropped, so a 2 ms spike of a busy host does not kick the clock) and then an exponential
//!   filter with time constant `filter_s`;
//! - the frequency is `−(e_f/τ + ∫e_f dt/(16τ²))`, an overdamped second-order loop
//!   (ωn = 1/(4τ), ζ = 2) around the phase integrator that the clock is: the rate servo
//!   already supplies the frequency, so the integral only takes up its small bias, and it
//!   integrates only while the error is within `INTEGRATE_SIGMAS` of the jitter (a start-up
//!   transient does not wind it up into an overshoot). τ = `time_constant_s`
//!   (default 30 s): at 4 Syncs/s and 20 µs of jitter the loop averages about 120 samples,
//!   about 2 µs of phase noise, while a rate error of the estimator (tens of ppb) leaves well
//!   under a microsecond;
//! - the output is clamped to ±`max_slew_ppm` (the integral with it, no wind-up);
//! - after a leader's frequency step has been detected ([`super::RampDetector`]) the
//!   proportional term runs with [`HURRY_TIME_CONSTANT_S`] for a while ([`PhaseLoop::hurry`]):
//!   the phase the detector's fit says was lost is slewed back, but the fit is only good to
//!   some tens of µs, and at τ = 30 s what it missed took a minute or more to go, each node
//!   by its own amount (a 60 µs spread between nodes in the bed's freq-step scenario). The
//!   integral keeps its own scaling (it holds a frequency, which a shorter τ would magnify).
//!
//! Everything is in ns and seconds of the step-free local axis; nothing here knows about
//! steps, leaders or D (the controller glue does).

/// Samples further than this many running-jitter σ from the filtered error are outliers.
const OUTLIER_SIGMAS: f64 = 5.0;
/// The jitter estimate never goes below this (ns): kernel timestamps are not better.
const MIN_JITTER_NS: f64 = 5_000.0;
/// The integral runs only while |e_f| is within this many jitter σ.
const INTEGRATE_SIGMAS: f64 = 4.0;
/// An outlier run this long means the phase really moved (the gate re-seeds on the data).
const MAX_OUTLIER_RUN: u32 = 8;
/// The proportional term's time constant while hurried (s): with the 2 s filter of the phase
/// error the loop is then damped at ζ ≈ 0.87 and settles in about 15 s; its noise (about 5 µs
/// at 20 µs of jitter per Sync) lasts only as long as the hurry.
pub const HURRY_TIME_CONSTANT_S: f64 = 6.0;

/// The fleet-mode tuning (config `fleet.*`).
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    /// Largest frequency the phase loop adds to the rate servo's (±ppm). 20 ppm is well inside
    /// what audio software tolerates in a system clock and slews 1 ms in 50 s; a leader's
    /// frequency step is followed by the rate servo, not by this term.
    pub max_slew_ppm: f64,
    /// How long the last announcement of D is used without a fresh one (s) before the node
    /// falls back to classic behaviour (NTP corrections of its time).
    pub hold_s: f64,
    /// Before the first fleet lock, a phase error above this (µs) is removed by one step (as
    /// NTP's initial step); after it, never a step but an operator's scheduled correction.
    pub step_threshold_us: f64,
    /// A scheduled correction of D (an announced jump at a leader instant) is stepped by every
    /// node at that instant; with `false` it is slewed away at `max_slew_ppm` instead.
    pub step_scheduled: bool,
    /// Time constant τ of the phase loop (s).
    pub time_constant_s: f64,
    /// Time constant of the phase error's filter (s).
    pub filter_s: f64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            max_slew_ppm: 20.0,
            hold_s: 900.0,
            step_threshold_us: 1000.0,
            step_scheduled: true,
            time_constant_s: 30.0,
            filter_s: 2.0,
        }
    }
}

/// What the loop made of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PhaseVerdict {
    /// Used: the frequency to add to the rate servo's (ppm).
    Frequency(f64),
    /// Dropped as an outlier; the frequency stays.
    Outlier,
}

/// The PI loop on the filtered phase error.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseLoop {
    cfg: FleetConfig,
    /// Filtered phase error (ns), and the time of the last sample (ns, step-free axis).
    filtered: Option<(f64, i64)>,
    /// Running RMS of the samples around the filtered error (ns).
    jitter_ns: f64,
    /// ∫ e_f dt (ns·s).
    integral: f64,
    outlier_run: u32,
    outliers: u64,
    ppm: f64,
    /// The last sample ended an outlier run: the phase really jumped.
    jumped: bool,
    /// Until when (sf) the proportional term runs with [`HURRY_TIME_CONSTANT_S`].
    hurry_until: Option<i64>,
}

impl PhaseLoop {
    pub fn new(cfg: FleetConfig) -> Self {
        Self {
            cfg,
            filtered: None,
            jitter_ns: 20_000.0,
            integral: 0.0,
            outlier_run: 0,
            outliers: 0,
            ppm: 0.0,
            jumped: false,
            hurry_until: None,
        }
    }

    pub fn config(&self) -> &FleetConfig {
        &self.cfg
    }

    /// Forgets the phase (after a step, a new timescale): the next sample starts the filter.
    /// The integral, a frequency, is kept.
    pub fn restart_phase(&mut self) {
        self.filtered = None;
        self.outlier_run = 0;
    }

    /// Until `until_sf`, takes up the phase error with [`HURRY_TIME_CONSTANT_S`] (when shorter
    /// than the configured τ) instead of τ.
    pub fn hurry(&mut self, until_sf: i64) {
        self.hurry_until = Some(until_sf);
    }

    /// Forgets everything, the frequency included.
    pub fn reset(&mut self) {
        *self = Self::new(self.cfg.clone());
    }

    /// The filtered phase error (ns), once there is one.
    pub fn phase_error_ns(&self) -> Option<f64> {
        self.filtered.map(|(e, _)| e)
    }

    /// The frequency the loop adds now (ppm).
    pub fn ppm(&self) -> f64 {
        self.ppm
    }

    /// The frequency part alone (the integral term, ppm): what a hold keeps.
    pub fn integral_ppm(&self) -> f64 {
        self.integral_term()
            .clamp(-self.cfg.max_slew_ppm, self.cfg.max_slew_ppm)
    }

    pub fn outliers(&self) -> u64 {
        self.outliers
    }

    /// Running jitter of the phase samples (ns, RMS).
    pub fn jitter_ns(&self) -> f64 {
        self.jitter_ns
    }

    /// The noise a single sample is taken to have (ns): the jitter, never below the floor.
    pub fn noise_ns(&self) -> f64 {
        self.jitter_ns.max(MIN_JITTER_NS)
    }

    /// Whether the last sample was accepted as the end of an outlier run (a real jump).
    pub fn jumped(&self) -> bool {
        self.jumped
    }

    fn integral_term(&self) -> f64 {
        let tau = self.cfg.time_constant_s;
        -self.integral / (16.0 * tau * tau) * 1e-3
    }

    /// One phase error `error_ns` (local − target) measured at `sf`.
    pub fn sample(&mut self, sf: i64, error_ns: f64) -> PhaseVerdict {
        self.jumped = false;
        let Some((prev, at)) = self.filtered else {
            self.filtered = Some((error_ns, sf));
            return PhaseVerdict::Frequency(self.output(sf, error_ns));
        };
        let dt = ((sf - at) as f64 * 1e-9).max(0.0);
        let deviation = error_ns - prev;
        let gate = OUTLIER_SIGMAS * self.jitter_ns.max(MIN_JITTER_NS);
        if deviation.abs() > gate && self.outlier_run < MAX_OUTLIER_RUN {
            self.outlier_run += 1;
            self.outliers += 1;
            return PhaseVerdict::Outlier;
        }
        self.jumped = self.outlier_run > 0 && deviation.abs() > gate;
        self.outlier_run = 0;
        // The jitter follows the deviations over about 64 samples, bounded so that one
        // accepted spike moves it by little.
        let d = deviation.abs().min(gate);
        self.jitter_ns = (self.jitter_ns * self.jitter_ns * (63.0 / 64.0) + d * d / 64.0).sqrt();
        let k = 1.0 - (-dt / self.cfg.filter_s).exp();
        let e = prev + k * deviation;
        self.filtered = Some((e, sf));
        let before = self.integral;
        if e.abs() <= INTEGRATE_SIGMAS * self.jitter_ns.max(MIN_JITTER_NS) {
            self.integral += e * dt;
        }
        let out = self.output(sf, e);
        if out.abs() >= self.cfg.max_slew_ppm && self.integral.abs() > before.abs() {
            // At the clamp the integral only winds back.
            self.integral = before;
        }
        PhaseVerdict::Frequency(self.output(sf, e))
    }

    fn output(&mut self, sf: i64, e: f64) -> f64 {
        let tau = match self.hurry_until {
            Some(until) if sf < until => HURRY_TIME_CONSTANT_S.min(self.cfg.time_constant_s),
            _ => self.cfg.time_constant_s,
        };
        let p = -e / tau * 1e-3;
        let limit = self.cfg.max_slew_ppm;
        self.ppm = (p + self.integral_term()).clamp(-limit, limit);
        self.ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// A clock whose phase moves by the loop's frequency plus a fixed rate error, sampled
    /// every 250 ms: the loop removes an initial error and the rate error's phase.
    fn run(initial_ns: f64, rate_error_ppm: f64, seconds: i64) -> (PhaseLoop, f64) {
        let mut l = PhaseLoop::new(FleetConfig::default());
        let mut phase = initial_ns;
        let mut f = 0.0;
        for i in 0..seconds * 4 {
            let sf = i * 250 * MS;
            if let PhaseVerdict::Frequency(ppm) = l.sample(sf, phase) {
                f = ppm;
            }
            phase += (f + rate_error_ppm) * 1e3 * 0.25;
        }
        (l, phase)
    }

    #[test]
    fn removes_an_initial_error_without_overshooting_much() {
        let (l, phase) = run(500_000.0, 0.0, 600);
        assert!(phase.abs() < 1_000.0, "left {phase} ns");
        assert!(l.ppm().abs() < 0.05);
    }

    #[test]
    fn the_integral_takes_up_a_rate_error() {
        // A rate servo 0.2 ppm off: without the integral 0.2 ppm·30 s = 6 µs would remain.
        let (l, phase) = run(0.0, 0.2, 3000);
        assert!(phase.abs() < 300.0, "left {phase} ns");
        assert!(
            (l.integral_ppm() + 0.2).abs() < 0.01,
            "{}",
            l.integral_ppm()
        );
    }

    #[test]
    fn the_output_is_clamped_and_the_integral_does_not_wind_up() {
        let mut l = PhaseLoop::new(FleetConfig::default());
        for i in 0..400 {
            let v = l.sample(i * 250 * MS, 50_000_000.0);
            assert!(matches!(v, PhaseVerdict::Frequency(f) if f == -20.0));
        }
        assert!(l.integral_ppm().abs() <= 20.0);
        // The error gone, the loop leaves the clamp within a few time constants, not after
        // unwinding 100 s of a 50 ms error.
        let mut last = -20.0;
        for i in 400..1200 {
            if let PhaseVerdict::Frequency(f) = l.sample(i * 250 * MS, 0.0) {
                last = f;
            }
        }
        assert!(last.abs() < 1.0, "{last}");
    }

    #[test]
    fn a_hurried_loop_takes_up_an_error_in_seconds_then_slows_down_again() {
        // 40 µs left after a recovery: hurried for 30 s, under 4 µs is left by then, where
        // the ordinary loop still has a third of it.
        let follow = |hurry: bool| {
            let mut l = PhaseLoop::new(FleetConfig::default());
            if hurry {
                l.hurry(30_000 * MS);
            }
            let (mut phase, mut f) = (40_000.0, 0.0);
            for i in 0..120 {
                if let PhaseVerdict::Frequency(ppm) = l.sample(i * 250 * MS, phase) {
                    f = ppm;
                }
                phase += f * 1e3 * 0.25;
            }
            (l, phase)
        };
        let (mut hurried, left) = follow(true);
        assert!(left.abs() < 4_000.0, "hurried: {left} ns left");
        let (_, slow) = follow(false);
        assert!(slow > 10_000.0, "ordinary: {slow} ns left");
        // After the hurry the gain is the ordinary one again: 30 µs asks for 1 ppm, not 5.
        hurried.restart_phase();
        let PhaseVerdict::Frequency(f) = hurried.sample(40_000 * MS, 30_000.0) else {
            panic!("outlier");
        };
        assert!((f - hurried.integral_ppm() + 1.0).abs() < 0.01, "{f}");
    }

    #[test]
    fn a_spike_is_dropped_and_a_real_jump_is_followed() {
        let mut l = PhaseLoop::new(FleetConfig::default());
        for i in 0..100 {
            l.sample(i * 250 * MS, 0.0);
        }
        assert_eq!(l.sample(100 * 250 * MS, 2_000_000.0), PhaseVerdict::Outlier);
        assert_eq!(l.outliers(), 1);
        for i in 101..120 {
            l.sample(i * 250 * MS, 2_000_000.0);
        }
        assert!(l.phase_error_ns().unwrap() > 1_000_000.0);
    }
}
