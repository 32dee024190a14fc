//! The one operating mode of a node, published everywhere (UDP, HTTP, logs, tray).

use std::fmt;

/// What the node is doing now. Computed in exactly one place, [`crate::controller::Controller`],
/// and only read everywhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Started, no PTP sample yet and the offline timeout has not run out.
    Init,
    /// Acquiring: the frequency estimate is still coarse (uncertainty ≥ 50 ppm or too few
    /// samples). Corrections are applied as soon as they are significant.
    Acq,
    /// Converging: the estimate bounds the frequency error below 50 ppm but not yet below the
    /// lock threshold.
    Prod,
    /// Locked: the frequency error is bounded below 5 ppm (|drift| + 3σ).
    Lock,
    /// Fine lock: the frequency error is bounded below 0.5 ppm; corrections are minimal.
    Nano,
    /// No usable PTP for the offline timeout: the last good frequency is held and NTP alone
    /// keeps the time.
    NtpOnly,
}

impl Mode {
    /// Every mode, in the order of their wire codes.
    pub const ALL: [Mode; 6] = [
        Mode::Init,
        Mode::Acq,
        Mode::Prod,
        Mode::Lock,
        Mode::Nano,
        Mode::NtpOnly,
    ];

    /// The code of the query API's mode byte (`../shared/guide/PROTOCOLS.md`).
    pub const fn wire_code(self) -> u8 {
        match self {
            Mode::Init => 0,
            Mode::Acq => 1,
            Mode::Prod => 2,
            Mode::Lock => 3,
            Mode::Nano => 4,
            Mode::NtpOnly => 5,
        }
    }

    pub const fn from_wire_code(code: u8) -> Option<Mode> {
        Some(match code {
            0 => Mode::Init,
            1 => Mode::Acq,
            2 => Mode::Prod,
            3 => Mode::Lock,
            4 => Mode::Nano,
            5 => Mode::NtpOnly,
            _ => return None,
        })
    }

    /// The frequency is known to within the lock threshold.
    pub const fn is_locked(self) -> bool {
        matches!(self, Mode::Lock | Mode::Nano)
    }

    /// The mode a [`Mode::name`] names (as `/api/status` and `dantesync status` print it).
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Short upper-case name, as the earlier DanteSync printed it.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Init => "INIT",
            Mode::Acq => "ACQ",
            Mode::Prod => "PROD",
            Mode::Lock => "LOCK",
            Mode::Nano => "NANO",
            Mode::NtpOnly => "NTP-ONLY",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_round_trip_and_match_the_protocol_table() {
        for (code, mode) in Mode::ALL.iter().enumerate() {
            assert_eq!(mode.wire_code(), code as u8);
            assert_eq!(Mode::from_wire_code(code as u8), Some(*mode));
        }
        assert_eq!(Mode::from_wire_code(6), None);
        for mode in Mode::ALL {
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(Mode::from_name("LOCKED"), None);
        assert!(Mode::Lock.is_locked() && Mode::Nano.is_locked());
        assert!(!Mode::Prod.is_locked() && !Mode::NtpOnly.is_locked());
    }
}
