//! Pure conversions between the engine's units (ppm, nanoseconds since the Unix epoch) and what
//! each operating system's clock interface takes.
//!
//! Everything here is platform-independent on purpose: the Windows arithmetic is unit-tested on
//! the Linux CI machine, and the Linux arithmetic is tested without touching a kernel.

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Common
// ---------------------------------------------------------------------------------------------

/// `ppm` limited to `±max_ppm`; NaN becomes 0 (a servo that produced NaN must not be followed).
pub fn clamp_ppm(ppm: f64, max_ppm: f64) -> f64 {
    if ppm.is_nan() {
        0.0
    } else {
        ppm.clamp(-max_ppm, max_ppm)
    }
}

/// Whether a requested frequency may be applied as it is: finite and within `±max_ppm`.
pub fn frequency_in_range(ppm: f64, max_ppm: f64) -> bool {
    ppm.is_finite() && ppm.abs() <= max_ppm
}

// ---------------------------------------------------------------------------------------------
// Linux: struct timex
// ---------------------------------------------------------------------------------------------

/// `timex.freq` counts 2^-16 ppm ("scaled ppm", adjtimex(2)): 65536 units per ppm.
pub const TIMEX_FREQ_UNITS_PER_PPM: f64 = 65_536.0;

/// The kernel clamps `timex.freq` to ±500 ppm (MAXFREQ, 500 µs/s, in kernel/time/ntp.c).
pub const LINUX_MAX_FREQ_PPM: f64 = 500.0;

/// The kernel's NTP_PHASE_LIMIT: it raises STA_UNSYNC by itself once `maxerror` (µs), which it
/// grows by 500 µs every second, passes 16 s.
pub const LINUX_MAX_ERROR_LIMIT_US: i64 = 16_000_000;

/// `ppm` as a `timex.freq` value (2^-16 ppm), rounded to the nearest unit (1/65536 ppm =
/// 15.3 ppb, far below anything the servo resolves). Positive = the clock runs faster.
pub fn ppm_to_timex_freq(ppm: f64) -> i64 {
    (ppm * TIMEX_FREQ_UNITS_PER_PPM).round() as i64
}

/// A `timex.freq` value in ppm.
pub fn timex_freq_to_ppm(freq: i64) -> f64 {
    freq as f64 / TIMEX_FREQ_UNITS_PER_PPM
}

/// The kernel stores the frequency in its own scale and converts back on read, which can lose
/// one unit: a read-back within this many units of what was written is the same frequency.
pub const TIMEX_FREQ_READBACK_SLACK: i64 = 2;

/// Whether the kernel's (freq, tick) differ from what this process last wrote or saw, i.e.
/// someone else (chronyd, ntpd, systemd-timesyncd, an admin's adjtimex) changed the rate.
pub fn kernel_frequency_changed(expected: (i64, i64), found: (i64, i64)) -> bool {
    (expected.0 - found.0).abs() > TIMEX_FREQ_READBACK_SLACK || expected.1 != found.1
}

/// The nominal `timex.tick` (µs per kernel tick as seen by adjtimex) for a USER_HZ, normally
/// 100 on Linux, giving 10 000 µs.
pub fn nominal_tick_us(user_hz: i64) -> i64 {
    1_000_000 / user_hz.max(1)
}

/// The rate offset, in ppm, of a `timex.tick` that differs from nominal. One unit of tick is
/// 1 µs per 1/USER_HZ s: 100 ppm at USER_HZ = 100. This is how chrony reaches beyond ±500 ppm;
/// dantesync keeps tick nominal but must include a foreign tick in what it reads.
pub fn tick_offset_ppm(tick: i64, user_hz: i64) -> f64 {
    let nominal = nominal_tick_us(user_hz);
    (tick - nominal) as f64 * 1e6 / nominal as f64
}

/// The total frequency the kernel applies for a (freq, tick) pair, in ppm.
///
/// Exactly, the rate is (tick·USER_HZ/1e6)·(1 + freq) − 1; the product term is at most
/// 500 ppm × a few hundred ppm = 0.1 ppm and only present when a foreign tick is in force.
pub fn kernel_total_ppm(freq: i64, tick: i64, user_hz: i64) -> f64 {
    let tick_factor = 1.0 + tick_offset_ppm(tick, user_hz) * 1e-6;
    let freq_factor = 1.0 + timex_freq_to_ppm(freq) * 1e-6;
    (tick_factor * freq_factor - 1.0) * 1e6
}

/// A step of `nanos` as the (seconds, nanoseconds) pair ADJ_SETOFFSET | ADJ_NANO takes: the
/// kernel requires the nanoseconds in [0, 1e9), so a negative step has a negative second count
/// and a positive fraction (−1.5 s = (−2 s, +0.5 s)).
pub fn split_step(nanos: i64) -> (i64, i64) {
    (
        nanos.div_euclid(NANOS_PER_SEC),
        nanos.rem_euclid(NANOS_PER_SEC),
    )
}

/// An error bound in nanoseconds as the µs `timex.maxerror`/`esterror` take, rounded up (an
/// error bound must not shrink by rounding) and capped at the kernel's own limit.
pub fn error_bound_us(nanos: u64) -> i64 {
    let us = nanos.div_ceil(1_000);
    us.min(LINUX_MAX_ERROR_LIMIT_US as u64) as i64
}

// ---------------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------------

/// FILETIME / NT system time counts 100 ns intervals since 1601-01-01 UTC (Microsoft,
/// "NtQuerySystemTime": "the number of 100-nanosecond intervals since January 1, 1601 (UTC)").
pub const FILETIME_NANOS_PER_TICK: i64 = 100;

/// Seconds from 1601-01-01 to 1970-01-01 (369 years, 89 of them leap years).
pub const FILETIME_UNIX_EPOCH_SECS: i64 = 11_644_473_600;

/// The Unix time, in ns, of a FILETIME count.
pub fn filetime_to_unix_nanos(filetime: u64) -> i64 {
    let ticks = i128::from(filetime) - i128::from(FILETIME_UNIX_EPOCH_SECS) * 10_000_000;
    (ticks * i128::from(FILETIME_NANOS_PER_TICK)) as i64
}

/// The FILETIME count of a Unix time in ns, rounded to the nearest 100 ns; None before 1601.
pub fn unix_nanos_to_filetime(nanos: i64) -> Option<u64> {
    let ticks = round_div(i128::from(nanos), i128::from(FILETIME_NANOS_PER_TICK))
        + i128::from(FILETIME_UNIX_EPOCH_SECS) * 10_000_000;
    u64::try_from(ticks).ok()
}

/// A step in ns as 100 ns ticks, rounded to the nearest: Windows can only step in 100 ns units,
/// so a step is off by at most 50 ns.
pub fn step_to_filetime_ticks(nanos: i64) -> i64 {
    round_div(i128::from(nanos), i128::from(FILETIME_NANOS_PER_TICK)) as i64
}

fn round_div(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    if 2 * r >= d {
        q + 1
    } else {
        q
    }
}

/// The adjustment for `ppm` with the legacy `SetSystemTimeAdjustment`.
///
/// Microsoft documents `dwTimeAdjustment` as "the number of 100-nanosecond units added to the
/// system time-of-day for each lpTimeIncrement period of time that actually passes", with
/// `lpTimeIncrement` from GetSystemTimeAdjustment "the interval in 100-nanosecond units at which
/// the system will add lpTimeAdjustment" (learn.microsoft.com, SetSystemTimeAdjustment and
/// GetSystemTimeAdjustment). So the clock runs at adjustment/increment: `increment` means 0 ppm
/// and a larger adjustment runs faster. One unit is 1e6/increment ppm: 6.4 ppm at the common
/// 15.625 ms (156 250) increment, which is why the precise API is preferred.
pub fn legacy_adjustment_for_ppm(ppm: f64, increment: u32) -> u32 {
    let inc = f64::from(increment);
    (inc * (1.0 + ppm * 1e-6))
        .round()
        .clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The ppm a legacy adjustment applies (see [`legacy_adjustment_for_ppm`]).
pub fn legacy_ppm(adjustment: u32, increment: u32) -> f64 {
    if increment == 0 {
        return 0.0;
    }
    (f64::from(adjustment) - f64::from(increment)) * 1e6 / f64::from(increment)
}

/// The smallest frequency change the legacy API can make, in ppm.
pub fn legacy_resolution_ppm(increment: u32) -> f64 {
    1e6 / f64::from(increment.max(1))
}

/// The adjustment for `ppm` with `SetSystemTimeAdjustmentPrecise`.
///
/// Microsoft's reference page only says "the adjusted clock update frequency". Its sample code
/// (the same page, `RunNewAdjustmentSequence`) is the authority for units and sign: "Adjusting
/// the system clock by +N PPM" is `SetSystemTimeAdjustmentPrecise(current + N ×
/// QueryPerformanceFrequency / 1e6, FALSE)`. So one ppm is QPF/1e6 units and a larger value runs
/// faster; the unadjusted value is `lpTimeIncrement` from GetSystemTimeAdjustmentPrecise (equal
/// to QPF, 10 MHz, on Windows 10 and later).
///
/// NOT verified on a real Windows machine here: one third-party project reports having measured
/// the opposite sign. This is why the Windows backend measures the effect of an adjustment
/// against QPC at start and refuses to run when sign or scale disagree with this formula.
pub fn precise_adjustment_for_ppm(ppm: f64, increment: u64, qpc_frequency: u64) -> u64 {
    let delta = ppm * qpc_frequency as f64 * 1e-6;
    (increment as f64 + delta).round().max(0.0) as u64
}

/// The ppm a precise adjustment applies (see [`precise_adjustment_for_ppm`]).
pub fn precise_ppm(adjustment: u64, increment: u64, qpc_frequency: u64) -> f64 {
    if qpc_frequency == 0 {
        return 0.0;
    }
    (adjustment as f64 - increment as f64) * 1e6 / qpc_frequency as f64
}

/// QPC counts as nanoseconds, exact for any count a running machine reaches (i128 product).
pub fn qpc_to_nanos(counts: i64, qpc_frequency: i64) -> i64 {
    if qpc_frequency <= 0 {
        return 0;
    }
    (i128::from(counts) * 1_000_000_000 / i128::from(qpc_frequency)) as i64
}

/// How a measured frequency change compares with the one requested.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AdjustmentCheck {
    /// Measured within tolerance of what was requested.
    Correct,
    /// The clock moved the other way: the sign convention is wrong.
    WrongSign {
        requested_ppm: f64,
        measured_ppm: f64,
    },
    /// Right direction, wrong size (measured/requested = `ratio`).
    WrongScale {
        requested_ppm: f64,
        measured_ppm: f64,
        ratio: f64,
    },
}

/// Judges a start-up self-test: `requested_ppm` is the change applied (as the clock reads it
/// back, so quantisation does not count as an error), `measured_ppm` the change measured against
/// an independent counter; `tolerance_ppm` absorbs measurement noise.
pub fn check_adjustment(
    requested_ppm: f64,
    measured_ppm: f64,
    tolerance_ppm: f64,
) -> AdjustmentCheck {
    if (measured_ppm - requested_ppm).abs() <= tolerance_ppm {
        return AdjustmentCheck::Correct;
    }
    if requested_ppm != 0.0 && measured_ppm.signum() != requested_ppm.signum() {
        return AdjustmentCheck::WrongSign {
            requested_ppm,
            measured_ppm,
        };
    }
    AdjustmentCheck::WrongScale {
        requested_ppm,
        measured_ppm,
        ratio: if requested_ppm == 0.0 {
            f64::INFINITY
        } else {
            measured_ppm / requested_ppm
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timex_freq_is_ppm_times_65536_and_keeps_the_sign() {
        assert_eq!(ppm_to_timex_freq(1.0), 65_536);
        assert_eq!(ppm_to_timex_freq(100.0), 6_553_600);
        assert_eq!(ppm_to_timex_freq(-250.0), -16_384_000);
        assert_eq!(ppm_to_timex_freq(500.0), 32_768_000);
        // Rounded to the nearest 2^-16 ppm, symmetric around zero.
        assert_eq!(ppm_to_timex_freq(0.000_01), 1);
        assert_eq!(ppm_to_timex_freq(-0.000_01), -1);
        assert_eq!(ppm_to_timex_freq(0.000_007), 0);
        assert_eq!(timex_freq_to_ppm(6_553_600), 100.0);
        assert_eq!(timex_freq_to_ppm(-32_768), -0.5);
        for ppm in [-499.99, -12.345_678, 0.0, 3.25, 421.0] {
            let back = timex_freq_to_ppm(ppm_to_timex_freq(ppm));
            assert!((back - ppm).abs() <= 0.5 / 65_536.0, "{ppm} -> {back}");
        }
    }

    #[test]
    fn clamping_limits_and_neutralises_nan() {
        assert_eq!(clamp_ppm(600.0, 500.0), 500.0);
        assert_eq!(clamp_ppm(-501.0, 500.0), -500.0);
        assert_eq!(clamp_ppm(-12.5, 500.0), -12.5);
        assert_eq!(clamp_ppm(f64::NAN, 500.0), 0.0);
        assert_eq!(clamp_ppm(f64::INFINITY, 500.0), 500.0);
        assert!(frequency_in_range(500.0, 500.0));
        assert!(frequency_in_range(-500.0, 500.0));
        assert!(!frequency_in_range(500.000_1, 500.0));
        assert!(!frequency_in_range(f64::NAN, 500.0));
        assert!(!frequency_in_range(f64::NEG_INFINITY, 500.0));
    }

    #[test]
    fn tick_offsets_are_100_ppm_per_microsecond_at_user_hz_100() {
        assert_eq!(nominal_tick_us(100), 10_000);
        assert_eq!(tick_offset_ppm(10_000, 100), 0.0);
        assert_eq!(tick_offset_ppm(10_001, 100), 100.0);
        assert_eq!(tick_offset_ppm(9_990, 100), -1_000.0);
        let plain = kernel_total_ppm(ppm_to_timex_freq(-250.0), 10_000, 100);
        assert!((plain + 250.0).abs() < 1e-9, "{plain}");
        // tick +1 (100 ppm) and freq +10 ppm: (1.0001 × 1.00001 − 1) × 1e6 = 110.001 ppm.
        let total = kernel_total_ppm(ppm_to_timex_freq(10.0), 10_001, 100);
        assert!((total - 110.001).abs() < 1e-6, "{total}");
    }

    #[test]
    fn foreign_frequency_changes_ignore_the_kernels_readback_rounding() {
        let ours = (ppm_to_timex_freq(12.5), 10_000);
        assert!(!kernel_frequency_changed(ours, ours));
        assert!(!kernel_frequency_changed(ours, (ours.0 - 1, 10_000)));
        assert!(!kernel_frequency_changed(ours, (ours.0 + 2, 10_000)));
        // 3/65536 ppm away is a different frequency, and so is any other tick.
        assert!(kernel_frequency_changed(ours, (ours.0 + 3, 10_000)));
        assert!(kernel_frequency_changed(ours, (ours.0, 10_001)));
        assert!(kernel_frequency_changed(
            ours,
            (ppm_to_timex_freq(-3.0), 10_000)
        ));
    }

    #[test]
    fn steps_split_into_whole_seconds_and_a_positive_fraction() {
        assert_eq!(split_step(1_500_000_000), (1, 500_000_000));
        assert_eq!(split_step(-1_500_000_000), (-2, 500_000_000));
        assert_eq!(split_step(-1), (-1, 999_999_999));
        assert_eq!(split_step(0), (0, 0));
        assert_eq!(split_step(-3_000_000_000), (-3, 0));
        assert_eq!(split_step(999_999_999), (0, 999_999_999));
        for n in [-7_123_456_789i64, -1_000_000_001, 42, 86_400_000_000_123] {
            let (s, ns) = split_step(n);
            assert!((0..NANOS_PER_SEC).contains(&ns));
            assert_eq!(s * NANOS_PER_SEC + ns, n);
        }
    }

    #[test]
    fn error_bounds_round_up_to_microseconds_and_cap_at_16_s() {
        assert_eq!(error_bound_us(0), 0);
        assert_eq!(error_bound_us(1), 1);
        assert_eq!(error_bound_us(1_000), 1);
        assert_eq!(error_bound_us(1_001), 2);
        assert_eq!(error_bound_us(250_000), 250);
        assert_eq!(error_bound_us(20_000_000_000), 16_000_000);
    }

    #[test]
    fn filetime_and_unix_time_convert_both_ways() {
        // 1970-01-01 is 116444736000000000 ticks after 1601-01-01.
        assert_eq!(unix_nanos_to_filetime(0), Some(116_444_736_000_000_000));
        assert_eq!(filetime_to_unix_nanos(116_444_736_000_000_000), 0);
        // 2024-01-01T00:00:00Z = 1704067200 s.
        let t = 1_704_067_200 * NANOS_PER_SEC + 123_456_700;
        let ft = unix_nanos_to_filetime(t).unwrap();
        assert_eq!(ft, 133_485_408_001_234_567);
        assert_eq!(filetime_to_unix_nanos(ft), t);
        // 100 ns resolution: the nearest tick.
        assert_eq!(unix_nanos_to_filetime(149), Some(116_444_736_000_000_001));
        assert_eq!(unix_nanos_to_filetime(150), Some(116_444_736_000_000_002));
        assert_eq!(unix_nanos_to_filetime(-50), Some(116_444_736_000_000_000));
        // The earliest LocalTime (1677) is still after 1601.
        assert_eq!(
            unix_nanos_to_filetime(i64::MIN),
            Some(24_211_015_631_452_242)
        );
    }

    #[test]
    fn windows_steps_have_100_ns_resolution() {
        assert_eq!(step_to_filetime_ticks(1_500_000_000), 15_000_000);
        assert_eq!(step_to_filetime_ticks(-1_500_000_000), -15_000_000);
        assert_eq!(step_to_filetime_ticks(149), 1);
        assert_eq!(step_to_filetime_ticks(150), 2);
        assert_eq!(step_to_filetime_ticks(-149), -1);
        assert_eq!(step_to_filetime_ticks(-151), -2);
        assert_eq!(step_to_filetime_ticks(37), 0);
    }

    #[test]
    fn legacy_adjustment_follows_the_documented_units_and_sign() {
        // 15.625 ms increment: one unit is 6.4 ppm.
        assert_eq!(legacy_adjustment_for_ppm(0.0, 156_250), 156_250);
        assert_eq!(legacy_adjustment_for_ppm(100.0, 156_250), 156_266); // 15.625 units
        assert_eq!(legacy_adjustment_for_ppm(-250.0, 156_250), 156_211); // −39.06 units
        assert_eq!(legacy_ppm(156_266, 156_250), 102.4);
        assert_eq!(legacy_ppm(156_211, 156_250), -249.6);
        assert_eq!(legacy_resolution_ppm(156_250), 6.4);
        // 1 ms increment (10 000 units): 100 ppm per unit.
        assert_eq!(legacy_adjustment_for_ppm(100.0, 10_000), 10_001);
        assert_eq!(legacy_ppm(9_999, 10_000), -100.0);
    }

    #[test]
    fn precise_adjustment_follows_microsofts_sample_units_and_sign() {
        // Windows 10+: QPF = 10 MHz = increment; 1 ppm = 10 units, larger = faster.
        assert_eq!(
            precise_adjustment_for_ppm(0.0, 10_000_000, 10_000_000),
            10_000_000
        );
        assert_eq!(
            precise_adjustment_for_ppm(100.0, 10_000_000, 10_000_000),
            10_001_000
        );
        assert_eq!(
            precise_adjustment_for_ppm(-250.0, 10_000_000, 10_000_000),
            9_997_500
        );
        assert_eq!(
            precise_adjustment_for_ppm(0.05, 10_000_000, 10_000_000),
            10_000_001
        );
        assert_eq!(precise_ppm(10_001_000, 10_000_000, 10_000_000), 100.0);
        assert_eq!(precise_ppm(9_997_500, 10_000_000, 10_000_000), -250.0);
        // An older machine with a 3.579545 MHz (ACPI PM) QPC: 1 ppm = 3.58 units.
        assert_eq!(
            precise_adjustment_for_ppm(100.0, 3_579_545, 3_579_545),
            3_579_903
        );
        let back = precise_ppm(3_579_903, 3_579_545, 3_579_545);
        assert!((back - 100.013).abs() < 0.001, "{back}");
    }

    #[test]
    fn qpc_counts_convert_to_nanoseconds_exactly() {
        assert_eq!(qpc_to_nanos(10_000_000, 10_000_000), 1_000_000_000);
        assert_eq!(qpc_to_nanos(1, 10_000_000), 100);
        assert_eq!(qpc_to_nanos(3_579_545, 3_579_545), 1_000_000_000);
        // A year of uptime at 10 MHz does not overflow or lose precision.
        let year = 365 * 86_400 * 10_000_000i64;
        assert_eq!(qpc_to_nanos(year + 7, 10_000_000), year * 100 + 700);
        assert_eq!(qpc_to_nanos(5, 0), 0);
    }

    #[test]
    fn self_test_verdicts_name_sign_and_scale_errors() {
        assert_eq!(
            check_adjustment(100.0, 100.3, 0.5),
            AdjustmentCheck::Correct
        );
        assert_eq!(
            check_adjustment(100.0, -99.8, 0.5),
            AdjustmentCheck::WrongSign {
                requested_ppm: 100.0,
                measured_ppm: -99.8
            }
        );
        match check_adjustment(100.0, 1_000.0, 0.5) {
            AdjustmentCheck::WrongScale { ratio, .. } => assert_eq!(ratio, 10.0),
            other => panic!("{other:?}"),
        }
        match check_adjustment(-250.0, -25.0, 0.5) {
            AdjustmentCheck::WrongScale { ratio, .. } => assert_eq!(ratio, 0.1),
            other => panic!("{other:?}"),
        }
    }
}
