//! Exercising a real clock: what it really does when told to change its rate or step,
//! measured against an independent reference counter (CLOCK_MONOTONIC_RAW on Linux, QPC on
//! Windows). Behind `dantesync clock-test` and the Windows start-up self-test. Generic over the
//! clock and the reference, so the arithmetic is unit-tested on the simulated clock in virtual
//! time.
//!
//! `measure` reads rates and steps; this file runs the full exercise and reports it;
//! `self_test` is the short probe a servo must pass before it may drive a clock.

mod measure;
mod self_test;
#[cfg(test)]
mod tests;

use std::fmt;

pub use measure::{
    fit_rate, measure_rate, measure_step, tightest_sandwich, MeasureConfig, RateMeasurement,
    Reference, Sandwich, StepMeasurement,
};
pub use self_test::{check_frequency_response, FrequencyResponse, SelfTestConfig};

use crate::clock::{Clock, ClockError};

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
