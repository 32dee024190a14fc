//! The status snapshot: everything the UDP API, HTTP, logs and tray show.

use std::sync::Arc;

use crate::mode::Mode;
use crate::ntp_client::NtpSourceStatus;
use crate::query_server::QueryCounters;
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
    /// When the last PTP datagram of any kind came (from any sender, usable or not).
    pub last_ptp_packet: Option<LocalTime>,
    /// PTP datagrams per second over the 10 s up to the last one; `None` before any.
    pub ptp_packets_per_s: Option<f64>,
    pub leader: Option<LeaderStatus>,
    pub ntp: Option<NtpStatus>,
    pub ntp_failing: bool,
    /// Seconds until the next NTP check is due, as chosen from the accumulated phase.
    pub ntp_interval_s: f64,
    /// Integral of the drift since the last NTP correction, µs.
    pub accumulated_phase_us: f64,
    pub last_correction: Option<LocalTime>,
    pub ntp_corrections: u64,
    /// Whether this node's time is known from NTP now: NTP confirmed it within the last ten
    /// minutes (failed checks since then do not end it; see `time_confirmed`).
    pub time_synchronised: bool,
    /// When NTP last confirmed the time: the last correction, or the last check that found the
    /// clock within the correction threshold. The built-in server's root dispersion grows from
    /// it.
    pub time_confirmed: Option<LocalTime>,
    pub ptp: PtpCounters,
    pub estimator: EstimatorCounters,
    /// What the daemon adds when it reads the snapshot; the controller leaves it at its
    /// default (zero uptime, timestamping unknown, no query counters).
    pub host: HostStatus,
    /// Every configured NTP server as of the last check: address, truechimer / falseticker /
    /// unreachable / denied..., and its last burst (offset, delay, spread, samples). Shared, so
    /// that a snapshot stays cheap to copy (it is taken after every event).
    pub ntp_sources: Arc<[NtpSourceStatus]>,
    /// Steps of the clock made by someone else (an admin, a VM resume, another time service),
    /// seen as a jump of the local clock against the monotonic one.
    pub external_steps: u64,
    /// Path delay to the leader: state, filtered estimate and request counters.
    pub path_delay: crate::path_delay::PathDelayStatus,
    /// Classic or fleet (config `sync_mode`).
    pub sync_mode: crate::fleet::SyncMode,
    /// Fleet mode: state, phase error to leader + D + path delay, D and its age.
    pub fleet: super::FleetStatus,
    /// The fleet authority's D, policy and corrections, on the NTP master; None elsewhere.
    pub fleet_authority: Option<crate::fleet::AuthorityStatus>,
}

/// The daemon's own part of the snapshot: what the controller cannot know.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostStatus {
    /// Seconds since the daemon started.
    pub uptime_s: f64,
    /// How PTP datagrams are stamped.
    pub ptp_timestamping: RxTimestamping,
    /// The UDP query API's answers and drops.
    pub query: QueryCounters,
}

/// How received datagrams are stamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RxTimestamping {
    /// Nothing received yet.
    #[default]
    Unknown = 0,
    /// By the kernel (SO_TIMESTAMPNS) or the Windows stack (SIO_TIMESTAMPING): the time of
    /// arrival.
    Kernel = 1,
    /// Read right after `recv` returned: later by the scheduling latency.
    UserSpace = 2,
}

impl RxTimestamping {
    pub fn describe(self) -> &'static str {
        match self {
            RxTimestamping::Unknown => "none yet",
            RxTimestamping::Kernel if cfg!(windows) => "kernel (SIO_TIMESTAMPING)",
            RxTimestamping::Kernel => "kernel (SO_TIMESTAMPNS)",
            RxTimestamping::UserSpace => "user space (read after recv)",
        }
    }

    /// Short name for machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            RxTimestamping::Unknown => "unknown",
            RxTimestamping::Kernel => "kernel",
            RxTimestamping::UserSpace => "user-space",
        }
    }
}
