//! A process-local virtual clock over the host clock.
//!
//! It lets the demo, the end-to-end tests and anyone without root run the whole daemon while the
//! machine's clock stays untouched. The virtual clock has an oscillator of its own (the host
//! clock's rate times `1 + drift_ppm`), a starting offset, and takes frequency adjustments and
//! steps the way a kernel does: the frequency scales the oscillator's ticks, a step moves the
//! value.
//!
//! It runs on the host's *realtime* clock, not a monotonic one, because the kernel stamps
//! received packets with the realtime clock: mapping those stamps through the very function that
//! produces `now()` keeps packet times and clock readings on one timescale. A host whose own
//! clock is disciplined (by chrony, say) just adds that discipline to the simulated drift.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dantesync_core::LocalTime;

use crate::clock::{Clock, ClockError, SyncStatus};
use crate::units::{frequency_in_range, LINUX_MAX_FREQ_PPM};

/// Where the simulated clock reads host time.
pub trait HostClock {
    /// The host's realtime clock, ns since the Unix epoch.
    fn realtime_ns(&self) -> i64;
}

/// The host's real system clock (read only).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemHost;

impl HostClock for SystemHost {
    fn realtime_ns(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// A host clock that moves only when told to: virtual time for tests and benchmarks. Clones
/// share one timeline.
#[derive(Clone, Debug, Default)]
pub struct ManualHost(Arc<AtomicI64>);

impl ManualHost {
    pub fn new(start_ns: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ns)))
    }

    pub fn advance(&self, nanos: i64) {
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }

    pub fn set(&self, ns: i64) {
        self.0.store(ns, Ordering::SeqCst);
    }
}

impl HostClock for ManualHost {
    fn realtime_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// From `host_ns` on, the virtual clock read `virtual_ns` and ran at `rate_ppm` against the host.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    host_ns: i64,
    virtual_ns: i64,
    rate_ppm: f64,
}

impl Segment {
    fn map(&self, host_ns: i64) -> i64 {
        let dt = host_ns.saturating_sub(self.host_ns);
        let extra = (dt as f64 * self.rate_ppm * 1e-6).round() as i64;
        self.virtual_ns.saturating_add(dt).saturating_add(extra)
    }
}

/// How many past segments are kept for mapping timestamps taken before a change; packets are
/// handled within milliseconds of their arrival, and changes come at most a few per second.
const SEGMENTS_KEPT: usize = 32;

/// The simulated clock. See the module documentation.
#[derive(Debug)]
pub struct SimulatedClock<H: HostClock = SystemHost> {
    host: H,
    drift_ppm: f64,
    frequency_ppm: f64,
    /// Oldest first; never empty.
    segments: Vec<Segment>,
    status: Option<SyncStatus>,
    steps: u64,
}

impl SimulatedClock<SystemHost> {
    /// A virtual clock over this machine's clock, `offset_ms` ahead of it and running
    /// `drift_ppm` fast.
    pub fn new(drift_ppm: f64, offset_ms: f64) -> Self {
        Self::with_host(SystemHost, drift_ppm, offset_ms)
    }
}

impl<H: HostClock> SimulatedClock<H> {
    pub fn with_host(host: H, drift_ppm: f64, offset_ms: f64) -> Self {
        let host_ns = host.realtime_ns();
        let first = Segment {
            host_ns,
            virtual_ns: host_ns.saturating_add((offset_ms * 1e6).round() as i64),
            rate_ppm: combined_ppm(drift_ppm, 0.0),
        };
        Self {
            host,
            drift_ppm,
            frequency_ppm: 0.0,
            segments: vec![first],
            status: None,
            steps: 0,
        }
    }

    /// The oscillator's own rate error against the host, ppm.
    pub fn drift_ppm(&self) -> f64 {
        self.drift_ppm
    }

    /// Changes the oscillator's own rate (temperature, ageing) from now on.
    pub fn set_drift(&mut self, drift_ppm: f64) {
        self.drift_ppm = drift_ppm;
        self.rebase(|_| {});
    }

    /// The virtual clock minus the host clock, now, ns.
    pub fn offset_from_host_ns(&self) -> i64 {
        let h = self.host.realtime_ns();
        self.map_host(h).saturating_sub(h)
    }

    /// The last status the daemon reported.
    pub fn sync_status(&self) -> Option<SyncStatus> {
        self.status
    }

    /// How many steps were applied.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn current(&self) -> Segment {
        *self.segments.last().expect("never empty")
    }

    fn map_host(&self, host_ns: i64) -> i64 {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.host_ns <= host_ns)
            .unwrap_or(&self.segments[0]);
        seg.map(host_ns)
    }

    /// Starts a new segment at the host's present time, after `change` edits it.
    fn rebase(&mut self, change: impl FnOnce(&mut Segment)) {
        let host_ns = self.host.realtime_ns();
        let mut next = Segment {
            host_ns,
            virtual_ns: self.current().map(host_ns),
            rate_ppm: combined_ppm(self.drift_ppm, self.frequency_ppm),
        };
        change(&mut next);
        if self.current().host_ns == host_ns {
            self.segments.pop();
        }
        self.segments.push(next);
        if self.segments.len() > SEGMENTS_KEPT {
            self.segments.remove(0);
        }
    }
}

/// The rate of an oscillator `drift_ppm` fast, scaled by a frequency adjustment `freq_ppm`, as a
/// kernel scales its clock source: (1 + drift)(1 + freq) − 1.
fn combined_ppm(drift_ppm: f64, freq_ppm: f64) -> f64 {
    ((1.0 + drift_ppm * 1e-6) * (1.0 + freq_ppm * 1e-6) - 1.0) * 1e6
}

impl<H: HostClock> Clock for SimulatedClock<H> {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn now(&self) -> LocalTime {
        LocalTime::from_nanos(self.current().map(self.host.realtime_ns()))
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !frequency_in_range(ppm, self.max_frequency()) {
            return Err(ClockError::FrequencyOutOfRange {
                requested_ppm: ppm,
                max_ppm: self.max_frequency(),
            });
        }
        self.frequency_ppm = ppm;
        self.rebase(|_| {});
        Ok(())
    }

    fn frequency(&self) -> Result<f64, ClockError> {
        Ok(self.frequency_ppm)
    }

    fn max_frequency(&self) -> f64 {
        LINUX_MAX_FREQ_PPM
    }

    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        self.rebase(|s| s.virtual_ns = s.virtual_ns.saturating_add(nanos));
        self.steps += 1;
        Ok(())
    }

    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        self.status = Some(status);
        Ok(())
    }

    fn map_kernel_timestamp(&self, host: LocalTime) -> LocalTime {
        LocalTime::from_nanos(self.map_host(host.nanos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_785_427_891 * S;

    fn clock(drift: f64, offset_ms: f64) -> (ManualHost, SimulatedClock<ManualHost>) {
        let host = ManualHost::new(T0);
        let c = SimulatedClock::with_host(host.clone(), drift, offset_ms);
        (host, c)
    }

    #[test]
    fn starts_at_the_offset_and_drifts_at_its_natural_rate() {
        let (host, c) = clock(50.0, 2.5);
        assert_eq!(c.now().nanos(), T0 + 2_500_000);
        host.advance(10 * S);
        // 50 ppm over 10 s = 500 µs.
        assert_eq!(c.now().nanos(), T0 + 10 * S + 2_500_000 + 500_000);
        assert_eq!(c.offset_from_host_ns(), 3_000_000);
    }

    #[test]
    fn frequency_adds_to_the_drift_like_a_kernel_scales_its_oscillator() {
        let (host, mut c) = clock(50.0, 0.0);
        c.set_frequency(-50.0).unwrap();
        host.advance(100 * S);
        // (1 + 50e-6)(1 − 50e-6) − 1 = −2.5e-9: 250 ns over 100 s, not zero.
        assert_eq!(c.now().nanos(), T0 + 100 * S - 250);
        c.set_frequency(100.0).unwrap();
        assert_eq!(c.frequency().unwrap(), 100.0);
        host.advance(S);
        // +150.005 ppm over 1 s.
        assert_eq!(c.now().nanos(), T0 + 101 * S - 250 + 150_005);
    }

    #[test]
    fn steps_move_the_value_and_keep_the_rate() {
        let (host, mut c) = clock(0.0, 0.0);
        c.set_frequency(20.0).unwrap();
        host.advance(S);
        c.step(-1_500_000_000).unwrap();
        assert_eq!(c.now().nanos(), T0 + S + 20_000 - 1_500_000_000);
        host.advance(S);
        assert_eq!(c.now().nanos(), T0 + 2 * S + 40_000 - 1_500_000_000);
        assert_eq!(c.frequency().unwrap(), 20.0);
        assert_eq!(c.steps(), 1);
    }

    #[test]
    fn out_of_range_frequencies_are_refused_and_change_nothing() {
        let (_, mut c) = clock(0.0, 0.0);
        c.set_frequency(12.0).unwrap();
        for bad in [500.5, -700.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                c.set_frequency(bad),
                Err(ClockError::FrequencyOutOfRange { .. })
            ));
        }
        assert_eq!(c.frequency().unwrap(), 12.0);
        c.set_frequency(-500.0).unwrap();
    }

    #[test]
    fn kernel_timestamps_map_through_the_segment_they_were_taken_in() {
        let (host, mut c) = clock(0.0, 0.0);
        host.advance(S);
        let before_step = T0 + S - 1_000; // stamped 1 µs before the step
        c.step(5 * S).unwrap();
        host.advance(1_000);
        let after_step = T0 + S + 500;
        assert_eq!(
            c.map_kernel_timestamp(LocalTime::from_nanos(before_step))
                .nanos(),
            before_step
        );
        assert_eq!(
            c.map_kernel_timestamp(LocalTime::from_nanos(after_step))
                .nanos(),
            after_step + 5 * S
        );
        // A stamp taken at the same instant as now() reads the same.
        assert_eq!(
            c.map_kernel_timestamp(LocalTime::from_nanos(host.realtime_ns())),
            c.now()
        );
    }

    #[test]
    fn many_changes_keep_a_bounded_history() {
        let (host, mut c) = clock(10.0, 0.0);
        for i in 0..100 {
            host.advance(10_000_000);
            c.set_frequency(f64::from(i % 7)).unwrap();
        }
        assert_eq!(c.segments.len(), SEGMENTS_KEPT);
        // Two changes at the same host instant replace, not stack.
        c.set_frequency(1.0).unwrap();
        c.set_frequency(2.0).unwrap();
        assert_eq!(c.segments.len(), SEGMENTS_KEPT);
        assert_eq!(c.current().rate_ppm, combined_ppm(10.0, 2.0));
    }

    #[test]
    fn drift_changes_apply_from_now_on() {
        let (host, mut c) = clock(0.0, 0.0);
        host.advance(S);
        c.set_drift(-30.0);
        host.advance(S);
        assert_eq!(c.now().nanos(), T0 + 2 * S - 30_000);
        assert_eq!(c.drift_ppm(), -30.0);
    }

    #[test]
    fn sync_status_is_kept_for_inspection() {
        let (_, mut c) = clock(0.0, 0.0);
        assert_eq!(c.sync_status(), None);
        let st = SyncStatus {
            synchronised: true,
            max_error_ns: 250_000,
            est_error_ns: 20_000,
            leap: crate::LeapSecond::Insert,
        };
        c.set_sync_status(st).unwrap();
        assert_eq!(c.sync_status(), Some(st));
    }

    #[test]
    fn the_system_host_reads_the_real_clock() {
        let c = SimulatedClock::new(0.0, 1_000.0);
        let host = SystemHost.realtime_ns();
        let offset = c.now().nanos() - host;
        // 1 s offset, read a few µs apart (generous bound for a loaded CI machine).
        assert!((offset - S).abs() < 50_000_000, "{offset}");
    }
}
