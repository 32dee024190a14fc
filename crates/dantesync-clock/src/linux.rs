//! The Linux system clock through `clock_adjtime(CLOCK_REALTIME)`.
//!
//! - Frequency: ADJ_FREQUENCY (2^-16 ppm, ±500 ppm) together with ADJ_TICK at its nominal value,
//!   so that "set 12 ppm" means 12 ppm even when another program left `tick` elsewhere (chrony
//!   uses `tick` to reach beyond 500 ppm; if dantesync ever needs that range, split the value
//!   the same way: whole 100 ppm steps into `tick`, the rest into `freq`).
//! - Steps: ADJ_SETOFFSET | ADJ_NANO, which the kernel applies atomically with ns resolution. A
//!   read-modify-write with settimeofday would lose whatever time passes between the read and
//!   the write, and settimeofday has only µs resolution.
//! - Status: STA_UNSYNC cleared while synchronised, `maxerror`/`esterror` reported, so
//!   `adjtimex`, `timedatectl` and the kernel's RTC sync see a disciplined clock.
//! - Interference: the frequency found in the kernel is compared with the one dantesync set; a
//!   difference means another program (chronyd, ntpd, timesyncd) is steering too, and is
//!   reported once per change (the status flags likewise).
//!
//! Dropping the clock changes nothing: the kernel keeps the learned frequency after the daemon
//! exits, so a stopped daemon does not throw the clock off.

mod sys;

use std::cell::Cell;

use dantesync_core::LocalTime;

use crate::clock::{Clock, ClockError, ForeignAdjustment, ForeignStatus, LeapSecond, SyncStatus};
use crate::clock_exercise::{Check, Reference};
use crate::units::{
    error_bound_us, frequency_in_range, kernel_frequency_changed, kernel_total_ppm,
    nominal_tick_us, ppm_to_timex_freq, split_step, LINUX_MAX_FREQ_PPM,
};

const PERMISSION_HINT: &str =
    "adjusting the system clock needs root or CAP_SYS_TIME (systemd: AmbientCapabilities=CAP_SYS_TIME); \
     to try dantesync without it use \"clock\": {\"kind\": \"simulated\"}";

/// STA_UNSYNC: the kernel's "clock not synchronised" flag (include/uapi/linux/timex.h).
const STA_UNSYNC: i32 = 0x0040;
/// STA_INS / STA_DEL: insert / delete a leap second at the next midnight UTC.
const STA_INS: i32 = 0x0010;
const STA_DEL: i32 = 0x0020;
/// clock_adjtime's TIME_INS: a leap second insertion is armed for midnight.
pub const TIME_INS: i32 = 1;
/// The writable flags another time service would change (STA_PLL, STA_PPSFREQ, STA_PPSTIME,
/// STA_FLL, STA_UNSYNC, STA_FREQHOLD). STA_INS / STA_DEL are left out: whether the kernel
/// clears them after a leap second differs between kernels.
const WATCHED_STATUS: i32 = 0x00cf;

/// The Linux system clock. Opening it changes nothing.
#[derive(Debug)]
pub struct LinuxClock {
    user_hz: i64,
    /// (freq, tick) this process last wrote, or found when it opened the clock.
    expected: Cell<(i64, i64)>,
    /// A foreign change seen but not yet reported.
    pending: Cell<Option<ForeignAdjustment>>,
    /// The watched status flags this process last wrote or saw; `None` before its first
    /// status write (the flags found at start are whoever's they are).
    status_expected: Cell<Option<i32>>,
    status_pending: Cell<Option<ForeignStatus>>,
}

impl LinuxClock {
    /// Opens the clock, reading (never writing) the kernel's state to check it is reachable.
    pub fn open() -> Result<Self, ClockError> {
        let state = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        Ok(Self {
            user_hz: sys::user_hz(),
            expected: Cell::new((state.freq, state.tick)),
            pending: Cell::new(None),
            status_expected: Cell::new(None),
            status_pending: Cell::new(None),
        })
    }

    /// The kernel's state in human units, for status pages and diagnostics. Read-only.
    pub fn kernel_status(&self) -> Result<KernelStatus, ClockError> {
        let s = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe(s.freq, s.tick);
        Ok(KernelStatus {
            frequency_ppm: kernel_total_ppm(s.freq, s.tick, self.user_hz),
            tick: s.tick,
            synchronised: s.status & STA_UNSYNC == 0,
            status_flags: s.status,
            max_error_us: s.maxerror,
            est_error_us: s.esterror,
            pll_offset: s.offset,
            clock_state: s.clock_state,
        })
    }

    /// As [`LinuxClock::observe`], for the watched status flags.
    fn observe_status(&self, status: i32) {
        let found = status & WATCHED_STATUS;
        let Some(expected) = self.status_expected.get() else {
            return;
        };
        if found != expected {
            let expected = self.status_pending.get().map_or(expected, |p| p.expected);
            self.status_pending
                .set(Some(ForeignStatus { expected, found }));
            self.status_expected.set(Some(found));
        }
    }

    fn total_ppm(&self, freq: i64, tick: i64) -> f64 {
        kernel_total_ppm(freq, tick, self.user_hz)
    }

    /// Compares what the kernel reports with what we expect; a difference is remembered for
    /// [`Clock::foreign_adjustment`] (once) and becomes the new expectation.
    fn observe(&self, freq: i64, tick: i64) {
        let expected = self.expected.get();
        if kernel_frequency_changed(expected, (freq, tick)) {
            let found_ppm = self.total_ppm(freq, tick);
            let seen = match self.pending.get() {
                Some(earlier) => ForeignAdjustment {
                    found_ppm,
                    ..earlier
                },
                None => ForeignAdjustment {
                    expected_ppm: self.total_ppm(expected.0, expected.1),
                    found_ppm,
                },
            };
            self.pending.set(Some(seen));
            self.expected.set((freq, tick));
        }
    }
}

/// The kernel's discipline state (adjtimex's view).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelStatus {
    pub frequency_ppm: f64,
    pub tick: i64,
    /// STA_UNSYNC is clear.
    pub synchronised: bool,
    pub status_flags: i32,
    pub max_error_us: i64,
    pub est_error_us: i64,
    /// A phase offset the kernel's own PLL is still slewing (another program's doing).
    pub pll_offset: i64,
    /// clock_adjtime's return value (TIME_OK = 0 ... TIME_ERROR = 5).
    pub clock_state: i32,
}

fn os(operation: &'static str, e: std::io::Error) -> ClockError {
    ClockError::from_os(operation, e, PERMISSION_HINT)
}

impl Clock for LinuxClock {
    fn name(&self) -> &'static str {
        "linux clock_adjtime"
    }

    fn now(&self) -> LocalTime {
        LocalTime::from_nanos(sys::realtime_ns())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !frequency_in_range(ppm, LINUX_MAX_FREQ_PPM) {
            return Err(ClockError::FrequencyOutOfRange {
                requested_ppm: ppm,
                max_ppm: LINUX_MAX_FREQ_PPM,
            });
        }
        // Look before writing: ours would hide another program's change, and clock_adjtime
        // reports the state after a write, not before it.
        let before = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe(before.freq, before.tick);
        let after = sys::write(sys::KernelWrite::Frequency {
            freq: ppm_to_timex_freq(ppm),
            tick: nominal_tick_us(self.user_hz),
        })
        .map_err(|e| os("clock_adjtime(ADJ_FREQUENCY)", e))?;
        // What the kernel reports back (its own rounding included) is what later reads return.
        self.expected.set((after.freq, after.tick));
        Ok(())
    }

    fn frequency(&self) -> Result<f64, ClockError> {
        let s = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe(s.freq, s.tick);
        Ok(self.total_ppm(s.freq, s.tick))
    }

    fn max_frequency(&self) -> f64 {
        LINUX_MAX_FREQ_PPM
    }

    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        let (sec, nsec) = split_step(nanos);
        sys::write(sys::KernelWrite::SetOffset { sec, nsec })
            .map_err(|e| os("clock_adjtime(ADJ_SETOFFSET)", e))?;
        Ok(())
    }

    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        // ADJ_STATUS replaces the writable flags: keep the others (PLL mode, PPS) as they are
        // and change only STA_UNSYNC and the leap second's STA_INS / STA_DEL.
        let current = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe_status(current.status);
        let mut flags = current.status & !(STA_UNSYNC | STA_INS | STA_DEL);
        if !status.synchronised {
            flags |= STA_UNSYNC;
        }
        flags |= match status.leap {
            LeapSecond::None => 0,
            LeapSecond::Insert => STA_INS,
            LeapSecond::Delete => STA_DEL,
        };
        let after = sys::write(sys::KernelWrite::Status {
            status: flags,
            maxerror: error_bound_us(status.max_error_ns),
            esterror: error_bound_us(status.est_error_ns),
        })
        .map_err(|e| os("clock_adjtime(ADJ_STATUS)", e))?;
        self.status_expected
            .set(Some(after.status & WATCHED_STATUS));
        Ok(())
    }

    fn keeps_sync_status(&self) -> bool {
        true
    }

    fn foreign_adjustment(&mut self) -> Result<Option<ForeignAdjustment>, ClockError> {
        let s = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe(s.freq, s.tick);
        Ok(self.pending.take())
    }

    fn foreign_status(&mut self) -> Result<Option<ForeignStatus>, ClockError> {
        let s = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
        self.observe_status(s.status);
        Ok(self.status_pending.take())
    }
}

/// The kernel interfaces beyond rate and step, checked against the running kernel for
/// `dantesync clock-test`: the synchronisation status (STA_UNSYNC, maxerror, esterror) and the
/// detection of another program's frequency change (a second `LinuxClock` plays the other
/// program: the kernel cannot tell processes apart). Writes the clock; restores the
/// frequency and the status flags it found.
pub fn check_kernel_interfaces() -> Result<Vec<Check>, ClockError> {
    let original = sys::read().map_err(|e| os("clock_adjtime(read)", e))?;
    let checks = kernel_checks();
    let restored_rate = sys::write(sys::KernelWrite::Frequency {
        freq: original.freq,
        tick: original.tick,
    });
    let restored_status = sys::write(sys::KernelWrite::Status {
        status: original.status,
        maxerror: original.maxerror,
        esterror: original.esterror,
    });
    let checks = checks?;
    restored_rate.map_err(|e| os("clock_adjtime(ADJ_FREQUENCY)", e))?;
    restored_status.map_err(|e| os("clock_adjtime(ADJ_STATUS)", e))?;
    Ok(checks)
}

fn kernel_checks() -> Result<Vec<Check>, ClockError> {
    let mut checks = Vec::new();

    let mut ours = LinuxClock::open()?;
    let mut other = LinuxClock::open()?;
    ours.set_frequency(10.0)?;
    other.set_frequency(-20.0)?;
    let first = ours.foreign_adjustment()?;
    let again = ours.foreign_adjustment()?;
    checks.push(Check {
        name: "foreign frequency",
        passed: first.is_some_and(|f| {
            (f.expected_ppm - 10.0).abs() < 1e-3 && (f.found_ppm + 20.0).abs() < 1e-3
        }) && again.is_none(),
        detail: match first {
            Some(f) => format!(
                "set +10 ppm, another writer set -20 ppm: reported {:+.3} -> {:+.3} ppm, {}",
                f.expected_ppm,
                f.found_ppm,
                if again.is_none() { "once" } else { "twice" }
            ),
            None => "set +10 ppm, another writer set -20 ppm: not reported".into(),
        },
    });

    ours.set_sync_status(SyncStatus {
        synchronised: true,
        max_error_ns: 250_000,
        est_error_ns: 20_000,
        leap: LeapSecond::None,
    })?;
    let synced = ours.kernel_status()?;
    // The kernel adds 500 µs to maxerror every second by itself; allow two seconds of it.
    checks.push(Check {
        name: "synchronised",
        passed: synced.synchronised
            && (250..=1_250).contains(&synced.max_error_us)
            && synced.est_error_us == 20,
        detail: format!(
            "STA_UNSYNC {}, maxerror {} µs (set 250), esterror {} µs (set 20), state {}",
            if synced.synchronised { "clear" } else { "SET" },
            synced.max_error_us,
            synced.est_error_us,
            synced.clock_state
        ),
    });

    ours.set_sync_status(SyncStatus {
        synchronised: false,
        max_error_ns: 16_000_000_000,
        est_error_ns: 16_000_000_000,
        leap: LeapSecond::None,
    })?;
    let unsynced = ours.kernel_status()?;
    checks.push(Check {
        name: "unsynchronised",
        passed: !unsynced.synchronised && unsynced.max_error_us == 16_000_000,
        detail: format!(
            "STA_UNSYNC {}, maxerror {} µs (set 16 s, the kernel's limit)",
            if unsynced.synchronised {
                "clear"
            } else {
                "set"
            },
            unsynced.max_error_us
        ),
    });

    // A leap second armed: the kernel's state machine moves to TIME_INS at its next second
    // boundary, and back to TIME_OK at the one after disarming.
    let synced_with = |leap| SyncStatus {
        synchronised: true,
        max_error_ns: 250_000,
        est_error_ns: 20_000,
        leap,
    };
    ours.set_sync_status(synced_with(LeapSecond::Insert))?;
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let armed = ours.kernel_status()?;
    ours.set_sync_status(synced_with(LeapSecond::None))?;
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let disarmed = ours.kernel_status()?;
    checks.push(Check {
        name: "leap second armed",
        passed: armed.status_flags & STA_INS != 0
            && armed.clock_state == TIME_INS
            && disarmed.status_flags & STA_INS == 0
            && disarmed.clock_state == 0,
        detail: format!(
            "STA_INS set: state {} (TIME_INS = 1); cleared: state {} (TIME_OK = 0)",
            armed.clock_state, disarmed.clock_state
        ),
    });
    Ok(checks)
}

/// CLOCK_MONOTONIC_RAW: the unadjusted clock source, the reference for measuring what a
/// frequency adjustment did.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicRaw;

impl Reference for MonotonicRaw {
    fn name(&self) -> &'static str {
        "CLOCK_MONOTONIC_RAW"
    }

    fn now_ns(&self) -> i64 {
        sys::monotonic_raw_ns()
    }
}

#[cfg(test)]
mod tests {
    //! Read-only: these tests open the host's clock and read it; `sys::write` panics in a test
    //! build, so nothing here can change it. The writes are exercised in the qemu guest
    //! (scripts/qemu-clock-test.sh).
    use super::*;

    #[test]
    fn opening_and_reading_the_host_clock_changes_nothing() {
        let clock = LinuxClock::open().expect("clock_adjtime read is allowed to anyone");
        let before = clock.kernel_status().unwrap();
        let ppm = clock.frequency().unwrap();
        assert!(ppm.abs() <= 1_000.0, "{ppm}");
        assert_eq!(clock.kernel_status().unwrap().tick, before.tick);
        assert!(before.max_error_us >= 0);
        // Two reads of CLOCK_REALTIME, one through the trait: within a second of each other.
        let a = clock.now().nanos();
        let b = sys::realtime_ns();
        assert!((b - a).abs() < 1_000_000_000, "{a} {b}");
        assert_eq!(clock.max_frequency(), 500.0);
        assert_eq!(clock.name(), "linux clock_adjtime");
    }

    #[test]
    fn user_hz_is_100() {
        assert_eq!(sys::user_hz(), 100);
    }

    #[test]
    fn monotonic_raw_advances() {
        let r = MonotonicRaw;
        let a = r.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = r.now_ns();
        assert!((15_000_000..2_000_000_000).contains(&(b - a)), "{}", b - a);
    }

    #[test]
    fn out_of_range_frequencies_are_refused_before_any_system_call() {
        let mut clock = LinuxClock::open().unwrap();
        // sys::write would panic in a test build; these must be refused before it.
        for bad in [500.01, -1_000.0, f64::NAN] {
            assert!(matches!(
                clock.set_frequency(bad),
                Err(ClockError::FrequencyOutOfRange { .. })
            ));
        }
    }

    #[test]
    #[should_panic(expected = "unit tests must never write the host's clock")]
    fn writes_are_impossible_in_unit_tests() {
        let mut clock = LinuxClock::open().unwrap();
        let _ = clock.step(1);
    }

    #[test]
    fn a_foreign_status_change_is_reported_once_and_only_after_our_own_write() {
        let mut clock = LinuxClock::open().unwrap();
        // Nothing written yet: whatever flags the kernel has are not ours to compare.
        assert_eq!(clock.foreign_status().unwrap(), None);
        let now = sys::read().unwrap().status & WATCHED_STATUS;
        // Pretend we had written STA_PLL flipped relative to what the kernel reports.
        clock.status_expected.set(Some(now ^ 0x0001));
        let seen = clock.foreign_status().unwrap().expect("reported");
        assert_eq!((seen.expected, seen.found), (now ^ 0x0001, now));
        assert!(seen.to_string().contains("chronyd"), "{seen}");
        assert_eq!(clock.foreign_status().unwrap(), None);
    }

    #[test]
    fn a_foreign_frequency_change_is_reported_once() {
        let clock = LinuxClock::open().unwrap();
        let (freq, tick) = clock.expected.get();
        // Pretend we had set 7 ppm more than the kernel now reports.
        clock.expected.set((freq + ppm_to_timex_freq(7.0), tick));
        let mut clock = clock;
        let seen = clock.foreign_adjustment().unwrap().expect("reported");
        assert!(
            (seen.expected_ppm - seen.found_ppm - 7.0).abs() < 1e-3,
            "{seen:?}"
        );
        // Once: the same change is not reported again...
        assert_eq!(clock.foreign_adjustment().unwrap(), None);
        // ...but a new one is (the daemon counts each and rate-limits its warnings).
        clock.expected.set((freq + ppm_to_timex_freq(3.0), tick));
        let again = clock.foreign_adjustment().unwrap().expect("a new change");
        assert!(
            (again.expected_ppm - again.found_ppm - 3.0).abs() < 1e-3,
            "{again:?}"
        );
        assert_eq!(clock.foreign_adjustment().unwrap(), None);
    }
}
