//! The daemon end to end: real `dantesync` processes on loopback, a simulated clock drifting
//! +50 ppm (the host's clock is never touched), `dantesync gm-sim` as the Dante leader, and the
//! query API as the only window into the daemon. Every child is killed when its guard drops,
//! also when an assertion fails.

mod support;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::query::compact_local;
use support::{free_port, serial, Proc, TempDir};

use dantesync_core::wire::query::QueryReply;
use dantesync_core::Mode;

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");

/// One daemon's ports and files.
struct Setup {
    dir: TempDir,
    event: u16,
    general: u16,
    query: u16,
}

impl Setup {
    fn new(tag: &str, ntp: Option<u16>) -> Self {
        let dir = TempDir::new("daemon", tag);
        let (event, general, query) = (free_port(), free_port(), free_port());
        let ntp_line = ntp.map_or(String::new(), |p| {
            format!("\"ntp_server\": \"127.0.0.1:{p}\",")
        });
        let config = format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}},
  {ntp_line}
  "ptp": {{"event_port": {event}, "general_port": {general}}},
  "query_api": {{"enabled": true, "port": {query}, "bind": "127.0.0.1"}},
  "http_status": {{"enabled": false}},
  "state_file": "{}"
}}
"#,
            dir.0.join("state.json").display()
        );
        std::fs::write(dir.0.join("config.json"), config).unwrap();
        Self {
            dir,
            event,
            general,
            query,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.0.join("config.json")
    }

    // Only the SIGTERM test (Unix) reads the saved state.
    #[cfg(unix)]
    fn state(&self) -> PathBuf {
        self.dir.0.join("state.json")
    }

    fn daemon(&self, name: &str) -> Proc {
        Proc::spawn(
            Command::new(BIN)
                .args(["--config", self.config().to_str().unwrap()])
                .env("XDG_RUNTIME_DIR", &self.dir.0)
                .env("RUST_LOG", "dantesync=debug"),
            &self.dir.0.join(format!("{name}.log")),
        )
    }

    fn gm_sim(&self, name: &str, extra: &[&str]) -> Proc {
        let (e, g) = (self.event.to_string(), self.general.to_string());
        let mut cmd = Command::new(BIN);
        cmd.args([
            "gm-sim",
            "--dest",
            "127.0.0.1",
            "--event-port",
            &e,
            "--general-port",
            &g,
        ])
        .args([
            "--delay-req-port",
            "0",
            "--drift-ppm",
            "0",
            "--duration-s",
            "120",
        ])
        .args(extra);
        Proc::spawn(&mut cmd, &self.dir.0.join(format!("{name}.log")))
    }

    fn query(&self) -> Option<QueryReply> {
        compact_local(self.query)
    }

    /// Polls the mode until `want` (or any locked mode when `want` is Lock); returns how long.
    fn wait_mode(&self, want: &[Mode], limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(r) = self.query() {
                if want.contains(&r.mode) {
                    return Some(t0.elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

const LOCKED: [Mode; 2] = [Mode::Lock, Mode::Nano];

/// The daemon clock's offset from the host's CLOCK_MONOTONIC_RAW (as the reply pairs them),
/// median of several queries, at the median monotonic reading.
fn clock_vs_raw(port: u16) -> (f64, f64) {
    let mut pairs: Vec<(f64, f64)> = (0..15)
        .filter_map(|_| compact_local(port))
        .map(|r| {
            (
                r.monotonic_counter as f64,
                // Subtracted as integers: an f64 of a Unix time in ns resolves only 256 ns.
                (i128::from(r.system_time_ns) - i128::from(r.monotonic_counter)) as f64,
            )
        })
        .collect();
    assert!(pairs.len() >= 10, "too few query replies");
    pairs.sort_by(|a, b| a.1.total_cmp(&b.1));
    pairs[pairs.len() / 2]
}

/// CLOCK_MONOTONIC (which gm-sim's uptime runs on) read between two CLOCK_MONOTONIC_RAW reads:
/// (raw midpoint ns, monotonic ns) from the tightest of 20 sandwiches.
fn mono_vs_raw(origin: Instant) -> (f64, f64) {
    let raw = dantesync_clock::system_reference().unwrap();
    (0..20)
        .map(|_| {
            let a = raw.now_ns();
            let m = origin.elapsed().as_nanos() as f64;
            let b = raw.now_ns();
            (b - a, (a as f64 + b as f64) / 2.0, m)
        })
        .min_by_key(|s| s.0)
        .map(|s| (s.1, s.2))
        .unwrap()
}

#[test]
fn locks_to_gm_sim_and_removes_the_natural_drift() {
    let _serial = serial();
    let s = Setup::new("lock", None);
    let daemon = s.daemon("daemon");
    let _gm = s.gm_sim("gm", &[]);
    let lock = s.wait_mode(&LOCKED, Duration::from_secs(15));
    let lock = lock.unwrap_or_else(|| panic!("no LOCK within 15 s:\n{}", daemon.log()));
    let nano = s.wait_mode(&[Mode::Nano], Duration::from_secs(30));
    nano.unwrap_or_else(|| panic!("no NANO:\n{}", daemon.log()));
    // Let the estimate's window grow past its first seconds in NANO.
    std::thread::sleep(Duration::from_secs(20));
    let origin = Instant::now();
    let (raw_a, clk_a) = clock_vs_raw(s.query);
    let (mraw_a, m_a) = mono_vs_raw(origin);
    std::thread::sleep(Duration::from_secs(15));
    let (raw_b, clk_b) = clock_vs_raw(s.query);
    let (mraw_b, m_b) = mono_vs_raw(origin);
    // Rate of the daemon's clock against CLOCK_MONOTONIC_RAW, and of gm-sim's uptime (drift 0
    // on CLOCK_MONOTONIC) against the same reference.
    let clock_ppm = (clk_b - clk_a) / (raw_b - raw_a) * 1e6;
    let leader_ppm = ((m_b - m_a) / (mraw_b - mraw_a) - 1.0) * 1e6;
    let error_ppm = clock_ppm - leader_ppm;
    let r = s.query().unwrap();
    eprintln!(
        "lock after {:.2} s; clock vs raw {clock_ppm:+.4} ppm, leader vs raw {leader_ppm:+.4} \
         ppm, clock vs leader {error_ppm:+.4} ppm; applied {:+.3} ppm",
        lock.as_secs_f64(),
        f64::from(r.frequency_adjustment_ppb) / 1000.0
    );
    // The issue's goal: the clock's rate against the leader within 0.1 ppm, measured from
    // outside (NANO itself claims < 0.5 ppm). gm-sim stamps T1 in the kernel on send, as a
    // real leader stamps in hardware, so what remains is the loopback path's own noise.
    assert!(
        error_ppm.abs() < 0.1,
        "clock vs leader {error_ppm} ppm while NANO was claimed\n{}",
        daemon.log()
    );
    // The servo took the +50 ppm out: the applied frequency is about -50 ppm.
    assert!((r.frequency_adjustment_ppb + 50_000).abs() < 2_000, "{r:?}");
    assert_eq!(r.grandmaster_uuid, [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
}

#[test]
fn leader_loss_gives_ntp_only_and_a_restarted_leader_locks_again() {
    let _serial = serial();
    let s = Setup::new("loss", None);
    let daemon = s.daemon("daemon");
    let mut gm = s.gm_sim("gm1", &[]);
    s.wait_mode(&LOCKED, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no LOCK:\n{}", daemon.log()));
    gm.child.kill().unwrap();
    gm.child.wait().unwrap();
    let killed = Instant::now();
    let t = s
        .wait_mode(&[Mode::NtpOnly], Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no NTP-ONLY:\n{}", daemon.log()));
    let since_kill = killed.elapsed();
    assert!(
        since_kill < Duration::from_secs(11),
        "NTP-ONLY after {since_kill:?}"
    );
    // Holdover: the frequency learned in LOCK (bounded within 5 ppm) stays applied.
    let r = s.query().unwrap();
    assert!((r.frequency_adjustment_ppb + 50_000).abs() < 5_000, "{r:?}");
    eprintln!(
        "NTP-ONLY {:.2} s after the kill (polled {:.2} s)",
        since_kill.as_secs_f64(),
        t.as_secs_f64()
    );
}

/// A restarted leader (a new gm-sim process: its uptime starts again, here far ahead, a
/// timescale jump) must be locked to again within 15 s.
#[test]
fn a_restarted_leader_with_a_jumped_timescale_is_locked_again() {
    let _serial = serial();
    let s = Setup::new("relock", None);
    let daemon = s.daemon("daemon");
    let mut gm = s.gm_sim("gm1", &[]);
    s.wait_mode(&LOCKED, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no LOCK:\n{}", daemon.log()));
    gm.child.kill().unwrap();
    gm.child.wait().unwrap();
    s.wait_mode(&[Mode::NtpOnly], Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no NTP-ONLY:\n{}", daemon.log()));
    // The same leader restarts far along its uptime: a timescale jump.
    let _gm2 = s.gm_sim("gm2", &["--uptime-start-s", "86400"]);
    let relock = s
        .wait_mode(&LOCKED, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no LOCK after the restart:\n{}", daemon.log()));
    eprintln!("LOCK again {:.2} s after the restart", relock.as_secs_f64());
}

// SIGTERM is a Unix signal; the Windows service's stop is tested with the service.
#[cfg(unix)]
#[test]
fn sigterm_saves_the_learned_frequency_and_a_warm_start_locks_fast() {
    let _serial = serial();
    let s = Setup::new("term", None);
    let mut daemon = s.daemon("daemon1");
    let _gm = s.gm_sim("gm", &[]);
    let cold = s
        .wait_mode(&LOCKED, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no LOCK:\n{}", daemon.log()));
    s.wait_mode(&[Mode::Nano], Duration::from_secs(30));
    daemon.signal(libc::SIGTERM);
    let (status, took) = daemon
        .wait_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running 2 s after SIGTERM:\n{}", daemon.log()));
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    let saved = dantesync_clock::state::load(&s.state()).unwrap().unwrap();
    assert!(
        (saved.frequency_ppm + 50.0).abs() < 1.0,
        "saved {} ppm",
        saved.frequency_ppm
    );
    let warm_daemon = s.daemon("daemon2");
    let warm = s
        .wait_mode(&LOCKED, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no LOCK on the warm start:\n{}", warm_daemon.log()));
    eprintln!(
        "cold LOCK {:.2} s; exit {:.3} s after SIGTERM; saved {:+.4} ppm; warm LOCK {:.2} s",
        cold.as_secs_f64(),
        took.as_secs_f64(),
        saved.frequency_ppm,
        warm.as_secs_f64()
    );
    assert!(warm < Duration::from_secs(5), "warm start took {warm:?}");
}

#[test]
fn a_bad_config_stops_the_daemon_and_a_second_instance_refuses() {
    let _serial = serial();
    let s = Setup::new("bad", None);
    let bad = s.dir.0.join("bad.json");
    let text = "{\n  \"ptp\": {\"event_port\": \"abc\"}\n}\n";
    std::fs::write(&bad, text).unwrap();
    let out = Command::new(BIN)
        .args(["--config", bad.to_str().unwrap()])
        .env("XDG_RUNTIME_DIR", &s.dir.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("ptp.event_port"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), text);

    let first = s.daemon("first");
    s.wait_mode(&[Mode::Init], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("first daemon not answering:\n{}", first.log()));
    let out = Command::new(BIN)
        .args(["--config", s.config().to_str().unwrap()])
        .env("XDG_RUNTIME_DIR", &s.dir.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lock = s.dir.0.join("dantesync.lock");
    assert!(
        stderr.contains(&format!(
            "process {} holds the lock file {}",
            first.child.id(),
            lock.display()
        )),
        "{stderr}"
    );
}

/// A slow NTP server must not delay PTP handling. The test watches the last PTP offset in the
/// query API every 20 ms: each processed sample changes it. The server answers every request
/// 250 ms late (inside the client's 300 ms timeout, so it is never backed off the way a silent
/// one is), so each NTP check keeps the daemon's NTP task waiting about 1 s; samples must still
/// be processed as they arrive (every 250 ms): the longest gap between two changes stays well
/// below what a blocked PTP path would show (1 s and more).
#[test]
fn a_slow_ntp_server_does_not_delay_ptp() {
    use dantesync_core::wire::ntp::{Leap, Mode as NtpMode, NtpHeader, NtpTimestamp, ReferenceId};
    let _serial = serial();
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    hole.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hole_thread = {
        let (requests, stop) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                let Ok((len, from)) = hole.recv_from(&mut buf) else {
                    continue;
                };
                requests.fetch_add(1, Ordering::Relaxed);
                let Ok((req, _)) = NtpHeader::parse(&buf[..len]) else {
                    continue;
                };
                let t2 = NtpTimestamp::from_unix_nanos(unix_nanos());
                std::thread::sleep(Duration::from_millis(250));
                let reply = NtpHeader {
                    leap: Leap::NoWarning,
                    mode: NtpMode::Server,
                    stratum: 2,
                    reference_id: ReferenceId::from_bytes([127, 0, 0, 1]),
                    reference_ts: t2,
                    origin_ts: req.transmit_ts,
                    receive_ts: t2,
                    transmit_ts: NtpTimestamp::from_unix_nanos(unix_nanos()),
                    ..NtpHeader::client_request(NtpTimestamp::ZERO)
                };
                let _ = hole.send_to(&reply.to_bytes(), from);
            }
        })
    };
    let s = Setup::new("ntp", Some(hole_port));
    // The leader first: the daemon's first NTP check starts at its start, while Syncs flow.
    let _gm = s.gm_sim("gm", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let daemon = s.daemon("daemon");
    s.wait_mode(&[Mode::Init, Mode::Acq], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("daemon not answering:\n{}", daemon.log()));
    let t0 = Instant::now();
    let mut last: Option<(i64, Instant)> = None;
    let mut longest = Duration::ZERO;
    let mut changes = 0u32;
    let watch = Duration::from_secs(8);
    let start_requests = requests.load(Ordering::Relaxed);
    while t0.elapsed() < watch {
        if let Some(r) = s.query() {
            let now = Instant::now();
            match last {
                Some((o, at)) if o != r.ptp_offset_ns => {
                    longest = longest.max(now - at);
                    changes += 1;
                    last = Some((r.ptp_offset_ns, now));
                }
                None => last = Some((r.ptp_offset_ns, now)),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let during = requests.load(Ordering::Relaxed) - start_requests;
    stop.store(true, Ordering::Relaxed);
    hole_thread.join().unwrap();
    eprintln!(
        "NTP requests to the slow server while watching: {during} (total {}); samples seen \
         {changes} in {:.1} s; longest gap {:.0} ms",
        requests.load(Ordering::Relaxed),
        watch.as_secs_f64(),
        longest.as_secs_f64() * 1e3,
    );
    assert!(
        during >= 4,
        "no NTP burst while watching ({during} requests)"
    );
    // 4 samples a second: at least 3.5/s seen, and no gap near the 1 s an NTP burst takes.
    assert!(
        f64::from(changes) >= 3.5 * watch.as_secs_f64(),
        "{changes} samples"
    );
    assert!(longest < Duration::from_millis(600), "gap {longest:?}");
}

fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}
