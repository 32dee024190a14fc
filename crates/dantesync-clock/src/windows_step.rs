//! Stepping the Windows clock to within 10 µs, although Windows has no "add to the time" call.
//!
//! A step reads the wall clock bracketed by QPC, sets `now + step` and reads it back the same
//! way; the difference between where the clock is and where it should be is the residual. The
//! set itself takes time inside the kernel (the *set latency*): the value is computed before the
//! call but takes effect during it, so the clock lands behind by that latency. The stepper
//! learns the latency from each residual, adds it to the next target, and corrects a residual
//! above the tolerance with a further set (at most a few tries).
//!
//! Reading back must be finer than the tolerance, yet a clock read can be coarse (the legacy
//! readers tick every 1–15.6 ms; some systems coarsen the precise reader right after a set).
//! So each reading waits for the wall clock's value to change, and places that *edge* between
//! the QPC stamps of the two reads around it: the moment of a tick is known to within two reads,
//! whatever the tick's size.
//!
//! Plain Rust over a trait of the four OS calls ([`StepOs`]), so the logic is tested on every
//! platform against a model with a set latency and a ms-coarse readback; `windows.rs` supplies
//! the real calls.

use std::io;

/// The OS calls a step needs.
pub trait StepOs {
    /// QueryPerformanceCounter, in counts.
    fn qpc(&mut self) -> i64;
    /// QueryPerformanceFrequency, counts per second.
    fn qpc_frequency(&self) -> i64;
    /// The wall clock as a FILETIME count (100 ns units), as fine as the OS gives it.
    fn read(&mut self) -> u64;
    /// Sets the wall clock to a FILETIME count.
    fn set(&mut self, filetime: u64) -> io::Result<()>;
}

/// How close a step must land, and how hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepConfig {
    pub tolerance_ns: i64,
    pub max_tries: u32,
    /// Longest wait for the wall clock to tick while reading it.
    pub edge_timeout_ns: i64,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self {
            tolerance_ns: 10_000,
            max_tries: 4,
            edge_timeout_ns: 50_000_000,
        }
    }
}

/// What a step achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepOutcome {
    /// Sets made (1 unless a residual needed correcting).
    pub tries: u32,
    /// Where the clock landed against where it should be, as measured after the last set
    /// (positive: ahead).
    pub residual_ns: i64,
    /// The set latency learned so far.
    pub latency_ns: i64,
    /// Whether the residual is within the tolerance (a SetSystemTime fallback with whole
    /// milliseconds may not get there).
    pub within_tolerance: bool,
}

/// A set latency beyond this is a measurement gone wrong, not a latency.
const MAX_LATENCY_NS: i64 = 5_000_000;

/// Steps the clock and remembers the set latency between steps.
#[derive(Clone, Debug, Default)]
pub struct Stepper {
    config: StepConfig,
    latency_ns: i64,
}

/// The wall clock's value (ns on the FILETIME scale) at a QPC instant (ns).
#[derive(Clone, Copy, Debug)]
struct Reading {
    wall_ns: i128,
    at_ns: i64,
}

fn qpc_ns(os: &mut dyn StepOs) -> i64 {
    crate::units::qpc_to_nanos(os.qpc(), os.qpc_frequency())
}

/// Waits for the wall clock's value to change and returns the new value at the QPC instant
/// of the change (the middle of the two reads around it).
fn read_edge(os: &mut dyn StepOs, timeout_ns: i64) -> io::Result<Reading> {
    let start = qpc_ns(os);
    let mut before_prev = start;
    let mut prev = os.read();
    loop {
        let before = qpc_ns(os);
        let value = os.read();
        let after = qpc_ns(os);
        if value != prev {
            return Ok(Reading {
                wall_ns: i128::from(value) * 100,
                at_ns: before_prev + (after - before_prev) / 2,
            });
        }
        if after - start > timeout_ns {
            return Err(io::Error::other(format!(
                "the system time did not change within {} ms",
                timeout_ns / 1_000_000
            )));
        }
        before_prev = before;
        prev = value;
    }
}

impl Stepper {
    pub fn new(config: StepConfig) -> Self {
        Self {
            config,
            latency_ns: 0,
        }
    }

    /// The set latency learned so far (0 before the first step).
    pub fn latency_ns(&self) -> i64 {
        self.latency_ns
    }

    /// Moves the wall clock by `nanos`.
    pub fn step(&mut self, os: &mut dyn StepOs, nanos: i64) -> io::Result<StepOutcome> {
        let timeout = self.config.edge_timeout_ns;
        let mut remaining = i128::from(nanos);
        let mut tries = 0;
        loop {
            tries += 1;
            let before = read_edge(os, timeout)?;
            let set_at = qpc_ns(os);
            let target_ns = before.wall_ns
                + i128::from(set_at - before.at_ns)
                + i128::from(self.latency_ns)
                + remaining;
            let target = u64::try_from(target_ns.div_euclid(100))
                .map_err(|_| io::Error::other("the stepped time is before 1601"))?;
            os.set(target)?;
            let after = read_edge(os, timeout)?;
            let expected = before.wall_ns + i128::from(after.at_ns - before.at_ns) + remaining;
            let residual = i64::try_from(after.wall_ns - expected).unwrap_or(i64::MAX);
            // Landing behind by x means the set took effect x later than assumed.
            self.latency_ns = (self.latency_ns - residual).clamp(0, MAX_LATENCY_NS);
            let within_tolerance = residual.abs() <= self.config.tolerance_ns;
            if within_tolerance || tries >= self.config.max_tries {
                return Ok(StepOutcome {
                    tries,
                    residual_ns: residual,
                    latency_ns: self.latency_ns,
                    within_tolerance,
                });
            }
            remaining = -i128::from(residual);
        }
    }
}

#[cfg(test)]
#[path = "windows_step_tests.rs"]
mod tests;
