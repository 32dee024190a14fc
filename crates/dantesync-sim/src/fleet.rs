//! Fleet mode in the simulator: an authority that announces D as the NTP master would, from
//! the truth the simulator knows, and the true phase error of the node's clock against
//! `leader time + D`.
//!
//! The simulated authority measures D exactly once per leader (true time is UTC here, so
//! D = t − L(t) and its rate follows from the leader's drift), then keeps announcing the same
//! function of leader time, only refreshed: D stays continuous, as an authority must keep it,
//! and a later change of the leader's rate shows as the node's clock following the leader
//! (what the fleet agrees on), not as a jump of D. The scenario may add a deliberate slew of D
//! and one scheduled correction. The score is against the announcement in force, evaluated at
//! the leader's true time: what every node of the fleet aims at.

use dantesync_core::fleet::{FleetTimescale, PendingCorrection};
use dantesync_core::source::LeaderId;
use dantesync_core::wire::ptpv1::{Message, Timestamp};

use crate::leader::Leader;

/// How the scenario's authority behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSim {
    /// Seconds between announcements.
    pub announce_every_s: f64,
    /// The first announcement for a new leader comes this long after it started sending.
    pub reannounce_after_s: f64,
    /// A deliberate slew of D on top of its true rate (ppb of leader time).
    pub slew_ppb: i64,
    /// One scheduled correction: (true seconds since the start at which it applies, ns),
    /// announced from the start.
    pub correction: Option<(f64, i64)>,
}

impl Default for FleetSim {
    fn default() -> Self {
        Self {
            announce_every_s: 5.0,
            reannounce_after_s: 3.0,
            slew_ppb: 0,
            correction: None,
        }
    }
}

/// The identity the node's source gives a simulated leader.
pub fn leader_id(leader: &Leader) -> LeaderId {
    let bytes = leader
        .model
        .identity
        .sync(0, Timestamp::from_nanos(0))
        .to_bytes();
    match Message::parse(&bytes) {
        Ok(Message::Sync(h, b)) => LeaderId::from_sync(&h, &b),
        other => panic!("a simulated leader's Sync does not parse: {other:?}"),
    }
}

/// The simulated authority: what it announced last.
#[derive(Debug, Default)]
pub struct Authority {
    pub cfg: FleetSim,
    pub current: Option<FleetTimescale>,
    epoch: u32,
}

impl Authority {
    pub fn new(cfg: FleetSim) -> Self {
        Self {
            cfg,
            current: None,
            epoch: 0,
        }
    }

    /// The announcement at true time `now_ns` (`sim_start_ns` being the start) for `leader`.
    pub fn announce(&mut self, leader: &Leader, now_ns: i64, sim_start_ns: i64) -> FleetTimescale {
        let id = leader_id(leader);
        let l = leader.uptime_ns(now_ns) as i64;
        let ts = match self.current.filter(|c| c.leader == id) {
            Some(c) => {
                let pending = c.pending.filter(|p| l < p.at_leader_ns);
                FleetTimescale {
                    epoch: c.epoch_at(l),
                    d_ns: c.d_at(l),
                    at_leader_ns: l,
                    pending,
                    ..c
                }
            }
            None => {
                self.epoch += 1;
                // dD/dL = 1/(1 + drift) − 1 with true time as UTC.
                let drift = leader.model.drift_ppm * 1e-6;
                let true_rate = ((1.0 / (1.0 + drift) - 1.0) * 1e9).round() as i64;
                let pending = self.cfg.correction.and_then(|(at_s, delta_ns)| {
                    let at = sim_start_ns + (at_s * 1e9).round() as i64;
                    let at_leader_ns = leader.uptime_ns(at) as i64;
                    (at_leader_ns > l).then(|| PendingCorrection {
                        at_leader_ns,
                        delta_ns,
                        epoch: self.epoch + 1,
                    })
                });
                if pending.is_some() {
                    self.epoch += 1;
                }
                FleetTimescale {
                    leader: id,
                    epoch: self.epoch - u32::from(pending.is_some()),
                    d_ns: now_ns - l,
                    at_leader_ns: l,
                    rate_ppb: true_rate + self.cfg.slew_ppb,
                    pending,
                }
            }
        };
        self.current = Some(ts);
        ts
    }

    /// The true phase error (ns) of a clock reading `local_minus_true_ns` ahead of true time
    /// `now_ns` against `leader time + D` of the announcement in force, if it is for `leader`.
    pub fn phase_error_ns(
        &self,
        leader: &Leader,
        now_ns: i64,
        local_minus_true_ns: f64,
    ) -> Option<f64> {
        let ts = self.current.filter(|c| c.leader == leader_id(leader))?;
        let l = leader.uptime_ns(now_ns);
        let target_minus_true = l + i128::from(ts.d_at(l as i64)) - i128::from(now_ns);
        Some(local_minus_true_ns - target_minus_true as f64)
    }
}
