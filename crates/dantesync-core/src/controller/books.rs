//! The controller's books: what it did to the clock, so the servo sees through its own hands.
//!
//! Two accounts. The step-free axis (`sf`): local time minus every step the controller made
//! and every step someone else made (seen on the monotonic axis: local minus monotonic time
//! jumped by more than the controller did), on which all its own timekeeping runs, so a step
//! never looks like elapsed time and silence, timers and NTP checks keep their rhythm. And the
//! integral of the frequency it applied (servo plus any NTP slew), exact across every change,
//! which is subtracted from the PTP offsets before they reach the estimator. When the host
//! reports that the clock refused an action, the books follow the clock, not the wish.

use super::{Action, Controller, Notice};
use crate::time::{LocalTime, Moment};

/// Below this an external step is not told apart from the clocks' relative drift and the
/// jitter of reading them (ns)...
const EXTERNAL_STEP_MIN_NS: i64 = 1_000_000;
/// ...to which the relative drift adds up to this much per ns elapsed: the clock's frequency
/// range plus its oscillator's own error (a monotonic clock such as QPC is not disciplined).
const EXTERNAL_STEP_DRIFT: f64 = 1000e-6;

/// How far from its announced instant a leap second may show on the monotonic axis and still
/// be the leap (ns): the kernel applies it at midnight, the controller sees it at its next input.
const LEAP_WINDOW_NS: i64 = 10_000_000_000;

/// A leap second the kernel will apply: at `at` (midnight UTC on the clock), the clock moves by
/// `nanos` (−1 s for an inserted second, +1 s for a deleted one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapExpected {
    pub at: LocalTime,
    pub nanos: i64,
}

/// An NTP slew in progress: `ppm` on top of the servo's frequency until `end_sf`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slew {
    pub(super) ppm: f64,
    pub(super) end_sf: i64,
}

impl Controller {
    /// Tells the controller of a leap second the kernel will apply (`None`: none any more), as
    /// of `now`. That step of the clock is then the leap, not someone else's step: the time
    /// stays confirmed and the rate estimate goes on. A withdrawal right around the leap (the
    /// announcement ends at midnight) keeps the expectation until its window has passed.
    pub fn expect_leap(&mut self, leap: Option<LeapExpected>, now: LocalTime) {
        match leap {
            Some(l) => self.leap = Some(l),
            None => {
                if self
                    .leap
                    .is_some_and(|l| now.nanos() < l.at.nanos().saturating_sub(LEAP_WINDOW_NS))
                {
                    self.leap = None;
                }
            }
        }
    }

    /// The host could not apply the last frequency: the clock runs at `actual_ppm` (read back
    /// from it). The books follow the clock, so the servo never subtracts a correction that did
    /// not happen.
    pub fn frequency_not_applied(
        &mut self,
        now: impl Into<Moment>,
        actual_ppm: f64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        if actual_ppm.is_finite() {
            self.rebase(sf);
            self.servo_ppm = actual_ppm - self.slew.map_or(0.0, |s| s.ppm) - self.fleet.ppm;
            self.policy.rate_changed();
        }
        self.evaluate(sf, &mut out);
        out
    }

    /// The host could not apply the last step of `nanos`: the clock did not move.
    pub fn step_not_applied(&mut self, now: impl Into<Moment>, nanos: i64) -> Vec<Action> {
        // `now` was read from the clock that did not jump: it is already on the old axis.
        self.steps_total = self.steps_total.saturating_sub(nanos);
        self.confirmed_sf = None;
        let mut out = Vec::new();
        let sf = self.enter(now.into(), &mut out);
        self.evaluate(sf, &mut out);
        out
    }

    pub(super) fn sf(&self, t: LocalTime) -> i64 {
        t.nanos()
            .saturating_sub(self.steps_total)
            .saturating_sub(self.external_total)
    }

    /// The inverse of [`Self::sf`]: a step-free time on the local clock as it reads now.
    pub(super) fn local(&self, sf: i64) -> LocalTime {
        LocalTime::from_nanos(
            sf.saturating_add(self.steps_total)
                .saturating_add(self.external_total),
        )
    }

    /// Every input enters here: compares the two axes, and returns the moment on the
    /// step-free axis. A step of the local clock that the controller did not make is logged
    /// (a notice with its size), counted, and taken out of the step-free axis; the rate
    /// estimate restarts on the new timescale, from what it knew as a prior (the oscillator
    /// did not change, only the clock's value), and the time no longer counts as confirmed
    /// until NTP has looked again, which it does now.
    pub(super) fn enter(&mut self, at: Moment, out: &mut Vec<Action>) -> i64 {
        if let Some(mono) = at.mono {
            let gap = at.local.nanos().saturating_sub(mono.nanos());
            let unexplained = gap
                .saturating_sub(self.steps_total)
                .saturating_sub(self.external_total);
            if let Some((before, then)) = self.axes {
                let elapsed = mono.nanos().saturating_sub(then).max(0);
                let tolerance =
                    EXTERNAL_STEP_MIN_NS + (elapsed as f64 * EXTERNAL_STEP_DRIFT) as i64;
                let jump = unexplained.saturating_sub(before);
                let leap = self.leap.filter(|l| {
                    (jump - l.nanos).abs() <= tolerance
                        && (at.local.nanos() - l.at.nanos()).abs() <= LEAP_WINDOW_NS
                });
                if leap.is_some() {
                    // The kernel applied the announced leap second: on the books like a step
                    // of ours, nothing restarted.
                    self.external_total = self.external_total.saturating_add(jump);
                    self.leap = None;
                } else if jump.abs() > tolerance {
                    self.external_total = self.external_total.saturating_add(jump);
                    self.external_steps += 1;
                    out.push(Action::Notice(Notice::ExternalStep { nanos: jump }));
                    self.after_external_step(self.sf(at.local));
                }
            }
            self.axes = Some((
                gap.saturating_sub(self.steps_total)
                    .saturating_sub(self.external_total),
                mono.nanos(),
            ));
        }
        self.sf(at.local)
    }

    fn after_external_step(&mut self, sf: i64) {
        if self.last_sample_sf.is_some() {
            self.resume_after_silence();
        }
        self.confirmed_sf = None;
        if self.gate.is_some() && !self.ntp_in_flight {
            self.next_ntp_sf = self.next_ntp_sf.min(sf);
        }
    }

    pub(super) fn total_ppm(&self) -> f64 {
        self.servo_ppm + self.slew.map_or(0.0, |s| s.ppm) + self.fleet.ppm
    }

    pub(super) fn integral_at(&self, sf: i64) -> f64 {
        self.integral_ns + self.total_ppm() * 1e-6 * (sf as f64 - self.integral_at_sf as f64)
    }

    /// Changes the total frequency at `sf`, keeping the integral exact.
    pub(super) fn rebase(&mut self, sf: i64) {
        self.integral_ns = self.integral_at(sf);
        self.integral_at_sf = sf;
    }

    pub(super) fn slew_remaining_ns(&self, sf: i64) -> f64 {
        self.slew.map_or(0.0, |s| {
            s.ppm * 1e-6 * s.end_sf.saturating_sub(sf).max(0) as f64
        })
    }

    /// Brings time-driven state up to `sf`: a slew that has run its course ends at its end.
    pub(super) fn advance(&mut self, sf: i64, out: &mut Vec<Action>) {
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
}
