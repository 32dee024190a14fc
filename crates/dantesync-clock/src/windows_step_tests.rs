use super::*;

/// The OS calls, in virtual time: every call costs time, a set takes effect `latency_ns` into
/// the call, and reads may be truncated to `resolution_ns` (1 ms: a coarse readback).
struct Model {
    /// The true instant, ns (QPC runs on it at 10 MHz).
    now_ns: i128,
    /// Wall clock = now + offset (ns on the FILETIME scale).
    offset_ns: i128,
    resolution_ns: i128,
    latency_ns: i128,
    set_cost_ns: i128,
    read_cost_ns: i128,
    qpc_cost_ns: i128,
    sets: u32,
    fail_set: bool,
}

/// 2025 on the FILETIME scale, in ns.
const START_WALL_NS: i128 = 13_380_000_000_000_000_000;

impl Model {
    fn new(resolution_ns: i128, latency_ns: i128) -> Self {
        Self {
            now_ns: 1_000_000_000,
            offset_ns: START_WALL_NS,
            resolution_ns,
            latency_ns,
            set_cost_ns: latency_ns + 8_000,
            read_cost_ns: 60,
            qpc_cost_ns: 30,
            sets: 0,
            fail_set: false,
        }
    }
}

impl StepOs for Model {
    fn qpc(&mut self) -> i64 {
        self.now_ns += self.qpc_cost_ns;
        (self.now_ns / 100) as i64
    }

    fn qpc_frequency(&self) -> i64 {
        10_000_000
    }

    fn read(&mut self) -> u64 {
        self.now_ns += self.read_cost_ns / 2;
        let wall = self.now_ns + self.offset_ns;
        self.now_ns += self.read_cost_ns / 2;
        let wall = wall - wall.rem_euclid(self.resolution_ns);
        (wall / 100) as u64
    }

    fn set(&mut self, filetime: u64) -> io::Result<()> {
        if self.fail_set {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "STATUS_PRIVILEGE_NOT_HELD",
            ));
        }
        self.sets += 1;
        let applied_at = self.now_ns + self.latency_ns;
        self.offset_ns = i128::from(filetime) * 100 - applied_at;
        self.now_ns += self.set_cost_ns;
        Ok(())
    }
}

/// The step's true error: where the wall clock is against where it should be.
fn true_error_ns(m: &Model, offset_before: i128, step: i64) -> i64 {
    (m.offset_ns - offset_before - i128::from(step)) as i64
}

#[test]
fn a_step_with_ms_coarse_readback_and_latency_lands_within_10_us() {
    let mut m = Model::new(1_000_000, 40_000);
    let before = m.offset_ns;
    let mut stepper = Stepper::default();
    let step = 1_234_567_891;
    let out = stepper.step(&mut m, step).unwrap();
    let err = true_error_ns(&m, before, step);
    assert!(err.abs() <= 10_000, "true error {err} ns, {out:?}");
    assert!(out.within_tolerance, "{out:?}");
    assert_eq!(out.tries, 2, "the first set lands 40 µs behind: {out:?}");
    assert_eq!(m.sets, 2);
    assert!(
        (out.latency_ns - 40_000).abs() <= 2_000,
        "learned latency {} ns, true 40000",
        out.latency_ns
    );
    assert!((out.residual_ns - err).abs() <= 2_000, "{out:?} vs {err}");
}

#[test]
fn once_the_latency_is_learned_a_step_needs_one_set() {
    let mut m = Model::new(1_000_000, 40_000);
    let mut stepper = Stepper::default();
    stepper.step(&mut m, 500_000_000).unwrap();
    for step in [-2_000_000_000, 25_000, -3_000] {
        let before = m.offset_ns;
        let sets = m.sets;
        let out = stepper.step(&mut m, step).unwrap();
        let err = true_error_ns(&m, before, step);
        assert_eq!(m.sets - sets, 1, "step {step}: {out:?}");
        assert!(err.abs() <= 2_000, "step {step}: true error {err} ns");
    }
}

#[test]
fn a_precise_readback_measures_to_within_a_microsecond() {
    let mut m = Model::new(100, 15_000);
    let before = m.offset_ns;
    let mut stepper = Stepper::default();
    let out = stepper.step(&mut m, -987_654_321).unwrap();
    let err = true_error_ns(&m, before, -987_654_321);
    assert!(err.abs() <= 1_000, "true error {err} ns, {out:?}");
    assert!((out.latency_ns - 15_000).abs() <= 500, "{out:?}");
}

#[test]
fn a_set_that_cannot_land_stops_after_the_tries_and_says_so() {
    // Latency that changes every call (here: grows by 30 µs), so no estimate holds.
    struct Drifting(Model);
    impl StepOs for Drifting {
        fn qpc(&mut self) -> i64 {
            self.0.qpc()
        }
        fn qpc_frequency(&self) -> i64 {
            self.0.qpc_frequency()
        }
        fn read(&mut self) -> u64 {
            self.0.read()
        }
        fn set(&mut self, filetime: u64) -> io::Result<()> {
            self.0.latency_ns += 30_000;
            self.0.set_cost_ns = self.0.latency_ns + 8_000;
            self.0.set(filetime)
        }
    }
    let mut os = Drifting(Model::new(1_000_000, 0));
    let mut stepper = Stepper::default();
    let out = stepper.step(&mut os, 1_000_000).unwrap();
    assert_eq!(out.tries, 4);
    assert_eq!(os.0.sets, 4);
    assert!(!out.within_tolerance);
    assert!(out.residual_ns.abs() > 10_000, "{out:?}");
}

#[test]
fn a_refused_set_is_the_error_and_a_frozen_clock_times_out() {
    let mut m = Model::new(1_000_000, 0);
    m.fail_set = true;
    let e = Stepper::default().step(&mut m, 1_000).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);

    // A clock that never ticks (resolution longer than the wait).
    let mut m = Model::new(1_000_000_000_000, 0);
    let e = Stepper::default().step(&mut m, 1_000).unwrap_err();
    assert_eq!(e.to_string(), "the system time did not change within 50 ms");
    assert_eq!(m.sets, 0);
}
