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

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use dantesync_clock::clock_exercise::{self, ClockTestConfig, MeasureConfig, RateMeasurement};
use dantesync_clock::{ClockConfig, ClockError};
use dantesync_core::mode::Mode;
use dantesync_core::wire::ntp::{
    Leap, Mode as NtpMode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime,
};
use dantesync_core::wire::query::{QueryReply, QueryRequest};

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

/// `--interfere-ppm`: one frequency write, as another program makes it.
fn interfere(ppm: f64) -> ExitCode {
    let result = dantesync_clock::open(&ClockConfig::System).and_then(|mut clock| {
        clock.set_frequency(ppm)?;
        clock.frequency()
    });
    match result {
        Ok(now) => {
            println!("clock-test: frequency set to {ppm:+.3} ppm (the kernel reports {now:+.3})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dantesync clock-test: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the kernel's state is what `--expect-synchronised` waits for.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn synchronised_within(synchronised: bool, max_error_us: i64, max_error_ms: f64) -> bool {
    synchronised && (max_error_us as f64) < max_error_ms * 1e3
}

/// `--kernel-status`: reads adjtimex, never writes.
#[cfg(target_os = "linux")]
fn kernel_status(args: &ClockTestArgs) -> ExitCode {
    let clock = match dantesync_clock::linux::LinuxClock::open() {
        Ok(clock) => clock,
        Err(e) => {
            eprintln!("dantesync clock-test: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut last = None;
    loop {
        let k = match clock.kernel_status() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("dantesync clock-test: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = format!(
            "clock-test: kernel: STA_UNSYNC {}, maxerror {} µs, esterror {} µs, frequency \
             {:+.3} ppm, status 0x{:04x}, state {}",
            if k.synchronised { "clear" } else { "set" },
            k.max_error_us,
            k.est_error_us,
            k.frequency_ppm,
            k.status_flags,
            k.clock_state
        );
        let ok = synchronised_within(k.synchronised, k.max_error_us, args.max_error_ms);
        let changed = last != Some((k.synchronised, k.status_flags));
        if changed || ok || !args.expect_synchronised {
            println!("{line} after {:.1} s", started.elapsed().as_secs_f64());
            last = Some((k.synchronised, k.status_flags));
        }
        if !args.expect_synchronised {
            return ExitCode::SUCCESS;
        }
        if ok {
            println!(
                "clock-test: synchronised with maxerror below {} ms: PASS",
                args.max_error_ms
            );
            return ExitCode::SUCCESS;
        }
        if started.elapsed().as_secs_f64() >= args.wait_s {
            println!(
                "clock-test: not synchronised with maxerror below {} ms within {} s: FAIL ({line})",
                args.max_error_ms, args.wait_s
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_status(_: &ClockTestArgs) -> ExitCode {
    eprintln!("dantesync clock-test: --kernel-status reads Linux's adjtimex; this is not Linux");
    ExitCode::FAILURE
}

fn unix_now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

fn leap_named(name: &str) -> Leap {
    match name {
        "insert" => Leap::InsertSecond,
        "delete" => Leap::DeleteSecond,
        _ => Leap::NoWarning,
    }
}

/// Within this of the system clock a served time is right (loopback, software emulation).
const QUERY_TOLERANCE_NS: i64 = 50_000_000;

/// `--query-ntp`: one request (three tries), the answer judged.
fn query_ntp(addr: SocketAddr, expect: Leap) -> ExitCode {
    let socket = match UdpSocket::bind(("127.0.0.1", 0)).and_then(|s| {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .map(|()| s)
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dantesync clock-test: cannot open a UDP socket: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        let t1 = unix_now_ns();
        let request = NtpHeader::client_request(NtpTimestamp::from_unix_nanos(t1));
        if socket.send_to(&request.to_bytes(), addr).is_err() {
            continue;
        }
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let t4 = unix_now_ns();
        let Ok((reply, _)) = NtpHeader::parse(&buf[..len]) else {
            continue;
        };
        if reply.origin_ts != request.transmit_ts {
            continue;
        }
        let (passed, line) = judge_ntp_answer(&reply, t1, t4, expect);
        println!("{line}");
        return if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    println!("clock-test: no answer from the NTP server at {addr}: FAIL");
    ExitCode::FAILURE
}

/// Whether an NTP answer is synchronised, carries `expect` and is within
/// [`QUERY_TOLERANCE_NS`] of the local clock; and the line saying so.
fn judge_ntp_answer(reply: &NtpHeader, t1: i64, t4: i64, expect: Leap) -> (bool, String) {
    let t2 = reply.receive_ts.to_unix_nanos(t1);
    let t3 = reply.transmit_ts.to_unix_nanos(t1);
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let passed = reply.leap == expect
        && (1..=15).contains(&reply.stratum)
        && offset.abs() <= QUERY_TOLERANCE_NS;
    let line = format!(
        "clock-test: NTP answer: leap {:?} (expected {expect:?}), stratum {}, offset {:+.3} ms \
         (limit ±{} ms): {}",
        reply.leap,
        reply.stratum,
        offset as f64 * 1e-6,
        QUERY_TOLERANCE_NS / 1_000_000,
        if passed { "PASS" } else { "FAIL" }
    );
    (passed, line)
}

/// The reply of `--serve-ntp` to `request`, received at `rx_ns`, sent at `tx_ns`.
fn ntp_reply(request: &NtpHeader, leap: Leap, rx_ns: i64, tx_ns: i64) -> NtpHeader {
    NtpHeader {
        leap,
        version: request.version,
        mode: NtpMode::Server,
        stratum: 1,
        poll: request.poll,
        precision: -20,
        root_delay: ShortTime::ZERO,
        root_dispersion: ShortTime::from_seconds_f64(0.0001),
        reference_id: ReferenceId::from_bytes(*b"LEAP"),
        reference_ts: NtpTimestamp::from_unix_nanos(rx_ns),
        origin_ts: request.transmit_ts,
        receive_ts: NtpTimestamp::from_unix_nanos(rx_ns),
        transmit_ts: NtpTimestamp::from_unix_nanos(tx_ns),
    }
}

/// `--serve-ntp`: answers client requests until `duration` has passed.
fn serve_ntp(addr: SocketAddr, leap: Leap, duration: Duration) -> ExitCode {
    let socket = match UdpSocket::bind(addr).and_then(|s| {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map(|()| s)
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dantesync clock-test: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("clock-test: serving NTP on {addr} with leap indicator {leap:?}");
    let started = Instant::now();
    let mut answered = 0u64;
    let mut buf = [0u8; 512];
    while started.elapsed() < duration {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let rx = unix_now_ns();
        let Ok((request, _)) = NtpHeader::parse(&buf[..len]) else {
            continue;
        };
        if request.mode != NtpMode::Client {
            continue;
        }
        let reply = ntp_reply(&request, leap, rx, unix_now_ns());
        if socket.send_to(&reply.to_bytes(), from).is_ok() {
            answered += 1;
        }
    }
    println!("clock-test: NTP server answered {answered} requests");
    ExitCode::SUCCESS
}

/// `--watch-leap`: reads adjtimex and the clocks every 20 ms, never writes.
#[cfg(target_os = "linux")]
fn watch_leap(limit: Duration) -> ExitCode {
    use dantesync_clock::clock_exercise::Reference;
    let clock = match dantesync_clock::linux::LinuxClock::open() {
        Ok(clock) => clock,
        Err(e) => {
            eprintln!("dantesync clock-test: {e}");
            return ExitCode::FAILURE;
        }
    };
    let raw = dantesync_clock::linux::MonotonicRaw;
    const DAY_NS: i64 = 86_400_000_000_000;
    let gap = || unix_now_ns() - raw.now_ns();
    let start_gap = gap();
    let started = Instant::now();
    let first_day = unix_now_ns().div_euclid(DAY_NS);
    let mut states: Vec<i32> = Vec::new();
    let mut passed_midnight_at: Option<i64> = None;
    while started.elapsed() < limit {
        if let Ok(k) = clock.kernel_status() {
            if states.last() != Some(&k.clock_state) {
                println!(
                    "clock-test: {} kernel state {} (status 0x{:04x})",
                    unix_now_ns().div_euclid(1_000_000_000) % 86_400,
                    k.clock_state,
                    k.status_flags
                );
                states.push(k.clock_state);
            }
        }
        let now = unix_now_ns();
        if now.div_euclid(DAY_NS) > first_day {
            let past = now.rem_euclid(DAY_NS);
            passed_midnight_at.get_or_insert(past);
            if past > 2_000_000_000 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The disciplined clock also runs at its own rate against the raw one: up to 500 ppm of
    // the watch's length on top of the second.
    let fell_back_ns = start_gap - gap();
    let slack = (started.elapsed().as_secs_f64() * 500e-6 * 1e9) as i64 + 50_000_000;
    let oop = states.contains(&3);
    let one_second = (fell_back_ns - 1_000_000_000).abs() <= slack;
    let passed = passed_midnight_at.is_some() && oop && one_second;
    println!(
        "clock-test: leap second: midnight {}, TIME_OOP {}, CLOCK_REALTIME fell back {:.3} s \
         against CLOCK_MONOTONIC_RAW (states {states:?}): {}",
        if passed_midnight_at.is_some() {
            "passed"
        } else {
            "NOT reached"
        },
        if oop { "seen" } else { "NOT seen" },
        fell_back_ns as f64 * 1e-9,
        if passed { "PASS" } else { "FAIL" }
    );
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(not(target_os = "linux"))]
fn watch_leap(_: Duration) -> ExitCode {
    eprintln!("dantesync clock-test: --watch-leap reads Linux's adjtimex; this is not Linux");
    ExitCode::FAILURE
}

/// `--wait-lock`: one compact DSYN query every 250 ms until the reply's mode is `until` (LOCK
/// or NANO) or finer.
fn wait_lock(addr: SocketAddr, until: Mode, timeout: Duration) -> ExitCode {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = match UdpSocket::bind(local).and_then(|s| {
        s.set_read_timeout(Some(Duration::from_millis(250)))
            .map(|()| s)
    }) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("dantesync clock-test: cannot open a UDP socket: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut last: Option<Mode> = None;
    let mut request_id = 0u32;
    let mut buf = [0u8; 512];
    while started.elapsed() < timeout {
        request_id = request_id.wrapping_add(1);
        let sent = Instant::now();
        let request = QueryRequest::Compact { request_id }.to_bytes();
        if let Err(e) = socket.send_to(&request, addr) {
            eprintln!("dantesync clock-test: cannot query {addr}: {e}");
        }
        let reply = loop {
            match socket.recv_from(&mut buf) {
                Ok((len, from)) if from == addr => match QueryReply::parse(&buf[..len]) {
                    Ok(reply) if reply.request_id == request_id => break Some(reply),
                    _ => continue,
                },
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        if let Some(reply) = reply {
            if last != Some(reply.mode) {
                println!(
                    "clock-test: {addr} reports {} after {:.1} s (frequency adjustment {:+.3} ppm)",
                    reply.mode,
                    started.elapsed().as_secs_f64(),
                    f64::from(reply.frequency_adjustment_ppb) / 1000.0
                );
                last = Some(reply.mode);
            }
            if reply.mode.is_locked() && reply.mode >= until {
                return ExitCode::SUCCESS;
            }
        }
        let next = sent + Duration::from_millis(250);
        if let Some(left) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    }
    let last = last.map_or_else(|| "no answer".to_owned(), |m| format!("last {m}"));
    println!(
        "clock-test: {addr} did not report {until} within {:.0} s ({last})",
        timeout.as_secs_f64()
    );
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ClockTestArgs,
    }

    fn parse(args: &[&str]) -> Result<ClockTestArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("clock-test").chain(args.iter().copied()))
            .map(|c| c.args)
    }

    #[test]
    fn without_the_flag_it_refuses_with_exit_2_before_opening_the_clock() {
        // Safe on any machine: the refusal comes before the clock is opened.
        let code = run(&parse(&[]).unwrap());
        assert_eq!(code, ExitCode::from(2));
    }

    #[test]
    fn the_read_only_modes_parse_and_exclude_the_adjusting_test() {
        let a = parse(&["--measure-only", "--seconds", "10", "--expect-ppm", "-40"]).unwrap();
        assert!(a.measure_only && !a.i_understand);
        assert_eq!(
            (a.seconds, a.expect_ppm, a.tolerance_ppm),
            (10.0, Some(-40.0), 1.0)
        );
        let a = parse(&["--wait-lock", "127.0.0.1:31900", "--timeout-s", "5"]).unwrap();
        assert_eq!(a.wait_lock, Some("127.0.0.1:31900".parse().unwrap()));
        assert_eq!(a.timeout_s, 5.0);
        assert!(!a.nano);
        assert!(
            parse(&["--wait-lock", "127.0.0.1:1", "--nano"])
                .unwrap()
                .nano
        );
        for bad in [
            &["--measure-only", "--i-understand-this-adjusts-the-clock"][..],
            &["--measure-only", "--wait-lock", "127.0.0.1:1"],
            &["--seconds", "5"],
            &["--expect-ppm", "5"],
            &["--measure-only", "--tolerance-ppm", "5"],
            &["--timeout-s", "5"],
            &["--nano"],
            &["--measure-only", "--seconds", "0"],
            &["--measure-only", "--expect-ppm", "nan"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_kernel_modes_parse() {
        let a = parse(&["--kernel-status"]).unwrap();
        assert!(a.kernel_status && !a.expect_synchronised && !a.i_understand);
        let a = parse(&[
            "--kernel-status",
            "--expect-synchronised",
            "--max-error-ms",
            "50",
            "--wait-s",
            "20",
        ])
        .unwrap();
        assert_eq!((a.max_error_ms, a.wait_s), (50.0, 20.0));
        let a = parse(&[
            "--interfere-ppm",
            "-100",
            "--i-understand-this-adjusts-the-clock",
        ])
        .unwrap();
        assert_eq!(a.interfere_ppm, Some(-100.0));
        for bad in [
            &["--interfere-ppm", "5"][..],
            &["--kernel-status", "--i-understand-this-adjusts-the-clock"],
            &["--kernel-status", "--measure-only"],
            &["--expect-synchronised"],
            &["--kernel-status", "--max-error-ms", "5"],
            &["--kernel-status", "--wait-s", "5"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_leap_server_answers_with_its_indicator_and_the_clients_origin() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        drop(server);
        let serving = std::thread::spawn(move || {
            serve_ntp(addr, Leap::InsertSecond, Duration::from_millis(1_500))
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let t1 = unix_now_ns();
        let request = NtpHeader::client_request(NtpTimestamp::from_unix_nanos(t1));
        let mut buf = [0u8; 512];
        let mut got = None;
        for _ in 0..4 {
            client.send_to(&request.to_bytes(), addr).unwrap();
            if let Ok((len, _)) = client.recv_from(&mut buf) {
                got = Some(NtpHeader::parse(&buf[..len]).unwrap().0);
                break;
            }
        }
        let reply = got.expect("an answer");
        assert_eq!(reply.leap, Leap::InsertSecond);
        assert_eq!((reply.mode, reply.stratum), (NtpMode::Server, 1));
        assert_eq!(reply.origin_ts, request.transmit_ts);
        let t2 = reply.receive_ts.to_unix_nanos(t1);
        assert!((t2 - t1).abs() < 1_000_000_000, "{}", t2 - t1);
        assert_eq!(serving.join().unwrap(), ExitCode::SUCCESS);
    }

    #[test]
    fn an_ntp_answer_passes_with_the_expected_leap_and_time_only() {
        let t1 = 1_782_863_999_000_000_000; // 2026-06-30 23:59:59
        let request = NtpHeader::client_request(NtpTimestamp::from_unix_nanos(t1));
        let answer = |leap, server_ns: i64| ntp_reply(&request, leap, server_ns, server_ns);
        let ins = Leap::InsertSecond;
        let (ok, line) = judge_ntp_answer(&answer(ins, t1 + 100_000), t1, t1 + 200_000, ins);
        assert!(ok, "{line}");
        // One second off (a leap applied twice, or not at all): fails.
        let off = answer(ins, t1 + 1_000_000_000);
        assert!(!judge_ntp_answer(&off, t1, t1 + 200_000, ins).0);
        // The wrong indicator fails.
        let (ok, line) = judge_ntp_answer(&answer(Leap::NoWarning, t1), t1, t1, ins);
        assert!(!ok && line.contains("FAIL"), "{line}");
        // So does an unsynchronised server.
        let mut unsync = answer(ins, t1);
        unsync.stratum = 16;
        assert!(!judge_ntp_answer(&unsync, t1, t1, ins).0);
    }

    #[test]
    fn synchronised_means_sta_unsync_clear_and_maxerror_below_the_limit() {
        assert!(synchronised_within(true, 26_000, 100.0));
        assert!(!synchronised_within(true, 100_000, 100.0));
        assert!(!synchronised_within(false, 1_000, 100.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_status_only_reads() {
        // Test runs forbid clock writes: a write would fail this.
        let code = run(&parse(&["--kernel-status"]).unwrap());
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[test]
    fn measure_only_takes_a_checkpoint_every_100_ms() {
        let c = measure_only_config(10.0);
        assert_eq!((c.window, c.checkpoints), (Duration::from_secs(10), 101));
        assert_eq!(measure_only_config(0.2).checkpoints, 11);
    }

    #[test]
    fn the_verdict_is_measured_minus_expected_within_the_tolerance() {
        let (passed, line) = judge(40.42, 40.0, 1.0);
        assert!(passed);
        assert!(line.contains("off by +0.420 ppm: PASS"), "{line}");
        let (passed, line) = judge(38.9, 40.0, 1.0);
        assert!(!passed);
        assert!(line.contains("off by -1.100 ppm: FAIL"), "{line}");
    }

    #[test]
    fn measure_only_never_writes_the_clock() {
        // Runs where clock writes are forbidden (test runs set DANTESYNC_FORBID_CLOCK_WRITES):
        // a write would fail the measurement or panic.
        let code = run(&parse(&["--measure-only", "--seconds", "0.3"]).unwrap());
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[test]
    fn wait_lock_gives_up_on_a_silent_address() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let started = Instant::now();
        assert_eq!(
            wait_lock(addr, Mode::Lock, Duration::from_millis(600)),
            ExitCode::FAILURE
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn wait_lock_returns_when_the_reply_says_lock() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let answer = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            for mode in [Mode::Acq, Mode::Prod, Mode::Lock, Mode::Lock, Mode::Nano] {
                let (len, from) = server.recv_from(&mut buf).unwrap();
                let Ok(QueryRequest::Compact { request_id }) = QueryRequest::parse(&buf[..len])
                else {
                    panic!("not a compact request");
                };
                let reply = QueryReply {
                    request_id,
                    system_time_ns: 0,
                    monotonic_counter: 0,
                    ptp_offset_ns: 0,
                    drift_rate_ppb: 0,
                    frequency_adjustment_ppb: 40_000,
                    mode,
                    is_locked: mode.is_locked(),
                    grandmaster_uuid: [0; 6],
                    monotonic_frequency_hz: 1_000_000_000,
                    last_ntp_offset_us: 0,
                    accumulated_phase: Default::default(),
                    flags: Default::default(),
                };
                server.send_to(&reply.to_bytes(), from).unwrap();
            }
        });
        assert_eq!(
            wait_lock(addr, Mode::Lock, Duration::from_secs(10)),
            ExitCode::SUCCESS
        );
        assert_eq!(
            wait_lock(addr, Mode::Nano, Duration::from_secs(10)),
            ExitCode::SUCCESS
        );
        answer.join().unwrap();
    }
}
