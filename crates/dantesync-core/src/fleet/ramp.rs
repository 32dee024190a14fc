//! The ramp detector of fleet mode: sees a leader's frequency step in the phase residuals
//! seconds before the rate estimator's kink test does.
//!
//! A leader stepping its frequency by r ppm makes every node's phase error ramp at r µs/s
//! (25 ppm: ~6 µs per 250-ms Sync against ~20 µs of timestamp noise). The rate estimator sees
//! it only once a kinked line beats a straight one at 5σ (~5 s at S1's noise, 125 µs of
//! phase), and the phase loop (τ = 30 s) would take minutes to undo it. The phase loop holds
//! the residual at zero in steady state, so a ramp is a mean shift that grows every sample,
//! the case a CUSUM detects fastest:
//!
//! - two one-sided CUSUMs on the residual, allowance k = 1σ, threshold h = 8σ (σ = the
//!   phase loop's running jitter), each sample clipped to ±4σ so one spike moves a sum by at
//!   most 3σ. On white Gaussian noise the run length to a false alarm is about
//!   e^(2k(h+1.166))/(2k²) ≈ 4·10⁷ samples (Siegmund), about 4 months of 250-ms Syncs per
//!   side; a ramp of a σ per sample crosses h after ~10 samples (2.5 s and ~65 µs at 25 ppm);
//! - an alarm is only believed once a hinge (zero, then a line from a change point) fits the
//!   recent samples better than a step (zero, then a constant) and its slope is at least 4
//!   standard errors from zero: a phase that jumped (a path delay newly measured, a reseeded
//!   gate) is the phase loop's business, not a frequency;
//! - the fit gives the ramp's rate, its standard error and the phase already accumulated: the
//!   controller moves the frequency by the rate at once and slews the phase back;
//! - for 20 s after a detection, k and h are halved: a change has just been seen, and what the
//!   first fit left of it (it is deliberately conservative) is looked for more keenly. A false
//!   alarm is no likelier for it in steady state, where this never applies.
//!
//! The detector arms only after `ARM_SAMPLES` accepted samples in a row, since a restart
//! (start-up, a step, a kink the rate servo reported), in which the phase loop's filtered
//! error stayed within the samples' noise: a loop still taking up a start-up error (or what a
//! recovery left) makes a residual that decays, which a hinge fits better than a step, and
//! armed by count alone it fired on one in the bed: seven false alarms of 6-18 ppm in the
//! first two minutes of fleet-steady, each moving a node's frequency. Once armed it stays
//! armed until the next restart, however far a real ramp then takes the error.

use std::collections::VecDeque;

/// Samples kept for the change-point fit (10 s at 4 Syncs/s).
const HISTORY: usize = 40;
/// CUSUM allowance and threshold, in σ of the samples.
const K_SIGMAS: f64 = 1.0;
const H_SIGMAS: f64 = 8.0;
/// One sample adds at most this many σ (before the allowance) to a sum.
const CLIP_SIGMAS: f64 = 4.0;
/// Accepted samples after a restart before the detector arms.
pub const ARM_SAMPLES: u32 = 40;
/// An alarm that has not looked like a ramp for this many samples was a level shift.
const MAX_ALARM_RUN: u32 = 24;
/// After a detection, samples in which the remainder is looked for more keenly (20 s).
const FOLLOW_SAMPLES: u32 = 80;
/// Samples after the change point the fit needs.
const MIN_FIT: usize = 6;
/// The fitted slope must be this many standard errors from zero.
const MIN_SLOPE_SIGMAS: f64 = 4.0;

/// A detected ramp of the phase error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    /// Where it started (the change point, ns on the step-free axis).
    pub start_sf: i64,
    /// The rate the phase error grows at (ppm, positive = the clock runs ahead).
    pub rate_ppm: f64,
    /// Standard error of `rate_ppm`.
    pub sigma_ppm: f64,
    /// The phase accumulated since the change point, as fitted at the last sample (ns).
    pub phase_ns: f64,
}

impl Ramp {
    /// The part of the rate the fit is sure of: its magnitude less two standard errors. A
    /// ramp caught early was caught with the noise's help and tends to be overestimated; what
    /// this leaves is caught by the next detection or the estimator's kink, an overshoot
    /// would be a ramp of its own.
    pub fn sure_rate_ppm(&self) -> f64 {
        self.rate_ppm.signum() * (self.rate_ppm.abs() - 2.0 * self.sigma_ppm).max(0.0)
    }
}

/// Two-sided CUSUM plus a change-point fit on the phase residuals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RampDetector {
    history: VecDeque<(i64, f64)>,
    pos: f64,
    neg: f64,
    seen: u32,
    alarm_run: u32,
    /// Samples left in which the remainder of a ramp just detected is looked for with half the
    /// allowance and threshold.
    follow: u32,
    detections: u64,
}

impl RampDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the samples; the detector arms again after `ARM_SAMPLES`.
    pub fn restart(&mut self) {
        let detections = self.detections;
        *self = Self::default();
        self.detections = detections;
    }

    /// Ramps detected so far.
    pub fn detections(&self) -> u64 {
        self.detections
    }

    /// One accepted residual `e_ns` of the phase loop at `sf`, with its noise `sigma_ns`;
    /// `settled`: the loop's filtered error is within that noise (what arming waits for).
    pub fn sample(&mut self, sf: i64, e_ns: f64, sigma_ns: f64, settled: bool) -> Option<Ramp> {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((sf, e_ns));
        if self.seen < ARM_SAMPLES {
            self.seen = if settled { self.seen + 1 } else { 0 };
            return None;
        }
        let clipped = e_ns.clamp(-CLIP_SIGMAS * sigma_ns, CLIP_SIGMAS * sigma_ns);
        let scale = if self.follow > 0 { 0.5 } else { 1.0 };
        self.follow = self.follow.saturating_sub(1);
        let k = scale * K_SIGMAS * sigma_ns;
        self.pos = (self.pos + clipped - k).max(0.0);
        self.neg = (self.neg - clipped - k).max(0.0);
        let h = scale * H_SIGMAS * sigma_ns;
        let up = self.pos >= h;
        if !up && self.neg < h {
            self.alarm_run = 0;
            return None;
        }
        self.alarm_run += 1;
        if self.alarm_run > MAX_ALARM_RUN {
            self.restart();
            return None;
        }
        let ramp = self.fit(sigma_ns)?;
        if (ramp.rate_ppm > 0.0) != up {
            return None;
        }
        self.detections += 1;
        self.follow = FOLLOW_SAMPLES;
        // A second detection needs fresh evidence: the sums and the samples start again, armed.
        self.history.clear();
        self.pos = 0.0;
        self.neg = 0.0;
        self.alarm_run = 0;
        Some(ramp)
    }

    /// The best hinge against the best step over the history; the hinge if it wins and its
    /// slope is significant.
    fn fit(&self, sigma_ns: f64) -> Option<Ramp> {
        let pts: Vec<(f64, f64)> = {
            let last = self.history.back()?.0;
            self.history
                .iter()
                .map(|&(sf, e)| ((sf - last) as f64 * 1e-9, e))
                .collect()
        };
        let n = pts.len();
        if n < MIN_FIT + 1 {
            return None;
        }
        // before[c] = Σ e² of the samples before index c.
        let mut before = vec![0.0; n + 1];
        for (i, &(_, e)) in pts.iter().enumerate() {
            before[i + 1] = before[i] + e * e;
        }
        let mut best_hinge: Option<(f64, usize, f64, f64)> = None;
        let mut best_step = f64::INFINITY;
        for c in 1..n {
            let t0 = pts[c - 1].0;
            let tail = &pts[c..];
            let (mut sum_et, mut sum_tt, mut sum_e, mut sum_ee) = (0.0, 0.0, 0.0, 0.0);
            for &(t, e) in tail {
                let tau = t - t0;
                sum_et += e * tau;
                sum_tt += tau * tau;
                sum_e += e;
                sum_ee += e * e;
            }
            let r = sum_et / sum_tt;
            let sse_hinge = before[c] + sum_ee - r * sum_et;
            let sse_step = before[c] + sum_ee - sum_e * sum_e / tail.len() as f64;
            best_step = best_step.min(sse_step);
            // A step may be as recent as the last sample; a slope needs a few.
            if tail.len() >= MIN_FIT && best_hinge.is_none_or(|(s, ..)| sse_hinge < s) {
                best_hinge = Some((sse_hinge, c, r, sum_tt));
            }
        }
        let (sse, c, r, sum_tt) = best_hinge?;
        let sigma_r = sigma_ns / sum_tt.sqrt();
        if sse >= best_step || r.abs() < MIN_SLOPE_SIGMAS * sigma_r {
            return None;
        }
        let t0 = pts[c - 1].0;
        Some(Ramp {
            start_sf: self.history[c - 1].0,
            rate_ppm: r * 1e-3,
            sigma_ppm: sigma_r * 1e-3,
            phase_ns: r * (0.0 - t0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC_NS: i64 = 250_000_000;
    const SIGMA: f64 = 20_000.0;

    /// A deterministic Gaussian source (xorshift + Box–Muller), so the tests are repeatable.
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn gauss(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Samples of σ-noise with a ramp of `ppm` from sample `from`; the first detection.
    fn first_detection(seed: u64, ppm: f64, from: i64, samples: i64) -> Option<(i64, Ramp)> {
        let mut d = RampDetector::new();
        let mut noise = Noise(seed);
        for i in 0..samples {
            let ramp = (i - from).max(0) as f64 * 0.25 * ppm * 1e3;
            if let Some(r) = d.sample(i * SYNC_NS, ramp + SIGMA * noise.gauss(), SIGMA, true) {
                return Some((i, r));
            }
        }
        None
    }

    #[test]
    fn a_25_ppm_ramp_is_seen_within_20_samples_and_measured() {
        let mut delays = Vec::new();
        let mut rates = Vec::new();
        for seed in 1..=50u64 {
            let (at, r) = first_detection(seed * 7919, 25.0, 100, 400).expect("never seen");
            let after = at - 100;
            delays.push(after);
            assert!(
                (1..=20).contains(&after),
                "seed {seed}: after {after} samples"
            );
            // The sure part of the rate (less 2σ) takes between a fifth of the ramp and
            // 15 ppm more than it every time; what is left is seen again or by the estimator.
            assert!(
                (5.0..40.0).contains(&r.sure_rate_ppm()),
                "seed {seed}: {} ± {}",
                r.rate_ppm,
                r.sigma_ppm
            );
            rates.push(r.sure_rate_ppm());
            let true_phase = after as f64 * 0.25 * 25e3;
            assert!(
                (r.phase_ns - true_phase).abs() < 40_000.0,
                "seed {seed}: phase {} vs {true_phase}",
                r.phase_ns
            );
        }
        delays.sort_unstable();
        // Half the time within 3 s (75 µs of phase at 25 ppm).
        assert!(
            delays[25] <= 12,
            "median {} samples: {delays:?}",
            delays[25]
        );
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        assert!((15.0..25.0).contains(&mean), "mean sure rate {mean}");
    }

    #[test]
    fn a_falling_ramp_is_seen_with_its_sign() {
        let (at, r) = first_detection(42, -25.0, 100, 400).expect("never seen");
        assert!(at - 100 <= 16);
        assert!(r.rate_ppm < -10.0, "{}", r.rate_ppm);
    }

    #[test]
    fn white_noise_of_the_stated_sigma_stays_quiet_for_a_million_samples() {
        // 10 × 100 000 samples (about 70 hours of 250-ms Syncs): not one detection.
        for seed in 1..=10u64 {
            assert_eq!(first_detection(seed * 104_729, 0.0, 0, 100_000), None);
        }
    }

    #[test]
    fn a_phase_jump_is_not_a_ramp() {
        // A 300 µs jump (a path delay newly measured) trips the CUSUM but fits a step.
        let mut d = RampDetector::new();
        let mut noise = Noise(3);
        for i in 0..200 {
            let e = if i >= 100 { 300_000.0 } else { 0.0 } + SIGMA * noise.gauss();
            assert_eq!(d.sample(i * SYNC_NS, e, SIGMA, true), None, "sample {i}");
        }
    }

    #[test]
    fn it_arms_only_after_the_settling_samples() {
        let mut d = RampDetector::new();
        for i in 0..i64::from(ARM_SAMPLES) {
            // A steep ramp from the first sample: the phase loop is still settling.
            let e = i as f64 * 0.25 * 100e3;
            assert_eq!(d.sample(i * SYNC_NS, e, SIGMA, true), None);
        }
    }

    #[test]
    fn it_arms_only_once_the_loop_has_settled_and_then_stays_armed() {
        // A loop still taking up a start-up error: 40 µs decaying at τ = 30 s, a slope the
        // hinge fit takes for a ramp of about 1.3 ppm at first. Unsettled samples do not
        // count towards arming, however many.
        let mut d = RampDetector::new();
        let mut noise = Noise(11);
        for i in 0..400 {
            let e = 40_000.0 * (-(i as f64) * 0.25 / 30.0).exp() + SIGMA * noise.gauss();
            assert_eq!(d.sample(i * SYNC_NS, e, SIGMA, false), None, "sample {i}");
        }
        assert!(d.seen < ARM_SAMPLES);
        // Settled: armed after ARM_SAMPLES, and a real ramp is then seen although the error
        // it makes is far from settled.
        let mut seen = None;
        for i in 400..800 {
            let ramp = (i - 500).max(0) as f64 * 0.25 * 25e3;
            let settled = i < 500;
            if let Some(r) = d.sample(i * SYNC_NS, ramp + SIGMA * noise.gauss(), SIGMA, settled) {
                seen = Some((i, r));
                break;
            }
        }
        let (at, r) = seen.expect("the ramp was not seen");
        assert!((501..=520).contains(&at), "seen at {at}");
        assert!(r.rate_ppm > 10.0, "{}", r.rate_ppm);
    }
}
