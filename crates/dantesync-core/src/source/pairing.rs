//! Pairing two-step Syncs with their Follow_Ups.
//!
//! A two-step sender's Sync carries only an approximate origin time; the precise T1 comes in
//! the Follow_Up with the same sequence id. The receive time that matters (T2) is the Sync's.

use crate::time::LocalTime;

#[derive(Clone, Copy, Debug)]
struct Pending {
    sequence_id: u16,
    rx: LocalTime,
    rx_step_free_ns: i64,
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
}

/// Syncs waiting for a Follow_Up; Dante sends the Follow_Up within a millisecond.
const MAX_PENDING: usize = 4;
/// A Follow_Up arriving later than this after its Sync is not trusted.
const MAX_WAIT_NS: i64 = 1_000_000_000;

impl Pairer {
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub fn sync_received(&mut self, sequence_id: u16, rx: LocalTime, rx_step_free_ns: i64) {
        self.pending.retain(|p| p.sequence_id != sequence_id);
        if self.pending.len() == MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Pending {
            sequence_id,
            rx,
            rx_step_free_ns,
        });
    }

    /// The pair for this Follow_Up, if its Sync is known and recent.
    pub fn follow_up_received(
        &mut self,
        associated_sequence_id: u16,
        t1_ns: i128,
        now_step_free_ns: i64,
    ) -> Option<Pair> {
        let idx = self
            .pending
            .iter()
            .position(|p| p.sequence_id == associated_sequence_id)?;
        let p = self.pending.remove(idx);
        (now_step_free_ns.saturating_sub(p.rx_step_free_ns) <= MAX_WAIT_NS).then_some(Pair {
            sequence_id: p.sequence_id,
            t1_ns,
            rx: p.rx,
            rx_step_free_ns: p.rx_step_free_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_pairs_with_its_sync_only() {
        let mut p = Pairer::default();
        p.sync_received(10, LocalTime::from_nanos(1_000), 1_000);
        p.sync_received(11, LocalTime::from_nanos(2_000), 2_000);
        assert_eq!(p.follow_up_received(12, 5, 3_000), None);
        let pair = p.follow_up_received(10, 77, 3_000).unwrap();
        assert_eq!(
            (pair.sequence_id, pair.t1_ns, pair.rx.nanos()),
            (10, 77, 1_000)
        );
        assert_eq!(p.follow_up_received(10, 77, 3_000), None, "used once");
        assert_eq!(
            p.follow_up_received(11, 1, 2_000 + MAX_WAIT_NS + 1),
            None,
            "too late"
        );
    }
}
