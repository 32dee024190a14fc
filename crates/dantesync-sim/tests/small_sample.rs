//! A cold or warm start with 5 µs of jitter at Dante's 250 ms Syncs (the warm-start table's
//! world) claims LOCK from fits of 8 to 20 samples. The noise of such a fit is itself an
//! estimate, so its slope is t-distributed: with the Gaussian 3σ the true rate fell outside
//! the claimed bound about three times as often as promised, and runs showed LOCK for about a
//! second at 5.3–6.7 ppm of true error. Seeds 1–600 held three such runs (25, 412 and 579).

use dantesync_sim::warm_start::run_seeds;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=600;

fn honest(prior: Option<f64>) {
    let row = run_seeds(5.0, -2, prior, SEEDS);
    assert_eq!(row.runs, 600);
    assert_eq!(
        row.dishonest_lock_s, 0.0,
        "prior {prior:?}: LOCK shown with the true error ≥ 5 ppm"
    );
    assert_eq!(
        row.dishonest_nano_s, 0.0,
        "prior {prior:?}: NANO shown beyond 0.5 ppm"
    );
    // Every run locked, and not much later than a cold start at this jitter ever did (4.35 s
    // at most in 2000 runs before the small-sample quantile, 5.35 s after it, 6.10 s since
    // claims also carry the noise's measured wander).
    assert_eq!(row.lock_s.len(), row.runs, "a run never locked");
    let worst = row.lock_max_s().unwrap();
    assert!(worst <= 6.0, "slowest LOCK {worst} s");
}

#[test]
fn small_fits_claim_no_lock_beyond_the_threshold_from_a_cold_start() {
    honest(None);
}

#[test]
fn small_fits_claim_no_lock_beyond_the_threshold_from_a_right_prior() {
    honest(Some(0.0));
}

/// The runs of seeds 1–2000 (5 µs, cold and with a right prior) that still showed LOCK at
/// 5.3–6.7 ppm with the t quantile alone, for 0.4–1.0 s each: seeds 613 and 1187 at 250 ms,
/// 811, 1013 and, with the prior, 884 at 125 ms. Each was a fit of 12–16 samples looked at
/// with every sample; the early-look boundary (controller/rate.rs) holds them off.
#[test]
fn the_early_looks_of_a_small_fit_claim_no_lock_beyond_the_threshold() {
    let cases: [(i8, &[u64]); 2] = [(-2, &[613, 1187]), (-3, &[811, 884, 1013])];
    for (log2, seeds) in cases {
        for prior in [None, Some(0.0)] {
            let row = run_seeds(5.0, log2, prior, seeds.iter().copied());
            assert_eq!(row.runs, seeds.len());
            assert_eq!(
                row.dishonest_lock_s, 0.0,
                "Sync 2^{log2} s, prior {prior:?}, seeds {seeds:?}: LOCK shown with the true \
                 error ≥ 5 ppm"
            );
            assert_eq!(row.lock_s.len(), row.runs, "a run never locked");
        }
    }
}

/// A prior just past the threshold: 6 ppm wrong, so a confirmation shows LOCK at 6 ppm. Its
/// confirmation is a test repeated with every sample too; before it was held to the early-look
/// boundary these seeds (of 2000, both signs) were confirmed and shown as LOCK for 0.75–2.1 s.
#[test]
fn a_prior_just_past_the_threshold_is_not_confirmed_by_the_early_looks() {
    let cases: [(i8, &[u64]); 2] = [(-2, &[25, 89, 132, 412]), (-3, &[71, 353, 533, 558])];
    for (log2, seeds) in cases {
        let row = run_seeds(5.0, log2, Some(6.0), seeds.iter().copied());
        assert_eq!(row.runs, 2 * seeds.len());
        assert_eq!(
            row.dishonest_lock_s, 0.0,
            "Sync 2^{log2} s, prior 6 ppm wrong, seeds {seeds:?}: LOCK shown with the true \
             error ≥ 5 ppm"
        );
        assert_eq!(row.lock_s.len(), row.runs, "a run never locked");
    }
}
