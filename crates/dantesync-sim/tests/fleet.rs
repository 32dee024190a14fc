//! Fleet mode against the truth: the node's clock phase-locked to leader + D, scored on its
//! true phase error, in every fleet scenario of the benchmark and on two seeds.

use dantesync_core::controller::FleetState;
use dantesync_core::Notice;
use dantesync_sim::metrics::{check, compute};
use dantesync_sim::{run, scenario};

#[test]
fn every_fleet_scenario_meets_its_phase_targets() {
    for (base, targets) in scenario::fleet() {
        for seed in 1..=2 {
            let sc = base.clone().with_seed(seed);
            let trace = run(&sc);
            let m = compute(&trace, &sc, &targets);
            for (what, got, want, ok) in check(&m, &targets) {
                assert!(ok, "{} seed {seed}: {what} {got} ({want})", sc.name);
            }
            let rms = m.fleet_rms_us.expect("scored");
            assert!(rms > 0.05 && rms <= 5.0, "{}: {rms} µs", sc.name);
            let s = &trace.final_status;
            assert_eq!(s.fleet.state, FleetState::Tracking, "{}", sc.name);
            // The one start-up step (the clock starts 2 ms off, and 50 ppm adds to that until
            // the rate servo's first frequency), plus the scheduled one.
            let steps: Vec<_> = trace
                .notices
                .iter()
                .filter_map(|(t, n)| match n {
                    Notice::FleetStep { nanos, scheduled } => Some((*t, *nanos, *scheduled)),
                    _ => None,
                })
                .collect();
            let expected = if sc.name == "F5" { 2 } else { 1 };
            assert_eq!(steps.len(), expected, "{}: {steps:?}", sc.name);
            assert!(steps[0].0 < 10.0 && !steps[0].2, "{}: {steps:?}", sc.name);
            assert!(
                (-2_300_000..=-2_000_000).contains(&steps[0].1),
                "{}: {steps:?}",
                sc.name
            );
            if sc.name == "F5" {
                assert_eq!(steps[1].1, -200_000_000);
                // Stepped when this node's clock read the instant: within its phase error
                // (µs) of the true instant.
                assert!(
                    steps[1].2 && (steps[1].0 - 450.2).abs() < 10e-6,
                    "{steps:?}"
                );
            }
        }
    }
}

#[test]
fn failover_holds_until_the_new_leader_is_announced_and_never_steps() {
    let (sc, _) = scenario::by_name("F6").unwrap();
    let trace = run(&sc);
    // No observation for the new leader before its first announcement (205 s), then locked.
    let after: Vec<_> = trace
        .observations
        .iter()
        .filter(|o| o.t_s >= 200.0 && o.t_s < 260.0)
        .collect();
    assert!(after
        .iter()
        .filter(|o| o.t_s < 204.9)
        .all(|o| o.fleet_phase_ns.is_none()));
    let worst = after
        .iter()
        .filter_map(|o| o.fleet_phase_ns)
        .fold(0.0f64, |a, e| a.max(e.abs()));
    assert!(worst < 20_000.0, "{worst} ns");
    assert_eq!(trace.steps, 1, "only the start-up step");
    assert!(trace.final_status.fleet.ignored_other_leader == 0);
}

#[test]
fn after_someone_else_steps_the_clock_the_node_steps_back_to_the_fleet() {
    let (mut sc, _) = scenario::by_name("F1").unwrap();
    sc.external_steps = vec![(300.0, 50_000_000)];
    let trace = run(&sc);
    let steps: Vec<_> = trace
        .notices
        .iter()
        .filter_map(|(t, n)| match n {
            Notice::FleetStep { nanos, .. } => Some((*t, *nanos)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps[1].0 > 300.0 && steps[1].0 < 305.0, "{steps:?}");
    assert!((steps[1].1 + 50_000_000).abs() < 100_000, "{steps:?}");
    let worst_after = trace
        .observations
        .iter()
        .filter(|o| o.t_s > 400.0)
        .filter_map(|o| o.fleet_phase_ns)
        .fold(0.0f64, |a, e| a.max(e.abs()));
    assert!(worst_after < 10_000.0, "{worst_after} ns");
}
