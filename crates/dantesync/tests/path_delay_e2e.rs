//! Path delay end to end: a real daemon on a simulated clock (+50 ppm; the host's clock is
//! never touched) following `dantesync gm-sim` on loopback, sending its Delay_Reqs to the
//! leader's Delay_Req port, read through `/api/status`. A leader that answers gives a small,
//! plausible delay at the configured request rate; one that does not is reported
//! `unanswered`, with no delay. Every child is killed when its guard drops; all traffic is to
//! 127.0.0.1.

mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{daemon_with_config, free_port, free_tcp_port, serial, Proc, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");

struct Node {
    http: u16,
    _daemon: Proc,
    _leader: Proc,
    _dir: TempDir,
}

impl Node {
    /// A daemon asking every `interval_s` on average, and a leader listening for Delay_Req
    /// on a port of its own when `answers` (else nobody listens where the requests go).
    fn start(tag: &str, interval_s: f64, answers: bool) -> Node {
        let dir = TempDir::new("path-delay", tag);
        let (event, general, delay_req, http) =
            (free_port(), free_port(), free_port(), free_tcp_port());
        let config = format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}},
  "ptp": {{"event_port": {event}, "general_port": {general},
           "delay_request_interval_s": {interval_s},
           "delay_request_to": "127.0.0.1:{delay_req}"}},
  "query_api": {{"enabled": false}},
  "http_status": {{"enabled": true, "port": {http}, "bind": "127.0.0.1"}},
  "state_file": "{}"
}}
"#,
            dir.0.join("state.json").display()
        );
        let daemon = daemon_with_config(&dir, &config);
        let listen = if answers {
            delay_req.to_string()
        } else {
            "0".to_owned()
        };
        let leader = Proc::spawn(
            Command::new(BIN).args([
                "gm-sim",
                "--dest",
                "127.0.0.1",
                "--event-port",
                &event.to_string(),
                "--general-port",
                &general.to_string(),
                "--delay-req-port",
                &listen,
                "--drift-ppm",
                "0",
                "--duration-s",
                "120",
            ]),
            &dir.0.join("gm-sim.log"),
        );
        Node {
            http,
            _daemon: daemon,
            _leader: leader,
            _dir: dir,
        }
    }

    fn status(&self) -> Option<Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (_, body) = text.split_once("\r\n\r\n")?;
        let doc: Value = serde_json::from_str(body).ok()?;
        Some(doc["status"].clone())
    }

    /// Polls until `state` shows, within `limit`; the status then.
    fn wait_state(&self, state: &str, limit: Duration) -> Value {
        let t0 = Instant::now();
        let mut last = Value::Null;
        while t0.elapsed() < limit {
            if let Some(s) = self.status() {
                if s["path_delay_state"] == state {
                    return s;
                }
                last = s;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("no path_delay_state {state:?} within {limit:?}; last status: {last}");
    }
}

fn count(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {s}"))
}

#[test]
fn an_answering_leader_gives_a_small_delay_at_the_configured_rate() {
    let _serial = serial();
    let node = Node::start("answers", 1.0, true);
    let first = node.wait_state("ok", Duration::from_secs(30));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(20));
    let later = node.status().expect("status");
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(later["path_delay_state"], "ok", "{later}");
    let sent = count(&later, "delay_requests_sent") - count(&first, "delay_requests_sent");
    let matched =
        count(&later, "delay_responses_matched") - count(&first, "delay_responses_matched");
    // Mean 1 s requested; with gaps drawn from 0.5–1.5 s and floored at 1 s the mean gap is
    // 1.125 s: ~18 in 20 s. Never more than one a second.
    assert!(sent as f64 <= elapsed + 1.0, "{sent} in {elapsed:.1} s");
    assert!((12..=22).contains(&sent), "{sent} in {elapsed:.1} s");
    // Every one answered (one may be in flight at either reading).
    assert!(
        matched + 1 >= sent && matched <= sent + 1,
        "{matched} of {sent}"
    );
    assert_eq!(later["path_delay"]["timeouts"], 0, "{later}");
    // Loopback: the kernel's stamps on both sides of the Sync and of our request; gm-sim stamps
    // a Delay_Req's receipt in user space after recv, which only adds. Tens of µs at most on a
    // quiet machine; 2 ms allows for a busy one.
    let delay = later["path_delay_ns"].as_i64().expect("path_delay_ns");
    eprintln!("loopback path delay {delay} ns; {sent} requests in {elapsed:.1} s");
    assert!((0..2_000_000).contains(&delay), "path delay {delay} ns");
}

#[test]
fn a_leader_that_never_answers_shows_unanswered_and_no_delay() {
    let _serial = serial();
    let node = Node::start("silent", 1.0, false);
    let s = node.wait_state("unanswered", Duration::from_secs(30));
    assert_eq!(s["path_delay_ns"], Value::Null, "{s}");
    assert_eq!(count(&s, "delay_responses_matched"), 0);
    assert!(count(&s, "delay_requests_sent") >= 3, "{s}");
    assert!(s["path_delay"]["timeouts"].as_u64().unwrap() >= 3, "{s}");
}
