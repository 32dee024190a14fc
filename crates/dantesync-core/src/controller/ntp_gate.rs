//! The NTP step gate: when a measured UTC offset may correct the clock, and how.
//!
//! One NTP check never corrects the clock on its own: a correction needs two consecutive
//! checks that agree, so a single bad answer (a delayed reply, a confused server) is refused.
//! Small corrections are slewed (a bounded extra frequency on top of the PTP rate, kinder to
//! audio than a jump); large ones step. The gate only decides; the controller executes and
//! accounts for what it did, so the servo can discount its own corrections.

/// Tuning of the gate.
#[derive(Clone, Debug, PartialEq)]
pub struct NtpGateConfig {
    /// Two checks agree when they differ by at most this much (µs)...
    pub agree_abs_us: f64,
    /// ...or by at most this fraction of the larger offset.
    pub agree_rel: f64,
    /// Corrections smaller than this (µs) are not worth making.
    pub min_correction_us: f64,
    /// Corrections up to this size (µs) are slewed, larger ones stepped.
    pub slew_max_offset_us: f64,
    /// The extra frequency a slew may use (ppm).
    pub slew_max_ppm: f64,
    /// A slew aims to finish in this many seconds (less extra frequency for small offsets).
    pub slew_target_s: f64,
    /// An offset beyond this (s) is refused unless it is the first correction after start.
    pub panic_threshold_s: Option<f64>,
    /// Whether the clock may be stepped backwards; when not, backward corrections are slewed.
    pub allow_backward_step: bool,
    /// Seconds before the check that confirms an unconfirmed offset.
    pub confirm_interval_s: f64,
}

impl Default for NtpGateConfig {
    fn default() -> Self {
        Self {
            agree_abs_us: 500.0,
            agree_rel: 0.1,
            min_correction_us: 10.0,
            slew_max_offset_us: 2_000.0,
            slew_max_ppm: 20.0,
            slew_target_s: 10.0,
            panic_threshold_s: Some(1000.0),
            allow_backward_step: true,
            confirm_interval_s: 5.0,
        }
    }
}

/// How a correction is carried out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Step,
    Slew { ppm: f64, duration_s: f64 },
}

/// What the gate says about one check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GateDecision {
    /// Correct the clock by `offset_ns` (positive = move it forward).
    Correct { offset_ns: i64, method: Method },
    /// The offset is not confirmed yet (first check, or it disagrees with the previous one).
    Unconfirmed,
    /// Confirmed, but too small to act on.
    TooSmall,
    /// Confirmed, but beyond the panic threshold.
    RefusedPanic,
}

#[derive(Debug)]
pub struct NtpGate {
    cfg: NtpGateConfig,
    previous_ns: Option<f64>,
    corrections: u64,
}

impl NtpGate {
    pub fn new(cfg: NtpGateConfig) -> Self {
        Self {
            cfg,
            previous_ns: None,
            corrections: 0,
        }
    }

    pub fn config(&self) -> &NtpGateConfig {
        &self.cfg
    }

    pub fn corrections(&self) -> u64 {
        self.corrections
    }

    fn agree(&self, a: f64, b: f64) -> bool {
        let diff_us = (a - b).abs() * 1e-3;
        let larger_us = a.abs().max(b.abs()) * 1e-3;
        diff_us <= self.cfg.agree_abs_us.max(self.cfg.agree_rel * larger_us)
    }

    /// The slew that moves the clock by `total_ns`: `slew_target_s` long, or longer at
    /// `slew_max_ppm`, in the direction of `total_ns`.
    pub fn slew_for(&self, total_ns: f64) -> Method {
        let wanted = total_ns.abs() * 1e-3 / self.cfg.slew_target_s.max(1e-3);
        let ppm = wanted.min(self.cfg.slew_max_ppm).copysign(total_ns);
        Method::Slew {
            ppm,
            duration_s: total_ns * 1e-9 / (ppm * 1e-6),
        }
    }

    /// Offers the offset of one check, net of any correction still in progress (ns).
    pub fn offer(&mut self, offset_ns: f64) -> GateDecision {
        let Some(previous) = self.previous_ns.replace(offset_ns) else {
            return GateDecision::Unconfirmed;
        };
        if !self.agree(previous, offset_ns) {
            return GateDecision::Unconfirmed;
        }
        let correction = 0.5 * (previous + offset_ns);
        let abs_us = correction.abs() * 1e-3;
        if abs_us < self.cfg.min_correction_us {
            return GateDecision::TooSmall;
        }
        if let Some(panic) = self.cfg.panic_threshold_s {
            if self.corrections > 0 && abs_us > panic * 1e6 {
                self.previous_ns = None;
                return GateDecision::RefusedPanic;
            }
        }
        let backward_refused = correction < 0.0 && !self.cfg.allow_backward_step;
        let method = if abs_us <= self.cfg.slew_max_offset_us || backward_refused {
            self.slew_for(correction)
        } else {
            Method::Step
        };
        self.corrections += 1;
        // The next correction needs two fresh checks of the corrected clock.
        self.previous_ns = None;
        GateDecision::Correct {
            offset_ns: correction.round() as i64,
            method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outlier_is_refused_two_agreeing_checks_correct() {
        let mut g = NtpGate::new(NtpGateConfig::default());
        assert_eq!(
            g.offer(5e6),
            GateDecision::Unconfirmed,
            "first check alone never corrects"
        );
        assert_eq!(
            g.offer(250e6),
            GateDecision::Unconfirmed,
            "disagrees with 5 ms"
        );
        assert_eq!(
            g.offer(5.2e6),
            GateDecision::Unconfirmed,
            "disagrees with 250 ms"
        );
        match g.offer(5.0e6) {
            GateDecision::Correct {
                offset_ns,
                method: Method::Step,
            } => assert_eq!(offset_ns, 5_100_000),
            other => panic!("expected a 5.1 ms step, got {other:?}"),
        }
        assert_eq!(g.corrections(), 1);
    }

    #[test]
    fn small_offsets_are_slewed_and_tiny_ones_ignored() {
        let mut g = NtpGate::new(NtpGateConfig::default());
        g.offer(-800e3);
        match g.offer(-600e3) {
            GateDecision::Correct {
                offset_ns: -700_000,
                method: Method::Slew { ppm, duration_s },
            } => {
                assert_eq!(ppm, -20.0);
                assert!(
                    (duration_s - 35.0).abs() < 1e-9,
                    "700 µs at 20 ppm: {duration_s}"
                );
            }
            other => panic!("expected a slew, got {other:?}"),
        }
        // 50 µs: a gentle 5 ppm for the 10 s target rather than the 20 ppm maximum.
        g.offer(40e3);
        match g.offer(60e3) {
            GateDecision::Correct {
                offset_ns: 50_000,
                method: Method::Slew { ppm, duration_s },
            } => {
                assert!(
                    (ppm - 5.0).abs() < 1e-9 && (duration_s - 10.0).abs() < 1e-9,
                    "{ppm} {duration_s}"
                );
            }
            other => panic!("expected a gentle slew, got {other:?}"),
        }
        assert_eq!(
            g.offer(4e3),
            GateDecision::Unconfirmed,
            "fresh pair after a correction"
        );
        assert_eq!(g.offer(6e3), GateDecision::TooSmall);
    }

    #[test]
    fn panic_threshold_spares_only_the_first_correction() {
        let cfg = NtpGateConfig {
            panic_threshold_s: Some(10.0),
            ..NtpGateConfig::default()
        };
        let mut g = NtpGate::new(cfg);
        g.offer(3600e9);
        assert!(matches!(
            g.offer(3600e9),
            GateDecision::Correct {
                method: Method::Step,
                ..
            }
        ));
        g.offer(-20e9);
        assert_eq!(g.offer(-20e9), GateDecision::RefusedPanic);
    }

    #[test]
    fn backward_steps_can_be_disallowed() {
        let cfg = NtpGateConfig {
            allow_backward_step: false,
            ..NtpGateConfig::default()
        };
        let mut g = NtpGate::new(cfg);
        g.offer(-50e6);
        assert!(matches!(
            g.offer(-50e6),
            GateDecision::Correct {
                method: Method::Slew { .. },
                ..
            }
        ));
    }
}
