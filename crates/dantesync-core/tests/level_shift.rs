//! A level shift of the path delay keeps the rate estimate; a frequency step is still a rate
//! change (issue #12). The estimator is fed the unwrapped offset directly: a straight line of
//! the oscillator's rate, timestamp noise, and from 60 s on what the bed's "network trouble"
//! does (10 % loss, a further uniform 0..200 µs delay on every frame) or a rate step.

use dantesync_core::servo::{EstimatorConfig, RateEstimator};

/// Deterministic noise without a dependency: xorshift, Gaussian as a sum of 12 uniforms.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// When the link trouble starts.
const EVENT_S: f64 = 60.0;
/// When the frequency steps: as in S7, after a long quiet window. (A step 60 s into the
/// window is a known weakness of the kink test, not of the level shifts: the misfit of the
/// straight line inflates the noise and the wander it judges the kink by, and a +5 or +10 ppm
/// step at 20 µs can then go unseen; the estimator before level shifts behaved the same.)
const STEP_S: f64 = 200.0;
const RATE_PPM: f64 = 37.25;

/// What the estimate said after each sample: (t, slope, σ), from the event on.
struct Run {
    after_event: Vec<(f64, f64, f64)>,
    est: RateEstimator,
}

/// Sync every 250 ms for `to_s` seconds; `offset_us(t, noise)` is what the path and the rate
/// add to the offset at t, None for a lost frame.
fn run(
    to_s: f64,
    event_s: f64,
    mut offset_us: impl FnMut(f64, &mut Noise) -> Option<f64>,
    seed: u64,
) -> Run {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut after_event = Vec::new();
    let mut i = 0u32;
    loop {
        let t = f64::from(i) * 0.25;
        i += 1;
        if t >= to_s {
            break;
        }
        let Some(y) = offset_us(t, &mut noise) else {
            continue;
        };
        est.add((t * 1e9) as i64, (y * 1e3) as i128);
        if t >= event_s {
            if let Some(e) = est.estimate() {
                after_event.push((t, e.slope_ppm, e.sigma_ppm));
            }
        }
    }
    Run { after_event, est }
}

/// The bed's trouble: from the event on, 10 % loss and 0..200 µs more delay, uniform.
fn trouble(jitter_us: f64) -> impl FnMut(f64, &mut Noise) -> Option<f64> {
    move |t, noise| {
        let mut y = RATE_PPM * t + jitter_us * noise.gauss();
        if t >= EVENT_S {
            if noise.uniform() < 0.1 {
                return None;
            }
            y += 200.0 * noise.uniform();
        }
        Some(y)
    }
}

#[test]
fn a_level_shift_keeps_the_rate_and_its_claims_honest() {
    for jitter in [20.0, 10.0] {
        for seed in 1..=8u64 {
            let r = run(240.0, EVENT_S, trouble(jitter), seed);
            let c = r.est.counters();
            assert_eq!(c.restarts, 0, "{jitter} µs seed {seed}: restarted");
            assert_eq!(c.kinks, 0, "{jitter} µs seed {seed}: a shift became a kink");
            assert_eq!(r.est.level_shifts(), 1, "{jitter} µs seed {seed}");
            // Every estimate from the first sample after the shift on lies within three of its
            // standard errors of the truth (what a LOCK or NANO claim rests on), and the rate
            // stays within the bed's 0.3 ppm.
            for &(t, slope, sigma) in &r.after_event {
                let err = (slope - RATE_PPM).abs();
                assert!(
                    err <= 3.0 * sigma,
                    "{jitter} µs seed {seed}: at {t} s the slope is off by {err:.3} ppm, \
                     claimed σ {sigma:.3}"
                );
                assert!(
                    err < 0.3,
                    "{jitter} µs seed {seed}: at {t} s the slope is off by {err:.3} ppm"
                );
            }
            // The rate knowledge survives: the uncertainty stays below NANO's threshold while
            // the shift is being told from a ramp, and ends as that of the long window (a
            // restart would begin again near the LOCK threshold).
            let worst_sigma = r.after_event.iter().map(|e| e.2).fold(0.0, f64::max);
            assert!(
                worst_sigma < 0.5,
                "{jitter} µs seed {seed}: σ up to {worst_sigma:.3} ppm after the shift"
            );
            let last_sigma = r.after_event.last().map_or(f64::INFINITY, |e| e.2);
            assert!(
                last_sigma < 0.05,
                "{jitter} µs seed {seed}: σ {last_sigma:.3} ppm at the end"
            );
        }
    }
}

/// A frequency step makes the residuals grow linearly and trips the same detectors: it must
/// still be found as a rate change (a kink, or a restart), never carried across as a shift,
/// and no estimate may back a dishonest claim once the step is visible.
#[test]
fn a_frequency_step_is_still_a_rate_change() {
    for (jitter, step_ppm) in [
        (20.0, 25.0),
        (10.0, 25.0),
        (20.0, 5.0),
        (10.0, 5.0),
        (20.0, 2.0),
    ] {
        for seed in 1..=8u64 {
            let path = move |t: f64, noise: &mut Noise| {
                let ramp = if t > STEP_S {
                    step_ppm * (t - STEP_S)
                } else {
                    0.0
                };
                Some(RATE_PPM * t + ramp + jitter * noise.gauss())
            };
            let r = run(STEP_S + 120.0, STEP_S, path, seed);
            let c = r.est.counters();
            assert!(
                c.kinks + c.restarts >= 1,
                "{jitter} µs, +{step_ppm} ppm, seed {seed}: the rate change went unseen"
            );
            let truth = RATE_PPM + step_ppm;
            let e = r.est.estimate().unwrap();
            assert!(
                (e.slope_ppm - truth).abs() < 0.2,
                "{jitter} µs, +{step_ppm} ppm, seed {seed}: ended at {} ± {}",
                e.slope_ppm,
                e.sigma_ppm
            );
            assert_eq!(
                r.est.level_shifts(),
                0,
                "{jitter} µs, +{step_ppm} ppm, seed {seed}: a rate step taken for a level shift"
            );
            // From 30 s after the step on (S7's settling target: a 2 ppm step hides in 20 µs
            // of noise for 12–20 s), no estimate would back a dishonest claim: a standard
            // error that puts 3σ under NANO's 0.5 ppm (LOCK's 5 ppm) comes with an error under
            // it.
            for &(t, slope, sigma) in r.after_event.iter().filter(|e| e.0 >= STEP_S + 30.0) {
                let err = (slope - truth).abs();
                for threshold in [0.5, 5.0] {
                    assert!(
                        3.0 * sigma >= threshold || err < threshold,
                        "{jitter} µs, +{step_ppm} ppm, seed {seed}: at {t} s off by {err:.3} \
                         with σ {sigma:.3}"
                    );
                }
            }
        }
    }
}
