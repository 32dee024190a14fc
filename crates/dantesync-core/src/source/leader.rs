//! Choosing the leader among the PTPv1 senders heard on the subdomain.
//!
//! IEEE 1588-2002's best-master comparison, in the order Dante devices are configured by:
//! a preferred leader first, then lower stratum, then the better clock identifier, then lower
//! variance, then the lower UUID. The order is total, so two senders can never take turns at
//! being best. An operator's `leader_preference` list, when given, ranks above all of it.
//!
//! A challenger must be *qualified* before it takes over from a live leader: as IEEE 1588-2002
//! counts foreign masters, two Syncs within four of the challenger's own Sync intervals, so one
//! stray Sync does not move the source and a leader that sends every 4 s qualifies as surely
//! as one that sends every 250 ms. A sender is remembered for four of its intervals (at least
//! the configured expiry). With a preference list, a more preferred leader that comes back
//! must also stay qualified for a hold time before the source returns to it, so a leader that
//! flaps on and off moves the fleet once, not at every flap.

use std::cmp::Ordering;

use crate::wire::ptpv1::{Header, SyncBody, Uuid};

/// How a sender advertises its grandmaster, as carried in every Sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaderQuality {
    pub preferred: bool,
    pub stratum: u8,
    pub identifier: [u8; 4],
    pub variance: i16,
}

impl LeaderQuality {
    pub fn from_sync(body: &SyncBody) -> Self {
        Self {
            preferred: body.grandmaster_preferred,
            stratum: body.grandmaster_clock_stratum,
            identifier: body.grandmaster_clock_identifier,
            variance: body.grandmaster_clock_variance,
        }
    }
}

/// Who the leader is: the sender, and the grandmaster it relays (the same on plain Dante).
/// A change of either is a change of timescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaderId {
    pub sender: Uuid,
    pub sender_port: u16,
    pub grandmaster: Uuid,
}

impl LeaderId {
    pub fn from_sync(header: &Header, body: &SyncBody) -> Self {
        Self {
            sender: header.source_uuid,
            sender_port: header.source_port_id,
            grandmaster: body.grandmaster_clock_uuid,
        }
    }
}

/// Rank of an IEEE 1588-2002 clock identifier: better references first, unknown ones last.
fn identifier_rank(id: &[u8; 4]) -> u8 {
    match id {
        b"ATOM" => 0,
        b"GPS\0" => 1,
        b"NTP\0" => 2,
        b"HAND" => 3,
        b"INIT" => 4,
        b"DFLT" => 5,
        _ => 6,
    }
}

/// `Less` when `a` is the better leader.
pub fn compare(a: (&LeaderQuality, &LeaderId), b: (&LeaderQuality, &LeaderId)) -> Ordering {
    let (qa, ia) = a;
    let (qb, ib) = b;
    qb.preferred
        .cmp(&qa.preferred)
        .then(qa.stratum.cmp(&qb.stratum))
        .then(identifier_rank(&qa.identifier).cmp(&identifier_rank(&qb.identifier)))
        .then(qa.identifier.cmp(&qb.identifier))
        .then(qa.variance.cmp(&qb.variance))
        .then(ia.sender.cmp(&ib.sender))
        .then(ia.sender_port.cmp(&ib.sender_port))
        .then(ia.grandmaster.cmp(&ib.grandmaster))
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    id: LeaderId,
    quality: LeaderQuality,
    /// Its advertised Sync interval, ns (clamped to what IEEE 1588-2002 allows and a little more).
    interval_ns: i64,
    last_heard_ns: i64,
    /// The Sync before the last one, if heard.
    previous_heard_ns: Option<i64>,
    /// Since when it has been qualified without a break.
    qualified_since_ns: Option<i64>,
    /// It was heard before, went silent long enough to be forgotten, and came back.
    returning: bool,
}

impl Candidate {
    /// IEEE 1588-2002's foreign-master window: four of the sender's own Sync intervals.
    fn window_ns(&self) -> i64 {
        QUALIFY_INTERVALS * self.interval_ns
    }

    /// Two Syncs within the window, the last of them within the window of `now_ns`.
    fn qualified(&self, now_ns: i64) -> bool {
        self.previous_heard_ns.is_some_and(|p| {
            self.last_heard_ns.saturating_sub(p) <= self.window_ns()
                && now_ns.saturating_sub(self.last_heard_ns) <= self.window_ns()
        })
    }
}

/// How the operator ranks leaders above the best-master rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preference {
    /// Most preferred first; a listed sender beats every unlisted one.
    pub order: Vec<Uuid>,
    /// How long a more preferred leader that came back must stay qualified before the source
    /// returns to it, ns.
    pub hold_ns: i64,
}

impl Preference {
    fn rank(&self, sender: &Uuid) -> usize {
        self.order
            .iter()
            .position(|u| u == sender)
            .unwrap_or(self.order.len())
    }
}

/// Tracks the senders and decides who leads.
#[derive(Debug)]
pub struct LeaderSelector {
    candidates: Vec<Candidate>,
    current: Option<LeaderId>,
    allowlist: Vec<Uuid>,
    preference: Preference,
    /// A sender not heard for this long is forgotten, however fast it sends.
    expiry_ns: i64,
    /// Senders forgotten after going silent, most recent last (bounded).
    departed: Vec<Uuid>,
}

/// At most this many senders are tracked; beyond it the oldest is forgotten.
const MAX_CANDIDATES: usize = 16;
/// The qualification window, in the sender's Sync intervals (IEEE 1588-2002).
const QUALIFY_INTERVALS: i64 = 4;
/// Advertised Sync intervals are clamped to 2^-7 s … 2^6 s (1588-2002 allows 1 s to 64 s;
/// Dante sends 2^-2 s), so a corrupt field cannot make a sender immortal.
const INTERVAL_LOG2_MIN: i8 = -7;
const INTERVAL_LOG2_MAX: i8 = 6;

fn interval_ns(log2_seconds: i8) -> i64 {
    let l = log2_seconds.clamp(INTERVAL_LOG2_MIN, INTERVAL_LOG2_MAX);
    if l >= 0 {
        1_000_000_000 << l
    } else {
        1_000_000_000 >> -l
    }
}

impl LeaderSelector {
    pub fn new(allowlist: Vec<Uuid>, expiry_ns: i64) -> Self {
        Self::with_preference(allowlist, Preference::default(), expiry_ns)
    }

    pub fn with_preference(allowlist: Vec<Uuid>, preference: Preference, expiry_ns: i64) -> Self {
        Self {
            candidates: Vec::new(),
            current: None,
            allowlist,
            preference,
            expiry_ns,
            departed: Vec::new(),
        }
    }

    pub fn current(&self) -> Option<LeaderId> {
        self.current
    }

    pub fn quality_of(&self, id: &LeaderId) -> Option<LeaderQuality> {
        self.candidates
            .iter()
            .find(|c| &c.id == id)
            .map(|c| c.quality)
    }

    /// Whether this sender may lead at all.
    pub fn allowed(&self, sender: &Uuid) -> bool {
        self.allowlist.is_empty() || self.allowlist.contains(sender)
    }

    /// The order in which leaders are preferred: the operator's list, then the best-master rule.
    fn compare(&self, a: &Candidate, b: &Candidate) -> Ordering {
        self.preference
            .rank(&a.id.sender)
            .cmp(&self.preference.rank(&b.id.sender))
            .then_with(|| compare((&a.quality, &a.id), (&b.quality, &b.id)))
    }

    /// Records a Sync heard at `now_ns` (step-free local time), advertising a Sync interval of
    /// 2^`sync_interval_log2` s, and returns the leader after it.
    pub fn observe(
        &mut self,
        id: LeaderId,
        quality: LeaderQuality,
        sync_interval_log2: i8,
        now_ns: i64,
    ) -> Option<LeaderId> {
        if !self.allowed(&id.sender) {
            return self.current;
        }
        self.expire(now_ns);
        let interval_ns = interval_ns(sync_interval_log2);
        match self.candidates.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.quality = quality;
                c.interval_ns = interval_ns;
                c.previous_heard_ns = Some(c.last_heard_ns);
                c.last_heard_ns = now_ns;
            }
            None => {
                if self.candidates.len() >= MAX_CANDIDATES {
                    if let Some(oldest) =
                        (0..self.candidates.len()).min_by_key(|&i| self.candidates[i].last_heard_ns)
                    {
                        self.candidates.swap_remove(oldest);
                    }
                }
                let returning = match self.departed.iter().position(|u| *u == id.sender) {
                    Some(i) => {
                        self.departed.remove(i);
                        true
                    }
                    None => false,
                };
                self.candidates.push(Candidate {
                    id,
                    quality,
                    interval_ns,
                    last_heard_ns: now_ns,
                    previous_heard_ns: None,
                    qualified_since_ns: None,
                    returning,
                });
            }
        }
        for c in &mut self.candidates {
            if !c.qualified(now_ns) {
                c.qualified_since_ns = None;
            } else if c.qualified_since_ns.is_none() {
                c.qualified_since_ns = Some(now_ns);
            }
        }
        let current_alive = self
            .current
            .and_then(|cur| self.candidates.iter().find(|c| c.id == cur))
            .copied();
        self.current = match current_alive {
            // No live leader: the best sender heard leads at once (fast failover).
            None => self
                .candidates
                .iter()
                .min_by(|a, b| self.compare(a, b))
                .map(|c| c.id),
            // A live leader yields only to a better, qualified challenger; with a preference
            // list, one that came back must first stay qualified for the hold time.
            Some(cur) => {
                let hold_ns = |c: &Candidate| {
                    if c.returning && !self.preference.order.is_empty() {
                        self.preference.hold_ns
                    } else {
                        0
                    }
                };
                self.candidates
                    .iter()
                    .filter(|c| {
                        c.id != cur.id
                            && self.compare(c, &cur) == Ordering::Less
                            && c.qualified_since_ns
                                .is_some_and(|since| now_ns.saturating_sub(since) >= hold_ns(c))
                    })
                    .min_by(|a, b| self.compare(a, b))
                    .map_or(Some(cur.id), |c| Some(c.id))
            }
        };
        self.current
    }

    fn expire(&mut self, now_ns: i64) {
        let floor = self.expiry_ns;
        let departed = &mut self.departed;
        self.candidates.retain(|c| {
            let alive = now_ns.saturating_sub(c.last_heard_ns) <= floor.max(c.window_ns());
            if !alive {
                departed.retain(|u| *u != c.id.sender);
                if departed.len() == MAX_CANDIDATES {
                    departed.remove(0);
                }
                departed.push(c.id.sender);
            }
            alive
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: u8) -> LeaderId {
        let uuid = Uuid([0x00, 0x1d, 0xc1, 0, 0, last]);
        LeaderId {
            sender: uuid,
            sender_port: 1,
            grandmaster: uuid,
        }
    }

    fn q(preferred: bool, stratum: u8, variance: i16) -> LeaderQuality {
        LeaderQuality {
            preferred,
            stratum,
            identifier: *b"DFLT",
            variance,
        }
    }

    #[test]
    fn comparison_order_is_preferred_stratum_identifier_variance_uuid() {
        let ordinary = q(false, 153, 28768);
        let preferred = q(true, 121, 28768);
        assert_eq!(
            compare((&preferred, &id(9)), (&ordinary, &id(1))),
            Ordering::Less
        );
        assert_eq!(
            compare((&q(false, 120, 0), &id(9)), (&q(false, 153, 0), &id(1))),
            Ordering::Less
        );
        let gps = LeaderQuality {
            identifier: *b"GPS\0",
            ..ordinary
        };
        assert_eq!(compare((&gps, &id(9)), (&ordinary, &id(1))), Ordering::Less);
        assert_eq!(
            compare((&q(false, 153, 100), &id(9)), (&q(false, 153, 200), &id(1))),
            Ordering::Less
        );
        assert_eq!(
            compare((&ordinary, &id(1)), (&ordinary, &id(2))),
            Ordering::Less
        );
    }

    #[test]
    fn two_equal_senders_never_take_turns() {
        let mut sel = LeaderSelector::new(Vec::new(), 5_000_000_000);
        let mut leaders = Vec::new();
        for i in 0..40i64 {
            let sender = if i % 2 == 0 { id(2) } else { id(1) };
            leaders.push(sel.observe(sender, q(false, 153, 28768), -3, i * 125_000_000));
        }
        // id(2) is heard first, id(1) wins on UUID once heard twice, and then stays.
        assert_eq!(leaders[0], Some(id(2)));
        assert_eq!(leaders[3], Some(id(1)));
        assert!(leaders[3..].iter().all(|l| *l == Some(id(1))));
    }

    #[test]
    fn a_silent_leader_is_replaced_and_the_allowlist_is_honoured() {
        let mut sel = LeaderSelector::new(vec![id(1).sender, id(3).sender], 2_000_000_000);
        assert_eq!(
            sel.observe(id(2), q(true, 1, 0), -2, 0),
            None,
            "not on the allowlist"
        );
        assert_eq!(sel.observe(id(1), q(false, 153, 0), -2, 0), Some(id(1)));
        assert_eq!(
            sel.observe(id(3), q(false, 153, 0), -2, 1_000_000_000),
            Some(id(1)),
            "worse sender"
        );
        assert_eq!(
            sel.observe(id(3), q(false, 153, 0), -2, 3_500_000_000),
            Some(id(3)),
            "id(1) expired"
        );
    }

    /// A sender in a test: who, its Sync interval (log2 s), and whether it sends at time t (s).
    type TestSender<'a> = (LeaderId, i8, &'a dyn Fn(f64) -> bool);

    /// Runs `senders` from 0 to `until_s` in steps of their intervals and returns the leader
    /// after every Sync, with its time.
    fn drive(
        sel: &mut LeaderSelector,
        senders: &[TestSender<'_>],
        until_s: f64,
    ) -> Vec<(f64, Option<LeaderId>)> {
        let mut events: Vec<(i64, LeaderId, i8)> = Vec::new();
        for (sender, log2, on) in senders {
            let step = interval_ns(*log2);
            let mut t = 0i64;
            while (t as f64) < until_s * 1e9 {
                if on(t as f64 / 1e9) {
                    events.push((t, *sender, *log2));
                }
                t += step;
            }
        }
        events.sort_by_key(|e| (e.0, e.1.sender));
        events
            .into_iter()
            .map(|(t, sender, log2)| {
                let leader = sel.observe(sender, q(false, 153, 0), log2, t);
                (t as f64 / 1e9, leader)
            })
            .collect()
    }

    fn preferring(first: LeaderId) -> LeaderSelector {
        LeaderSelector::with_preference(
            Vec::new(),
            Preference {
                order: vec![first.sender],
                hold_ns: 60_000_000_000,
            },
            3_000_000_000,
        )
    }

    #[test]
    fn the_preferred_leader_leads_and_after_it_returns_is_followed_again_after_the_hold() {
        // id(9) is worse by UUID but first on the operator's list. It is silent from 30 s to
        // 100 s; id(1) leads meanwhile; back for good at 100 s, it leads again at 160 s.
        let mut sel = preferring(id(9));
        let preferred_on = |t: f64| !(30.0..100.0).contains(&t);
        let always = |_: f64| true;
        let log = drive(
            &mut sel,
            &[(id(9), -2, &preferred_on), (id(1), -2, &always)],
            240.0,
        );
        let leader_at = |s: f64| log.iter().rev().find(|(t, _)| *t <= s).unwrap().1;
        assert_eq!(leader_at(1.0), Some(id(9)), "qualified at its second Sync");
        assert_eq!(leader_at(29.0), Some(id(9)));
        assert_eq!(leader_at(34.0), Some(id(1)), "failover after the expiry");
        assert_eq!(leader_at(159.0), Some(id(1)), "held while it proves itself");
        assert_eq!(leader_at(161.0), Some(id(9)), "back after 60 s of the hold");
        let switches = log
            .windows(2)
            .filter(|w| w[0].0 > 1.0 && w[0].1 != w[1].1)
            .count();
        assert_eq!(switches, 2, "away once, back once");
    }

    #[test]
    fn a_preferred_leader_that_flaps_does_not_move_the_source_back_and_forth() {
        // Back for 20 s, gone for 10 s, again and again: never qualified for the whole hold.
        let mut sel = preferring(id(9));
        let flapping = |t: f64| t < 10.0 || (t % 30.0) < 20.0 && t > 30.0;
        let always = |_: f64| true;
        let log = drive(
            &mut sel,
            &[(id(9), -2, &flapping), (id(1), -2, &always)],
            300.0,
        );
        let after_first_failover: Vec<_> = log.iter().filter(|(t, _)| *t > 15.0).collect();
        assert!(after_first_failover.iter().all(|(_, l)| *l == Some(id(1))));
    }

    #[test]
    fn without_a_preference_list_a_better_leader_needs_only_qualification() {
        let mut sel = LeaderSelector::new(Vec::new(), 3_000_000_000);
        let late = |t: f64| t >= 10.0;
        let always = |_: f64| true;
        // id(1) beats id(5) on UUID; it starts at 10 s and takes over at its second Sync.
        let log = drive(&mut sel, &[(id(5), 0, &always), (id(1), 0, &late)], 30.0);
        let first = log.iter().find(|(_, l)| *l == Some(id(1))).unwrap().0;
        assert_eq!(first, 11.0);
    }

    #[test]
    fn times_at_the_ends_of_the_axis_do_not_overflow() {
        // Found by the simulator's proptest: any input sequence, at any times, must not panic.
        let mut sel = LeaderSelector::new(Vec::new(), 3_000_000_000);
        for now in [i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX] {
            sel.observe(id(1), q(false, 153, 0), -2, now);
            sel.observe(id(2), q(false, 153, 0), 6, now);
        }
        assert!(sel.current().is_some());
    }

    #[test]
    fn a_corrupt_sync_interval_cannot_keep_a_sender_alive_for_ever() {
        assert_eq!(interval_ns(127), 64_000_000_000);
        assert_eq!(interval_ns(-128), 1_000_000_000 / 128);
        assert_eq!(interval_ns(-2), 250_000_000);
    }
}
