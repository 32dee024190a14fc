//! The status snapshot: everything the UDP API, HTTP, logs and tray show.

use crate::mode::Mode;
use crate::ntp_client::NtpSourceStatus;
use crate::servo::estimator::EstimatorCounters;
use crate::source::{LeaderId, LeaderQuality, PtpCounters};
use crate::time::LocalTime;

/// The leader as the status surfaces show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeaderStatus {
    pub id: LeaderId,
    pub quality: Option<LeaderQuality>,
    /// The advertised Sync interval, log2 seconds.
    pub sync_interval_log2: Option<i8>,
}

/// The last NTP check that completed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NtpStatus {
    /// Measured offset (server − local), ns.
    pub offset_ns: i64,
    pub delay_ns: i64,
    pub at: LocalTime,
}

/// A snapshot of the controller, cheap to copy.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub mode: Mode,
    /// Estimated drift of the disciplined clock against the leader now: the rate of change of
    /// the PTP offset that the applied frequency has not yet removed (µs/s = ppm).
    pub drift_ppm: Option<f64>,
    /// Standard error of `drift_ppm`.
    pub drift_sigma_ppm: Option<f64>,
    /// |drift| + 3σ: what LOCK and NANO are decided on.
    pub error_bound_ppm: Option<f64>,
    /// The local oscillator's natural rate against the leader, as estimated.
    pub natural_rate_ppm: Option<f64>,
    /// Whether a frequency learned in an earlier run still contributes to the rate.
    pub learned_prior: bool,
    /// Frequency the servo applies (ppm), without any NTP slew.
    pub applied_ppm: f64,
    /// Extra frequency of an NTP slew in progress.
    pub slew_ppm: f64,
    /// Timestamp noise around the fit, µs.
    pub noise_us: Option<f64>,
    pub window_samples: usize,
    pub window_s: f64,
    /// Last raw PTP offset T2 − T1 (meaningless in absolute terms: Dante sends uptime), ns.
    pub ptp_offset_ns: Option<i128>,
    pub last_ptp_sample: Option<LocalTime>,
    pub leader: Option<LeaderStatus>,
    pub ntp: Option<NtpStatus>,
    pub ntp_failing: bool,
    /// Seconds until the next NTP check is due, as chosen from the accumulated phase.
    pub ntp_interval_s: f64,
    /// Integral of the drift since the last NTP correction, µs.
    pub accumulated_phase_us: f64,
    pub last_correction: Option<LocalTime>,
    pub ntp_corrections: u64,
    /// Whether this node's time is known from NTP now: two checks agreed within the last
    /// ten minutes and the latest check did not fail.
    pub time_synchronised: bool,
    pub ptp: PtpCounters,
    pub estimator: EstimatorCounters,
    /// Every configured NTP server as of the last check: address, truechimer / falseticker /
    /// unreachable / denied..., and its last burst (offset, delay, spread, samples).
    pub ntp_sources: Vec<NtpSourceStatus>,
}
