//! The NTP client against real `chronyd -x` servers, in a private network namespace.
//!
//! Everything runs inside one namespace this test creates (`unshare -n` holding it, `nsenter
//! -n` for every process in it), where each chronyd binds port 123 of its own loopback address
//! (127.0.0.2, .3, .4), so several coexist and nothing outside can be reached. chronyd runs
//! with `-x` (it never touches the clock), its directives on the command line (no config
//! file), its own pid file under /run/chrony (where Debian's AppArmor profile for chronyd lets
//! it write) and no command socket; our daemon
//! runs a simulated clock 37 ms ahead of the host's. Every child is killed when its guard drops,
//! also when an assertion fails, and the namespace goes with its last process.
//!
//! The server that is 250 ms off shares the host clock like the others. It gets its shifted
//! time from chrony's own machinery, not from any clock: a `refclock SOCK` fed by this test
//! with samples that say "true time = system time + 250 ms". With `-x` chronyd's null clock
//! driver keeps that correction to itself and serves system time + 250 ms (kernel receive
//! timestamps included, since chrony cooks them through the same correction). The shift is
//! proven with `ntpdig` before the daemon starts.
//!
//! Needs root (namespaces, port 123) and chrony, ntpdig, nsenter/unshare; CI has all of them
//! (.ci/run installs `chrony` and `ntpsec-ntpdate`). Outside CI a missing tool skips the test
//! with SKIPPED; in CI it fails naming the tool.
// Needs chronyd in a network namespace and Unix sockets: Linux only.
// The Windows cross-build (clippy for x86_64-pc-windows-gnu) leaves this file out.
#![cfg(unix)]

mod support;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{serial, Proc, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");
/// The simulated clock's offset from the host clock: the client must measure −37 ms.
const OFFSET_MS: f64 = 37.0;
/// How far the falseticker's time is shifted.
const SHIFT_S: f64 = 0.250;
/// How close a measured offset must be to the known one. On loopback the round trip is well
/// under 0.2 ms and both ends stamp arrivals in the kernel, so the asymmetry the offset can
/// carry (at most half the round trip) stays below this; the measured numbers are in
/// docs/daemon.md.
const TOLERANCE_MS: f64 = 0.2;
const INSTALL: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y \
                       --no-install-recommends chrony ntpsec-ntpdate iproute2";

use support::netns::{tool_path, Netns};

fn tool(name: &str) -> PathBuf {
    tool_path(name).unwrap_or_else(|| panic!("`{name}` is missing: install it with `{INSTALL}`"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the test can run here: in CI a missing piece fails it, elsewhere it skips.
fn prerequisites() -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces and port 123)".to_owned());
    }
    missing.extend(support::netns::missing_tools(&[
        ("chronyd", "-v"),
        ("ntpdig", "-V"),
        ("unshare", "--version"),
        ("nsenter", "--version"),
        ("ip", "-V"),
    ]));
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!("the chrony interop test needs {what}: run as root and install with `{INSTALL}`");
    }
    eprintln!("SKIPPED: the chrony interop test needs {what} (install: {INSTALL})");
    false
}

/// ntpdig's offset (s) and stratum for `ip`, once it gets an answer (at most 20 s).
fn ntpdig(ns: &Netns, ip: &str) -> (f64, u64) {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < Duration::from_secs(20) {
        let out = ns
            .command("timeout")
            .arg("5")
            .arg(tool("ntpdig"))
            .args(["-j", "-p", "4", "-g", "20", "-t", "1", ip])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(stdout.trim()) {
            if let (Some(o), Some(s)) = (json["offset"].as_f64(), json["stratum"].as_u64()) {
                return (o, s);
            }
        }
        last = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("ntpdig got no answer from {ip} in 20 s: {last}");
}

/// Files of this test's chronyd instances. They live in /run/chrony because Debian confines
/// /usr/sbin/chronyd with an AppArmor profile that lets it write there (and read /etc/chrony),
/// not in a temporary directory; the configuration is given on the command line, so no file
/// has to be read. Names carry the test's pid and tag; the guard removes them.
fn run_file(tag: &str, name: &str) -> PathBuf {
    PathBuf::from(format!(
        "/run/chrony/dantesync-test-{}-{tag}-{name}",
        std::process::id()
    ))
}

/// A chronyd and the files it made, gone on drop.
struct Chronyd {
    proc: Proc,
    files: Vec<PathBuf>,
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// One `chronyd -x` serving on 127.0.0.`last`:123; `source` holds its time source
/// directive(s), one per line. `tag` keeps concurrent tests' files apart.
fn chronyd(ns: &Netns, dir: &Path, tag: &str, last: u8, source: &str) -> Chronyd {
    std::fs::create_dir_all("/run/chrony").unwrap();
    let pid = run_file(tag, &format!("{last}.pid"));
    let mut cmd = ns.command(tool("chronyd"));
    // -x: never touch the clock; -d: foreground, log to stderr; -u root: no user switch.
    cmd.args(["-x", "-d", "-u", "root"]);
    cmd.args(source.lines());
    cmd.args([
        format!("bindaddress 127.0.0.{last}"),
        "port 123".to_owned(),
        "allow 127.0.0.0/8".to_owned(),
        "cmdport 0".to_owned(),
        "bindcmdaddress /".to_owned(),
        format!("pidfile {}", pid.display()),
    ]);
    let proc = Proc::spawn(&mut cmd, &dir.join(format!("chronyd-{last}.log")));
    Chronyd {
        proc,
        files: vec![pid],
    }
}

/// Feeds a chrony `refclock SOCK` with samples saying true time = system time + `shift_s`,
/// twice a second, until dropped.
struct Feeder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feeder {
    fn start(path: PathBuf, shift_s: f64) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let sock = UnixDatagram::unbound().unwrap();
            while !flag.load(Ordering::Relaxed) {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                // struct sock_sample: struct timeval, double offset, int pulse, leap, _pad,
                // magic ("SOCK").
                let mut sample = Vec::with_capacity(40);
                sample.extend_from_slice(&(now.as_secs() as i64).to_ne_bytes());
                sample.extend_from_slice(&i64::from(now.subsec_micros()).to_ne_bytes());
                sample.extend_from_slice(&shift_s.to_ne_bytes());
                for v in [0i32, 0, 0, 0x534f_434b] {
                    sample.extend_from_slice(&v.to_ne_bytes());
                }
                // chronyd may not have made its socket yet: try again next time.
                let _ = sock.send_to(&sample, &path);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Feeder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Our daemon in the namespace, asking `servers`, with its clock 37 ms ahead.
fn daemon(ns: &Netns, dir: &Path, servers: &[&str]) -> Proc {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let config = format!(
        r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 0.0, "offset_ms": {OFFSET_MS}}},
  "ptp": {{"event_port": 31319, "general_port": 31320}},
  "ntp_server": [{}],
  "query_api": {{"enabled": false}},
  "http_status": {{"enabled": false}},
  "state_file": "{}"
}}
"#,
        list.join(", "),
        dir.join("state.json").display()
    );
    let cfg = dir.join("dantesync.json");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = ns.command(BIN);
    cmd.args(["--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "dantesync=debug");
    Proc::spawn(&mut cmd, &dir.join("dantesync.log"))
}

/// Waits (at most `secs`) until `pred` holds for the daemon's log.
fn wait_log(d: &mut Proc, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        let log = d.log();
        if pred(&log) {
            return log;
        }
        if let Some(status) = d.child.try_wait().unwrap() {
            panic!("the daemon exited ({status}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {what} in {secs} s; daemon log:\n{}", d.log());
}

/// The offsets (ms) of the per-server debug lines for `server`, in order:
/// "NTP 127.0.0.2 (127.0.0.2): offset -37.001 ms, delay 0.071 ms, ...".
fn offsets(log: &str, server: &str) -> Vec<(f64, f64)> {
    let head = format!("NTP {server} (");
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(&head)?..];
            let num = |key: &str| -> Option<f64> {
                let at = rest.find(key)? + key.len();
                rest[at..].split_whitespace().next()?.parse().ok()
            };
            Some((num("offset ")?, num("delay ")?))
        })
        .collect()
}

/// The NTP corrections the daemon logged (µs): "NTP: time corrected by -37000 µs (step)".
fn corrections(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| {
            let at = l.find("time corrected by ")? + "time corrected by ".len();
            l[at..].split_whitespace().next()?.parse().ok()
        })
        .collect()
}

fn local_stratum_server() -> &'static str {
    "local stratum 8"
}

/// (a) One chronyd (`local stratum 8`): the client measures the simulated −37 ms, the gate
/// corrects it after two agreeing checks, and the check after the correction sees ~0.
#[test]
fn the_client_measures_a_chronyd_server() {
    if !prerequisites() {
        return;
    }
    let _s = serial();
    let dir = TempDir::new("ntpc", "one");
    let ns = Netns::new();
    let _server = chronyd(&ns, &dir.0, "one", 2, local_stratum_server());
    let (o, stratum) = ntpdig(&ns, "127.0.0.2");
    assert_eq!(stratum, 8);
    assert!(o.abs() < 1e-3, "chronyd shares the host clock: {o} s");

    let mut d = daemon(&ns, &dir.0, &["127.0.0.2"]);
    let log = wait_log(&mut d, 40, "check after the correction", |l| {
        !corrections(l).is_empty() && offsets(l, "127.0.0.2").len() >= 3
    });
    eprintln!("{log}");
    let seen = offsets(&log, "127.0.0.2");
    let (first, delay) = seen[0];
    assert!(
        (first + OFFSET_MS).abs() < TOLERANCE_MS,
        "measured {first:+.3} ms (delay {delay:.3} ms), expected {:+.3} ms within {TOLERANCE_MS} ms",
        -OFFSET_MS
    );
    assert!((0.0..2.0).contains(&delay), "loopback delay {delay} ms");
    let fix = corrections(&log)[0];
    assert!(
        (fix / 1000.0 + OFFSET_MS).abs() < TOLERANCE_MS,
        "corrected by {fix} µs, expected {} µs",
        -OFFSET_MS * 1000.0
    );
    let (after, _) = seen[2];
    assert!(
        after.abs() < TOLERANCE_MS,
        "after the correction the offset is {after:+.3} ms"
    );
    assert!(
        log.contains("NTP server 127.0.0.2: pending -> truechimer"),
        "{log}"
    );
    assert!(log.contains("reply arrival times from the kernel"), "{log}");
}

/// (b) Two agreeing chronyd servers and one 250 ms off: the client names the third a
/// falseticker and corrects by the two (−37 ms, not the −37 + 250/3 ms a plain mean gives).
#[test]
fn a_server_250_ms_off_is_a_falseticker_and_not_followed() {
    if !prerequisites() {
        return;
    }
    let _s = serial();
    let dir = TempDir::new("ntpc", "three");
    let ns = Netns::new();
    let _a = chronyd(&ns, &dir.0, "three", 2, local_stratum_server());
    let sock = run_file("three", "shift.sock");
    let _feeder = Feeder::start(sock.clone(), SHIFT_S);
    let shifted = format!(
        "refclock SOCK {} refid SHFT poll 0 filter 1",
        sock.display()
    );
    let mut _b = chronyd(&ns, &dir.0, "three", 3, &shifted);
    _b.files.push(sock.clone());
    let _c = chronyd(&ns, &dir.0, "three", 4, local_stratum_server());

    // The shift is real before the daemon is asked to judge it.
    let t0 = Instant::now();
    let shift = loop {
        let (o, _) = ntpdig(&ns, "127.0.0.3");
        if (o - SHIFT_S).abs() < 1e-3 || t0.elapsed() > Duration::from_secs(20) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        (shift - SHIFT_S).abs() < 1e-3,
        "127.0.0.3 serves {shift:+.6} s from the host clock, expected +{SHIFT_S} s"
    );
    for ip in ["127.0.0.2", "127.0.0.4"] {
        let (o, stratum) = ntpdig(&ns, ip);
        assert!(
            o.abs() < 1e-3 && stratum == 8,
            "{ip}: {o} s, stratum {stratum}"
        );
    }
    eprintln!("ntpdig: 127.0.0.3 serves {shift:+.6} s");

    let mut d = daemon(&ns, &dir.0, &["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let log = wait_log(&mut d, 40, "NTP correction", |l| !corrections(l).is_empty());
    eprintln!("{log}");
    assert!(
        log.contains("NTP server 127.0.0.3: pending -> falseticker"),
        "no falseticker line:\n{log}"
    );
    for ip in ["127.0.0.2", "127.0.0.4"] {
        assert!(
            log.contains(&format!("NTP server {ip}: pending -> truechimer")),
            "{ip} not followed:\n{log}"
        );
    }
    // It did answer, with its shifted time: it was judged, not missed.
    let (off, _) = offsets(&log, "127.0.0.3")[0];
    assert!(
        (off - (SHIFT_S * 1e3 - OFFSET_MS)).abs() < 1.0,
        "127.0.0.3 measured at {off:+.3} ms"
    );
    let fix = corrections(&log)[0];
    assert!(
        (fix / 1000.0 + OFFSET_MS).abs() < TOLERANCE_MS,
        "corrected by {fix} µs, expected {} µs: the falseticker was followed",
        -OFFSET_MS * 1000.0
    );
    // One line per change: the falseticker is named once, not at every check.
    assert_eq!(log.matches("-> falseticker").count(), 1, "{log}");
}

/// (c) A chronyd that rate-limits (`ratelimit interval 1 burst 1`: one answer per 2 s, the
/// rest of a burst mostly dropped) is still measured and followed: a burst with some answers
/// counts, and the silent rest does not make the server unreachable.
#[test]
fn a_rate_limiting_chronyd_is_still_measured() {
    if !prerequisites() {
        return;
    }
    let _s = serial();
    let dir = TempDir::new("ntpc", "ratelimit");
    let ns = Netns::new();
    let _server = chronyd(
        &ns,
        &dir.0,
        "ratelimit",
        2,
        "local stratum 8\nratelimit interval 1 burst 1 leak 4",
    );
    let (o, stratum) = ntpdig(&ns, "127.0.0.2");
    assert!(o.abs() < 1e-3 && stratum == 8, "{o} s, stratum {stratum}");
    // chrony remembers ntpdig's burst; let its rate limit forget it.
    std::thread::sleep(Duration::from_secs(4));

    let mut d = daemon(&ns, &dir.0, &["127.0.0.2"]);
    let log = wait_log(&mut d, 40, "NTP correction", |l| !corrections(l).is_empty());
    eprintln!("{log}");
    let answered: Vec<u32> = log
        .lines()
        .filter(|l| l.contains("NTP 127.0.0.2 ("))
        .filter_map(|l| {
            let at = l.find(" answered")?;
            l[..at].rsplit(' ').next()?.parse().ok()
        })
        .collect();
    assert!(
        answered.len() >= 2 && answered.iter().all(|&n| n >= 1) && answered.iter().any(|&n| n < 4),
        "answers per burst {answered:?}: each burst measured, chrony dropping part of them"
    );
    let (first, _) = offsets(&log, "127.0.0.2")[0];
    assert!(
        (first + OFFSET_MS).abs() < TOLERANCE_MS,
        "measured {first:+.3} ms"
    );
    assert!(!log.contains("-> unreachable"), "{log}");
    let fix = corrections(&log)[0];
    assert!(
        (fix / 1000.0 + OFFSET_MS).abs() < TOLERANCE_MS,
        "corrected by {fix} µs"
    );
}
