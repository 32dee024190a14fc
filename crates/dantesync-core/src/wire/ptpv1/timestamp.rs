use std::fmt;

use super::bytes::{i32_at, put, u32_at};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SIGN_BIT: i32 = i32::MIN;

/// IEEE 1588-2002 TimeRepresentation: sign and magnitude, not two's complement.
///
/// The magnitude is `seconds` plus the low 31 bits of `nanoseconds`; the top bit of
/// `nanoseconds` makes the whole value negative. Dante leaders put their uptime here, so the
/// value is never UTC and only its rate of change against the local clock means anything.
///
/// `PartialEq` compares the representation, so +0 and −0 (sign bit with zero magnitude) differ;
/// compare [`Timestamp::to_nanos`] for the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Timestamp {
    pub seconds: u32,
    pub nanoseconds: i32,
}

impl Timestamp {
    /// The largest magnitude the representation holds: `u32::MAX` seconds and 999 999 999 ns.
    /// Senders may put up to 2^31 − 1 in the nanoseconds field, which parses exactly but is
    /// never produced by [`Timestamp::from_nanos`].
    pub const MAX_NANOS: i128 = (u32::MAX as i128) * NANOS_PER_SECOND + (NANOS_PER_SECOND - 1);

    pub const fn new(seconds: u32, nanoseconds: i32) -> Self {
        Timestamp {
            seconds,
            nanoseconds,
        }
    }

    pub const fn is_negative(self) -> bool {
        self.nanoseconds < 0
    }

    /// The exact value in nanoseconds. `i128` holds every representable value, including
    /// non-normalised nanosecond fields, with no wrap-around.
    pub fn to_nanos(self) -> i128 {
        let magnitude =
            i128::from(self.seconds) * NANOS_PER_SECOND + i128::from(self.nanoseconds & i32::MAX);
        if self.is_negative() {
            -magnitude
        } else {
            magnitude
        }
    }

    /// The exact representation of `ns`, or `None` when its magnitude exceeds
    /// [`Timestamp::MAX_NANOS`] (about 136 years).
    pub fn checked_from_nanos(ns: i128) -> Option<Self> {
        let magnitude = ns.unsigned_abs();
        let per_second = NANOS_PER_SECOND.unsigned_abs();
        let seconds = u32::try_from(magnitude / per_second).ok()?;
        let sub_second = i32::try_from(magnitude % per_second).ok()?;
        let sign = if ns < 0 { SIGN_BIT } else { 0 };
        Some(Timestamp {
            seconds,
            nanoseconds: sub_second | sign,
        })
    }

    /// Exact for every `ns` within ±[`Timestamp::MAX_NANOS`]; beyond that it saturates at the
    /// largest magnitude instead of wrapping, so an out-of-range value can never turn into a
    /// plausible small one.
    pub fn from_nanos(ns: i128) -> Self {
        Self::checked_from_nanos(ns.clamp(-Self::MAX_NANOS, Self::MAX_NANOS)).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    /// Seconds with nine decimals, as Wireshark and ptpd print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.is_negative() { "-" } else { "" };
        let nanos = self.nanoseconds & i32::MAX;
        write!(f, "{sign}{}.{nanos:09}", self.seconds)
    }
}

pub(super) fn timestamp_at(buf: &[u8], off: usize) -> Timestamp {
    Timestamp::new(u32_at(buf, off), i32_at(buf, off + 4))
}

pub(super) fn put_timestamp(out: &mut [u8], off: usize, timestamp: Timestamp) {
    put(out, off, &timestamp.seconds.to_be_bytes());
    put(out, off + 4, &timestamp.nanoseconds.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_value_is_seconds_plus_nanoseconds() {
        let t = Timestamp::new(699, 212_366_780);
        assert_eq!(t.to_nanos(), 699_212_366_780);
        assert_eq!(Timestamp::from_nanos(699_212_366_780), t);
        assert_eq!(t.to_string(), "699.212366780");
    }

    #[test]
    fn sign_bit_negates_the_whole_value() {
        let t = Timestamp::new(5, i32::MIN | 100);
        assert_eq!(t.to_nanos(), -5_000_000_100);
        assert_eq!(Timestamp::from_nanos(-5_000_000_100), t);
        assert_eq!(t.to_string(), "-5.000000100");
        assert_eq!(Timestamp::from_nanos(-1), Timestamp::new(0, i32::MIN | 1));
    }

    #[test]
    fn negative_zero_is_zero() {
        assert_eq!(Timestamp::new(0, i32::MIN).to_nanos(), 0);
        assert_eq!(Timestamp::from_nanos(0), Timestamp::new(0, 0));
    }

    #[test]
    fn extremes_convert_without_wrapping() {
        let max = Timestamp::new(u32::MAX, 999_999_999);
        assert_eq!(max.to_nanos(), 4_294_967_295_999_999_999);
        assert_eq!(max.to_nanos(), Timestamp::MAX_NANOS);
        assert_eq!(Timestamp::from_nanos(Timestamp::MAX_NANOS), max);
        let min = Timestamp::new(u32::MAX, i32::MIN | 999_999_999);
        assert_eq!(Timestamp::from_nanos(-Timestamp::MAX_NANOS), min);
        // A non-normalised nanoseconds field (allowed on the wire) still converts exactly.
        let odd = Timestamp::new(u32::MAX, i32::MAX);
        assert_eq!(odd.to_nanos(), 4_294_967_297_147_483_647);
        assert_eq!(
            Timestamp::new(u32::MAX, -1).to_nanos(),
            -4_294_967_297_147_483_647
        );
    }

    #[test]
    fn out_of_range_saturates_or_reports_none() {
        assert_eq!(
            Timestamp::checked_from_nanos(Timestamp::MAX_NANOS + 1),
            None
        );
        assert_eq!(Timestamp::checked_from_nanos(i128::MIN), None);
        assert_eq!(
            Timestamp::from_nanos(i128::MAX),
            Timestamp::new(u32::MAX, 999_999_999)
        );
        assert_eq!(
            Timestamp::from_nanos(i128::MIN),
            Timestamp::new(u32::MAX, i32::MIN | 999_999_999)
        );
    }
}
