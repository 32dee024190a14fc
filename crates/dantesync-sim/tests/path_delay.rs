//! The core's path-delay estimate against the simulator's truth: the network's one-way delay,
//! the same both ways, with 20 µs of Gaussian timestamp jitter on every Sync and on every
//! leader receipt, while the servo pulls a +50 ppm oscillator onto a leader that is itself
//! off true time.

use dantesync_core::path_delay::{PathDelayConfig, PathDelayState};
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_sim::run;
use dantesync_sim::scenario::Scenario;

fn measured(base_delay_us: f64, leader_drift_ppm: f64) -> Scenario {
    let mut sc = Scenario::baseline("path-delay", "path delay against the truth");
    sc.duration_s = 120.0;
    sc.network.base_delay_us = base_delay_us;
    sc.leaders[0].model.drift_ppm = leader_drift_ppm;
    sc.controller.path_delay = Some(PathDelayConfig {
        interval_s: 2.0,
        identity: Uuid([0x02, 0, 0, 0, 0, 0x42]),
        seed: 11,
    });
    sc
}

#[test]
fn the_estimate_is_the_true_delay_within_the_timestamp_noise() {
    for (delay_us, leader_ppm) in [(0.0, 0.0), (120.0, 30.0), (300.0, -40.0), (1500.0, 10.0)] {
        let trace = run(&measured(delay_us, leader_ppm));
        let pd = trace.final_status.path_delay;
        assert_eq!(pd.state, PathDelayState::Ok, "{delay_us} µs");
        let got_us = pd.delay_ns.unwrap() as f64 * 1e-3;
        eprintln!("true {delay_us} µs, leader {leader_ppm:+} ppm: estimated {got_us:.2} µs");
        // Each measurement carries two 20 µs stamps halved (σ ≈ 14 µs); the median of 15
        // brings that to ~4.5 µs.
        assert!(
            (got_us - delay_us).abs() < 15.0,
            "true {delay_us} µs, estimated {got_us:.1} µs (leader {leader_ppm:+} ppm)"
        );
        // ~55 requests in 120 s at one per 2 s on average; all answered but the one in flight.
        assert!(
            (45..=70).contains(&pd.requests_sent),
            "{}",
            pd.requests_sent
        );
        assert!(pd.responses_matched + 1 >= pd.requests_sent, "{pd:?}");
    }
}

#[test]
fn a_change_of_path_is_followed() {
    let mut sc = measured(100.0, 0.0);
    sc.duration_s = 240.0;
    sc.network.delay_steps = vec![(120.0, 700.0)];
    let trace = run(&sc);
    let got_us = trace.final_status.path_delay.delay_ns.unwrap() as f64 * 1e-3;
    assert!((got_us - 700.0).abs() < 15.0, "estimated {got_us:.1} µs");
}

#[test]
fn a_leader_that_never_answers_leaves_no_delay() {
    let mut sc = measured(300.0, 0.0);
    sc.delay_req_answered = false;
    let trace = run(&sc);
    let pd = trace.final_status.path_delay;
    assert_eq!(pd.state, PathDelayState::Unanswered);
    assert_eq!((pd.delay_ns, pd.responses_matched), (None, 0));
    assert!(pd.timeouts >= 40, "{pd:?}");
}

#[test]
fn measuring_leaves_the_servo_exactly_as_it_was() {
    // Path delay only observes: the frequencies applied are the same with and without it.
    let with = run(&measured(300.0, 0.0));
    let mut sc = measured(300.0, 0.0);
    sc.controller.path_delay = None;
    let without = run(&sc);
    let applied = |t: &dantesync_sim::Trace| -> Vec<f64> {
        t.observations.iter().map(|o| o.applied_ppm).collect()
    };
    assert_eq!(applied(&with), applied(&without));
}
