//! A Dante leader in virtual time: its uptime timescale, drifting against true time, and the
//! two-step Sync + Follow_Up it sends, built by the core's [`LeaderIdentity`] as real gear
//! sends them.

use dantesync_core::wire::ptpv1::{Timestamp, Uuid};

/// Who a leader is and the messages it sends: the core's, shared with `dantesync gm-sim`.
pub use dantesync_core::wire::ptpv1::LeaderIdentity;

/// A leader's clock in true time.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderModel {
    pub identity: LeaderIdentity,
    /// Uptime when the leader starts sending, s (699 s in the shared capture).
    pub uptime_start_s: f64,
    /// Its oscillator's error against true time, ppm.
    pub drift_ppm: f64,
    /// How early the Sync's own timestamp is against the Follow_Up's precise one, µs.
    pub sync_timestamp_early_us: f64,
    pub first_sequence_id: u16,
    /// A step of its frequency: (seconds after it started sending, ppm added).
    pub drift_step: Option<(f64, f64)>,
    /// A slow change of its frequency: (from, to seconds after it started sending, ppm added
    /// linearly over that span and kept after).
    pub drift_ramp: Option<(f64, f64, f64)>,
}

impl LeaderModel {
    pub fn dante(uuid: Uuid) -> Self {
        Self {
            identity: LeaderIdentity::dante(uuid),
            uptime_start_s: 699.0,
            drift_ppm: 0.0,
            sync_timestamp_early_us: 60.0,
            first_sequence_id: 2724,
            drift_step: None,
            drift_ramp: None,
        }
    }

    /// Its drift (ppm) `elapsed_s` after it started sending.
    pub fn drift_at(&self, elapsed_s: f64) -> f64 {
        let step = match self.drift_step {
            Some((at, ppm)) if elapsed_s >= at => ppm,
            _ => 0.0,
        };
        let ramp = self.drift_ramp.map_or(0.0, |(from, to, ppm)| {
            ppm * ((elapsed_s - from) / (to - from)).clamp(0.0, 1.0)
        });
        self.drift_ppm + step + ramp
    }

    /// The phase the ramp has added `elapsed_s` after the start (s of leader time per s).
    fn ramp_phase_s(&self, elapsed_s: f64) -> f64 {
        let Some((from, to, ppm)) = self.drift_ramp else {
            return 0.0;
        };
        let span = to - from;
        let e = elapsed_s - from;
        if e <= 0.0 {
            0.0
        } else if e <= span {
            ppm * 1e-6 * e * e / (2.0 * span)
        } else {
            ppm * 1e-6 * (span / 2.0 + (e - span))
        }
    }

    pub fn sync_interval_ns(&self) -> i64 {
        (1e9 * 2f64.powi(i32::from(self.identity.sync_interval_log2))).round() as i64
    }
}

/// A running leader: its uptime, and the packets it sends.
#[derive(Debug)]
pub struct Leader {
    pub model: LeaderModel,
    started_ns: i64,
    sequence_id: u16,
}

impl Leader {
    pub fn new(model: LeaderModel, started_ns: i64) -> Self {
        let sequence_id = model.first_sequence_id;
        Self {
            model,
            started_ns,
            sequence_id,
        }
    }

    /// The leader's timescale at true time `t_ns`, ns.
    pub fn uptime_ns(&self, t_ns: i64) -> i128 {
        let elapsed = (t_ns - self.started_ns) as f64;
        let mut uptime =
            self.model.uptime_start_s * 1e9 + elapsed * (1.0 + self.model.drift_ppm * 1e-6);
        if let Some((at_s, ppm)) = self.model.drift_step {
            uptime += (elapsed - at_s * 1e9).max(0.0) * ppm * 1e-6;
        }
        uptime += self.model.ramp_phase_s(elapsed * 1e-9) * 1e9;
        uptime.round() as i128
    }

    /// The Sync and Follow_Up of one Sync sent at true time `t_ns`, encoded.
    pub fn send(&mut self, t_ns: i64) -> (Vec<u8>, Vec<u8>) {
        let seq = self.sequence_id;
        self.sequence_id = self.sequence_id.wrapping_add(1);
        let precise = self.uptime_ns(t_ns);
        let early = (self.model.sync_timestamp_early_us * 1e3) as i128;
        let id = &self.model.identity;
        let sync = id
            .sync(seq, Timestamp::from_nanos(precise - early))
            .to_bytes();
        let follow_up = id.follow_up(seq, Timestamp::from_nanos(precise)).to_bytes();
        (sync, follow_up)
    }
}

#[cfg(test)]
mod tests {
    use dantesync_core::wire::ptpv1::{Flags, Message};

    use super::*;

    #[test]
    fn packets_parse_like_the_real_leaders() {
        let uuid = Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);
        let mut leader = Leader::new(LeaderModel::dante(uuid), 0);
        let (sync, fu) = leader.send(212_426_642);
        assert_eq!((sync.len(), fu.len()), (124, 52));
        let Message::Sync(h, b) = Message::parse(&sync).unwrap() else {
            panic!("not a Sync")
        };
        assert_eq!(h.flags, Flags(0x000c));
        assert_eq!(
            (h.sequence_id, b.sync_interval, b.grandmaster_clock_stratum),
            (2724, -2, 153)
        );
        assert_eq!(b.origin_timestamp, Timestamp::new(699, 212_366_642));
        let Message::FollowUp(fh, f) = Message::parse(&fu).unwrap() else {
            panic!("not a Follow_Up")
        };
        assert_eq!(f.precise_origin_timestamp, Timestamp::new(699, 212_426_642));
        assert_eq!(f.associated_sequence_id, 2724);
        assert_eq!(
            fh.flags,
            Flags(0x000c),
            "Dante sets the same flags on its Follow_Up"
        );
    }
}
