//! What fleet mode does when the ramp detector sees a leader's frequency step: a *bridge*
//! (the frequency moved at once by the detected ramp, until the estimator's own estimate
//! takes over) and a *recovery* (the phase already lost, slewed back on a plan the phase loop
//! sees through), with the phase loop hurried meanwhile (docs/servo.md).

use super::Fleet;
use crate::fleet::Ramp;
use crate::time::secs_to_nanos;

/// A bridge is handed back to the estimator after this long whatever it says.
const BRIDGE_TIMEOUT_S: f64 = 60.0;
/// The shortest recovery of an accumulated phase (s).
const RECOVERY_MIN_S: f64 = 4.0;
/// How long the phase loop stays hurried after a recovery's planned end (s).
const HURRY_AFTER_RECOVERY_S: f64 = 30.0;

/// The frequency a detected ramp moved the clock by, until the estimator takes over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bridge {
    /// The rate estimate when the first ramp was detected (ppm).
    pub(super) slope0_ppm: f64,
    /// The change of frequency applied on top of it (ppm, the opposite of the ramps).
    pub(super) ppm: f64,
    /// Standard error of `ppm` (the fits' combined).
    pub(super) sigma_ppm: f64,
    /// Until when it holds without a kink (sf).
    pub(super) until_sf: i64,
    /// The estimator has seen the change since (a kink or a restart).
    pub(super) confirmed: bool,
}

/// The accumulated phase being slewed back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Recovery {
    /// Phase still to remove (ns, positive = the clock is ahead).
    pub(super) remaining_ns: f64,
    /// When it should be gone (sf), and the last sample's time (sf).
    pub(super) end_sf: i64,
    pub(super) last_sf: i64,
    /// The frequency it applies now (ppm).
    pub(super) ppm: f64,
}

impl Fleet {
    /// A ramp of the phase error was detected at `sf` (rate estimate `slope_ppm` then):
    /// the frequency moves by it at once and the accumulated phase is planned away.
    pub(super) fn on_ramp(&mut self, sf: i64, r: Ramp, slope_ppm: f64, remaining_ns: f64) {
        let until_sf = sf.saturating_add(secs_to_nanos(BRIDGE_TIMEOUT_S));
        self.bridge = Some(match self.bridge {
            Some(b) => Bridge {
                ppm: b.ppm - r.sure_rate_ppm(),
                sigma_ppm: b.sigma_ppm.hypot(r.sigma_ppm),
                until_sf,
                ..b
            },
            None => Bridge {
                slope0_ppm: slope_ppm,
                ppm: -r.sure_rate_ppm(),
                sigma_ppm: r.sigma_ppm,
                until_sf,
                confirmed: false,
            },
        });
        let amount = r.phase_ns + remaining_ns;
        let rate_ns_per_s = self.phase.config().max_slew_ppm * 1e3;
        let secs = (amount.abs() / rate_ns_per_s).max(RECOVERY_MIN_S);
        self.recovery = Some(Recovery {
            remaining_ns: amount,
            end_sf: sf.saturating_add(secs_to_nanos(secs)),
            last_sf: sf,
            ppm: 0.0,
        });
        // The filtered error lags the ramp; from now on the residual is flat again, but for
        // what the fit got wrong: that is taken up hurried, for as long as the recovery
        // lasts and a few of the hurried loop's settling times after it.
        self.phase.restart_phase();
        self.phase
            .hurry(sf.saturating_add(secs_to_nanos(secs + HURRY_AFTER_RECOVERY_S)));
    }

    /// The recovery's frequency from `sf` on, after accounting what it removed since the last
    /// sample; `None` once it is done.
    pub(super) fn recovery_ppm(&mut self, sf: i64) -> f64 {
        let Some(r) = self.recovery.as_mut() else {
            return 0.0;
        };
        let dt = (sf - r.last_sf) as f64 * 1e-9;
        r.remaining_ns += r.ppm * 1e3 * dt;
        r.last_sf = sf;
        let left_s = (r.end_sf - sf) as f64 * 1e-9;
        if left_s <= 0.0 || r.remaining_ns.abs() < 100.0 {
            self.recovery = None;
            return 0.0;
        }
        let limit = self.phase.config().max_slew_ppm;
        r.ppm = (-r.remaining_ns / left_s.max(0.25) * 1e-3).clamp(-limit, limit);
        r.ppm
    }
}
