//! Measuring what a clock really does when told to change its rate or step, against an
//! independent reference counter (CLOCK_MONOTONIC_RAW on Linux, QPC on Windows).
//!
//! Behind `dantesync clock-test` and the Windows start-up self-test. Generic over the clock and
//! the reference, so the arithmetic is unit-tested on the simulated clock in virtual time.
//!
//! A single (reference, clock) pair read back to back is only as good as the delay between the
//! two reads, which under emulation or on a busy machine varies by tens of µs: ±15 ppm of noise
//! over a few seconds. So each checkpoint reads reference, clock, reference ("a sandwich"),
//! keeps the tightest of several sandwiches and pairs the clock reading with the midpoint of its
//! two reference readings. The rate is then the least-squares slope of (clock − reference)
//! over many checkpoints spread across the window, after dropping checkpoints that a
//! preemption spoiled.

use std::fmt;
use std::time::Duration;

use crate::clock::{Clock, ClockError};
use crate::units::{check_adjustment, AdjustmentCheck};

/// An independent counter to measure a clock against.
pub trait Reference {
    fn name(&self) -> &'static str;
    /// The counter, in ns from an arbitrary origin. Unaffected by the clock's adjustments.
    fn now_ns(&self) -> i64;
    /// Waits `d` of reference time (virtual references advance themselves).
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// One clock reading bracketed by two reference readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandwich {
    /// Midpoint of the two reference readings, ns.
    pub reference_ns: i64,
    /// The clock's reading, ns.
    pub clock_ns: i64,
    /// Time between the two reference readings, ns: the pairing's uncertainty is half of it.
    pub width_ns: i64,
}

/// The tightest of `tries` sandwiches.
pub fn tightest_sandwich<C, R>(clock: &C, reference: &R, tries: usize) -> Sandwich
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let mut best: Option<Sandwich> = None;
    for _ in 0..tries.max(1) {
        let a = reference.now_ns();
        let c = clock.now().nanos();
        let b = reference.now_ns();
        let s = Sandwich {
            reference_ns: a + (b - a) / 2,
            clock_ns: c,
            width_ns: b - a,
        };
        if best.is_none_or(|x| s.width_ns < x.width_ns) {
            best = Some(s);
        }
    }
    best.expect("at least one try")
}

/// How a rate is measured.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureConfig {
    /// Wait after a change before measuring, so the kernel has applied it.
    pub settle: Duration,
    /// Length of the measurement.
    pub window: Duration,
    /// Checkpoints spread evenly over the window (at least 2).
    pub checkpoints: usize,
    /// Sandwiches read at each checkpoint; the tightest is kept.
    pub sandwiches: usize,
}

impl Default for MeasureConfig {
    /// 4 s with 41 checkpoints of the tightest of 25 sandwiches: under qemu's software emulation
    /// this resolves a rate to a few hundredths of a ppm (TESTBED: +100.03 for +100 with 5 s).
    fn default() -> Self {
        Self {
            settle: Duration::from_millis(300),
            window: Duration::from_secs(4),
            checkpoints: 41,
            sandwiches: 25,
        }
    }
}

/// A measured rate of a clock against the reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateMeasurement {
    /// (clock rate / reference rate − 1) × 1e6.
    pub ppm: f64,
    /// RMS of the fit's residuals, ns: how well a straight line explains the checkpoints.
    pub residual_rms_ns: f64,
    /// Checkpoints used / taken.
    pub used: usize,
    pub taken: usize,
    /// The widest sandwich kept, ns.
    pub widest_sandwich_ns: i64,
    /// Reference time covered, s.
    pub span_s: f64,
}

/// Measures the clock's rate against the reference over `cfg.window`.
pub fn measure_rate<C, R>(clock: &C, reference: &R, cfg: &MeasureConfig) -> RateMeasurement
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    reference.sleep(cfg.settle);
    let n = cfg.checkpoints.max(2);
    let interval = cfg.window.as_nanos() as i64 / (n as i64 - 1);
    let start = reference.now_ns();
    let mut points = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + interval * i as i64;
        let now = reference.now_ns();
        if due > now {
            reference.sleep(Duration::from_nanos((due - now) as u64));
        }
        points.push(tightest_sandwich(clock, reference, cfg.sandwiches));
    }
    fit_rate(&points)
}

/// The weighted least-squares rate of (clock − reference) over the points, refitted once without the
/// points whose residual is more than four times the median residual (and over 1 µs): a
/// sandwich the scheduler interrupted between the clock read and a reference read is wide,
/// but a tightest-of-N can still keep a bad one when every try was interrupted.
pub fn fit_rate(points: &[Sandwich]) -> RateMeasurement {
    let all: Vec<&Sandwich> = points.iter().collect();
    let first = fit(&all);
    let mut residuals: Vec<f64> = all.iter().map(|p| first.residual(p).abs()).collect();
    residuals.sort_by(f64::total_cmp);
    let median = residuals.get(residuals.len() / 2).copied().unwrap_or(0.0);
    let limit = (4.0 * median).max(1_000.0);
    let kept: Vec<&Sandwich> = all
        .iter()
        .copied()
        .filter(|p| first.residual(p).abs() <= limit)
        .collect();
    let line = if kept.len() >= 2 && kept.len() < all.len() {
        fit(&kept)
    } else {
        first
    };
    let used = if kept.len() >= 2 { &kept } else { &all };
    let rms = if used.is_empty() {
        0.0
    } else {
        (used.iter().map(|p| line.residual(p).powi(2)).sum::<f64>() / used.len() as f64).sqrt()
    };
    RateMeasurement {
        ppm: line.slope * 1e6,
        residual_rms_ns: rms,
        used: used.len(),
        taken: points.len(),
        widest_sandwich_ns: used.iter().map(|p| p.width_ns).max().unwrap_or(0),
        span_s: match (points.first(), points.last()) {
            (Some(a), Some(b)) => (b.reference_ns - a.reference_ns) as f64 * 1e-9,
            _ => 0.0,
        },
    }
}

/// y = clock − reference, x = reference, both relative to an origin so f64 keeps ns precision.
#[derive(Clone, Copy, Debug)]
struct Line {
    x0: i64,
    y0: i64,
    slope: f64,
    intercept: f64,
}

impl Line {
    fn xy(&self, p: &Sandwich) -> (f64, f64) {
        (
            (p.reference_ns - self.x0) as f64,
            ((p.clock_ns - p.reference_ns) - self.y0) as f64,
        )
    }

    fn residual(&self, p: &Sandwich) -> f64 {
        let (x, y) = self.xy(p);
        y - (self.intercept + self.slope * x)
    }
}

/// A sandwich's weight in the fit: its pairing error grows with its width, so a tight one
/// counts more (inverse variance, with a 100 ns floor for the clocks' own resolution).
fn weight(p: &Sandwich) -> f64 {
    let w = p.width_ns.max(0) as f64 + 100.0;
    1.0 / (w * w)
}

fn fit(points: &[&Sandwich]) -> Line {
    let mut line = Line {
        x0: points.first().map_or(0, |p| p.reference_ns),
        y0: points.first().map_or(0, |p| p.clock_ns - p.reference_ns),
        slope: 0.0,
        intercept: 0.0,
    };
    if points.len() < 2 {
        return line;
    }
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for p in points {
        let (x, y) = line.xy(p);
        let w = weight(p);
        sw += w;
        sx += w * x;
        sy += w * y;
    }
    let (mx, my) = (sx / sw, sy / sw);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for p in points {
        let (x, y) = line.xy(p);
        let w = weight(p);
        sxx += w * (x - mx) * (x - mx);
        sxy += w * (x - mx) * (y - my);
    }
    if sxx > 0.0 {
        line.slope = sxy / sxx;
    }
    line.intercept = my - line.slope * mx;
    line
}

/// A measured step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepMeasurement {
    pub requested_ns: i64,
    /// The jump of (clock − reference) across the step, less what the clock's rate accounts for.
    pub measured_ns: i64,
}

/// Steps the clock by `nanos` and measures the jump against the reference; `rate_ppm` is the
/// clock's rate against the reference at the time (from [`measure_rate`]), so the time spent
/// between the two readings is not counted as step.
pub fn measure_step<C, R>(
    clock: &mut C,
    reference: &R,
    nanos: i64,
    rate_ppm: f64,
    sandwiches: usize,
) -> Result<StepMeasurement, ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let before = tightest_sandwich(&*clock, reference, sandwiches);
    clock.step(nanos)?;
    let after = tightest_sandwich(&*clock, reference, sandwiches);
    let elapsed = (after.reference_ns - before.reference_ns) as f64;
    let expected_without_step = elapsed * (1.0 + rate_ppm * 1e-6);
    let moved = (after.clock_ns - before.clock_ns) as f64;
    Ok(StepMeasurement {
        requested_ns: nanos,
        measured_ns: (moved - expected_without_step).round() as i64,
    })
}

/// What `dantesync clock-test` does and how strictly it judges.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockTestConfig {
    /// Frequencies to set and measure, ppm.
    pub frequencies_ppm: Vec<f64>,
    /// A step to make and measure, then undo (and measure again), ns.
    pub step_ns: i64,
    /// Largest acceptable |measured − set| for a frequency, ppm.
    pub tolerance_ppm: f64,
    /// Largest acceptable |measured − requested| for a step, ns.
    pub step_tolerance_ns: i64,
    pub measure: MeasureConfig,
}

impl Default for ClockTestConfig {
    fn default() -> Self {
        Self {
            frequencies_ppm: vec![100.0, -250.0],
            step_ns: 1_500_000_000,
            tolerance_ppm: 0.5,
            step_tolerance_ns: 1_000_000,
            measure: MeasureConfig::default(),
        }
    }
}

/// One frequency setting and what was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrequencyResult {
    pub set_ppm: f64,
    /// What the clock reports after setting it (quantised by the OS interface).
    pub applied_ppm: f64,
    pub measured: RateMeasurement,
    pub passed: bool,
}

impl FrequencyResult {
    pub fn error_ppm(&self) -> f64 {
        self.measured.ppm - self.applied_ppm
    }
}

/// One step and what was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    pub step: StepMeasurement,
    pub passed: bool,
}

impl StepResult {
    pub fn error_ns(&self) -> i64 {
        self.step.measured_ns - self.step.requested_ns
    }
}

/// A platform-specific check run alongside the measurements (kernel status flags, detection
/// of another program's adjustments).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// What was seen, for the report.
    pub detail: String,
}

/// Everything `clock-test` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockTestReport {
    pub clock: &'static str,
    pub reference: &'static str,
    pub original_ppm: f64,
    /// The rate at the original frequency (informative: another program's slew shows here).
    pub baseline: RateMeasurement,
    pub frequencies: Vec<FrequencyResult>,
    pub steps: Vec<StepResult>,
    pub restored_ppm: f64,
    pub tolerance_ppm: f64,
    pub step_tolerance_ns: i64,
    /// Platform checks the caller adds (see `linux::check_kernel_interfaces`).
    pub checks: Vec<Check>,
}

impl ClockTestReport {
    pub fn passed(&self) -> bool {
        !self.frequencies.is_empty()
            && self.frequencies.iter().all(|f| f.passed)
            && self.steps.iter().all(|s| s.passed)
            && self.checks.iter().all(|c| c.passed)
    }
}

/// Sets each frequency and measures it, restores the original frequency, steps forward and back
/// and measures both steps. The clock ends at its original frequency and (to within the
/// steps' errors) its original time; on an error the original frequency is restored before
/// the error is returned.
pub fn run<C, R>(
    clock: &mut C,
    reference: &R,
    cfg: &ClockTestConfig,
) -> Result<ClockTestReport, ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let original = clock.frequency()?;
    let result = run_inner(clock, reference, cfg, original);
    let restore = original.clamp(-clock.max_frequency(), clock.max_frequency());
    match result {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = clock.set_frequency(restore);
            Err(e)
        }
    }
}

fn run_inner<C, R>(
    clock: &mut C,
    reference: &R,
    cfg: &ClockTestConfig,
    original: f64,
) -> Result<ClockTestReport, ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let baseline = measure_rate(&*clock, reference, &cfg.measure);
    let mut frequencies = Vec::new();
    for &ppm in &cfg.frequencies_ppm {
        clock.set_frequency(ppm)?;
        let applied = clock.frequency()?;
        let measured = measure_rate(&*clock, reference, &cfg.measure);
        frequencies.push(FrequencyResult {
            set_ppm: ppm,
            applied_ppm: applied,
            measured,
            passed: (measured.ppm - applied).abs() <= cfg.tolerance_ppm
                && (applied - ppm).abs() <= cfg.tolerance_ppm,
        });
    }
    let max = clock.max_frequency();
    clock.set_frequency(original.clamp(-max, max))?;
    reference.sleep(cfg.measure.settle);
    let mut steps = Vec::new();
    if cfg.step_ns != 0 {
        for nanos in [cfg.step_ns, -cfg.step_ns] {
            let step = measure_step(
                clock,
                reference,
                nanos,
                baseline.ppm,
                cfg.measure.sandwiches,
            )?;
            steps.push(StepResult {
                step,
                passed: (step.measured_ns - nanos).abs() <= cfg.step_tolerance_ns,
            });
        }
    }
    Ok(ClockTestReport {
        clock: clock.name(),
        reference: reference.name(),
        original_ppm: original,
        baseline,
        frequencies,
        steps,
        restored_ppm: clock.frequency()?,
        tolerance_ppm: cfg.tolerance_ppm,
        step_tolerance_ns: cfg.step_tolerance_ns,
        checks: Vec::new(),
    })
}

/// How the start-up self-test probes a clock before a servo may drive it.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfTestConfig {
    /// The frequency change applied for the probe, ppm.
    pub delta_ppm: f64,
    /// Largest acceptable |measured − applied| change, ppm. The self-test catches a wrong sign
    /// or unit (errors of 100 % or more), not fractions of a ppm, so a short measurement will do.
    pub tolerance_ppm: f64,
    pub measure: MeasureConfig,
}

impl Default for SelfTestConfig {
    fn default() -> Self {
        Self {
            delta_ppm: 100.0,
            tolerance_ppm: 5.0,
            measure: MeasureConfig {
                settle: Duration::from_millis(200),
                window: Duration::from_secs(2),
                checkpoints: 21,
                sandwiches: 15,
            },
        }
    }
}

/// What the self-test measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrequencyResponse {
    /// The change the clock reports having applied, ppm.
    pub applied_change_ppm: f64,
    /// The change of its rate against the reference, ppm.
    pub measured_change_ppm: f64,
    pub before: RateMeasurement,
    pub after: RateMeasurement,
}

/// Changes the frequency by `cfg.delta_ppm` for a moment and checks that the clock's rate
/// against the reference changes by that much, in that direction; restores the frequency in
/// every case. Measuring the *change* makes the check independent of the clock's own rate
/// error. A clock that fails must not be disciplined: with the sign wrong, a servo pushes it
/// away from the leader at full speed.
pub fn check_frequency_response<C, R>(
    clock: &mut C,
    reference: &R,
    cfg: &SelfTestConfig,
) -> Result<FrequencyResponse, ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let original = clock.frequency()?;
    let max = clock.max_frequency();
    let restore = original.clamp(-max, max);
    let probe = if restore + cfg.delta_ppm <= max {
        restore + cfg.delta_ppm
    } else {
        restore - cfg.delta_ppm
    };
    let before = measure_rate(&*clock, reference, &cfg.measure);
    let probed = clock.set_frequency(probe).and_then(|()| {
        let applied = clock.frequency()? - original;
        Ok((applied, measure_rate(&*clock, reference, &cfg.measure)))
    });
    let restored = clock.set_frequency(restore);
    let (applied, after) = probed?;
    restored?;
    let response = FrequencyResponse {
        applied_change_ppm: applied,
        measured_change_ppm: after.ppm - before.ppm,
        before,
        after,
    };
    let measured = response.measured_change_ppm;
    let what = format!(
        "{}: a {applied:+.3} ppm frequency change measured {measured:+.3} ppm against {}",
        clock.name(),
        reference.name()
    );
    match check_adjustment(applied, measured, cfg.tolerance_ppm) {
        AdjustmentCheck::Correct => Ok(response),
        AdjustmentCheck::WrongSign { .. } => Err(ClockError::SelfTestFailed(format!(
            "{what}: the adjustment runs the clock the wrong way. Refusing to discipline it: a \
             servo would push it away from the leader"
        ))),
        AdjustmentCheck::WrongScale { ratio, .. } => Err(ClockError::SelfTestFailed(format!(
            "{what} ({ratio:.2} times the intended change): the adjustment's unit is wrong on \
             this system. Refusing to discipline it"
        ))),
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed {
        "PASS"
    } else {
        "FAIL"
    }
}

fn fmt_rate(m: &RateMeasurement) -> String {
    format!(
        "({}/{} checkpoints over {:.1} s, residual {:.2} µs rms, widest sandwich {:.1} µs)",
        m.used,
        m.taken,
        m.span_s,
        m.residual_rms_ns * 1e-3,
        m.widest_sandwich_ns as f64 * 1e-3
    )
}

impl fmt::Display for ClockTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "clock-test: {} measured against {}",
            self.clock, self.reference
        )?;
        writeln!(f, "  original frequency  {:+.3} ppm", self.original_ppm)?;
        writeln!(
            f,
            "  baseline            measured {:+.3} ppm {}",
            self.baseline.ppm,
            fmt_rate(&self.baseline)
        )?;
        for r in &self.frequencies {
            writeln!(
                f,
                "  set {:+9.3} ppm     applied {:+.3} ppm, measured {:+.3} ppm, error {:+.3} ppm \
                 (limit ±{}) {} {}",
                r.set_ppm,
                r.applied_ppm,
                r.measured.ppm,
                r.error_ppm(),
                self.tolerance_ppm,
                verdict(r.passed),
                fmt_rate(&r.measured)
            )?;
        }
        for s in &self.steps {
            writeln!(
                f,
                "  step {:+.9} s   measured {:+.9} s, error {:+} ns (limit ±{} ns) {}",
                s.step.requested_ns as f64 * 1e-9,
                s.step.measured_ns as f64 * 1e-9,
                s.error_ns(),
                self.step_tolerance_ns,
                verdict(s.passed)
            )?;
        }
        for c in &self.checks {
            writeln!(f, "  {:<19} {} {}", c.name, c.detail, verdict(c.passed))?;
        }
        writeln!(f, "  restored frequency  {:+.3} ppm", self.restored_ppm)?;
        write!(f, "clock-test: {}", verdict(self.passed()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::simulated::{HostClock, ManualHost, SimulatedClock};
    use dantesync_core::LocalTime;

    const S: i64 = 1_000_000_000;

    /// The host's timeline as a raw counter, where each read costs a pseudo-random 0.5–40 µs
    /// (with a 2 ms stall one read in 50), like a loaded machine or an emulator. The counter is
    /// sampled at a random point inside its read, so a reading is up to 40 µs older than the
    /// moment the call returns.
    struct NoisyReference {
        host: ManualHost,
        seed: Cell<u64>,
        reads: Cell<u64>,
    }

    impl NoisyReference {
        fn new(host: ManualHost) -> Self {
            Self {
                host,
                seed: Cell::new(0x9E37_79B9_7F4A_7C15),
                reads: Cell::new(0),
            }
        }

        fn next(&self) -> u64 {
            let mut x = self.seed.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.seed.set(x);
            x
        }
    }

    impl Reference for NoisyReference {
        fn name(&self) -> &'static str {
            "virtual raw counter"
        }
        fn now_ns(&self) -> i64 {
            self.reads.set(self.reads.get() + 1);
            let cost = if self.next().is_multiple_of(50) {
                2_000_000
            } else {
                500 + (self.next() % 39_500) as i64
            };
            let before = (self.next() % cost as u64) as i64;
            self.host.advance(before);
            let sample = self.host.realtime_ns();
            self.host.advance(cost - before);
            sample
        }
        fn sleep(&self, d: Duration) {
            self.host.advance(d.as_nanos() as i64);
        }
    }

    fn setup(drift_ppm: f64) -> (SimulatedClock<ManualHost>, NoisyReference) {
        let host = ManualHost::new(1_785_427_891 * S);
        let clock = SimulatedClock::with_host(host.clone(), drift_ppm, 0.0);
        (clock, NoisyReference::new(host))
    }

    #[test]
    fn the_tightest_sandwich_is_kept_and_centred() {
        let (clock, reference) = setup(0.0);
        let s = tightest_sandwich(&clock, &reference, 25);
        // Reads cost 0.5–40 µs here; the tightest of 25 is a few µs wide, and the clock was
        // read inside the bracket, so the midpoint is at most half the width off.
        assert!((500..5_000).contains(&s.width_ns), "{s:?}");
        assert!(
            (s.reference_ns - s.clock_ns).abs() <= s.width_ns / 2,
            "{s:?}"
        );
    }

    #[test]
    fn a_rate_is_resolved_to_a_tenth_of_a_ppm_through_heavy_read_noise() {
        // Reads that cost up to 40 µs and stall for 2 ms one time in 50: far worse than the
        // qemu guest, and still 5 times inside clock-test's 0.5 ppm limit.
        for drift in [0.0, 100.0, -250.0, 37.5] {
            let (clock, reference) = setup(drift);
            let m = measure_rate(&clock, &reference, &MeasureConfig::default());
            assert!((m.ppm - drift).abs() < 0.1, "drift {drift}: {m:?}");
            assert_eq!(m.taken, 41);
            assert!(m.used >= 35, "{m:?}");
            assert!((m.span_s - 4.0).abs() < 0.01, "{m:?}");
        }
    }

    #[test]
    fn a_naive_two_point_read_would_not_resolve_it() {
        // Why sandwiches: one reference read and one clock read, 1 s apart, carry the read
        // cost's spread (up to 2 ms here) straight into the rate.
        let (clock, reference) = setup(0.0);
        let mut worst: f64 = 0.0;
        for _ in 0..20 {
            let r0 = reference.now_ns();
            let c0 = clock.now().nanos();
            reference.sleep(Duration::from_secs(1));
            let r1 = reference.now_ns();
            let c1 = clock.now().nanos();
            let ppm = ((c1 - c0) as f64 / (r1 - r0) as f64 - 1.0) * 1e6;
            worst = worst.max(ppm.abs());
        }
        assert!(worst > 5.0, "{worst}");
    }

    #[test]
    fn fit_rate_is_exact_on_a_clean_line_and_drops_a_spoiled_point() {
        let mut points: Vec<Sandwich> = (0..21)
            .map(|i| {
                let r = i * 100_000_000;
                Sandwich {
                    reference_ns: r,
                    clock_ns: 1_700_000_000 * S + r + r / 10_000, // +100 ppm
                    width_ns: 1_000,
                }
            })
            .collect();
        let clean = fit_rate(&points);
        assert!((clean.ppm - 100.0).abs() < 1e-6, "{clean:?}");
        assert_eq!(clean.used, 21);
        points[10].clock_ns += 400_000; // one reading 400 µs late
        let spoiled = fit_rate(&points);
        assert!((spoiled.ppm - 100.0).abs() < 1e-6, "{spoiled:?}");
        assert_eq!(spoiled.used, 20);
        assert_eq!(spoiled.taken, 21);
    }

    #[test]
    fn the_clock_test_passes_a_clock_that_does_what_it_is_told() {
        let (mut clock, reference) = setup(0.0);
        clock.set_frequency(12.0).unwrap();
        let before = clock.now().nanos() - reference.host.realtime_ns();
        let report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
        assert!(report.passed(), "{report}");
        assert_eq!(report.original_ppm, 12.0);
        assert!((report.baseline.ppm - 12.0).abs() < 0.1, "{report}");
        assert_eq!(report.frequencies.len(), 2);
        assert!(
            (report.frequencies[0].measured.ppm - 100.0).abs() < 0.1,
            "{report}"
        );
        assert!(
            (report.frequencies[1].measured.ppm + 250.0).abs() < 0.1,
            "{report}"
        );
        assert_eq!(report.steps.len(), 2);
        // Steps are exact on the simulated clock up to the sandwich's pairing (< 5 µs here).
        assert_eq!(report.steps[0].step.requested_ns, 1_500_000_000);
        assert!(report.steps[0].error_ns().abs() < 5_000, "{report}");
        assert_eq!(report.steps[1].step.requested_ns, -1_500_000_000);
        assert!(report.steps[1].error_ns().abs() < 5_000, "{report}");
        // The clock ends where it started: original frequency, and its time back to within
        // what 12 ppm and the test frequencies accumulated over the ~13 s of the test.
        assert_eq!(report.restored_ppm, 12.0);
        assert_eq!(clock.frequency().unwrap(), 12.0);
        let after = clock.now().nanos() - reference.host.realtime_ns();
        let drifted = after - before;
        assert!((-1_000_000..1_000_000).contains(&drifted), "{drifted}");
        let text = report.to_string();
        assert!(text.contains("clock-test: PASS"), "{text}");
        assert!(text.contains("set  +100.000 ppm"), "{text}");
    }

    #[test]
    fn a_failed_platform_check_fails_the_report_and_is_printed() {
        let (mut clock, reference) = setup(0.0);
        let mut report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
        assert!(report.passed(), "{report}");
        report.checks.push(Check {
            name: "STA_UNSYNC",
            passed: false,
            detail: "still set after synchronising".into(),
        });
        assert!(!report.passed());
        let text = report.to_string();
        assert!(
            text.contains("  STA_UNSYNC          still set after synchronising FAIL"),
            "{text}"
        );
    }

    #[test]
    fn a_clock_with_an_unexpected_rate_fails() {
        // 3 ppm of natural drift that the clock does not know about: every setting is off by 3.
        let (mut clock, reference) = setup(3.0);
        let report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
        assert!(!report.passed());
        for r in &report.frequencies {
            assert!(!r.passed);
            assert!((r.error_ppm() - 3.0).abs() < 0.2, "{report}");
        }
        // Steps are still right: the measured baseline accounts for the rate.
        assert!(report.steps.iter().all(|s| s.passed), "{report}");
        assert!(report.to_string().ends_with("clock-test: FAIL"));
    }

    /// A clock that applies the frequency with the wrong sign and steps 1 ms short.
    struct Broken(SimulatedClock<ManualHost>);

    impl Clock for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn now(&self) -> LocalTime {
            self.0.now()
        }
        fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
            self.0.set_frequency(-ppm)
        }
        fn frequency(&self) -> Result<f64, ClockError> {
            self.0.frequency().map(|p| -p)
        }
        fn max_frequency(&self) -> f64 {
            500.0
        }
        fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
            self.0.step(nanos - nanos.signum() * 1_100_000)
        }
    }

    #[test]
    fn a_clock_with_the_wrong_sign_or_step_fails_every_check() {
        let (clock, reference) = setup(0.0);
        let mut broken = Broken(clock);
        let report = run(&mut broken, &reference, &ClockTestConfig::default()).unwrap();
        assert!(!report.passed());
        assert!(
            (report.frequencies[0].measured.ppm + 100.0).abs() < 0.2,
            "{report}"
        );
        assert!(
            (report.frequencies[1].measured.ppm - 250.0).abs() < 0.2,
            "{report}"
        );
        assert!(report.frequencies.iter().all(|r| !r.passed));
        assert!(report.steps.iter().all(|s| !s.passed), "{report}");
        assert!(
            (report.steps[0].error_ns() + 1_100_000).abs() < 5_000,
            "{report}"
        );
    }

    /// A clock whose frequency adjustment is `scale` times what it is told (sign included).
    struct Scaled(SimulatedClock<ManualHost>, f64);

    impl Clock for Scaled {
        fn name(&self) -> &'static str {
            "scaled"
        }
        fn now(&self) -> LocalTime {
            self.0.now()
        }
        fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
            self.0.set_frequency(ppm * self.1)
        }
        fn frequency(&self) -> Result<f64, ClockError> {
            self.0.frequency().map(|p| p / self.1)
        }
        fn max_frequency(&self) -> f64 {
            500.0
        }
        fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
            self.0.step(nanos)
        }
    }

    #[test]
    fn the_self_test_accepts_a_correct_clock_whatever_its_own_drift() {
        let (mut clock, reference) = setup(-42.0);
        clock.set_frequency(7.0).unwrap();
        let r =
            check_frequency_response(&mut clock, &reference, &SelfTestConfig::default()).unwrap();
        assert_eq!(r.applied_change_ppm, 100.0);
        assert!((r.measured_change_ppm - 100.0).abs() < 0.5, "{r:?}");
        // The drift shows in both measurements, not in their difference.
        assert!((r.before.ppm - (-35.0)).abs() < 0.5, "{r:?}");
        assert_eq!(clock.frequency().unwrap(), 7.0, "restored");
    }

    #[test]
    fn the_self_test_probes_downwards_near_the_top_of_the_range() {
        let (mut clock, reference) = setup(0.0);
        clock.set_frequency(450.0).unwrap();
        let r =
            check_frequency_response(&mut clock, &reference, &SelfTestConfig::default()).unwrap();
        assert_eq!(r.applied_change_ppm, -100.0);
        assert!((r.measured_change_ppm + 100.0).abs() < 0.5, "{r:?}");
        assert_eq!(clock.frequency().unwrap(), 450.0);
    }

    #[test]
    fn the_self_test_refuses_an_inverted_clock() {
        let (clock, reference) = setup(0.0);
        let mut inverted = Scaled(clock, -1.0);
        let e = check_frequency_response(&mut inverted, &reference, &SelfTestConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a +100.000 ppm frequency change measured -10"),
            "{e}"
        );
        assert!(e.contains("runs the clock the wrong way"), "{e}");
        assert_eq!(inverted.frequency().unwrap(), 0.0, "restored");
    }

    #[test]
    fn the_self_test_refuses_a_clock_with_the_wrong_unit() {
        let (clock, reference) = setup(0.0);
        // 100 ns units taken for QPC counts at 3.58 MHz, say: a third of the intended change.
        let mut scaled = Scaled(clock, 0.35);
        let cfg = SelfTestConfig {
            delta_ppm: 20.0,
            ..SelfTestConfig::default()
        };
        let e = check_frequency_response(&mut scaled, &reference, &cfg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("measured +6.") || e.contains("measured +7."),
            "{e}"
        );
        assert!(
            e.contains("(0.3") && e.contains(" times the intended change)"),
            "{e}"
        );
    }

    /// A clock whose frequency cannot be set (no privilege).
    struct ReadOnly(SimulatedClock<ManualHost>, Cell<u32>);

    impl Clock for ReadOnly {
        fn name(&self) -> &'static str {
            "read-only"
        }
        fn now(&self) -> LocalTime {
            self.0.now()
        }
        fn set_frequency(&mut self, _ppm: f64) -> Result<(), ClockError> {
            self.1.set(self.1.get() + 1);
            Err(ClockError::PermissionDenied {
                operation: "set",
                hint: "be root",
            })
        }
        fn frequency(&self) -> Result<f64, ClockError> {
            Ok(0.0)
        }
        fn max_frequency(&self) -> f64 {
            500.0
        }
        fn step(&mut self, _nanos: i64) -> Result<(), ClockError> {
            unreachable!("never reached: the first set fails")
        }
    }

    #[test]
    fn an_error_stops_the_test_and_tries_to_restore_the_frequency() {
        let (clock, reference) = setup(0.0);
        let mut ro = ReadOnly(clock, Cell::new(0));
        let cfg = ClockTestConfig {
            measure: MeasureConfig {
                window: Duration::from_millis(100),
                checkpoints: 3,
                ..MeasureConfig::default()
            },
            ..ClockTestConfig::default()
        };
        let err = run(&mut ro, &reference, &cfg).unwrap_err();
        assert!(matches!(err, ClockError::PermissionDenied { .. }));
        // The failed +100 ppm, then the restore attempt.
        assert_eq!(ro.1.get(), 2);
    }
}
