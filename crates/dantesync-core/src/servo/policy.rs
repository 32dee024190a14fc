//! When to change the frequency, and to what.
//!
//! The target is always the negative of the estimated natural rate (so the disciplined clock
//! runs at the leader's rate). The policy only decides *when* to move there. It remembers how
//! well the frequency in force is known (`applied_sigma`: unknown at a cold start, about the
//! typical gap between two leaders after a leader change, the estimate's own standard error
//! once one was applied) and replaces it only with an estimate that is clearly better and says
//! the present frequency is significantly wrong; once the estimate is good, small refinements
//! follow, no more often than the mode's update interval. So a frequency that was right is
//! never traded for an early, noisy estimate (which is what keeps the true error small after a
//! leader change), and the clock stays calm once locked (no chasing of timestamp noise).

use crate::mode::Mode;

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyConfig {
    /// Residuals beyond this many standard errors are corrected at once (when the estimate is
    /// at least twice as certain as the frequency in force).
    pub significance: f64,
    /// How well a frequency learned against one leader fits the next one (ppm, one σ).
    pub leader_change_sigma_ppm: f64,
    /// Below this uncertainty (ppm) the estimate is good enough to refine on.
    pub refine_below_ppm: f64,
    /// Refinements smaller than this fraction of the uncertainty are not worth a change.
    pub refine_fraction: f64,
    /// Seconds between refinements in LOCK and NANO.
    pub lock_update_s: f64,
    pub nano_update_s: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            significance: 1.5,
            leader_change_sigma_ppm: 5.0,
            refine_below_ppm: 1.5,
            refine_fraction: 0.5,
            lock_update_s: 1.0,
            nano_update_s: 2.0,
        }
    }
}

/// What the policy decides on: the rate, its uncertainty with any prior, and the uncertainty
/// of the samples alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    pub slope_ppm: f64,
    pub sigma_ppm: f64,
    pub data_sigma_ppm: f64,
}

#[derive(Debug)]
pub struct FrequencyPolicy {
    cfg: PolicyConfig,
    last_update_s: f64,
    /// Standard error of the frequency in force (ppm); infinite when nothing is known.
    applied_sigma: f64,
}

impl FrequencyPolicy {
    pub fn new(cfg: PolicyConfig) -> Self {
        Self {
            cfg,
            last_update_s: f64::NEG_INFINITY,
            applied_sigma: f64::INFINITY,
        }
    }

    /// How well the frequency in force is known (ppm), e.g. for a learned frequency at start.
    pub fn set_applied_sigma(&mut self, sigma_ppm: f64) {
        self.applied_sigma = sigma_ppm;
    }

    pub fn applied_sigma(&self) -> f64 {
        self.applied_sigma
    }

    /// A new leader: the frequency stays, but is only as good as leaders agree with each other.
    pub fn leader_changed(&mut self) {
        self.applied_sigma = self.applied_sigma.max(self.cfg.leader_change_sigma_ppm);
    }

    /// The oscillator's own rate changed: the frequency in force is no longer known to be good.
    pub fn rate_changed(&mut self) {
        self.applied_sigma = f64::INFINITY;
    }

    /// The new servo frequency, if it should change, from what is `observed`, the servo's
    /// present frequency `applied_ppm`, its range `limit_ppm` and any monotonic `now_s`.
    pub fn decide(
        &mut self,
        mode: Mode,
        observed: Observed,
        applied_ppm: f64,
        limit_ppm: f64,
        now_s: f64,
    ) -> Option<f64> {
        let Observed {
            slope_ppm,
            sigma_ppm,
            data_sigma_ppm,
        } = observed;
        // Other terms of the total (an NTP slew, fleet mode's) may leave no room at all; a
        // negative room is none, never a reversed range.
        let limit_ppm = limit_ppm.max(0.0);
        let target = (-slope_ppm).clamp(-limit_ppm, limit_ppm);
        let residual = applied_ppm - target;
        let significant = sigma_ppm < 0.5 * self.applied_sigma
            && residual.abs() > self.cfg.significance * sigma_ppm;
        let interval = match mode {
            Mode::Nano => self.cfg.nano_update_s,
            Mode::Lock => self.cfg.lock_update_s,
            _ => 0.0,
        };
        // Refinements rest on the data alone: a prior can make an estimate look certain long
        // before the samples say anything, and trading a good frequency for it would only
        // move the clock.
        let refine = data_sigma_ppm < self.cfg.refine_below_ppm
            && sigma_ppm < self.cfg.refine_below_ppm
            && sigma_ppm <= self.applied_sigma
            && residual.abs() > self.cfg.refine_fraction * sigma_ppm
            && now_s - self.last_update_s >= interval;
        if (significant || refine) && target != applied_ppm {
            self.last_update_s = now_s;
            self.applied_sigma = sigma_ppm;
            Some(target)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(slope_ppm: f64, sigma_ppm: f64, data_sigma_ppm: f64) -> Observed {
        Observed {
            slope_ppm,
            sigma_ppm,
            data_sigma_ppm,
        }
    }

    #[test]
    fn no_room_left_by_other_terms_is_a_zero_range_not_a_panic() {
        // Seen in the bed: fleet mode's term near -5000 ppm left the servo a "range" of
        // 500 - 5000 ppm, and clamp(min > max) panicked the daemon.
        let mut p = FrequencyPolicy::new(PolicyConfig::default());
        assert_eq!(
            p.decide(Mode::Acq, obs(4527.0, 130.0, 130.0), -487.0, -4485.0, 1.0),
            Some(0.0)
        );
    }

    #[test]
    fn noisy_estimates_do_not_move_the_frequency() {
        let mut p = FrequencyPolicy::new(PolicyConfig::default());
        // 50 ppm natural drift, estimate 43 ± 30: not significant, not good enough to refine.
        assert_eq!(
            p.decide(Mode::Acq, obs(43.0, 30.0, 30.0), 0.0, 500.0, 1.0),
            None
        );
        // 50 ± 10: significant, go there at once.
        assert_eq!(
            p.decide(Mode::Acq, obs(50.0, 10.0, 10.0), 0.0, 500.0, 2.0),
            Some(-50.0)
        );
        // 30 ± 6 is no clear improvement on a frequency known to ±10.
        assert_eq!(
            p.decide(Mode::Prod, obs(30.0, 6.0, 6.0), -50.0, 500.0, 3.0),
            None
        );
        assert_eq!(
            p.decide(Mode::Prod, obs(30.0, 4.0, 4.0), -50.0, 500.0, 4.0),
            Some(-30.0)
        );
    }

    #[test]
    fn after_a_leader_change_the_held_frequency_wins_over_noisy_estimates() {
        let mut p = FrequencyPolicy::new(PolicyConfig::default());
        p.set_applied_sigma(0.01);
        p.leader_changed();
        assert_eq!(p.applied_sigma(), 5.0);
        // The new leader is 3 ppm away; an early estimate says 18 ± 9: keep what we have.
        assert_eq!(
            p.decide(Mode::Acq, obs(68.0, 9.0, 9.0), -50.0, 500.0, 1.0),
            None
        );
        assert_eq!(
            p.decide(Mode::Acq, obs(53.1, 1.6, 1.6), -50.0, 500.0, 2.0),
            Some(-53.1)
        );
        p.rate_changed();
        assert_eq!(
            p.decide(Mode::Lock, obs(60.0, 3.0, 3.0), -53.1, 500.0, 3.0),
            Some(-60.0)
        );
    }

    #[test]
    fn refinements_are_rate_limited_in_nano_and_clamped_to_the_limit() {
        let mut p = FrequencyPolicy::new(PolicyConfig::default());
        p.set_applied_sigma(0.02);
        assert_eq!(
            p.decide(Mode::Nano, obs(50.02, 0.01, 0.01), -50.0, 500.0, 10.0),
            Some(-50.02)
        );
        assert_eq!(
            p.decide(Mode::Nano, obs(50.04, 0.01, 0.01), -50.02, 500.0, 11.0),
            None,
            "within 2 s"
        );
        assert_eq!(
            p.decide(Mode::Nano, obs(50.04, 0.01, 0.01), -50.02, 500.0, 12.0),
            Some(-50.04)
        );
        assert_eq!(
            p.decide(Mode::Nano, obs(50.044, 0.01, 0.01), -50.04, 500.0, 20.0),
            None,
            "below half a sigma"
        );
        p.rate_changed();
        assert_eq!(
            p.decide(Mode::Acq, obs(900.0, 1.0, 1.0), 0.0, 500.0, 30.0),
            Some(-500.0)
        );
    }
}
