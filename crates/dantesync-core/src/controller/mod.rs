//! The controller: events in, actions out.
//!
//! The host hands it PTP datagrams with their receive times, NTP results and timer ticks, all
//! stamped with the local clock; it answers with [`Action`]s that the host carries out in order
//! before the next event. It keeps the books the servo needs to see through its own hands:
//! every frequency it applied (integrated over time) and every step it made are removed from
//! the PTP offsets before they reach the estimator, and all its own timekeeping runs on a
//! step-free axis (local time minus the steps it made).

pub mod actions;
pub mod execute;
pub mod mode_select;
pub mod ntp_gate;
pub mod status;

pub use actions::{Action, Notice};
pub use execute::{execute, ClockControl, Executed, Task};
pub use mode_select::{ModeInputs, ModeSelector, ModeThresholds};
pub use ntp_gate::{GateDecision, Method, NtpGate, NtpGateConfig};
pub use status::{HostStatus, LeaderStatus, NtpStatus, RxTimestamping, Status};

use crate::mode::Mode;
use crate::ntp_client::NtpSourceStatus;
use crate::servo::policy::Observed;
use crate::servo::{EstimatorConfig, FrequencyPolicy, PolicyConfig, RateEstimator, Verdict};
use crate::source::{PtpConfig, PtpSource, SourceEvent};
use crate::time::{secs_to_nanos, LocalTime};
use crate::wire::ptpv1::Uuid;

/// Everything the controller can be tuned by.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerConfig {
    pub ptp: PtpConfig,
    pub estimator: EstimatorConfig,
    pub policy: PolicyConfig,
    pub modes: ModeThresholds,
    /// The clock's frequency range (±ppm); Linux's ADJ_FREQUENCY allows 500.
    pub max_frequency_ppm: f64,
    /// NTP time correction; None runs PTP only.
    pub ntp: Option<NtpGateConfig>,
    /// How far a learned frequency may have moved while the node was stopped (ppm, one σ):
    /// temperature and ageing between runs. Added to the saved uncertainty.
    pub learned_floor_ppm: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            ptp: PtpConfig::default(),
            estimator: EstimatorConfig::default(),
            policy: PolicyConfig::default(),
            modes: ModeThresholds::default(),
            max_frequency_ppm: 500.0,
            ntp: Some(NtpGateConfig::default()),
            learned_floor_ppm: 1.0,
        }
    }
}

/// One completed NTP check, as the NTP client measured it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NtpMeasurement {
    /// Server time minus local time (positive = the local clock is behind), ns.
    pub offset_ns: i64,
    /// Round-trip delay, ns.
    pub delay_ns: i64,
}

/// What a saved frequency says about the oscillator before any sample: its natural rate
/// against the leader it was learned from, and how sure that is.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LearnedPrior {
    rate_ppm: f64,
    sigma_ppm: f64,
    leader: Option<Uuid>,
}

/// The rate as the controller uses it: the estimator's, combined with a learned prior while
/// one applies.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rate {
    slope_ppm: f64,
    sigma_ppm: f64,
}

#[derive(Clone, Copy, Debug)]
struct Slew {
    ppm: f64,
    end_sf: i64,
}

/// How long an NTP confirmation keeps the node's time counted as synchronised (s).
const SYNC_VALID_S: f64 = 600.0;

/// A check the host has not reported after this long (s) counts as failed. A check is a
/// burst of a few requests with sub-second timeouts, so this is generous.
const NTP_CHECK_TIMEOUT_S: f64 = 10.0;

/// The NTP check interval for an accumulated phase error, per the architecture: the more
/// phase may have been lost, the sooner the next check.
pub fn ntp_interval_s(mode: Mode, accumulated_phase_us: f64) -> f64 {
    let acc = accumulated_phase_us.abs();
    if matches!(mode, Mode::Init | Mode::Acq) || acc > 50.0 {
        10.0
    } else if acc > 20.0 {
        15.0
    } else {
        30.0
    }
}

#[derive(Debug)]
pub struct Controller {
    cfg: ControllerConfig,
    source: PtpSource,
    estimator: RateEstimator,
    policy: FrequencyPolicy,
    modes: ModeSelector,
    gate: Option<NtpGate>,
    start_sf: i64,
    steps_total: i64,
    servo_ppm: f64,
    slew: Option<Slew>,
    /// Integral of the applied frequency up to `integral_at_sf`, ns.
    integral_ns: f64,
    integral_at_sf: i64,
    last_sample_sf: Option<i64>,
    last_offset_ns: Option<i128>,
    last_eval_sf: i64,
    accumulated_phase_us: f64,
    ntp_in_flight: bool,
    next_ntp_sf: i64,
    ntp_interval_s: f64,
    ntp_failing: bool,
    last_ntp: Option<NtpStatus>,
    ntp_sources: std::sync::Arc<[NtpSourceStatus]>,
    last_correction: Option<LocalTime>,
    timer_sf: Option<i64>,
    kinks_reported: u64,
    prior: Option<LearnedPrior>,
    /// When two NTP checks last agreed on the offset (whether or not a correction followed).
    confirmed_sf: Option<i64>,
    /// The silence since the last sample has been turned into a prior already.
    silence_handled: bool,
    /// The sample the mode was last evaluated on: only new samples confirm a mode change.
    evaluated_sample_sf: Option<i64>,
}

impl Controller {
    /// A controller starting at `now` with the clock at `initial_ppm` (a learned frequency,
    /// or the clock's present one).
    pub fn new(cfg: ControllerConfig, now: LocalTime, initial_ppm: f64) -> Self {
        let sf = now.nanos();
        let limit = cfg.max_frequency_ppm;
        Self {
            source: PtpSource::new(cfg.ptp.clone()),
            estimator: RateEstimator::new(cfg.estimator.clone()),
            policy: FrequencyPolicy::new(cfg.policy.clone()),
            modes: ModeSelector::new(cfg.modes.clone()),
            gate: cfg.ntp.clone().map(NtpGate::new),
            start_sf: sf,
            steps_total: 0,
            servo_ppm: initial_ppm.clamp(-limit, limit),
            slew: None,
            integral_ns: 0.0,
            integral_at_sf: sf,
            last_sample_sf: None,
            last_offset_ns: None,
            last_eval_sf: sf,
            accumulated_phase_us: 0.0,
            ntp_in_flight: false,
            next_ntp_sf: sf,
            ntp_interval_s: 10.0,
            ntp_failing: false,
            last_ntp: None,
            ntp_sources: std::sync::Arc::from([]),
            last_correction: None,
            timer_sf: None,
            kinks_reported: 0,
            prior: None,
            confirmed_sf: None,
            silence_handled: false,
            evaluated_sample_sf: None,
            cfg,
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// Starts from a frequency learned in an earlier run (`ppm`, known to `sigma_ppm` then)
    /// against `leader`. While the same leader is heard and the estimate is young, it counts
    /// as a prior: a restarted node is locked within a second of the first samples instead of
    /// re-acquiring, as far as `learned_floor_ppm` (how far the oscillator may have moved
    /// while stopped) allows. A different leader, or a rate change, discards it.
    #[must_use]
    pub fn with_learned_frequency(
        mut self,
        ppm: f64,
        sigma_ppm: f64,
        leader: Option<Uuid>,
    ) -> Self {
        let limit = self.cfg.max_frequency_ppm;
        if !ppm.is_finite() || !sigma_ppm.is_finite() || ppm.abs() > limit {
            return self;
        }
        self.servo_ppm = ppm;
        let sigma = sigma_ppm.abs().hypot(self.cfg.learned_floor_ppm);
        self.prior = Some(LearnedPrior {
            rate_ppm: -ppm,
            sigma_ppm: sigma,
            leader,
        });
        self.policy.set_applied_sigma(sigma);
        self
    }

    /// PTP is back after a silence long enough to be offline. The oscillator may have moved
    /// while nobody watched (and a restarted leader brings a new timescale), so the old window
    /// is not evidence any more: what it said becomes a prior, widened by how far an
    /// oscillator may move meanwhile, and the estimate starts afresh. Lock returns quickly and
    /// honestly; NANO waits for new data.
    fn resume_after_silence(&mut self) {
        let leader = self.source.leader().map(|(id, _)| id.grandmaster);
        if let Some(rate) = self.rate() {
            let sigma = rate.sigma_ppm.hypot(self.cfg.learned_floor_ppm);
            self.prior = Some(LearnedPrior {
                rate_ppm: rate.slope_ppm,
                sigma_ppm: sigma,
                leader,
            });
            self.policy
                .set_applied_sigma(self.policy.applied_sigma().max(sigma));
        }
        self.estimator.reset();
    }

    /// A prior the new data contradict (beyond 3σ of both together) is dropped: the
    /// oscillator moved more than assumed, and only the data may speak now.
    fn drop_contradicted_prior(&mut self) {
        let (Some(p), Some(e)) = (self.prior, self.estimator.estimate()) else {
            return;
        };
        if (e.slope_ppm - p.rate_ppm).abs() > 3.0 * e.sigma_ppm.hypot(p.sigma_ppm) {
            self.prior = None;
            self.policy.rate_changed();
        }
    }

    /// The host could not apply the last frequency: the clock runs at `actual_ppm` (read back
    /// from it). The books follow the clock, so the servo never subtracts a correction that did
    /// not happen.
    pub fn frequency_not_applied(&mut self, now: LocalTime, actual_ppm: f64) -> Vec<Action> {
        let sf = self.sf(now);
        if actual_ppm.is_finite() {
            self.rebase(sf);
            self.servo_ppm = actual_ppm - self.slew.map_or(0.0, |s| s.ppm);
            self.policy.rate_changed();
        }
        let mut out = Vec::new();
        self.evaluate(sf, &mut out);
        out
    }

    /// The host could not apply the last step of `nanos`: the clock did not move.
    pub fn step_not_applied(&mut self, now: LocalTime, nanos: i64) -> Vec<Action> {
        // `now` was read from the clock that did not jump: it is already on the old axis.
        self.steps_total = self.steps_total.saturating_sub(nanos);
        self.confirmed_sf = None;
        let mut out = Vec::new();
        let sf = self.sf(now);
        self.evaluate(sf, &mut out);
        out
    }

    /// UTC is known: NTP confirmed the time (a correction, or a check that found it within
    /// the gate's threshold) within the last `SYNC_VALID_S`. What an NTP server's leap
    /// indicator and stratum rest on. Failed checks in between do not end it at once: a
    /// disciplined clock holds its time far better than that, and the server tells its clients
    /// how stale the confirmation is through a root dispersion that grows with its age (an
    /// upstream that stays away for `SYNC_VALID_S` does end it).
    fn time_synchronised(&self) -> bool {
        self.confirmed_sf
            .is_some_and(|t| (self.last_eval_sf as f64 - t as f64) * 1e-9 <= SYNC_VALID_S)
    }

    /// The rate: the estimate, combined (inverse-variance) with the learned prior if any.
    fn rate(&self) -> Option<Rate> {
        let est = self.estimator.estimate();
        match (est, self.prior) {
            (Some(e), Some(p)) => {
                let we = 1.0 / (e.sigma_ppm * e.sigma_ppm);
                let wp = 1.0 / (p.sigma_ppm * p.sigma_ppm);
                Some(Rate {
                    slope_ppm: (e.slope_ppm * we + p.rate_ppm * wp) / (we + wp),
                    sigma_ppm: (we + wp).sqrt().recip(),
                })
            }
            (Some(e), None) => Some(Rate {
                slope_ppm: e.slope_ppm,
                sigma_ppm: e.sigma_ppm,
            }),
            // The prior alone speaks only once its leader is actually being heard.
            (None, Some(p)) if self.last_sample_sf.is_some() => Some(Rate {
                slope_ppm: p.rate_ppm,
                sigma_ppm: p.sigma_ppm,
            }),
            (None, _) => None,
        }
    }

    pub fn mode(&self) -> Mode {
        self.modes.mode()
    }

    /// The first actions: set the starting frequency, and plan the first NTP check and timer.
    pub fn start(&mut self, now: LocalTime) -> Vec<Action> {
        let mut out = vec![Action::SetFrequency {
            ppm: self.total_ppm(),
        }];
        self.evaluate(self.sf(now), &mut out);
        out
    }

    /// A PTP datagram received at `rx` (the local clock's receive timestamp).
    pub fn handle_ptp(&mut self, bytes: &[u8], rx: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.sf(rx);
        self.advance(sf, &mut out);
        let silent_s = self.last_sample_sf.map(|t| (sf as f64 - t as f64) * 1e-9);
        if !self.silence_handled && silent_s.is_some_and(|s| s >= self.cfg.ptp.offline_timeout_s) {
            self.resume_after_silence();
            self.silence_handled = true;
        }
        match self.source.handle(bytes, rx, sf) {
            SourceEvent::Nothing => {}
            SourceEvent::LeaderChanged { previous, current } => {
                // A new timescale: keep the frequency, forget the offsets. The same clock back
                // again (a rebooted leader) keeps what is known about its rate.
                self.estimator.reset();
                if self
                    .prior
                    .is_none_or(|p| p.leader != Some(current.grandmaster))
                {
                    self.prior = None;
                    self.policy.leader_changed();
                }
                out.push(Action::Notice(Notice::LeaderChanged { previous, current }));
            }
            SourceEvent::Sample(pair) => self.sample(pair.rx_step_free_ns, pair.t1_ns, &mut out),
        }
        self.evaluate(sf, &mut out);
        out
    }

    /// A completed NTP check, reported at `now`.
    pub fn handle_ntp_result(&mut self, now: LocalTime, m: NtpMeasurement) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.sf(now);
        self.advance(sf, &mut out);
        self.ntp_in_flight = false;
        self.ntp_failing = false;
        self.last_ntp = Some(NtpStatus {
            offset_ns: m.offset_ns,
            delay_ns: m.delay_ns,
            at: now,
        });
        let remaining = self.slew_remaining_ns(sf);
        let mut next_in = None;
        if let Some(gate) = self.gate.as_mut() {
            match gate.offer(m.offset_ns as f64 - remaining) {
                GateDecision::Correct { offset_ns, method } => {
                    let total = offset_ns.saturating_add(remaining.round() as i64);
                    self.confirmed_sf = Some(sf);
                    self.correct(sf, now, total, method, &mut out);
                }
                GateDecision::Unconfirmed => next_in = Some(gate.config().confirm_interval_s),
                GateDecision::TooSmall => self.confirmed_sf = Some(sf),
                GateDecision::RefusedPanic => out.push(Action::Notice(Notice::NtpRefused {
                    offset_ns: m.offset_ns,
                })),
            }
        }
        // `sf` stays as computed on entry: a step moves the local clock and `steps_total`
        // together, so the step-free axis does not move.
        self.schedule_ntp(sf, next_in);
        self.evaluate(sf, &mut out);
        out
    }

    /// The NTP client's view of its servers, shown in the status as it is.
    pub fn set_ntp_sources(&mut self, sources: Vec<NtpSourceStatus>) {
        self.ntp_sources = sources.into();
    }

    /// An NTP check that failed (no usable answer), reported at `now`.
    pub fn handle_ntp_failure(&mut self, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.sf(now);
        self.advance(sf, &mut out);
        self.ntp_in_flight = false;
        self.ntp_failing = true;
        self.schedule_ntp(sf, None);
        self.evaluate(sf, &mut out);
        out
    }

    /// A timer tick: detects silence, starts due NTP checks, ends slews.
    pub fn tick(&mut self, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.sf(now);
        // A tick consumes the timer: re-arm even if the deadline is unchanged (a timer that
        // fires a hair early must not leave the controller without one).
        self.timer_sf = None;
        self.advance(sf, &mut out);
        self.evaluate(sf, &mut out);
        out
    }

    pub fn status(&self) -> Status {
        let est = self.estimator.estimate();
        let rate = self.rate();
        Status {
            mode: self.modes.mode(),
            drift_ppm: rate.map(|r| r.slope_ppm + self.servo_ppm),
            drift_sigma_ppm: rate.map(|r| r.sigma_ppm),
            error_bound_ppm: self.error_bound(),
            natural_rate_ppm: rate.map(|r| r.slope_ppm),
            learned_prior: self.prior.is_some(),
            applied_ppm: self.servo_ppm,
            slew_ppm: self.slew.map_or(0.0, |s| s.ppm),
            noise_us: est.map(|e| e.noise_us),
            window_samples: est.map_or(0, |e| e.samples),
            window_s: est.map_or(0.0, |e| e.span_s),
            ptp_offset_ns: self.last_offset_ns,
            last_ptp_sample: self.last_sample_sf.map(|sf| self.local(sf)),
            leader: self.source.leader().map(|(id, quality)| LeaderStatus {
                id,
                quality,
                sync_interval_log2: self.source.sync_interval_log2(),
            }),
            ntp: self.last_ntp,
            ntp_failing: self.ntp_failing,
            ntp_interval_s: self.ntp_interval_s,
            accumulated_phase_us: self.accumulated_phase_us,
            last_correction: self.last_correction,
            ntp_corrections: self.gate.as_ref().map_or(0, NtpGate::corrections),
            time_synchronised: self.time_synchronised(),
            time_confirmed: self.confirmed_sf.map(|sf| self.local(sf)),
            ptp: self.source.counters(),
            estimator: self.estimator.counters(),
            host: HostStatus::default(),
            ntp_sources: self.ntp_sources.clone(),
        }
    }

    fn sf(&self, t: LocalTime) -> i64 {
        t.nanos().saturating_sub(self.steps_total)
    }

    /// The inverse of [`Self::sf`]: a step-free time on the local clock as it reads now.
    fn local(&self, sf: i64) -> LocalTime {
        LocalTime::from_nanos(sf.saturating_add(self.steps_total))
    }

    fn total_ppm(&self) -> f64 {
        self.servo_ppm + self.slew.map_or(0.0, |s| s.ppm)
    }

    fn integral_at(&self, sf: i64) -> f64 {
        self.integral_ns + self.total_ppm() * 1e-6 * (sf as f64 - self.integral_at_sf as f64)
    }

    /// Changes the total frequency at `sf`, keeping the integral exact.
    fn rebase(&mut self, sf: i64) {
        self.integral_ns = self.integral_at(sf);
        self.integral_at_sf = sf;
    }

    fn slew_remaining_ns(&self, sf: i64) -> f64 {
        self.slew.map_or(0.0, |s| {
            s.ppm * 1e-6 * s.end_sf.saturating_sub(sf).max(0) as f64
        })
    }

    /// Brings time-driven state up to `sf`: a slew that has run its course ends at its end.
    fn advance(&mut self, sf: i64, out: &mut Vec<Action>) {
        if let Some(s) = self.slew {
            if sf >= s.end_sf {
                self.rebase(s.end_sf);
                self.slew = None;
                out.push(Action::SetFrequency {
                    ppm: self.total_ppm(),
                });
            }
        }
    }

    fn sample(&mut self, rx_sf: i64, t1_ns: i128, out: &mut Vec<Action>) {
        let raw = i128::from(rx_sf) + i128::from(self.steps_total) - t1_ns;
        self.last_offset_ns = Some(raw);
        self.last_sample_sf = Some(rx_sf);
        self.silence_handled = false;
        let unwrapped = i128::from(rx_sf) - t1_ns - self.integral_at(rx_sf).round() as i128;
        match self.estimator.add(rx_sf, unwrapped) {
            Verdict::Accepted | Verdict::Outlier => {}
            Verdict::Restarted => out.push(Action::Notice(Notice::TimescaleJump)),
        }
        let kinks = self.estimator.counters().kinks;
        if kinks > self.kinks_reported {
            self.kinks_reported = kinks;
            self.policy.rate_changed();
            self.prior = None;
            out.push(Action::Notice(Notice::RateChange));
        }
        self.drop_contradicted_prior();
        let Some(est) = self.rate() else {
            return;
        };
        let limit = self.cfg.max_frequency_ppm - self.slew.map_or(0.0, |s| s.ppm.abs());
        let now_s = rx_sf as f64 * 1e-9;
        let data_sigma = self
            .estimator
            .estimate()
            .map_or(f64::INFINITY, |e| e.sigma_ppm);
        if let Some(ppm) = self.policy.decide(
            self.modes.mode(),
            Observed {
                slope_ppm: est.slope_ppm,
                sigma_ppm: est.sigma_ppm,
                data_sigma_ppm: data_sigma,
            },
            self.servo_ppm,
            limit,
            now_s,
        ) {
            self.rebase(rx_sf);
            self.servo_ppm = ppm;
            out.push(Action::SetFrequency {
                ppm: self.total_ppm(),
            });
        }
    }

    fn error_bound(&self) -> Option<f64> {
        let rate = self.rate()?;
        Some((rate.slope_ppm + self.servo_ppm).abs() + 3.0 * rate.sigma_ppm)
    }

    fn correct(
        &mut self,
        sf: i64,
        now: LocalTime,
        total_ns: i64,
        method: Method,
        out: &mut Vec<Action>,
    ) {
        self.rebase(sf);
        self.slew = None;
        match method {
            Method::Step => {
                self.steps_total = self.steps_total.saturating_add(total_ns);
                out.push(Action::Step { nanos: total_ns });
                out.push(Action::SetFrequency {
                    ppm: self.total_ppm(),
                });
            }
            Method::Slew { ppm, .. } => {
                let duration_ns = (total_ns as f64 / (ppm * 1e-6)).abs().round() as i64;
                self.slew = Some(Slew {
                    ppm,
                    end_sf: sf.saturating_add(duration_ns),
                });
                out.push(Action::SetFrequency {
                    ppm: self.total_ppm(),
                });
            }
        }
        out.push(Action::Notice(Notice::NtpCorrection {
            offset_ns: total_ns,
            method,
        }));
        self.accumulated_phase_us = 0.0;
        self.last_correction = Some(now.add_nanos(match method {
            Method::Step => total_ns,
            Method::Slew { .. } => 0,
        }));
    }

    fn schedule_ntp(&mut self, sf: i64, within_s: Option<f64>) {
        let interval = ntp_interval_s(self.modes.mode(), self.accumulated_phase_us);
        self.ntp_interval_s = within_s.map_or(interval, |w| w.min(interval));
        self.next_ntp_sf = sf.saturating_add(secs_to_nanos(self.ntp_interval_s));
    }

    /// The one place the mode is computed, followed by what depends on it.
    fn evaluate(&mut self, sf: i64, out: &mut Vec<Action>) {
        if sf > self.last_eval_sf {
            if let Some(rate) = self.rate() {
                let drift = rate.slope_ppm + self.servo_ppm;
                self.accumulated_phase_us += drift * (sf as f64 - self.last_eval_sf as f64) * 1e-9;
            }
            self.last_eval_sf = sf;
        }
        let inputs = ModeInputs {
            ptp_silent_s: self.last_sample_sf.map(|t| (sf as f64 - t as f64) * 1e-9),
            since_start_s: (sf as f64 - self.start_sf as f64) * 1e-9,
            offline_timeout_s: self.cfg.ptp.offline_timeout_s,
            error_bound_ppm: self.error_bound(),
            recent_outlier_fraction: self.estimator.recent_outlier_fraction(),
            fresh: self.last_sample_sf != self.evaluated_sample_sf,
        };
        self.evaluated_sample_sf = self.last_sample_sf;
        let before = self.modes.mode();
        let after = self.modes.update(&inputs);
        if after != before {
            out.push(Action::Notice(Notice::ModeChanged {
                from: before,
                to: after,
            }));
        }
        if self.gate.is_some() && !self.ntp_in_flight && sf >= self.next_ntp_sf {
            self.ntp_in_flight = true;
            // Re-armed by the result or failure; if neither comes in time, it counts as failed.
            self.next_ntp_sf = sf.saturating_add(secs_to_nanos(NTP_CHECK_TIMEOUT_S));
            out.push(Action::StartNtpCheck);
        } else if self.ntp_in_flight && sf >= self.next_ntp_sf {
            // The host never reported this check: count it failed and plan the next one, so
            // the timer stays armed even with no PTP traffic to wake the controller.
            self.ntp_in_flight = false;
            self.ntp_failing = true;
            self.schedule_ntp(sf, None);
        }
        self.arm_timer(sf, out);
    }

    fn arm_timer(&mut self, sf: i64, out: &mut Vec<Action>) {
        let timeout = secs_to_nanos(self.cfg.ptp.offline_timeout_s);
        let silence = match self.last_sample_sf {
            Some(t) if self.modes.mode() != Mode::NtpOnly => Some(t.saturating_add(timeout)),
            None if self.modes.mode() == Mode::Init => Some(self.start_sf.saturating_add(timeout)),
            _ => None,
        };
        let ntp = self.gate.as_ref().map(|_| self.next_ntp_sf);
        let slew = self.slew.map(|s| s.end_sf);
        let next = [silence, ntp, slew]
            .into_iter()
            .flatten()
            .filter(|&t| t > sf)
            .min();
        if next != self.timer_sf {
            self.timer_sf = next;
            if let Some(t) = next {
                out.push(Action::SetTimer { at: self.local(t) });
            }
        }
    }
}
