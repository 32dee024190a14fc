//! Leader selection as a receiver sees it: Sync and Follow_Up datagrams from several senders,
//! each at its own Sync interval, through `PtpSource::handle`.
//!
//! IEEE 1588-2002 lets a master send a Sync every 1, 2, 4, 8 or 16 s and qualifies a foreign
//! master by the Syncs it sent within four of *its own* intervals, so a better leader that sends
//! slowly must still win, whichever sender was heard first, and nobody may flap.

use dantesync_core::source::{PtpConfig, PtpSource, SourceEvent};
use dantesync_core::wire::ptpv1::{LeaderIdentity, Timestamp, Uuid};
use dantesync_core::LocalTime;

/// One simulated sender: a Dante leader of a given stratum and Sync interval.
#[derive(Clone)]
struct Sender {
    identity: LeaderIdentity,
    /// When it sends its first Sync, ns.
    start_ns: i64,
}

impl Sender {
    fn new(last: u8, stratum: u8, interval_log2: i8, start_ns: i64) -> Self {
        let mut identity = LeaderIdentity::dante(Uuid([0x00, 0x1d, 0xc1, 0, 0, last]));
        identity.stratum = stratum;
        identity.sync_interval_log2 = interval_log2;
        Sender { identity, start_ns }
    }

    fn interval_ns(&self) -> i64 {
        (1e9 * 2f64.powi(i32::from(self.identity.sync_interval_log2))) as i64
    }

    fn sync(&self, seq: u16, t_ns: i64) -> Vec<u8> {
        let t = Timestamp::from_nanos(i128::from(t_ns));
        self.identity.sync(seq, t).to_bytes()
    }

    fn follow_up(&self, seq: u16, t_ns: i64) -> Vec<u8> {
        let t = Timestamp::from_nanos(i128::from(t_ns));
        self.identity.follow_up(seq, t).to_bytes()
    }
}

/// Runs the senders for `seconds` and returns, per Sync heard, (time s, leader's UUID byte).
fn run(senders: &[Sender], seconds: i64) -> Vec<(f64, Option<u8>)> {
    let mut source = PtpSource::new(PtpConfig::default());
    let mut packets: Vec<(i64, Vec<u8>)> = Vec::new();
    for s in senders {
        let mut t = s.start_ns;
        let mut seq = 0u16;
        while t < seconds * 1_000_000_000 {
            packets.push((t, s.sync(seq, t)));
            packets.push((t + 200_000, s.follow_up(seq, t)));
            seq = seq.wrapping_add(1);
            t += s.interval_ns();
        }
    }
    packets.sort_by_key(|(t, _)| *t);
    let mut leaders = Vec::new();
    for (t, bytes) in &packets {
        source.handle(bytes, LocalTime::from_nanos(*t), *t);
        leaders.push((
            *t as f64 / 1e9,
            source.leader().map(|(id, _)| id.sender.0[5]),
        ));
    }
    leaders
}

/// When the leader first became `want` and stayed it to the end; `None` if it never settled.
fn settled_on(leaders: &[(f64, Option<u8>)], want: u8) -> Option<f64> {
    let last_other = leaders.iter().rposition(|(_, l)| *l != Some(want));
    match last_other {
        None => leaders.first().map(|(t, _)| *t),
        Some(i) if i + 1 < leaders.len() => Some(leaders[i + 1].0),
        Some(_) => None,
    }
}

fn switches(leaders: &[(f64, Option<u8>)]) -> usize {
    leaders
        .windows(2)
        .filter(|w| w[0].1.is_some() && w[0].1 != w[1].1)
        .count()
}

#[test]
fn a_better_leader_sending_every_4_s_wins_over_a_worse_one_sending_every_second() {
    // The worse (stratum 153, every 1 s) is heard first; the better (stratum 121, every 4 s)
    // starts 0.3 s later.
    let worse = Sender::new(1, 153, 0, 0);
    let better = Sender::new(2, 121, 2, 300_000_000);
    let leaders = run(&[worse, better], 90);
    let t = settled_on(&leaders, 2).expect("the better leader is never followed for good");
    assert!(t <= 20.0, "the better leader took over only at {t:.1} s");
    assert_eq!(switches(&leaders), 1, "one switch, no flapping");
}

#[test]
fn a_better_slow_leader_heard_first_keeps_the_lead() {
    let better = Sender::new(2, 121, 2, 0);
    let worse = Sender::new(1, 153, 0, 300_000_000);
    let leaders = run(&[worse, better], 90);
    assert_eq!(settled_on(&leaders, 2), Some(0.0));
    assert_eq!(switches(&leaders), 0);
}

#[test]
fn of_two_leaders_sending_every_4_s_the_better_wins_whichever_is_heard_first() {
    for (first, second) in [(1u8, 2u8), (2, 1)] {
        // Sender 2 is the better one (stratum 121).
        let stratum = |u: u8| if u == 2 { 121 } else { 153 };
        let a = Sender::new(first, stratum(first), 2, 0);
        let b = Sender::new(second, stratum(second), 2, 1_500_000_000);
        let leaders = run(&[a, b], 90);
        let t = settled_on(&leaders, 2).unwrap_or_else(|| {
            panic!("heard {first} first: the better leader 2 is never followed for good")
        });
        assert!(t <= 20.0, "heard {first} first: took over at {t:.1} s");
        assert!(switches(&leaders) <= 1, "heard {first} first: flapping");
    }
}

#[test]
fn a_follow_up_that_arrives_before_its_sync_still_makes_a_sample() {
    // The event (319) and general (320) sockets are read by two tasks, so a Follow_Up can reach
    // the engine before its Sync.
    let s = Sender::new(1, 153, -2, 0);
    let mut source = PtpSource::new(PtpConfig::default());
    let mut samples = 0;
    for seq in 0..20u16 {
        let t = i64::from(seq) * s.interval_ns();
        let fu = s.follow_up(seq, t);
        let sync = s.sync(seq, t);
        // Every other pair arrives Follow_Up first.
        let order: [(&[u8], i64); 2] = if seq % 2 == 0 {
            [(&fu, t + 100_000), (&sync, t + 150_000)]
        } else {
            [(&sync, t + 100_000), (&fu, t + 150_000)]
        };
        for (bytes, at) in order {
            if let SourceEvent::Sample(pair) = source.handle(bytes, LocalTime::from_nanos(at), at) {
                assert_eq!(pair.sequence_id, seq);
                assert_eq!(pair.t1_ns, i128::from(t));
                // T2 is the Sync's arrival, whichever came first.
                let sync_at = if seq % 2 == 0 {
                    t + 150_000
                } else {
                    t + 100_000
                };
                assert_eq!(pair.rx.nanos(), sync_at);
                samples += 1;
            }
        }
    }
    // The very first Follow_Up comes from no leader yet (its Sync makes the sender leader), so
    // it cannot pair; every later one must.
    assert_eq!(samples, 19, "samples of 20 pairs");
    assert_eq!(source.counters().unmatched_follow_up, 0);
}
