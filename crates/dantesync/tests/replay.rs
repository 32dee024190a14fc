//! `dantesync replay` run as a user runs it, on real captures.
//!
//! The captures live in the shared directory beside the repository (CI clones it there).

use std::collections::HashMap;
use std::process::{Command, Output};

use dantesync_core::wire::ptpv1::Message;
use serde_json::Value;

const DANTE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/captures/inferno-fpga/dante_ptpv1.pcap"
);
const PTPD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/ptpv1/ptpd-1.1.0_master+slave_veth.pcapng"
);
const PTPV2_ONLY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/captures/tcpdump/ptp.pcap"
);

fn dantesync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dantesync"))
        .args(args)
        .output()
        .expect("the dantesync binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `replay --json` and returns the exit code and the report.
fn replay_json(path: &str) -> (Option<i32>, Value) {
    let out = dantesync(&["replay", "--json", path]);
    let text = stdout(&out);
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}; stderr: {}", stderr(&out)));
    (out.status.code(), report)
}

fn f64_of(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {report}"))
}

fn modes(report: &Value) -> Vec<&str> {
    report["modes"]
        .as_array()
        .expect("modes is an array")
        .iter()
        .map(|m| m.as_str().expect("mode names are strings"))
        .collect()
}

/// Sync arrival time (capture clock) against the Follow_Up's precise T1, for every pair in
/// the capture: the raw material of the rate, read without the controller.
fn pairs(path: &str) -> Vec<(i64, i128)> {
    let mut syncs = HashMap::new();
    let mut out = Vec::new();
    for d in dantesync_pcap::read_udp(path).expect("the capture reads") {
        match Message::parse(&d.payload) {
            Ok(Message::Sync(h, _)) => {
                syncs.insert(h.sequence_id, d.ts_nanos);
            }
            Ok(Message::FollowUp(_, body)) => {
                if let Some(&rx) = syncs.get(&body.associated_sequence_id) {
                    out.push((rx, body.precise_origin_timestamp.to_nanos()));
                }
            }
            _ => {}
        }
    }
    out
}

/// Least-squares slope of (T2 − T1) over T2, ppm, and the RMS residual, µs.
fn fit(pairs: &[(i64, i128)]) -> (f64, f64) {
    let (rx0, t10) = pairs[0];
    let points: Vec<(f64, f64)> = pairs
        .iter()
        .map(|&(rx, t1)| {
            let x = (rx - rx0) as f64 * 1e-9;
            let y = (i128::from(rx - rx0) - (t1 - t10)) as f64 * 1e-3;
            (x, y)
        })
        .collect();
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let rss: f64 = points
        .iter()
        .map(|p| (p.1 - my - slope * (p.0 - mx)).powi(2))
        .sum();
    (slope, (rss / n).sqrt())
}

#[test]
fn dante_capture_reports_its_leader_rate_and_lock() {
    let (code, r) = replay_json(DANTE);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["pairs"], 58);
    assert_eq!(r["packets"], 116);
    assert_eq!(r["skipped"], 0);
    assert_eq!(r["gm_uuid"], "00:1d:c1:a1:72:3c");
    assert_eq!(r["leader_uuid"], "00:1d:c1:a1:72:3c");
    assert_eq!(f64_of(&r, "sync_interval_ms"), 250.0);
    let rate = f64_of(&r, "rate_ppm");
    assert!((rate - -33.7).abs() < 0.5, "rate {rate}");
    let sigma = f64_of(&r, "rate_sigma_ppm");
    assert!(sigma > 0.1 && sigma < 0.5, "sigma {sigma}");
    let jitter = f64_of(&r, "jitter_us");
    assert!((3.0..12.0).contains(&jitter), "jitter {jitter}");
    let modes = modes(&r);
    assert_eq!(modes[..2], ["INIT", "ACQ"], "{modes:?}");
    assert!(modes.contains(&"LOCK"), "{modes:?}");
    assert_eq!(r["leader_changes"], 0);
    assert_eq!(r["not_v1"], 0);
    assert_eq!(r["malformed"], 0);
    assert_eq!(r["outliers"], 0);
    // The servo cancels the host's rate: a slow host is sped up by as much.
    let applied = f64_of(&r, "applied_ppm");
    assert!(
        (applied + rate).abs() < 0.5,
        "applied {applied}, rate {rate}"
    );
}

/// The sign convention checked on the capture itself: over the capture the host's clock
/// counts less time than the leader's, so it runs slow and the rate is negative; and the
/// replay's rate is the plain least-squares slope of the capture (no outliers there), which
/// it could not be if the controller's own corrections leaked into it.
#[test]
fn dante_rate_is_the_captures_own_slope_with_the_hosts_sign() {
    let pairs = pairs(DANTE);
    assert_eq!(pairs.len(), 58);
    let (first, last) = (pairs[0], pairs[pairs.len() - 1]);
    let host_elapsed = i128::from(last.0 - first.0);
    let leader_elapsed = last.1 - first.1;
    assert_eq!(host_elapsed - leader_elapsed, -482_180, "ns over 14.25 s");

    let (slope, rms_us) = fit(&pairs);
    assert!((slope - -33.72).abs() < 0.01, "independent fit {slope}");
    assert!((rms_us - 6.8).abs() < 0.1, "rms {rms_us}");
    let (_, r) = replay_json(DANTE);
    let rate = f64_of(&r, "rate_ppm");
    assert!((rate - slope).abs() < 0.01, "replay {rate} vs fit {slope}");
}

#[test]
fn dante_text_output_is_a_table_with_the_rate() {
    let out = dantesync(&["replay", DANTE]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\nrate       -33.72 ± 0.23 ppm (this host's clock runs slow"),
        "{text}"
    );
    assert!(
        text.contains("\nleader     00:1d:c1:a1:72:3c, Sync every 250 ms\n"),
        "{text}"
    );
    assert!(text.contains("\npairs      58 Sync/Follow_Up"), "{text}");
    assert!(text.contains("INIT → ACQ"), "{text}");
    assert!(text.contains("→ LOCK"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// ptpd 1.1.0 master and slave on a veth pair of one machine: both ends and the capture read
/// the same kernel clock, so the rate between them is zero but for timestamp noise.
#[test]
fn ptpd_fixture_replays_against_the_ptpd_master() {
    let (code, r) = replay_json(PTPD);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["pairs"], 35);
    assert_eq!(r["gm_uuid"], "7a:03:56:48:88:cf");
    assert_eq!(f64_of(&r, "sync_interval_ms"), 1000.0);
    let rate = f64_of(&r, "rate_ppm");
    assert!(rate.abs() < 0.2, "rate {rate}");
    let jitter = f64_of(&r, "jitter_us");
    assert!(jitter > 0.3 && jitter < 3.0, "jitter {jitter}");
    // The slave's Delay_Req and the master's Delay_Resp are not the rate servo's business.
    assert_eq!(r["ignored_other"], 4);
    assert_eq!(r["not_leader"], 0);
    // 1 Sync/s: the first fits have few degrees of freedom, and their noise is taken at the
    // Student-t quantile, so the samples back LOCK (5 ppm) before they back NANO (0.5 ppm).
    assert_eq!(modes(&r), ["INIT", "ACQ", "LOCK", "NANO"]);
}

#[test]
fn ptpv2_capture_has_no_ptpv1_samples_and_fails() {
    let out = dantesync(&["replay", "--json", PTPV2_ONLY]);
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_str(&stdout(&out)).expect("the report is still printed");
    assert_eq!(r["pairs"], 0);
    assert_eq!(r["not_v1"], 5);
    assert_eq!(r["packets"], 5);
    assert!(r["rate_ppm"].is_null());
    assert!(r["gm_uuid"].is_null());
    let err = stderr(&out);
    assert!(err.contains(PTPV2_ONLY), "{err}");
    assert!(err.contains("no PTPv1 samples"), "{err}");
    assert!(err.contains("5 not PTPv1"), "{err}");
}

#[test]
fn missing_file_fails_naming_it() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-capture.pcap");
    let out = dantesync(&["replay", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains(path), "{err}");
    assert!(err.contains("cannot read capture file"), "{err}");
}

#[test]
fn a_file_that_is_not_a_capture_fails_naming_it() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = dantesync(&["replay", "--json", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains(path), "{err}");
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
}

#[test]
fn without_a_subcommand_the_daemon_flags_parse_and_a_missing_config_is_named() {
    let missing = "/nonexistent/dantesync-test/config.json";
    let out = dantesync(&[
        "--config",
        missing,
        "--interface",
        "eth0",
        "--ntp-server",
        "pool.ntp.org",
        "--skip-ntp",
    ]);
    // The flags parse (clap would exit 2); the daemon stops on the missing file, naming it.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(missing), "{}", stderr(&out));

    let help = stdout(&dantesync(&["--help"]));
    for flag in [
        "--config <PATH>",
        "--interface <NAME>",
        "--ntp-server <HOST>",
        "--skip-ntp",
        "--service",
        "replay",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn daemon_flags_do_not_mix_with_replay() {
    let out = dantesync(&["--skip-ntp", "replay", DANTE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert!(
        !stderr(&out).contains("daemon is not built"),
        "{}",
        stderr(&out)
    );
}
