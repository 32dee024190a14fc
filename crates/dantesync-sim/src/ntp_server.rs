//! An NTP server as the node's NTP client sees it: the offset of the local clock against true
//! UTC, measured with some error, or no answer at all.

use crate::rng::SimRng;

#[derive(Clone, Debug, PartialEq)]
pub struct NtpServerModel {
    /// Error of each measured offset, µs (σ): asymmetry and the server's own jitter.
    pub error_us: f64,
    /// Systematic error of the server's time, µs.
    pub bias_us: f64,
    /// Round-trip delay reported, µs.
    pub delay_us: f64,
    /// How long a check takes before its result is reported, ms.
    pub check_ms: f64,
    /// Probability that a check returns a wild offset (a confused server), and its size in ms.
    pub outlier_probability: f64,
    pub outlier_ms: f64,
    /// Probability that a check fails (no answer).
    pub failure_probability: f64,
    /// Probability that a check's report is lost altogether (the host never calls back).
    pub lost_probability: f64,
}

impl Default for NtpServerModel {
    fn default() -> Self {
        Self {
            error_us: 30.0,
            bias_us: 0.0,
            delay_us: 400.0,
            check_ms: 50.0,
            outlier_probability: 0.0,
            outlier_ms: 0.0,
            failure_probability: 0.0,
            lost_probability: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NtpAnswer {
    Failed,
    /// Server minus local, ns, and the round-trip delay.
    Offset {
        offset_ns: i64,
        delay_ns: i64,
    },
}

#[derive(Debug)]
pub struct NtpServer {
    model: NtpServerModel,
    rng: SimRng,
}

impl NtpServer {
    pub fn new(model: NtpServerModel, rng: SimRng) -> Self {
        Self { model, rng }
    }

    /// Whether the report of the check just started gets lost.
    pub fn loses_report(&mut self) -> bool {
        self.rng.chance(self.model.lost_probability)
    }

    pub fn check_ns(&self) -> i64 {
        (self.model.check_ms * 1e6) as i64
    }

    /// The answer to a check, given the local clock's true phase error (local − true, ns).
    pub fn answer(&mut self, local_minus_true_ns: f64) -> NtpAnswer {
        if self.rng.chance(self.model.failure_probability) {
            return NtpAnswer::Failed;
        }
        let mut error = self.model.bias_us * 1e3 + self.model.error_us * 1e3 * self.rng.gaussian();
        if self.rng.chance(self.model.outlier_probability) {
            error += self.model.outlier_ms * 1e6;
        }
        NtpAnswer::Offset {
            offset_ns: (-local_minus_true_ns + error).round() as i64,
            delay_ns: (self.model.delay_us * 1e3) as i64,
        }
    }
}
