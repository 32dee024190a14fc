//! Command-line overrides, loading, and what the daemon and `config check` say at start.

use super::*;

#[test]
fn flags_override_the_file() {
    let cfg = parse_ok(r#"{"interface": "eth0", "ntp_server": ["a.lan", "b.lan"]}"#);
    let flags = Overrides {
        interface: Some("Ethernet 2".into()),
        ntp_server: Some("10.77.8.2:1123".into()),
        skip_ntp: false,
    };
    let over = cfg.clone().with_overrides(&flags).unwrap();
    assert_eq!(over.interface.as_deref(), Some("Ethernet 2"));
    assert_eq!(
        over.ntp_servers,
        vec![ServerAddr {
            host: "10.77.8.2".into(),
            port: 1123
        }]
    );
    assert!(!over.ptp_only());
    assert_eq!(
        cfg.clone().with_overrides(&Overrides::default()).unwrap(),
        cfg
    );

    let skipped = cfg
        .clone()
        .with_overrides(&Overrides {
            skip_ntp: true,
            ..Overrides::default()
        })
        .unwrap();
    assert!(skipped.ptp_only());
    assert_eq!(skipped.ntp_servers.len(), 2, "kept for the record");
    assert_eq!(skipped.controller_config().ntp, None);
    assert!(skipped.ptp_only_reason().unwrap().starts_with("--skip-ntp"));

    let bad = cfg.clone().with_overrides(&Overrides {
        ntp_server: Some("10.0.0.256".into()),
        ..Overrides::default()
    });
    let e = bad.unwrap_err();
    assert_eq!(e.place, Place::Flag("--ntp-server"));
    assert_eq!(
        e.to_string().lines().next().unwrap(),
        "--ntp-server: \"10.0.0.256\" is not a valid IPv4 address"
    );
    let bad = cfg.with_overrides(&Overrides {
        interface: Some(" ".into()),
        ..Overrides::default()
    });
    assert_eq!(bad.unwrap_err().place, Place::Flag("--interface"));
}

#[test]
fn overrides_keep_the_warnings_true() {
    let cfg = parse_ok("{\n  \"ntp_server_mode\": {\"enabled\": true},\n  \"system\": {}\n}");
    let keys =
        |c: &Config| -> Vec<Option<String>> { c.warnings.iter().map(|w| w.key.clone()).collect() };
    assert_eq!(
        keys(&cfg),
        vec![key("ntp_server_mode.enabled"), key("ntp_server")]
    );
    let served = cfg
        .clone()
        .with_overrides(&Overrides {
            ntp_server: Some("10.77.8.2".into()),
            ..Overrides::default()
        })
        .unwrap();
    assert!(served.warnings.is_empty(), "{:?}", served.warnings);
    let skipped = served
        .with_overrides(&Overrides {
            skip_ntp: true,
            ..Overrides::default()
        })
        .unwrap();
    assert_eq!(skipped.warnings.len(), 1);
    assert_eq!(skipped.warnings[0].place, Place::Flag("--skip-ntp"));
}

#[test]
fn ptp_only_is_explained_once() {
    assert!(parse_ok("{}")
        .ptp_only_reason()
        .unwrap()
        .starts_with("no ntp_server is configured"));
    assert_eq!(
        parse_ok(r#"{"ntp_server": "a.lan"}"#).ptp_only_reason(),
        None
    );
}

#[test]
fn loading_distinguishes_a_missing_default_from_a_missing_named_file() {
    let missing =
        std::env::temp_dir().join(format!("dantesync-no-such-{}.json", std::process::id()));
    match load(Some(&missing)) {
        Err(LoadError::NotFound { path }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
    // The default path is not there in the test environment, or is a real file: either way
    // no error other than its own content.
    if !default_path().exists() {
        let cfg = load(None).unwrap();
        assert_eq!(cfg.origin, Origin::MissingDefault(default_path()));
        assert!(cfg.origin_note().starts_with("no configuration file at"));
    }
}

#[test]
fn the_summary_names_the_effective_values() {
    let text = parse_ok(FULL).summary();
    for needle in [
        "eth1",
        "10.77.8.2:123, ntp.example.lan:1123",
        "slew offsets up to 5000 µs at most 50.5 ppm",
        "refuse beyond 600 s",
        "backward steps never",
        "subdomain _ALT1 (224.0.1.130), UDP ports 1319/1320",
        "00:1d:c1:a1:72:3c, 00:1d:c1:0a:0b:0c",
        "simulated (drift -12.5 ppm, offset 250 ms",
        "on, 10.77.8.5 port 1123, stratum 4",
        "on, :: port 31901, answers 10.0.0.0/8, fd00::/8",
        "http status   off",
        "/srv/dantesync/state.json",
        "log level     debug",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    assert!(parse_ok("{}")
        .summary()
        .contains("none: PTP-only (no ntp_server is configured)"));
}
