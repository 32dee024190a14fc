//! The earlier DanteSync's files, and the warnings about what the NTP server serves.

use super::*;

/// What the earlier DanteSync wrote on first start, with the `system` keys its later
/// versions added (servo, filters, ntp_stale_secs, gm_allowlist, phase_slew, dscp,
/// clock_alarm_interval_s, clock_discipline, date_offset).
const EARLIER: &str = r#"{
  "_ntp_server_examples": "sk.pool.ntp.org, europe.pool.ntp.org, time.google.com, time.cloudflare.com",
  "ntp_server": "10.77.8.2",
  "ntp_server_mode": {
    "enabled": true,
    "port": 123,
    "stratum": 3,
    "max_step_us": 100000
  },
  "http_status": {
    "enabled": true,
    "port": 8898
  },
  "system": {
    "servo": {"kp": 0.0005, "ki": 0.00005, "max_freq_adj_ppm": 500.0, "max_integral_ppm": 100.0},
    "filters": {
      "sample_window_size": 4,
      "min_delta_ns": 1000000,
      "calibration_samples": 0,
      "warmup_secs": 3.0
    },
    "ntp_stale_secs": 180,
    "gm_allowlist": ["10.77.9.0/24"],
    "_phase_slew": "set enabled:true to slew sub-50ms UTC errors",
    "phase_slew": {"enabled": true},
    "dscp": {"enabled": true, "dscp": 46},
    "clock_alarm_interval_s": 60,
    "clock_discipline": "ptp_phase_lock",
    "date_offset": {"step_bound_ms": 50, "step_lead_ms": 5000}
  }
}"#;

#[test]
fn the_earlier_dantesync_s_file_is_accepted_and_mapped() {
    let cfg = parse_ok(EARLIER);
    assert_eq!(
        cfg.ntp_servers,
        vec![ServerAddr {
            host: "10.77.8.2".into(),
            port: 123
        }]
    );
    assert!(!cfg.ptp_only());
    assert_eq!(
        cfg.ntp_server_mode,
        NtpServerMode {
            enabled: true,
            port: 123,
            stratum: Some(3),
            local_stratum: None,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            allow: vec![],
            deny: vec![],
            rate_limit: true,
        }
    );
    assert_eq!(
        (cfg.http_status.enabled, cfg.http_status.port),
        (true, 8898)
    );
    assert_eq!(cfg.ptp.source_allowlist, vec![Cidr::v4(10, 77, 9, 0, 24)]);
}

#[test]
fn each_ignored_earlier_key_gets_its_own_warning() {
    let cfg = parse_ok(EARLIER);
    let warned: Vec<(u32, &str)> = cfg
        .warnings
        .iter()
        .map(|w| (w.line().unwrap(), w.key.as_deref().unwrap()))
        .collect();
    assert_eq!(
        warned,
        vec![
            (8, "ntp_server_mode.max_step_us"),
            (15, "system.servo.kp"),
            (15, "system.servo.ki"),
            (15, "system.servo.max_freq_adj_ppm"),
            (15, "system.servo.max_integral_ppm"),
            (17, "system.filters.sample_window_size"),
            (18, "system.filters.min_delta_ns"),
            (19, "system.filters.calibration_samples"),
            (20, "system.filters.warmup_secs"),
            (22, "system.ntp_stale_secs"),
            (23, "system.gm_allowlist"),
            (25, "system.phase_slew.enabled"),
            (26, "system.dscp.enabled"),
            (26, "system.dscp.dscp"),
            (27, "system.clock_alarm_interval_s"),
            (28, "system.clock_discipline"),
            (29, "system.date_offset.step_bound_ms"),
            (29, "system.date_offset.step_lead_ms"),
        ]
    );
    let filters = cfg.warnings.iter().find(|w| w.line() == Some(17)).unwrap();
    assert_eq!(
        filters.to_string(),
        "/etc/dantesync/config.json:17:7: system.filters.sample_window_size: ignored: the \
         earlier servo's filters no longer apply: the rate estimator fits every sample and \
         rejects outliers itself\n    fix: remove it"
    );
}

#[test]
fn earlier_keys_keep_their_strictness_where_they_still_act() {
    let (_, _, k, _, hint) = one_error(r#"{"system": {"gm_alowlist": []}}"#);
    assert_eq!(
        (k, hint.as_deref()),
        (
            key("system.gm_alowlist"),
            Some("did you mean `system.gm_allowlist`?")
        )
    );
    let (_, _, k, msg, _) =
        one_error(r#"{"ntp_server": "a.lan", "system": {"gm_allowlist": ["video-clock.lan"]}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("system.gm_allowlist[0]"),
            "\"video-clock.lan\" is not an IP address"
        )
    );
    let (_, _, k, msg, _) = one_error(
        "{\"ntp_server\": \"a.lan\", \"ptp\": {\"source_allowlist\": []},\n \"system\": {\"gm_allowlist\": []}}",
    );
    assert_eq!(
        (k, msg.as_str()),
        (
            key("system.gm_allowlist"),
            "set together with ptp.source_allowlist (line 1), which replaces it"
        )
    );
    // Anything under an ignored section is accepted: it is ignored as a whole.
    let cfg = parse_ok(
        r#"{"ntp_server": "a.lan", "system": {"filters": {"new_knob": "x"}, "servo": 3}}"#,
    );
    let keys: Vec<_> = cfg
        .warnings
        .iter()
        .map(|w| w.key.clone().unwrap())
        .collect();
    assert_eq!(keys, vec!["system.filters.new_knob", "system.servo"]);
}

#[test]
fn an_earlier_file_without_ntp_server_is_told_it_now_runs_ptp_only() {
    let cfg = parse_ok("{\n  \"system\": {\"gm_allowlist\": [\"10.77.9.0/24\"]}\n}");
    assert!(cfg.ptp_only());
    let w = cfg
        .warnings
        .iter()
        .find(|w| w.key.as_deref() == Some("ntp_server"))
        .unwrap();
    assert_eq!(w.line(), Some(2));
    assert!(w.message.contains("10.77.8.2"), "{}", w.message);
}

#[test]
fn serving_ntp_without_an_upstream_is_warned() {
    let cfg = parse_ok(r#"{"ntp_server_mode": {"enabled": true}}"#);
    let keys: Vec<_> = cfg
        .warnings
        .iter()
        .map(|w| w.key.clone().unwrap())
        .collect();
    assert_eq!(keys, vec!["ntp_server_mode.enabled"]);
}

#[test]
fn local_stratum_serves_a_master_without_upstream() {
    let cfg = parse_ok(r#"{"ntp_server_mode": {"enabled": true, "local_stratum": 8}}"#);
    assert_eq!(cfg.ntp_server_mode.local_stratum, Some(8));
    assert_eq!(cfg.served_local_stratum(), Some(8));
    // Saying it is meant silences the "no ntp_server" warning.
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let cfg = parse_ok(r#"{"ntp_server_mode": {"local_stratum": null}}"#);
    assert_eq!(cfg.ntp_server_mode.local_stratum, None);
    // With an upstream it is ignored, and the file says so.
    let cfg = parse_ok(
        r#"{"ntp_server": "10.77.8.2", "ntp_server_mode": {"enabled": true, "local_stratum": 8}}"#,
    );
    assert_eq!(cfg.served_local_stratum(), None);
    let keys: Vec<_> = cfg
        .warnings
        .iter()
        .map(|w| w.key.clone().unwrap())
        .collect();
    assert_eq!(keys, vec!["ntp_server_mode.local_stratum"]);
    for bad in ["0", "16", "\"8\"", "8.5"] {
        let text = format!(r#"{{"ntp_server_mode": {{"local_stratum": {bad}}}}}"#);
        let (_, _, k, _, _) = one_error(&text);
        assert_eq!(k, key("ntp_server_mode.local_stratum"), "{bad}");
    }
}
