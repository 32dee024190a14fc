//! Pairing two-step Syncs with their Follow_Ups.
//!
//! A two-step sender's Sync carries only an approximate origin time; the precise T1 comes in
//! the Follow_Up with the same sequence id. The receive time that matters (T2) is the Sync's.
//!
//! The two arrive on different ports (319 and 320), read by different tasks, so the Follow_Up
//! can reach the engine first: it is then held, briefly and boundedly, until its Sync comes.

use crate::time::LocalTime;

#[derive(Clone, Copy, Debug)]
struct Pending {
    sequence_id: u16,
    rx: LocalTime,
    rx_step_free_ns: i64,
}

/// A Follow_Up that came before its Sync.
#[derive(Clone, Copy, Debug)]
struct EarlyFollowUp {
    sequence_id: u16,
    t1_ns: i128,
    at_step_free_ns: i64,
}

/// A matched pair: the leader's precise send time and our receive time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub sequence_id: u16,
    /// T1 on the leader's timescale, ns.
    pub t1_ns: i128,
    /// T2, the local clock when the Sync arrived.
    pub rx: LocalTime,
    /// T2 on the step-free axis.
    pub rx_step_free_ns: i64,
}

/// Holds the last few Syncs of the leader until their Follow_Up arrives.
#[derive(Debug, Default)]
pub struct Pairer {
    pending: Vec<Pending>,
    early: Vec<EarlyFollowUp>,
    /// Held Follow_Ups that no Sync claimed (evicted, too old, or dropped by `clear`).
    dropped: u64,
}

/// Syncs waiting for a Follow_Up; Dante sends the Follow_Up within a millisecond.
const MAX_PENDING: usize = 4;
/// A Follow_Up arriving later than this after its Sync (or its Sync later than this after
/// it) is not trusted.
const MAX_WAIT_NS: i64 = 1_000_000_000;

impl Pairer {
    pub fn clear(&mut self) {
        self.pending.clear();
        self.dropped += self.early.len() as u64;
        self.early.clear();
    }

    /// Held Follow_Ups that never met their Sync, since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Records a two-step Sync; the pair when its Follow_Up was already here.
    pub fn sync_received(
        &mut self,
        sequence_id: u16,
        rx: LocalTime,
        rx_step_free_ns: i64,
    ) -> Option<Pair> {
        self.expire_early(rx_step_free_ns);
        if let Some(i) = self.early.iter().position(|e| e.sequence_id == sequence_id) {
            let e = self.early.remove(i);
            return Some(Pair {
                sequence_id,
                t1_ns: e.t1_ns,
                rx,
                rx_step_free_ns,
            });
        }
        self.pending.retain(|p| p.sequence_id != sequence_id);
        if self.pending.len() == MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Pending {
            sequence_id,
            rx,
            rx_step_free_ns,
        });
        None
    }

    /// What became of a Follow_Up.
    pub fn follow_up_received(
        &mut self,
        associated_sequence_id: u16,
        t1_ns: i128,
        now_step_free_ns: i64,
    ) -> FollowUpOutcome {
        let Some(idx) = self
            .pending
            .iter()
            .position(|p| p.sequence_id == associated_sequence_id)
        else {
            self.hold(associated_sequence_id, t1_ns, now_step_free_ns);
            return FollowUpOutcome::Held;
        };
        let p = self.pending.remove(idx);
        if now_step_free_ns.saturating_sub(p.rx_step_free_ns) > MAX_WAIT_NS {
            return FollowUpOutcome::TooLate;
        }
        FollowUpOutcome::Paired(Pair {
            sequence_id: p.sequence_id,
            t1_ns,
            rx: p.rx,
            rx_step_free_ns: p.rx_step_free_ns,
        })
    }

    fn hold(&mut self, sequence_id: u16, t1_ns: i128, at_step_free_ns: i64) {
        self.expire_early(at_step_free_ns);
        self.early.retain(|e| e.sequence_id != sequence_id);
        if self.early.len() == MAX_PENDING {
            self.early.remove(0);
            self.dropped += 1;
        }
        self.early.push(EarlyFollowUp {
            sequence_id,
            t1_ns,
            at_step_free_ns,
        });
    }

    fn expire_early(&mut self, now_step_free_ns: i64) {
        let before = self.early.len();
        self.early
            .retain(|e| now_step_free_ns.saturating_sub(e.at_step_free_ns) <= MAX_WAIT_NS);
        self.dropped += (before - self.early.len()) as u64;
    }
}

/// What a Follow_Up led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowUpOutcome {
    /// Its Sync was waiting: a sample.
    Paired(Pair),
    /// Its Sync was here, but longer ago than a Follow_Up may lag.
    TooLate,
    /// No Sync yet: held until it comes (or counted as unmatched when it never does).
    Held,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_pairs_with_its_sync_only() {
        let mut p = Pairer::default();
        p.sync_received(10, LocalTime::from_nanos(1_000), 1_000);
        p.sync_received(11, LocalTime::from_nanos(2_000), 2_000);
        assert_eq!(p.follow_up_received(12, 5, 3_000), FollowUpOutcome::Held);
        let FollowUpOutcome::Paired(pair) = p.follow_up_received(10, 77, 3_000) else {
            panic!("10 pairs with its Sync");
        };
        assert_eq!(
            (pair.sequence_id, pair.t1_ns, pair.rx.nanos()),
            (10, 77, 1_000)
        );
        assert_eq!(
            p.follow_up_received(10, 77, 3_000),
            FollowUpOutcome::Held,
            "used once: a second one waits for a Sync 10 that will not come"
        );
        assert_eq!(
            p.follow_up_received(11, 1, 2_000 + MAX_WAIT_NS + 1),
            FollowUpOutcome::TooLate,
        );
    }

    #[test]
    fn a_follow_up_before_its_sync_is_held_briefly_and_boundedly() {
        let mut p = Pairer::default();
        assert_eq!(p.follow_up_received(7, 70, 1_000), FollowUpOutcome::Held);
        let pair = p
            .sync_received(7, LocalTime::from_nanos(1_500), 1_500)
            .expect("the held Follow_Up pairs with its Sync");
        assert_eq!(
            (pair.sequence_id, pair.t1_ns, pair.rx.nanos()),
            (7, 70, 1_500)
        );
        assert_eq!(p.take_dropped(), 0);
        // Held too long: its Sync comes after MAX_WAIT and does not pair.
        p.follow_up_received(8, 80, 2_000);
        assert_eq!(
            p.sync_received(8, LocalTime::from_nanos(0), 2_000 + MAX_WAIT_NS + 1),
            None
        );
        assert_eq!(p.take_dropped(), 1);
        // Never more than MAX_PENDING held.
        for seq in 100..100 + MAX_PENDING as u16 + 3 {
            p.follow_up_received(seq, 1, 3 * MAX_WAIT_NS);
        }
        assert_eq!(p.early.len(), MAX_PENDING);
        assert_eq!(p.take_dropped(), 3);
        p.clear();
        assert_eq!(p.take_dropped(), MAX_PENDING as u64);
    }
}
