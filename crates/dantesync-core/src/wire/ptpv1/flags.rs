use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The 16-bit flags field of the PTPv1 header (bytes 34–35).
///
/// Unknown bits are kept as they are: they round-trip and show in `Debug`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    pub const EMPTY: Flags = Flags(0);
    /// The last minute of the current UTC day has 61 seconds.
    pub const LI61: Flags = Flags(0x0001);
    /// The last minute of the current UTC day has 59 seconds.
    pub const LI59: Flags = Flags(0x0002);
    pub const BOUNDARY_CLOCK: Flags = Flags(0x0004);
    /// Two-step: the Sync's own timestamp is approximate and the precise one follows in a
    /// Follow_Up. Dante leaders always set it.
    pub const ASSIST: Flags = Flags(0x0008);
    pub const EXT_SYNC: Flags = Flags(0x0010);
    pub const PARENT_STATS: Flags = Flags(0x0020);
    pub const SYNC_BURST: Flags = Flags(0x0040);

    const NAMED: [(Flags, &'static str); 7] = [
        (Flags::LI61, "LI61"),
        (Flags::LI59, "LI59"),
        (Flags::BOUNDARY_CLOCK, "BOUNDARY_CLOCK"),
        (Flags::ASSIST, "ASSIST"),
        (Flags::EXT_SYNC, "EXT_SYNC"),
        (Flags::PARENT_STATS, "PARENT_STATS"),
        (Flags::SYNC_BURST, "SYNC_BURST"),
    ];

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for Flags {
    /// `Flags(0x000c BOUNDARY_CLOCK | ASSIST)`: the raw value for comparison with a hex dump,
    /// the names for a reader.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#06x}", self.0)?;
        let mut separator = " ";
        let mut known = 0u16;
        for (flag, name) in Flags::NAMED {
            known |= flag.0;
            if self.contains(flag) {
                write!(f, "{separator}{name}")?;
                separator = " | ";
            }
        }
        let unknown = self.0 & !known;
        if unknown != 0 {
            write!(f, "{separator}{unknown:#06x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dante_flags_are_boundary_clock_and_assist() {
        let dante = Flags(0x000c);
        assert_eq!(dante, Flags::BOUNDARY_CLOCK | Flags::ASSIST);
        assert!(dante.contains(Flags::ASSIST));
        assert!(dante.contains(Flags::BOUNDARY_CLOCK | Flags::ASSIST));
        assert!(!dante.contains(Flags::LI61));
        assert!(!dante.contains(Flags::ASSIST | Flags::SYNC_BURST));
        assert_eq!(
            format!("{dante:?}"),
            "Flags(0x000c BOUNDARY_CLOCK | ASSIST)"
        );
    }

    #[test]
    fn unknown_bits_show_in_debug() {
        assert_eq!(
            format!("{:?}", Flags(0x8001)),
            "Flags(0x8001 LI61 | 0x8000)"
        );
        assert_eq!(format!("{:?}", Flags::EMPTY), "Flags(0x0000)");
    }
}
