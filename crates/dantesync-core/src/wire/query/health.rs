//! What extended version 2 appended, in the 48 bytes version 1 reserved (336–383): whether the
//! node can be trusted as the machine's time daemon right now. How long since a PTP datagram
//! arrived and how many come per second, the steps of the clock someone else made, the changes
//! of its frequency or status by another program, the leap second announced, and what the
//! kernel was told about synchronisation. The reply keeps its length, so a version-1 reader
//! reads a version-2 reply unchanged (these bytes were reserved to it).

use super::extended::{at, from_opt, opt};

/// The leap second the upstream servers' majority announces for the end of this month
/// (byte 368). Codes this version does not know are kept as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LeapPending {
    #[default]
    None,
    Insert,
    Delete,
    Other(u8),
}

impl LeapPending {
    pub const fn code(self) -> u8 {
        match self {
            LeapPending::None => 0,
            LeapPending::Insert => 1,
            LeapPending::Delete => 2,
            LeapPending::Other(c) => c,
        }
    }

    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => LeapPending::None,
            1 => LeapPending::Insert,
            2 => LeapPending::Delete,
            c => LeapPending::Other(c),
        }
    }

    /// `none`, `insert`, `delete` (as `/api/status` says), or `unknown`.
    pub const fn name(self) -> &'static str {
        match self {
            LeapPending::None => "none",
            LeapPending::Insert => "insert",
            LeapPending::Delete => "delete",
            LeapPending::Other(_) => "unknown",
        }
    }
}

/// What the node last told the kernel about its clock's synchronisation (byte 369).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KernelSync {
    /// The clock has no such status (a simulated clock, Windows).
    #[default]
    NotApplicable,
    /// STA_UNSYNC clear: the kernel (and `timedatectl`) take the clock as synchronised.
    Synchronised,
    /// STA_UNSYNC set.
    Unsynchronised,
    Other(u8),
}

impl KernelSync {
    pub const fn code(self) -> u8 {
        match self {
            KernelSync::NotApplicable => 0,
            KernelSync::Synchronised => 1,
            KernelSync::Unsynchronised => 2,
            KernelSync::Other(c) => c,
        }
    }

    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => KernelSync::NotApplicable,
            1 => KernelSync::Synchronised,
            2 => KernelSync::Unsynchronised,
            c => KernelSync::Other(c),
        }
    }

    /// As `/api/status`'s `node.kernel_synchronised`: `Some(true)`, `Some(false)`, or `None`
    /// when the clock has no such status (or the code is unknown).
    pub const fn as_bool(self) -> Option<bool> {
        match self {
            KernelSync::Synchronised => Some(true),
            KernelSync::Unsynchronised => Some(false),
            KernelSync::NotApplicable | KernelSync::Other(_) => None,
        }
    }

    pub const fn from_bool(synchronised: Option<bool>) -> Self {
        match synchronised {
            Some(true) => KernelSync::Synchronised,
            Some(false) => KernelSync::Unsynchronised,
            None => KernelSync::NotApplicable,
        }
    }
}

/// The fields of extended version 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtendedHealth {
    /// ns since the last PTP datagram of any kind arrived, when the reply was made; `None`
    /// before the first (offset 336).
    pub since_last_ptp_ns: Option<i64>,
    /// PTP datagrams per second over the last 10 s, × 1000 (0 once none came for 10 s);
    /// `None` before the first (offset 344).
    pub ptp_packets_per_s_milli: Option<i64>,
    /// Steps of the clock made by someone else, seen since start (offset 352).
    pub external_steps: u64,
    /// Changes of the clock's frequency or status by another program, seen since start
    /// (offset 360).
    pub clock_interference: u64,
    pub leap_pending: LeapPending,
    pub kernel_sync: KernelSync,
}

impl ExtendedHealth {
    pub(super) fn write(&self, out: &mut [u8]) {
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(
            at::SINCE_LAST_PTP,
            &opt(self.since_last_ptp_ns).to_be_bytes(),
        );
        put(
            at::PTP_PACKETS_PER_S,
            &opt(self.ptp_packets_per_s_milli).to_be_bytes(),
        );
        put(at::EXTERNAL_STEPS, &self.external_steps.to_be_bytes());
        put(
            at::CLOCK_INTERFERENCE,
            &self.clock_interference.to_be_bytes(),
        );
        put(at::LEAP_PENDING, &[self.leap_pending.code()]);
        put(at::KERNEL_SYNC, &[self.kernel_sync.code()]);
    }

    pub(super) fn read(b: &[u8]) -> Self {
        let u64_at = |at: usize| {
            u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes inside the reply"))
        };
        let opt = |at: usize| from_opt(u64_at(at) as i64);
        ExtendedHealth {
            since_last_ptp_ns: opt(at::SINCE_LAST_PTP),
            ptp_packets_per_s_milli: opt(at::PTP_PACKETS_PER_S),
            external_steps: u64_at(at::EXTERNAL_STEPS),
            clock_interference: u64_at(at::CLOCK_INTERFERENCE),
            leap_pending: LeapPending::from_code(b[at::LEAP_PENDING]),
            kernel_sync: KernelSync::from_code(b[at::KERNEL_SYNC]),
        }
    }

    /// Seconds since the last PTP datagram.
    pub fn since_last_ptp_s(&self) -> Option<f64> {
        self.since_last_ptp_ns.map(|ns| ns as f64 / 1e9)
    }

    /// PTP datagrams per second.
    pub fn ptp_packets_per_s(&self) -> Option<f64> {
        self.ptp_packets_per_s_milli.map(|m| m as f64 / 1e3)
    }
}
