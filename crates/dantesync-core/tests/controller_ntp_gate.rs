//! The gate points, through the controller the engine drives: a single check never
//! steps, the panic threshold (default 1000 s) spares only the first correction after start
//! and is refused with a notice afterwards, and a backward step can be disallowed.

use dantesync_core::controller::{Method, NtpGateConfig};
use dantesync_core::{Action, Controller, ControllerConfig, LocalTime, Notice, NtpMeasurement};

const T0: i64 = 1_785_427_891_000_000_000;
const S: i64 = 1_000_000_000;

fn controller(gate: NtpGateConfig) -> Controller {
    let cfg = ControllerConfig {
        ntp: Some(gate),
        ..ControllerConfig::default()
    };
    let mut c = Controller::new(cfg, LocalTime::from_nanos(T0), 0.0);
    c.start(LocalTime::from_nanos(T0));
    c
}

fn check(c: &mut Controller, at_s: i64, offset_s: f64) -> Vec<Action> {
    let m = NtpMeasurement {
        offset_ns: (offset_s * 1e9) as i64,
        delay_ns: 300_000,
    };
    c.handle_ntp_result(LocalTime::from_nanos(T0 + at_s * S), m)
}

fn steps(actions: &[Action]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Step { nanos } => Some(*nanos),
            _ => None,
        })
        .collect()
}

fn refused(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Notice(Notice::NtpRefused { .. })))
}

#[test]
fn the_default_panic_threshold_spares_only_the_first_correction() {
    assert_eq!(NtpGateConfig::default().panic_threshold_s, Some(1000.0));
    let mut c = controller(NtpGateConfig::default());
    // A node that booted with its clock an hour behind: one check alone never steps...
    let a = check(&mut c, 1, 3600.0);
    assert!(steps(&a).is_empty(), "{a:?}");
    // ...two agreeing do, although 3600 s is beyond the threshold: it is the first.
    let a = check(&mut c, 6, 3600.0);
    assert_eq!(steps(&a), [3_600 * S]);
    assert_eq!(c.status().ntp_corrections, 1);
    // Later, 1500 s off (a server gone mad, or a clock jumped): refused, with a notice.
    let t = 3600 + 6;
    assert!(steps(&check(&mut c, t + 30, -1500.0)).is_empty());
    let a = check(&mut c, t + 35, -1500.0);
    assert!(steps(&a).is_empty() && refused(&a), "{a:?}");
    assert_eq!(c.status().ntp_corrections, 1);
    // Below the threshold (999 s) it is corrected.
    check(&mut c, t + 65, -999.0);
    let a = check(&mut c, t + 70, -999.0);
    assert_eq!(steps(&a), [-999 * S]);
}

#[test]
fn no_threshold_means_any_offset_is_corrected() {
    let mut c = controller(NtpGateConfig {
        panic_threshold_s: None,
        ..NtpGateConfig::default()
    });
    check(&mut c, 1, 5.0);
    assert_eq!(steps(&check(&mut c, 6, 5.0)), [5 * S]);
    check(&mut c, 40, 1e6);
    assert_eq!(steps(&check(&mut c, 45, 1e6)), [1_000_000 * S]);
}

#[test]
fn a_disallowed_backward_step_is_slewed_instead() {
    let mut c = controller(NtpGateConfig {
        allow_backward_step: false,
        ..NtpGateConfig::default()
    });
    check(&mut c, 1, -0.050);
    let a = check(&mut c, 6, -0.050);
    assert!(steps(&a).is_empty(), "never a backward step: {a:?}");
    let slew = a.iter().find_map(|x| match x {
        Action::Notice(Notice::NtpCorrection {
            offset_ns,
            method: Method::Slew { ppm, .. },
        }) => Some((*offset_ns, *ppm)),
        _ => None,
    });
    assert_eq!(slew, Some((-50_000_000, -20.0)), "{a:?}");
    assert!(c.status().slew_ppm < 0.0);
    // Forward steps are still allowed.
    let mut c = controller(NtpGateConfig {
        allow_backward_step: false,
        ..NtpGateConfig::default()
    });
    check(&mut c, 1, 0.050);
    assert_eq!(steps(&check(&mut c, 6, 0.050)), [50_000_000]);
}

#[test]
fn the_status_shows_the_ntp_clients_servers() {
    use dantesync_core::ntp_client::{NtpClient, Outcome, SourceState};
    use std::time::Duration;
    let mut client = NtpClient::new(["ntp1.lan".to_owned(), "ntp2.lan".to_owned()]);
    client.complete(
        Duration::ZERO,
        vec![(
            1,
            Outcome::NoReply {
                address: None,
                why: "cannot resolve the name".into(),
            },
        )],
    );
    let mut c = controller(NtpGateConfig::default());
    assert!(c.status().ntp_sources.is_empty());
    c.set_ntp_sources(client.status());
    let s = c.status().ntp_sources;
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].name.as_str(), s[0].state),
        ("ntp1.lan", SourceState::Pending)
    );
    assert_eq!(s[1].state, SourceState::Unreachable);
    assert_eq!(s[1].backoff_s, Some(15.0));
}

fn correction(actions: &[Action]) -> Option<(i64, Method)> {
    actions.iter().find_map(|x| match x {
        Action::Notice(Notice::NtpCorrection { offset_ns, method }) => Some((*offset_ns, *method)),
        _ => None,
    })
}

#[test]
fn a_correction_during_a_slew_slews_the_total_in_its_direction() {
    // Measured in the bed (classic mode, a client 2 ms ahead): a new correction arriving
    // while a long slew ran took the rate of its small net offset for the whole remainder,
    // once even the wrong sign, and the client stayed ~1 ms off for minutes.
    let mut c = controller(NtpGateConfig::default());
    check(&mut c, 1, -0.0019);
    let a = check(&mut c, 6, -0.0019);
    let (total, method) = correction(&a).expect("a first correction");
    assert_eq!(total, -1_900_000);
    assert!(
        matches!(method, Method::Slew { ppm, duration_s } if ppm == -20.0 && (duration_s - 95.0).abs() < 1e-6),
        "{method:?}"
    );
    // 35 s into it, 1200 µs are still to go; the clock is found 50 µs better than that
    // (a net offset of +50 µs), twice.
    check(&mut c, 41, -0.001150);
    let a = check(&mut c, 46, -0.001050);
    let (total, method) = correction(&a).expect("a second correction");
    // Net +50 µs plus the 1100 µs still to go at 46 s.
    assert_eq!(total, -1_050_000);
    let Method::Slew { ppm, duration_s } = method else {
        panic!("a slew: {method:?}");
    };
    assert_eq!(
        ppm, -20.0,
        "the total's rate and sign, not the net offset's +5 ppm"
    );
    assert!((duration_s - 52.5).abs() < 1e-6, "{duration_s}");
    assert!(c.status().slew_ppm < 0.0);
}
