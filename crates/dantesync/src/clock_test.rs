//! `dantesync clock-test`: checks on this machine's real clock that what dantesync asks of it
//! happens, correctly signed and scaled. It sets +100 ppm and −250 ppm and measures each
//! against a counter no adjustment touches (CLOCK_MONOTONIC_RAW on Linux, QPC on Windows),
//! steps the time +1.5 s and back and measures both steps, checks the platform's status
//! interfaces, and restores the frequency it found.
//!
//! It changes the system clock for about 15 s, so it refuses to run without an explicit
//! confirmation flag. CI runs it in a throw-away qemu guest (scripts/qemu-clock-test.sh).

use std::process::ExitCode;

use clap::Args;
use dantesync_clock::clock_test::{self, ClockTestConfig};
use dantesync_clock::{ClockConfig, ClockError};

#[derive(Debug, Args)]
pub struct ClockTestArgs {
    /// Confirm that this machine's clock may be changed: the test sets +100 and -250 ppm for a
    /// few seconds each and steps the time 1.5 s forward and back
    #[arg(long = "i-understand-this-adjusts-the-clock")]
    pub i_understand: bool,
}

/// Exit codes: 0 every measurement within its limit, 1 a measurement off (or the clock could
/// not be adjusted), 2 not confirmed.
pub fn run(args: &ClockTestArgs) -> ExitCode {
    if !args.i_understand {
        eprintln!(
            "dantesync clock-test: refusing to run without --i-understand-this-adjusts-the-clock.\n\
             The test changes this machine's clock: +100 and -250 ppm for a few seconds each and a \
             1.5 s step forward and back. Run it where that is harmless (a test machine or VM) and \
             confirm with the flag."
        );
        return ExitCode::from(2);
    }
    match measure() {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("dantesync clock-test: {e}");
            ExitCode::FAILURE
        }
    }
}

fn measure() -> Result<clock_test::ClockTestReport, ClockError> {
    let mut clock = dantesync_clock::open(&ClockConfig::System)?;
    let reference = dantesync_clock::system_reference().ok_or(ClockError::Unsupported {
        operation: "clock-test",
        reason: "no reference counter on this platform".into(),
    })?;
    eprintln!(
        "dantesync clock-test: measuring {} against {} (about 15 s)",
        clock.name(),
        reference.name()
    );
    #[allow(unused_mut)]
    let mut report = clock_test::run(&mut *clock, &*reference, &ClockTestConfig::default())?;
    #[cfg(target_os = "linux")]
    match dantesync_clock::linux::check_kernel_interfaces() {
        Ok(checks) => report.checks.extend(checks),
        Err(e) => report.checks.push(clock_test::Check {
            name: "kernel status",
            passed: false,
            detail: e.to_string(),
        }),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_flag_it_refuses_with_exit_2_before_opening_the_clock() {
        // Safe on any machine: the refusal comes before the clock is opened.
        let code = run(&ClockTestArgs {
            i_understand: false,
        });
        assert_eq!(code, ExitCode::from(2));
    }
}
