//! `dantesync clock-test`: checks on this machine's real clock that what dantesync asks of it
//! happens, correctly signed and scaled. It sets +100 ppm and −250 ppm and measures each
//! against a counter no adjustment touches (CLOCK_MONOTONIC_RAW on Linux, QPC on Windows),
//! steps the time +1.5 s and back and measures both steps, checks the platform's status
//! interfaces, and restores the frequency it found.
//!
//! It changes the system clock for about 15 s, so it refuses to run without an explicit
//! confirmation flag. CI runs it in a throw-away qemu guest (scripts/qemu-clock-test.sh).
//!
//! Two read-only modes, hidden from `--help` because they serve that CI run (the daemon
//! disciplining the guest's clock against a simulated leader), need no confirmation and
//! change nothing (they run with `DANTESYNC_FORBID_CLOCK_WRITES=1`):
//! - `clock-test --measure-only [--seconds S] [--expect-ppm P [--tolerance-ppm T]]` measures
//!   the system clock's rate against the reference over S seconds (default 10) with the same
//!   sandwiches as the full test, and prints it; with `--expect-ppm` it exits 1 unless the rate
//!   is within T ppm (default 1) of P.
//! - `clock-test --wait-lock ADDR:PORT [--timeout-s S]` asks a daemon's query API (DSYN) until
//!   it reports LOCK or NANO (with `--nano`: NANO), printing each mode it sees; exits 1 if that
//!   takes more than S seconds (default 60).
//! - `clock-test --kernel-status [--expect-synchronised] [--max-error-ms M] [--wait-s S]`
//!   (Linux) reads the kernel's discipline state (adjtimex: STA_UNSYNC, maxerror, esterror,
//!   frequency) and prints it; with `--expect-synchronised` it reads again every 250 ms until
//!   STA_UNSYNC is clear and maxerror is below M ms (default 100), and exits 1 if that takes
//!   more than S seconds (default 30).
//!
//! - `clock-test --serve-ntp ADDR:PORT --leap insert|delete|none [--serve-s S]`: a minimal
//!   stratum-1 NTP server on the system clock announcing that leap indicator, for S seconds
//!   (default 120): the upstream of the qemu run's leap second.
//! - `clock-test --watch-leap S` (Linux) watches the kernel for up to S seconds, until the
//!   clock is 2 s past a midnight UTC: passes when the kernel went through TIME_OOP (the
//!   inserted 23:59:60) and CLOCK_REALTIME fell back one second against CLOCK_MONOTONIC_RAW.
//! - `clock-test --query-ntp ADDR:PORT --expect-leap insert|delete|none` asks an NTP server
//!   once and exits 1 unless it answers synchronised, with that leap indicator, and within
//!   50 ms of the system clock (a server one second off around a leap second fails).
//!
//! And one that writes, with the confirmation flag: `clock-test --interfere-ppm P
//! --i-understand-this-adjusts-the-clock` sets the frequency to P ppm and exits, as another
//! time service would (the qemu run checks that a running daemon reports it).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use dantesync_clock::clock_exercise::{self, ClockTestConfig, MeasureConfig, RateMeasurement};
use dantesync_clock::{ClockConfig, ClockError};
use dantesync_core::mode::Mode;

mod guest;

use guest::{interfere, kernel_status, leap_named, query_ntp, serve_ntp, wait_lock, watch_leap};

#[derive(Debug, Args)]
pub struct ClockTestArgs {
    /// Confirm that this machine's clock may be changed: the test sets +100 and -250 ppm for a
    /// few seconds each and steps the time 1.5 s forward and back
    #[arg(long = "i-understand-this-adjusts-the-clock")]
    pub i_understand: bool,
    /// Only measure the clock's rate against the reference, changing nothing (see the module
    /// documentation)
    #[arg(long, hide = true, conflicts_with_all = ["i_understand", "wait_lock"])]
    pub measure_only: bool,
    /// With --measure-only: the length of the measurement, s
    #[arg(long, hide = true, value_name = "S", default_value_t = 10.0,
          value_parser = seconds, requires = "measure_only")]
    pub seconds: f64,
    /// With --measure-only: the rate expected, ppm; exit 1 unless within --tolerance-ppm
    #[arg(long, hide = true, value_name = "PPM", allow_negative_numbers = true,
          value_parser = finite, requires = "measure_only")]
    pub expect_ppm: Option<f64>,
    /// With --expect-ppm: the largest acceptable |measured − expected|, ppm
    #[arg(long, hide = true, value_name = "PPM", default_value_t = 1.0,
          value_parser = finite, requires = "expect_ppm")]
    pub tolerance_ppm: f64,
    /// Ask the daemon's query API at ADDR:PORT until it reports LOCK or NANO (changes nothing)
    #[arg(
        long,
        hide = true,
        value_name = "ADDR:PORT",
        conflicts_with = "i_understand"
    )]
    pub wait_lock: Option<SocketAddr>,
    /// With --wait-lock: wait for NANO (the fine lock), not only LOCK
    #[arg(long, hide = true, requires = "wait_lock")]
    pub nano: bool,
    /// With --wait-lock: give up after this many seconds
    #[arg(long, hide = true, value_name = "S", default_value_t = 60.0,
          value_parser = seconds, requires = "wait_lock")]
    pub timeout_s: f64,
    /// Read the kernel's discipline state (adjtimex) and print it (changes nothing)
    #[arg(long, hide = true,
          conflicts_with_all = ["i_understand", "wait_lock", "measure_only"])]
    pub kernel_status: bool,
    /// With --kernel-status: wait until STA_UNSYNC is clear and maxerror below --max-error-ms
    #[arg(long, hide = true, requires = "kernel_status")]
    pub expect_synchronised: bool,
    /// With --expect-synchronised: the largest acceptable maxerror, ms
    #[arg(long, hide = true, value_name = "MS", default_value_t = 100.0,
          value_parser = finite, requires = "expect_synchronised")]
    pub max_error_ms: f64,
    /// With --expect-synchronised: give up after this many seconds
    #[arg(long, hide = true, value_name = "S", default_value_t = 30.0,
          value_parser = seconds, requires = "expect_synchronised")]
    pub wait_s: f64,
    /// Set the clock's frequency to PPM and exit, as another time service would (needs the
    /// confirmation flag)
    #[arg(long, hide = true, value_name = "PPM", allow_negative_numbers = true,
          value_parser = finite, requires = "i_understand")]
    pub interfere_ppm: Option<f64>,
    /// Serve NTP on ADDR:PORT from the system clock with the --leap indicator (changes nothing)
    #[arg(long, hide = true, value_name = "ADDR:PORT",
          conflicts_with_all = ["i_understand", "wait_lock", "measure_only", "kernel_status"])]
    pub serve_ntp: Option<SocketAddr>,
    /// With --serve-ntp: the leap indicator announced
    #[arg(long, hide = true, value_name = "insert|delete|none", default_value = "none",
          value_parser = ["insert", "delete", "none"], requires = "serve_ntp")]
    pub leap: String,
    /// With --serve-ntp: serve this many seconds
    #[arg(long, hide = true, value_name = "S", default_value_t = 120.0,
          value_parser = seconds, requires = "serve_ntp")]
    pub serve_s: f64,
    /// Watch the kernel through a leap second for up to S seconds (changes nothing)
    #[arg(long, hide = true, value_name = "S", value_parser = seconds,
          conflicts_with_all = ["i_understand", "wait_lock", "measure_only", "kernel_status", "serve_ntp"])]
    pub watch_leap: Option<f64>,
    /// Ask the NTP server at ADDR:PORT once and check its answer (changes nothing)
    #[arg(long, hide = true, value_name = "ADDR:PORT",
          conflicts_with_all = ["i_understand", "wait_lock", "measure_only", "kernel_status", "serve_ntp"])]
    pub query_ntp: Option<SocketAddr>,
    /// With --query-ntp: the leap indicator the answer must carry
    #[arg(long, hide = true, value_name = "insert|delete|none", default_value = "none",
          value_parser = ["insert", "delete", "none"], requires = "query_ntp")]
    pub expect_leap: String,
}

fn finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("must be a finite number".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    let v = finite(text)?;
    if (0.1..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be within 0.1..=86400 s".to_owned())
    }
}

/// Exit codes: 0 every measurement within its limit, 1 a measurement off (or the clock could
/// not be adjusted), 2 not confirmed. The read-only modes: 0 as expected, 1 not.
pub fn run(args: &ClockTestArgs) -> ExitCode {
    if args.measure_only {
        return measure_only(args);
    }
    if let Some(addr) = args.wait_lock {
        let until = if args.nano { Mode::Nano } else { Mode::Lock };
        return wait_lock(addr, until, Duration::from_secs_f64(args.timeout_s));
    }
    if args.kernel_status {
        return kernel_status(args);
    }
    if let Some(addr) = args.serve_ntp {
        let leap = leap_named(&args.leap);
        return serve_ntp(addr, leap, Duration::from_secs_f64(args.serve_s));
    }
    if let Some(addr) = args.query_ntp {
        return query_ntp(addr, leap_named(&args.expect_leap));
    }
    if let Some(s) = args.watch_leap {
        return watch_leap(Duration::from_secs_f64(s));
    }
    if !args.i_understand {
        eprintln!(
            "dantesync clock-test: refusing to run without --i-understand-this-adjusts-the-clock.\n\
             The test changes this machine's clock: +100 and -250 ppm for a few seconds each and a \
             1.5 s step forward and back. Run it where that is harmless (a test machine or VM) and \
             confirm with the flag."
        );
        return ExitCode::from(2);
    }
    if let Some(ppm) = args.interfere_ppm {
        return interfere(ppm);
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

fn measure() -> Result<clock_exercise::ClockTestReport, ClockError> {
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
    let mut report = clock_exercise::run(&mut *clock, &*reference, &ClockTestConfig::default())?;
    #[cfg(target_os = "linux")]
    match dantesync_clock::linux::check_kernel_interfaces() {
        Ok(checks) => report.checks.extend(checks),
        Err(e) => report.checks.push(clock_exercise::Check {
            name: "kernel status",
            passed: false,
            detail: e.to_string(),
        }),
    }
    Ok(report)
}

/// How `--measure-only` measures `seconds`: a checkpoint every 100 ms (at least 11), each the
/// tightest of 25 sandwiches, as the full test does.
fn measure_only_config(seconds: f64) -> MeasureConfig {
    MeasureConfig {
        settle: Duration::from_millis(100),
        window: Duration::from_secs_f64(seconds),
        checkpoints: ((seconds * 10.0).round() as usize + 1).clamp(11, 10_001),
        ..MeasureConfig::default()
    }
}

/// One line: the measured rate and how good the fit was.
fn describe(clock: &str, reference: &str, m: &RateMeasurement) -> String {
    format!(
        "clock-test: {clock} against {reference}: {:+.3} ppm over {:.1} s (fit rms {:.0} ns, \
         {}/{} checkpoints, widest sandwich {:.1} µs)",
        m.ppm,
        m.span_s,
        m.residual_rms_ns,
        m.used,
        m.taken,
        m.widest_sandwich_ns as f64 / 1e3
    )
}

/// The verdict on a measured rate against the expected one.
fn judge(measured_ppm: f64, expect_ppm: f64, tolerance_ppm: f64) -> (bool, String) {
    let off = measured_ppm - expect_ppm;
    let passed = off.abs() <= tolerance_ppm;
    let line = format!(
        "clock-test: expected {expect_ppm:+.3} ppm within {tolerance_ppm:.3}: off by {off:+.3} \
         ppm: {}",
        if passed { "PASS" } else { "FAIL" }
    );
    (passed, line)
}

/// `--measure-only`: reads the clock and the reference, never writes.
fn measure_only(args: &ClockTestArgs) -> ExitCode {
    let clock = match dantesync_clock::open(&ClockConfig::System) {
        Ok(clock) => clock,
        Err(e) => {
            eprintln!("dantesync clock-test: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(reference) = dantesync_clock::system_reference() else {
        eprintln!("dantesync clock-test: no reference counter on this platform");
        return ExitCode::FAILURE;
    };
    let m = clock_exercise::measure_rate(&*clock, &*reference, &measure_only_config(args.seconds));
    println!("{}", describe(clock.name(), reference.name(), &m));
    // Informative: what the clock's frequency is set to (by the daemon, say), read only.
    if let Ok(ppm) = clock.frequency() {
        println!("clock-test: the clock's frequency adjustment reads {ppm:+.3} ppm");
    }
    match args.expect_ppm {
        None => ExitCode::SUCCESS,
        Some(expect) => {
            let (passed, line) = judge(m.ppm, expect, args.tolerance_ppm);
            println!("{line}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests;
