//! The start-up self-test: one small frequency change, measured, so a clock whose adjustment
//! has the wrong sign or unit is refused before a servo drives it.

use std::time::Duration;

use super::measure::{measure_rate, MeasureConfig, RateMeasurement, Reference};
use crate::clock::{Clock, ClockError};
use crate::units::{check_adjustment, AdjustmentCheck};

/// How the start-up self-test probes a clock before a servo may drive it.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfTestConfig {
    /// The frequency change applied for the probe, ppm.
    pub delta_ppm: f64,
    /// Largest acceptable |measured − applied| change, ppm. The self-test catches a wrong sign
    /// or unit (errors of 100 % or more), not fractions of a ppm, so a short measurement will do.
    pub tolerance_ppm: f64,
    pub measure: MeasureConfig,
}

impl Default for SelfTestConfig {
    fn default() -> Self {
        Self {
            delta_ppm: 100.0,
            tolerance_ppm: 5.0,
            measure: MeasureConfig {
                settle: Duration::from_millis(200),
                window: Duration::from_secs(2),
                checkpoints: 21,
                sandwiches: 15,
            },
        }
    }
}

/// What the self-test measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrequencyResponse {
    /// The change the clock reports having applied, ppm.
    pub applied_change_ppm: f64,
    /// The change of its rate against the reference, ppm.
    pub measured_change_ppm: f64,
    pub before: RateMeasurement,
    pub after: RateMeasurement,
}

/// Changes the frequency by `cfg.delta_ppm` for a moment and checks that the clock's rate
/// against the reference changes by that much, in that direction; restores the frequency in
/// every case, and takes back the phase the probe added (0.2 ms for +100 ppm over 2 s: the
/// daemon serves time right after) by running the opposite change for as long. Measuring the *change* makes the check independent of the clock's own rate
/// error. A clock that fails must not be disciplined: with the sign wrong, a servo pushes it
/// away from the leader at full speed.
pub fn check_frequency_response<C, R>(
    clock: &mut C,
    reference: &R,
    cfg: &SelfTestConfig,
) -> Result<FrequencyResponse, ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let original = clock.frequency()?;
    let max = clock.max_frequency();
    let restore = original.clamp(-max, max);
    let probe = if restore + cfg.delta_ppm <= max {
        restore + cfg.delta_ppm
    } else {
        restore - cfg.delta_ppm
    };
    let before = measure_rate(&*clock, reference, &cfg.measure);
    let probe_start = reference.now_ns();
    let probed = clock.set_frequency(probe).and_then(|()| {
        let applied = clock.frequency()? - original;
        Ok((applied, measure_rate(&*clock, reference, &cfg.measure)))
    });
    let probe_ns = reference.now_ns() - probe_start;
    let restored = match &probed {
        Ok((applied, _)) => take_back(clock, reference, restore, *applied, probe_ns),
        Err(_) => clock.set_frequency(restore),
    };
    let (applied, after) = probed?;
    restored?;
    let response = FrequencyResponse {
        applied_change_ppm: applied,
        measured_change_ppm: after.ppm - before.ppm,
        before,
        after,
    };
    let measured = response.measured_change_ppm;
    let what = format!(
        "{}: a {applied:+.3} ppm frequency change measured {measured:+.3} ppm against {}",
        clock.name(),
        reference.name()
    );
    match check_adjustment(applied, measured, cfg.tolerance_ppm) {
        AdjustmentCheck::Correct => Ok(response),
        AdjustmentCheck::WrongSign { .. } => Err(ClockError::SelfTestFailed(format!(
            "{what}: the adjustment runs the clock the wrong way. Refusing to discipline it: a \
             servo would push it away from the leader"
        ))),
        AdjustmentCheck::WrongScale { ratio, .. } => Err(ClockError::SelfTestFailed(format!(
            "{what} ({ratio:.2} times the intended change): the adjustment's unit is wrong on \
             this system. Refusing to discipline it"
        ))),
    }
}

/// Runs the clock at `restore` minus the probe's change (`applied` ppm for `probe_ns` of the
/// reference) until the phase the probe added is gone, then leaves it at `restore`. Near the
/// end of the range the opposite change is smaller and would take longer: it runs for at most
/// twice the probe's time, and what phase is left then (a clock started near its limit) is
/// stepped away, before the node serves any time.
fn take_back<C, R>(
    clock: &mut C,
    reference: &R,
    restore: f64,
    applied: f64,
    probe_ns: i64,
) -> Result<(), ClockError>
where
    C: Clock + ?Sized,
    R: Reference + ?Sized,
{
    let max = clock.max_frequency();
    let back = (restore - applied).clamp(-max, max);
    let added_ns = applied * 1e-6 * probe_ns as f64;
    let result = clock.set_frequency(back).and_then(|()| {
        let opposite = clock.frequency()? - restore;
        if opposite * applied >= 0.0 {
            return Ok(added_ns);
        }
        let wanted_ns = (probe_ns as f64 * (applied / -opposite)).min(2.0 * probe_ns as f64);
        let start = reference.now_ns();
        loop {
            let waited = (reference.now_ns() - start) as f64;
            if waited >= wanted_ns {
                return Ok(added_ns + opposite * 1e-6 * waited);
            }
            reference.sleep(Duration::from_nanos((wanted_ns - waited) as u64));
        }
    });
    let restored = clock.set_frequency(restore);
    let left_ns = result?;
    restored?;
    if left_ns.abs() >= STEP_AWAY_NS {
        clock.step(-left_ns.round() as i64)?;
    }
    Ok(())
}

/// Phase left by the take-back below which no step is made, ns.
const STEP_AWAY_NS: f64 = 1_000.0;
