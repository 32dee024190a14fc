//! Good NTP manners, counted from a capture: a server outside the LAN gets its initial burst
//! and then no more than one request per 64 s, and the checks in which it rests are not
//! failures.
//!
//! A `chronyd -x` server (it never touches a clock) runs in a private network namespace this
//! test creates, on 127.0.0.2. That is a loopback address, which the daemon would count as LAN;
//! `ntp.lan_servers: []` makes it a server outside the LAN (no test sends to a public address,
//! not even inside a namespace). The daemon runs a simulated clock 37 ms ahead of the host's,
//! in the namespace. `tshark` captures the requests on the namespace's loopback for a bounded
//! 140 s, and the test counts them. (A LAN server's pace, a burst at every check, is what
//! every other NTP test sees.)
//!
//! Needs root (namespaces, port 123), chronyd, tshark, nsenter/unshare and ip; in CI a missing
//! piece fails the test, elsewhere it skips with SKIPPED. Every child is killed when its guard
//! drops, also when an assertion fails, and the namespace goes with its last process.
// Needs chronyd in a network namespace and tshark: Linux only.
// The Windows cross-build (clippy for x86_64-pc-windows-gnu) leaves this file out.
#![cfg(unix)]

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{serial, Proc, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");
/// The server, outside the LAN by the option.
const OUTSIDE: &str = "127.0.0.2";
/// How long requests are captured.
const CAPTURE_S: u64 = 140;
/// The shortest gap between two requests to a server outside the LAN past its initial burst.
const POLL_S: f64 = 64.0;
/// Requests in the initial burst: two checks of 4.
const INITIAL: usize = 8;
const INSTALL: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y \
                       --no-install-recommends chrony tshark iproute2";

use support::netns::{tool_path, Netns};

fn tool(name: &str) -> PathBuf {
    tool_path(name).unwrap_or_else(|| panic!("`{name}` is missing: install it with `{INSTALL}`"))
}

/// Whether the test can run here: in CI a missing piece fails it, elsewhere it skips.
fn prerequisites() -> bool {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (network namespaces and port 123)".to_owned());
    }
    missing.extend(support::netns::missing_tools(&[
        ("chronyd", "-v"),
        ("tshark", "--version"),
        ("unshare", "--version"),
        ("nsenter", "--version"),
        ("ip", "-V"),
    ]));
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!("the NTP manners test needs {what}: run as root and install with `{INSTALL}`");
    }
    eprintln!("SKIPPED: the NTP manners test needs {what} (install: {INSTALL})");
    false
}

/// A chronyd serving `local stratum 8` on `ip`:123, its pid file removed on drop. The pid
/// file lives in /run/chrony, where Debian's AppArmor profile for chronyd lets it write.
struct Chronyd {
    proc: Proc,
    pid_file: PathBuf,
}

impl Chronyd {
    fn start(ns: &Netns, dir: &Path, ip: &str) -> Chronyd {
        std::fs::create_dir_all("/run/chrony").unwrap();
        let pid_file = PathBuf::from(format!(
            "/run/chrony/dantesync-test-{}-manners-{ip}.pid",
            std::process::id()
        ));
        let mut cmd = ns.command(tool("chronyd"));
        // -x: never touch the clock; -d: foreground; -u root: no user switch.
        cmd.args(["-x", "-d", "-u", "root", "local stratum 8"]);
        cmd.args([
            format!("bindaddress {ip}"),
            "port 123".to_owned(),
            "allow 127.0.0.0/8".to_owned(),
            "cmdport 0".to_owned(),
            "bindcmdaddress /".to_owned(),
            format!("pidfile {}", pid_file.display()),
        ]);
        let proc = Proc::spawn(&mut cmd, &dir.join(format!("chronyd-{ip}.log")));
        Chronyd { proc, pid_file }
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// A request seen on the wire: when (s since the epoch) and to which server.
#[derive(Debug)]
struct Request {
    at: f64,
    to: String,
}

/// The client requests (NTP mode 3) in the capture `pcap`, in order.
fn requests(pcap: &Path) -> Vec<Request> {
    let out = Command::new(tool("tshark"))
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-n",
            "-Y",
            "ntp.flags.mode == 3",
        ])
        .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "ip.dst"])
        .output()
        .expect("tshark -r");
    assert!(
        out.status.success(),
        "tshark -r failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Request {
                at: f.next()?.parse().ok()?,
                to: f.next()?.to_owned(),
            })
        })
        .collect()
}

fn gaps(times: &[f64]) -> Vec<f64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn a_server_outside_the_lan_gets_one_request_per_64_s_after_its_initial_burst() {
    if !prerequisites() {
        return;
    }
    let _s = serial();
    let dir = TempDir::new("ntpm", "manners");
    let ns = Netns::new();
    let _server = Chronyd::start(&ns, &dir.0, OUTSIDE);

    // The capture first, so it holds the daemon's very first request.
    let pcap = dir.0.join("ntp.pcap");
    let mut capture = ns.command(tool("tshark"));
    capture
        .args(["-i", "lo", "-n", "-f", "udp dst port 123"])
        .args(["-a", &format!("duration:{CAPTURE_S}")])
        .args(["-w", pcap.to_str().unwrap()]);
    let mut capture = Proc::spawn(&mut capture, &dir.0.join("tshark.log"));
    let t0 = Instant::now();
    while !capture.log().contains("Capturing on") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "tshark did not start capturing: {}",
            capture.log()
        );
        if let Some(status) = capture.child.try_wait().unwrap() {
            panic!("tshark exited ({status}): {}", capture.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // tshark says "Capturing on" before its capture filter is surely in place (seen once: the
    // daemon's first request, sent a millisecond later, was not in the capture); a second more
    // makes sure the capture holds the whole initial burst.
    std::thread::sleep(Duration::from_secs(1));

    let config = format!(
        r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 0.0, "offset_ms": 37.0}},
  "ptp": {{"event_port": 31319, "general_port": 31320}},
  "ntp_server": ["{OUTSIDE}"],
  "ntp": {{"lan_servers": []}},
  "query_api": {{"enabled": false}},
  "http_status": {{"enabled": false}},
  "state_file": "{}"
}}
"#,
        dir.0.join("state.json").display()
    );
    let cfg = dir.0.join("dantesync.json");
    std::fs::write(&cfg, config).unwrap();
    let mut daemon = ns.command(BIN);
    daemon
        .args(["--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "dantesync=debug");
    let daemon = Proc::spawn(&mut daemon, &dir.0.join("dantesync.log"));

    // The capture ends by itself; the daemon runs until it does.
    let ended = capture.wait_exit(Duration::from_secs(CAPTURE_S + 30));
    assert!(ended.is_some(), "tshark did not stop after {CAPTURE_S} s");
    let log = daemon.log();
    drop(daemon);
    let seen = requests(&pcap);
    assert!(
        seen.iter().all(|r| r.to == OUTSIDE),
        "a request to another address: {seen:?}"
    );
    let outside: Vec<f64> = seen.iter().map(|r| r.at).collect();
    let start = outside.first().copied().unwrap_or(0.0);
    let rel: Vec<String> = outside
        .iter()
        .map(|t| format!("{:.1}", t - start))
        .collect();
    eprintln!("requests (s after the first): {rel:?}");
    let context = || format!("requests at {rel:?} s\ndaemon log:\n{log}");

    // The initial burst: two checks of 4 requests, each 2 s apart within its check.
    assert!(
        outside.len() > INITIAL,
        "no request after the burst: {}",
        context()
    );
    let burst = &outside[..INITIAL];
    for (i, gap) in gaps(burst).iter().enumerate() {
        if i != 3 {
            assert!(
                (1.9..2.5).contains(gap),
                "burst requests {i} and {} are {gap:.3} s apart, not 2 s: {}",
                i + 1,
                context()
            );
        }
    }
    assert!(
        burst[INITIAL - 1] - burst[0] < 30.0,
        "the initial burst took {:.1} s: {}",
        burst[INITIAL - 1] - burst[0],
        context()
    );
    // Steady state: single requests, each at least 64 s after the one before (the last of the
    // burst included), so a 140 s capture holds at most 8 + 2 of them, and at least one poll.
    let steady = &outside[INITIAL - 1..];
    for gap in gaps(steady) {
        assert!(
            gap >= POLL_S,
            "two requests to the server outside the LAN {gap:.3} s apart: {}",
            context()
        );
    }
    let after_burst = outside[outside.len() - 1] - burst[INITIAL - 1];
    assert!(
        outside.len() - INITIAL <= (after_burst / POLL_S).floor() as usize,
        "{} requests in {after_burst:.1} s after the burst: {}",
        outside.len() - INITIAL,
        context()
    );
    assert!(outside.len() <= INITIAL + 2, "{}", context());

    // Checks in which the outside server rested were not failures: the clock was corrected,
    // no check failed and the daemon said when nothing was due.
    assert!(log.contains("NTP: time corrected by"), "{}", context());
    assert!(!log.contains("NTP check failed"), "{}", context());
    assert!(log.contains("NTP check: no server due"), "{}", context());
    assert!(
        log.contains("NTP server 127.0.0.2: pending -> truechimer"),
        "{}",
        context()
    );
}
