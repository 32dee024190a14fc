//! The estimator's unit tests.

use super::*;

/// Deterministic pseudo-Gaussian noise without a dependency (sum of 12 uniforms).
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

fn feed(
    est: &mut RateEstimator,
    from_s: f64,
    to_s: f64,
    ppm: impl Fn(f64) -> f64,
    sigma_us: f64,
    noise: &mut Noise,
) {
    // Integrate the rate so that phase is continuous across rate changes.
    let dt = 0.25;
    let mut t = from_s;
    let mut phase_us = 0.0;
    while t < to_s {
        let y = phase_us + sigma_us * noise.gauss();
        est.add((t * 1e9) as i64, (y * 1e3) as i128);
        phase_us += ppm(t) * dt;
        t += dt;
    }
}

#[test]
fn straight_line_slope_and_its_standard_error() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(7);
    feed(&mut est, 0.0, 120.0, |_| 37.25, 20.0, &mut noise);
    let e = est.estimate().unwrap();
    // σ·√(12/n)/T for 480 samples over 120 s at 20 µs: 0.0026 ppm.
    let bound = 20.0 * (12.0f64 / 480.0).sqrt() / 120.0;
    assert!(
        (e.sigma_ppm - bound).abs() < 0.5 * bound,
        "sigma {} vs bound {}",
        e.sigma_ppm,
        bound
    );
    assert!(
        (e.slope_ppm - 37.25).abs() < 4.0 * bound,
        "slope {}",
        e.slope_ppm
    );
    assert!((e.noise_us - 20.0).abs() < 2.0, "noise {}", e.noise_us);
    assert!(!e.kinked);
}

#[test]
fn no_estimate_before_min_samples() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    for i in 0..7i64 {
        est.add(i * 250_000_000, i128::from(i) * 1000);
        assert!(est.estimate().is_none());
    }
    est.add(7 * 250_000_000, 7000);
    let e = est.estimate().unwrap();
    assert!(
        (e.slope_ppm - 4.0).abs() < 1e-6,
        "exact line: {}",
        e.slope_ppm
    );
}

#[test]
fn spikes_are_rejected_and_do_not_bias_the_slope() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(11);
    let mut outliers = 0;
    for i in 0..1200 {
        let t = f64::from(i) * 0.25;
        let spike = if i % 50 == 17 { 2000.0 } else { 0.0 };
        let y = -12.5 * t + 200.0 * noise.gauss() + spike;
        if est.add((t * 1e9) as i64, (y * 1e3) as i128) == Verdict::Outlier && spike > 0.0 {
            outliers += 1;
        }
    }
    let e = est.estimate().unwrap();
    assert!(outliers >= 20, "spikes flagged: {outliers} of 24");
    assert!((e.slope_ppm + 12.5).abs() < 0.1, "slope {}", e.slope_ppm);
    assert!((e.noise_us - 200.0).abs() < 25.0, "noise {}", e.noise_us);
}

#[test]
fn a_rate_step_is_found_as_a_kink_and_the_new_rate_learned() {
    let step = |t: f64| if t < 300.0 { 10.0 } else { 12.0 };
    // 30 s after a +2 ppm step: under 0.5 ppm (SCENARIOS.md S7) and inside the error bar.
    let mut est = RateEstimator::new(EstimatorConfig::default());
    feed(&mut est, 0.0, 330.0, step, 20.0, &mut Noise(3));
    let e = est.estimate().unwrap();
    assert!(e.kinked, "the 2 ppm step was not detected");
    assert_eq!(est.counters().kinks, 1);
    let err = (e.slope_ppm - 12.0).abs();
    assert!(
        err < 0.5,
        "30 s after the step: {} ± {}",
        e.slope_ppm,
        e.sigma_ppm
    );
    assert!(
        err < 2.0 * e.sigma_ppm,
        "error {err} outside 2σ = {}",
        2.0 * e.sigma_ppm
    );
    // 100 s after it the kink is pinned down and the slope is good to a few tens of ppb.
    let mut est = RateEstimator::new(EstimatorConfig::default());
    feed(&mut est, 0.0, 400.0, step, 20.0, &mut Noise(3));
    let e = est.estimate().unwrap();
    assert_eq!(est.counters().kinks, 1);
    assert!(
        (e.slope_ppm - 12.0).abs() < 0.05,
        "100 s after: {} ± {}",
        e.slope_ppm,
        e.sigma_ppm
    );
    assert!(e.sigma_ppm < 0.1, "sigma {}", e.sigma_ppm);
}

#[test]
fn a_fast_sender_shortens_the_window_instead_of_growing_it() {
    let cfg = EstimatorConfig {
        max_samples: 100,
        ..EstimatorConfig::default()
    };
    let mut est = RateEstimator::new(cfg);
    for i in 0..1000i64 {
        // 128 Syncs per second.
        est.add(i * 7_812_500, i128::from(i) * 100);
    }
    let e = est.estimate().unwrap();
    assert_eq!(e.samples, 100);
    assert!(
        (e.span_s - 99.0 * 0.0078125).abs() < 1e-6,
        "span {}",
        e.span_s
    );
}

#[test]
fn a_delay_step_is_not_taken_for_a_rate_change_but_taken_out() {
    // The path's delay steps by 60 µs at 200 s (3σ of 20 µs noise): the oscillator's rate
    // did not change, so no kink, and the slope stays near the truth.
    for seed in 1..=10u64 {
        let mut est = RateEstimator::new(EstimatorConfig::default());
        let mut noise = Noise(seed * 104_729);
        for i in 0..1200 {
            let t = f64::from(i) * 0.25;
            let delay = if t >= 200.0 { 60.0 } else { 0.0 };
            let y = 25.0 * t + delay + 20.0 * noise.gauss();
            est.add((t * 1e9) as i64, (y * 1e3) as i128);
        }
        assert_eq!(
            est.counters().kinks,
            0,
            "seed {seed}: a delay step became a kink"
        );
        // Seen as a delay step and taken out: the slope is unbiased (a line across the
        // step would be 0.27 ppm off).
        assert!(
            est.counters().delay_steps >= 1,
            "seed {seed}: {:?}",
            est.counters()
        );
        let e = est.estimate().unwrap();
        assert!(
            (e.slope_ppm - 25.0).abs() < 4.0 * e.sigma_ppm,
            "seed {seed}: {} ± {}",
            e.slope_ppm,
            e.sigma_ppm
        );
    }
}

#[test]
fn no_kink_is_found_in_a_straight_line() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(5);
    feed(&mut est, 0.0, 900.0, |_| -30.0, 20.0, &mut noise);
    assert_eq!(est.counters().kinks, 0);
    assert_eq!(est.counters().delay_steps, 0);
    assert_eq!(est.counters().restarts, 0);
    let e = est.estimate().unwrap();
    assert!(
        (e.span_s - 600.0).abs() < 0.5,
        "window capped at 600 s: {}",
        e.span_s
    );
}

#[test]
fn a_consistent_offset_jump_restarts_the_estimate() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(9);
    let mut restarted_at = None;
    for i in 0..400 {
        let t = f64::from(i) * 0.25;
        let jump = if t >= 60.0 { 5_000_000.0 } else { 0.0 };
        let y = 3.0 * t + 10.0 * noise.gauss() + jump;
        if est.add((t * 1e9) as i64, (y * 1e3) as i128) == Verdict::Restarted {
            restarted_at.get_or_insert(t);
        }
    }
    let at = restarted_at.expect("no restart after a 5 s offset jump");
    assert!(
        (61.75..=62.0).contains(&at),
        "restart after 8 samples, at {at}"
    );
    let e = est.estimate().unwrap();
    assert!((e.slope_ppm - 3.0).abs() < 0.2, "slope {}", e.slope_ppm);
}

#[test]
fn jitter_that_grows_is_noise_not_a_jump_nor_degraded_input() {
    // 2 min at 5 µs, then 200 µs of one-sided jitter (a busy link): bed scenario 6.
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(21);
    let mut worst_fraction: f64 = 0.0;
    for i in 0..1200 {
        let t = f64::from(i) * 0.25;
        let jitter = if t >= 120.0 {
            200.0 * noise.uniform()
        } else {
            0.0
        };
        let y = -8.0 * t + 5.0 * noise.gauss() + jitter;
        let v = est.add((t * 1e9) as i64, (y * 1e3) as i128);
        assert_ne!(v, Verdict::Restarted, "restarted at {t} s");
        if t >= 120.0 {
            worst_fraction = worst_fraction.max(est.recent_outlier_fraction());
        }
    }
    assert!(worst_fraction <= 0.5, "outlier fraction {worst_fraction}");
    let e = est.estimate().unwrap();
    // One-sided jitter also moves the mean delay (+100 µs): a delay step, taken out of
    // the data before it (a line across it would tilt by ~0.5 ppm).
    assert!(est.counters().delay_steps >= 1, "{:?}", est.counters());
    assert!((e.slope_ppm + 8.0).abs() < 0.2, "slope {}", e.slope_ppm);
}

#[test]
fn a_2_ms_offset_step_still_restarts_within_3_s() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(5);
    let mut restarted_at = None;
    for i in 0..400 {
        let t = f64::from(i) * 0.25;
        let step = if t >= 60.0 { 2000.0 } else { 0.0 };
        let y = 3.0 * t + 10.0 * noise.gauss() + step;
        if est.add((t * 1e9) as i64, (y * 1e3) as i128) == Verdict::Restarted {
            restarted_at.get_or_insert(t);
        }
    }
    let at = restarted_at.expect("no restart after a 2 ms offset step");
    assert!((61.75..=63.0).contains(&at), "restart at {at}");
}

#[test]
fn garbage_raises_the_recent_outlier_fraction() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(13);
    for i in 0..200 {
        let t = f64::from(i) * 0.25;
        est.add(
            (t * 1e9) as i64,
            ((t * 5.0 + 20.0 * noise.gauss()) * 1e3) as i128,
        );
    }
    assert!(est.recent_outlier_fraction() < 0.2);
    for i in 200..216 {
        let t = f64::from(i) * 0.25;
        let garbage = (noise.uniform() - 0.5) * 1e7;
        assert_ne!(
            est.add((t * 1e9) as i64, (garbage * 1e3) as i128),
            Verdict::Restarted
        );
    }
    assert!(
        est.recent_outlier_fraction() > 0.8,
        "{}",
        est.recent_outlier_fraction()
    );
}

#[test]
fn a_noisier_stretch_does_not_tilt_the_line_before_its_step_is_seen() {
    // 25 s at 1 µs (kernel timestamps on a quiet link), then 30 s of 200 µs one-sided jitter
    // with 10 % loss: bed scenario 6, whose window spans about 25 s when the trouble starts.
    // The jitter moves the mean delay by +100 µs; with step detection switched off, this is
    // what the line reads meanwhile: unweighted it tilted by 3.6 ppm.
    let cfg = EstimatorConfig {
        change_k: 1e9,
        ..EstimatorConfig::default()
    };
    let mut est = RateEstimator::new(cfg);
    let mut noise = Noise(33);
    let mut worst: f64 = 0.0;
    for i in 0..220 {
        let t = f64::from(i) * 0.25;
        let noisy = t >= 25.0;
        if noisy && noise.uniform() < 0.1 {
            continue;
        }
        let jitter = if noisy { 200.0 * noise.uniform() } else { 0.0 };
        let y = 12.0 * t + noise.gauss() + jitter;
        est.add((t * 1e9) as i64, (y * 1e3) as i128);
        if t >= 26.0 {
            let e = est.estimate().unwrap();
            worst = worst.max((e.slope_ppm - 12.0).abs());
        }
    }
    assert_eq!(est.counters().delay_steps, 0);
    assert!(worst < 0.3, "the line tilted by {worst} ppm");
}

#[test]
fn a_window_of_one_noise_is_fitted_with_equal_weights() {
    let mut est = RateEstimator::new(EstimatorConfig::default());
    let mut noise = Noise(41);
    feed(&mut est, 0.0, 600.0, |_| -3.0, 20.0, &mut noise);
    assert!(est.samples.iter().all(|s| s.w == 1.0));
}
