use super::*;
use crate::wire::ptpv1::Uuid;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// 2026-07-30 02:50:00 UTC: ten minutes before the default daily instant (03:00).
const UTC0: i64 = 1_785_379_800 * S;
const LEADER0: i64 = 5_000 * S;

fn leader(last: u8) -> LeaderId {
    LeaderId {
        sender: Uuid([0, 0x1d, 0xc1, 1, 2, last]),
        sender_port: 1,
        grandmaster: Uuid([0, 0x1d, 0xc1, 1, 2, last]),
    }
}

/// `t` s into the run: the master's clock is UTC, the leader runs in step with it.
fn now(t: i64) -> AuthorityNow {
    AuthorityNow {
        sf: t * S,
        utc_ns: UTC0 + t * S,
        leader_ns: LEADER0 + t * S,
    }
}

const D0: i64 = UTC0 - LEADER0;

fn cfg(policy: UtcPolicy) -> AuthorityConfig {
    AuthorityConfig {
        policy,
        ..AuthorityConfig::default()
    }
}

/// An authority that announces D0 + `err` (taken up from a state file at t = 0).
fn announced_with(cfg: AuthorityConfig, err: i64) -> Authority {
    let saved = FleetTimescale {
        leader: leader(1),
        epoch: 1,
        d_ns: D0 + err,
        at_leader_ns: LEADER0,
        rate_ppb: 0,
        pending: None,
    };
    let mut a = Authority::new(cfg, Some(saved));
    a.leader_changed(leader(1));
    assert!(a.leader_sync(now(0), UTC0, true));
    assert_eq!(a.timescale(), Some(saved));
    a
}

fn announced(policy: UtcPolicy, err: i64) -> Authority {
    announced_with(cfg(policy), err)
}

/// Samples of D every 20 s from `from` s to `to` s (inclusive), each `d(t)`.
fn measure(a: &mut Authority, from: i64, to: i64, d: impl Fn(i64) -> i64) {
    for t in (from..=to).step_by(20) {
        a.ntp_sample(now(t), d(t));
    }
}

#[test]
fn the_first_d_waits_for_enough_samples_and_is_their_filtered_value() {
    let mut a = Authority::new(cfg(UtcPolicy::Scheduled), None);
    a.leader_changed(leader(1));
    // One wild answer among them does not move it.
    for (k, d) in [D0 + 1_000, D0 + 300 * MS, D0 + 1_000]
        .into_iter()
        .enumerate()
    {
        assert!(!a.ntp_sample(now(k as i64 * 20), d));
        assert_eq!(a.timescale(), None);
    }
    assert!(a.ntp_sample(now(60), D0 + 1_000));
    let ts = a.timescale().unwrap();
    assert_eq!(ts.epoch, 1);
    assert_eq!(ts.leader, leader(1));
    assert_eq!(ts.at_leader_ns, LEADER0 + 60 * S);
    assert_eq!(ts.d_ns, D0 + 1_000);
    assert_eq!(ts.rate_ppb, 0);
    let st = a.status(70 * S);
    assert_eq!(st.source, Some(DSource::Measured));
    assert_eq!(st.age_s, Some(10.0));
}

#[test]
fn a_persisted_d_is_announced_again_and_not_moved_by_a_restart() {
    let saved = FleetTimescale {
        leader: leader(1),
        epoch: 9,
        d_ns: D0 + 150 * MS,
        at_leader_ns: LEADER0 - 3_600 * S,
        rate_ppb: 0,
        pending: None,
    };
    let mut a = Authority::new(cfg(UtcPolicy::Scheduled), Some(saved));
    a.leader_changed(leader(1));
    assert!(a.leader_sync(now(0), UTC0, true));
    assert_eq!(a.timescale(), Some(saved));
    // UTC says 150 ms otherwise: within the emergency limit, so D waits for the daily time.
    for k in 0..5 {
        assert!(!a.ntp_sample(now(k * 20), D0));
    }
    assert_eq!(a.timescale(), Some(saved));
    let st = a.status(80 * S);
    assert_eq!(st.source, Some(DSource::Persisted));
    assert_eq!(st.error_ns, Some(-150 * MS));
}

#[test]
fn a_persisted_d_does_not_wait_for_the_path_delay_and_an_own_clock_d_does() {
    // The master restarted (its path delay to the leader not measured again yet): the kept D
    // is announced at once, so clients see no gap and no change.
    let saved = FleetTimescale {
        leader: leader(1),
        epoch: 9,
        d_ns: D0,
        at_leader_ns: LEADER0 - 60 * S,
        rate_ppb: 0,
        pending: None,
    };
    let mut a = Authority::new(cfg(UtcPolicy::Scheduled), Some(saved));
    a.leader_changed(leader(1));
    assert!(a.leader_sync(now(0), UTC0, false));
    assert_eq!(a.timescale(), Some(saved));
    // Another leader: its D from the master's clock only once the path is known.
    a.leader_changed(leader(2));
    assert!(!a.leader_sync(now(1), UTC0 + S, false));
    assert_eq!(a.timescale().map(|t| t.leader), Some(leader(1)));
    assert!(a.leader_sync(now(5), UTC0 + 5 * S, true));
    let ts = a.timescale().unwrap();
    assert_eq!((ts.leader, ts.epoch), (leader(2), 10));
}

#[test]
fn a_persisted_d_of_a_rebooted_leader_is_replaced_from_the_own_clock() {
    let saved = FleetTimescale {
        leader: leader(1),
        epoch: 9,
        d_ns: D0 - 4_000 * S,
        // Further than the leader's uptime now: it restarted since.
        at_leader_ns: LEADER0 + 4_000 * S,
        rate_ppb: 0,
        pending: None,
    };
    let mut a = Authority::new(cfg(UtcPolicy::Scheduled), Some(saved));
    a.leader_changed(leader(1));
    // The master's clock read UTC0 + 3 µs at the Sync.
    assert!(a.leader_sync(now(0), UTC0 + 3_000, true));
    let ts = a.timescale().unwrap();
    assert_eq!(
        (ts.epoch, ts.d_ns, ts.at_leader_ns),
        (10, D0 + 3_000, LEADER0)
    );
    assert_eq!(a.status(0).source, Some(DSource::OwnClock));
}

#[test]
fn a_new_leader_gets_d_from_the_own_clock_under_the_next_epoch_without_a_step() {
    let mut a = announced(UtcPolicy::Scheduled, 0);
    let before = a.timescale().unwrap();
    a.leader_changed(leader(2));
    // The new leader's uptime is 77 s; the master's clock (UTC) has not moved.
    let new_leader = AuthorityNow {
        leader_ns: 77 * S,
        ..now(100)
    };
    assert!(a.leader_sync(new_leader, UTC0 + 100 * S, true));
    let ts = a.timescale().unwrap();
    assert_eq!(ts.leader, leader(2));
    assert_eq!(ts.epoch, before.epoch + 1);
    assert_eq!(ts.pending, None);
    // Every node's clock reads what it read: UTC at that leader instant.
    assert_eq!(ts.d_at(77 * S) + 77 * S, UTC0 + 100 * S);
    assert_eq!(a.status(100 * S).steps_last_24h, 0);
    // Further Syncs of the same leader change nothing.
    assert!(!a.leader_sync(
        AuthorityNow {
            leader_ns: 78 * S,
            ..now(101)
        },
        UTC0 + 101 * S,
        true
    ));
}

#[test]
fn scheduled_announces_the_daily_correction_ahead_rounded_and_applies_it_once() {
    // Announced 290 ms ahead of UTC: the daily correction is −200 ms (quantum 200 ms).
    let mut a = announced(UtcPolicy::Scheduled, 290 * MS);
    measure(&mut a, 490, 550, |_| D0);
    assert_eq!(a.timescale().unwrap().pending, None);
    // 02:59:29: more than 30 s before 03:00, nothing yet; at 02:59:30 the announcement.
    assert!(!a.update(now(569)));
    assert!(a.update(now(570)));
    let p = a.timescale().unwrap().pending.unwrap();
    assert_eq!(p.delta_ns, -200 * MS);
    assert_eq!(p.at_leader_ns, LEADER0 + 600 * S);
    assert_eq!(p.epoch, 2);
    assert_eq!(a.status(571 * S).next_correction, Some(p));
    // 03:00 is still the next daily instant until it has come; then it is tomorrow's.
    assert_eq!(
        a.status(571 * S).next_scheduled_utc_ns,
        Some(UTC0 + 600 * S)
    );
    // The same leader instant on every node: before it nothing, at it the new D and epoch.
    assert!(!a.update(now(599)));
    assert!(a.update(now(600)));
    let ts = a.timescale().unwrap();
    assert_eq!((ts.epoch, ts.d_ns, ts.pending), (2, D0 + 90 * MS, None));
    assert_eq!(a.status(600 * S).steps_last_24h, 1);
    a.update(now(601));
    assert_eq!(
        a.status(601 * S).next_scheduled_utc_ns,
        Some(UTC0 + 600 * S + 86_400 * S)
    );
    // 90 ms left rounds to nothing; and 03:00 is not handled twice.
    assert!(!a.update(now(602)));
}

#[test]
fn scheduled_skips_a_daily_correction_that_rounds_to_nothing() {
    let mut a = announced(UtcPolicy::Scheduled, 60 * MS);
    measure(&mut a, 490, 550, |_| D0);
    assert!(!a.update(now(575)));
    assert_eq!(a.timescale().unwrap().pending, None);
}

#[test]
fn d_beyond_the_emergency_limit_brings_a_correction_at_once() {
    let mut a = announced(UtcPolicy::Scheduled, 0);
    // UTC moved 3 s (limit 2 s): pending after the lead time, exact to the quantum.
    measure(&mut a, 80, 140, |_| D0 + 3 * S + 30 * MS);
    let p = a.timescale().unwrap().pending.unwrap();
    assert_eq!(p.delta_ns, 3 * S);
    // Scheduled by the fourth sample (the first estimate), 30 s ahead.
    assert_eq!(p.at_leader_ns, LEADER0 + 170 * S);
    assert_eq!(p.epoch, 2);
}

#[test]
fn slew_moves_d_at_a_bounded_rate_that_every_node_computes_alike() {
    let mut a = announced(UtcPolicy::Slew, 0);
    // UTC is 1 s further than announced: 1 s / 300 s would be 3.3 ms/s, bounded to 20 µs/s.
    measure(&mut a, 20, 80, |_| D0 + S);
    let ts = a.timescale().unwrap();
    assert_eq!(ts.rate_ppb, 20_000);
    assert_eq!(ts.epoch, 1);
    assert_eq!(ts.pending, None);
    assert_eq!(ts.at_leader_ns, LEADER0 + 80 * S);
    // Small error and a leader 5 ppm slow against UTC: the rate is its drift plus the error
    // worked off over 300 s.
    let mut b = announced(UtcPolicy::Slew, 0);
    measure(&mut b, 20, 240, |t| D0 + 3 * MS + t * 5_000);
    let err = b.status(240 * S).error_ns.unwrap();
    assert!(err > 0 && err < 3 * MS + 240 * 5_000, "{err}");
    let ts = b.timescale().unwrap();
    assert_eq!(ts.rate_ppb, (5_000.0 + err as f64 / 300.0).round() as i64);
    assert_eq!(b.status(240 * S).measured_rate_ppb, Some(5_000));
}

#[test]
fn none_never_corrects_d() {
    let mut a = announced(UtcPolicy::None, 0);
    for t in (20..=160).step_by(20) {
        assert!(!a.ntp_sample(now(t), D0 + 5 * S));
    }
    assert!(!a.update(now(600)));
    let ts = a.timescale().unwrap();
    assert_eq!((ts.d_ns, ts.rate_ppb, ts.pending), (D0, 0, None));
}

#[test]
fn correct_now_is_coordinated_and_refused_when_it_cannot_be() {
    let mut fresh = Authority::new(cfg(UtcPolicy::Scheduled), None);
    assert_eq!(fresh.correct_now(now(0)), Err(CorrectRefused::NoTimescale));
    let short = AuthorityConfig {
        window_s: 60.0,
        ..cfg(UtcPolicy::None)
    };
    let mut a = announced_with(short.clone(), 0);
    assert_eq!(a.correct_now(now(10)), Err(CorrectRefused::NoEstimate));
    measure(&mut a, 10, 70, |_| D0);
    assert_eq!(
        a.correct_now(now(70)),
        Err(CorrectRefused::NothingToCorrect)
    );
    measure(&mut a, 160, 220, |_| D0 - 430 * MS);
    let p = a.correct_now(now(230)).unwrap();
    assert_eq!(p.delta_ns, -400 * MS);
    assert_eq!(p.at_leader_ns, LEADER0 + 260 * S);
    assert_eq!(p.epoch, 2);
    assert_eq!(a.correct_now(now(231)), Err(CorrectRefused::Pending));
    assert!(a.update(now(260)));
    assert_eq!(a.timescale().unwrap().d_ns, D0 - 400 * MS);
    measure(&mut a, 240, 260, |_| D0 - 430 * MS);
    // 30 ms left: less than the quantum, so it is corrected exactly.
    assert_eq!(a.correct_now(now(261)).unwrap().delta_ns, -30 * MS);
}

#[test]
fn corrections_are_counted_over_24_hours_with_a_warning_when_too_many() {
    let mut a = announced_with(
        AuthorityConfig {
            window_s: 60.0,
            ..cfg(UtcPolicy::None)
        },
        0,
    );
    let mut t = 100;
    for k in 1..=3 {
        measure(&mut a, t, t + 60, |_| D0 - k * S);
        t += 60;
        assert_eq!(a.correct_now(now(t)).unwrap().delta_ns, -S);
        t += 30;
        assert!(a.update(now(t)));
        t += 40;
    }
    let st = a.status(t * S);
    assert_eq!(st.steps_last_24h, 3);
    assert!(st.too_often);
    assert_eq!(a.timescale().unwrap().epoch, 4);
    a.update(now(t + 86_400));
    let st = a.status((t + 86_400) * S);
    assert_eq!(st.steps_last_24h, 0);
    assert!(!st.too_often);
}
