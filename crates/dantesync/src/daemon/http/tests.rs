//! The JSON document and the metrics page built from a known status.

use dantesync_core::controller::{LeaderStatus, NtpStatus, RxTimestamping};
use dantesync_core::ntp_server::Counters;
use dantesync_core::path_delay::{PathDelayState, PathDelayStatus};
use dantesync_core::source::{LeaderId, LeaderQuality};
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::{Controller, ControllerConfig, LocalTime, Mode};
use serde_json::json;

use super::{metrics, since_param, status_json, NodeInfo, View};

#[path = "../../../tests/support/prom_text.rs"]
mod prom_text;

const NOW_NS: i64 = 1_700_000_000_123_456_789;

/// A locked node following a leader, with one NTP check behind it.
pub(super) fn view() -> View {
    let mut s = Controller::new(
        ControllerConfig::default(),
        LocalTime::from_nanos(NOW_NS - 60_000_000_000),
        0.0,
    )
    .status();
    s.mode = Mode::Lock;
    s.drift_ppm = Some(0.125);
    s.drift_sigma_ppm = Some(0.25);
    s.error_bound_ppm = Some(0.875);
    s.natural_rate_ppm = Some(-48.5);
    s.applied_ppm = 48.25;
    s.slew_ppm = 0.5;
    s.noise_us = Some(20.0);
    s.window_samples = 240;
    s.window_s = 60.0;
    s.ptp_offset_ns = Some(123_456_789);
    s.last_ptp_sample = Some(LocalTime::from_nanos(NOW_NS - 250_000_000));
    s.last_ptp_packet = Some(LocalTime::from_nanos(NOW_NS - 125_000_000));
    s.ptp_packets_per_s = Some(8.0);
    s.leader = Some(LeaderStatus {
        id: LeaderId {
            sender: Uuid([0, 0x1d, 0xc1, 1, 2, 3]),
            sender_port: 1,
            grandmaster: Uuid([0, 0x1d, 0xc1, 0xa, 0xb, 0xc]),
        },
        quality: Some(LeaderQuality {
            preferred: true,
            stratum: 121,
            identifier: *b"DFLT",
            variance: 28768,
        }),
        sync_interval_log2: Some(-2),
    });
    s.ntp = Some(NtpStatus {
        offset_ns: -250_500,
        delay_ns: 400_000,
        at: LocalTime::from_nanos(NOW_NS - 5_000_000_000),
    });
    s.ntp_interval_s = 30.0;
    s.path_delay = PathDelayStatus {
        state: PathDelayState::Ok,
        delay_ns: Some(187_500),
        requests_sent: 12,
        responses_matched: 11,
        timeouts: 1,
        ..PathDelayStatus::default()
    };
    s.accumulated_phase_us = 12.5;
    s.ntp_corrections = 3;
    s.time_synchronised = true;
    s.ptp.received = 1000;
    s.ptp.samples = 480;
    s.ptp.not_leader = 7;
    s.ptp.leader_changes = 2;
    s.estimator.outliers = 4;
    let mut ntp_server = Counters::default();
    ntp_server.received = 11;
    ntp_server.answered = 9;
    ntp_server.kiss_of_death = 1;
    ntp_server.rate_limited = 2;
    s.host.uptime_s = 3600.5;
    s.host.ptp_timestamping = RxTimestamping::Kernel;
    s.host.query.answered_compact = 6;
    s.host.query.not_allowed = 8;
    View {
        status: s,
        now: LocalTime::from_nanos(NOW_NS),
        node: NodeInfo {
            hostname: "node-a".into(),
            clock: "simulated".into(),
            interface: None,
            ntp_upstream: Some("127.0.0.1:123".into()),
            clock_adjustment: None,
        },
        ntp_server: Some(ntp_server),
        ptp_dropped_source: 5,
        kernel_synchronised: Some(true),
        clock_interference: 3,
        leap_pending: dantesync_clock::LeapSecond::Insert,
    }
}

/// The field names of a `#[derive(Debug)]` struct's output, outermost level only.
pub(super) fn debug_field_names(debug: &str) -> Vec<String> {
    let (mut names, mut name) = (Vec::new(), String::new());
    let (mut depth, mut in_text, mut escaped, mut want_name) = (0u32, false, false, false);
    for c in debug.chars() {
        if in_text {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_text = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_text = true,
            '{' | '[' | '(' => {
                depth += 1;
                if depth == 1 && c == '{' {
                    (want_name, name) = (true, String::new());
                }
            }
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 1 => (want_name, name) = (true, String::new()),
            ':' if depth == 1 && want_name => {
                names.push(name.trim().to_owned());
                want_name = false;
            }
            _ if depth == 1 && want_name => name.push(c),
            _ => {}
        }
    }
    names
}

#[test]
fn the_document_keeps_the_earlier_names_types_and_meanings() {
    let doc = status_json::document(&view());
    assert_eq!(doc["mode"], json!("LOCK"));
    assert_eq!(doc["is_locked"], json!(true));
    assert_eq!(doc["settled"], json!(true));
    // The earlier tool's drift_ppm was the applied frequency; its smoothed_rate_ppm the drift.
    assert_eq!(doc["drift_ppm"], json!(48.25));
    assert_eq!(doc["smoothed_rate_ppm"], json!(0.125));
    assert_eq!(doc["offset_ns"], json!(123_456_789));
    assert_eq!(doc["gm_uuid"], json!([0, 0x1d, 0xc1, 0xa, 0xb, 0xc]));
    assert_eq!(doc["gm_source_ip"], json!(null));
    assert_eq!(doc["updated_ts"], json!(NOW_NS / 1_000_000_000));
    assert_eq!(doc["ntp_offset_us"], json!(-250));
    assert_eq!(doc["ntp_failed"], json!(false));
    assert_eq!(doc["accumulated_phase_us"], json!(12.5));
}

#[test]
fn the_document_carries_every_status_field_in_its_own_names() {
    let doc = status_json::document(&view());
    let s = &doc["status"];
    assert_eq!(s["mode"], json!("LOCK"));
    assert_eq!(s["mode_code"], json!(3));
    assert_eq!(s["drift_ppm"], json!(0.125));
    assert_eq!(s["drift_sigma_ppm"], json!(0.25));
    assert_eq!(s["error_bound_ppm"], json!(0.875));
    assert_eq!(s["natural_rate_ppm"], json!(-48.5));
    assert_eq!(s["applied_ppm"], json!(48.25));
    assert_eq!(s["slew_ppm"], json!(0.5));
    assert_eq!(s["window_samples"], json!(240));
    assert_eq!(s["last_ptp_sample"]["age_s"], json!(0.25));
    assert_eq!(s["leader"]["grandmaster"], json!("00:1d:c1:0a:0b:0c"));
    assert_eq!(s["leader"]["quality"]["identifier"], json!("DFLT"));
    assert_eq!(s["leader"]["quality"]["stratum"], json!(121));
    assert_eq!(s["ntp"]["offset_ns"], json!(-250_500));
    assert_eq!(s["ntp"]["delay_ns"], json!(400_000));
    assert_eq!(s["ntp"]["at"]["age_s"], json!(5.0));
    assert_eq!(s["last_correction"], json!(null));
    assert_eq!(s["ptp"]["leader_changes"], json!(2));
    assert_eq!(s["estimator"]["outliers"], json!(4));
    assert_eq!(s["path_delay_ns"], json!(187_500));
    assert_eq!(s["path_delay_state"], json!("ok"));
    assert_eq!(s["delay_requests_sent"], json!(12));
    assert_eq!(s["delay_responses_matched"], json!(11));
    assert_eq!(s["path_delay"]["timeouts"], json!(1));
    assert_eq!(s["sync_mode"], json!("classic"));
    assert_eq!(s["fleet_state"], json!("off"));
    assert_eq!(s["phase_error_ns"], json!(null));
    assert_eq!(s["fleet"]["steps"], json!(0));
    assert_eq!(s["fleet"]["ramp_detections"], json!(0));
    // One key per field of Status plus the derived mode_code and locked, the four
    // path-delay fields the issue names at the top level, fleet mode's five (state, phase
    // error, D, epoch, D's age) and the fleet authority's three (the field table's tests
    // check that each field of Status has its definition).
    let fields = debug_field_names(&format!("{:?}", view().status)).len();
    assert_eq!(s.as_object().unwrap().len(), fields + 14);
    // Not the fleet's authority: its fields are null.
    for key in [
        "fleet_authority",
        "fleet_d_source",
        "fleet_steps_last_24h",
        "fleet_next_correction",
    ] {
        assert_eq!(s[key], json!(null), "{key}");
    }
    assert_eq!(s["ntp_sources"], json!([]));
    assert_eq!(s["host"]["query"]["not_padded"], json!(0));
    assert_eq!(s["host"]["query"]["over_global_cap"], json!(0));
    assert_eq!(doc["node"]["hostname"], json!("node-a"));
    assert_eq!(doc["counters"]["ntp_server"]["answered"], json!(9));
    assert_eq!(
        doc["counters"]["ntp_server"]["dropped"]["rate_limited"],
        json!(0)
    );
}

#[test]
fn ntp_only_and_init_keep_the_earlier_mode_spellings() {
    let mut v = view();
    v.status.mode = Mode::NtpOnly;
    let doc = status_json::document(&v);
    assert_eq!(
        (doc["mode"].clone(), doc["status"]["mode"].clone()),
        (json!("NTP-only"), json!("NTP-ONLY"))
    );
    assert_eq!(doc["is_locked"], json!(false));
    v.status.mode = Mode::Init;
    let doc = status_json::document(&v);
    assert_eq!(
        (doc["mode"].clone(), doc["status"]["mode"].clone()),
        (json!("ACQ"), json!("INIT"))
    );
}

#[test]
fn metrics_parse_and_carry_the_status_values() {
    let text = metrics::render(&view());
    let e = prom_text::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    for (name, (kind, help)) in &e.families {
        assert!(name.starts_with("dantesync_"), "{name}");
        assert!(!help.is_empty(), "{name} has no HELP");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
    }
    let close = |name: &str, want: f64| {
        let got = e
            .value(name)
            .unwrap_or_else(|| panic!("{name} missing\n{text}"));
        assert!(
            (got - want).abs() <= want.abs() * 1e-12,
            "{name}: {got} != {want}"
        );
    };
    close("dantesync_mode_code", 3.0);
    close("dantesync_locked", 1.0);
    close("dantesync_drift_ratio", 0.125e-6);
    close("dantesync_drift_uncertainty_ratio", 0.25e-6);
    close("dantesync_frequency_adjustment_ratio", 48.25e-6);
    close("dantesync_slew_ratio", 0.5e-6);
    close("dantesync_natural_rate_ratio", -48.5e-6);
    close("dantesync_timestamp_noise_seconds", 20e-6);
    close("dantesync_ntp_offset_seconds", -250.5e-6);
    close("dantesync_ntp_delay_seconds", 400e-6);
    close("dantesync_ntp_last_check_age_seconds", 5.0);
    close("dantesync_accumulated_phase_seconds", 12.5e-6);
    close("dantesync_ntp_check_interval_seconds", 30.0);
    close("dantesync_ntp_corrections_total", 3.0);
    close("dantesync_leader_changes_total", 2.0);
    close("dantesync_ptp_packets_received_total", 1000.0);
    close("dantesync_ptp_samples_total", 480.0);
    close("dantesync_uptime_seconds", 3600.5);
    close("dantesync_leader_stratum", 121.0);
    close("dantesync_ntp_server_requests_received_total", 11.0);
    close("dantesync_kernel_synchronised", 1.0);
    close("dantesync_clock_interference_total", 3.0);
    close("dantesync_leap_pending", 1.0);
    close("dantesync_ntp_server_responses_total", 9.0);
    close("dantesync_ntp_server_kiss_of_death_total", 1.0);
    close("dantesync_ntp_server_rate_limited_total", 2.0);
    let modes = e.all("dantesync_mode");
    assert_eq!(modes.len(), 6);
    let on: Vec<&str> = modes
        .iter()
        .filter(|(_, v)| *v == 1.0)
        .map(|(l, _)| l[0].1.as_str())
        .collect();
    assert_eq!(on, ["LOCK"]);
    assert_eq!(
        e.labelled(
            "dantesync_ptp_packets_dropped_total",
            &[("reason", "not_leader")]
        ),
        Some(7.0)
    );
    assert_eq!(
        e.labelled(
            "dantesync_ptp_packets_dropped_total",
            &[("reason", "source_not_allowed")]
        ),
        Some(5.0)
    );
    assert_eq!(
        e.labelled(
            "dantesync_leader_info",
            &[
                ("grandmaster", "00:1d:c1:0a:0b:0c"),
                ("sender", "00:1d:c1:01:02:03"),
                ("sender_port", "1")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.labelled("dantesync_query_requests_total", &[("outcome", "dropped")]),
        Some(8.0)
    );
    assert_eq!(
        e.all("dantesync_ntp_server_requests_dropped_total").len(),
        8
    );
}

#[test]
fn unknown_values_and_a_disabled_ntp_server_are_left_out() {
    let mut v = view();
    v.status.drift_ppm = None;
    v.status.ntp = None;
    v.status.leader = None;
    v.ntp_server = None;
    v.kernel_synchronised = None;
    let text = metrics::render(&v);
    let e = prom_text::parse(&text).unwrap();
    for gone in [
        "dantesync_kernel_synchronised",
        "dantesync_drift_ratio",
        "dantesync_ntp_offset_seconds",
        "dantesync_ntp_delay_seconds",
        "dantesync_leader_stratum",
        "dantesync_ntp_server_responses_total",
    ] {
        assert!(!e.families.contains_key(gone), "{gone} shown:\n{text}");
    }
    assert_eq!(
        e.value("dantesync_frequency_adjustment_ratio"),
        Some(48.25e-6)
    );
}

#[test]
fn label_values_are_escaped() {
    let mut v = view();
    if let Some(l) = v.status.leader.as_mut() {
        if let Some(q) = l.quality.as_mut() {
            q.identifier = *b"a\"\\b";
        }
    }
    let e = prom_text::parse(&metrics::render(&v)).unwrap();
    assert_eq!(
        e.labelled(
            "dantesync_leader_clock_info",
            &[("identifier", "a\"\\b"), ("preferred", "true")]
        ),
        Some(1.0)
    );
}

#[test]
fn the_history_query_takes_since_and_ignores_anything_else() {
    assert_eq!(since_param("since=1700000000123"), Some(1_700_000_000_123));
    assert_eq!(since_param("x=1&since=-5"), Some(-5));
    for junk in [
        "",
        "since=",
        "since=abc",
        "since=1e3",
        "since",
        "&&&",
        "since=99999999999999999999",
    ] {
        assert_eq!(since_param(junk), None, "{junk:?}");
    }
}

#[test]
fn ptp_traffic_shows_its_rate_until_it_is_ten_seconds_old() {
    let mut v = view();
    let doc = status_json::document(&v);
    assert_eq!(doc["status"]["ptp_packets_per_s"], json!(8.0));
    assert_eq!(doc["status"]["last_ptp_packet"]["age_s"], json!(0.125));
    // Nothing for 11 s: the controller heard of no time since, the reader says 0.
    v.status.last_ptp_packet = Some(LocalTime::from_nanos(NOW_NS - 11_000_000_000));
    let doc = status_json::document(&v);
    assert_eq!(doc["status"]["ptp_packets_per_s"], json!(0.0));
    let e = prom_text::parse(&metrics::render(&v)).unwrap();
    assert_eq!(e.value("dantesync_ptp_packets_per_second"), Some(0.0));
    assert_eq!(e.value("dantesync_ptp_last_packet_age_seconds"), Some(11.0));
}

#[test]
fn the_fleet_authority_fields_show_d_its_source_and_the_next_correction() {
    use dantesync_core::fleet::{
        AuthorityStatus, DSource, FleetTimescale, PendingCorrection, UtcPolicy,
    };
    let mut v = view();
    let pending = PendingCorrection {
        at_leader_ns: 930_000_000_000,
        delta_ns: -200_000_000,
        epoch: 4,
    };
    v.status.fleet_authority = Some(AuthorityStatus {
        policy: UtcPolicy::Scheduled,
        timescale: Some(FleetTimescale {
            leader: LeaderId {
                sender: Uuid([0, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
                sender_port: 1,
                grandmaster: Uuid([0, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
            },
            epoch: 3,
            d_ns: 1_785_427_191_000_000_000,
            at_leader_ns: 900_000_000_000,
            rate_ppb: 0,
            pending: Some(pending),
        }),
        source: Some(DSource::Persisted),
        age_s: Some(12.5),
        error_ns: Some(-230_000_000),
        measured_rate_ppb: Some(-3_100),
        samples: 17,
        steps_last_24h: 3,
        next_correction: Some(pending),
        too_often: true,
        next_scheduled_utc_ns: Some(1_785_466_800_000_000_000),
    });
    let doc = status_json::document(&v);
    let s = &doc["status"];
    assert_eq!(s["fleet_d_source"], json!("persisted"));
    assert_eq!(s["fleet_steps_last_24h"], json!(3));
    assert_eq!(
        s["fleet_next_correction"],
        json!({"at_leader_ns": 930_000_000_000_i64, "delta_ns": -200_000_000, "epoch": 4})
    );
    let a = &s["fleet_authority"];
    assert_eq!(a["policy"], json!("scheduled"));
    assert_eq!(a["leader"], json!("00:1d:c1:0a:0b:0c"));
    assert_eq!(a["epoch"], json!(3));
    assert_eq!(a["d_ns"], json!(1_785_427_191_000_000_000_i64));
    assert_eq!(a["age_s"], json!(12.5));
    assert_eq!(a["error_ns"], json!(-230_000_000));
    assert_eq!(a["measured_rate_ppb"], json!(-3_100));
    assert_eq!(a["too_often"], json!(true));
    assert_eq!(
        a["next_scheduled_utc_ns"],
        json!(1_785_466_800_000_000_000_i64)
    );
}
