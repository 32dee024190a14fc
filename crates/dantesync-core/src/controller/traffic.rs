//! How much PTP arrives: when the last datagram came (any kind, from any sender, parsed or
//! not) and how many came per second, so the status can tell "no leader's samples" from "no
//! PTP at all" (a cable, a switch's IGMP snooping, a firewall).

use std::collections::VecDeque;

/// The window the rate is counted over, ns.
const WINDOW_NS: i64 = 10_000_000_000;
/// Arrivals remembered at most: a flood is reported as at least this many per window.
const MAX_REMEMBERED: usize = 4096;

/// Arrival times (on the controller's time axis) of the PTP datagrams of the last window.
#[derive(Clone, Debug, Default)]
pub(super) struct Traffic {
    arrivals: VecDeque<i64>,
}

impl Traffic {
    pub(super) fn packet(&mut self, sf: i64) {
        while self
            .arrivals
            .front()
            .is_some_and(|&t| sf.saturating_sub(t) > WINDOW_NS)
        {
            self.arrivals.pop_front();
        }
        if self.arrivals.len() == MAX_REMEMBERED {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(sf);
    }

    /// When the last datagram came.
    pub(super) fn last(&self) -> Option<i64> {
        self.arrivals.back().copied()
    }

    /// Datagrams per second over the window that ends at the last one; `None` before any.
    /// (A reader that knows the time now shows 0 once the last one is a window old.)
    pub(super) fn per_second(&self) -> Option<f64> {
        let last = self.last()?;
        let n = self
            .arrivals
            .iter()
            .filter(|&&t| last.saturating_sub(t) < WINDOW_NS)
            .count();
        Some(n as f64 / (WINDOW_NS as f64 * 1e-9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn counts_the_last_ten_seconds_up_to_the_last_datagram() {
        let mut t = Traffic::default();
        assert_eq!((t.last(), t.per_second()), (None, None));
        // Dante: Sync and Follow_Up four times a second, for 30 s.
        for i in 0..240 {
            t.packet(i * S / 8);
        }
        assert_eq!(t.last(), Some(239 * S / 8));
        assert_eq!(t.per_second(), Some(8.0));
        // After a silence, one datagram: the window holds only it.
        t.packet(60 * S);
        assert_eq!(t.per_second(), Some(0.1));
        assert!(t.arrivals.len() <= 1 + 80);
    }

    #[test]
    fn a_flood_is_remembered_in_bounded_memory() {
        let mut t = Traffic::default();
        for i in 0..100_000 {
            t.packet(i * 1_000);
        }
        assert_eq!(t.arrivals.len(), MAX_REMEMBERED);
        assert_eq!(t.per_second(), Some(MAX_REMEMBERED as f64 / 10.0));
    }
}
