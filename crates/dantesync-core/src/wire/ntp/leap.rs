//! The leap indicator (RFC 5905 §7.3), the two top bits of the first byte.

/// What the sender says about the last minute of the current UTC day, or that its clock is not
/// synchronised at all. A server answering while unsynchronised must send
/// [`Leap::Unsynchronized`] so that clients do not trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leap {
    NoWarning,
    /// The last minute of the day has 61 seconds (as on 2016-12-31).
    InsertSecond,
    /// The last minute of the day has 59 seconds.
    DeleteSecond,
    /// The sender's clock is not synchronised (also the "alarm" state of a KoD).
    Unsynchronized,
}

impl Leap {
    /// From the two-bit wire value; only the two low bits of `bits` are read.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Leap::NoWarning,
            1 => Leap::InsertSecond,
            2 => Leap::DeleteSecond,
            _ => Leap::Unsynchronized,
        }
    }

    pub const fn to_bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::InsertSecond => 1,
            Leap::DeleteSecond => 2,
            Leap::Unsynchronized => 3,
        }
    }
}
