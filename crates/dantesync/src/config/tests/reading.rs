//! What a valid file becomes: the defaults, every key read into the configuration, the
//! engine's settings, and the clock section.

use super::*;

#[test]
fn an_empty_object_is_the_defaults() {
    let cfg = parse_ok("{}");
    assert_eq!(
        cfg,
        Config {
            origin: Origin::File(PathBuf::from(FILE)),
            ..Config::default()
        }
    );
    assert!(cfg.ptp_only());
    assert!(cfg.warnings.is_empty());
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let d = Config::default();
    assert_eq!(d.interface, None);
    assert!(d.ntp_servers.is_empty());
    assert_eq!(d.ntp.panic_threshold_s, Some(1000.0));
    assert!(d.ntp.allow_backward_step);
    assert_eq!(d.ntp.slew_max_offset_us, 2000.0);
    assert_eq!(d.ntp.slew_max_ppm, 20.0);
    assert_eq!((d.ptp.event_port, d.ptp.general_port), (319, 320));
    assert_eq!(d.ptp.subdomain, "_DFLT");
    assert_eq!(d.ptp.offline_timeout_s, 10.0);
    assert!(d.ptp.leader_allowlist.is_empty() && d.ptp.source_allowlist.is_empty());
    assert_eq!(d.clock, ClockKind::System);
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        d.ntp_server_mode,
        NtpServerMode {
            enabled: false,
            port: 123,
            stratum: None,
            local_stratum: None,
            bind: any,
            allow: vec![],
            deny: vec![],
            rate_limit: true,
        }
    );
    assert_eq!(
        (d.query_api.enabled, d.query_api.port, d.query_api.bind),
        (true, 31900, any)
    );
    assert_eq!(
        d.http_status,
        HttpStatus {
            enabled: true,
            port: 8898,
            bind: any
        }
    );
    assert_eq!(d.log.level, LogLevel::Info);
    if cfg!(windows) {
        assert_eq!(
            d.state_file,
            PathBuf::from(r"C:\ProgramData\DanteSync\state.json")
        );
        assert_eq!(
            default_path(),
            PathBuf::from(r"C:\ProgramData\DanteSync\config.json")
        );
    } else {
        assert_eq!(d.state_file, PathBuf::from("/var/lib/dantesync/state.json"));
        assert_eq!(default_path(), PathBuf::from("/etc/dantesync/config.json"));
    }
}

#[test]
fn the_query_api_answers_the_lan_only_by_default() {
    let q = QueryApi::default();
    for lan in [
        "127.0.0.1",
        "10.77.8.2",
        "172.31.255.1",
        "192.168.1.20",
        "169.254.3.4",
        "::1",
        "fe80::1",
        "fd00::7",
        "::ffff:192.168.0.9",
    ] {
        assert!(q.allows(lan.parse().unwrap()), "{lan}");
    }
    for wan in [
        "8.8.8.8",
        "172.32.0.1",
        "100.64.0.1",
        "2001:db8::1",
        "::ffff:1.1.1.1",
    ] {
        assert!(!q.allows(wan.parse().unwrap()), "{wan}");
    }
}

#[test]
fn every_key_is_read_into_the_configuration() {
    let cfg = parse_ok(FULL);
    assert_eq!(cfg.interface.as_deref(), Some("eth1"));
    assert_eq!(
        cfg.ntp_servers,
        vec![
            ServerAddr {
                host: "10.77.8.2".into(),
                port: 123
            },
            ServerAddr {
                host: "ntp.example.lan".into(),
                port: 1123
            },
        ]
    );
    assert_eq!(
        cfg.ntp,
        NtpSettings {
            panic_threshold_s: Some(600.0),
            allow_backward_step: false,
            slew_max_offset_us: 5000.0,
            slew_max_ppm: 50.5,
            lan_servers: None,
        }
    );
    assert_eq!(
        cfg.ptp,
        PtpSettings {
            event_port: 1319,
            general_port: 1320,
            subdomain: "_ALT1".into(),
            offline_timeout_s: 20.0,
            leader_allowlist: vec![
                Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
                Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
            ],
            source_allowlist: vec![Cidr::v4(10, 77, 9, 0, 24), Cidr::v4(10, 77, 10, 5, 32)],
            leader_preference: vec![
                Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
                Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
            ],
            leader_preference_hold_s: 30.0,
            delay_request_interval_s: 2.5,
            delay_request_to: Some("10.77.9.184:1319".parse().unwrap()),
        }
    );
    assert_eq!(
        cfg.clock,
        ClockKind::Simulated {
            drift_ppm: -12.5,
            offset_ms: 250.0
        }
    );
    assert_eq!(
        cfg.ntp_server_mode,
        NtpServerMode {
            enabled: true,
            port: 1123,
            stratum: Some(4),
            local_stratum: None,
            bind: "10.77.8.5".parse().unwrap(),
            allow: vec![Cidr::v4(10, 77, 0, 0, 16)],
            deny: vec![Cidr::v4(10, 77, 66, 0, 24), Cidr::v4(10, 77, 8, 9, 32)],
            rate_limit: false,
        }
    );
    assert_eq!(cfg.query_api.port, 31901);
    assert_eq!(cfg.query_api.bind, "::".parse::<IpAddr>().unwrap());
    assert_eq!(
        cfg.query_api.allow,
        vec![
            Cidr::v4(10, 0, 0, 0, 8),
            values::parse_cidr("fd00::/8").unwrap()
        ]
    );
    assert!(!cfg.query_api.allows("192.168.1.1".parse().unwrap()));
    assert_eq!(
        cfg.http_status,
        HttpStatus {
            enabled: false,
            port: 8899,
            bind: "127.0.0.1".parse().unwrap()
        }
    );
    assert_eq!(cfg.state_file, PathBuf::from("/srv/dantesync/state.json"));
    assert_eq!(cfg.log.level, LogLevel::Debug);
    // The one warning: rate limiting switched off.
    let keys: Vec<_> = cfg.warnings.iter().map(|w| w.key.as_deref()).collect();
    assert_eq!(
        keys,
        [Some("ntp_server_mode.rate_limit")],
        "{:?}",
        cfg.warnings
    );
    assert!(cfg.ptp.source_allowed("10.77.9.184".parse().unwrap()));
    assert!(cfg.ptp.source_allowed("10.77.10.5".parse().unwrap()));
    assert!(!cfg.ptp.source_allowed("10.77.7.109".parse().unwrap()));
}

#[test]
fn the_engine_gets_the_file_s_ptp_and_ntp_settings() {
    let cfg = parse_ok(FULL);
    let engine = cfg.controller_config();
    let defaults = ControllerConfig::default();
    assert_eq!(engine.ptp.subdomain, Subdomain::ALT1);
    assert_eq!(engine.ptp.offline_timeout_s, 20.0);
    assert_eq!(engine.ptp.leader_allowlist, cfg.ptp.leader_allowlist);
    assert_eq!(engine.ptp.leader_expiry_s, defaults.ptp.leader_expiry_s);
    assert_eq!(
        engine.ptp.leader_preference,
        [
            Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
            Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c])
        ]
    );
    assert_eq!(engine.ptp.leader_preference_hold_s, 30.0);
    assert_eq!(defaults.ptp.leader_preference_hold_s, 60.0);
    assert_eq!(
        engine.ntp,
        Some(NtpGateConfig {
            panic_threshold_s: Some(600.0),
            allow_backward_step: false,
            slew_max_offset_us: 5000.0,
            slew_max_ppm: 50.5,
            ..NtpGateConfig::default()
        })
    );
    assert_eq!(engine.estimator, defaults.estimator);
    assert_eq!(engine.policy, defaults.policy);
    assert_eq!(engine.modes, defaults.modes);
    assert_eq!(engine.max_frequency_ppm, 500.0);

    // No server: the engine runs without the NTP gate.
    assert_eq!(parse_ok("{}").controller_config().ntp, None);
    // The defaults map onto the engine's own defaults exactly.
    let with_server = parse_ok(r#"{"ntp_server": "10.77.8.2"}"#);
    // ...except path delay, which the core leaves off (a host must be able to send) and the
    // daemon measures by default, every 4 s.
    let engine = with_server.controller_config();
    assert_eq!(engine.path_delay.as_ref().map(|p| p.interval_s), Some(4.0));
    assert_eq!(
        ControllerConfig {
            path_delay: None,
            ..engine
        },
        defaults
    );
    let off = parse_ok(r#"{"ptp": {"delay_request_interval_s": 0}}"#);
    assert_eq!(off.controller_config().path_delay, None);
    let never = parse_ok(r#"{"ntp_server": "a.lan", "ntp": {"panic_threshold_s": null}}"#);
    assert_eq!(
        never.controller_config().ntp.unwrap().panic_threshold_s,
        None
    );
}

#[test]
fn the_simulated_clock_snippet_parses() {
    let cfg = parse_ok(r#"{"clock": {"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}}"#);
    assert_eq!(
        cfg.clock,
        ClockKind::Simulated {
            drift_ppm: 50.0,
            offset_ms: 0.0
        }
    );
    let cfg = parse_ok(r#"{"clock": {"kind": "simulated"}}"#);
    assert_eq!(
        cfg.clock,
        ClockKind::Simulated {
            drift_ppm: 50.0,
            offset_ms: 0.0
        }
    );
    assert_eq!(
        parse_ok(r#"{"clock": {"kind": "system"}}"#).clock,
        ClockKind::System
    );
    assert_eq!(parse_ok(r#"{"clock": {}}"#).clock, ClockKind::System);
}

#[test]
fn the_clock_s_rules() {
    let (line, col, k, msg, hint) = one_error("{\"clock\": {\"kind\": \"simulted\"}}");
    assert_eq!(
        (line, col, k, msg),
        (
            1,
            20,
            key("clock.kind"),
            "expected \"system\" or \"simulated\", found \"simulted\"".into()
        )
    );
    assert_eq!(hint.as_deref(), Some("did you mean \"simulated\"?"));
    let (_, col, k, msg, _) = one_error("{\"clock\": {\"kind\": \"system\", \"drift_ppm\": 5}}");
    assert_eq!(
        (col, k, msg.as_str()),
        (
            30,
            key("clock.drift_ppm"),
            "applies only to a simulated clock"
        )
    );
    let (_, _, k, msg, _) =
        one_error("{\"clock\": {\"kind\": \"simulated\", \"drift_ppm\": 500.1}}");
    assert_eq!(
        (k, msg.as_str()),
        (
            key("clock.drift_ppm"),
            "expected a number from -500 to 500 (ppm), found 500.1"
        )
    );
    assert_eq!(
        parse_ok("{\"clock\": {\"kind\": \"simulated\", \"drift_ppm\": -500}}").clock,
        ClockKind::Simulated {
            drift_ppm: -500.0,
            offset_ms: 0.0
        }
    );
}

#[test]
fn a_preferred_leader_outside_the_allowlist_is_named() {
    let cfg = parse_ok(
        r#"{"ptp": {"leader_allowlist": ["00:1d:c1:00:00:01"],
                    "leader_preference": ["00:1d:c1:00:00:01", "00:1d:c1:00:00:02"]}}"#,
    );
    let warned: Vec<_> = cfg.warnings.iter().map(|w| w.key.clone()).collect();
    assert_eq!(warned, [key("ptp.leader_preference[1]")]);
    assert!(cfg.warnings[0]
        .message
        .contains("00:1d:c1:00:00:02 is preferred but not in ptp.leader_allowlist"));
    // Without an allowlist every leader may lead: nothing to say.
    let open = parse_ok(r#"{"ptp": {"leader_preference": ["00:1d:c1:00:00:02"]}}"#);
    assert!(open.warnings.is_empty());
}

#[test]
fn lan_servers_names_the_lan_servers_and_absent_decides_by_address() {
    use dantesync_core::ntp_client::Locality;
    let text = r#"{
  "ntp_server": ["10.77.8.2", "ntp.example.lan:1123", "ntp.example.org"],
  "ntp": { "lan_servers": ["NTP.example.lan:1123", "ntp.example.org:123", "10.77.8.9"] }
}"#;
    let cfg = parse_ok(text);
    let localities: Vec<Locality> = cfg
        .ntp_servers
        .iter()
        .map(|s| cfg.ntp.locality(s))
        .collect();
    assert_eq!(
        localities,
        [Locality::Outside, Locality::Lan, Locality::Lan],
        "a list names exactly the LAN servers"
    );
    // The entry that names no ntp_server entry is a typo or a leftover: said, on its line.
    assert_eq!(cfg.warnings.len(), 1, "{:#?}", cfg.warnings);
    let w = &cfg.warnings[0];
    assert_eq!(w.key.as_deref(), Some("ntp.lan_servers[2]"));
    assert_eq!(w.line(), Some(3));
    assert!(w.message.contains("10.77.8.9:123"), "{}", w.message);

    let none = parse_ok(r#"{ "ntp_server": "10.77.8.2", "ntp": { "lan_servers": [] } }"#);
    assert_eq!(none.ntp.locality(&none.ntp_servers[0]), Locality::Outside);
    let absent = parse_ok(r#"{ "ntp_server": "10.77.8.2" }"#);
    assert_eq!(absent.ntp.lan_servers, None);
    assert_eq!(
        absent.ntp.locality(&absent.ntp_servers[0]),
        Locality::ByAddress
    );

    let (line, _, key_path, message, hint) =
        one_error(r#"{ "ntp_server": "10.77.8.2", "ntp": { "lan_servers": "10.77.8.2" } }"#);
    assert_eq!((line, key_path), (1, key("ntp.lan_servers")));
    assert!(message.contains("a list of servers"), "{message}");
    assert!(hint.unwrap().contains("[\"10.77.8.2\"]"));
}

#[test]
fn fleet_mode_and_its_tuning_reach_the_controller() {
    use dantesync_core::fleet::SyncMode;
    assert_eq!(
        Config::default().controller_config().sync_mode,
        SyncMode::Classic,
        "classic stays the default"
    );
    let cfg = parse_ok(
        r#"{"sync_mode": "fleet", "fleet": {"max_slew_ppm": 50, "hold_s": 120,
            "step_threshold_us": 500, "step_scheduled": false}}"#,
    );
    let c = cfg.controller_config();
    assert_eq!(c.sync_mode, SyncMode::Fleet);
    assert_eq!(c.fleet.max_slew_ppm, 50.0);
    assert_eq!(c.fleet.hold_s, 120.0);
    assert_eq!(c.fleet.step_threshold_us, 500.0);
    assert!(!c.fleet.step_scheduled);
    // The loop's own constants stay the core's.
    assert_eq!(c.fleet.time_constant_s, 30.0);
    let (line, _, key, _, hint) = one_error(r#"{"sync_mode": "Fleet"}"#);
    assert_eq!((line, key.as_deref()), (1, Some("sync_mode")));
    assert_eq!(hint.as_deref(), Some("write it in lower case: \"fleet\""));
    let (_, _, key, _, _) = one_error(r#"{"fleet": {"hold_s": 0}}"#);
    assert_eq!(key.as_deref(), Some("fleet.hold_s"));
}
