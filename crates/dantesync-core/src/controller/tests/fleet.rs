//! Fleet mode in the controller: the start-up step, the phase lock to leader + D, NTP left
//! alone, scheduled corrections stepped at their instant, the hold and the fallback.

use super::*;
use crate::fleet::{FleetConfig, FleetTimescale, PendingCorrection, SyncMode};

/// D that puts the fleet's time where the node's clock reads with zero phase error (the
/// node's local time is T0 + leader time since the start, the leader's time 700 s + that).
const D: i64 = T0 - 700 * S;

fn fleet(ntp: bool, hold_s: f64) -> ControllerConfig {
    ControllerConfig {
        ntp: ntp.then(NtpGateConfig::default),
        sync_mode: SyncMode::Fleet,
        fleet: FleetConfig {
            hold_s,
            ..FleetConfig::default()
        },
        ..ControllerConfig::default()
    }
}

fn announcement(node: &Node, pending: Option<PendingCorrection>) -> FleetTimescale {
    FleetTimescale {
        leader: node.c.status().leader.expect("a leader").id,
        epoch: 1,
        d_ns: D,
        at_leader_ns: 700 * S + node.t_ns,
        rate_ppb: 0,
        pending,
    }
}

fn announce(node: &mut Node, ts: FleetTimescale) {
    let now = node.local();
    let a = node.c.set_fleet_timescale(ts, now);
    node.take(a);
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

/// Runs `secs` while recording every step the controller asks for.
fn run_recording(node: &mut Node, secs: i64) -> (Vec<i64>, f64) {
    let mut all = Vec::new();
    let mut worst = 0.0f64;
    for _ in 0..secs * 4 {
        let before = node.phase_ns;
        node.run_quarter();
        if node.phase_ns != before {
            worst = worst.max(node.phase_ns.abs());
        }
        all.append(&mut node.stepped);
    }
    (all, worst)
}

impl Node {
    /// One Sync/Follow_Up pair, 250 ms after the last.
    fn run_quarter(&mut self) {
        let dt = 250_000_000;
        self.phase_ns += (self.natural_ppm + self.applied_ppm) * 1e-6 * dt as f64;
        self.t_ns += dt;
        self.seq = self.seq.wrapping_add(1);
        let (sync, follow_up) = sync_pair(self.seq, 700 * S + self.t_ns);
        let rx = self.local();
        let a = self.c.handle_ptp(&sync, rx);
        self.stepped.extend(steps(&a));
        self.take(a);
        let a = self.c.handle_ptp(&follow_up, rx.add_nanos(100_000));
        self.stepped.extend(steps(&a));
        self.take(a);
    }
}

#[test]
fn a_fleet_node_steps_once_to_leader_plus_d_then_holds_it_by_frequency() {
    let mut n = Node::new(fleet(false, 900.0), 50.0);
    n.phase_ns = 5_000_000.0; // 5 ms ahead of the fleet's time
    n.run(2);
    assert_eq!(n.c.status().fleet.state, FleetState::Waiting);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    let (stepped, _) = run_recording(&mut n, 10);
    assert_eq!(stepped.len(), 1, "one start-up step: {stepped:?}");
    // 5 ms plus what 50 ppm added before the rate servo's first frequency.
    assert!(
        (-5_200_000..=-5_000_000).contains(&stepped[0]),
        "{stepped:?}"
    );
    assert!(
        n.phase_ns.abs() < 100_000.0,
        "right after: {} ns",
        n.phase_ns
    );
    let (stepped, _) = run_recording(&mut n, 300);
    assert!(stepped.is_empty(), "never a step after: {stepped:?}");
    assert!(n.phase_ns.abs() < 2_000.0, "phase {} ns", n.phase_ns);
    let s = n.c.status();
    assert_eq!(s.sync_mode, SyncMode::Fleet);
    assert_eq!(s.fleet.state, FleetState::Tracking);
    assert_eq!(s.fleet.steps, 1);
    assert_eq!(s.fleet.d_ns, Some(D));
    assert_eq!(s.fleet.epoch, Some(1));
    assert!(s.fleet.phase_error_ns.unwrap().abs() < 2_000.0);
    assert!(!s.fleet.path_delay_used, "no path delay measured: 0 used");
    assert!(s.time_synchronised, "the fleet's time counts as known");
}

#[test]
fn a_small_start_error_and_a_rate_error_are_removed_by_frequency_alone() {
    let mut n = Node::new(fleet(false, 900.0), 50.0);
    n.phase_ns = 400_000.0; // under the 1 ms step threshold
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    let start = n.phase_ns;
    assert!(start > 450_000.0, "{start}");
    let (stepped, worst) = run_recording(&mut n, 600);
    assert!(stepped.is_empty(), "{stepped:?}");
    assert!(worst <= start * 1.02, "{worst} from {start}");
    assert!(n.phase_ns.abs() < 5_000.0, "phase {} ns", n.phase_ns);
}

#[test]
fn classic_mode_ignores_announcements() {
    let mut n = Node::new(ptp_only(), 50.0);
    n.phase_ns = 5_000_000.0;
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    let (stepped, _) = run_recording(&mut n, 60);
    assert!(stepped.is_empty());
    assert!(
        n.phase_ns > 4_900_000.0,
        "classic keeps its phase: {}",
        n.phase_ns
    );
    assert_eq!(n.c.status().fleet.state, FleetState::Off);
}

#[test]
fn another_leaders_announcement_is_ignored_and_counted() {
    let mut n = Node::new(fleet(false, 900.0), 50.0);
    n.run(2);
    let mut ts = announcement(&n, None);
    ts.leader.sender = Uuid([0, 0x1d, 0xc1, 9, 9, 9]);
    announce(&mut n, ts);
    run_recording(&mut n, 5);
    let s = n.c.status();
    assert_eq!(s.fleet.ignored_other_leader, 1);
    assert_eq!(s.fleet.state, FleetState::Waiting);
    assert_eq!(s.fleet.d_ns, None);
}

#[test]
fn ntp_is_measured_not_applied_while_the_fleet_owns_the_time() {
    let mut n = Node::new(fleet(true, 900.0), 50.0);
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    run_recording(&mut n, 20);
    for _ in 0..3 {
        let now = n.local();
        let m = NtpMeasurement {
            offset_ns: 300_000_000,
            delay_ns: 200_000,
        };
        let a = n.c.handle_ntp_result(now, m);
        assert!(steps(&a).is_empty(), "{a:?}");
        assert!(!a
            .iter()
            .any(|a| matches!(a, Action::Notice(Notice::NtpCorrection { .. }))));
        n.take(a);
        run_recording(&mut n, 1);
    }
    let s = n.c.status();
    assert_eq!(
        s.ntp.map(|m| m.offset_ns),
        Some(300_000_000),
        "measured and shown"
    );
    assert_eq!(s.ntp_corrections, 0);
}

#[test]
fn a_scheduled_correction_is_stepped_at_its_leader_instant() {
    let mut n = Node::new(fleet(false, 900.0), 50.0);
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    run_recording(&mut n, 120);
    let instant = 700 * S + n.t_ns + 30 * S + 125_000_000; // between two Syncs
    let p = PendingCorrection {
        at_leader_ns: instant,
        delta_ns: -200_000_000,
        epoch: 2,
    };
    let ts = announcement(&n, Some(p));
    announce(&mut n, ts);
    let mut stepped_at = None;
    for _ in 0..60 * 4 {
        let before = n.t_ns;
        n.run_quarter();
        if !n.stepped.is_empty() || n.phase_ns < -100_000_000.0 {
            stepped_at.get_or_insert((before, n.t_ns));
        }
        n.stepped.clear();
    }
    let (from, to) = stepped_at.expect("stepped");
    assert!(700 * S + from <= instant && instant <= 700 * S + to);
    assert!(
        (n.phase_ns + 200_000_000.0).abs() < 2_000.0,
        "{}",
        n.phase_ns
    );
    let s = n.c.status();
    assert_eq!(s.fleet.steps, 1);
    assert_eq!(s.fleet.d_ns, Some(D - 200_000_000));
    assert!(s.fleet.phase_error_ns.unwrap().abs() < 2_000.0);
}

/// The authority commits a correction (next epoch, nothing pending) at its own Sync of the
/// instant, before its node side handles that Sync; a client may also hear the committed
/// announcement before its own instant. Either way the node still steps, once, at the instant.
#[test]
fn a_correction_committed_before_the_nodes_instant_is_still_stepped() {
    let mut n = Node::new(fleet(false, 900.0), 50.0);
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    run_recording(&mut n, 120);
    let instant = 700 * S + n.t_ns + 30 * S + 125_000_000;
    let p = PendingCorrection {
        at_leader_ns: instant,
        delta_ns: -200_000_000,
        epoch: 2,
    };
    let ts = announcement(&n, Some(p));
    announce(&mut n, ts);
    while 700 * S + n.t_ns < instant - 200_000_000 {
        n.run_quarter();
        assert!(n.stepped.is_empty(), "stepped before the instant");
    }
    let committed = FleetTimescale {
        epoch: 2,
        d_ns: D - 200_000_000,
        at_leader_ns: instant,
        pending: None,
        ..ts
    };
    announce(&mut n, committed);
    let mut stepped = Vec::new();
    for _ in 0..30 * 4 {
        n.run_quarter();
        stepped.append(&mut n.stepped);
    }
    assert_eq!(stepped.len(), 1, "{stepped:?}");
    assert!(
        (n.phase_ns + 200_000_000.0).abs() < 2_000.0,
        "{}",
        n.phase_ns
    );
    let s = n.c.status();
    assert_eq!(s.fleet.steps, 1);
    assert_eq!(s.fleet.d_ns, Some(D - 200_000_000));
}

#[test]
fn without_announcements_the_node_falls_back_to_classic_after_the_hold() {
    let mut n = Node::new(fleet(false, 30.0), 50.0);
    n.phase_ns = 200_000.0;
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    run_recording(&mut n, 20);
    assert_eq!(n.c.status().fleet.state, FleetState::Tracking);
    assert!(n.c.status().fleet.added_ppm != 0.0);
    run_recording(&mut n, 15);
    let s = n.c.status();
    assert_eq!(s.fleet.state, FleetState::Fallback);
    assert_eq!(s.fleet.added_ppm, 0.0);
    assert_eq!(s.fleet.phase_error_ns, None);
    assert!(s.fleet.d_age_s.unwrap() > 30.0);
    // A fresh announcement brings the lock back, with no step.
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    let (stepped, _) = run_recording(&mut n, 5);
    assert!(stepped.is_empty());
    assert_eq!(n.c.status().fleet.state, FleetState::Tracking);
}

#[test]
fn fleet_mode_never_asks_for_more_than_the_clocks_range() {
    // A clock running 4000 ppm against its leader (a host clock slewed under a simulated one
    // did this in the bed): the rate estimate's gap to the servo's frequency was added as it
    // stood, asked for -4985 ppm and left the servo a reversed range, a panic.
    let mut n = Node::new(fleet(false, 900.0), 4_000.0);
    n.run(2);
    let ts = announcement(&n, None);
    announce(&mut n, ts);
    let mut worst = 0.0f64;
    for _ in 0..60 * 4 {
        n.run_quarter();
        worst = worst.max(n.applied_ppm.abs());
    }
    assert!(worst <= 500.0, "asked for {worst} ppm");
    assert!(worst > 499.0, "the servo did go to its limit: {worst} ppm");
}
