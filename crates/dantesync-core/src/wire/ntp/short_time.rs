//! The NTP short format (RFC 5905 §6): unsigned 16.16 fixed-point seconds, used for root delay
//! and root dispersion.

const NANOS_PER_SEC: u128 = 1_000_000_000;
const UNITS_PER_SEC: u128 = 1 << 16;

/// A 16.16 duration, resolution 2^-16 s (≈ 15.26 µs), range up to 65536 s.
///
/// Kept as raw bits so a parsed header re-serialises exactly; conversions round to nearest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortTime(u32);

impl ShortTime {
    pub const ZERO: ShortTime = ShortTime(0);
    pub const MAX: ShortTime = ShortTime(u32::MAX);

    pub const fn from_bits(bits: u32) -> Self {
        ShortTime(bits)
    }

    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// Rounds to the nearest 2^-16 s (halves up) and saturates at [`ShortTime::MAX`], because a
    /// server must still be able to advertise "huge" when its dispersion has grown unbounded.
    pub fn from_nanos_saturating(nanos: u64) -> Self {
        let units = (u128::from(nanos) * UNITS_PER_SEC * 2 + NANOS_PER_SEC) / (2 * NANOS_PER_SEC);
        ShortTime(u32::try_from(units).unwrap_or(u32::MAX))
    }

    /// Rounded to the nearest nanosecond (halves up); exact enough that
    /// `from_nanos_saturating(t.to_nanos()) == t`.
    pub fn to_nanos(self) -> u64 {
        let nanos = (u128::from(self.0) * NANOS_PER_SEC * 2 + UNITS_PER_SEC) / (2 * UNITS_PER_SEC);
        // At most 65536e9, far inside u64.
        nanos as u64
    }

    /// Rounds to nearest and saturates; negative values and NaN give zero because both fields
    /// that use this format are magnitudes.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        if seconds.is_nan() || seconds <= 0.0 {
            return ShortTime::ZERO;
        }
        let units = (seconds * UNITS_PER_SEC as f64).round();
        if units >= f64::from(u32::MAX) {
            ShortTime::MAX
        } else {
            ShortTime(units as u32)
        }
    }

    pub fn to_seconds_f64(self) -> f64 {
        f64::from(self.0) / UNITS_PER_SEC as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(ShortTime::from_bits(0x0001_0000).to_nanos(), 1_000_000_000);
        assert_eq!(ShortTime::from_bits(0x0000_8000).to_seconds_f64(), 0.5);
        // One unit is 15258.789 ns, rounded to 15259.
        assert_eq!(ShortTime::from_bits(1).to_nanos(), 15_259);
        assert_eq!(
            ShortTime::from_nanos_saturating(15_259),
            ShortTime::from_bits(1)
        );
        assert_eq!(ShortTime::from_nanos_saturating(7_629), ShortTime::ZERO);
        assert_eq!(
            ShortTime::from_nanos_saturating(7_630),
            ShortTime::from_bits(1)
        );
        assert_eq!(
            ShortTime::from_seconds_f64(0.017075),
            ShortTime::from_bits(1119)
        );
    }

    #[test]
    fn saturation() {
        assert_eq!(ShortTime::from_nanos_saturating(u64::MAX), ShortTime::MAX);
        assert_eq!(
            ShortTime::from_nanos_saturating(65_536_000_000_000),
            ShortTime::MAX
        );
        assert_eq!(ShortTime::from_seconds_f64(1e9), ShortTime::MAX);
        assert_eq!(ShortTime::from_seconds_f64(-1.0), ShortTime::ZERO);
        assert_eq!(ShortTime::from_seconds_f64(f64::NAN), ShortTime::ZERO);
        assert_eq!(ShortTime::MAX.to_nanos(), 65_535_999_984_741);
    }
}
