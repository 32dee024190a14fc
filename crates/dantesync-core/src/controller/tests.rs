//! What the controller decides from known inputs: the actions it asks for and the modes it
//! goes through, with the clock modelled exactly (no noise) so every number is predictable.

use super::*;
use crate::wire::ptpv1::{
    Control, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
};

const T0: i64 = 1_785_427_891_000_000_000;
const S: i64 = 1_000_000_000;
const LEADER: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]);

fn at_ns(ns: i64) -> LocalTime {
    LocalTime::from_nanos(T0 + ns)
}

fn at(s: i64) -> LocalTime {
    at_ns(s * S)
}

fn ptp_only() -> ControllerConfig {
    ControllerConfig {
        ntp: None,
        ..ControllerConfig::default()
    }
}

fn sync_pair(seq: u16, t1_ns: i64) -> (Vec<u8>, Vec<u8>) {
    let mut header = Header::new(Control::Sync, LEADER, seq);
    header.flags = Flags::ASSIST;
    let mut body = SyncBody {
        origin_timestamp: Timestamp::from_nanos(i128::from(t1_ns)),
        grandmaster_clock_uuid: LEADER,
        grandmaster_clock_identifier: *b"DFLT",
        grandmaster_clock_stratum: 4,
        ..SyncBody::default()
    };
    body.set_sync_interval(-2);
    let sync = Message::Sync(header, body).to_bytes();
    let mut header = Header::new(Control::FollowUp, LEADER, seq);
    header.flags = Flags::ASSIST;
    let body = FollowUpBody {
        associated_sequence_id: seq,
        precise_origin_timestamp: Timestamp::from_nanos(i128::from(t1_ns)),
        ..FollowUpBody::default()
    };
    (sync, Message::FollowUp(header, body).to_bytes())
}

/// A node whose oscillator runs `natural_ppm` fast against a leader sending Sync every
/// 250 ms, the controller's frequency applied exactly between packets.
struct Node {
    c: Controller,
    natural_ppm: f64,
    applied_ppm: f64,
    /// Local clock minus leader time, ns.
    phase_ns: f64,
    /// Leader time since T0, ns.
    t_ns: i64,
    seq: u16,
    modes: Vec<Mode>,
    frequency_sets: usize,
    /// Steps asked for since the last look (fleet tests).
    stepped: Vec<i64>,
}

impl Node {
    fn new(cfg: ControllerConfig, natural_ppm: f64) -> Self {
        let mut c = Controller::new(cfg, at(0), 0.0);
        let first = c.start(at(0));
        let mut node = Self {
            modes: vec![c.mode()],
            c,
            natural_ppm,
            applied_ppm: 0.0,
            phase_ns: 0.0,
            t_ns: 0,
            seq: 0,
            frequency_sets: 0,
            stepped: Vec::new(),
        };
        node.take(first);
        node
    }

    fn take(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SetFrequency { ppm } => {
                    self.applied_ppm = ppm;
                    self.frequency_sets += 1;
                }
                Action::Step { nanos } => self.phase_ns += nanos as f64,
                Action::Notice(Notice::ModeChanged { to, .. }) => self.modes.push(to),
                _ => {}
            }
        }
    }

    fn local(&self) -> LocalTime {
        at_ns(self.t_ns + self.phase_ns.round() as i64)
    }

    /// Runs `secs` of Sync/Follow_Up pairs.
    fn run(&mut self, secs: i64) {
        for _ in 0..secs * 4 {
            let dt = 250_000_000;
            self.phase_ns += (self.natural_ppm + self.applied_ppm) * 1e-6 * dt as f64;
            self.t_ns += dt;
            self.seq = self.seq.wrapping_add(1);
            let (sync, follow_up) = sync_pair(self.seq, 700 * S + self.t_ns);
            let rx = self.local();
            let a = self.c.handle_ptp(&sync, rx);
            self.take(a);
            let a = self.c.handle_ptp(&follow_up, rx.add_nanos(100_000));
            self.take(a);
        }
    }
}

#[test]
fn start_sets_the_frequency_asks_ntp_and_arms_the_silence_timer() {
    let mut c = Controller::new(ControllerConfig::default(), at(0), 12.5);
    assert_eq!(
        c.start(at(0)),
        [
            Action::SetFrequency { ppm: 12.5 },
            Action::StartNtpCheck,
            // The silence timeout (10 s) and the unanswered-check timeout (10 s) coincide.
            Action::SetTimer { at: at(10) },
        ]
    );
    assert_eq!(c.mode(), Mode::Init);
    // PTP only: no NTP check, and the only deadline is the silence timeout.
    let mut c = Controller::new(ptp_only(), at(0), -3.0);
    assert_eq!(
        c.start(at(0)),
        [
            Action::SetFrequency { ppm: -3.0 },
            Action::SetTimer { at: at(10) }
        ]
    );
}

#[test]
fn a_starting_frequency_beyond_the_clock_is_clamped() {
    let mut c = Controller::new(ptp_only(), at(0), 900.0);
    assert_eq!(c.start(at(0))[0], Action::SetFrequency { ppm: 500.0 });
}

#[test]
fn a_clean_leader_is_followed_to_nano_and_the_drift_cancelled() {
    let mut node = Node::new(ptp_only(), 40.0);
    node.run(90);
    // Noise-free input: the error bound falls below NANO's threshold in one go.
    assert_eq!(node.modes, [Mode::Init, Mode::Acq, Mode::Nano]);
    let s = node.c.status();
    assert!((s.applied_ppm + 40.0).abs() < 0.01, "{}", s.applied_ppm);
    assert!((s.natural_rate_ppm.unwrap() - 40.0).abs() < 0.01);
    assert!(s.drift_ppm.unwrap().abs() < 0.01);
    assert_eq!(s.ptp.samples, 360);
    assert!(node.frequency_sets >= 2);
}

#[test]
fn silence_goes_to_ntp_only_and_holds_the_frequency() {
    let mut node = Node::new(ptp_only(), -25.0);
    node.run(60);
    let held = node.c.status().applied_ppm;
    assert!(node.c.mode().is_locked(), "{}", node.c.mode());
    let last = node.local();
    // A tick just before the timeout changes nothing...
    let a = node.c.tick(last.add_nanos(10 * S - 1_000_000));
    assert!(!a.iter().any(|a| matches!(a, Action::Notice(_))), "{a:?}");
    // ...at the timeout the node is offline, and keeps the learned frequency.
    let before = node.c.mode();
    let a = node.c.tick(last.add_nanos(10 * S));
    assert!(
        a.contains(&Action::Notice(Notice::ModeChanged {
            from: before,
            to: Mode::NtpOnly
        })),
        "{a:?}"
    );
    assert!(!a.iter().any(|a| matches!(a, Action::SetFrequency { .. })));
    assert_eq!(node.c.mode(), Mode::NtpOnly);
    assert_eq!(node.c.status().applied_ppm, held);
}

#[test]
fn a_large_offset_confirmed_twice_steps_once_and_the_step_is_not_elapsed_time() {
    let mut c = Controller::new(ControllerConfig::default(), at(0), 4.0);
    c.start(at(0));
    let five_s = NtpMeasurement {
        offset_ns: 5 * S,
        delay_ns: 400_000,
    };
    // One check alone never corrects: the confirming check is asked for 5 s later.
    let first = c.handle_ntp_result(at(1), five_s);
    assert!(!first
        .iter()
        .any(|a| matches!(a, Action::Step { .. } | Action::SetFrequency { .. })));
    assert_eq!(c.status().ntp_interval_s, 5.0);
    let second = c.handle_ntp_result(at(6), five_s);
    assert_eq!(
        second[..3],
        [
            Action::Step { nanos: 5 * S },
            Action::SetFrequency { ppm: 4.0 },
            Action::Notice(Notice::NtpCorrection {
                offset_ns: 5 * S,
                method: Method::Step
            }),
        ]
    );
    let s = c.status();
    assert_eq!(s.last_correction, Some(at(11)));
    assert!(s.time_synchronised);
    assert_eq!(s.ntp_corrections, 1);
    // The silence deadline (10 s after start on the step-free axis) now reads 15 s on the
    // stepped clock: the 5 s step did not use up any of the wait.
    assert!(
        second.contains(&Action::SetTimer { at: at(15) }),
        "{second:?}"
    );
    assert!(c
        .tick(at(14))
        .iter()
        .all(|a| !matches!(a, Action::Notice(Notice::ModeChanged { .. }))));
    assert_eq!(c.mode(), Mode::Init);
}

#[test]
fn a_refused_frequency_is_taken_from_the_clock() {
    let mut c = Controller::new(ptp_only(), at(0), 10.0);
    c.start(at(0));
    c.frequency_not_applied(at(1), 7.5);
    assert_eq!(c.status().applied_ppm, 7.5);
    // An unreadable clock (NaN) leaves the books as they were.
    c.frequency_not_applied(at(2), f64::NAN);
    assert_eq!(c.status().applied_ppm, 7.5);
}

#[test]
fn a_learned_frequency_is_the_start_unless_the_clock_cannot_run_it() {
    let leader = Some(LEADER);
    let mut c = Controller::new(ptp_only(), at(0), 0.0).with_learned_frequency(-30.0, 0.1, leader);
    assert_eq!(c.start(at(0))[0], Action::SetFrequency { ppm: -30.0 });
    assert!(c.status().learned_prior);
    let mut c = Controller::new(ptp_only(), at(0), 2.0).with_learned_frequency(600.0, 0.1, leader);
    assert_eq!(c.start(at(0))[0], Action::SetFrequency { ppm: 2.0 });
    assert!(!c.status().learned_prior);
}

#[test]
fn the_ntp_interval_follows_the_accumulated_phase() {
    assert_eq!(ntp_interval_s(Mode::Acq, 0.0), 10.0);
    assert_eq!(ntp_interval_s(Mode::Lock, 50.1), 10.0);
    assert_eq!(ntp_interval_s(Mode::Lock, -20.1), 15.0);
    assert_eq!(ntp_interval_s(Mode::Nano, 20.0), 30.0);
}

#[test]
fn a_message_parsed_by_the_host_counts_as_the_datagram_would() {
    let mut from_bytes = Controller::new(ptp_only(), at(0), 0.0);
    let mut parsed = Controller::new(ptp_only(), at(0), 0.0);
    let (sync, follow_up) = sync_pair(1, 700 * S);
    let short = &sync[..20];
    for (bytes, rx) in [
        (&sync[..], at_ns(1_000)),
        (&follow_up[..], at_ns(101_000)),
        (short, at_ns(200_000)),
    ] {
        let a = from_bytes.handle_ptp(bytes, rx);
        let b = parsed.handle_ptp_message(Message::parse(bytes), rx);
        assert_eq!(a, b);
    }
    let (x, y) = (from_bytes.status().ptp, parsed.status().ptp);
    assert_eq!(x, y);
    assert_eq!((y.received, y.samples, y.malformed), (3, 1, 1));
}

#[test]
fn a_step_by_someone_else_is_seen_once_with_its_size_and_timers_stay_on_elapsed_time() {
    use crate::time::{Moment, MonoTime};
    let both = |mono_s: f64, local_shift_ns: i64| {
        let mono = (mono_s * 1e9) as i64;
        Moment::new(at_ns(mono + local_shift_ns), MonoTime::from_nanos(mono))
    };
    let external = |actions: &[Action]| -> Vec<i64> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Notice(Notice::ExternalStep { nanos }) => Some(*nanos),
                _ => None,
            })
            .collect()
    };
    let mut c = Controller::new(ptp_only(), both(0.0, 0), 0.0);
    let start = c.start(both(0.0, 0));
    assert!(
        start.contains(&Action::SetTimer { at: at(10) }),
        "{start:?}"
    );
    // Half a millisecond of disagreement is the clocks' drift and reading jitter, not a step.
    assert!(external(&c.tick(both(1.0, 500_000))).is_empty());
    // Someone sets the clock back 10 s at 2 s: seen at the next input, with its size.
    let seen = c.tick(both(3.0, -10 * S));
    assert_eq!(external(&seen), vec![-10 * S - 500_000]);
    assert_eq!(c.status().external_steps, 1);
    // The INIT timeout still comes 10 s after the start in elapsed time, though the local
    // clock then reads less than at the start.
    let t = c.tick(both(5.0, -10 * S));
    assert!(external(&t).is_empty(), "counted once");
    assert_eq!(c.mode(), Mode::Init);
    let timeout = c.tick(both(10.0, -10 * S));
    assert_eq!(c.mode(), Mode::NtpOnly, "{timeout:?}");
    // A host without a monotonic clock: steps cannot be told from elapsed time, none counted.
    let mut plain = Controller::new(ptp_only(), at(0), 0.0);
    plain.start(at(0));
    assert!(external(&plain.tick(at(-8))).is_empty());
    assert_eq!(plain.status().external_steps, 0);
}

#[test]
fn every_ptp_datagram_counts_as_traffic_usable_or_not() {
    let mut c = Controller::new(ptp_only(), at(0), 0.0);
    c.start(at(0));
    assert_eq!(c.status().last_ptp_packet, None);
    assert_eq!(c.status().ptp_packets_per_s, None);
    // Garbage and pairs alike, eight a second for 20 s.
    for i in 0..80u16 {
        let t = i64::from(i) * S / 4;
        let (sync, follow_up) = sync_pair(i, t);
        c.handle_ptp(b"not PTP", at_ns(t));
        if i % 2 == 0 {
            c.handle_ptp(&sync, at_ns(t + 1_000));
        } else {
            c.handle_ptp(&follow_up, at_ns(t + 1_000));
        }
    }
    let s = c.status();
    assert_eq!(s.last_ptp_packet, Some(at_ns(79 * S / 4 + 1_000)));
    assert_eq!(s.ptp_packets_per_s, Some(8.0));
}

#[test]
fn a_leap_second_the_kernel_applies_is_not_a_step_by_someone_else() {
    use crate::time::{Moment, MonoTime};
    const DAY: i64 = 86_400 * S;
    // Start 20 s before a midnight UTC; the kernel inserts 23:59:60, so the clock reads one
    // second less from then on, against the monotonic axis.
    let midnight = (T0 / DAY + 1) * DAY;
    let start = midnight - T0 - 20 * S;
    let both = |mono_s: i64, local_shift_ns: i64| {
        let mono = start + mono_s * S;
        Moment::new(at_ns(mono + local_shift_ns), MonoTime::from_nanos(mono))
    };
    let external = |actions: &[Action]| {
        actions
            .iter()
            .any(|a| matches!(a, Action::Notice(Notice::ExternalStep { .. })))
    };
    let leap = LeapExpected {
        at: LocalTime::from_nanos(midnight),
        nanos: -S,
    };
    // Announced: the inserted second is taken as the leap, not counted, nothing restarted.
    let mut c = Controller::new(ptp_only(), both(0, 0), 0.0);
    c.start(both(0, 0));
    c.expect_leap(Some(leap), both(1, 0).local);
    c.tick(both(19, 0));
    assert!(!external(&c.tick(both(21, -S))), "the leap taken as a step");
    assert_eq!(c.status().external_steps, 0);
    // Not announced: the same second is a step by someone else.
    let mut c = Controller::new(ptp_only(), both(0, 0), 0.0);
    c.start(both(0, 0));
    c.tick(both(19, 0));
    assert!(external(&c.tick(both(21, -S))));
    assert_eq!(c.status().external_steps, 1);
    // Announced, but the clock jumps by another amount, or at another time: a step.
    let mut c = Controller::new(ptp_only(), both(0, 0), 0.0);
    c.start(both(0, 0));
    c.expect_leap(Some(leap), both(1, 0).local);
    assert!(external(&c.tick(both(2, -S))), "a second back, 18 s early");
    let mut c = Controller::new(ptp_only(), both(0, 0), 0.0);
    c.start(both(0, 0));
    c.expect_leap(Some(leap), both(1, 0).local);
    assert!(external(&c.tick(both(21, -2 * S))), "two seconds back");
}

mod fleet;
