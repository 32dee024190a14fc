//! Reading a clock against a reference: its rate (ppm) and the size of a step.
//!
//! A single (reference, clock) pair read back to back is only as good as the delay between the
//! two reads, which under emulation or on a busy machine varies by tens of µs: ±15 ppm of noise
//! over a few seconds. So each checkpoint reads reference, clock, reference ("a sandwich"),
//! keeps the tightest of several sandwiches and pairs the clock reading with the midpoint of its
//! two reference readings. The rate is then the least-squares slope of (clock − reference)
//! over many checkpoints spread across the window, after dropping checkpoints that a
//! preemption spoiled.

use std::time::Duration;

use crate::clock::{Clock, ClockError};

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
