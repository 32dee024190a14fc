//! The host's realtime clock, watched for the length of a bed.
//!
//! The nodes' simulated clocks run over CLOCK_REALTIME (the clock of the kernel's packet
//! stamps), while the truth is read on CLOCK_MONOTONIC_RAW. The bed measures realtime's rate
//! against raw once, at build, and takes it as constant. Something outside the bed that steps
//! or slews this machine's clock meanwhile (a time service, the VM's host: seen once, +1.65 s
//! then 5000 ppm for four minutes) moves every simulated clock at once and voids every figure
//! of the run; the bed then stops the scenario and says so instead of reporting it.

use crate::sys::{raw_ns, realtime_ns, realtime_rate_ppm};

/// Realtime may wander this far (ns) from the line measured at build before a run is void:
/// well above what a 1 s rate measurement's error leaves over a long scenario.
pub const MAX_WANDER_NS: i64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
pub struct HostClock {
    /// CLOCK_REALTIME's rate against CLOCK_MONOTONIC_RAW, ppm, measured at build.
    pub rate_ppm: f64,
    raw0: i64,
    real0: i64,
}

impl HostClock {
    /// Measures the rate (about a second) and takes the reference point.
    pub fn measure() -> Self {
        let rate_ppm = realtime_rate_ppm();
        let raw0 = raw_ns();
        let real0 = realtime_ns();
        Self {
            rate_ppm,
            raw0,
            real0,
        }
    }

    /// How far realtime now is from where the measured rate puts it (ns).
    pub fn wander_ns(&self) -> i64 {
        let raw = raw_ns();
        let real = realtime_ns();
        let expected = (raw - self.raw0) as f64 * (1.0 + self.rate_ppm * 1e-6);
        (real - self.real0) - expected.round() as i64
    }

    /// An error naming the problem when realtime has wandered beyond [`MAX_WANDER_NS`].
    pub fn check(&self) -> Result<(), String> {
        let w = self.wander_ns();
        if w.abs() <= MAX_WANDER_NS {
            return Ok(());
        }
        Err(format!(
            "this machine's realtime clock moved {:+.3} ms against CLOCK_MONOTONIC_RAW during \
             the run (something outside the bed stepped or slewed it: a time service, the VM's \
             host); the nodes' simulated clocks run over it, so this scenario's figures are \
             void: run it again once the host clock is quiet",
            w as f64 / 1e6
        ))
    }
}
