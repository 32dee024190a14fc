//! The HTTP status server end to end: a real daemon on a simulated clock (+50 ppm; the host's
//! clock is never touched) following `dantesync gm-sim` on loopback, asking a small NTP server
//! in this test (the host's time, stratum 2) and serving NTP itself, so every section of the
//! status has values. `/api/status` and `/metrics` must agree with each other and with
//! what the daemon is doing. Every child is killed when its guard drops.

mod support;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dantesync_core::wire::ntp::{
    Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime, HEADER_LEN,
};

use serde_json::Value;
use support::prom_text;
use support::{
    daemon_with_config, free_port, free_tcp_port, gm_sim_loopback, serial, unix_nanos_now, Proc,
    TempDir,
};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");

/// An NTP server on loopback answering with the host's time, on a thread stopped on drop.
struct Upstream {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start() -> Upstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let rx = unix_nanos_now();
                let Ok((req, _)) = NtpHeader::parse(&buf[..n]) else {
                    continue;
                };
                let reply = NtpHeader {
                    leap: Leap::NoWarning,
                    version: req.version,
                    mode: Mode::Server,
                    stratum: 2,
                    poll: req.poll,
                    precision: -20,
                    root_delay: ShortTime::ZERO,
                    root_dispersion: ShortTime::ZERO,
                    reference_id: ReferenceId::from_bytes([127, 0, 0, 1]),
                    reference_ts: NtpTimestamp::from_unix_nanos(rx - 1_000_000_000),
                    origin_ts: req.transmit_ts,
                    receive_ts: NtpTimestamp::from_unix_nanos(rx),
                    transmit_ts: NtpTimestamp::from_unix_nanos(unix_nanos_now()),
                };
                let _ = sock.send_to(&reply.to_bytes()[..HEADER_LEN], from);
            }
        });
        Upstream {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A daemon with HTTP on loopback, its leader and its NTP server.
struct Node {
    dir: TempDir,
    http: u16,
    ntp: u16,
    daemon: Proc,
    _leader: Proc,
    _upstream: Upstream,
}

impl Node {
    fn start(tag: &str) -> Node {
        let dir = TempDir::new("http", tag);
        let upstream = Upstream::start();
        let (event, general, ntp, http) = (free_port(), free_port(), free_port(), free_tcp_port());
        let config = format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}},
  "ntp_server": "127.0.0.1:{}",
  "ntp_server_mode": {{"enabled": true, "port": {ntp}, "bind": "127.0.0.1"}},
  "ptp": {{"event_port": {event}, "general_port": {general}}},
  "query_api": {{"enabled": false}},
  "http_status": {{"enabled": true, "port": {http}, "bind": "127.0.0.1"}},
  "state_file": "{}"
}}
"#,
            upstream.port,
            dir.0.join("state.json").display()
        );
        let daemon = daemon_with_config(&dir, &config);
        let leader = Proc::spawn(
            &mut gm_sim_loopback(event, general),
            &dir.0.join("gm-sim.log"),
        );
        Node {
            dir,
            http,
            ntp,
            daemon,
            _leader: leader,
            _upstream: upstream,
        }
    }

    fn get(&self, path: &str) -> Option<Response> {
        request(self.http, "GET", path)
    }

    fn status(&self) -> Value {
        let r = self.get("/api/status").expect("/api/status answers");
        assert_eq!(r.code, 200);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
    }

    /// Polls `/api/status` until `done` holds for it; panics with the log after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(r) = self.get("/api/status") {
                if let Ok(v) = serde_json::from_str::<Value>(&r.body) {
                    if done(&v) {
                        return v;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{what}: not within {limit:?}\n--- daemon log:\n{}",
            self.daemon.log()
        );
    }
}

struct Response {
    code: u16,
    headers: String,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (closed by the server after the answer).
fn request(port: u16, method: &str, path: &str) -> Option<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Response {
        code,
        headers: head.to_owned(),
        body: body.to_owned(),
    })
}

/// A 48-byte NTPv4 client request and a 3-byte datagram no server may answer.
fn poke_ntp_server(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = [0u8; 48];
    req[0] = 0x23; // LI 0, version 4, mode 3 (client)
    req[40..48].copy_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
    s.send_to(&[0x23, 0, 0], ("127.0.0.1", port)).unwrap();
    s.send_to(&req, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 128];
    matches!(s.recv(&mut buf), Ok(48))
}

/// The status snapshot without what changes by itself between two reads (every time's age,
/// wherever it sits, and the uptime).
fn steady(doc: &Value) -> Value {
    fn without_ages(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("age_s");
                o.values_mut().for_each(without_ages);
            }
            Value::Array(a) => a.iter_mut().for_each(without_ages),
            _ => {}
        }
    }
    let mut s = doc["status"].clone();
    without_ages(&mut s);
    if let Some(o) = s["host"].as_object_mut() {
        o.remove("uptime_s");
    }
    s
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn status_json_and_metrics_agree_with_each_other_and_the_daemon() {
    let _guard = serial();
    let node = Node::start("agree");
    let locked = node.wait_for("LOCK or NANO", Duration::from_secs(30), |v| {
        v["is_locked"] == Value::Bool(true)
    });
    // The legacy names, with the earlier tool's types and meanings.
    assert!(["LOCK", "NANO"].contains(&locked["mode"].as_str().unwrap()));
    assert_eq!(locked["mode"], locked["status"]["mode"]);
    for key in [
        "offset_ns",
        "drift_ppm",
        "gm_uuid",
        "gm_source_ip",
        "settled",
        "updated_ts",
        "is_locked",
        "smoothed_rate_ppm",
        "ntp_offset_us",
        "mode",
        "ntp_failed",
        "accumulated_phase_us",
    ] {
        assert!(locked.get(key).is_some(), "{key} missing: {locked}");
    }
    assert_eq!(locked["gm_uuid"].as_array().map(Vec::len), Some(6));
    // The servo removed the simulated +50 ppm: the applied frequency says so in both names.
    let applied = f(&locked["status"]["applied_ppm"]);
    assert!((applied + 50.0).abs() < 5.0, "applied {applied} ppm");
    assert_eq!(locked["drift_ppm"], locked["status"]["applied_ppm"]);
    assert_eq!(locked["smoothed_rate_ppm"], locked["status"]["drift_ppm"]);

    // The simulated clock has no offset from the host's, which the upstream serves; the
    // daemon's own server counts the requests of this test.
    let ntp_seen = node.wait_for("an NTP check", Duration::from_secs(30), |v| {
        !v["status"]["ntp"].is_null()
    });
    let ntp_offset_us = f(&ntp_seen["status"]["ntp"]["offset_ns"]) / 1000.0;
    assert!(
        ntp_offset_us.abs() < 500.0,
        "self offset {ntp_offset_us} µs"
    );
    assert!(poke_ntp_server(node.ntp), "the NTP server answers a client");

    // Two status reads around one metrics read that agree with each other: the metrics are
    // of the same snapshot, and every value must match.
    let mut agreed = None;
    for _ in 0..50 {
        let before = node.status();
        let m = node.get("/metrics").expect("/metrics answers");
        let after = node.status();
        if steady(&before) == steady(&after) && before["counters"] == after["counters"] {
            agreed = Some((after, m));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (doc, m) = agreed.expect("two status reads agreeing around a metrics read");
    assert_eq!(m.code, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{}",
        m.headers
    );
    let e = prom_text::parse(&m.body).unwrap_or_else(|err| panic!("{err}\n{}", m.body));
    let s = &doc["status"];
    let metric = |name: &str| {
        e.value(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{}", m.body))
    };
    let mode = s["mode"].as_str().unwrap();
    assert_eq!(
        e.labelled("dantesync_mode", &[("mode", mode)]),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(metric("dantesync_mode_code"), f(&s["mode_code"]));
    assert_eq!(metric("dantesync_locked"), 1.0);
    assert!(close(
        metric("dantesync_drift_ratio"),
        f(&s["drift_ppm"]) * 1e-6
    ));
    assert!(close(
        metric("dantesync_drift_uncertainty_ratio"),
        f(&s["drift_sigma_ppm"]) * 1e-6
    ));
    assert!(close(
        metric("dantesync_frequency_adjustment_ratio"),
        f(&s["applied_ppm"]) * 1e-6
    ));
    assert!(close(
        metric("dantesync_ntp_offset_seconds"),
        f(&s["ntp"]["offset_ns"]) * 1e-9
    ));
    assert!(close(
        metric("dantesync_ntp_delay_seconds"),
        f(&s["ntp"]["delay_ns"]) * 1e-9
    ));
    assert!(close(
        metric("dantesync_accumulated_phase_seconds"),
        f(&s["accumulated_phase_us"]) * 1e-6
    ));
    assert_eq!(
        metric("dantesync_leader_changes_total"),
        f(&s["ptp"]["leader_changes"])
    );
    assert!(metric("dantesync_leader_changes_total") >= 1.0);
    assert_eq!(
        metric("dantesync_ptp_packets_received_total"),
        f(&s["ptp"]["received"])
    );
    // Each sample took a Sync and its Follow_Up.
    assert_eq!(
        metric("dantesync_ptp_samples_total"),
        f(&s["ptp"]["samples"])
    );
    assert!(metric("dantesync_ptp_samples_total") >= 1.0);
    assert!(
        metric("dantesync_ptp_packets_received_total")
            >= 2.0 * metric("dantesync_ptp_samples_total")
    );
    assert_eq!(
        metric("dantesync_ntp_corrections_total"),
        f(&s["ntp_corrections"])
    );
    let served = &doc["counters"]["ntp_server"];
    assert_eq!(
        metric("dantesync_ntp_server_requests_received_total"),
        f(&served["received"])
    );
    assert_eq!(
        metric("dantesync_ntp_server_responses_total"),
        f(&served["answered"])
    );
    // Exactly this test's two datagrams: the request answered, the 3-byte one dropped.
    assert_eq!(metric("dantesync_ntp_server_requests_received_total"), 2.0);
    assert_eq!(metric("dantesync_ntp_server_responses_total"), 1.0);
    let dropped = e.all("dantesync_ntp_server_requests_dropped_total");
    assert_eq!(
        dropped.iter().map(|(_, v)| v).sum::<f64>(),
        1.0,
        "{dropped:?}"
    );
    assert_eq!(
        e.labelled(
            "dantesync_ntp_server_requests_dropped_total",
            &[("reason", "too_short")]
        ),
        Some(1.0),
        "{dropped:?}"
    );
    assert_eq!(
        e.labelled(
            "dantesync_leader_info",
            &[
                ("grandmaster", s["leader"]["grandmaster"].as_str().unwrap()),
                ("sender", s["leader"]["sender"].as_str().unwrap()),
                ("sender_port", &s["leader"]["sender_port"].to_string()),
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn the_page_its_script_and_history_are_served_and_nothing_changes_state() {
    let _guard = serial();
    let node = Node::start("page");
    node.wait_for("a drift estimate", Duration::from_secs(30), |v| {
        !v["status"]["drift_ppm"].is_null()
    });

    let page = node.get("/").expect("/ answers");
    assert_eq!(page.code, 200);
    assert!(page.body.contains(r#"<canvas id="chart-drift""#));
    assert!(page.body.contains(r#"<script src="/app.js""#));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'self'")),
        "{}",
        page.headers
    );
    let script = node.get("/app.js").expect("/app.js answers");
    assert_eq!(script.code, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.body.contains("/api/history"));
    assert_eq!(node.get("/style.css").map(|r| r.code), Some(200));
    assert_eq!(node.get("/no-such-page").map(|r| r.code), Some(404));
    let old_path = node.get("/status").expect("/status answers");
    assert_eq!(old_path.code, 200);
    let old: Value = serde_json::from_str(&old_path.body).unwrap();
    assert!(old["is_locked"].is_boolean() && old["status"]["mode"].is_string());

    // Points are taken every 2 s: within 10 s there are several, oldest first, with the
    // applied frequency the status shows.
    let t0 = Instant::now();
    let points = loop {
        let h: Value = serde_json::from_str(&node.get("/api/history").unwrap().body).unwrap();
        let points = h["points"].as_array().cloned().unwrap_or_default();
        if points.len() >= 3 || t0.elapsed() > Duration::from_secs(20) {
            break points;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(points.len() >= 3, "{} history points", points.len());
    let times: Vec<i64> = points.iter().map(|p| p["t"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 1000), "{times:?}");
    let last = times[times.len() - 1];
    let newer: Value = serde_json::from_str(
        &node
            .get(&format!("/api/history?since={}", times[times.len() - 2]))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(newer["points"][0]["t"].as_i64(), Some(last));
    let applied_now = f(&node.status()["status"]["applied_ppm"]);
    let applied_last = f(&points[points.len() - 1]["applied_ppm"]);
    assert!((applied_now - applied_last).abs() < 5.0);

    // Read-only: other methods are refused and the status is still served.
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(node.http, method, "/api/status").unwrap();
        assert_eq!(r.code, 405, "{method}");
    }
    assert_eq!(node.get("/api/status").map(|r| r.code), Some(200));
    drop(node.dir);
}

#[test]
fn a_taken_http_port_stops_the_daemon_naming_it() {
    let _guard = serial();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = TempDir::new("http", "taken");
    let cfg = dir.0.join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"clock": {{"kind": "simulated", "drift_ppm": 0.0, "offset_ms": 0.0}},
  "ptp": {{"event_port": {}, "general_port": {}}},
  "query_api": {{"enabled": false}},
  "http_status": {{"port": {port}, "bind": "127.0.0.1"}},
  "state_file": "{}"}}"#,
            free_port(),
            free_port(),
            dir.0.join("state.json").display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap()])
        .env("XDG_RUNTIME_DIR", &dir.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("HTTP status: cannot bind 127.0.0.1:{port}"))
            && err.contains("http_status.port"),
        "{err}"
    );
    drop(holder);
}

#[test]
fn idle_and_surplus_connections_are_closed_and_the_api_stays_up() {
    let _guard = serial();
    let node = Node::start("bounds");
    node.wait_for("the HTTP server", Duration::from_secs(15), |v| {
        v.is_object()
    });
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", node.http)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
        s
    };
    // 64 connections that never send a request take every slot...
    let mut idle: Vec<TcpStream> = (0..64).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    // ...so the next one is closed without an answer.
    let mut surplus = connect();
    let mut buf = [0u8; 64];
    let _ = surplus.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        matches!(surplus.read(&mut buf), Ok(0) | Err(_)),
        "the 65th connection was served"
    );
    // Closing some frees their slots.
    idle.truncate(54);
    let t0 = Instant::now();
    while request(node.http, "GET", "/api/status").map(|r| r.code) != Some(200) {
        assert!(t0.elapsed() < Duration::from_secs(5), "no slot came free");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A connection that sends no request header is closed by the server (10 s allowed).
    let t0 = Instant::now();
    let closed = matches!(idle[0].read(&mut buf), Ok(0));
    let waited = t0.elapsed();
    assert!(closed, "an idle connection stayed open {waited:?}");
    assert!(
        waited < Duration::from_secs(20),
        "an idle connection was closed only after {waited:?}"
    );
    drop(idle);
    assert_eq!(node.get("/api/status").map(|r| r.code), Some(200));
}
