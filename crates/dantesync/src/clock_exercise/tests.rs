use clap::Parser;

use std::net::UdpSocket;
use std::time::Instant;

use super::guest::*;
use super::*;
use dantesync_core::wire::ntp::{Leap, Mode as NtpMode, NtpHeader, NtpTimestamp};
use dantesync_core::wire::query::{QueryReply, QueryRequest};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ClockTestArgs,
}

fn parse(args: &[&str]) -> Result<ClockTestArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("clock-test").chain(args.iter().copied())).map(|c| c.args)
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
            let Ok(QueryRequest::Compact { request_id }) = QueryRequest::parse(&buf[..len]) else {
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
