//! The qemu guest's helpers of `dantesync clock-test`: the kernel's discipline state, another
//! program's frequency change, a minimal NTP server and client around a leap second, and a
//! wait for a daemon's LOCK (see the parent module's documentation).

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dantesync_clock::ClockConfig;
use dantesync_core::mode::Mode;
use dantesync_core::wire::ntp::{
    Leap, Mode as NtpMode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime,
};
use dantesync_core::wire::query::{QueryReply, QueryRequest};

use super::ClockTestArgs;

/// `--interfere-ppm`: one frequency write, as another program makes it.
pub(super) fn interfere(ppm: f64) -> ExitCode {
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
pub(super) fn synchronised_within(
    synchronised: bool,
    max_error_us: i64,
    max_error_ms: f64,
) -> bool {
    synchronised && (max_error_us as f64) < max_error_ms * 1e3
}

/// `--kernel-status`: reads adjtimex, never writes.
#[cfg(target_os = "linux")]
pub(super) fn kernel_status(args: &ClockTestArgs) -> ExitCode {
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
pub(super) fn kernel_status(_: &ClockTestArgs) -> ExitCode {
    eprintln!("dantesync clock-test: --kernel-status reads Linux's adjtimex; this is not Linux");
    ExitCode::FAILURE
}

pub(super) fn unix_now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

pub(super) fn leap_named(name: &str) -> Leap {
    match name {
        "insert" => Leap::InsertSecond,
        "delete" => Leap::DeleteSecond,
        _ => Leap::NoWarning,
    }
}

/// Within this of the system clock a served time is right (loopback, software emulation).
pub(super) const QUERY_TOLERANCE_NS: i64 = 50_000_000;

/// `--query-ntp`: one request (three tries), the answer judged.
pub(super) fn query_ntp(addr: SocketAddr, expect: Leap) -> ExitCode {
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
pub(super) fn judge_ntp_answer(
    reply: &NtpHeader,
    t1: i64,
    t4: i64,
    expect: Leap,
) -> (bool, String) {
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
pub(super) fn ntp_reply(request: &NtpHeader, leap: Leap, rx_ns: i64, tx_ns: i64) -> NtpHeader {
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
pub(super) fn serve_ntp(addr: SocketAddr, leap: Leap, duration: Duration) -> ExitCode {
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
pub(super) fn watch_leap(limit: Duration) -> ExitCode {
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
pub(super) fn watch_leap(_: Duration) -> ExitCode {
    eprintln!("dantesync clock-test: --watch-leap reads Linux's adjtimex; this is not Linux");
    ExitCode::FAILURE
}

/// `--wait-lock`: one compact DSYN query every 250 ms until the reply's mode is `until` (LOCK
/// or NANO) or finer.
pub(super) fn wait_lock(addr: SocketAddr, until: Mode, timeout: Duration) -> ExitCode {
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
