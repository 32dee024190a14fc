//! What the daemon's tasks share: the clock, the latest status, counters, and the events they
//! send the engine.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use dantesync_clock::Clock;
use dantesync_core::controller::HostStatus;
use dantesync_core::ntp_client::NtpSourceStatus;
use dantesync_core::ntp_server::{Counters as NtpServerCounters, UpstreamInfo};
use dantesync_core::query_server::QueryCounters;
use dantesync_core::wire::ptpv1::{Message, ParseError};
use dantesync_core::{LocalTime, Moment, MonoTime, NtpMeasurement, Status};

use super::kernel_sync::KernelShared;
use crate::config::PtpSettings;

/// The monotonic axis: nanoseconds since the first reading in this process, from
/// `std::time::Instant` (CLOCK_MONOTONIC on Linux, QueryPerformanceCounter on Windows), which
/// no one can step.
pub fn mono_now() -> MonoTime {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    MonoTime::from_nanos(i64::try_from(origin.elapsed().as_nanos()).unwrap_or(i64::MAX))
}

/// An input for the engine task, which owns the controller.
#[derive(Debug)]
pub enum Event {
    /// A PTP datagram, parsed once by the receive task, and its receive time on the
    /// disciplined clock. A datagram that does not parse is still handed on: the controller
    /// counts it.
    Ptp {
        message: Result<Message, ParseError>,
        rx: LocalTime,
    },
    /// The outcome of one NTP check.
    Ntp(NtpReport),
    /// An operator's coordinated correction of D (the fleet authority only), asked on
    /// loopback through the query port; the answer goes back on the channel.
    FleetCorrect(super::fleet::CorrectAnswer),
    /// An announcement of D heard from the fleet's authority.
    FleetAnnouncement(dantesync_core::fleet::FleetTimescale),
}

/// What one NTP check came to.
#[derive(Debug)]
pub enum NtpCheck {
    /// The combined measurement of the truechimers.
    Measured(NtpMeasurement),
    /// No server was due: each one rests between its polls (a server outside the LAN is
    /// asked every 64 s). Nothing was learned and nothing failed.
    NothingDue,
    /// No usable answer, and why (for the debug log).
    Failed(String),
}

/// One NTP check as the client reports it to the engine.
#[derive(Debug)]
pub struct NtpReport {
    pub result: NtpCheck,
    /// Every configured server as of this check, for the status.
    pub sources: Vec<NtpSourceStatus>,
}

/// How PTP datagrams are stamped (the core's enum: the status snapshot carries it).
pub use dantesync_core::controller::RxTimestamping as Timestamping;

/// Shared by every task. The clock is behind a mutex held only for single calls (a read, a
/// frequency write), so a reader never waits long.
pub struct Shared {
    pub clock: Mutex<Box<dyn Clock + Send>>,
    pub status: Mutex<Status>,
    pub ptp: PtpSettings,
    /// PTP datagrams dropped by `ptp.source_allowlist`.
    pub ptp_dropped_source: AtomicU64,
    /// The query API's counters, as its task last published them.
    query: Mutex<QueryCounters>,
    timestamping: AtomicU8,
    /// The NTP server's counters as its task last published them; `None` while it is off.
    ntp_server: Mutex<Option<NtpServerCounters>>,
    /// When the daemon started (for the uptime the status surfaces show).
    pub started: Instant,
    /// The upstream NTP server the last combined offset rests on most, as its reply described
    /// itself: what the built-in NTP server derives its stratum, reference id and root
    /// distance from.
    upstream: Mutex<Option<UpstreamInfo>>,
    /// What the kernel was told about the clock, and another program's changes seen.
    pub kernel: KernelShared,
}

impl Shared {
    pub fn new(clock: Box<dyn Clock + Send>, status: Status, ptp: PtpSettings) -> Self {
        Self {
            clock: Mutex::new(clock),
            status: Mutex::new(status),
            ptp,
            ptp_dropped_source: AtomicU64::new(0),
            query: Mutex::new(QueryCounters::default()),
            timestamping: AtomicU8::new(Timestamping::Unknown as u8),
            ntp_server: Mutex::new(None),
            started: Instant::now(),
            upstream: Mutex::new(None),
            kernel: KernelShared::default(),
        }
    }

    /// The clock; a task that panicked while holding it leaves it usable (its calls are
    /// single system calls, so there is no half-done state to protect).
    pub fn clock(&self) -> MutexGuard<'_, Box<dyn Clock + Send>> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now(&self) -> LocalTime {
        self.clock().now()
    }

    /// Now on both axes: the disciplined clock and the monotonic one ([`mono_now`]), read
    /// back to back.
    pub fn moment(&self) -> Moment {
        let clock = self.clock();
        let mono = mono_now();
        Moment::new(clock.now(), mono)
    }

    /// A receive timestamp of the disciplined clock on both axes. The kernel stamps only
    /// the disciplined clock; its monotonic time is derived with the two clocks' difference
    /// now (the datagram arrived moments ago), so a step by someone else shows in the next
    /// input's difference, never as an error of this one.
    pub fn rx_moment(&self, rx: LocalTime) -> Moment {
        let now = self.moment();
        let mono = now.mono.unwrap_or_default().nanos();
        let age = now.local.nanos_since(rx);
        Moment::new(rx, MonoTime::from_nanos(mono.saturating_sub(age)))
    }

    pub fn publish_upstream(&self, upstream: UpstreamInfo) {
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner) = Some(upstream);
    }

    /// The upstream server of the last good NTP check, if any.
    pub fn upstream(&self) -> Option<UpstreamInfo> {
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When a datagram arrived, on the disciplined clock: see [`arrival`].
    #[cfg_attr(
        not(target_os = "linux"),
        allow(dead_code, reason = "kernel stamps: Linux")
    )]
    pub fn rx_time(&self, kernel_ns: Option<i64>) -> LocalTime {
        arrival(self.clock().as_ref(), kernel_ns)
    }

    /// The latest snapshot, with the daemon's own part ([`HostStatus`]) filled in.
    pub fn status(&self) -> Status {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        status.host = HostStatus {
            uptime_s: self.started.elapsed().as_secs_f64(),
            ptp_timestamping: self.timestamping(),
            query: self.query_counters(),
        };
        status
    }

    pub fn query_counters(&self) -> QueryCounters {
        *self.query.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn publish_query_counters(&self, counters: QueryCounters) {
        *self.query.lock().unwrap_or_else(PoisonError::into_inner) = counters;
    }

    pub fn publish(&self, status: Status) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    pub fn publish_ntp_server(&self, counters: NtpServerCounters) {
        *self
            .ntp_server
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(counters);
    }

    /// The NTP server's counters; `None` when the server is not running.
    pub fn ntp_server_counters(&self) -> Option<NtpServerCounters> {
        *self
            .ntp_server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn ptp_source_allowed(&self, ip: IpAddr) -> bool {
        self.ptp.source_allowed(ip)
    }

    /// Records how datagrams are stamped; the first time (and on a change) it is logged.
    pub fn note_timestamping(&self, t: Timestamping) {
        let old = self.timestamping.swap(t as u8, Ordering::Relaxed);
        if old != t as u8 {
            tracing::info!("PTP receive timestamps: {}", t.describe());
        }
    }

    pub fn timestamping(&self) -> Timestamping {
        match self.timestamping.load(Ordering::Relaxed) {
            1 => Timestamping::Kernel,
            2 => Timestamping::UserSpace,
            _ => Timestamping::Unknown,
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("clock", &self.clock().name())
            .field("timestamping", &self.timestamping())
            .finish_non_exhaustive()
    }
}

/// When a datagram arrived, on `clock`: its kernel receive stamp (realtime ns) mapped into the
/// clock's timescale, or the clock read now when the kernel gave none.
pub fn arrival(clock: &(dyn Clock + Send), kernel_ns: Option<i64>) -> LocalTime {
    match kernel_ns {
        Some(ns) => clock.map_kernel_timestamp(LocalTime::from_nanos(ns)),
        None => clock.now(),
    }
}
