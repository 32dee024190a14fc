//! The NTP client against scripted servers on loopback: Kiss-o'-Death, a silent server, the
//! panic threshold and a disallowed backward step, as a real daemon process handles them.
//!
//! Each scripted server is a thread with a UDP socket on 127.0.0.1 that answers every request
//! the way it is told (host time plus a shift the test can change, a KoD, or nothing) and
//! counts the requests, so the test sees both what the daemon logs and what it sent. The
//! daemon runs a simulated clock; the host clock is never touched. Every thread and child stops
//! when its guard drops; every wait is bounded.

mod support;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{free_port, serial, unix_nanos_now, TempDir};

use dantesync_core::wire::ntp::{
    Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime, HEADER_LEN,
};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");
const S: i64 = 1_000_000_000;

#[derive(Clone, Copy)]
enum Behaviour {
    /// Host time plus the shared shift (ns).
    Answer,
    /// A Kiss-o'-Death with this code.
    Kiss(ReferenceId),
    Silent,
}

/// A scripted NTP server on 127.0.0.1.
struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
    shift_ns: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(behaviour: Behaviour, shift_ns: i64) -> Server {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let shift = Arc::new(AtomicI64::new(shift_ns));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, sh, st) = (requests.clone(), shift.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Ordering::Relaxed) {
                let Ok((len, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok((req, _)) = NtpHeader::parse(&buf[..len]) else {
                    continue;
                };
                n.fetch_add(1, Ordering::Relaxed);
                let now = unix_nanos_now() + sh.load(Ordering::Relaxed);
                let ts = NtpTimestamp::from_unix_nanos(now);
                let mut reply = NtpHeader {
                    leap: Leap::NoWarning,
                    version: 4,
                    mode: Mode::Server,
                    stratum: 2,
                    poll: req.poll,
                    precision: -20,
                    root_delay: ShortTime::ZERO,
                    root_dispersion: ShortTime::from_seconds_f64(0.0001),
                    reference_id: ReferenceId::from_bytes([127, 0, 0, 1]),
                    reference_ts: ts,
                    origin_ts: req.transmit_ts,
                    receive_ts: ts,
                    transmit_ts: ts,
                };
                match behaviour {
                    Behaviour::Answer => {}
                    Behaviour::Kiss(code) => {
                        reply.leap = Leap::Unsynchronized;
                        reply.stratum = 0;
                        reply.reference_id = code;
                    }
                    Behaviour::Silent => continue,
                }
                let bytes: [u8; HEADER_LEN] = reply.to_bytes();
                let _ = sock.send_to(&bytes, from);
            }
        });
        Server {
            port,
            requests,
            shift_ns: shift,
            stop,
            thread: Some(thread),
        }
    }

    fn name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemon, killed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    fn start(tag: &str, servers: &[String], ntp: &str) -> Daemon {
        let dir = TempDir::new("ntpcl", tag);
        let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
        let config = format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 0.0, "offset_ms": 0}},
  "ptp": {{"event_port": {}, "general_port": {}}},
  "ntp_server": [{}],
  "ntp": {ntp},
  "query_api": {{"enabled": false}},
  "http_status": {{"enabled": false}},
  "state_file": "{}"
}}
"#,
            free_port(),
            free_port(),
            list.join(", "),
            dir.0.join("state.json").display()
        );
        let cfg = dir.0.join("config.json");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.0.join("daemon.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap()])
            .env("RUST_LOG", "dantesync=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        Daemon {
            child,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `secs`) until `pred` holds for the log; returns the log.
    fn wait(&mut self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            let log = self.log();
            if pred(&log) {
                return log;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {what} in {secs} s; daemon log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The steps the daemon made (s): "clock stepped by +20.000000 s".
fn steps(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| {
            let at = l.find("clock stepped by ")? + "clock stepped by ".len();
            l[at..].split_whitespace().next()?.parse().ok()
        })
        .collect()
}

fn checks(log: &str) -> usize {
    log.matches("NTP check: offset").count() + log.matches("NTP check failed").count()
}

/// KoD DENY drops a server, KoD RATE and silence back it off; the one good server is followed.
#[test]
fn kiss_of_death_and_silence_are_honoured() {
    let _s = serial();
    let deny = Server::start(Behaviour::Kiss(ReferenceId::DENY), 0);
    let silent = Server::start(Behaviour::Silent, 0);
    let rate = Server::start(Behaviour::Kiss(ReferenceId::RATE), 0);
    let good = Server::start(Behaviour::Answer, 0);
    // The good server by name: resolved by the daemon at each check.
    let by_name = format!("localhost:{}", good.port);
    let names = [deny.name(), silent.name(), rate.name(), by_name];
    let mut d = Daemon::start("kod", &names, "{}");
    // Two checks: the first at start, the second 5 s later to confirm its offset.
    let log = d.wait(30, "second NTP check", |l| checks(l) >= 2);
    eprintln!("{log}");
    let line = |name: &str, to: &str| {
        log.lines()
            .find(|l| l.contains(&format!("NTP server {name}: pending -> {to}")))
            .unwrap_or_else(|| panic!("no `{name} -> {to}` line:\n{log}"))
            .to_owned()
    };
    let denied = line(&names[0], "denied");
    assert!(
        denied.contains("ERROR") && denied.contains("DENY") && denied.contains("not asked again"),
        "{denied}"
    );
    assert!(line(&names[1], "unreachable").contains("asked again in 15 s"));
    assert!(line(&names[2], "rate_limited")
        .contains("not asked again for 60 s, then with one request per check"));
    assert!(
        log.contains(&format!(
            "NTP server {} (127.0.0.1): pending -> truechimer",
            names[3]
        )),
        "{log}"
    );
    // What was sent: the KoD servers one request each (a KoD ends the burst), the silent one
    // two (two silent requests end it), none of them again in the second check; the good
    // server a full burst in both.
    assert_eq!(deny.requests(), 1);
    assert_eq!(rate.requests(), 1);
    assert_eq!(silent.requests(), 2);
    assert_eq!(good.requests(), 8);
    // Each change is logged once.
    assert_eq!(log.matches("-> unreachable").count(), 1);
}

/// The first correction may exceed the panic threshold; a later jump beyond it is refused
/// with a warning and the clock is not stepped.
#[test]
fn a_jump_beyond_the_panic_threshold_is_refused_after_the_first_correction() {
    let _s = serial();
    let server = Server::start(Behaviour::Answer, 20 * S);
    let mut d = Daemon::start("panic", &[server.name()], r#"{"panic_threshold_s": 10}"#);
    let log = d.wait(30, "the first step", |l| !steps(l).is_empty());
    let first = steps(&log)[0];
    assert!(
        (first - 20.0).abs() < 0.01,
        "first step {first} s, expected +20 s"
    );
    // The server jumps 30 s ahead: beyond the 10 s threshold.
    server.shift_ns.store(50 * S, Ordering::Relaxed);
    let log = d.wait(40, "the refusal", |l| {
        l.contains("beyond ntp.panic_threshold_s")
    });
    eprintln!("{log}");
    let refusal = log
        .lines()
        .find(|l| l.contains("beyond ntp.panic_threshold_s"))
        .unwrap();
    assert!(
        refusal.contains("WARN") && refusal.contains("+30.0") && refusal.contains("NOT corrected"),
        "{refusal}"
    );
    assert_eq!(steps(&log).len(), 1, "no second step:\n{log}");
}

/// With `allow_backward_step: false` a clock 50 ms ahead is slewed back, never stepped.
#[test]
fn a_disallowed_backward_step_is_slewed() {
    let _s = serial();
    let server = Server::start(Behaviour::Answer, -S / 20);
    let mut d = Daemon::start(
        "backward",
        &[server.name()],
        r#"{"allow_backward_step": false}"#,
    );
    let log = d.wait(30, "the correction", |l| l.contains("time corrected by"));
    eprintln!("{log}");
    let line = log
        .lines()
        .find(|l| l.contains("time corrected by"))
        .unwrap();
    assert!(line.contains("(slew -20.000 ppm"), "{line}");
    let fix: f64 = line
        .split("time corrected by ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((fix + 50_000.0).abs() < 200.0, "corrected by {fix} µs");
    assert!(steps(&log).is_empty(), "stepped back:\n{log}");
}
