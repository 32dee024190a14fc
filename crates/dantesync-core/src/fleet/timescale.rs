//! What the fleet agrees on: D (UTC − leader time) as a function of the leader's time.
//!
//! An announcement names the leader whose timescale D is relative to, an epoch that changes on
//! every discontinuous change of D (a new leader's timescale, a scheduled or emergency
//! correction), D at one leader instant and the rate at which D moves (the `slew` policy; zero
//! otherwise), and at most one pending correction with the leader instant at which it takes
//! effect. Every node evaluates [`FleetTimescale::d_at`] at the same leader instant and so gets
//! the same D, whenever it last heard the announcement: that is what keeps the fleet together
//! while D moves or steps.

use crate::source::LeaderId;

/// Which design a node runs (config `sync_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SyncMode {
    /// The seed's design: PTP sets the rate, NTP corrections set the time, each node on its own.
    #[default]
    Classic,
    /// Every node phase-locked to `leader time + D + path delay`, corrections by frequency only.
    Fleet,
}

impl SyncMode {
    /// The name used in the configuration and on every status surface.
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Classic => "classic",
            SyncMode::Fleet => "fleet",
        }
    }

    /// The mode of a configuration or status name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "classic" => Some(SyncMode::Classic),
            "fleet" => Some(SyncMode::Fleet),
            _ => None,
        }
    }
}

/// One coordinated change of D, announced ahead of the leader instant at which it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingCorrection {
    /// Leader time (ns on the leader's timescale) from which the correction applies.
    pub at_leader_ns: i64,
    /// How much D changes then (ns).
    pub delta_ns: i64,
    /// The epoch the announcement will carry once the correction has applied.
    pub epoch: u32,
}

/// One announcement of the fleet's timescale by its authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetTimescale {
    /// The leader whose timescale D is relative to; a node following another leader ignores it.
    pub leader: LeaderId,
    /// Changes with every discontinuous change of D.
    pub epoch: u32,
    /// D = UTC − leader time (ns), at leader time `at_leader_ns`.
    pub d_ns: i64,
    /// The leader instant (ns on the leader's timescale) at which `d_ns` holds.
    pub at_leader_ns: i64,
    /// How fast D moves (ns of D per second of leader time, i.e. ppb); 0 unless slewing.
    pub rate_ppb: i64,
    /// A correction announced ahead, if one is pending.
    pub pending: Option<PendingCorrection>,
}

impl FleetTimescale {
    /// D at a leader instant (ns): the announced value moved at its rate, plus the pending
    /// correction once its instant has come. Integer arithmetic, so every node computes the
    /// same value from the same announcement.
    pub fn d_at(&self, leader_ns: i64) -> i64 {
        let elapsed = i128::from(leader_ns) - i128::from(self.at_leader_ns);
        let moved = elapsed * i128::from(self.rate_ppb) / 1_000_000_000;
        let mut d = i128::from(self.d_ns) + moved;
        if let Some(p) = self.pending {
            if leader_ns >= p.at_leader_ns {
                d += i128::from(p.delta_ns);
            }
        }
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The epoch in force at a leader instant (the pending correction's once it applies).
    pub fn epoch_at(&self, leader_ns: i64) -> u32 {
        match self.pending {
            Some(p) if leader_ns >= p.at_leader_ns => p.epoch,
            _ => self.epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ptpv1::Uuid;

    fn leader() -> LeaderId {
        LeaderId {
            sender: Uuid([0, 0x1d, 0xc1, 1, 2, 3]),
            sender_port: 1,
            grandmaster: Uuid([0, 0x1d, 0xc1, 1, 2, 3]),
        }
    }

    fn ts(rate_ppb: i64, pending: Option<PendingCorrection>) -> FleetTimescale {
        FleetTimescale {
            leader: leader(),
            epoch: 7,
            d_ns: 1_700_000_000_000_000_000,
            at_leader_ns: 699_000_000_000,
            rate_ppb,
            pending,
        }
    }

    #[test]
    fn d_moves_at_its_rate_in_leader_time() {
        let t = ts(20_000, None); // 20 ppm
        assert_eq!(t.d_at(699_000_000_000), 1_700_000_000_000_000_000);
        // 10 s of leader time later D has moved by 200 µs; 10 s before, back by as much.
        assert_eq!(t.d_at(709_000_000_000), 1_700_000_000_000_200_000);
        assert_eq!(t.d_at(689_000_000_000), 1_699_999_999_999_800_000);
    }

    #[test]
    fn pending_correction_applies_at_its_leader_instant_and_changes_the_epoch() {
        let p = PendingCorrection {
            at_leader_ns: 800_000_000_000,
            delta_ns: -200_000_000,
            epoch: 8,
        };
        let t = ts(0, Some(p));
        assert_eq!(t.d_at(799_999_999_999), 1_700_000_000_000_000_000);
        assert_eq!(t.epoch_at(799_999_999_999), 7);
        assert_eq!(t.d_at(800_000_000_000), 1_699_999_999_800_000_000);
        assert_eq!(t.epoch_at(800_000_000_000), 8);
    }

    #[test]
    fn sync_mode_names_round_trip() {
        for m in [SyncMode::Classic, SyncMode::Fleet] {
            assert_eq!(SyncMode::from_name(m.name()), Some(m));
        }
        assert_eq!(SyncMode::from_name("Fleet"), None);
        assert_eq!(SyncMode::default(), SyncMode::Classic);
    }
}
