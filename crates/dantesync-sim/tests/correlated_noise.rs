//! Timestamps that run late or early together for seconds (a loaded host, the multi-host bed)
//! must not be read as changes of the oscillator's rate. In S-corr (20 µs white + 30 µs
//! correlated over 3 s) the kink test that assumed independent noise took 5–17 such stretches
//! per run for rate changes and jumped the frequency by up to 24 ppm in the last 300 s of a
//! run; judged against the residuals' wander at a segment's timescale it holds the rate.

use dantesync_sim::run;
use dantesync_sim::scenario::correlated;

#[test]
fn correlated_timestamp_noise_is_not_taken_for_rate_changes() {
    let mut kinks = 0;
    for seed in 1..=10u64 {
        let sc = correlated().with_seed(seed);
        let trace = run(&sc);
        kinks += trace.final_status.estimator.kinks;
        let steady_max = trace
            .observations
            .iter()
            .filter(|o| o.t_s >= 300.0)
            .map(|o| o.error_ppm.abs())
            .fold(0.0, f64::max);
        // The bed's limit for its network-trouble scenario.
        assert!(
            steady_max < 0.3,
            "seed {seed}: true rate error up to {steady_max} ppm in the last 300 s"
        );
    }
    // A few early ones remain while the window is too short to measure the wander (the
    // test that assumed white noise found 107 in these runs).
    assert!(
        kinks <= 10,
        "{kinks} kinks in 10 runs without a rate change"
    );
}

/// The slope's standard error assumes white noise; under S-corr the fit of a few tens of
/// seconds varies several times more than it says, and with that error alone the 10 runs
/// showed NANO for 97.5 s and LOCK for 19.25 s beyond their thresholds. Widened by the
/// residuals' measured wander (`Estimate::wander`) no NANO claim is dishonest, and no LOCK
/// claim in a run whose rate estimate the kink test left alone. Two runs (seeds 5 and 7)
/// still take early stretches of correlated noise for rate changes, before the window is long
/// enough to measure the wander at the kink test's 4 s scale, and then show LOCK at 5–6.3 ppm
/// for 7.75 and 2.25 s: the kink test's weakness, not the claim's.
#[test]
fn claims_under_correlated_noise_rest_on_its_wander() {
    let mut dishonest_lock_after_kinks = 0.0;
    for seed in 1..=10u64 {
        let sc = correlated().with_seed(seed);
        let trace = run(&sc);
        let lock = trace.dishonest_claims_s(5.0, f64::INFINITY, sc.duration_s);
        let nano = trace.dishonest_claims_s(f64::INFINITY, 0.5, sc.duration_s);
        assert_eq!(
            nano, 0.0,
            "seed {seed}: NANO shown beyond 0.5 ppm for {nano} s"
        );
        if trace.final_status.estimator.kinks == 0 {
            assert_eq!(
                lock, 0.0,
                "seed {seed}: LOCK shown beyond 5 ppm for {lock} s"
            );
        } else {
            dishonest_lock_after_kinks += lock;
        }
        // The claims still come: LOCK within 30 s, NANO within 150 s.
        let locked = trace.first_switch(0.0, dantesync_core::Mode::is_locked);
        assert!(
            locked.is_some_and(|t| t < 30.0),
            "seed {seed}: LOCK at {locked:?}"
        );
        let nano_at = trace.first_switch(0.0, |m| m == dantesync_core::Mode::Nano);
        assert!(
            nano_at.is_some_and(|t| t < 150.0),
            "seed {seed}: NANO at {nano_at:?}"
        );
    }
    assert!(
        dishonest_lock_after_kinks <= 10.0,
        "LOCK beyond 5 ppm after false kinks: {dishonest_lock_after_kinks} s"
    );
}
