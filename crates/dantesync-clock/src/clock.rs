//! The clock the engine disciplines, as a trait, and what can go wrong with it.
//!
//! Shaped like statime's `Clock`: the engine's [`Action`]s map one to one onto
//! [`Clock::set_frequency`] (absolute) and [`Clock::step`], failures come back as values, and
//! nothing here logs. Beyond statime's shape there is the kernel's synchronisation status (so
//! other programs can see the clock is disciplined), the detection of another program changing
//! the rate behind our back, and the mapping of kernel receive timestamps, which only differs
//! from the identity for the simulated clock.

use std::fmt;
use std::io;

use dantesync_core::controller::ClockControl;
use dantesync_core::LocalTime;

/// A clock whose rate and value dantesync controls.
pub trait Clock {
    /// A short name for logs and reports, e.g. "linux clock_adjtime".
    fn name(&self) -> &'static str;

    /// The clock's present reading.
    fn now(&self) -> LocalTime;

    /// Sets the frequency adjustment to `ppm` (absolute, positive = the clock runs faster),
    /// replacing whatever was set before. Values beyond [`Clock::max_frequency`] are refused.
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError>;

    /// The frequency adjustment in force, in ppm, as the operating system reports it (so a value
    /// another program set is seen, and quantisation is included).
    fn frequency(&self) -> Result<f64, ClockError>;

    /// The largest |ppm| [`Clock::set_frequency`] accepts.
    fn max_frequency(&self) -> f64;

    /// Moves the clock's value by `nanos` (positive = forward) in one operation, leaving its
    /// rate alone.
    fn step(&mut self, nanos: i64) -> Result<(), ClockError>;

    /// How the last [`Clock::step`] landed, for the log, when the backend measures it (Windows:
    /// the residual read back, the sets it took and the set latency learned); `Err` when it
    /// missed its tolerance. `None` when the backend has nothing to say (a step on Linux or a
    /// simulated clock lands exactly).
    fn step_report(&self) -> Option<Result<String, String>> {
        None
    }

    /// Tells the operating system whether the clock is synchronised and how good it is, for
    /// other programs that ask (`adjtimex`, `timedatectl`). A clock with no such notion ignores
    /// it.
    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        let _ = status;
        Ok(())
    }

    /// Whether [`Clock::set_sync_status`] reaches an operating system that keeps such a status
    /// (Linux's adjtimex), so the status surfaces can say "not applicable" for the others.
    fn keeps_sync_status(&self) -> bool {
        false
    }

    /// Whether another program changed the frequency since this clock last set or saw it.
    /// Each change is reported once (changes seen between two polls come as one: what was
    /// expected before the first, what was found after the last), so a caller can poll it and
    /// count and log what it gets.
    fn foreign_adjustment(&mut self) -> Result<Option<ForeignAdjustment>, ClockError> {
        Ok(None)
    }

    /// Whether another program changed the synchronisation status this clock set with
    /// [`Clock::set_sync_status`] (Linux: the STA_PLL, STA_FLL, STA_FREQHOLD, STA_PPS* and
    /// STA_UNSYNC flags) since it last set or saw it. Each change is reported once.
    fn foreign_status(&mut self) -> Result<Option<ForeignStatus>, ClockError> {
        Ok(None)
    }

    /// A kernel receive timestamp (taken on the host's system clock) as a reading of this clock.
    /// For a real system clock they are the same clock; a simulated clock maps it.
    fn map_kernel_timestamp(&self, host: LocalTime) -> LocalTime {
        host
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn now(&self) -> LocalTime {
        (**self).now()
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        (**self).set_frequency(ppm)
    }
    fn frequency(&self) -> Result<f64, ClockError> {
        (**self).frequency()
    }
    fn max_frequency(&self) -> f64 {
        (**self).max_frequency()
    }
    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        (**self).step(nanos)
    }
    fn step_report(&self) -> Option<Result<String, String>> {
        (**self).step_report()
    }
    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        (**self).set_sync_status(status)
    }
    fn keeps_sync_status(&self) -> bool {
        (**self).keeps_sync_status()
    }
    fn foreign_adjustment(&mut self) -> Result<Option<ForeignAdjustment>, ClockError> {
        (**self).foreign_adjustment()
    }
    fn foreign_status(&mut self) -> Result<Option<ForeignStatus>, ClockError> {
        (**self).foreign_status()
    }
    fn map_kernel_timestamp(&self, host: LocalTime) -> LocalTime {
        (**self).map_kernel_timestamp(host)
    }
}

/// Every clock carries out the controller's actions through the core's one executor
/// ([`dantesync_core::controller::execute`]). Implemented on the trait objects the daemon holds
/// (a blanket impl over `C: Clock` is not allowed for a trait of another crate).
impl ClockControl for dyn Clock + Send {
    type Error = ClockError;
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        Clock::set_frequency(self, ppm)
    }
    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        Clock::step(self, nanos)
    }
}

/// What the operating system is told about the clock's synchronisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// The clock's time is set from a trusted source (clears Linux's STA_UNSYNC).
    pub synchronised: bool,
    /// The most the clock can be off, ns (Linux `maxerror`; the kernel grows it by itself).
    pub max_error_ns: u64,
    /// The expected error, ns (Linux `esterror`).
    pub est_error_ns: u64,
    /// A leap second the kernel should apply at the coming midnight UTC (Linux STA_INS /
    /// STA_DEL); the caller arms it on the last day of June or December only.
    pub leap: LeapSecond,
}

/// A leap second to apply at the end of the day (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeapSecond {
    #[default]
    None,
    /// 23:59:59 is followed by 23:59:60.
    Insert,
    /// 23:59:58 is followed by 00:00:00.
    Delete,
}

impl LeapSecond {
    pub fn name(self) -> &'static str {
        match self {
            LeapSecond::None => "none",
            LeapSecond::Insert => "insert",
            LeapSecond::Delete => "delete",
        }
    }
}

/// Another program changed the clock's frequency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForeignAdjustment {
    /// What this process set (or found at start), ppm.
    pub expected_ppm: f64,
    /// What the operating system reports now, ppm.
    pub found_ppm: f64,
}

impl fmt::Display for ForeignAdjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another program changed the clock frequency behind dantesync's back: dantesync \
             set {:+.3} ppm, the system now reports {:+.3} ppm. Two programs disciplining one \
             clock fight each other; stop the other one (chronyd, ntpd, systemd-timesyncd, \
             ptp4l/phc2sys, w32time) or dantesync",
            self.expected_ppm, self.found_ppm
        )
    }
}

/// Another program changed the kernel's synchronisation status flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForeignStatus {
    /// The flags this process set (Linux STA_*, the writable ones it watches).
    pub expected: i32,
    /// The flags the operating system reports now.
    pub found: i32,
}

impl fmt::Display for ForeignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another program changed the kernel's clock status behind dantesync's back: \
             dantesync set the flags 0x{:04x}, the kernel now reports 0x{:04x}. Two programs \
             disciplining one clock fight each other; stop the other one (chronyd, ntpd, \
             systemd-timesyncd, ptp4l/phc2sys) or dantesync",
            self.expected, self.found
        )
    }
}

/// Why a clock operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// The process may not adjust the clock.
    #[error("{operation}: permission denied; {hint}")]
    PermissionDenied {
        operation: &'static str,
        hint: &'static str,
    },
    /// A frequency beyond what the clock can apply (or not a number).
    #[error("frequency {requested_ppm} ppm is outside this clock's range of ±{max_ppm} ppm")]
    FrequencyOutOfRange { requested_ppm: f64, max_ppm: f64 },
    /// The operating system lacks the interface.
    #[error("{operation} is not available: {reason}")]
    Unsupported {
        operation: &'static str,
        reason: String,
    },
    /// Any other failure the operating system reported.
    #[error("{operation} failed: {source}")]
    Os {
        operation: &'static str,
        #[source]
        source: io::Error,
    },
    /// The clock does not do what it is told (wrong sign or scale of a frequency adjustment,
    /// a step of the wrong size); running a servo on it would make things worse.
    #[error("clock self-test failed: {0}")]
    SelfTestFailed(String),
}

impl ClockError {
    /// An OS error, with permission failures turned into [`ClockError::PermissionDenied`]
    /// carrying `hint` (what the user can do about it).
    pub fn from_os(operation: &'static str, source: io::Error, hint: &'static str) -> Self {
        if source.kind() == io::ErrorKind::PermissionDenied {
            ClockError::PermissionDenied { operation, hint }
        } else {
            ClockError::Os { operation, source }
        }
    }
}

/// Which clock to open. How a configuration file spells it (`"clock": {"kind": ...}`) and
/// checks it belongs to the daemon's configuration, which builds this value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ClockConfig {
    /// The operating system's clock (needs root / CAP_SYS_TIME, or SeSystemtimePrivilege).
    #[default]
    System,
    /// A process-local virtual clock over the host clock; changes nothing on the machine.
    Simulated {
        /// The virtual oscillator's own rate error against the host clock, ppm.
        drift_ppm: f64,
        /// Its starting offset from the host clock, ms.
        offset_ms: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use dantesync_core::controller::{execute, Executed, Task};
    use dantesync_core::Action;

    #[derive(Default)]
    struct Recorder {
        ppm: f64,
        stepped: i64,
    }

    impl Clock for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn now(&self) -> LocalTime {
            LocalTime::from_nanos(self.stepped)
        }
        fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
            if ppm.abs() > self.max_frequency() {
                return Err(ClockError::FrequencyOutOfRange {
                    requested_ppm: ppm,
                    max_ppm: self.max_frequency(),
                });
            }
            self.ppm = ppm;
            Ok(())
        }
        fn frequency(&self) -> Result<f64, ClockError> {
            Ok(self.ppm)
        }
        fn max_frequency(&self) -> f64 {
            500.0
        }
        fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
            self.stepped += nanos;
            Ok(())
        }
        fn step_report(&self) -> Option<Result<String, String>> {
            (self.stepped != 0).then(|| Err(format!("{} ns off", self.stepped)))
        }
    }

    #[test]
    fn a_boxed_clock_passes_its_step_report_on() {
        let mut c: Box<dyn Clock + Send> = Box::new(Recorder::default());
        assert_eq!(c.step_report(), None);
        c.step(7).unwrap();
        assert_eq!(c.step_report(), Some(Err("7 ns off".to_owned())));
        let boxed_again: Box<Box<dyn Clock + Send>> = Box::new(c);
        assert_eq!(boxed_again.step_report(), Some(Err("7 ns off".to_owned())));
    }

    #[test]
    fn engine_actions_reach_the_clock_unchanged() {
        let mut c: Box<dyn Clock + Send> = Box::new(Recorder::default());
        assert!(matches!(
            execute(&mut *c, Action::SetFrequency { ppm: -37.25 }),
            Executed::FrequencySet { .. }
        ));
        assert!(matches!(
            execute(
                &mut *c,
                Action::Step {
                    nanos: -1_500_000_000
                }
            ),
            Executed::Stepped { .. }
        ));
        assert!(matches!(
            execute(&mut *c, Action::StartNtpCheck),
            Executed::Task(Task::StartNtpCheck)
        ));
        assert!(matches!(
            execute(
                &mut *c,
                Action::SetTimer {
                    at: LocalTime::from_nanos(5)
                }
            ),
            Executed::Task(Task::SetTimer { .. })
        ));
        assert_eq!(c.frequency().unwrap(), -37.25);
        assert_eq!(c.now().nanos(), -1_500_000_000);
        // Defaults: no foreign adjustment, kernel timestamps taken as they are.
        assert!(c.foreign_adjustment().unwrap().is_none());
        assert_eq!(
            c.map_kernel_timestamp(LocalTime::from_nanos(77)),
            LocalTime::from_nanos(77)
        );
    }

    #[test]
    fn a_refused_adjustment_comes_back_as_the_clocks_error() {
        let mut c: Box<dyn Clock + Send> = Box::new(Recorder::default());
        match execute(&mut *c, Action::SetFrequency { ppm: 900.0 }) {
            Executed::FrequencyRefused { ppm, error } => {
                assert_eq!(ppm, 900.0);
                assert_eq!(
                    error.to_string(),
                    "frequency 900 ppm is outside this clock's range of ±500 ppm"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.frequency().unwrap(), 0.0);
    }

    #[test]
    fn permission_errors_carry_the_remedy() {
        let e = ClockError::from_os(
            "clock_adjtime(ADJ_FREQUENCY)",
            io::Error::from_raw_os_error(libc_eperm()),
            "run as root or with CAP_SYS_TIME",
        );
        assert!(matches!(e, ClockError::PermissionDenied { .. }));
        assert_eq!(
            e.to_string(),
            "clock_adjtime(ADJ_FREQUENCY): permission denied; run as root or with CAP_SYS_TIME"
        );
        let other = ClockError::from_os("x", io::Error::other("boom"), "h");
        assert_eq!(other.to_string(), "x failed: boom");
    }

    /// EPERM is 1 on every Unix; on Windows ERROR_ACCESS_DENIED (5) maps to PermissionDenied.
    fn libc_eperm() -> i32 {
        if cfg!(windows) {
            5
        } else {
            1
        }
    }

    #[test]
    fn foreign_adjustments_explain_themselves() {
        let f = ForeignAdjustment {
            expected_ppm: 12.5,
            found_ppm: -3.0,
        };
        let text = f.to_string();
        assert!(text.contains("dantesync set +12.500 ppm, the system now reports -3.000 ppm"));
        assert!(text.contains("chronyd"));
    }
}
