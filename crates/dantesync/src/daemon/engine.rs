//! The engine task: owns the controller, takes events from the other tasks, and executes the
//! controller's actions in order before the next event.
//!
//! Clock failures: an error is logged (once per distinct message, so a clock that keeps
//! refusing does not flood the log) and the loop carries on; the controller keeps its books as
//! if the action took effect, so when the clock recovers the next decision is right again. The
//! one exception is the very first frequency write at start: if that fails, the daemon stops
//! (see `mod.rs`), because a clock that cannot be adjusted at all cannot be disciplined.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dantesync_clock::state::{LearnedState, Persister};
use dantesync_clock::{ClockError, LeapSecond};
use dantesync_core::controller::{self, Executed, LeapExpected, Method, Task};
use dantesync_core::{Action, Controller, LocalTime, Mode, Notice, Status};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::delay_req::DelayReqSender;
use super::fleet;
use super::kernel_sync::KernelSync;
use super::shared::{Event, NtpCheck, Shared};
use super::systemd::Notifier;

/// At most one summary line per this long, so a week of logs stays small.
const SUMMARY_EVERY: Duration = Duration::from_secs(300);
/// How often a locked frequency is offered to the persister (which decides whether to write).
const PERSIST_OFFER_EVERY: Duration = Duration::from_secs(10);
/// At most one panic-threshold refusal warning per this long.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct Engine {
    pub controller: Controller,
    pub shared: Arc<Shared>,
    pub ntp: Option<mpsc::UnboundedSender<()>>,
    pub persister: Persister,
    pub notifier: Notifier,
    /// Monotonic origin for the persister's times.
    pub started: Instant,
    timer: Option<Instant>,
    last_clock_error: Option<String>,
    last_offer: Option<Instant>,
    /// When the refusal of an offset beyond the panic threshold was last logged.
    last_refusal_log: Option<Instant>,
    /// The kernel's synchronisation status and another program's interference.
    pub kernel: KernelSync,
    /// Where Delay_Reqs go, when path delay is measured.
    pub delay_req: Option<DelayReqSender>,
    /// Where the fleet authority's D is kept, on the NTP master.
    pub fleet_d: Option<fleet::DPersister>,
    fleet_log: fleet::AuthorityLog,
}

impl Engine {
    pub fn new(
        controller: Controller,
        shared: Arc<Shared>,
        ntp: Option<mpsc::UnboundedSender<()>>,
        persister: Persister,
        notifier: Notifier,
    ) -> Self {
        Self {
            controller,
            shared,
            ntp,
            persister,
            notifier,
            started: Instant::now(),
            timer: None,
            last_clock_error: None,
            last_offer: None,
            last_refusal_log: None,
            kernel: KernelSync::new(None),
            delay_req: None,
            fleet_d: None,
            fleet_log: fleet::AuthorityLog::default(),
        }
    }

    /// Runs until `shutdown` resolves, then persists the learned frequency. The clock's
    /// frequency is left as it is: the learned rate is the best free-running rate there is.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        shutdown: impl std::future::Future<Output = &'static str>,
    ) {
        tokio::pin!(shutdown);
        let mut summary = tokio::time::interval_at(Instant::now() + SUMMARY_EVERY, SUMMARY_EVERY);
        let watchdog_every = Notifier::watchdog_interval().unwrap_or(Duration::from_secs(3600));
        let mut watchdog = tokio::time::interval(watchdog_every);
        let far = Duration::from_secs(86_400);
        loop {
            let timer_at = self.timer.unwrap_or_else(|| Instant::now() + far);
            tokio::select! {
                why = &mut shutdown => {
                    tracing::info!("{why}: stopping; the clock keeps its present frequency");
                    self.notifier.stopping();
                    break;
                }
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let actions = match event {
                        Event::Ptp { message, rx } => {
                            let rx = self.shared.rx_moment(rx);
                            self.controller.handle_ptp_message(message, rx)
                        }
                        Event::Ntp(report) => {
                            self.controller.set_ntp_sources(report.sources);
                            let now = self.shared.moment();
                            match report.result {
                                NtpCheck::Measured(m) => {
                                    tracing::debug!(
                                        "NTP check: offset {:+.3} ms, delay {:.3} ms",
                                        m.offset_ns as f64 * 1e-6,
                                        m.delay_ns as f64 * 1e-6
                                    );
                                    self.controller.handle_ntp_result(now, m)
                                }
                                NtpCheck::NothingDue => {
                                    tracing::debug!("NTP check: no server due");
                                    self.controller.handle_ntp_idle(now)
                                }
                                NtpCheck::Failed(e) => {
                                    tracing::debug!("NTP check failed: {e}");
                                    self.controller.handle_ntp_failure(now)
                                }
                            }
                        }
                        Event::FleetCorrect(answer) => {
                            let now = self.shared.moment();
                            let done = self.controller.fleet_correct_now(now);
                            // Published first: the answer is built from the status.
                            self.execute(Vec::new());
                            let _ = answer.send(done);
                            Vec::new()
                        }
                        Event::FleetAnnouncement(ts) => {
                            let now = self.shared.moment();
                            fleet::hand_to_controller(&mut self.controller, ts, now)
                        }
                    };
                    self.execute(actions);
                }
                () = tokio::time::sleep_until(timer_at), if self.timer.is_some() => {
                    self.timer = None;
                    let now = self.shared.moment();
                    let actions = self.controller.tick(now);
                    self.execute(actions);
                }
                _ = summary.tick() => self.log_summary(),
                _ = watchdog.tick() => self.notifier.watchdog(),
            }
        }
        self.persist_on_exit();
    }

    /// Executes `actions` in order, then publishes the status.
    pub fn execute(&mut self, actions: Vec<Action>) {
        let mut status: Option<Status> = None;
        for action in actions {
            let done = controller::execute(&mut **self.shared.clock(), action);
            match done {
                Executed::FrequencySet { .. } => self.clock_result("set the frequency", Ok(())),
                Executed::FrequencyRefused { error, .. } => {
                    self.clock_result("set the frequency", Err(error));
                    // The books must follow the clock, not the wish: tell the controller
                    // what the clock really runs at.
                    let actual = self.shared.clock().frequency().unwrap_or(f64::NAN);
                    let now = self.shared.moment();
                    let more = self.controller.frequency_not_applied(now, actual);
                    self.execute(more);
                }
                Executed::Stepped { nanos } => {
                    match self.shared.clock().step_report() {
                        None => tracing::info!("clock stepped by {:+.6} s", nanos as f64 * 1e-9),
                        Some(Ok(how)) => {
                            tracing::info!("clock stepped by {:+.6} s: {how}", nanos as f64 * 1e-9)
                        }
                        Some(Err(how)) => tracing::warn!(
                            "clock stepped by {:+.6} s but {how}, beyond the 10 µs it aims for: \
                             the remainder is left to the next NTP check",
                            nanos as f64 * 1e-9
                        ),
                    }
                    self.clock_result("step the clock", Ok(()));
                }
                Executed::StepRefused { nanos, error } => {
                    self.clock_result("step the clock", Err(error));
                    let now = self.shared.moment();
                    let more = self.controller.step_not_applied(now, nanos);
                    self.execute(more);
                }
                Executed::Task(Task::StartNtpCheck) => match &self.ntp {
                    Some(tx) if tx.send(()).is_ok() => {}
                    _ => {
                        // No NTP task (PTP-only): tell the controller at once, so it does not
                        // wait for an answer that never comes.
                        let now = self.shared.moment();
                        let more = self.controller.handle_ntp_failure(now);
                        self.execute(more);
                    }
                },
                Executed::Task(Task::SetTimer { at }) => {
                    let now = self.shared.now();
                    let wait = Duration::from_nanos(at.nanos_since(now).max(0) as u64);
                    self.timer = Some(Instant::now() + wait);
                }
                Executed::Task(Task::SendDelayReq { sequence_id, bytes }) => {
                    let more = self.send_delay_req(sequence_id, &bytes);
                    self.execute(more);
                }
                Executed::Task(Task::Notice(notice)) => {
                    if matches!(notice, Notice::NtpRefused { .. }) && !self.refusal_log_due() {
                        continue;
                    }
                    let s = status.get_or_insert_with(|| self.controller.status());
                    self.log_notice(&notice, s);
                }
            }
        }
        let status = self.controller.status();
        self.offer_learned(&status);
        self.tell_kernel(&status);
        if let Some(p) = self.fleet_d.as_mut() {
            p.offer(status.fleet_authority.and_then(|a| a.timescale));
        }
        self.fleet_log.note(status.fleet_authority);
        self.shared.publish(status);
    }

    /// After every servo update: the kernel's synchronisation status, and a look for another
    /// program's frequency change (see `kernel_sync`).
    fn tell_kernel(&mut self, status: &Status) {
        let upstream = self.shared.upstream();
        let mut clock = self.shared.clock();
        let now = clock.now();
        self.kernel.update(
            &mut **clock,
            status,
            upstream,
            now,
            std::time::Instant::now(),
            &self.shared.kernel,
        );
        drop(clock);
        // The controller must take the kernel's leap second for what it is, not for a step of
        // the clock by someone else.
        let leap = match self.shared.kernel.leap_pending() {
            LeapSecond::None => None,
            LeapSecond::Insert => Some(-1_000_000_000),
            LeapSecond::Delete => Some(1_000_000_000),
        };
        let expected = leap.map(|nanos| LeapExpected {
            at: LocalTime::from_nanos(next_midnight_utc_ns(now.nanos())),
            nanos,
        });
        self.controller.expect_leap(expected, now);
    }

    fn clock_result(&mut self, what: &str, r: Result<(), ClockError>) {
        match r {
            Ok(()) => {
                if self.last_clock_error.take().is_some() {
                    tracing::info!("the clock accepts adjustments again");
                }
            }
            Err(e) => {
                let text = format!("cannot {what}: {e}");
                if self.last_clock_error.as_deref() != Some(text.as_str()) {
                    tracing::error!(
                        "{text} (dantesync keeps running and retries with the next decision)"
                    );
                    self.last_clock_error = Some(text);
                }
            }
        }
    }

    /// A refused offset comes back at every other check while the servers insist: it is
    /// logged at the first refusal, then at most every REFUSAL_LOG_EVERY.
    fn refusal_log_due(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_refusal_log
            .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY);
        if due {
            self.last_refusal_log = Some(now);
        }
        due
    }

    fn log_notice(&self, notice: &Notice, s: &Status) {
        match notice {
            Notice::ModeChanged { from, to } => {
                tracing::info!("mode {from} -> {to}{}", describe(s));
                self.notifier.status(&format!("{to}{}", describe(s)));
            }
            Notice::LeaderChanged { previous, current } => match previous {
                Some(p) => tracing::info!(
                    "leader changed from {} to {} (new timescale; the learned frequency is kept)",
                    p.grandmaster,
                    current.grandmaster
                ),
                None => tracing::info!("following leader {}", current.grandmaster),
            },
            Notice::TimescaleJump => tracing::info!(
                "the leader's timescale jumped (it restarted?): rate estimate restarted"
            ),
            Notice::RateChange => {
                tracing::info!("the clock's natural rate changed: estimate narrowed")
            }
            Notice::DelayStep { step_ns } => tracing::info!(
                "the path from the leader changed its delay by {:+.1} µs (PTP timestamps moved \
                 together): the rate estimate models the step and keeps its data",
                *step_ns as f64 * 1e-3
            ),
            Notice::ExternalStep { nanos } => tracing::warn!(
                "the clock was stepped by {:+.6} s by something other than dantesync (an admin, \
                 a VM resume, another time service?): rate estimate restarted, the time waits \
                 for NTP to confirm it again",
                *nanos as f64 * 1e-9
            ),
            Notice::FleetStep { nanos, scheduled } => tracing::warn!(
                "fleet: clock stepped by {:+.6} s ({})",
                *nanos as f64 * 1e-9,
                if *scheduled {
                    "the authority's scheduled correction of D, at its leader instant"
                } else {
                    "the start-up step to the fleet's time"
                }
            ),
            Notice::LeaderFrequencyStep {
                rate_ppm,
                sigma_ppm,
                applied_ppm,
                phase_ns,
            } => tracing::warn!(
                "fleet: the phase ramps at {rate_ppm:+.2} ± {sigma_ppm:.2} ppm (the leader's \
                 frequency stepped?): frequency moved by {applied_ppm:+.2} ppm at once, {:+.1} µs \
                 of phase being slewed back",
                phase_ns / 1e3
            ),
            Notice::NtpCorrection { offset_ns, method } => match method {
                Method::Step => {
                    tracing::info!("NTP: time corrected by {} µs (step)", offset_ns / 1000)
                }
                Method::Slew { ppm, duration_s } => tracing::info!(
                    "NTP: time corrected by {} µs (slew {ppm:+.3} ppm for {duration_s:.1} s)",
                    offset_ns / 1000
                ),
            },
            Notice::NtpRefused { offset_ns } => {
                let threshold = self
                    .controller
                    .config()
                    .ntp
                    .as_ref()
                    .and_then(|g| g.panic_threshold_s)
                    .unwrap_or(f64::NAN);
                tracing::warn!(
                    "NTP says the clock is off by {:+.3} s, beyond ntp.panic_threshold_s = {threshold} s: \
                     NOT corrected (only the first correction after start may be that large; repeated at most every 10 min). \
                     If the servers are right, restart dantesync to accept it, or raise \
                     ntp.panic_threshold_s (null = no limit)",
                    *offset_ns as f64 * 1e-9
                )
            }
        }
    }

    fn log_summary(&self) {
        let s = self.controller.status();
        tracing::info!(
            "summary: {}{}{}; samples {}, timestamps {}, PTP dropped by source filter {}",
            s.mode,
            describe(&s),
            ntp_servers(&s),
            s.ptp.samples,
            self.shared.timestamping().describe(),
            self.shared
                .ptp_dropped_source
                .load(std::sync::atomic::Ordering::Relaxed)
        );
    }

    fn monotonic(&self) -> Duration {
        self.started.elapsed()
    }

    /// Offers a trustworthy (locked) frequency to the persister, at most every 10 s.
    fn offer_learned(&mut self, s: &Status) {
        if !s.mode.is_locked() {
            return;
        }
        let now = Instant::now();
        if self
            .last_offer
            .is_some_and(|t| now.duration_since(t) < PERSIST_OFFER_EVERY)
        {
            return;
        }
        self.last_offer = Some(now);
        let state = learned(s);
        let at = self.monotonic();
        match self.persister.offer(at, state) {
            Ok(true) => tracing::debug!("learned frequency {:+.3} ppm saved", s.applied_ppm),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot save the learned frequency: {e}"),
        }
    }

    fn persist_on_exit(&mut self) {
        let s = self.controller.status();
        if let Some(p) = self.fleet_d.as_mut() {
            p.flush(s.fleet_authority.and_then(|a| a.timescale));
        }
        if s.mode.is_locked() {
            self.last_offer = None;
            self.offer_learned(&s);
        }
        match self.persister.flush(self.monotonic()) {
            Ok(true) => tracing::info!(
                "learned frequency saved to {}",
                self.persister.path().display()
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot save the learned frequency: {e}"),
        }
    }
}

/// What the state file keeps of a status.
fn learned(s: &Status) -> LearnedState {
    LearnedState::new(
        s.applied_ppm,
        s.drift_sigma_ppm.unwrap_or(0.0),
        s.leader.map(|l| l.id.grandmaster.to_string()),
        SystemTime::now(),
    )
}

/// ", drift +0.012 ± 0.004 ppm, applied -49.998 ppm, leader 00:1d:c1:00:53:01".
/// The NTP servers by state, for the summary: ", NTP servers 2 truechimer, 1 falseticker".
fn ntp_servers(s: &Status) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for src in s.ntp_sources.iter() {
        let name = src.state.as_str();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
    format!(", NTP servers {}", parts.join(", "))
}

fn describe(s: &Status) -> String {
    let mut out = String::new();
    if let (Some(d), Some(sigma)) = (s.drift_ppm, s.drift_sigma_ppm) {
        out.push_str(&format!(", drift {d:+.3} ± {sigma:.3} ppm"));
    }
    out.push_str(&format!(", applied {:+.3} ppm", s.applied_ppm));
    if let Some(l) = s.leader {
        out.push_str(&format!(", leader {}", l.id.grandmaster));
    } else if s.mode == Mode::NtpOnly {
        out.push_str(", no leader (holding the last frequency)");
    }
    out
}

/// The next midnight UTC after `ns` (ns since the Unix epoch, which has no leap seconds).
fn next_midnight_utc_ns(ns: i64) -> i64 {
    const DAY: i64 = 86_400_000_000_000;
    (ns.div_euclid(DAY) + 1) * DAY
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_midnight_utc_is_the_end_of_the_day() {
        // 2026-06-30T23:59:30Z → 2026-07-01T00:00:00Z.
        let day = 86_400_000_000_000i64;
        let late = 1_782_863_970_000_000_000i64;
        assert_eq!(super::next_midnight_utc_ns(late), 1_782_864_000_000_000_000);
        assert_eq!(super::next_midnight_utc_ns(0), day);
        assert_eq!(super::next_midnight_utc_ns(day), 2 * day);
    }

    use super::*;
    use dantesync_core::ntp_client::{NtpSourceStatus, SourceState};
    use dantesync_core::{Controller, LocalTime};

    #[test]
    fn the_summary_counts_ntp_servers_by_state() {
        let c = Controller::new(Default::default(), LocalTime::from_nanos(0), 0.0);
        let mut s = c.status();
        assert_eq!(ntp_servers(&s), "", "no servers, nothing said");
        let src = |state| NtpSourceStatus {
            name: "ntp.lan".into(),
            address: None,
            state,
            last: None,
            backoff_s: None,
            lan: true,
            poll_s: None,
        };
        s.ntp_sources = [
            src(SourceState::Truechimer),
            src(SourceState::Falseticker),
            src(SourceState::Truechimer),
        ]
        .into();
        assert_eq!(ntp_servers(&s), ", NTP servers 2 truechimer, 1 falseticker");
    }
}
