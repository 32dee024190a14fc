use std::cell::Cell;
use std::time::Duration;

use super::*;
use crate::simulated::{HostClock, ManualHost, SimulatedClock};
use dantesync_core::LocalTime;

const S: i64 = 1_000_000_000;

/// The host's timeline as a raw counter, where each read costs a pseudo-random 0.5–40 µs
/// (with a 2 ms stall one read in 50), like a loaded machine or an emulator. The counter is
/// sampled at a random point inside its read, so a reading is up to 40 µs older than the
/// moment the call returns.
struct NoisyReference {
    host: ManualHost,
    seed: Cell<u64>,
    reads: Cell<u64>,
}

impl NoisyReference {
    fn new(host: ManualHost) -> Self {
        Self {
            host,
            seed: Cell::new(0x9E37_79B9_7F4A_7C15),
            reads: Cell::new(0),
        }
    }

    fn next(&self) -> u64 {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        x
    }
}

impl Reference for NoisyReference {
    fn name(&self) -> &'static str {
        "virtual raw counter"
    }
    fn now_ns(&self) -> i64 {
        self.reads.set(self.reads.get() + 1);
        let cost = if self.next().is_multiple_of(50) {
            2_000_000
        } else {
            500 + (self.next() % 39_500) as i64
        };
        let before = (self.next() % cost as u64) as i64;
        self.host.advance(before);
        let sample = self.host.realtime_ns();
        self.host.advance(cost - before);
        sample
    }
    fn sleep(&self, d: Duration) {
        self.host.advance(d.as_nanos() as i64);
    }
}

fn setup(drift_ppm: f64) -> (SimulatedClock<ManualHost>, NoisyReference) {
    let host = ManualHost::new(1_785_427_891 * S);
    let clock = SimulatedClock::with_host(host.clone(), drift_ppm, 0.0);
    (clock, NoisyReference::new(host))
}

#[test]
fn the_tightest_sandwich_is_kept_and_centred() {
    let (clock, reference) = setup(0.0);
    let s = tightest_sandwich(&clock, &reference, 25);
    // Reads cost 0.5–40 µs here; the tightest of 25 is a few µs wide, and the clock was
    // read inside the bracket, so the midpoint is at most half the width off.
    assert!((500..5_000).contains(&s.width_ns), "{s:?}");
    assert!(
        (s.reference_ns - s.clock_ns).abs() <= s.width_ns / 2,
        "{s:?}"
    );
}

#[test]
fn a_rate_is_resolved_to_a_tenth_of_a_ppm_through_heavy_read_noise() {
    // Reads that cost up to 40 µs and stall for 2 ms one time in 50: far worse than the
    // qemu guest, and still 5 times inside clock-test's 0.5 ppm limit.
    for drift in [0.0, 100.0, -250.0, 37.5] {
        let (clock, reference) = setup(drift);
        let m = measure_rate(&clock, &reference, &MeasureConfig::default());
        assert!((m.ppm - drift).abs() < 0.1, "drift {drift}: {m:?}");
        assert_eq!(m.taken, 41);
        assert!(m.used >= 35, "{m:?}");
        assert!((m.span_s - 4.0).abs() < 0.01, "{m:?}");
    }
}

#[test]
fn a_naive_two_point_read_would_not_resolve_it() {
    // Why sandwiches: one reference read and one clock read, 1 s apart, carry the read
    // cost's spread (up to 2 ms here) straight into the rate.
    let (clock, reference) = setup(0.0);
    let mut worst: f64 = 0.0;
    for _ in 0..20 {
        let r0 = reference.now_ns();
        let c0 = clock.now().nanos();
        reference.sleep(Duration::from_secs(1));
        let r1 = reference.now_ns();
        let c1 = clock.now().nanos();
        let ppm = ((c1 - c0) as f64 / (r1 - r0) as f64 - 1.0) * 1e6;
        worst = worst.max(ppm.abs());
    }
    assert!(worst > 5.0, "{worst}");
}

#[test]
fn fit_rate_is_exact_on_a_clean_line_and_drops_a_spoiled_point() {
    let mut points: Vec<Sandwich> = (0..21)
        .map(|i| {
            let r = i * 100_000_000;
            Sandwich {
                reference_ns: r,
                clock_ns: 1_700_000_000 * S + r + r / 10_000, // +100 ppm
                width_ns: 1_000,
            }
        })
        .collect();
    let clean = fit_rate(&points);
    assert!((clean.ppm - 100.0).abs() < 1e-6, "{clean:?}");
    assert_eq!(clean.used, 21);
    points[10].clock_ns += 400_000; // one reading 400 µs late
    let spoiled = fit_rate(&points);
    assert!((spoiled.ppm - 100.0).abs() < 1e-6, "{spoiled:?}");
    assert_eq!(spoiled.used, 20);
    assert_eq!(spoiled.taken, 21);
}

#[test]
fn the_clock_test_passes_a_clock_that_does_what_it_is_told() {
    let (mut clock, reference) = setup(0.0);
    clock.set_frequency(12.0).unwrap();
    let before = clock.now().nanos() - reference.host.realtime_ns();
    let report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.original_ppm, 12.0);
    assert!((report.baseline.ppm - 12.0).abs() < 0.1, "{report}");
    assert_eq!(report.frequencies.len(), 2);
    assert!(
        (report.frequencies[0].measured.ppm - 100.0).abs() < 0.1,
        "{report}"
    );
    assert!(
        (report.frequencies[1].measured.ppm + 250.0).abs() < 0.1,
        "{report}"
    );
    assert_eq!(report.steps.len(), 2);
    // Steps are exact on the simulated clock up to the sandwich's pairing (< 5 µs here).
    assert_eq!(report.steps[0].step.requested_ns, 1_500_000_000);
    assert!(report.steps[0].error_ns().abs() < 5_000, "{report}");
    assert_eq!(report.steps[1].step.requested_ns, -1_500_000_000);
    assert!(report.steps[1].error_ns().abs() < 5_000, "{report}");
    // The clock ends where it started: original frequency, and its time back to within
    // what 12 ppm and the test frequencies accumulated over the ~13 s of the test.
    assert_eq!(report.restored_ppm, 12.0);
    assert_eq!(clock.frequency().unwrap(), 12.0);
    let after = clock.now().nanos() - reference.host.realtime_ns();
    let drifted = after - before;
    assert!((-1_000_000..1_000_000).contains(&drifted), "{drifted}");
    let text = report.to_string();
    assert!(text.contains("clock-test: PASS"), "{text}");
    assert!(text.contains("set  +100.000 ppm"), "{text}");
}

#[test]
fn a_failed_platform_check_fails_the_report_and_is_printed() {
    let (mut clock, reference) = setup(0.0);
    let mut report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
    assert!(report.passed(), "{report}");
    report.checks.push(Check {
        name: "STA_UNSYNC",
        passed: false,
        detail: "still set after synchronising".into(),
    });
    assert!(!report.passed());
    let text = report.to_string();
    assert!(
        text.contains("  STA_UNSYNC          still set after synchronising FAIL"),
        "{text}"
    );
}

#[test]
fn a_clock_with_an_unexpected_rate_fails() {
    // 3 ppm of natural drift that the clock does not know about: every setting is off by 3.
    let (mut clock, reference) = setup(3.0);
    let report = run(&mut clock, &reference, &ClockTestConfig::default()).unwrap();
    assert!(!report.passed());
    for r in &report.frequencies {
        assert!(!r.passed);
        assert!((r.error_ppm() - 3.0).abs() < 0.2, "{report}");
    }
    // Steps are still right: the measured baseline accounts for the rate.
    assert!(report.steps.iter().all(|s| s.passed), "{report}");
    assert!(report.to_string().ends_with("clock-test: FAIL"));
}

/// A clock that applies the frequency with the wrong sign and steps 1 ms short.
struct Broken(SimulatedClock<ManualHost>);

impl Clock for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn now(&self) -> LocalTime {
        self.0.now()
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.0.set_frequency(-ppm)
    }
    fn frequency(&self) -> Result<f64, ClockError> {
        self.0.frequency().map(|p| -p)
    }
    fn max_frequency(&self) -> f64 {
        500.0
    }
    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        self.0.step(nanos - nanos.signum() * 1_100_000)
    }
}

#[test]
fn a_clock_with_the_wrong_sign_or_step_fails_every_check() {
    let (clock, reference) = setup(0.0);
    let mut broken = Broken(clock);
    let report = run(&mut broken, &reference, &ClockTestConfig::default()).unwrap();
    assert!(!report.passed());
    assert!(
        (report.frequencies[0].measured.ppm + 100.0).abs() < 0.2,
        "{report}"
    );
    assert!(
        (report.frequencies[1].measured.ppm - 250.0).abs() < 0.2,
        "{report}"
    );
    assert!(report.frequencies.iter().all(|r| !r.passed));
    assert!(report.steps.iter().all(|s| !s.passed), "{report}");
    assert!(
        (report.steps[0].error_ns() + 1_100_000).abs() < 5_000,
        "{report}"
    );
}

/// A clock whose frequency adjustment is `scale` times what it is told (sign included).
struct Scaled(SimulatedClock<ManualHost>, f64);

impl Clock for Scaled {
    fn name(&self) -> &'static str {
        "scaled"
    }
    fn now(&self) -> LocalTime {
        self.0.now()
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.0.set_frequency(ppm * self.1)
    }
    fn frequency(&self) -> Result<f64, ClockError> {
        self.0.frequency().map(|p| p / self.1)
    }
    fn max_frequency(&self) -> f64 {
        500.0
    }
    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        self.0.step(nanos)
    }
}

#[test]
fn the_self_test_accepts_a_correct_clock_whatever_its_own_drift() {
    let (mut clock, reference) = setup(-42.0);
    clock.set_frequency(7.0).unwrap();
    let r = check_frequency_response(&mut clock, &reference, &SelfTestConfig::default()).unwrap();
    assert_eq!(r.applied_change_ppm, 100.0);
    assert!((r.measured_change_ppm - 100.0).abs() < 0.5, "{r:?}");
    // The drift shows in both measurements, not in their difference.
    assert!((r.before.ppm - (-35.0)).abs() < 0.5, "{r:?}");
    assert_eq!(clock.frequency().unwrap(), 7.0, "restored");
}

/// The clock's offset from the host's timeline now, ns.
fn offset_ns(clock: &SimulatedClock<ManualHost>, host: &ManualHost) -> i64 {
    clock.now().nanos() - host.realtime_ns()
}

#[test]
fn the_self_test_takes_its_phase_back() {
    // +100 ppm for a little over 2 s moves a clock 0.2 ms; the daemon starts serving time right
    // after, so the test must leave the phase where the clock's own rate would have put it.
    for start_ppm in [7.0, 450.0, -480.0, 499.9, -499.0] {
        let host = ManualHost::new(1_785_427_891 * S);
        let mut clock = SimulatedClock::with_host(host.clone(), 0.0, 0.0);
        let reference = NoisyReference::new(host.clone());
        clock.set_frequency(start_ppm).unwrap();
        let (t0, o0) = (host.realtime_ns(), offset_ns(&clock, &host));
        check_frequency_response(&mut clock, &reference, &SelfTestConfig::default()).unwrap();
        let (t1, o1) = (host.realtime_ns(), offset_ns(&clock, &host));
        // However close to its limit the clock starts, the test ends in bounded time (about
        // 7 s at most by the reference: 2.5 s before, 2.2 s probing, at most 4.4 s back).
        assert!(
            t1 - t0 < 10 * S,
            "from {start_ppm} ppm: {} s",
            (t1 - t0) / S
        );
        let own_rate = start_ppm * 1e-6 * (t1 - t0) as f64;
        let left = (o1 - o0) as f64 - own_rate;
        assert!(
            left.abs() < 2_000.0,
            "from {start_ppm} ppm: the self-test left the clock {left:+.0} ns off"
        );
        assert_eq!(clock.frequency().unwrap(), start_ppm, "restored");
    }
}

#[test]
fn the_self_test_probes_downwards_near_the_top_of_the_range() {
    let (mut clock, reference) = setup(0.0);
    clock.set_frequency(450.0).unwrap();
    let r = check_frequency_response(&mut clock, &reference, &SelfTestConfig::default()).unwrap();
    assert_eq!(r.applied_change_ppm, -100.0);
    assert!((r.measured_change_ppm + 100.0).abs() < 0.5, "{r:?}");
    assert_eq!(clock.frequency().unwrap(), 450.0);
}

#[test]
fn the_self_test_refuses_an_inverted_clock() {
    let (clock, reference) = setup(0.0);
    let mut inverted = Scaled(clock, -1.0);
    let e = check_frequency_response(&mut inverted, &reference, &SelfTestConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a +100.000 ppm frequency change measured -10"),
        "{e}"
    );
    assert!(e.contains("runs the clock the wrong way"), "{e}");
    assert_eq!(inverted.frequency().unwrap(), 0.0, "restored");
}

#[test]
fn the_self_test_refuses_a_clock_with_the_wrong_unit() {
    let (clock, reference) = setup(0.0);
    // 100 ns units taken for QPC counts at 3.58 MHz, say: a third of the intended change.
    let mut scaled = Scaled(clock, 0.35);
    let cfg = SelfTestConfig {
        delta_ppm: 20.0,
        ..SelfTestConfig::default()
    };
    let e = check_frequency_response(&mut scaled, &reference, &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("measured +6.") || e.contains("measured +7."),
        "{e}"
    );
    assert!(
        e.contains("(0.3") && e.contains(" times the intended change)"),
        "{e}"
    );
}

/// A clock whose frequency cannot be set (no privilege).
struct ReadOnly(SimulatedClock<ManualHost>, Cell<u32>);

impl Clock for ReadOnly {
    fn name(&self) -> &'static str {
        "read-only"
    }
    fn now(&self) -> LocalTime {
        self.0.now()
    }
    fn set_frequency(&mut self, _ppm: f64) -> Result<(), ClockError> {
        self.1.set(self.1.get() + 1);
        Err(ClockError::PermissionDenied {
            operation: "set",
            hint: "be root",
        })
    }
    fn frequency(&self) -> Result<f64, ClockError> {
        Ok(0.0)
    }
    fn max_frequency(&self) -> f64 {
        500.0
    }
    fn step(&mut self, _nanos: i64) -> Result<(), ClockError> {
        unreachable!("never reached: the first set fails")
    }
}

#[test]
fn an_error_stops_the_test_and_tries_to_restore_the_frequency() {
    let (clock, reference) = setup(0.0);
    let mut ro = ReadOnly(clock, Cell::new(0));
    let cfg = ClockTestConfig {
        measure: MeasureConfig {
            window: Duration::from_millis(100),
            checkpoints: 3,
            ..MeasureConfig::default()
        },
        ..ClockTestConfig::default()
    };
    let err = run(&mut ro, &reference, &cfg).unwrap_err();
    assert!(matches!(err, ClockError::PermissionDenied { .. }));
    // The failed +100 ppm, then the restore attempt.
    assert_eq!(ro.1.get(), 2);
}
