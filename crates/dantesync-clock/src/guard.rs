//! A run-time fence around every write to the system clock.
//!
//! Test runs set `DANTESYNC_FORBID_CLOCK_WRITES=1` (scripts/test.sh and .cargo/config.toml
//! do), so no test, wherever it lives, can change the machine's clock even by mistake: a
//! write fails with an error that says why. The qemu guest's clock test runs without it.

use std::io;

/// The variable that forbids writes when set to anything but "" or "0".
pub const FORBID_VAR: &str = "DANTESYNC_FORBID_CLOCK_WRITES";

/// Ok when this process may change the system clock.
pub fn check_writes_allowed() -> io::Result<()> {
    match std::env::var_os(FORBID_VAR) {
        Some(v) if !v.is_empty() && v != "0" => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{FORBID_VAR} is set: this process may not change the system clock (test runs set it; unset it, or set it to 0, to adjust a real clock)"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_forbids_writes_unless_empty_or_zero() {
        // Only this test touches the variable in this process's test binary.
        std::env::set_var(FORBID_VAR, "1");
        let err = check_writes_allowed().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains(FORBID_VAR));
        std::env::set_var(FORBID_VAR, "0");
        assert!(check_writes_allowed().is_ok());
        std::env::remove_var(FORBID_VAR);
        assert!(check_writes_allowed().is_ok());
    }
}
