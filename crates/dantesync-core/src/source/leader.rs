//! Choosing the leader among the PTPv1 senders heard on the subdomain.
//!
//! IEEE 1588-2002's best-master comparison, in the order Dante devices are configured by:
//! a preferred leader first, then lower stratum, then the better clock identifier, then lower
//! variance, then the lower UUID. The order is total, so two senders can never take turns at
//! being best; a switch also needs the challenger to be heard several times, so one stray
//! Sync does not move the source.

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
    last_heard_ns: i64,
    /// Syncs heard recently, saturating: a challenger must be heard this often to win.
    heard: u8,
}

/// Tracks the senders and decides who leads.
#[derive(Debug)]
pub struct LeaderSelector {
    candidates: Vec<Candidate>,
    current: Option<LeaderId>,
    allowlist: Vec<Uuid>,
    /// A sender not heard for this long is forgotten.
    expiry_ns: i64,
    /// Syncs a better sender must be heard before it takes over from a live leader.
    challenge_syncs: u8,
}

/// At most this many senders are tracked; beyond it the oldest is forgotten.
const MAX_CANDIDATES: usize = 16;

impl LeaderSelector {
    pub fn new(allowlist: Vec<Uuid>, expiry_ns: i64) -> Self {
        Self {
            candidates: Vec::new(),
            current: None,
            allowlist,
            expiry_ns,
            challenge_syncs: 2,
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

    /// Records a Sync heard at `now_ns` (step-free local time) and returns the leader after it.
    pub fn observe(
        &mut self,
        id: LeaderId,
        quality: LeaderQuality,
        now_ns: i64,
    ) -> Option<LeaderId> {
        if !self.allowed(&id.sender) {
            return self.current;
        }
        self.expire(now_ns);
        match self.candidates.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.quality = quality;
                c.last_heard_ns = now_ns;
                c.heard = c.heard.saturating_add(1);
            }
            None => {
                if self.candidates.len() >= MAX_CANDIDATES {
                    if let Some(oldest) =
                        (0..self.candidates.len()).min_by_key(|&i| self.candidates[i].last_heard_ns)
                    {
                        self.candidates.swap_remove(oldest);
                    }
                }
                self.candidates.push(Candidate {
                    id,
                    quality,
                    last_heard_ns: now_ns,
                    heard: 1,
                });
            }
        }
        let best = self
            .candidates
            .iter()
            .min_by(|a, b| compare((&a.quality, &a.id), (&b.quality, &b.id)))
            .copied();
        let current_alive = self
            .current
            .and_then(|cur| self.candidates.iter().find(|c| c.id == cur));
        self.current = match (best, current_alive) {
            (None, _) => None,
            (Some(best), None) => Some(best.id),
            (Some(best), Some(cur)) if best.id != cur.id && best.heard >= self.challenge_syncs => {
                Some(best.id)
            }
            (Some(_), Some(cur)) => Some(cur.id),
        };
        self.current
    }

    fn expire(&mut self, now_ns: i64) {
        let expiry = self.expiry_ns;
        self.candidates
            .retain(|c| now_ns.saturating_sub(c.last_heard_ns) <= expiry);
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
            leaders.push(sel.observe(sender, q(false, 153, 28768), i * 125_000_000));
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
            sel.observe(id(2), q(true, 1, 0), 0),
            None,
            "not on the allowlist"
        );
        assert_eq!(sel.observe(id(1), q(false, 153, 0), 0), Some(id(1)));
        assert_eq!(
            sel.observe(id(3), q(false, 153, 0), 1_000_000_000),
            Some(id(1)),
            "worse sender"
        );
        assert_eq!(
            sel.observe(id(3), q(false, 153, 0), 3_500_000_000),
            Some(id(3)),
            "id(1) expired"
        );
    }
}
