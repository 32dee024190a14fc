//! The controller's side of the fleet authority (the NTP master's measurement of D): it feeds
//! [`Authority`] the leader's Syncs and each NTP measurement with the times they happened at,
//! and lets the host read the announcement and ask for a correction.
//!
//! The leader's time at an NTP measurement comes from a line through the recent Syncs (the
//! same [`SyncLine`] the path delay reads T2 − T1 from), plus the path delay when one is
//! measured. The master's clock stands in for UTC in the daily schedule: in classic mode its
//! NTP corrections hold it there.

use super::Controller;
use crate::fleet::{
    d_sample, Authority, AuthorityConfig, AuthorityNow, AuthorityStatus, CorrectRefused,
    FleetTimescale, PendingCorrection,
};
use crate::path_delay::sync_line::SyncLine;
use crate::source::SourceEvent;
use crate::time::Moment;

#[derive(Clone, Debug)]
pub(super) struct AuthorityGlue {
    authority: Authority,
    syncs: SyncLine,
}

impl AuthorityGlue {
    pub(super) fn new(cfg: AuthorityConfig) -> Self {
        Self {
            authority: Authority::new(cfg, None),
            syncs: SyncLine::default(),
        }
    }
}

impl Controller {
    fn path_delay_or_zero(&self) -> i64 {
        self.path_delay.delay_ns().unwrap_or(0)
    }

    /// The leader's time at step-free `sf` (path delay included), if a Sync was heard.
    fn authority_now(&self, sf: i64) -> Option<AuthorityNow> {
        let glue = self.fleet_authority.as_ref()?;
        let naive = glue.syncs.leader_time_at(sf)?;
        Some(AuthorityNow {
            sf,
            utc_ns: self.local(sf).nanos(),
            leader_ns: i64::try_from(naive).ok()? + self.path_delay_or_zero(),
        })
    }

    /// What the source made of a datagram, as far as the authority cares.
    pub(super) fn fleet_authority_event(&mut self, event: &SourceEvent, sf: i64) {
        let pd = self.path_delay_or_zero();
        let own = match event {
            SourceEvent::Sample(pair) => self.own_ns(pair.rx_step_free_ns),
            _ => 0,
        };
        let settling = self.path_delay_settling();
        let local = self.local(sf).nanos();
        let Some(glue) = self.fleet_authority.as_mut() else {
            return;
        };
        match event {
            SourceEvent::Nothing => {}
            SourceEvent::LeaderChanged { current, .. } => {
                glue.syncs.clear();
                glue.authority.leader_changed(*current);
            }
            SourceEvent::Sample(pair) => {
                glue.syncs.push(pair.rx_step_free_ns, pair.t1_ns, own);
                // The leader's time at this Sync's arrival from the line through the Syncs
                // around it, not from this one alone: a new leader's D is taken from it, and
                // one Sync's timestamp noise would move the whole fleet's time by as much.
                let rx = pair.rx_step_free_ns;
                let Some(naive) = glue.syncs.leader_time_on_line(rx, own) else {
                    return;
                };
                let local_rx = local.saturating_sub(sf.saturating_sub(rx));
                let now = AuthorityNow {
                    sf,
                    utc_ns: local,
                    leader_ns: naive.saturating_add(pd),
                };
                // A D kept from an earlier run is taken up at once; a new leader's D from the
                // master's clock waits for the path delay, which it would otherwise miss.
                glue.authority.leader_sync(now, local_rx, !settling);
            }
        }
        self.fleet_self_feed(sf);
    }

    /// An NTP measurement at `sf`: the local clock read `local_ns`, UTC was `offset_ns` ahead.
    pub(super) fn fleet_authority_ntp(&mut self, sf: i64, local_ns: i64, offset_ns: i64) {
        if self.path_delay_settling() {
            // D measured without the path would be off by all of it.
            return;
        }
        let pd = self.path_delay_or_zero();
        let own = self.own_ns(sf);
        let Some(glue) = self.fleet_authority.as_mut() else {
            return;
        };
        // The leader's time at `sf` from the line through the Syncs around it.
        let Some(naive) = glue.syncs.leader_time_on_line(sf, own) else {
            return;
        };
        let d = d_sample(local_ns, offset_ns, naive, pd);
        let now = AuthorityNow {
            sf,
            utc_ns: local_ns.saturating_add(offset_ns),
            leader_ns: naive.saturating_add(pd),
        };
        glue.authority.ntp_sample(now, d);
        self.fleet_self_feed(sf);
    }

    /// Time passing: a pending correction's instant, the daily schedule.
    pub(super) fn fleet_authority_tick(&mut self, sf: i64) {
        if let Some(now) = self.authority_now(sf) {
            if let Some(glue) = self.fleet_authority.as_mut() {
                glue.authority.update(now);
            }
        }
        self.fleet_self_feed(sf);
    }

    /// This node's announcement of D, when it is the fleet's authority and has one.
    pub fn fleet_announcement(&self) -> Option<FleetTimescale> {
        self.fleet_authority.as_ref()?.authority.timescale()
    }

    /// The authority's state for the status surfaces; None when this node is not one.
    pub fn fleet_authority_status(&self) -> Option<AuthorityStatus> {
        let glue = self.fleet_authority.as_ref()?;
        Some(glue.authority.status(self.last_eval_sf))
    }

    /// A D kept from an earlier run, announced again if it still holds for the leader heard.
    pub fn restore_fleet_timescale(&mut self, saved: FleetTimescale) {
        if let Some(glue) = self.fleet_authority.as_mut() {
            let cfg = glue.authority.config().clone();
            let leader = glue.authority.leader();
            glue.authority = Authority::new(cfg, Some(saved));
            if let Some(l) = leader {
                glue.authority.leader_changed(l);
            }
        }
    }

    /// An operator's coordinated correction of D now (announced ahead like any other).
    pub fn fleet_correct_now(
        &mut self,
        now: impl Into<Moment>,
    ) -> Result<PendingCorrection, CorrectRefused> {
        // Read only: a step seen here is accounted for by the next event that enters.
        let sf = self.sf(now.into().local);
        let at = self.authority_now(sf).ok_or(CorrectRefused::NoTimescale)?;
        let glue = self
            .fleet_authority
            .as_mut()
            .ok_or(CorrectRefused::NoTimescale)?;
        glue.authority.correct_now(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{ControllerConfig, NtpMeasurement};
    use crate::fleet::{DSource, UtcPolicy};
    use crate::time::LocalTime;
    use crate::wire::ptpv1::{
        Control, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
    };

    const T0: i64 = 1_785_427_891_000_000_000;
    const S: i64 = 1_000_000_000;
    const LEADER: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]);

    fn sync_pair(seq: u16, t1_ns: i64) -> (Vec<u8>, Vec<u8>) {
        sync_pair_from(LEADER, 4, seq, t1_ns)
    }

    fn sync_pair_from(leader: Uuid, stratum: u8, seq: u16, t1_ns: i64) -> (Vec<u8>, Vec<u8>) {
        let mut header = Header::new(Control::Sync, leader, seq);
        header.flags = Flags::ASSIST;
        let mut body = SyncBody {
            origin_timestamp: Timestamp::from_nanos(i128::from(t1_ns)),
            grandmaster_clock_uuid: leader,
            grandmaster_clock_identifier: *b"DFLT",
            grandmaster_clock_stratum: stratum,
            ..SyncBody::default()
        };
        body.set_sync_interval(-2);
        let sync = Message::Sync(header, body).to_bytes();
        let mut header = Header::new(Control::FollowUp, leader, seq);
        header.flags = Flags::ASSIST;
        let body = FollowUpBody {
            associated_sequence_id: seq,
            precise_origin_timestamp: Timestamp::from_nanos(i128::from(t1_ns)),
            ..FollowUpBody::default()
        };
        (sync, Message::FollowUp(header, body).to_bytes())
    }

    /// A controller on `cfg`, started at T0.
    fn started(cfg: ControllerConfig) -> Controller {
        let mut c = Controller::new(cfg, LocalTime::from_nanos(T0), 0.0);
        c.start(LocalTime::from_nanos(T0));
        c
    }

    /// A Sync/Follow_Up of leader `other` (uptime 50 s when ours read T0 + 100 s), quarter `q`
    /// after 100 s.
    fn other_leader_sync(c: &mut Controller, seq: &mut u16, other: Uuid, q: i64) {
        let t = 100 * S + q * S / 4;
        *seq = seq.wrapping_add(1);
        let (sync, follow_up) = sync_pair_from(other, 1, *seq, t - 50 * S);
        c.handle_ptp(&sync, LocalTime::from_nanos(T0 + t));
        c.handle_ptp(&follow_up, LocalTime::from_nanos(T0 + t + 100_000));
    }

    /// Syncs from `from` s to `to` s, and an NTP check every 10 s.
    fn run(c: &mut Controller, seq: &mut u16, from: i64, to: i64) {
        for q in 4 * from..4 * to {
            let t = q * S / 4;
            *seq = seq.wrapping_add(1);
            let (sync, follow_up) = sync_pair(*seq, 700 * S + t);
            c.handle_ptp(&sync, LocalTime::from_nanos(T0 + t));
            c.handle_ptp(&follow_up, LocalTime::from_nanos(T0 + t + 100_000));
            if q % 40 == 20 {
                // An NTP check in the middle of a Sync interval.
                let m = NtpMeasurement {
                    offset_ns: 300,
                    delay_ns: 400_000,
                };
                c.handle_ntp_result(LocalTime::from_nanos(T0 + t + S / 8), m);
            }
        }
    }

    /// The master's clock reads T0 + t when the leader's reads 700 s + t; UTC is 300 ns ahead
    /// of the master's clock (too little for its NTP gate to correct).
    #[test]
    fn ntp_measurements_and_syncs_give_the_announced_d_and_a_coordinated_correction() {
        let cfg = ControllerConfig {
            authority: Some(AuthorityConfig {
                policy: UtcPolicy::None,
                quantum_ns: 0,
                ..AuthorityConfig::default()
            }),
            ..ControllerConfig::default()
        };
        let mut c = started(cfg);
        let mut seq = 0u16;
        run(&mut c, &mut seq, 0, 100);
        let ts = c
            .fleet_announcement()
            .expect("D announced after four measurements");
        assert_eq!(ts.leader.grandmaster, LEADER);
        assert_eq!(ts.epoch, 1);
        assert_eq!(ts.d_ns, T0 + 300 - 700 * S);
        let st = c.status().fleet_authority.unwrap();
        assert_eq!(st.source, Some(DSource::Measured));
        assert_eq!(st.samples, 10);
        assert_eq!(st.steps_last_24h, 0);

        assert_eq!(
            c.fleet_correct_now(LocalTime::from_nanos(T0 + 100 * S)),
            Err(CorrectRefused::NothingToCorrect)
        );

        // A D kept from an earlier run, 1 ms ahead of UTC: announced again as it was, and an
        // operator's correction takes the measured 1 ms off at one leader instant 30 s ahead.
        let saved = FleetTimescale {
            d_ns: T0 + 1_000_300 - 700 * S,
            at_leader_ns: 700 * S,
            ..ts
        };
        c.restore_fleet_timescale(saved);
        run(&mut c, &mut seq, 100, 200);
        assert_eq!(c.fleet_announcement(), Some(saved));
        let st = c.status().fleet_authority.unwrap();
        assert_eq!(st.source, Some(DSource::Persisted));
        assert_eq!(st.error_ns, Some(-1_000_000));
        let p = c
            .fleet_correct_now(LocalTime::from_nanos(T0 + 200 * S + S / 8))
            .unwrap();
        assert_eq!(p.delta_ns, -1_000_000);
        assert_eq!(p.epoch, 2);
        assert_eq!(p.at_leader_ns, 930 * S + S / 8);
        assert_eq!(c.fleet_announcement().unwrap().pending, Some(p));
    }

    /// A better leader appears on another timescale (its uptime 50 s when ours read T0 + 100 s):
    /// D for it comes from the master's own clock at its first Sync, under the next epoch, so
    /// the clock a node holds at `leader time + D` is the one it held before.
    #[test]
    fn a_new_leader_gets_d_from_the_masters_clock_under_the_next_epoch() {
        let cfg = ControllerConfig {
            authority: Some(AuthorityConfig::default()),
            ..ControllerConfig::default()
        };
        let mut c = started(cfg);
        let mut seq = 0u16;
        run(&mut c, &mut seq, 0, 100);
        let before = c.fleet_announcement().unwrap();
        assert_eq!(before.epoch, 1);
        let other = Uuid([0x00, 0x1d, 0xc1, 0x0d, 0x0e, 0x0f]);
        for q in 0..8 {
            other_leader_sync(&mut c, &mut seq, other, q);
        }
        let after = c.fleet_announcement().unwrap();
        assert_eq!(after.leader.grandmaster, other);
        assert_eq!(after.epoch, 2);
        assert_eq!(after.pending, None);
        assert_eq!(after.d_ns, T0 + 50 * S);
        assert_eq!(
            c.status().fleet_authority.unwrap().source,
            Some(DSource::OwnClock)
        );
    }

    /// With path-delay measurement on, a new leader's D waits for its path: taken at its first
    /// Sync with 0 for the path (the old leader's is forgotten), it was off by all of it, and
    /// the whole fleet slewed milliseconds after a failover. A leader that never answers is
    /// found out after a few requests, and D is then taken without the path.
    #[test]
    fn a_new_leaders_d_waits_for_its_path_delay() {
        let cfg = ControllerConfig {
            authority: Some(AuthorityConfig::default()),
            path_delay: Some(crate::path_delay::PathDelayConfig {
                interval_s: 1.0,
                ..Default::default()
            }),
            ..ControllerConfig::default()
        };
        let mut c = started(cfg);
        let mut seq = 0u16;
        run(&mut c, &mut seq, 0, 100);
        let before = c.fleet_announcement().unwrap();
        let other = Uuid([0x00, 0x1d, 0xc1, 0x0d, 0x0e, 0x0f]);
        let mut quarters = 0;
        while c.fleet_announcement() == Some(before) && quarters < 60 * 4 {
            other_leader_sync(&mut c, &mut seq, other, quarters);
            quarters += 1;
        }
        let after = c.fleet_announcement().unwrap();
        assert_eq!(after.leader.grandmaster, other);
        assert_eq!(
            c.status().path_delay.state,
            crate::path_delay::PathDelayState::Unanswered
        );
        // Three requests a second or more apart, each waited for a second: not before 3 s.
        assert!(quarters >= 12, "D taken after {quarters} Syncs");
        assert_eq!(after.d_ns, T0 + 50 * S);
    }

    /// The authority running fleet mode takes its own announcement as the one it locks to:
    /// tracking, with its D and epoch, and never aged out while it keeps announcing.
    #[test]
    fn the_authority_in_fleet_mode_locks_to_its_own_announcement() {
        let cfg = ControllerConfig {
            authority: Some(AuthorityConfig {
                policy: UtcPolicy::None,
                quantum_ns: 0,
                ..AuthorityConfig::default()
            }),
            sync_mode: crate::fleet::SyncMode::Fleet,
            ..ControllerConfig::default()
        };
        let mut c = started(cfg);
        let mut seq = 0u16;
        run(&mut c, &mut seq, 0, 100);
        let ts = c.fleet_announcement().expect("D announced");
        let st = c.status();
        assert_eq!(st.fleet.state, crate::controller::FleetState::Tracking);
        assert_eq!(st.fleet.d_ns, Some(ts.d_at(700 * S + 100 * S - S / 4)));
        assert_eq!(st.fleet.epoch, Some(1));
        assert!(st.fleet.d_age_s.is_some_and(|a| a < 1.0), "{:?}", st.fleet);
        // Classic mode on the same authority: it announces, but does not lock to itself.
        let cfg = ControllerConfig {
            authority: Some(AuthorityConfig::default()),
            ..ControllerConfig::default()
        };
        let mut c = started(cfg);
        let mut seq = 0u16;
        run(&mut c, &mut seq, 0, 100);
        assert!(c.fleet_announcement().is_some());
        assert_eq!(c.status().fleet.state, crate::controller::FleetState::Off);
        assert_eq!(c.status().fleet.d_ns, None);
    }
}
