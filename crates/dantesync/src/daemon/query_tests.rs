//! Tests of the query responder's replies (`query.rs`).

use super::*;
use dantesync_core::controller::{LeaderStatus, NtpStatus};
use dantesync_core::source::LeaderId;
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::{Controller, Mode};

fn status() -> Status {
    let t0 = LocalTime::from_nanos(1_785_412_800_000_000_000);
    let mut s = Controller::new(Default::default(), t0, 0.0).status();
    s.mode = Mode::Lock;
    s.ptp_offset_ns = Some(-699_212_366_780);
    s.drift_ppm = Some(-33.7);
    s.applied_ppm = 12.345;
    s.leader = Some(LeaderStatus {
        id: LeaderId {
            sender: Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
            sender_port: 1,
            grandmaster: Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
        },
        quality: None,
        sync_interval_log2: Some(-2),
    });
    s.ntp = Some(NtpStatus {
        offset_ns: -250_400,
        delay_ns: 300_000,
        at: t0,
    });
    s.accumulated_phase_us = -40_000.4;
    s.ntp_failing = false;
    s
}

/// What the daemon sends for [`status`], written byte by byte from the table in
/// PROTOCOLS.md (big-endian), not by the encoder.
#[rustfmt::skip]
const EXPECTED: [u8; 64] = [
    b'D', b'S', b'Y', b'R',                         // 0  magic
    0x01, 0x02, 0x03, 0x04,                         // 4  request id, echoed
    0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xcb, 0x4d, 0x15, // 8  system time 1785412800123456789
    0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, // 16 monotonic counter
    0xff, 0xff, 0xff, 0x5d, 0x33, 0xb1, 0xfc, 0x44, // 24 PTP offset −699212366780 ns
    0xff, 0xff, 0x7c, 0x5c,                         // 32 drift −33.7 µs/s × 1000
    0x00, 0x00, 0x30, 0x39,                         // 36 applied 12.345 ppm × 1000
    3,                                              // 40 mode LOCK
    1,                                              // 41 is_locked
    0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c,             // 42 grandmaster UUID
    0x00, 0x00, 0x00, 0x00, 0x3b, 0x9a, 0xca, 0x00, // 48 counter frequency 1 GHz
    0xff, 0xff, 0xff, 0x06,                         // 56 last NTP offset −250 µs
    0x80, 0x00,                                     // 60 phase −40000 µs clamped
    0x02,                                           // 62 flags: settled (locked)
    0x00,                                           // 63 reserved
];

#[test]
fn the_compact_reply_is_byte_exact() {
    let mut bytes = reply_from(0x0102_0304, &status(), false).to_bytes();
    QueryReply::stamp_transmit(&mut bytes, 1_785_412_800_123_456_789, 0x0123_4567_89ab);
    assert_eq!(bytes, EXPECTED);
}

#[test]
fn ptp_only_sets_flag_bit_2_and_changes_no_other_byte() {
    let mut bytes = reply_from(0x0102_0304, &status(), true).to_bytes();
    QueryReply::stamp_transmit(&mut bytes, 1_785_412_800_123_456_789, 0x0123_4567_89ab);
    let mut expected = EXPECTED;
    expected[62] = 0x02 | 0x04;
    assert_eq!(bytes, expected);
    assert!(QueryReply::parse(&bytes).unwrap().flags.no_ntp_server());
}

#[test]
fn unknowns_are_zero_and_ntp_failing_is_bit_0() {
    let mut s = status();
    s.mode = Mode::NtpOnly;
    s.leader = None;
    s.ntp = None;
    s.drift_ppm = None;
    s.ntp_failing = true;
    let b = reply_from(1, &s, false).to_bytes();
    assert_eq!(b[32..36], [0, 0, 0, 0]);
    assert_eq!(b[40..48], [5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b[56..60], [0, 0, 0, 0]);
    assert_eq!(b[62], 0x01);
}

#[test]
fn the_extended_reply_carries_the_status_at_full_resolution() {
    let mut s = status();
    let got = Received {
        len: 384,
        from: "127.0.0.1:5000".parse().unwrap(),
        rx: LocalTime::from_nanos(1_785_412_800_123_400_000),
        kernel: true,
    };
    s.host.query = QueryCounters {
        answered_extended: 3,
        rate_limited: 2,
        malformed: 1,
        ..QueryCounters::default()
    };
    s.host.ptp_timestamping = Timestamping::Kernel;
    let info = NodeInfo {
        ntp_server: "ntp.example:123".to_owned(),
        ptp_only: false,
        events: None,
    };
    let r = extended_from(&s, 9, 42, &got, &info);
    assert_eq!(r.base, reply_from(9, &s, false));
    assert_eq!(
        (r.client_tx, r.request_rx_ns),
        (42, 1_785_412_800_123_400_000)
    );
    assert_eq!(r.drift_ppt, Some(-33_700_000));
    assert_eq!(r.applied_ppt, 12_345_000);
    assert_eq!(
        (r.ntp_offset_ns, r.ntp_delay_ns),
        (Some(-250_400), Some(300_000))
    );
    assert_eq!(r.accumulated_phase_ns, -40_000_400);
    assert_eq!(r.leader.sync_interval_log2, -2);
    assert_eq!(
        (r.query_answered, r.query_dropped, r.query_rate_limited),
        (3, 3, 2)
    );
    assert_eq!(r.ntp_server_text(), "ntp.example:123");
    assert_eq!(r.software_version_text(), env!("CARGO_PKG_VERSION"));
    for bit in [
        ExtendedFlags::RX_KERNEL,
        ExtendedFlags::PTP_RX_KERNEL,
        ExtendedFlags::LEADER,
    ] {
        assert!(r.flags.has(bit), "{bit:#x}");
    }
    for bit in [
        ExtendedFlags::PTP_ONLY,
        ExtendedFlags::PTP_RX_USER,
        ExtendedFlags::LEADER_QUALITY,
    ] {
        assert!(!r.flags.has(bit), "{bit:#x}");
    }
}

#[test]
fn version_2_says_what_api_status_says_about_trust() {
    let mut s = status();
    let last = LocalTime::from_nanos(1_785_412_800_000_000_000);
    s.last_ptp_packet = Some(last);
    s.ptp_packets_per_s = Some(8.0);
    s.external_steps = 2;
    let now = last.add_nanos(180_000_000);
    let h = health_from(&s, now, Some(true), 3, dantesync_clock::LeapSecond::Insert);
    assert_eq!(h.since_last_ptp_ns, Some(180_000_000));
    assert_eq!(h.ptp_packets_per_s_milli, Some(8_000));
    assert_eq!((h.external_steps, h.clock_interference), (2, 3));
    assert_eq!(h.leap_pending, LeapPending::Insert);
    assert_eq!(h.kernel_sync, KernelSync::Synchronised);
    // Silent for 10 s: no datagrams per second any more, whatever was counted before;
    // a clock without a kernel status says so.
    let later = last.add_nanos(12_000_000_000);
    let h = health_from(&s, later, None, 0, dantesync_clock::LeapSecond::None);
    assert_eq!(h.since_last_ptp_ns, Some(12_000_000_000));
    assert_eq!(h.ptp_packets_per_s_milli, Some(0));
    assert_eq!(h.kernel_sync, KernelSync::NotApplicable);
    // Before the first datagram: unknown, not zero.
    s.last_ptp_packet = None;
    s.ptp_packets_per_s = None;
    let h = health_from(&s, now, Some(false), 0, dantesync_clock::LeapSecond::Delete);
    assert_eq!(
        (h.since_last_ptp_ns, h.ptp_packets_per_s_milli),
        (None, None)
    );
    assert_eq!(h.leap_pending, LeapPending::Delete);
    assert_eq!(h.kernel_sync, KernelSync::Unsynchronised);
}

#[test]
fn version_3_says_what_api_status_says_about_the_sync_mode() {
    use dantesync_core::controller::FleetState;
    use dantesync_core::fleet::{DSource, SyncMode};
    use dantesync_core::path_delay::PathDelayState;
    // A classic node: classic, off, nothing known.
    let m = sync_mode_from(&status());
    assert_eq!(m.sync_mode, Coded::Known(SyncMode::Classic));
    assert_eq!(m.fleet_state, Coded::Known(FleetState::Off));
    assert_eq!(m.d_source, Coded::Known(None));
    assert_eq!(
        (m.d_epoch, m.d_ns, m.d_age_ns, m.phase_error_ns),
        (None, None, None, None)
    );
    // A fleet node tracking, its path delay known.
    let mut s = status();
    s.sync_mode = SyncMode::Fleet;
    s.fleet.state = FleetState::Tracking;
    s.fleet.epoch = Some(4);
    s.fleet.d_ns = Some(1_785_000_000_123_456_789);
    s.fleet.d_age_s = Some(2.5);
    s.fleet.phase_error_ns = Some(-1_499.6);
    s.path_delay.state = PathDelayState::Ok;
    s.path_delay.delay_ns = Some(45_200);
    let m = sync_mode_from(&s);
    assert_eq!(m.sync_mode, Coded::Known(SyncMode::Fleet));
    assert_eq!(m.fleet_state, Coded::Known(FleetState::Tracking));
    assert_eq!(m.path_delay_state, Coded::Known(PathDelayState::Ok));
    assert_eq!(m.d_epoch, Some(4));
    assert_eq!(m.d_ns, Some(1_785_000_000_123_456_789));
    assert_eq!(m.d_age_ns, Some(2_500_000_000));
    assert_eq!(m.path_delay_ns, Some(45_200));
    assert_eq!(
        m.phase_error_ns,
        Some(-1_500),
        "rounded as /api/status rounds it"
    );
    // D's source is the authority's, on the authority only.
    assert_eq!(m.d_source, Coded::Known(None));
    s.fleet_authority = Some(dantesync_core::fleet::AuthorityStatus {
        policy: Default::default(),
        timescale: None,
        source: Some(DSource::Persisted),
        age_s: None,
        error_ns: None,
        measured_rate_ppb: None,
        samples: 0,
        steps_last_24h: 0,
        next_correction: None,
        too_often: false,
        next_scheduled_utc_ns: None,
    });
    assert_eq!(
        sync_mode_from(&s).d_source,
        Coded::Known(Some(DSource::Persisted))
    );
}

/// A clock that reads 5 s past the epoch, whatever the counter says.
struct Fixed;

impl dantesync_clock::Clock for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn now(&self) -> LocalTime {
        LocalTime::from_nanos(5_000_000_000)
    }
    fn set_frequency(&mut self, _: f64) -> Result<(), dantesync_clock::ClockError> {
        Ok(())
    }
    fn frequency(&self) -> Result<f64, dantesync_clock::ClockError> {
        Ok(0.0)
    }
    fn max_frequency(&self) -> f64 {
        500.0
    }
    fn step(&mut self, _: i64) -> Result<(), dantesync_clock::ClockError> {
        Ok(())
    }
}

#[test]
fn the_counter_is_paired_with_the_clock_from_the_tightest_reading() {
    // The clock is read at counter 1_000_000 every time; the first reading was preempted
    // for 400 µs between the counter and the clock, the others were not. Reading the
    // counter once before the clock would pair 600_000 with it: 400 µs of error.
    let reads = std::cell::RefCell::new(vec![
        600_000u64, 1_000_100, 999_950, 1_000_050, 999_900, 1_000_200,
    ]);
    let counter = || reads.borrow_mut().remove(0);
    let (mono, clock) = paired(&Fixed, counter);
    assert_eq!(clock, 5_000_000_000);
    assert_eq!(mono, 1_000_000, "the middle of the 100 ns sandwich");
}
