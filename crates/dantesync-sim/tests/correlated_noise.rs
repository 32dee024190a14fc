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
