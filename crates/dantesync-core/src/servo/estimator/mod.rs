//! Robust estimate of the local oscillator's rate against the PTP leader.
//!
//! The input is the *unwrapped* offset: (T2 − T1) minus every correction this node made itself
//! (the integral of the frequency it applied, and its steps). What remains is the free-running
//! oscillator against the leader, so its slope is the natural drift, whatever the servo did in
//! the meantime, and the estimate never has to restart because the servo acted.
//!
//! The slope is fitted by least squares over a window that grows up to `max_window_s`; with
//! white timestamp noise that is the best linear unbiased estimator, and its standard error is
//! reported so that lock decisions can be honest. Outliers (late packets, spikes) are rejected
//! at `outlier_k` robust sigmas. A change of the oscillator's rate (a temperature step, a
//! bumped machine) shows as a kink in the otherwise straight line: a scan over candidate kink
//! times fits a continuous broken line and, when the kink is significant, the model keeps the
//! kink and the data after it. Phase stays continuous across the kink, which is why the new
//! slope is known well long before a fresh straight-line fit would be.
//!
//! This module holds the estimator's state and its public face; the parts live beside it:
//! `fit` (least squares, straight or broken line), `outliers` (robust rejection),
//! `weights` (a noisier stretch weighs less), `jump` (the timescale jumped: restart) and
//! `kink` (rate changes, told apart from delay steps).

mod fit;
mod jump;
mod kink;
mod outliers;
mod weights;

use std::collections::VecDeque;

use fit::{Model, Sample};

/// Tuning of the estimator. The defaults suit Dante's 4 Sync/s and PC oscillators.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimatorConfig {
    /// The window grows until it spans this many seconds...
    pub max_window_s: f64,
    /// ...or holds this many samples (a fast sender shortens it in time, not its cost).
    pub max_samples: usize,
    /// No estimate before this many samples.
    pub min_samples: usize,
    /// Samples further than this many robust sigmas from the fit are outliers.
    pub outlier_k: f64,
    /// A kink is accepted when its coefficient is this many standard errors from zero.
    pub change_k: f64,
    /// Both sides of a kink must hold at least this many seconds of data.
    pub min_segment_s: f64,
    /// How far back the kink scan looks.
    pub change_scan_s: f64,
    /// Consecutive mutually-consistent outliers that mean the timescale itself jumped.
    pub jump_samples: usize,
    /// The noise floor assumed for the timestamps, µs (capture resolution is about 1 µs).
    pub noise_floor_us: f64,
    /// The outlier limit follows the newest samples' own spread (robust sigma) when it is
    /// within this many µs: a network whose jitter grows keeps its samples in the fit;
    /// garbage spread wider than this stays out.
    pub noise_change_cap_us: f64,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            max_window_s: 600.0,
            max_samples: 4800,
            min_samples: 8,
            outlier_k: 4.0,
            change_k: 5.0,
            min_segment_s: 4.0,
            change_scan_s: 120.0,
            jump_samples: 8,
            noise_floor_us: 0.05,
            noise_change_cap_us: 1000.0,
        }
    }
}

/// What the estimator did with one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The sample is part of the fit.
    Accepted,
    /// The sample is too far from the fit and takes no part in it.
    Outlier,
    /// The last samples agreed with each other but not with the model: the offset jumped, so
    /// the old data were dropped and the estimate restarted from the recent samples.
    Restarted,
}

/// The estimator's current opinion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Slope of the unwrapped offset now: the oscillator's natural rate against the leader, ppm.
    pub slope_ppm: f64,
    /// Standard error of `slope_ppm`, ppm.
    pub sigma_ppm: f64,
    /// Standard deviation of the timestamps around the fit, µs.
    pub noise_us: f64,
    /// Samples in the fit (outliers excluded).
    pub samples: usize,
    /// Seconds the window spans.
    pub span_s: f64,
    /// Time of the newest sample, seconds since the estimator's origin.
    pub t_s: f64,
    /// The fitted offset at the newest sample, µs since the origin's offset.
    pub offset_us: f64,
    /// Whether the model currently holds a kink (a rate change inside the window).
    pub kinked: bool,
    /// How much more the slope varies than `sigma_ppm` says, as a variance ratio, because the
    /// timestamp noise is correlated in time (1 for white noise; measured from the
    /// residuals' wander at block scales of 1–8 s). `sigma_ppm` assumes white noise, as the
    /// frequency policy wants; a claim about the true error widens it by the square root.
    pub wander: f64,
}

/// The factor by which the estimator widens a fit's noise with `dof` degrees of freedom in
/// `Estimate::sigma_ppm` (the Student-t quantile at 3σ over the Gaussian one, at least
/// 1 + 0.5/√(2·dof)): for a caller that applies its own small-sample bound instead.
pub fn noise_inflation(dof: f64) -> f64 {
    fit::noise_inflation(dof)
}

/// How much a claim resting on a fit of `samples` samples widens its standard error because
/// the claim is looked at with every sample (see `fit::early_look_factor`): 1 from
/// `fit::SEQUENTIAL_SAMPLES` samples on.
pub fn early_look_factor(samples: usize) -> f64 {
    fit::early_look_factor(samples)
}

/// Counters of what the estimator has seen, for status surfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EstimatorCounters {
    pub outliers: u64,
    pub kinks: u64,
    /// Steps of the path delay seen: the data before each were moved by its height.
    pub delay_steps: u64,
    pub restarts: u64,
}

#[derive(Debug)]
pub struct RateEstimator {
    cfg: EstimatorConfig,
    origin: Option<(i64, i128)>,
    samples: VecDeque<Sample>,
    knot: Option<f64>,
    /// A step of the path delay in the model: after which time.
    step: Option<f64>,
    model: Option<Model>,
    next_change_check: f64,
    /// Outlier verdicts of the most recent samples, newest in bit 0.
    recent: u32,
    recent_len: u32,
    /// A kink seen by one check, waiting for the next check to confirm it.
    pending_kink: Option<f64>,
    /// A delay step seen by one check, waiting for the next check to confirm it.
    pending_step: Option<f64>,
    /// How much the present slope moves across the kink positions the data cannot tell
    /// apart (ppm, max − min): part of the slope's uncertainty while the model is kinked.
    knot_slope_spread: f64,
    /// The slope's variance inflation under correlated noise (1 for white noise), measured
    /// with each kink check (`kink::slope_wander`).
    wander: f64,
    counters: EstimatorCounters,
    scratch: Vec<f64>,
}

impl RateEstimator {
    pub fn new(cfg: EstimatorConfig) -> Self {
        Self {
            cfg,
            origin: None,
            samples: VecDeque::new(),
            knot: None,
            step: None,
            model: None,
            next_change_check: 0.0,
            recent: 0,
            recent_len: 0,
            pending_kink: None,
            pending_step: None,
            knot_slope_spread: 0.0,
            wander: 1.0,
            counters: EstimatorCounters::default(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &EstimatorConfig {
        &self.cfg
    }

    /// Forgets all samples (a new timescale). Counters are kept.
    pub fn reset(&mut self) {
        self.origin = None;
        self.samples.clear();
        self.knot = None;
        self.step = None;
        self.model = None;
        self.next_change_check = 0.0;
        self.recent = 0;
        self.recent_len = 0;
        self.pending_kink = None;
        self.pending_step = None;
        self.knot_slope_spread = 0.0;
        self.wander = 1.0;
    }

    pub fn counters(&self) -> EstimatorCounters {
        self.counters
    }

    /// The height of the delay step the model holds (µs, positive = the offsets went up),
    /// if it holds one.
    pub fn delay_step_us(&self) -> Option<f64> {
        self.model.filter(|m| m.step.is_some()).map(|m| m.d)
    }

    /// Adds a sample: `t_ns` is the local receive time on a step-free axis, `y_ns` the
    /// unwrapped offset. Both only matter relative to the first sample after a reset.
    pub fn add(&mut self, t_ns: i64, y_ns: i128) -> Verdict {
        let (t0, y0) = *self.origin.get_or_insert((t_ns, y_ns));
        let t = (t_ns as f64 - t0 as f64) * 1e-9;
        let y = (y_ns - y0) as f64 * 1e-3;
        // A new sample weighs what its newest neighbours weigh until the next reweighting.
        let w = self.samples.back().map_or(1.0, |s| s.w);
        self.samples.push_back(Sample {
            t,
            y,
            inlier: true,
            w,
        });
        self.trim_window(t);
        self.refit();

        let outlier = !self.samples.back().is_some_and(|s| s.inlier);
        self.recent = (self.recent << 1) | u32::from(outlier);
        self.recent_len = (self.recent_len + 1).min(32);
        if outlier {
            self.counters.outliers += 1;
            if self.offset_jumped() {
                self.restart_from_recent();
                return Verdict::Restarted;
            }
        } else if t >= self.next_change_check {
            self.next_change_check = t + 1.0;
            if self.find_kink() {
                self.refit();
            }
            self.wander = self.model.map_or(1.0, |m| self.slope_wander(&m));
        }
        if outlier {
            Verdict::Outlier
        } else {
            Verdict::Accepted
        }
    }

    /// Fraction of the last (up to) 16 samples that were outliers.
    pub fn recent_outlier_fraction(&self) -> f64 {
        let n = self.recent_len.min(16);
        if n == 0 {
            return 0.0;
        }
        let mask = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        f64::from((self.recent & mask).count_ones()) / f64::from(n)
    }

    /// The current estimate, once there are enough samples for one.
    pub fn estimate(&self) -> Option<Estimate> {
        let m = self.model?;
        if m.inliers < self.cfg.min_samples {
            return None;
        }
        let last = self.samples.back()?;
        let first = self.samples.front()?;
        let dof = (m.inliers as f64 - m.params() as f64).max(1.0);
        // The noise is itself estimated: widen it to the small-sample quantile so that an
        // early, lucky-looking fit cannot claim a lock it has not earned (see
        // `fit::noise_inflation`). A noise-free fit (exact inputs) must not claim infinite
        // certainty.
        let sigma = m.sigma.max(self.cfg.noise_floor_us) * fit::noise_inflation(dof);
        let spread = if m.knot.is_some() {
            0.5 * self.knot_slope_spread
        } else {
            0.0
        };
        Some(Estimate {
            slope_ppm: m.slope(),
            sigma_ppm: (sigma * sigma * m.slope_var + spread * spread).sqrt(),
            noise_us: m.sigma,
            samples: m.inliers,
            span_s: last.t - first.t,
            t_s: last.t,
            offset_us: m.predict(last.t),
            kinked: m.knot.is_some(),
            wander: self.wander,
        })
    }

    fn trim_window(&mut self, newest: f64) {
        while let Some(front) = self.samples.front() {
            if newest - front.t > self.cfg.max_window_s
                || self.samples.len() > self.cfg.max_samples.max(16)
            {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        if let (Some(knot), Some(front)) = (self.knot, self.samples.front()) {
            if knot <= front.t + self.cfg.min_segment_s {
                // Too little data before the kink to anchor it: a plain line from here on.
                self.knot = None;
            }
        }
        if let (Some(step), Some(front)) = (self.step, self.samples.front()) {
            if step < front.t {
                // Nothing before the step is left: it is the window's level now.
                self.step = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
