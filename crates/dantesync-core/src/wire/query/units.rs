//! Conversions into the reply's narrow integer fields.
//!
//! The reply packs rates and offsets into fixed-width integers; a status value that does not
//! fit (a wild drift during acquisition, an NTP offset of hours before the first step) must
//! show as the field's limit, never wrap to a small or opposite-signed number that a monitoring
//! tool would believe.

/// The accumulated phase error of the reply (i16 µs, ±32.767 ms), only constructible by
/// clamping, so that a large error can never be written wrapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccumulatedPhase(i16);

impl AccumulatedPhase {
    pub const ZERO: AccumulatedPhase = AccumulatedPhase(0);

    pub fn from_micros_saturating(micros: i64) -> Self {
        AccumulatedPhase(micros.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16)
    }

    /// Rounded to the nearest microsecond (halves away from zero), then clamped.
    pub fn from_nanos_saturating(nanos: i64) -> Self {
        let micros = (i128::from(nanos) + 500 * i128::from(nanos.signum())) / 1000;
        Self::from_micros_saturating(micros as i64)
    }

    /// As it travels: a value read from a reply is already in range.
    pub const fn from_wire(micros: i16) -> Self {
        AccumulatedPhase(micros)
    }

    pub const fn as_micros(self) -> i16 {
        self.0
    }
}

/// ppm (= µs/s) × 1000, i.e. ppb, the unit of the reply's drift rate and applied adjustment:
/// rounded to nearest, saturated, NaN as 0.
pub fn ppm_to_ppb_saturating(ppm: f64) -> i32 {
    // `as` saturates at the i32 limits and maps NaN to 0.
    (ppm * 1000.0).round() as i32
}

/// For the reply's last NTP offset (i32 µs, about ±35 minutes).
pub fn micros_to_i32_saturating(micros: i64) -> i32 {
    micros.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_clamps() {
        assert_eq!(
            AccumulatedPhase::from_micros_saturating(40_000).as_micros(),
            32_767
        );
        assert_eq!(
            AccumulatedPhase::from_micros_saturating(-40_000).as_micros(),
            -32_768
        );
        assert_eq!(
            AccumulatedPhase::from_micros_saturating(-123).as_micros(),
            -123
        );
        assert_eq!(
            AccumulatedPhase::from_nanos_saturating(1_499).as_micros(),
            1
        );
        assert_eq!(
            AccumulatedPhase::from_nanos_saturating(1_500).as_micros(),
            2
        );
        assert_eq!(
            AccumulatedPhase::from_nanos_saturating(-1_500).as_micros(),
            -2
        );
        assert_eq!(
            AccumulatedPhase::from_nanos_saturating(i64::MIN).as_micros(),
            -32_768
        );
        assert_eq!(
            AccumulatedPhase::from_nanos_saturating(i64::MAX).as_micros(),
            32_767
        );
    }

    #[test]
    fn scaled_integers_saturate() {
        assert_eq!(ppm_to_ppb_saturating(-33.7), -33_700);
        assert_eq!(ppm_to_ppb_saturating(0.0004), 0);
        assert_eq!(ppm_to_ppb_saturating(0.0006), 1);
        assert_eq!(ppm_to_ppb_saturating(1e12), i32::MAX);
        assert_eq!(ppm_to_ppb_saturating(f64::NEG_INFINITY), i32::MIN);
        assert_eq!(ppm_to_ppb_saturating(f64::NAN), 0);
        assert_eq!(micros_to_i32_saturating(-5_000_000_000), i32::MIN);
        assert_eq!(micros_to_i32_saturating(1_234), 1_234);
    }
}
