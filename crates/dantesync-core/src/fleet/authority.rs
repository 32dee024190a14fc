//! The NTP master's side of fleet mode: it measures D, decides how D follows UTC and announces
//! the result as a [`FleetTimescale`].
//!
//! At every NTP measurement the master knows its clock's offset to UTC, and from the Syncs it
//! knows the leader's time at that same local instant; with its path delay to the leader,
//! `D = (local + ntp_offset) − (leader time + path delay)` ([`d_sample`]). The samples go
//! through a robust line over minutes ([`DFilter`]), and the [`UtcPolicy`] decides what of
//! the measured D reaches the announcement: a bounded rate (`slew`), one quantised daily
//! correction announced ahead (`scheduled`), or nothing after the first value (`none`).
//!
//! What is announced must not jump for any reason but an announced correction:
//! - a restart keeps the persisted announcement when the leader is the same and its timescale
//!   has not gone backwards (a rebooted leader starts its uptime again);
//! - a new leader (or a persisted D for another one) gets its D from the master's own clock at
//!   the new leader's first Sync, `local − (T1 + path delay)`, under the next epoch: the
//!   master's clock has not moved, so neither does any node's. Until the new path delay is
//!   measured the previous one (or none) is used; the difference is tens of µs at most and
//!   the policy works it off like any other error of D.
//!
//! Inputs carry their time ([`AuthorityNow`]): the step-free local time for windows and
//! counters, the master's clock (held to UTC by its own NTP corrections) for the daily
//! schedule, and the leader's time for the announcement.

use std::collections::VecDeque;

use super::d_filter::DFilter;
use super::policy::{next_daily, quantize, AuthorityConfig, UtcPolicy, DAY_NS};
use super::timescale::{FleetTimescale, PendingCorrection};
use crate::source::LeaderId;

/// One D measurement: `(local + ntp_offset) − (leader time at that local instant + path
/// delay)`, all in ns; `leader_ns` is read off the Sync line without the path delay.
pub fn d_sample(local_ns: i64, ntp_offset_ns: i64, leader_ns: i64, path_delay_ns: i64) -> i64 {
    local_ns
        .saturating_add(ntp_offset_ns)
        .saturating_sub(leader_ns.saturating_add(path_delay_ns))
}

/// The times an input happens at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityNow {
    /// Step-free local time (ns).
    pub sf: i64,
    /// The master's clock, i.e. UTC as far as it knows (ns since the Unix epoch).
    pub utc_ns: i64,
    /// The leader's time (ns on its timescale, path delay included).
    pub leader_ns: i64,
}

/// Where the announced D came from, for the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DSource {
    /// Filtered NTP measurements.
    Measured,
    /// The state file of an earlier run.
    Persisted,
    /// The master's own clock at a new leader's first Sync.
    OwnClock,
}

impl DSource {
    pub fn name(self) -> &'static str {
        match self {
            DSource::Measured => "measured",
            DSource::Persisted => "persisted",
            DSource::OwnClock => "own-clock",
        }
    }
}

/// Why an operator's "correct now" was not scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrectRefused {
    /// No D announced yet.
    NoTimescale,
    /// Not enough NTP measurements in the window to know UTC.
    NoEstimate,
    /// A correction is already pending.
    Pending,
    /// D already agrees with UTC to the nanosecond.
    NothingToCorrect,
}

impl CorrectRefused {
    pub fn describe(self) -> &'static str {
        match self {
            CorrectRefused::NoTimescale => "no D announced yet",
            CorrectRefused::NoEstimate => "not enough NTP measurements of D yet",
            CorrectRefused::Pending => "a correction is already pending",
            CorrectRefused::NothingToCorrect => "D already agrees with UTC",
        }
    }
}

/// What the status surfaces show of the authority.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuthorityStatus {
    pub policy: UtcPolicy,
    pub timescale: Option<FleetTimescale>,
    pub source: Option<DSource>,
    /// Seconds since D was last measured.
    pub age_s: Option<f64>,
    /// Measured minus announced D at the last measurement (ns).
    pub error_ns: Option<i64>,
    /// D's filtered rate (ppb): the leader's frequency against UTC.
    pub measured_rate_ppb: Option<i64>,
    pub samples: usize,
    pub steps_last_24h: u32,
    pub next_correction: Option<PendingCorrection>,
    /// More corrections in 24 h than the configuration thinks healthy.
    pub too_often: bool,
    /// `scheduled`: the next daily instant (UTC ns) a correction may apply at, as of the last
    /// input; it is announced `lead_s` before.
    pub next_scheduled_utc_ns: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Authority {
    cfg: AuthorityConfig,
    filter: DFilter,
    leader: Option<LeaderId>,
    current: Option<FleetTimescale>,
    source: Option<DSource>,
    /// A persisted announcement not yet matched against the leader heard.
    persisted: Option<FleetTimescale>,
    /// A new leader: D from the master's own clock at its first Sync.
    own_clock_due: bool,
    last_sample_sf: Option<i64>,
    last_error_ns: Option<i64>,
    /// The daily instant (UTC ns) already handled.
    daily_done: Option<i64>,
    /// Step-free times of the corrections applied within 24 h.
    steps: VecDeque<i64>,
    /// UTC as of the last input that carried it.
    last_utc_ns: Option<i64>,
}

impl Authority {
    /// An authority that announces `persisted` again if it still holds for the leader heard.
    pub fn new(cfg: AuthorityConfig, persisted: Option<FleetTimescale>) -> Self {
        Self {
            filter: DFilter::new(cfg.window_s, cfg.min_samples),
            cfg,
            leader: None,
            current: None,
            source: None,
            persisted,
            own_clock_due: false,
            last_sample_sf: None,
            last_error_ns: None,
            daily_done: None,
            steps: VecDeque::new(),
            last_utc_ns: None,
        }
    }

    pub fn config(&self) -> &AuthorityConfig {
        &self.cfg
    }

    /// The leader whose Syncs are heard.
    pub fn leader(&self) -> Option<LeaderId> {
        self.leader
    }

    /// What is announced now (and what the host persists when it changes).
    pub fn timescale(&self) -> Option<FleetTimescale> {
        self.current
    }

    /// The leader heard changed: the measurements so far were against another timescale.
    pub fn leader_changed(&mut self, leader: LeaderId) {
        self.leader = Some(leader);
        self.filter.clear();
        self.last_error_ns = None;
        self.own_clock_due = self.current.is_some_and(|c| c.leader != leader);
    }

    /// A Sync of the leader: the master's clock read `local_ns` when the leader's time was
    /// `now.leader_ns`. Takes up a persisted D, or a new leader's D from the master's clock,
    /// the latter only with `path_known` (the leader's time then includes the path delay, or
    /// there is none to know). Returns whether the announcement changed.
    pub fn leader_sync(&mut self, now: AuthorityNow, local_ns: i64, path_known: bool) -> bool {
        let Some(leader) = self.leader else {
            return false;
        };
        let mut changed = false;
        if let Some(p) = self.persisted.take() {
            if p.leader == leader && now.leader_ns >= p.at_leader_ns {
                self.current = Some(p);
                self.source = Some(DSource::Persisted);
                self.update(now);
                return true;
            }
            // Another leader, or the same one rebooted: a new timescale under the next epoch.
            self.current = Some(FleetTimescale { leader, ..p });
            self.own_clock_due = true;
        }
        if self.own_clock_due && path_known {
            let epoch = self.current.map_or(1, |c| c.epoch.wrapping_add(1));
            self.current = Some(FleetTimescale {
                leader,
                epoch,
                d_ns: local_ns.saturating_sub(now.leader_ns),
                at_leader_ns: now.leader_ns,
                rate_ppb: 0,
                pending: None,
            });
            self.source = Some(DSource::OwnClock);
            self.own_clock_due = false;
            self.daily_done = None;
            changed = true;
        }
        self.update(now) || changed
    }

    /// One NTP measurement of D at `now`. Returns whether the announcement changed.
    pub fn ntp_sample(&mut self, now: AuthorityNow, d_ns: i64) -> bool {
        let Some(leader) = self.leader else {
            return false;
        };
        self.filter.push(now.sf, now.leader_ns, d_ns);
        self.last_utc_ns = Some(now.utc_ns);
        self.last_sample_sf = Some(now.sf);
        let Some(est) = self.filter.estimate() else {
            return false;
        };
        let Some(mut cur) = self.current else {
            if self.persisted.is_some() || self.own_clock_due {
                return false;
            }
            self.current = Some(FleetTimescale {
                leader,
                epoch: 1,
                d_ns: est.d_at(now.leader_ns),
                at_leader_ns: now.leader_ns,
                rate_ppb: 0,
                pending: None,
            });
            self.source = Some(DSource::Measured);
            return true;
        };
        let error = est
            .d_at(now.leader_ns)
            .saturating_sub(cur.d_at(now.leader_ns));
        self.last_error_ns = Some(error);
        if self.cfg.policy == UtcPolicy::None {
            return false;
        }
        if cur.pending.is_none() && error.saturating_abs() > self.cfg.emergency_limit_ns {
            let at = now.leader_ns.saturating_add(self.lead_ns());
            let delta = est.d_at(at).saturating_sub(cur.d_at(at));
            self.schedule(at, self.rounded(delta));
            return true;
        }
        if self.cfg.policy == UtcPolicy::Slew && cur.pending.is_none() {
            let tau = self.cfg.slew_time_constant_s.max(1.0);
            let max = self.cfg.slew_max_ppb.abs();
            let rate = (est.rate_ppb as f64 + error as f64 / tau).round() as i64;
            let rate = rate.clamp(-max, max);
            if rate != cur.rate_ppb {
                cur.d_ns = cur.d_at(now.leader_ns);
                cur.at_leader_ns = now.leader_ns;
                cur.rate_ppb = rate;
                self.current = Some(cur);
                self.source = Some(DSource::Measured);
                return true;
            }
        }
        false
    }

    /// Time passing: applies a pending correction whose instant has come and, under
    /// `scheduled`, announces the daily correction `lead_s` ahead. Returns whether the
    /// announcement changed.
    pub fn update(&mut self, now: AuthorityNow) -> bool {
        self.last_utc_ns = Some(now.utc_ns);
        let day_ago = now.sf.saturating_sub(DAY_NS);
        while self.steps.front().is_some_and(|&t| t < day_ago) {
            self.steps.pop_front();
        }
        let Some(mut cur) = self.current else {
            return false;
        };
        if let Some(p) = cur.pending.filter(|p| now.leader_ns >= p.at_leader_ns) {
            cur.d_ns = cur.d_at(p.at_leader_ns);
            cur.at_leader_ns = p.at_leader_ns;
            cur.epoch = p.epoch;
            cur.pending = None;
            self.current = Some(cur);
            self.steps.push_back(now.sf);
            return true;
        }
        if self.cfg.policy != UtcPolicy::Scheduled || cur.pending.is_some() {
            return false;
        }
        let instant = next_daily(now.utc_ns, self.cfg.daily_utc_s);
        let ahead = instant.saturating_sub(now.utc_ns);
        if ahead > self.lead_ns() || self.daily_done == Some(instant) {
            return false;
        }
        self.daily_done = Some(instant);
        let Some(est) = self.filter.estimate() else {
            return false;
        };
        let at = now.leader_ns.saturating_add(ahead);
        let delta = quantize(
            est.d_at(at).saturating_sub(cur.d_at(at)),
            self.cfg.quantum_ns,
        );
        if delta == 0 {
            return false;
        }
        self.schedule(at, delta);
        true
    }

    /// An operator's request for a correction now: D set to the measured UTC, rounded to the
    /// quantum (exact when that rounds to nothing), announced `lead_s` ahead like any other.
    pub fn correct_now(&mut self, now: AuthorityNow) -> Result<PendingCorrection, CorrectRefused> {
        let cur = self.current.ok_or(CorrectRefused::NoTimescale)?;
        if cur.pending.is_some() {
            return Err(CorrectRefused::Pending);
        }
        let est = self.filter.estimate().ok_or(CorrectRefused::NoEstimate)?;
        let at = now.leader_ns.saturating_add(self.lead_ns());
        let delta = self.rounded(est.d_at(at).saturating_sub(cur.d_at(at)));
        if delta == 0 {
            return Err(CorrectRefused::NothingToCorrect);
        }
        Ok(self.schedule(at, delta))
    }

    pub fn status(&self, sf: i64) -> AuthorityStatus {
        let steps = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
        let est = self.filter.estimate();
        AuthorityStatus {
            policy: self.cfg.policy,
            timescale: self.current,
            source: self.source,
            age_s: self.last_sample_sf.map(|t| (sf as f64 - t as f64) * 1e-9),
            error_ns: self.last_error_ns,
            measured_rate_ppb: est.map(|e| e.rate_ppb),
            samples: self.filter.len(),
            steps_last_24h: steps,
            next_correction: self.current.and_then(|c| c.pending),
            too_often: steps > self.cfg.warn_steps_per_24h,
            next_scheduled_utc_ns: self
                .last_utc_ns
                .filter(|_| self.cfg.policy == UtcPolicy::Scheduled)
                .map(|utc| next_daily(utc, self.cfg.daily_utc_s)),
        }
    }

    fn lead_ns(&self) -> i64 {
        (self.cfg.lead_s.max(0.0) * 1e9) as i64
    }

    /// Quantised, unless that would lose the whole correction.
    fn rounded(&self, delta_ns: i64) -> i64 {
        match quantize(delta_ns, self.cfg.quantum_ns) {
            0 => delta_ns,
            q => q,
        }
    }

    fn schedule(&mut self, at_leader_ns: i64, delta_ns: i64) -> PendingCorrection {
        let mut cur = self.current.expect("scheduled against an announcement");
        let p = PendingCorrection {
            at_leader_ns,
            delta_ns,
            epoch: cur.epoch.wrapping_add(1),
        };
        cur.pending = Some(p);
        self.current = Some(cur);
        p
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
