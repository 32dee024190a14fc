//! The controller: events in, actions out.
//!
//! The host hands it PTP datagrams with their receive times, NTP results and timer ticks, all
//! stamped with the local clock; it answers with [`Action`]s that the host carries out in order
//! before the next event. It keeps the books the servo needs to see through its own hands:
//! every frequency it applied (integrated over time) and every step it made are removed from
//! the PTP offsets before they reach the estimator, and all its own timekeeping runs on a
//! step-free axis (local time minus the steps it made).
//!
//! This file holds the state, the event entry points and the one place the mode is computed
//! (`evaluate`); beside it: `books` (the step-free axis and the frequency integral), `rate`
//! (the rate from the estimator and a learned prior, and each PTP sample), `ntp` (checks,
//! corrections and their schedule) and [`execute()`] (carrying actions out on a clock).

pub mod actions;
mod books;
pub mod execute;
mod fleet;
mod fleet_authority;
pub mod mode_select;
mod ntp;
pub mod ntp_gate;
mod path_delay;
mod rate;
pub mod status;
#[cfg(test)]
mod tests;
mod traffic;

pub use actions::{Action, Notice};
pub use books::LeapExpected;
use books::Slew;
pub use execute::{execute, ClockControl, Executed, Task};
pub use fleet::{FleetState, FleetStatus};
pub use mode_select::{ModeInputs, ModeSelector, ModeThresholds};
pub use ntp::ntp_interval_s;
use ntp::NTP_CHECK_TIMEOUT_S;
pub use ntp_gate::{GateDecision, Method, NtpGate, NtpGateConfig};
use rate::LearnedPrior;

pub use status::{HostStatus, LeaderStatus, NtpStatus, RxTimestamping, Status};

use crate::mode::Mode;
use crate::ntp_client::NtpSourceStatus;
use crate::servo::{EstimatorConfig, FrequencyPolicy, PolicyConfig, RateEstimator};
use crate::source::{PtpConfig, PtpSource, SourceEvent};
use crate::time::{secs_to_nanos, LocalTime, Moment};
use crate::wire::ptpv1::{Message, ParseError};

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
    /// Path delay to the leader by Delay_Req/Delay_Resp; None measures nothing (the host
    /// must be able to send and stamp PTP event messages).
    pub path_delay: Option<crate::path_delay::PathDelayConfig>,
    /// Classic (NTP sets each node's time) or fleet (every node phase-locked to the leader
    /// + D + path delay, see [`Controller::set_fleet_timescale`]).
    pub sync_mode: crate::fleet::SyncMode,
    /// Fleet mode's tuning; unused in classic mode.
    pub fleet: crate::fleet::FleetConfig,
    /// This node is the fleet's authority for D (the NTP master); None: it is not.
    pub authority: Option<crate::fleet::AuthorityConfig>,
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
            path_delay: None,
            sync_mode: crate::fleet::SyncMode::Classic,
            fleet: crate::fleet::FleetConfig::default(),
            authority: None,
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

#[derive(Debug)]
pub struct Controller {
    cfg: ControllerConfig,
    source: PtpSource,
    path_delay: crate::path_delay::PathDelay,
    fleet: fleet::Fleet,
    estimator: RateEstimator,
    policy: FrequencyPolicy,
    modes: ModeSelector,
    gate: Option<NtpGate>,
    start_sf: i64,
    steps_total: i64,
    /// Sum of the steps of the local clock that someone else made, as seen, ns.
    external_total: i64,
    /// How many such steps were seen.
    external_steps: u64,
    /// A leap second the kernel will apply (see `expect_leap`).
    leap: Option<books::LeapExpected>,
    /// At the last input with a monotonic reading: local minus monotonic time with every known
    /// step taken out, and the monotonic time.
    axes: Option<(i64, i64)>,
    servo_ppm: f64,
    slew: Option<Slew>,
    /// Integral of the applied frequency up to `integral_at_sf`, ns.
    integral_ns: f64,
    integral_at_sf: i64,
    last_sample_sf: Option<i64>,
    traffic: traffic::Traffic,
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
    delay_steps_reported: u64,
    prior: Option<LearnedPrior>,
    /// When two NTP checks last agreed on the offset (whether or not a correction followed).
    confirmed_sf: Option<i64>,
    /// The silence since the last sample has been turned into a prior already.
    silence_handled: bool,
    /// The sample the mode was last evaluated on: only new samples confirm a mode change.
    evaluated_sample_sf: Option<i64>,
    /// The fleet authority's measurement of D, on the NTP master.
    fleet_authority: Option<fleet_authority::AuthorityGlue>,
}

impl Controller {
    /// A controller starting at `now` with the clock at `initial_ppm` (a learned frequency,
    /// or the clock's present one).
    pub fn new(cfg: ControllerConfig, now: impl Into<Moment>, initial_ppm: f64) -> Self {
        let now = now.into();
        let sf = now.local.nanos();
        let limit = cfg.max_frequency_ppm;
        Self {
            external_total: 0,
            external_steps: 0,
            leap: None,
            axes: now.mono.map(|m| (sf.saturating_sub(m.nanos()), m.nanos())),
            source: PtpSource::new(cfg.ptp.clone()),
            path_delay: Self::new_path_delay(&cfg),
            fleet: fleet::Fleet::new(&cfg),
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
            traffic: traffic::Traffic::default(),
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
            delay_steps_reported: 0,
            prior: None,
            confirmed_sf: None,
            silence_handled: false,
            evaluated_sample_sf: None,
            fleet_authority: cfg
                .authority
                .clone()
                .map(fleet_authority::AuthorityGlue::new),
            cfg,
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    pub fn mode(&self) -> Mode {
        self.modes.mode()
    }

    /// The first actions: set the starting frequency, and plan the first NTP check and timer.
    pub fn start(&mut self, now: impl Into<Moment>) -> Vec<Action> {
        let mut out = vec![Action::SetFrequency {
            ppm: self.total_ppm(),
        }];
        let sf = self.enter(now.into(), &mut out);
        self.evaluate(sf, &mut out);
        out
    }

    /// A PTP datagram received at `rx` (the local clock's receive timestamp).
    pub fn handle_ptp(&mut self, bytes: &[u8], rx: impl Into<Moment>) -> Vec<Action> {
        self.handle_ptp_message(Message::parse(bytes), rx)
    }

    /// A PTP datagram the host already parsed with [`Message::parse`] (the daemon looks at
    /// each one on its way, to choose the interface), received at `rx`.
    pub fn handle_ptp_message(
        &mut self,
        parsed: Result<Message, ParseError>,
        rx: impl Into<Moment>,
    ) -> Vec<Action> {
        let rx = rx.into();
        let mut out = Vec::new();
        let sf = self.enter(rx, &mut out);
        let rx = rx.local;
        self.advance(sf, &mut out);
        self.traffic.packet(sf);
        let silent_s = self.last_sample_sf.map(|t| (sf as f64 - t as f64) * 1e-9);
        if !self.silence_handled && silent_s.is_some_and(|s| s >= self.cfg.ptp.offline_timeout_s) {
            self.resume_after_silence();
            self.silence_handled = true;
        }
        self.path_delay_message(&parsed);
        let event = self.source.handle_message(parsed, rx, sf);
        self.path_delay_event(&event, sf);
        self.fleet_authority_event(&event, sf);
        match event {
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

    /// A timer tick: detects silence, starts due NTP checks, ends slews.
    pub fn tick(&mut self, now: impl Into<Moment>) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        // A tick consumes the timer: re-arm even if the deadline is unchanged (a timer that
        // fires a hair early must not leave the controller without one).
        self.timer_sf = None;
        self.advance(sf, &mut out);
        self.fleet_authority_tick(sf);
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
            last_ptp_packet: self.traffic.last().map(|sf| self.local(sf)),
            ptp_packets_per_s: self.traffic.per_second(),
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
            external_steps: self.external_steps,
            path_delay: self.path_delay.status(),
            sync_mode: self.cfg.sync_mode,
            fleet: self.fleet_status(),
            fleet_authority: self.fleet_authority_status(),
        }
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
        self.poll_path_delay(sf, out);
        self.fleet_advance(sf, out);
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
        let delay_req = self.path_delay.next_deadline();
        let next = [silence, ntp, slew, delay_req, self.fleet_deadline()]
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
