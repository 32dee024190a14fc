//! The one place where the mode is decided.
//!
//! LOCK and NANO are claims about the true frequency error, so they rest on a bound of it:
//! |estimated residual| + 3 standard errors. Moving up needs the bound to hold on consecutive
//! evaluations; moving down is quick (a few evaluations, at once when the bound is far above the
//! threshold or most recent samples are outliers). The counters saturate, so no amount of good
//! history can keep a lock alive on bad input.

use crate::mode::Mode;

#[derive(Clone, Debug, PartialEq)]
pub struct ModeThresholds {
    /// Bound (ppm) below which the servo is converging gently (PROD).
    pub prod_ppm: f64,
    /// Bound below which the node is locked.
    pub lock_ppm: f64,
    /// Bound below which the node is in fine lock.
    pub nano_ppm: f64,
    /// Consecutive evaluations before moving to a better mode.
    pub confirm_up: u8,
    /// Consecutive evaluations before moving to a worse mode (when not urgent).
    pub confirm_down: u8,
    /// Fraction of recent samples that are outliers beyond which the input counts as degraded.
    pub degraded_outlier_fraction: f64,
}

impl Default for ModeThresholds {
    fn default() -> Self {
        Self {
            prod_ppm: 50.0,
            lock_ppm: 5.0,
            nano_ppm: 0.5,
            confirm_up: 2,
            confirm_down: 3,
            degraded_outlier_fraction: 0.5,
        }
    }
}

/// Everything the decision looks at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModeInputs {
    /// Seconds since the last usable PTP sample, None if there has been none.
    pub ptp_silent_s: Option<f64>,
    /// Seconds since the controller started.
    pub since_start_s: f64,
    pub offline_timeout_s: f64,
    /// Upper bound of the frequency error (ppm), None while there is no estimate.
    pub error_bound_ppm: Option<f64>,
    /// Fraction of recent samples rejected as outliers.
    pub recent_outlier_fraction: f64,
    /// Whether a new sample arrived since the last evaluation. Confirmations count only fresh
    /// evidence: the same estimate seen again (on a Follow_Up's Sync, a timer tick) is no
    /// second opinion.
    pub fresh: bool,
}

#[derive(Debug)]
pub struct ModeSelector {
    t: ModeThresholds,
    mode: Mode,
    up: u8,
    down: u8,
}

fn rank(mode: Mode) -> u8 {
    match mode {
        Mode::Init | Mode::NtpOnly => 0,
        Mode::Acq => 1,
        Mode::Prod => 2,
        Mode::Lock => 3,
        Mode::Nano => 4,
    }
}

impl ModeSelector {
    pub fn new(t: ModeThresholds) -> Self {
        Self {
            t,
            mode: Mode::Init,
            up: 0,
            down: 0,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn thresholds(&self) -> &ModeThresholds {
        &self.t
    }

    fn threshold(&self, mode: Mode) -> f64 {
        match mode {
            Mode::Nano => self.t.nano_ppm,
            Mode::Lock => self.t.lock_ppm,
            Mode::Prod => self.t.prod_ppm,
            _ => f64::INFINITY,
        }
    }

    fn classify(&self, bound: f64) -> Mode {
        if bound < self.t.nano_ppm {
            Mode::Nano
        } else if bound < self.t.lock_ppm {
            Mode::Lock
        } else if bound < self.t.prod_ppm {
            Mode::Prod
        } else {
            Mode::Acq
        }
    }

    /// Re-evaluates the mode and returns it.
    pub fn update(&mut self, i: &ModeInputs) -> Mode {
        let silent_too_long = match i.ptp_silent_s {
            Some(s) => s >= i.offline_timeout_s,
            None => i.since_start_s >= i.offline_timeout_s,
        };
        if silent_too_long {
            return self.set(Mode::NtpOnly);
        }
        let Some(bound) = i.error_bound_ppm else {
            return self.set(if i.ptp_silent_s.is_none() && self.mode == Mode::Init {
                Mode::Init
            } else {
                Mode::Acq
            });
        };
        let degraded = i.recent_outlier_fraction > self.t.degraded_outlier_fraction;
        let mut target = self.classify(bound);
        if degraded && rank(target) > rank(Mode::Prod) {
            target = Mode::Prod;
        }
        let current = self.mode;
        if target == current
            || (matches!(current, Mode::Init | Mode::NtpOnly) && target == Mode::Acq)
        {
            self.up = 0;
            self.down = 0;
            return self.set(target);
        }
        if !i.fresh {
            // No new sample: nothing to confirm. Only an urgent downgrade acts at once.
            let urgent = degraded || bound > 2.0 * self.threshold(current);
            if rank(target) < rank(current) && urgent {
                return self.set(target);
            }
            return self.mode;
        }
        if rank(target) > rank(current) {
            self.down = 0;
            self.up = self.up.saturating_add(1);
            if self.up >= self.t.confirm_up {
                return self.set(target);
            }
        } else {
            self.up = 0;
            self.down = self.down.saturating_add(1);
            let urgent = degraded || bound > 2.0 * self.threshold(current);
            if urgent || self.down >= self.t.confirm_down {
                return self.set(target);
            }
        }
        self.mode
    }

    fn set(&mut self, mode: Mode) -> Mode {
        if mode != self.mode {
            self.up = 0;
            self.down = 0;
            self.mode = mode;
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(bound: Option<f64>, outliers: f64) -> ModeInputs {
        ModeInputs {
            ptp_silent_s: Some(0.1),
            since_start_s: 100.0,
            offline_timeout_s: 10.0,
            error_bound_ppm: bound,
            recent_outlier_fraction: outliers,
            fresh: true,
        }
    }

    #[test]
    fn only_fresh_samples_confirm_a_move() {
        let mut s = ModeSelector::new(ModeThresholds::default());
        s.update(&inputs(None, 0.0));
        s.update(&inputs(Some(3.0), 0.0));
        let stale = ModeInputs {
            fresh: false,
            ..inputs(Some(3.0), 0.0)
        };
        assert_eq!(
            s.update(&stale),
            Mode::Acq,
            "the same estimate again is no confirmation"
        );
        assert_eq!(s.update(&stale), Mode::Acq);
        assert_eq!(s.update(&inputs(Some(3.0), 0.0)), Mode::Lock);
        // Slightly above the threshold: stale evaluations never downgrade...
        let above = ModeInputs {
            fresh: false,
            ..inputs(Some(6.0), 0.0)
        };
        assert_eq!(s.update(&above), Mode::Lock);
        assert_eq!(s.update(&above), Mode::Lock);
        assert_eq!(s.update(&above), Mode::Lock);
        // ...but an urgent reason acts at once, fresh or not.
        let urgent = ModeInputs {
            fresh: false,
            ..inputs(Some(12.0), 0.0)
        };
        assert_eq!(s.update(&urgent), Mode::Prod);
    }

    #[test]
    fn up_needs_two_evaluations_down_is_quick() {
        let mut s = ModeSelector::new(ModeThresholds::default());
        assert_eq!(s.update(&inputs(None, 0.0)), Mode::Acq);
        assert_eq!(s.update(&inputs(Some(3.0), 0.0)), Mode::Acq);
        assert_eq!(s.update(&inputs(Some(3.0), 0.0)), Mode::Lock);
        assert_eq!(s.update(&inputs(Some(0.3), 0.0)), Mode::Lock);
        assert_eq!(s.update(&inputs(Some(0.3), 0.0)), Mode::Nano);
        // Slightly above: three evaluations. Far above: at once.
        assert_eq!(s.update(&inputs(Some(0.6), 0.0)), Mode::Nano);
        assert_eq!(s.update(&inputs(Some(0.6), 0.0)), Mode::Nano);
        assert_eq!(s.update(&inputs(Some(0.6), 0.0)), Mode::Lock);
        assert_eq!(s.update(&inputs(Some(12.0), 0.0)), Mode::Prod);
    }

    #[test]
    fn degraded_input_drops_lock_at_once_and_silence_means_ntp_only() {
        let mut s = ModeSelector::new(ModeThresholds::default());
        s.update(&inputs(Some(0.1), 0.0));
        s.update(&inputs(Some(0.1), 0.0));
        assert_eq!(s.update(&inputs(Some(0.1), 0.0)), Mode::Nano);
        assert_eq!(s.update(&inputs(Some(0.1), 0.6)), Mode::Prod);
        let silent = ModeInputs {
            ptp_silent_s: Some(10.5),
            ..inputs(Some(0.1), 0.0)
        };
        assert_eq!(s.update(&silent), Mode::NtpOnly);
        // Leaving NtpOnly is a move up like any other: it needs confirmation.
        assert_eq!(s.update(&inputs(Some(0.1), 0.0)), Mode::NtpOnly);
        assert_eq!(s.update(&inputs(Some(0.1), 0.0)), Mode::Nano);
    }

    #[test]
    fn init_until_the_first_sample_or_the_timeout() {
        let mut s = ModeSelector::new(ModeThresholds::default());
        let mut i = ModeInputs {
            ptp_silent_s: None,
            since_start_s: 5.0,
            offline_timeout_s: 10.0,
            error_bound_ppm: None,
            recent_outlier_fraction: 0.0,
            fresh: false,
        };
        assert_eq!(s.update(&i), Mode::Init);
        i.since_start_s = 10.5;
        assert_eq!(s.update(&i), Mode::NtpOnly);
    }
}
