//! NTP in the controller: results and failures of the host's checks, the step gate's
//! corrections (a step, or a slew on top of the PTP rate), the check interval and whether the
//! time counts as synchronised.

use super::books::Slew;
use super::{Action, Controller, GateDecision, Method, Notice, NtpMeasurement, NtpStatus};
use crate::mode::Mode;
use crate::ntp_client::NtpSourceStatus;
use crate::time::{secs_to_nanos, LocalTime, Moment};

/// How long an NTP confirmation keeps the node's time counted as synchronised (s).
const SYNC_VALID_S: f64 = 600.0;

/// A check the host has not reported after this long (s) counts as failed. A check is a
/// burst of a few requests with sub-second timeouts, so this is generous.
pub(super) const NTP_CHECK_TIMEOUT_S: f64 = 10.0;

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

impl Controller {
    /// A completed NTP check, reported at `now`.
    pub fn handle_ntp_result(&mut self, now: impl Into<Moment>, m: NtpMeasurement) -> Vec<Action> {
        let now = now.into();
        let mut out = Vec::new();
        let sf = self.enter(now, &mut out);
        let now = now.local;
        self.advance(sf, &mut out);
        self.ntp_in_flight = false;
        self.ntp_failing = false;
        self.last_ntp = Some(NtpStatus {
            offset_ns: m.offset_ns,
            delay_ns: m.delay_ns,
            at: now,
        });
        self.fleet_authority_ntp(sf, now.nanos(), m.offset_ns);
        let remaining = self.slew_remaining_ns(sf);
        let mut next_in = None;
        // In fleet mode the time is the fleet's: NTP is measured and shown, not applied.
        let owned = self.fleet_owns_time();
        if let Some(gate) = self.gate.as_mut().filter(|_| !owned) {
            match gate.offer(m.offset_ns as f64 - remaining) {
                GateDecision::Correct { offset_ns, method } => {
                    let total = offset_ns.saturating_add(remaining.round() as i64);
                    // The new correction replaces the slew in progress, so it carries what
                    // that slew had still to do: its rate and direction are the total's (the
                    // gate's are for the net offset, which can be small or even of the other
                    // sign while a long slew runs).
                    let method = match method {
                        Method::Slew { .. } => gate.slew_for(total as f64),
                        Method::Step => Method::Step,
                    };
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
    pub fn handle_ntp_failure(&mut self, now: impl Into<Moment>) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        self.advance(sf, &mut out);
        self.ntp_in_flight = false;
        self.ntp_failing = true;
        self.schedule_ntp(sf, None);
        self.evaluate(sf, &mut out);
        out
    }

    /// A check that asked no server because each one rests between its polls (a server
    /// outside the LAN is asked every 64 s, while checks come every 10 to 30 s): nothing was
    /// measured and nothing failed, so the last measurement, the failing flag and the gate
    /// stay as the last check that asked a server left them; only the next check is planned.
    pub fn handle_ntp_idle(&mut self, now: impl Into<Moment>) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        self.advance(sf, &mut out);
        self.ntp_in_flight = false;
        self.schedule_ntp(sf, None);
        self.evaluate(sf, &mut out);
        out
    }

    /// UTC is known: NTP confirmed the time (a correction, or a check that found it within
    /// the gate's threshold) within the last `SYNC_VALID_S`. What an NTP server's leap
    /// indicator and stratum rest on. Failed checks in between do not end it at once: a
    /// disciplined clock holds its time far better than that, and the server tells its clients
    /// how stale the confirmation is through a root dispersion that grows with its age (an
    /// upstream that stays away for `SYNC_VALID_S` does end it).
    pub(super) fn time_synchronised(&self) -> bool {
        self.confirmed_sf
            .is_some_and(|t| (self.last_eval_sf as f64 - t as f64) * 1e-9 <= SYNC_VALID_S)
    }

    pub(super) fn correct(
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

    pub(super) fn schedule_ntp(&mut self, sf: i64, within_s: Option<f64>) {
        let interval = ntp_interval_s(self.modes.mode(), self.accumulated_phase_us);
        self.ntp_interval_s = within_s.map_or(interval, |w| w.min(interval));
        self.next_ntp_sf = sf.saturating_add(secs_to_nanos(self.ntp_interval_s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::ControllerConfig;

    const S: i64 = 1_000_000_000;

    fn at(s: i64) -> LocalTime {
        LocalTime::from_nanos(1_785_427_891 * S + s * S)
    }

    fn starts_check(a: &[Action]) -> bool {
        a.contains(&Action::StartNtpCheck)
    }

    /// A check in which every server rests between its polls (one outside the LAN, asked
    /// every 64 s) learned nothing and lost nothing: neither a failure nor a measurement.
    #[test]
    fn a_check_with_no_server_due_changes_nothing_but_the_next_check() {
        let mut c = Controller::new(ControllerConfig::default(), at(0), 0.0);
        c.start(at(0));
        let tiny = NtpMeasurement {
            offset_ns: 4_000,
            delay_ns: 300_000,
        };
        c.handle_ntp_result(at(1), tiny);
        assert!(starts_check(&c.tick(at(6))));
        c.handle_ntp_result(at(6), tiny);
        let confirmed = c.status();
        assert!(confirmed.time_synchronised && !confirmed.ntp_failing);
        assert!(starts_check(&c.tick(at(16))));
        c.handle_ntp_idle(at(16));
        let s = c.status();
        assert!(!s.ntp_failing, "nothing failed");
        assert!(s.time_synchronised);
        assert_eq!(s.ntp, confirmed.ntp, "nothing was measured");
        // No PTP: NtpOnly by now, and the next check planned as after any check (30 s); the
        // in-flight one is over (no 10 s timeout counts it failed).
        assert_eq!(s.ntp_interval_s, 30.0);
        assert!(!starts_check(&c.tick(at(26))));
        assert!(!starts_check(&c.tick(at(45))));
        assert!(!c.status().ntp_failing);
        assert!(starts_check(&c.tick(at(46))));
        c.handle_ntp_idle(at(46));
        assert!(!c.status().ntp_failing);

        // After a failure, a check with nothing due does not clear it either.
        assert!(starts_check(&c.tick(at(76))));
        c.handle_ntp_failure(at(76));
        assert!(c.status().ntp_failing);
        assert!(starts_check(&c.tick(at(106))));
        c.handle_ntp_idle(at(106));
        assert!(c.status().ntp_failing, "still failing: nothing new");
    }
}
