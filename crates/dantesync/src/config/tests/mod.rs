//! Unit tests of the configuration, one file per topic, and the helpers they share: a file's
//! text read as if from `/etc/dantesync/config.json`, and its single error taken apart.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use dantesync_core::controller::NtpGateConfig;
use dantesync_core::wire::ptpv1::{Subdomain, Uuid};
use dantesync_core::ControllerConfig;

use super::json::{self, Node, Pos, Value};
use super::*;

mod docs;
mod errors;
mod legacy;
mod reader;
mod reading;
mod startup;

const FILE: &str = "/etc/dantesync/config.json";

fn parse_ok(text: &str) -> Config {
    match parse(text.as_bytes(), Path::new(FILE)) {
        Ok(cfg) => cfg,
        Err(errors) => panic!(
            "expected a valid configuration, got:\n{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn parse_err(text: &str) -> Vec<Diagnostic> {
    match parse(text.as_bytes(), Path::new(FILE)) {
        Ok(cfg) => panic!("expected errors, got a valid configuration: {cfg:?}"),
        Err(errors) => errors,
    }
}

/// The single error of `text`, as (line, col, key, message).
fn one_error(text: &str) -> (u32, u32, Option<String>, String, Option<String>) {
    let errors = parse_err(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors.into_iter().next().unwrap();
    let pos = e.pos().unwrap();
    (pos.line, pos.col, e.key, e.message, e.hint)
}

fn key(k: &str) -> Option<String> {
    Some(k.to_owned())
}

/// Every key, with values that differ from the defaults (`reading.rs`, `startup.rs`).
const FULL: &str = r#"{
  "_note": "every key, with values that differ from the defaults",
  "interface": "eth1",
  "ntp_server": ["10.77.8.2", "ntp.example.lan:1123"],
  "ntp": {
    "panic_threshold_s": 600,
    "allow_backward_step": false,
    "slew_max_offset_us": 5000,
    "slew_max_ppm": 50.5
  },
  "ptp": {
    "event_port": 1319,
    "general_port": 1320,
    "subdomain": "_ALT1",
    "offline_timeout_s": 20,
    "leader_allowlist": ["00:1d:c1:a1:72:3c", "00-1D-C1-0A-0B-0C"],
    "source_allowlist": ["10.77.9.0/24", "10.77.10.5"],
    "leader_preference": ["00:1d:c1:0a:0b:0c", "00:1d:c1:a1:72:3c"],
    "leader_preference_hold_s": 30,
    "delay_request_interval_s": 2.5,
    "delay_request_to": "10.77.9.184:1319"
  },
  "clock": {"kind": "simulated", "drift_ppm": -12.5, "offset_ms": 250},
  "ntp_server_mode": {"enabled": true, "port": 1123, "stratum": 4, "bind": "10.77.8.5",
                      "allow": ["10.77.0.0/16"], "deny": ["10.77.66.0/24", "10.77.8.9"],
                      "rate_limit": false},
  "query_api": {"enabled": true, "port": 31901, "bind": "::", "allow": ["10.0.0.0/8", "fd00::/8"]},
  "http_status": {"enabled": false, "port": 8899, "bind": "127.0.0.1"},
  "state_file": "/srv/dantesync/state.json",
  "log": {"level": "debug"}
}"#;
