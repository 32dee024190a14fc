//! The controller's books: what it did to the clock, so the servo sees through its own hands.
//!
//! Two accounts. The step-free axis (`sf`): local time minus every step the controller made,
//! on which all its own timekeeping runs, so a step never looks like elapsed time. And the
//! integral of the frequency it applied (servo plus any NTP slew), exact across every change,
//! which is subtracted from the PTP offsets before they reach the estimator. When the host
//! reports that the clock refused an action, the books follow the clock, not the wish.

use super::{Action, Controller};
use crate::time::LocalTime;

/// An NTP slew in progress: `ppm` on top of the servo's frequency until `end_sf`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slew {
    pub(super) ppm: f64,
    pub(super) end_sf: i64,
}

impl Controller {
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

    pub(super) fn sf(&self, t: LocalTime) -> i64 {
        t.nanos().saturating_sub(self.steps_total)
    }

    /// The inverse of [`Self::sf`]: a step-free time on the local clock as it reads now.
    pub(super) fn local(&self, sf: i64) -> LocalTime {
        LocalTime::from_nanos(sf.saturating_add(self.steps_total))
    }

    pub(super) fn total_ppm(&self) -> f64 {
        self.servo_ppm + self.slew.map_or(0.0, |s| s.ppm)
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
