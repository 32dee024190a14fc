//! Issue #12: the bed's "network trouble" (10 % loss and 0..200 µs more delay from 60 s on)
//! raised the mean delay by 100 µs at once, and the estimator read that level shift as a rate
//! change or a new timescale: the node left LOCK/NANO for a fifth of the time and, at 20 µs,
//! claimed NANO for ~100 s while its true rate was up to 1.5 ppm off. A frequency step of the
//! leader, which trips the same detectors, must still be followed honestly.

use dantesync_sim::run;
use dantesync_sim::scenario::{level_shift, Scenario, SHIFT_AT_S};

#[test]
fn network_trouble_keeps_lock_and_the_rate() {
    for jitter in [20.0, 10.0] {
        let (base, _) = level_shift(jitter);
        for seed in 1..=6u64 {
            let sc = base.clone().with_seed(seed);
            let trace = run(&sc);
            let dishonest = trace.dishonest_claims_s(5.0, 0.5, sc.duration_s);
            assert_eq!(dishonest, 0.0, "{jitter} µs seed {seed}: dishonest claims");
            assert_eq!(
                trace.final_status.estimator.restarts, 0,
                "{jitter} µs seed {seed}: the estimate restarted"
            );
            let after: Vec<_> = trace
                .observations
                .iter()
                .filter(|o| o.t_s >= SHIFT_AT_S)
                .collect();
            let locked = after.iter().filter(|o| o.mode.is_locked()).count() as f64;
            let fraction = locked / after.len() as f64;
            // The old estimator: 78 % in the bed; here 93.8–99.3 % at 20 µs with ~100 s of
            // dishonest NANO, 82.5–94.7 % at 10 µs. Now 97–100 %: what remains is the few
            // seconds in which a 100 µs shift and a steep ramp cannot yet be told apart.
            assert!(
                fraction >= 0.96,
                "{jitter} µs seed {seed}: LOCK/NANO {:.1} % of the time after the shift",
                100.0 * fraction
            );
            let worst = after.iter().map(|o| o.error_ppm.abs()).fold(0.0, f64::max);
            assert!(
                worst < 0.3,
                "{jitter} µs seed {seed}: true rate error up to {worst:.3} ppm"
            );
        }
    }
}

/// The leader's frequency steps by +25 ppm (as in F3, here without fleet mode): the residuals
/// grow by 25 µs/s, the jump detector's consistent outliers come within seconds, and a phase
/// step can fit the first of them. The node must leave its claims as quickly as before shifts
/// were kept (a step carried across as a shift would show LOCK at 25 ppm for as long as it
/// lasted), and the estimator must see a rate change (a kink, or a restart on the outliers).
///
/// Not asserted, because it predates level shifts and lies outside the estimator: after such a
/// restart the frequency policy, which a restart does not tell that the rate changed, keeps
/// the pre-step frequency (known to a fraction of a ppm); in 10 of these 12 runs the node is
/// still 25 ppm off a minute later, honestly in PROD. See docs/servo.md.
#[test]
fn a_leader_frequency_step_is_not_carried_across_as_a_shift() {
    for jitter in [20.0, 10.0] {
        for seed in 1..=6u64 {
            let mut sc = Scenario::baseline("step", "leader +25 ppm at 120 s");
            sc.duration_s = 240.0;
            sc.network.jitter_us = jitter;
            sc.leaders[0].model.drift_step = Some((120.0, 25.0));
            let sc = sc.with_seed(seed);
            let trace = run(&sc);
            let dishonest = trace.dishonest_claims_s(5.0, 0.5, sc.duration_s);
            assert!(
                dishonest <= STEP_DISHONEST_S,
                "{jitter} µs seed {seed}: {dishonest} s of dishonest claims"
            );
            let changes =
                trace.final_status.estimator.kinks + trace.final_status.estimator.restarts;
            assert!(
                changes >= 1,
                "{jitter} µs seed {seed}: the rate change went unseen"
            );
        }
    }
}

/// LOCK or NANO shown beyond its threshold until the step is seen: 3.5–5.75 s in these runs,
/// the same in each run as before level shifts were kept.
const STEP_DISHONEST_S: f64 = 6.0;
