//! Clock backends for dantesync: where the engine's actions reach a real clock.
//!
//! The engine (`dantesync-core`) says *what* to do to the clock — set the frequency to an
//! absolute ppm, step by some ns — and this crate does it, correctly signed and scaled, on:
//!
//! - Linux: `clock_adjtime(CLOCK_REALTIME)` (`linux::LinuxClock`);
//! - Windows: `SetSystemTimeAdjustmentPrecise` with a legacy fallback
//!   (`windows::WindowsClock`);
//! - a simulated clock over the host clock ([`SimulatedClock`]), which changes nothing on the
//!   machine and is what the tests, the demo and a try without root use.
//!
//! It also keeps the learned frequency across restarts ([`state`]) and measures what a clock
//! really does ([`clock_exercise`], behind `dantesync clock-test` and the Windows self-test).
//!
//! Unsafe code lives only in `linux/sys.rs` and `windows/sys.rs`, behind safe functions.

pub mod clock;
pub mod clock_exercise;
pub mod guard;
pub mod simulated;
pub mod state;
pub mod units;
pub mod windows_step;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(windows)]
pub mod windows;

pub use clock::{
    Clock, ClockConfig, ClockError, ForeignAdjustment, ForeignStatus, LeapSecond, SyncStatus,
};
pub use simulated::SimulatedClock;

/// Opens the clock a configuration names. Opening changes nothing on the clock.
pub fn open(config: &ClockConfig) -> Result<Box<dyn Clock + Send>, ClockError> {
    match *config {
        ClockConfig::Simulated {
            drift_ppm,
            offset_ms,
        } => Ok(Box::new(SimulatedClock::new(drift_ppm, offset_ms))),
        ClockConfig::System => open_system(),
    }
}

/// Opens the clock for a servo to drive, as the daemon should: like [`open`], and on Windows it
/// first runs the start-up self-test (`windows::WindowsClock::self_test`, about 5 s), refusing a
/// clock whose adjustment turns out to have the wrong sign or unit. Linux's units are fixed by
/// the kernel ABI and checked in CI on a real kernel (scripts/qemu-clock-test.sh).
pub fn open_verified(config: &ClockConfig) -> Result<Box<dyn Clock + Send>, ClockError> {
    #[cfg(windows)]
    if *config == ClockConfig::System {
        let mut clock = windows::WindowsClock::open()?;
        clock.self_test()?;
        return Ok(Box::new(clock));
    }
    open(config)
}

#[cfg(target_os = "linux")]
fn open_system() -> Result<Box<dyn Clock + Send>, ClockError> {
    Ok(Box::new(linux::LinuxClock::open()?))
}

#[cfg(windows)]
fn open_system() -> Result<Box<dyn Clock + Send>, ClockError> {
    Ok(Box::new(windows::WindowsClock::open()?))
}

#[cfg(not(any(target_os = "linux", windows)))]
fn open_system() -> Result<Box<dyn Clock + Send>, ClockError> {
    Err(ClockError::Unsupported {
        operation: "the system clock",
        reason: "dantesync drives the clock on Linux and Windows only; use \"clock\": \
                 {\"kind\": \"simulated\"}"
            .into(),
    })
}

/// The reference counter for measuring the system clock on this platform: CLOCK_MONOTONIC_RAW
/// on Linux, QPC on Windows.
pub fn system_reference() -> Option<Box<dyn clock_exercise::Reference>> {
    #[cfg(target_os = "linux")]
    return Some(Box::new(linux::MonotonicRaw));
    #[cfg(windows)]
    return Some(Box::new(windows::PerformanceCounter::new()));
    #[cfg(not(any(target_os = "linux", windows)))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_config_opens_a_simulated_clock() {
        let mut c = open_verified(&ClockConfig::Simulated {
            drift_ppm: 50.0,
            offset_ms: 1_000.0,
        })
        .unwrap();
        assert_eq!(c.name(), "simulated");
        c.set_frequency(-20.0).unwrap();
        assert_eq!(c.frequency().unwrap(), -20.0);
        let host = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let ahead = c.now().nanos() - host;
        assert!((ahead - 1_000_000_000).abs() < 50_000_000, "{ahead}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_system_config_opens_the_linux_clock_without_touching_it() {
        let c = open(&ClockConfig::System).unwrap();
        assert_eq!(c.name(), "linux clock_adjtime");
        assert_eq!(c.max_frequency(), 500.0);
        let r = system_reference().unwrap();
        assert_eq!(r.name(), "CLOCK_MONOTONIC_RAW");
    }
}
