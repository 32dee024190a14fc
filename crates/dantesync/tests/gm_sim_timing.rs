//! `dantesync gm-sim`'s timing on loopback, against this process's own monotonic clock: the
//! leader's drift, the Sync schedule's absolute deadlines, the T1 jitter it adds.
//!
//! Every run has a hard time limit and the child is killed if a test fails; all traffic is
//! to 127.0.0.1.

mod support;

use support::gm_sim::*;

#[test]
fn drift_shows_as_the_t1_rate_against_the_receivers_clock() {
    let _timing = timing_lock();
    // 3 s of Syncs every 31.25 ms: 96 Syncs, 12 envelope points.
    let fast = Sim::start(&[
        "--drift-ppm",
        "100",
        "--sync-interval-log2",
        "-5",
        "--duration-s",
        "3",
    ]);
    let slow = Sim::start(&[
        "--drift-ppm=-250",
        "--sync-interval-log2",
        "-5",
        "--duration-s",
        "3",
    ]);
    for (outcome, want) in [(fast.finish(), 100.0), (slow.finish(), -250.0)] {
        let summary = outcome.summary();
        assert!(summary.contains("stopped by --duration-s"), "{summary}");
        let pairs = pairs(&outcome);
        assert_eq!(pairs.len(), 96, "{summary}");
        let ppm = rate_ppm(&pairs, 8);
        eprintln!("drift {want:+} ppm: measured {ppm:+.2} ppm");
        assert!(
            (ppm - want).abs() < 25.0,
            "drift {want} ppm measured as {ppm:.2} ppm"
        );
    }
}

#[test]
fn syncs_keep_to_absolute_deadlines() {
    let _timing = timing_lock();
    let sim = Sim::start(&["--sync-interval-log2", "-6", "--count", "128"]);
    let outcome = sim.finish();
    outcome.summary();
    let pairs = pairs(&outcome);
    assert_eq!(pairs.len(), 128);
    // Sync k is due k × 15.625 ms after the uptime read 699 s. It is never early; it is late
    // by however long this machine took to wake the sender, but that does not pile up: among
    // the last 32 some went out on time. A sleep of one interval after each send would have
    // them all late by the sum of ~100 sends' costs and oversleeps, milliseconds.
    let lateness: Vec<i128> = pairs
        .iter()
        .enumerate()
        .map(|(k, p)| p.t1() - 699 * NS_PER_S - k as i128 * 15_625_000)
        .collect();
    assert!(
        lateness.iter().all(|&late| late >= 0),
        "a Sync went out before its deadline: {lateness:?}"
    );
    let best_late = lateness[96..].iter().min().unwrap();
    assert!(
        *best_late < 1_000_000,
        "the last 32 Syncs are all at least {best_late} ns late: {lateness:?}"
    );
    let ppm = rate_ppm(&pairs, 16);
    assert!(ppm.abs() < 50.0, "no drift asked, measured {ppm:.2} ppm");
}

#[test]
fn jitter_spreads_t1_against_arrival() {
    let _timing = timing_lock();
    let sim = Sim::start(&[
        "--jitter-us",
        "8000",
        "--sync-interval-log2",
        "-4",
        "--count",
        "32",
    ]);
    let outcome = sim.finish();
    assert!(outcome.banner().contains("jitter 8000 µs"));
    outcome.summary();
    let pairs = pairs(&outcome);
    assert_eq!(pairs.len(), 32);
    // Arrival − T1 = the random delay (uniform in 0..=8 ms) + the loopback delay + however
    // late this machine woke the sender after the random delay (only ever more).
    let t0 = pairs[0].t1();
    let mut offsets: Vec<i128> = pairs
        .iter()
        .zip(arrivals_ns(&pairs))
        .map(|(p, arrival)| arrival - (p.t1() - t0))
        .collect();
    let floor = percentile(&mut offsets, 0.0);
    let spread = percentile(&mut offsets, 0.9) - percentile(&mut offsets, 0.1);
    // Uniform 0..8 ms spreads 6.4 ms from its 10th to its 90th percentile.
    assert!(
        spread > 3_000_000,
        "10–90 % spread of arrival − T1 is only {spread} ns with 8 ms of jitter: {offsets:?}"
    );
    // And no more than 8 ms, but for the wake-up delays: most arrive within 8.5 ms of the
    // soonest (a jitter 10 times too large would leave a tenth there).
    let within = offsets.iter().filter(|&&o| o - floor <= 8_500_000).count();
    assert!(
        within >= 20,
        "only {within} of 32 Syncs within 8.5 ms of the soonest: {offsets:?}"
    );
    for pair in &pairs {
        assert!(pair.sync.body.origin_timestamp.to_nanos() <= pair.t1());
    }
}
