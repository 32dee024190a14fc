//! The Windows system clock.
//!
//! - Frequency: `SetSystemTimeAdjustmentPrecise` where it exists (Windows 10 / Server 2016 and
//!   later; resolved at run time), else the legacy `SetSystemTimeAdjustment`, whose unit is
//!   6.4 ppm at the usual 15.625 ms increment. Units and sign: see
//!   [`crate::units::precise_adjustment_for_ppm`] and
//!   [`crate::units::legacy_adjustment_for_ppm`]. Microsoft documents the precise API's units
//!   only through its sample code, so [`WindowsClock::self_test`] measures an adjustment against
//!   QPC before a servo may rely on it.
//! - Steps: the time is read with `GetSystemTimePreciseAsFileTime` bracketed by QPC and set
//!   with ntdll's `NtSetSystemTime`, both in 100 ns units (SetSystemTime's SYSTEMTIME has only
//!   whole milliseconds; it is the fallback), then read back: a residual above 10 µs is
//!   corrected and the set latency learned ([`crate::windows_step`]).
//! - Privilege: SeSystemtimePrivilege is enabled explicitly when the clock is opened; an
//!   account that lacks it gets a clear error at start instead of failures later.
//!
//! Dropping the clock changes nothing: the adjustment stays in force (with "adjustment
//! disabled" FALSE, so Windows does not take the clock back), and a stopped daemon leaves the
//! clock running at its learned rate. The Windows Time service (w32time) must not run beside
//! dantesync; if it changes the adjustment, [`Clock::foreign_adjustment`] reports it.

mod sys;

use std::cell::Cell;

use dantesync_core::LocalTime;

use crate::clock::{Clock, ClockError, ForeignAdjustment};
use crate::clock_exercise::{
    check_frequency_response, FrequencyResponse, Reference, SelfTestConfig,
};
use crate::units::{
    filetime_to_unix_nanos, frequency_in_range, legacy_adjustment_for_ppm, legacy_ppm,
    legacy_resolution_ppm, precise_adjustment_for_ppm, precise_ppm, qpc_to_nanos,
    LINUX_MAX_FREQ_PPM,
};
use crate::windows_step::{StepOs, StepOutcome, Stepper};

/// Whether this Windows has Get/SetSystemTimeAdjustmentPrecise (Windows 10 and later; not
/// Wine 8), found without opening the clock: a daemon on a simulated clock says it too, so a
/// machine that would fall back to the legacy interface is known before it matters.
pub fn has_precise_adjustment() -> bool {
    sys::precise_api().is_some()
}

const PERMISSION_HINT: &str =
    "adjusting the system clock needs the \"Change the system time\" right \
     (SeSystemtimePrivilege): run dantesync as a service under LocalSystem or from an elevated \
     Administrator prompt; to try it without, use \"clock\": {\"kind\": \"simulated\"}";

/// The same range as Linux, so the engine behaves alike on both.
const MAX_FREQ_PPM: f64 = LINUX_MAX_FREQ_PPM;

#[derive(Debug)]
enum Api {
    Precise {
        api: sys::PreciseApi,
        increment: u64,
        qpc_frequency: u64,
    },
    Legacy {
        increment: u32,
    },
}

/// The Windows system clock.
#[derive(Debug)]
pub struct WindowsClock {
    api: Api,
    /// (adjustment, disabled) last written or found at open.
    expected: Cell<(u64, bool)>,
    pending: Cell<Option<ForeignAdjustment>>,
    stepper: Stepper,
    last_step: Option<StepOutcome>,
}

impl WindowsClock {
    /// Enables SeSystemtimePrivilege and reads the present adjustment; changes nothing else.
    pub fn open() -> Result<Self, ClockError> {
        sys::enable_systemtime_privilege().map_err(|e| {
            ClockError::from_os("enabling SeSystemtimePrivilege", e, PERMISSION_HINT)
        })?;
        let api = match sys::precise_api() {
            Some(api) => {
                let a = api
                    .get()
                    .map_err(|e| os("GetSystemTimeAdjustmentPrecise", e))?;
                let qpf = sys::qpc_frequency();
                Api::Precise {
                    api,
                    increment: a.increment,
                    qpc_frequency: u64::try_from(qpf).unwrap_or(0),
                }
            }
            None => {
                let a = sys::legacy_get().map_err(|e| os("GetSystemTimeAdjustment", e))?;
                Api::Legacy {
                    increment: u32::try_from(a.increment).unwrap_or(u32::MAX),
                }
            }
        };
        let clock = Self {
            api,
            expected: Cell::new((0, true)),
            pending: Cell::new(None),
            stepper: Stepper::default(),
            last_step: None,
        };
        let now = clock.read()?;
        clock.expected.set((now.adjustment, now.disabled));
        Ok(clock)
    }

    /// Which interface is in use and its resolution, for the log.
    pub fn describe(&self) -> String {
        match &self.api {
            Api::Precise {
                increment,
                qpc_frequency,
                ..
            } => format!(
                "SetSystemTimeAdjustmentPrecise (increment {increment}, QPC {qpc_frequency} Hz, \
                 {:.3} ppm per unit)",
                1e6 / (*qpc_frequency).max(1) as f64
            ),
            Api::Legacy { increment } => format!(
                "SetSystemTimeAdjustment (legacy: increment {increment} × 100 ns, {:.2} ppm per \
                 unit)",
                legacy_resolution_ppm(*increment)
            ),
        }
    }

    /// How the last step landed: its residual, the sets it took, the learned set latency.
    pub fn last_step(&self) -> Option<StepOutcome> {
        self.last_step
    }

    /// The start-up self-test: a +100 ppm change must measure +100 ppm against QPC (±5 ppm),
    /// or the servo must not run. Takes about 7 s and restores the frequency and the phase.
    pub fn self_test(&mut self) -> Result<FrequencyResponse, ClockError> {
        check_frequency_response(self, &PerformanceCounter::new(), &SelfTestConfig::default())
    }

    fn read(&self) -> Result<sys::Adjustment, ClockError> {
        match &self.api {
            Api::Precise { api, .. } => api
                .get()
                .map_err(|e| os("GetSystemTimeAdjustmentPrecise", e)),
            Api::Legacy { .. } => sys::legacy_get().map_err(|e| os("GetSystemTimeAdjustment", e)),
        }
    }

    fn ppm_of(&self, a: sys::Adjustment) -> f64 {
        if a.disabled {
            return 0.0;
        }
        match &self.api {
            Api::Precise {
                increment,
                qpc_frequency,
                ..
            } => precise_ppm(a.adjustment, *increment, *qpc_frequency),
            Api::Legacy { increment } => {
                legacy_ppm(u32::try_from(a.adjustment).unwrap_or(u32::MAX), *increment)
            }
        }
    }

    fn observe(&self, a: sys::Adjustment) {
        let expected = self.expected.get();
        if expected != (a.adjustment, a.disabled) {
            let found_ppm = self.ppm_of(a);
            let seen = match self.pending.get() {
                Some(earlier) => ForeignAdjustment {
                    found_ppm,
                    ..earlier
                },
                None => {
                    let before = sys::Adjustment {
                        adjustment: expected.0,
                        increment: a.increment,
                        disabled: expected.1,
                    };
                    ForeignAdjustment {
                        expected_ppm: self.ppm_of(before),
                        found_ppm,
                    }
                }
            };
            self.pending.set(Some(seen));
            self.expected.set((a.adjustment, a.disabled));
        }
    }
}

fn os(operation: &'static str, e: std::io::Error) -> ClockError {
    ClockError::from_os(operation, e, PERMISSION_HINT)
}

impl Clock for WindowsClock {
    fn name(&self) -> &'static str {
        match self.api {
            Api::Precise { .. } => "windows SetSystemTimeAdjustmentPrecise",
            Api::Legacy { .. } => "windows SetSystemTimeAdjustment",
        }
    }

    fn now(&self) -> LocalTime {
        LocalTime::from_nanos(filetime_to_unix_nanos(sys::system_time_filetime()))
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !frequency_in_range(ppm, MAX_FREQ_PPM) {
            return Err(ClockError::FrequencyOutOfRange {
                requested_ppm: ppm,
                max_ppm: MAX_FREQ_PPM,
            });
        }
        self.observe(self.read()?);
        let adjustment = match &self.api {
            Api::Precise {
                api,
                increment,
                qpc_frequency,
            } => {
                let adj = precise_adjustment_for_ppm(ppm, *increment, *qpc_frequency);
                api.set(adj, false)
                    .map_err(|e| os("SetSystemTimeAdjustmentPrecise", e))?;
                adj
            }
            Api::Legacy { increment } => {
                let adj = legacy_adjustment_for_ppm(ppm, *increment);
                sys::legacy_set(adj, false).map_err(|e| os("SetSystemTimeAdjustment", e))?;
                u64::from(adj)
            }
        };
        // Expect what Windows reports back from now on, should it round the value.
        let now = self
            .read()
            .map_or((adjustment, false), |a| (a.adjustment, a.disabled));
        self.expected.set(now);
        Ok(())
    }

    fn frequency(&self) -> Result<f64, ClockError> {
        let a = self.read()?;
        self.observe(a);
        Ok(self.ppm_of(a))
    }

    fn max_frequency(&self) -> f64 {
        MAX_FREQ_PPM
    }

    fn step(&mut self, nanos: i64) -> Result<(), ClockError> {
        let outcome = self
            .stepper
            .step(&mut SystemStepOs::new(), nanos)
            .map_err(|e| os("NtSetSystemTime", e))?;
        self.last_step = Some(outcome);
        Ok(())
    }

    fn step_report(&self) -> Option<Result<String, String>> {
        self.last_step.map(|o| {
            let text = format!(
                "landed {:+.1} µs from its target after {} set{} (set latency {:.1} µs)",
                o.residual_ns as f64 / 1e3,
                o.tries,
                if o.tries == 1 { "" } else { "s" },
                o.latency_ns as f64 / 1e3
            );
            if o.within_tolerance {
                Ok(text)
            } else {
                Err(text)
            }
        })
    }

    fn foreign_adjustment(&mut self) -> Result<Option<ForeignAdjustment>, ClockError> {
        self.observe(self.read()?);
        Ok(self.pending.take())
    }
}

/// The real calls behind a step.
#[derive(Debug)]
struct SystemStepOs {
    qpc_frequency: i64,
}

impl SystemStepOs {
    fn new() -> Self {
        Self {
            qpc_frequency: sys::qpc_frequency(),
        }
    }
}

impl StepOs for SystemStepOs {
    fn qpc(&mut self) -> i64 {
        sys::qpc()
    }

    fn qpc_frequency(&self) -> i64 {
        self.qpc_frequency
    }

    fn read(&mut self) -> u64 {
        sys::system_time_filetime()
    }

    fn set(&mut self, filetime: u64) -> std::io::Result<()> {
        sys::set_system_time_filetime(filetime).map(|_| ())
    }
}

/// QueryPerformanceCounter in ns: the reference for measuring what an adjustment did.
#[derive(Clone, Copy, Debug)]
pub struct PerformanceCounter {
    frequency: i64,
}

impl PerformanceCounter {
    pub fn new() -> Self {
        Self {
            frequency: sys::qpc_frequency(),
        }
    }
}

impl Default for PerformanceCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reference for PerformanceCounter {
    fn name(&self) -> &'static str {
        "QueryPerformanceCounter"
    }

    fn now_ns(&self) -> i64 {
        qpc_to_nanos(sys::qpc(), self.frequency)
    }
}
