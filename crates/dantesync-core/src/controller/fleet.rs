//! Fleet mode in the controller: the phase error of each Sync against `T1 + D(T1) + path
//! delay`, the phase loop's frequency on top of the rate servo's, the one start-up step, the
//! operator's scheduled corrections stepped at their leader instant, and the hold and
//! fallback when announcements stop or the leader changes.
//!
//! A leader's frequency step is seen first by the ramp detector ([`crate::fleet::ramp`]) in
//! the phase residuals: the controller then moves the frequency by the detected ramp at once
//! (a bridge: the rate frozen at the estimate before the step plus the detected change, until
//! the estimator reports its kink and its own estimate takes over), and slews the phase
//! already accumulated back within half the slew limit (a recovery plan the phase loop sees
//! through, so the two do not both remove it).
//!
//! The phase loop's frequency is one more term of the total the books integrate, so the rate
//! estimator still sees through it (exactly as through an NTP slew) and goes on estimating the
//! oscillator's natural rate: the two loops do not fight. The design and its numbers are in
//! docs/servo.md ("Fleet mode").

use super::{Action, Controller, Notice};
use crate::fleet::{
    FleetTimescale, PendingCorrection, PhaseLoop, PhaseVerdict, RampDetector, SyncMode,
};
use crate::time::{secs_to_nanos, LocalTime, Moment};

#[path = "fleet_ramp.rs"]
mod ramp_response;
use ramp_response::{Bridge, Recovery};

/// Samples whose median decides the start-up step (a spike must not decide it).
const STARTUP_SAMPLES: usize = 8;

/// Where a fleet-mode node stands (status `fleet_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FleetState {
    /// `sync_mode` is classic.
    #[default]
    Off,
    /// Fleet mode, no announcement of D yet: classic behaviour meanwhile (NTP sets the time).
    Waiting,
    /// Phase-locked to the leader + D + path delay; NTP is measured, not applied.
    Tracking,
    /// The leader changed and no announcement for the new one came yet: the frequency is held,
    /// no phase correction, no step.
    Holding,
    /// No announcement for `fleet.hold_s`: classic behaviour until one comes.
    Fallback,
}

impl FleetState {
    pub const ALL: [FleetState; 5] = [
        FleetState::Off,
        FleetState::Waiting,
        FleetState::Tracking,
        FleetState::Holding,
        FleetState::Fallback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FleetState::Off => "off",
            FleetState::Waiting => "waiting",
            FleetState::Tracking => "tracking",
            FleetState::Holding => "holding",
            FleetState::Fallback => "fallback",
        }
    }

    /// Whether the fleet owns the clock's time (NTP corrections are not applied).
    pub fn owns_time(self) -> bool {
        matches!(self, FleetState::Tracking | FleetState::Holding)
    }
}

/// Fleet mode in the status snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FleetStatus {
    pub state: FleetState,
    /// Filtered phase error to leader + D + path delay (ns, positive = ahead).
    pub phase_error_ns: Option<f64>,
    /// D now (at the last Sync's leader time), ns.
    pub d_ns: Option<i64>,
    pub epoch: Option<u32>,
    /// Seconds since the last announcement was received (step-free local axis).
    pub d_age_s: Option<f64>,
    /// What fleet mode adds to the rate servo's frequency (ppm): the phase loop's term, D's
    /// rate, and the gap between the rate estimate and the policy's frequency.
    pub added_ppm: f64,
    /// Whether the phase error includes a measured path delay (0 is used while unknown).
    pub path_delay_used: bool,
    /// Steps made in fleet mode (the start-up one and scheduled corrections).
    pub steps: u64,
    /// Announcements ignored because they named another leader than the one followed.
    pub ignored_other_leader: u64,
    /// Phase samples dropped as outliers.
    pub phase_outliers: u64,
    /// Ramps of the phase error detected (a leader's frequency step seen before the rate
    /// estimator's kink).
    pub ramp_detections: u64,
}

#[derive(Debug)]
pub(super) struct Fleet {
    phase: PhaseLoop,
    ramp: RampDetector,
    bridge: Option<Bridge>,
    recovery: Option<Recovery>,
    /// The estimator's kinks already accounted for.
    kinks_seen: u64,
    ts: Option<FleetTimescale>,
    received_sf: Option<i64>,
    /// The first fleet lock happened (the start-up step, if any, is behind).
    locked_once: bool,
    startup: Vec<i64>,
    /// The leader instant of the last scheduled correction stepped, and when it is due (sf).
    stepped_at_leader: Option<i64>,
    due_sf: Option<i64>,
    /// The correction `due_sf` is for: still due when the announcement that commits it (its
    /// epoch, nothing pending) arrives before this node's own instant, as on the authority,
    /// which commits at its Sync of the instant, before its own node side handles that Sync.
    planned: Option<PendingCorrection>,
    /// The frequency on top of the rate servo's, as applied (ppm).
    pub(super) ppm: f64,
    last_d: Option<i64>,
    path_delay_used: bool,
    steps: u64,
    ignored: u64,
    state: FleetState,
    /// External steps already accounted for: one more means someone else moved the clock.
    external_seen: u64,
}

impl Fleet {
    pub(super) fn new(cfg: &super::ControllerConfig) -> Self {
        Self {
            phase: PhaseLoop::new(cfg.fleet.clone()),
            ramp: RampDetector::new(),
            bridge: None,
            recovery: None,
            kinks_seen: 0,
            ts: None,
            received_sf: None,
            locked_once: false,
            startup: Vec::new(),
            stepped_at_leader: None,
            due_sf: None,
            planned: None,
            ppm: 0.0,
            last_d: None,
            path_delay_used: false,
            steps: 0,
            ignored: 0,
            external_seen: 0,
            state: if cfg.sync_mode == SyncMode::Fleet {
                FleetState::Waiting
            } else {
                FleetState::Off
            },
        }
    }

    fn feed_forward_ppm(&self) -> f64 {
        self.ts.map_or(0.0, |t| t.rate_ppb as f64 * 1e-3)
    }

    /// Forgets the phase and what the ramp detector had seen; a bridge and a recovery end
    /// (the phase they were about is gone).
    fn restart_phase(&mut self) {
        self.phase.restart_phase();
        self.ramp.restart();
        self.bridge = None;
        self.recovery = None;
    }
}

impl Controller {
    /// An announcement of the fleet's timescale arrived at `now`. One naming another leader
    /// than the one followed is ignored (counted); before any leader is heard it is kept.
    pub fn set_fleet_timescale(
        &mut self,
        ts: FleetTimescale,
        now: impl Into<Moment>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        self.advance(sf, &mut out);
        if self.cfg.sync_mode == SyncMode::Fleet && !self.hold_timescale(ts, sf, true) {
            self.fleet.ignored += 1;
        }
        self.evaluate(sf, &mut out);
        out
    }

    /// On the fleet's authority running fleet mode itself: its own announcement is the one it
    /// locks to, as if heard from itself, refreshed at every update so that it never ages out.
    pub(super) fn fleet_self_feed(&mut self, sf: i64) {
        if self.cfg.sync_mode != SyncMode::Fleet {
            return;
        }
        if let Some(ts) = self.fleet_announcement() {
            self.hold_timescale(ts, sf, false);
        }
    }

    /// Takes `ts` as the timescale in force, heard at `sf`, unless it names another leader than
    /// the one followed (false). The scheduled step is planned again when `ts` differs from
    /// the one held, or always with `replan`.
    fn hold_timescale(&mut self, ts: FleetTimescale, sf: i64, replan: bool) -> bool {
        if self.source.leader().is_some_and(|(id, _)| id != ts.leader) {
            return false;
        }
        let changed = self.fleet.ts != Some(ts);
        self.fleet.ts = Some(ts);
        self.fleet.received_sf = Some(sf);
        if replan || changed {
            self.plan_scheduled_step(&ts);
        }
        true
    }

    pub(super) fn fleet_status(&self) -> FleetStatus {
        let f = &self.fleet;
        FleetStatus {
            state: f.state,
            phase_error_ns: f.phase.phase_error_ns().filter(|_| f.state.owns_time()),
            d_ns: f.last_d,
            epoch: f.ts.map(|t| t.epoch),
            d_age_s: f
                .received_sf
                .map(|r| (self.last_eval_sf as f64 - r as f64) * 1e-9),
            added_ppm: f.ppm,
            path_delay_used: f.path_delay_used,
            steps: f.steps,
            ignored_other_leader: f.ignored,
            phase_outliers: f.phase.outliers(),
            ramp_detections: f.ramp.detections(),
        }
    }

    /// A floor under the mode's error bound while a detected ramp's frequency is applied and
    /// the estimator has not taken over: the 2 standard errors of the detection deliberately
    /// left out of the correction plus 3 of its uncertainty.
    pub(super) fn fleet_bound_floor_ppm(&self) -> f64 {
        self.fleet.bridge.map_or(0.0, |b| 5.0 * b.sigma_ppm)
    }

    /// The state the announcements and the leader put the node in at `sf`.
    fn fleet_state_at(&self, sf: i64) -> FleetState {
        if self.cfg.sync_mode != SyncMode::Fleet {
            return FleetState::Off;
        }
        let (Some(ts), Some(received)) = (self.fleet.ts, self.fleet.received_sf) else {
            return FleetState::Waiting;
        };
        if sf.saturating_sub(received) > secs_to_nanos(self.cfg.fleet.hold_s) {
            return FleetState::Fallback;
        }
        match self.source.leader() {
            Some((l, _)) if l == ts.leader => FleetState::Tracking,
            Some(_) if self.fleet.locked_once => FleetState::Holding,
            _ => FleetState::Waiting,
        }
    }

    /// Whether NTP corrections of the time are to be left alone (the fleet owns the time).
    pub(super) fn fleet_owns_time(&self) -> bool {
        self.fleet.state.owns_time()
    }

    /// A scheduled correction is due when this node's clock reads the leader instant it
    /// applies at, as the node sees the leader: at + D + path delay + the phase error now.
    fn plan_scheduled_step(&mut self, ts: &FleetTimescale) {
        if ts.pending.is_none() && self.committed_unstepped(ts).is_some() {
            return;
        }
        self.fleet.due_sf = None;
        self.fleet.planned = None;
        let Some(p) = ts.pending.filter(|_| self.cfg.fleet.step_scheduled) else {
            return;
        };
        self.fleet.planned = Some(p);
        if self.fleet.stepped_at_leader == Some(p.at_leader_ns) {
            return;
        }
        let delay = self.path_delay.delay_ns().unwrap_or(0);
        let error = self.fleet.phase.phase_error_ns().unwrap_or(0.0).round() as i64;
        let local = p
            .at_leader_ns
            .saturating_add(ts.d_at(p.at_leader_ns.saturating_sub(1)))
            .saturating_add(delay)
            .saturating_add(error);
        self.fleet.due_sf = Some(self.sf(LocalTime::from_nanos(local)));
    }

    /// The fleet's deadline for the timer: a scheduled step, or the end of the hold.
    pub(super) fn fleet_deadline(&self) -> Option<i64> {
        if self.cfg.sync_mode != SyncMode::Fleet {
            return None;
        }
        let hold = self
            .fleet
            .received_sf
            .filter(|_| self.fleet.state != FleetState::Fallback)
            .map(|r| r.saturating_add(secs_to_nanos(self.cfg.fleet.hold_s) + 1));
        [self.fleet.due_sf, hold].into_iter().flatten().min()
    }

    /// Time-driven fleet state at `sf`: a scheduled step that is due, and the state (leaving
    /// the fleet's frequency when it no longer owns the time, holding it on a leader change).
    pub(super) fn fleet_advance(&mut self, sf: i64, out: &mut Vec<Action>) {
        if self.cfg.sync_mode != SyncMode::Fleet {
            return;
        }
        if self.fleet.due_sf.is_some_and(|due| sf >= due) {
            self.scheduled_step(out);
        }
        let before = self.fleet.state;
        let after = self.fleet_state_at(sf);
        if before == after {
            return;
        }
        self.fleet.state = after;
        let ppm = match after {
            FleetState::Tracking => {
                // The time is the fleet's from now: an NTP slew in progress stops.
                if self.slew.is_some() {
                    self.rebase(sf);
                    self.slew = None;
                }
                self.fleet.ppm
            }
            FleetState::Holding => {
                self.fleet.restart_phase();
                self.fleet.feed_forward_ppm() + self.fleet.phase.integral_ppm()
            }
            FleetState::Off | FleetState::Waiting | FleetState::Fallback => {
                self.fleet.phase.reset();
                self.fleet.restart_phase();
                if self.gate.is_some() && !self.ntp_in_flight {
                    self.next_ntp_sf = self.next_ntp_sf.min(sf);
                }
                0.0
            }
        };
        self.set_fleet_ppm(sf, ppm, out);
    }

    fn set_fleet_ppm(&mut self, sf: i64, ppm: f64, out: &mut Vec<Action>) {
        // The total stays within the clock's range: a wild rate estimate (a host clock slewed
        // under a simulated one, a leader's timescale jumping) must not ask for more.
        let room = self.cfg.max_frequency_ppm;
        let others = self.total_ppm() - self.fleet.ppm;
        let ppm = (others + ppm).clamp(-room, room) - others;
        if ppm != self.fleet.ppm {
            self.rebase(sf);
            self.fleet.ppm = ppm;
            out.push(Action::SetFrequency {
                ppm: self.total_ppm(),
            });
        }
    }

    fn fleet_step(&mut self, nanos: i64, scheduled: bool, out: &mut Vec<Action>) {
        self.steps_total = self.steps_total.saturating_add(nanos);
        self.fleet.steps += 1;
        out.push(Action::Step { nanos });
        out.push(Action::Notice(Notice::FleetStep { nanos, scheduled }));
    }

    /// The planned correction that `ts` has already committed (its epoch, nothing pending)
    /// and this node has not stepped yet.
    fn committed_unstepped(&self, ts: &FleetTimescale) -> Option<PendingCorrection> {
        self.fleet.planned.filter(|p| {
            ts.pending.is_none()
                && p.epoch == ts.epoch
                && self.fleet.stepped_at_leader != Some(p.at_leader_ns)
        })
    }

    /// The correction due at its leader instant: the announced one, or the one planned and
    /// committed since.
    fn due_correction(&self, ts: &FleetTimescale) -> Option<PendingCorrection> {
        ts.pending
            .or_else(|| self.committed_unstepped(ts))
            .filter(|_| self.cfg.fleet.step_scheduled)
    }

    fn scheduled_step(&mut self, out: &mut Vec<Action>) {
        self.fleet.due_sf = None;
        let Some(p) = self.fleet.ts.and_then(|t| self.due_correction(&t)) else {
            return;
        };
        if self.fleet.stepped_at_leader != Some(p.at_leader_ns) {
            self.fleet.stepped_at_leader = Some(p.at_leader_ns);
            self.fleet_step(p.delta_ns, true, out);
        }
    }

    /// One Sync (`t1_ns` on the leader's timescale) received at `rx_sf`: its phase error, the
    /// start-up step, and the phase loop's frequency. `slope_ppm` is the rate estimate: fleet
    /// mode applies it at once (the gap between it and the policy's gentler frequency is part
    /// of what fleet mode adds), so a leader's frequency step is followed as soon as the
    /// estimator has seen it, not at the pace of PROD's small corrections.
    pub(super) fn fleet_sample(
        &mut self,
        rx_sf: i64,
        t1_ns: i128,
        slope_ppm: f64,
        out: &mut Vec<Action>,
    ) {
        self.fleet_advance(rx_sf, out);
        if self.fleet.state != FleetState::Tracking {
            return;
        }
        let Some(ts) = self.fleet.ts else {
            return;
        };
        if self.external_steps != self.fleet.external_seen {
            // Someone else stepped the clock (an admin, a VM resume): its phase is not ours any
            // more, and slewing back a step of seconds at a few ppm would take days. Acquire
            // again, with the start-up step if the error is beyond its threshold.
            self.fleet.external_seen = self.external_steps;
            self.fleet.locked_once = false;
            self.fleet.startup.clear();
            self.fleet.restart_phase();
        }
        let t1 = t1_ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if let Some(p) = self.due_correction(&ts) {
            // The Sync of the instant itself may come before the timer: step first.
            if t1 >= p.at_leader_ns && self.fleet.stepped_at_leader != Some(p.at_leader_ns) {
                self.scheduled_step(out);
            }
        }
        let d = ts.d_at(t1);
        self.fleet.last_d = Some(d);
        let delay = self.path_delay.delay_ns();
        self.fleet.path_delay_used = delay.is_some();
        let local = i128::from(self.local(rx_sf).nanos());
        let error = local - t1_ns - i128::from(d) - i128::from(delay.unwrap_or(0));
        let error = error.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if self.path_delay_settling() {
            // The phase waits for the path delay (a few seconds after a leader is chosen:
            // Measuring ends with the first answers, or as Unanswered after a few requests),
            // the frequency holding: with 0 for it, the start-up step would leave the node one
            // path delay early (milliseconds behind a busy switch), and after a leader change
            // the loop would slew that in, each node at its own moment.
            return;
        }
        if !self.fleet.locked_once {
            self.fleet.startup.push(error);
            if self.fleet.startup.len() < STARTUP_SAMPLES {
                return;
            }
            let mut s = std::mem::take(&mut self.fleet.startup);
            s.sort_unstable();
            let median = s[s.len() / 2];
            self.fleet.locked_once = true;
            if median.unsigned_abs() as f64 > self.cfg.fleet.step_threshold_us * 1e3 {
                self.fleet_step(-median, false, out);
                self.fleet.restart_phase();
                return;
            }
        }
        let c = self.estimator.counters();
        let changes = c.kinks + c.restarts;
        if changes != self.fleet.kinks_seen {
            // The estimator saw the rate change (a kink, or a restart on a large one): its
            // estimate takes over from a bridge once it is the better of the two; without a
            // bridge the rate moves at once, so what the detector had seen is history.
            self.fleet.kinks_seen = changes;
            match self.fleet.bridge.as_mut() {
                Some(b) => b.confirmed = true,
                None => self.fleet.ramp.restart(),
            }
        }
        let est_sigma = self.rate().map_or(f64::INFINITY, |r| r.sigma_ppm);
        if self
            .fleet
            .bridge
            .is_some_and(|b| (b.confirmed && est_sigma <= b.sigma_ppm) || rx_sf >= b.until_sf)
        {
            self.fleet.bridge = None;
            self.fleet.ramp.restart();
        }
        let plan_ppm = self.fleet.recovery_ppm(rx_sf);
        let remaining = self.fleet.recovery.map_or(0.0, |r| r.remaining_ns);
        // What the phase loop and the detector see: the error once the recovery is done.
        let residual = error as f64 - remaining;
        let mut ppm = match self.fleet.phase.sample(rx_sf, residual) {
            PhaseVerdict::Frequency(ppm) => ppm,
            PhaseVerdict::Outlier => return,
        };
        let noise = self.fleet.phase.noise_ns();
        if self.fleet.phase.jumped() {
            self.fleet.ramp.restart();
        } else if let Some(r) = self.fleet.ramp.sample(
            rx_sf,
            residual,
            noise,
            self.fleet
                .phase
                .phase_error_ns()
                .is_some_and(|e| e.abs() <= noise),
        ) {
            out.push(Action::Notice(Notice::LeaderFrequencyStep {
                rate_ppm: r.rate_ppm,
                sigma_ppm: r.sigma_ppm,
                applied_ppm: -r.sure_rate_ppm(),
                phase_ns: r.phase_ns,
            }));
            self.fleet.on_ramp(rx_sf, r, slope_ppm, remaining);
            ppm = self.fleet.phase.integral_ppm();
        }
        let plan_ppm = if self.fleet.recovery.is_some() {
            self.fleet.recovery_ppm(rx_sf)
        } else {
            plan_ppm
        };
        if self
            .fleet
            .phase
            .phase_error_ns()
            .is_some_and(|e| e.abs() <= self.cfg.fleet.step_threshold_us * 1e3)
        {
            // The time is the fleet's and within the step threshold of it: as good as an NTP
            // check that found the clock right (what the built-in server's leap indicator and
            // root dispersion rest on).
            self.confirmed_sf = Some(rx_sf);
        }
        let rate_gap = match self.fleet.bridge {
            Some(b) => -b.slope0_ppm + b.ppm - self.servo_ppm,
            None => -slope_ppm - self.servo_ppm,
        };
        let total = self.fleet.feed_forward_ppm() + rate_gap + ppm + plan_ppm;
        self.set_fleet_ppm(rx_sf, total, out);
    }
}
