//! The 64-bit NTP timestamp (RFC 5905 §6): 32 bits of seconds since 1900-01-01 00:00:00 UTC
//! and 32 bits of binary fraction.
//!
//! The seconds field wraps every 2^32 s (136 years): era 0 ends on 2036-02-07 06:28:16 UTC. The
//! wire value therefore never says which era it belongs to, so converting it to Unix time needs
//! a *pivot*, a Unix time known to be within 68 years of the answer (the local clock is always
//! good enough). Arithmetic is done in fixed point on `i128`, so nothing here loses precision
//! to floating point and nothing overflows.

/// Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01): 70 years
/// including 17 leap days.
pub const UNIX_EPOCH_NTP_SECONDS: u64 = 2_208_988_800;

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// Units of the 32-bit fraction per second.
const FRAC_PER_SEC: i128 = 1 << 32;
/// Length of one era in fraction units, i.e. the modulus of the 64-bit wire value.
const ERA_UNITS: i128 = 1 << 64;
const UNIX_EPOCH_NTP_NANOS: i128 = UNIX_EPOCH_NTP_SECONDS as i128 * NANOS_PER_SEC;

/// An NTP timestamp as it travels on the wire: era-relative, resolution 2^-32 s (≈ 233 ps).
///
/// Kept as the raw `u64` so that a parsed packet re-serialises bit for bit, and so that an
/// origin timestamp can be echoed back exactly (clients match replies on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// The all-zero timestamp, which NTP uses for "not known" (e.g. the origin timestamp of a
    /// client's first request); it is also 1900-01-01 00:00:00 in era 0.
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    pub const fn to_bits(self) -> u64 {
        self.0
    }

    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }

    /// Seconds within the era.
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// True for the reserved "unknown" value, which must never be used as a sample.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The timestamp for a Unix time in nanoseconds.
    ///
    /// The fraction is rounded to the nearest 2^-32 s (halves up), so
    /// `from_unix_nanos(t).to_unix_nanos(t) == t` for every `t`: one fraction unit is smaller
    /// than half a nanosecond. Times outside era 0 wrap into their own era (e.g. 2036-02-07
    /// 06:28:16 UTC becomes 0) as the protocol requires.
    pub fn from_unix_nanos(unix_nanos: i64) -> Self {
        let ntp_nanos = i128::from(unix_nanos) + UNIX_EPOCH_NTP_NANOS;
        // Reduce to one era first so the product below stays far from i128's range.
        let in_era = ntp_nanos.rem_euclid(ERA_UNITS / FRAC_PER_SEC * NANOS_PER_SEC);
        let units = (in_era * FRAC_PER_SEC * 2 + NANOS_PER_SEC) / (2 * NANOS_PER_SEC);
        // Rounding up the last fraction unit of an era carries into the next era: 0.
        NtpTimestamp(units.rem_euclid(ERA_UNITS) as u64)
    }

    /// The Unix time in nanoseconds of the instance of this timestamp closest to `pivot`.
    ///
    /// The chosen era is the one that puts the result in `[pivot − 2^31 s, pivot + 2^31 s)`, so
    /// with the local clock as pivot every date up to 68 years away converts right, across the
    /// 2036 era boundary included. The result is rounded to the nearest nanosecond (halves up).
    pub fn to_unix_nanos_wide(self, pivot_unix_nanos: i64) -> i128 {
        let pivot_ntp_nanos = i128::from(pivot_unix_nanos) + UNIX_EPOCH_NTP_NANOS;
        let pivot_units = (pivot_ntp_nanos * FRAC_PER_SEC).div_euclid(NANOS_PER_SEC);
        // The wrapped difference is the signed distance from the pivot within ±half an era.
        let delta = self
            .0
            .wrapping_sub(pivot_units.rem_euclid(ERA_UNITS) as u64) as i64;
        let units = pivot_units + i128::from(delta);
        let ntp_nanos = (units * NANOS_PER_SEC * 2 + FRAC_PER_SEC).div_euclid(2 * FRAC_PER_SEC);
        ntp_nanos - UNIX_EPOCH_NTP_NANOS
    }

    /// [`to_unix_nanos_wide`](Self::to_unix_nanos_wide) saturated to `i64`, which holds every
    /// date from 1677 to 2262; only a pivot within 68 years of those limits can saturate.
    pub fn to_unix_nanos(self, pivot_unix_nanos: i64) -> i64 {
        let wide = self.to_unix_nanos_wide(pivot_unix_nanos);
        i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1_000_000_000;
    /// 2036-02-07 06:28:16 UTC, the first instant of era 1.
    const ERA1_UNIX_SECONDS: i64 = (1i64 << 32) - UNIX_EPOCH_NTP_SECONDS as i64;

    #[test]
    fn prime_epoch_and_unix_epoch() {
        // The pivot picks the era: seen from 1960, 0 is 1900; seen from 1970 (past the midpoint,
        // 1968-01-20) or 2000, it is 2036.
        assert_eq!(
            NtpTimestamp::ZERO.to_unix_nanos(-315_619_200 * NS),
            -2_208_988_800 * NS
        );
        assert_eq!(NtpTimestamp::ZERO.to_unix_nanos(0), 2_085_978_496 * NS);
        assert_eq!(
            NtpTimestamp::ZERO.to_unix_nanos(946_684_800 * NS),
            2_085_978_496 * NS
        );
        assert_eq!(
            NtpTimestamp::from_unix_nanos(0),
            NtpTimestamp::from_parts(2_208_988_800, 0)
        );
        assert_eq!(
            NtpTimestamp::from_unix_nanos(-2_208_988_800 * NS),
            NtpTimestamp::ZERO
        );
    }

    #[test]
    fn half_a_second_is_half_the_fraction() {
        let t = NtpTimestamp::from_unix_nanos(NS / 2);
        assert_eq!(t.seconds(), 2_208_988_800);
        assert_eq!(t.fraction(), 0x8000_0000);
    }

    #[test]
    fn one_nanosecond_rounds_to_four_units() {
        // 2^32 / 1e9 = 4.294967296 units per ns: 1 ns rounds to 4, 3 ns (12.88) to 13.
        assert_eq!(NtpTimestamp::from_unix_nanos(1).fraction(), 4);
        assert_eq!(NtpTimestamp::from_unix_nanos(3).fraction(), 13);
        // The last nanosecond of a second rounds to 4294967292 units, not up into the seconds.
        let t = NtpTimestamp::from_unix_nanos(NS - 1);
        assert_eq!((t.seconds(), t.fraction()), (2_208_988_800, 4_294_967_292));
    }

    #[test]
    fn era_boundary() {
        let boundary = ERA1_UNIX_SECONDS * NS;
        assert_eq!(boundary, 2_085_978_496 * NS);
        assert_eq!(NtpTimestamp::from_unix_nanos(boundary), NtpTimestamp::ZERO);
        let just_before = NtpTimestamp::from_unix_nanos(boundary - NS);
        assert_eq!(just_before, NtpTimestamp::from_parts(u32::MAX, 0));
        // With a pivot in 2025, 0 means 2036 and u32::MAX seconds means one second earlier.
        let pivot_2025 = 1_735_689_600 * NS;
        assert_eq!(NtpTimestamp::ZERO.to_unix_nanos(pivot_2025), boundary);
        assert_eq!(just_before.to_unix_nanos(pivot_2025), boundary - NS);
        // With a pivot in 1950, 0 is 1900 again.
        let pivot_1950 = -631_152_000 * NS;
        assert_eq!(
            NtpTimestamp::ZERO.to_unix_nanos(pivot_1950),
            -2_208_988_800 * NS
        );
    }

    #[test]
    fn era_one_dates_convert_with_a_nearby_pivot() {
        // 2040-01-01 00:00:00 UTC = 2208988800 Unix seconds, in era 1 at 123_010_304 s.
        let unix_2040 = 2_208_988_800 * NS;
        let t = NtpTimestamp::from_unix_nanos(unix_2040);
        assert_eq!(t.seconds(), 123_010_304);
        assert_eq!(t.to_unix_nanos(unix_2040), unix_2040);
        assert_eq!(
            t.to_unix_nanos(unix_2040 - 60 * 365 * 86_400 * NS),
            unix_2040
        );
    }

    #[test]
    fn pivot_window_is_half_an_era_each_side() {
        let pivot = 0;
        let half_era = (1i64 << 31) * NS;
        let early = NtpTimestamp::from_unix_nanos(pivot - half_era);
        assert_eq!(early.to_unix_nanos(pivot), pivot - half_era);
        let late = NtpTimestamp::from_unix_nanos(pivot + half_era);
        // Exactly half an era later is the same wire value as half an era earlier.
        assert_eq!(late, early);
        assert_eq!(late.to_unix_nanos(pivot), pivot - half_era);
        let almost = NtpTimestamp::from_unix_nanos(pivot + half_era - 1);
        assert_eq!(almost.to_unix_nanos(pivot), pivot + half_era - 1);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let t = NtpTimestamp::from_parts(u32::MAX, u32::MAX);
        assert_eq!(t.to_unix_nanos(i64::MAX), i64::MAX);
        assert!(t.to_unix_nanos_wide(i64::MAX) > i128::from(i64::MAX));
        assert_eq!(NtpTimestamp::ZERO.to_unix_nanos(i64::MIN), i64::MIN);
    }
}
