//! What the daemon's tasks share: the clock, the latest status, counters, and the events they
//! send the engine.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use dantesync_clock::Clock;
use dantesync_core::ntp_client::NtpSourceStatus;
use dantesync_core::{LocalTime, NtpMeasurement, Status};

use crate::config::PtpSettings;

/// An input for the engine task, which owns the controller.
#[derive(Debug)]
pub enum Event {
    /// A PTP datagram and its receive time on the disciplined clock.
    Ptp { bytes: Vec<u8>, rx: LocalTime },
    /// The outcome of one NTP check.
    Ntp(NtpReport),
}

/// One NTP check as the client reports it to the engine.
#[derive(Debug)]
pub struct NtpReport {
    /// The combined measurement of the truechimers, or why there is none (for the debug log).
    pub result: Result<NtpMeasurement, String>,
    /// Every configured server as of this check, for the status.
    pub sources: Vec<NtpSourceStatus>,
}

/// How PTP datagrams are stamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Timestamping {
    Unknown = 0,
    /// SO_TIMESTAMPNS: the kernel's time of arrival.
    Kernel = 1,
    /// Read right after `recv` returned: later by the scheduling latency.
    UserSpace = 2,
}

impl Timestamping {
    pub fn describe(self) -> &'static str {
        match self {
            Timestamping::Unknown => "none yet",
            Timestamping::Kernel if cfg!(windows) => "kernel (SIO_TIMESTAMPING)",
            Timestamping::Kernel => "kernel (SO_TIMESTAMPNS)",
            Timestamping::UserSpace => "user space (read after recv)",
        }
    }
}

/// Shared by every task. The clock is behind a mutex held only for single calls (a read, a
/// frequency write), so a reader never waits long.
pub struct Shared {
    pub clock: Mutex<Box<dyn Clock + Send>>,
    pub status: Mutex<Status>,
    pub ptp: PtpSettings,
    /// PTP datagrams dropped by `ptp.source_allowlist`.
    pub ptp_dropped_source: AtomicU64,
    /// Query API datagrams ignored (not allowed, not a request).
    pub query_dropped: AtomicU64,
    pub query_answered: AtomicU64,
    timestamping: AtomicU8,
}

impl Shared {
    pub fn new(clock: Box<dyn Clock + Send>, status: Status, ptp: PtpSettings) -> Self {
        Self {
            clock: Mutex::new(clock),
            status: Mutex::new(status),
            ptp,
            ptp_dropped_source: AtomicU64::new(0),
            query_dropped: AtomicU64::new(0),
            query_answered: AtomicU64::new(0),
            timestamping: AtomicU8::new(Timestamping::Unknown as u8),
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

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn publish(&self, status: Status) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status;
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
