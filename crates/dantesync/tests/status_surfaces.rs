//! All three status surfaces of one daemon, end to end in a private network namespace: the UDP
//! query API (compact and extended), HTTP (`/api/status`, `/metrics`) and `dantesync status
//! --json` must say the same thing about the same node; a source outside the allowlist gets
//! nothing; a flood is rate limited while another allowed source is still answered; and the
//! extended reply's four timestamps give the simulated clock's known offset within 100 µs.
//!
//! The namespace (`unshare -n`, held by a `sleep` child) has only its own loopback, so the
//! daemon takes the real ports (PTP 319/320, NTP 123, query 31900, HTTP 8898) and nothing
//! outside can reach it or be reached. The daemon enters it with `nsenter`; this test's client
//! thread enters it with `setns`, and what it starts (`gm-sim`, `dantesync status`) inherits
//! it. The daemon's clock is simulated, 37 ms ahead of the host's (never touched); the offset
//! is measured before the leader starts, while no frequency has moved it. Every child is
//! killed on drop, also when an assertion fails; every wait is bounded.
//!
//! Needs root (namespaces) and `ip` (iproute2); CI runs as root.
// Needs a network namespace entered with setns: Linux only.
// The Windows cross-build (clippy for x86_64-pc-windows-gnu) leaves this file out.
#![cfg(unix)]

mod support;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dantesync_core::wire::query::{ExtendedFlags, QueryRequest};
use dantesync_core::Mode;
use serde_json::Value;
use support::query::{compact, extended, socket_on};
use support::{prom_text, serial, Proc, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");
const OFFSET_NS: i64 = 37_000_000;
const QUERY: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 31900);
const HTTP_PORT: u16 = 8898;

/// Whether this test can run here: root and `ip`. Outside CI a missing piece skips it.
fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && ip {
        return true;
    }
    let why = if root {
        "`ip` is missing (apt-get install -y iproute2)"
    } else {
        "it needs root for a network namespace"
    };
    assert!(
        std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false"),
        "status_surfaces: {why}; CI must run it"
    );
    eprintln!("status_surfaces: SKIPPED: {why}");
    false
}

fn http_get(path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", HTTP_PORT)).expect("HTTP connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The node: namespace holder, daemon and leader, all killed on drop.
struct Bed {
    holder: Proc,
    daemon: Proc,
    dir: TempDir,
}

impl Bed {
    fn start() -> Bed {
        let dir = TempDir::new("surfaces", "ns");
        let holder = Proc::spawn(
            Command::new("unshare").args([
                "-n",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec sleep 300",
            ]),
            &dir.0.join("holder.log"),
        );
        let pid = holder.child.id().to_string();
        // Loopback is up once `sleep` has replaced the shell.
        let t0 = Instant::now();
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map_or(true, |c| c.trim() != "sleep")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "namespace not ready: {}",
                holder.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let config = format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 0.0, "offset_ms": 37.0}},
  "ptp": {{"event_port": 319, "general_port": 320}},
  "ntp_server_mode": {{"enabled": true, "port": 123, "bind": "127.0.0.1", "local_stratum": 8}},
  "query_api": {{"enabled": true, "port": 31900, "allow": ["127.0.0.1/32", "127.0.0.3/32"]}},
  "http_status": {{"enabled": true, "port": {HTTP_PORT}}},
  "state_file": "{}"
}}
"#,
            dir.0.join("state.json").display()
        );
        let cfg = dir.0.join("config.json");
        std::fs::write(&cfg, config).unwrap();
        let nsenter = |args: &[&str]| {
            let mut c = Command::new("nsenter");
            c.args(["-t", &pid, "-n", "--", BIN]).args(args);
            c
        };
        let daemon = Proc::spawn(
            &mut nsenter(&["--config", cfg.to_str().unwrap()]),
            &dir.0.join("daemon.log"),
        );
        Bed {
            holder,
            daemon,
            dir,
        }
    }

    /// Moves the calling thread into the namespace (its children follow).
    fn enter(&self) {
        support::netns::enter(Path::new(&format!(
            "/proc/{}/ns/net",
            self.holder.child.id()
        )));
    }
}

#[test]
fn the_three_surfaces_agree_and_protect_themselves() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let bed = Bed::start();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                bed.enter();
                check(&bed);
            })
            .join()
            .unwrap_or_else(|_| panic!("daemon log:\n{}", bed.daemon.log()));
    });
}

fn check(bed: &Bed) {
    let s = socket_on(Ipv4Addr::LOCALHOST, Duration::from_millis(300));
    let t0 = Instant::now();
    while compact(&s, QUERY).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the daemon does not answer:\n{}",
            bed.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The extended reply's timestamps measure the simulated clock: the least-delayed of 20.
    // Measured before there is a leader, so no frequency has been applied yet and the clock
    // is exactly the host's + 37 ms (a servo acquiring moves it by its early estimates).
    let (ext, x) = (0..20)
        .filter_map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            extended(&s, QUERY)
        })
        .min_by_key(|(_, x)| x.delay_ns)
        .expect("extended replies");
    let (offset, delay) = (x.offset_ns, x.delay_ns);
    eprintln!(
        "extended query: offset {:+.1} µs (simulated clock +37000 µs), delay {:.1} µs",
        offset as f64 / 1e3,
        delay as f64 / 1e3
    );
    assert!(
        (offset - OFFSET_NS).abs() < 100_000,
        "offset {offset} ns, expected {OFFSET_NS} ± 100 µs"
    );
    // T2 is the kernel's receive stamp of the request.
    assert!(ext.flags.has(ExtendedFlags::RX_KERNEL), "{:?}", ext.flags);

    // The leader, started from this thread: it runs in the namespace too.
    let _gm = Proc::spawn(
        Command::new(BIN).args([
            "gm-sim",
            "--dest",
            "127.0.0.1",
            "--delay-req-port",
            "0",
            "--duration-s",
            "120",
        ]),
        &bed.dir.0.join("gm-sim.log"),
    );
    // NANO: the mode no longer changes while the surfaces are read.
    let t0 = Instant::now();
    loop {
        if compact(&s, QUERY).is_some_and(|r| r.mode == Mode::Nano) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no NANO within 60 s:\n{}",
            bed.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // One NTP request, so the server's counters have something to agree on.
    let ntp = socket_on(Ipv4Addr::LOCALHOST, Duration::from_millis(500));
    let mut req = [0u8; 48];
    req[0] = 0x23; // LI 0, version 4, mode 3 (client)
    req[40..48].copy_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
    ntp.send_to(&req, "127.0.0.1:123").unwrap();
    let mut buf = [0u8; 512];
    assert!(ntp.recv(&mut buf).is_ok(), "the NTP server did not answer");

    // All surfaces, read back to back.
    let cmp = compact(&s, QUERY).expect("compact reply");
    let (ext2, _) = extended(&s, QUERY).expect("extended reply");
    // PTP is stamped by the kernel too.
    assert!(
        ext2.flags.has(ExtendedFlags::PTP_RX_KERNEL),
        "{:?}",
        ext2.flags
    );
    let doc: Value = serde_json::from_str(&http_get("/api/status")).unwrap();
    let metrics = prom_text::parse(&http_get("/metrics")).unwrap();
    let cli = Command::new(BIN)
        .args(["status", "127.0.0.1", "--json"])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(0), "status exit: locked is 0");
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let st = &doc["status"];

    // Mode, everywhere.
    let name = Mode::Nano.name();
    assert_eq!(cmp.mode, Mode::Nano);
    assert_eq!(ext2.base.mode, Mode::Nano);
    assert_eq!(st["mode"], name);
    assert_eq!(doc["mode"], "NANO");
    assert_eq!(doc["is_locked"], true);
    assert_eq!(cli["mode"], name);
    assert_eq!(
        metrics.labelled("dantesync_mode", &[("mode", name)]),
        Some(1.0)
    );
    assert_eq!(metrics.value("dantesync_locked"), Some(1.0));

    // The applied frequency (NANO refines it at most every 2 s, by hundredths of a ppm).
    let applied = [
        ("compact", f64::from(cmp.frequency_adjustment_ppb) / 1e3),
        ("extended", ext2.applied_ppt as f64 / 1e6),
        ("http", f(&st["applied_ppm"])),
        ("http legacy", f(&doc["drift_ppm"])),
        (
            "metrics",
            metrics
                .value("dantesync_frequency_adjustment_ratio")
                .unwrap()
                * 1e6,
        ),
        ("cli", f(&cli["applied_ppm"])),
    ];
    eprintln!("applied ppm: {applied:?}");
    for (what, v) in applied {
        assert!(
            (v - applied[1].1).abs() < 0.02,
            "{what} says {v} ppm applied, the extended reply {}: {applied:?}",
            applied[1].1
        );
    }

    // The sync mode (a classic node), the fleet state and the path delay's state.
    assert_eq!(st["sync_mode"], "classic");
    assert_eq!(cli["sync_mode"], st["sync_mode"]);
    assert_eq!(cli["fleet"]["state"], st["fleet_state"]);
    assert_eq!(cli["path_delay"]["state"], st["path_delay_state"]);

    // The leader.
    let uuid = "00:1d:c1:00:53:01";
    assert_eq!(cmp.grandmaster_uuid, [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
    assert_eq!(ext2.leader.grandmaster_uuid, cmp.grandmaster_uuid);
    assert_eq!(st["leader"]["grandmaster"], uuid);
    assert_eq!(cli["leader"]["grandmaster_uuid"], uuid);

    // The NTP server's answer, counted the same by HTTP's JSON and metrics.
    let answered = f(&doc["counters"]["ntp_server"]["answered"]);
    assert!(answered >= 1.0, "{doc}");
    assert_eq!(
        metrics.value("dantesync_ntp_server_responses_total"),
        Some(answered)
    );

    // Outside the allowlist: nothing, in either form; the refusals are counted.
    let outsider = socket_on(Ipv4Addr::new(127, 0, 0, 2), Duration::from_millis(500));
    assert!(
        compact(&outsider, QUERY).is_none(),
        "127.0.0.2 got a compact reply"
    );
    assert!(
        extended(&outsider, QUERY).is_none(),
        "127.0.0.2 got an extended reply"
    );
    let doc: Value = serde_json::from_str(&http_get("/api/status")).unwrap();
    let not_allowed = f(&doc["status"]["host"]["query"]["not_allowed"]);
    assert!(not_allowed >= 2.0, "refusals not counted: {doc}");

    // A flood from 127.0.0.1: answered only up to the limit; 127.0.0.3 is still answered.
    let flood = socket_on(Ipv4Addr::LOCALHOST, Duration::from_millis(1));
    flood.set_nonblocking(true).unwrap();
    let request = QueryRequest::Compact { request_id: 7 }.to_bytes();
    let sent = 1000;
    let mut replies = 0;
    let mut buf = [0u8; 256];
    // Paced (about 5000/s) so the daemon reads every datagram: a burst faster than it reads
    // would be cut by the socket buffer, uncounted by anyone.
    for _ in 0..sent {
        let _ = flood.send_to(&request, QUERY);
        std::thread::sleep(Duration::from_micros(100));
        while flood.recv(&mut buf).is_ok() {
            replies += 1;
        }
    }
    let other = socket_on(Ipv4Addr::new(127, 0, 0, 3), Duration::from_millis(500));
    let other_answered = compact(&other, QUERY).is_some();
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle {
        if flood.recv(&mut buf).is_ok() {
            replies += 1;
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let doc: Value = serde_json::from_str(&http_get("/api/status")).unwrap();
    let limited = f(&doc["status"]["host"]["query"]["rate_limited"]);
    eprintln!(
        "flood: {sent} sent, {replies} answered, {limited} counted rate limited; \
         127.0.0.3 answered: {other_answered}"
    );
    assert!(
        other_answered,
        "another source was not answered during the flood"
    );
    assert!(
        replies > 0 && replies < sent / 4,
        "{replies} of {sent} answered"
    );
    assert!(
        limited >= f64::from(sent - replies) * 0.9,
        "{limited} counted, {} unanswered",
        sent - replies
    );
}
