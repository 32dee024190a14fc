//! No sequence of inputs panics the controller or makes it ask for an impossible frequency.

use dantesync_core::controller::NtpMeasurement;
use dantesync_core::wire::ptpv1::{Timestamp, Uuid};
use dantesync_core::{Action, Controller, ControllerConfig, LocalTime};
use dantesync_sim::leader::LeaderIdentity;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Input {
    Garbage(Vec<u8>),
    Sync {
        leader: u8,
        seq: u16,
        secs: u32,
        nanos: i32,
        corrupt: Option<(usize, u8)>,
    },
    FollowUp {
        leader: u8,
        seq: u16,
        secs: u32,
        nanos: i32,
    },
    Ntp {
        offset_ns: i64,
        delay_ns: i64,
    },
    NtpFailed,
    Tick,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..160).prop_map(Input::Garbage),
        (
            0u8..3,
            any::<u16>(),
            any::<u32>(),
            any::<i32>(),
            prop::option::of((0usize..124, any::<u8>()))
        )
            .prop_map(|(leader, seq, secs, nanos, corrupt)| Input::Sync {
                leader,
                seq,
                secs,
                nanos,
                corrupt
            }),
        (0u8..3, any::<u16>(), any::<u32>(), any::<i32>()).prop_map(
            |(leader, seq, secs, nanos)| Input::FollowUp {
                leader,
                seq,
                secs,
                nanos
            }
        ),
        (any::<i64>(), any::<i64>()).prop_map(|(offset_ns, delay_ns)| Input::Ntp {
            offset_ns,
            delay_ns
        }),
        Just(Input::NtpFailed),
        Just(Input::Tick),
    ]
}

/// Mostly small steps forward, sometimes backwards, sometimes huge jumps either way.
fn time_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..2_000_000_000,
        1 => -5_000_000_000i64..0,
        1 => any::<i64>(),
    ]
}

fn identity(leader: u8) -> LeaderIdentity {
    let mut id = LeaderIdentity::dante(Uuid([0x00, 0x1d, 0xc1, 0, 0, leader]));
    id.preferred = leader == 2;
    id
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_input_sequence_panics(start in any::<i64>(), steps in prop::collection::vec((time_step(), input()), 1..300)) {
        let mut now = start;
        let mut c = Controller::new(ControllerConfig::default(), LocalTime::from_nanos(now), 0.0);
        let mut actions = c.start(LocalTime::from_nanos(now));
        for (dt, inp) in steps {
            for a in &actions {
                if let Action::SetFrequency { ppm } = a {
                    prop_assert!(ppm.is_finite() && ppm.abs() <= 500.0 + 1e-9, "frequency {ppm}");
                }
            }
            now = now.saturating_add(dt);
            let t = LocalTime::from_nanos(now);
            actions = match inp {
                Input::Garbage(bytes) => c.handle_ptp(&bytes, t),
                Input::Sync { leader, seq, secs, nanos, corrupt } => {
                    let mut bytes = identity(leader).sync(seq, Timestamp::new(secs, nanos)).to_bytes();
                    if let Some((at, value)) = corrupt {
                        bytes[at] = value;
                    }
                    c.handle_ptp(&bytes, t)
                }
                Input::FollowUp { leader, seq, secs, nanos } => {
                    c.handle_ptp(&identity(leader).follow_up(seq, Timestamp::new(secs, nanos)).to_bytes(), t)
                }
                Input::Ntp { offset_ns, delay_ns } => c.handle_ntp_result(t, NtpMeasurement { offset_ns, delay_ns }),
                Input::NtpFailed => c.handle_ntp_failure(t),
                Input::Tick => c.tick(t),
            };
            let status = c.status();
            prop_assert_eq!(status.mode, c.mode());
            prop_assert!(status.applied_ppm.is_finite());
        }
    }
}
