//! Unit tests of the configuration: the spanned JSON reader against serde_json, each rule of
//! the schema with the exact line, column and key it reports, the earlier DanteSync's keys,
//! the overrides and the mapping to the engine's settings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use dantesync_core::controller::NtpGateConfig;
use dantesync_core::wire::ptpv1::{Subdomain, Uuid};
use dantesync_core::ControllerConfig;

use super::json::{self, Node, Pos, Value};
use super::*;

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

// ---- the JSON reader ---------------------------------------------------------------------

fn to_serde(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(text) => serde_json::from_str(text).unwrap(),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), to_serde(&m.value)))
                .collect(),
        ),
    }
}

#[test]
fn reader_agrees_with_serde_json_on_valid_documents() {
    let docs = [
        "{}",
        "[]",
        "0",
        "-0",
        "-12.5e+3",
        "1E-2",
        "123456789012345678901234567890",
        "true",
        "null",
        r#""plain""#,
        r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83c\udfb5 end""#,
        "\"ünïcödé 日本\"",
        r#"{"a": [1, 2.5, {"b": null}], "c": {"d": [true, false, []]}, "e": ""}"#,
        " \t\r\n{ \"k\" :\n\t\"v\" } \n",
    ];
    for doc in docs {
        let ours = json::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e:?}"));
        let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(to_serde(&ours), theirs, "{doc}");
    }
}

#[test]
fn reader_refuses_what_serde_json_refuses() {
    let docs = [
        "",
        "   ",
        "{",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "[1, 2,]",
        "[1 2]",
        "{'a': 1}",
        "{a: 1}",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"tab\tinside\"",
        "True",
        "nul",
        "{} {}",
        "// comment\n{}",
        "{\"a\": 1 /* c */}",
        "{\"a\" = 1}",
        "NaN",
        "[1,,2]",
        "{\"a\":}",
    ];
    for doc in docs {
        assert!(
            serde_json::from_str::<serde_json::Value>(doc).is_err(),
            "serde_json accepts {doc:?}"
        );
        assert!(json::parse(doc.as_bytes()).is_err(), "accepted {doc:?}");
    }
}

#[test]
fn reader_keeps_the_position_of_every_key_and_value() {
    let doc = "{\n  \"a\": 1,\n\t\"bé\": [true,\n    \"x\"]\n}";
    let root = json::parse(doc.as_bytes()).unwrap();
    assert_eq!(root.pos, Pos { line: 1, col: 1 });
    let Value::Object(members) = &root.value else {
        panic!()
    };
    assert_eq!(members[0].key, "a");
    assert_eq!(members[0].key_pos, Pos { line: 2, col: 3 });
    assert_eq!(members[0].value.pos, Pos { line: 2, col: 8 });
    assert_eq!(members[1].key, "bé");
    assert_eq!(members[1].key_pos, Pos { line: 3, col: 2 });
    // Columns count characters: "bé" is 4 characters with its quotes, not 5 bytes.
    assert_eq!(members[1].value.pos, Pos { line: 3, col: 8 });
    let Value::Array(items) = &members[1].value.value else {
        panic!()
    };
    assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
}

#[test]
fn reader_explains_hand_editing_mistakes() {
    let err = |doc: &str| json::parse(doc.as_bytes()).unwrap_err();
    let e = err("{\n  \"a\": 1,\n  \"b\": 2,\n}");
    assert_eq!((e.pos.line, e.pos.col), (3, 9), "points at the comma");
    assert_eq!(e.message, "trailing comma before `}`");
    let e = err("[1,\n 2 , ]");
    assert_eq!((e.pos.line, e.pos.col), (2, 4));
    let e = err("{\n  // the master\n  \"a\": 1\n}");
    assert_eq!((e.pos.line, e.pos.col), (2, 3));
    assert_eq!(e.message, "comments are not allowed in JSON");
    assert!(e.hint.unwrap().contains("starting with `_`"));
    let e = err("{\n  \"a\": 1\n  \"b\": 2\n}");
    assert_eq!((e.pos.line, e.pos.col), (3, 3));
    assert_eq!(
        e.hint.as_deref(),
        Some("a comma is missing at the end of the previous line")
    );
    let e = err("{ntp_server: \"x\"}");
    assert_eq!(e.message, "key `ntp_server` is not in double quotes");
    assert_eq!(e.hint.as_deref(), Some("write \"ntp_server\""));
    let e = err("{\"a\": 'x'}");
    assert_eq!(e.message, "strings must be in double quotes");
    let e = err("{\"a\": True}");
    assert_eq!(
        (e.message.as_str(), e.hint.as_deref()),
        (
            "`True` is not a JSON value",
            Some("write true (lower case)")
        )
    );
    let e = err("{\"path\": \"C:\\ProgramData\"}");
    assert_eq!(e.message, "invalid escape `\\P` in a string");
    assert!(e.hint.unwrap().contains("\\\\"));
    let e = err("{\n  \"a\": \"open\n}");
    assert_eq!((e.pos.line, e.pos.col), (2, 8));
    assert_eq!(e.message, "this string is not closed on its line");
    let e = err("{\n  \"a\": [1, 2\n");
    assert_eq!(e.message, "the file ends inside the `[` opened at line 2");
    let e = err("{\"a\": 007}");
    assert_eq!(
        e.hint.as_deref(),
        Some("JSON numbers have no leading zeros")
    );
    let e = err(&format!("{}1{}", "[".repeat(70), "]".repeat(70)));
    assert!(e.message.contains("nested deeper"));
}

#[test]
fn syntax_errors_name_the_key_being_read() {
    let key_of = |doc: &str| json::parse(doc.as_bytes()).unwrap_err().key;
    assert_eq!(
        key_of("{\"ntp_server_mode\": {\"port\": 12a}}"),
        key("ntp_server_mode")
    );
    assert_eq!(
        key_of("{\"ntp_server_mode\": {\"port\": tru}}"),
        key("ntp_server_mode.port")
    );
    assert_eq!(
        key_of("{\"ptp\": {\"leader_allowlist\": [\"a\", \"b]}}"),
        key("ptp.leader_allowlist[1]")
    );
    assert_eq!(
        key_of("{\"ntp\": {\"slew_max_ppm\" 20}}"),
        key("ntp.slew_max_ppm")
    );
    assert_eq!(key_of("{\"a\": 1,}"), None);
    assert_eq!(key_of("{\"log\": {\"level\": \"info\",}}"), key("log"));
    let e = parse_err("{\n  \"ntp_server_mode\": {\n    \"port\": 123\n    \"stratum\": 3\n  }\n}");
    assert_eq!(
        e[0].to_string(),
        "/etc/dantesync/config.json:4:5: ntp_server_mode: expected `,` or `}` after a member\n    \
         fix: a comma is missing at the end of the previous line"
    );
}

#[test]
fn reader_handles_encodings_windows_editors_produce() {
    let with_bom = b"\xef\xbb\xbf{\"ntp_server\": \"10.77.8.2\"}";
    assert!(json::parse(with_bom).is_ok());
    let utf16 = b"\xff\xfe{\x00}\x00";
    let e = json::parse(utf16).unwrap_err();
    assert!(e.message.contains("UTF-16"), "{e:?}");
    let latin1 = b"{\n  \"interface\": \"Ethernet \xe9\"\n}";
    let e = json::parse(latin1).unwrap_err();
    assert_eq!(e.message, "invalid UTF-8 byte");
    assert_eq!((e.pos.line, e.pos.col), (2, 26));
}

// ---- the schema --------------------------------------------------------------------------

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
    "source_allowlist": ["10.77.9.0/24", "10.77.10.5"]
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
    assert_eq!(with_server.controller_config(), defaults);
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
fn an_unknown_key_is_named_with_its_likely_meaning() {
    let (line, col, k, msg, hint) = one_error("{\n  \"ntp_sever\": \"10.77.8.2\"\n}");
    assert_eq!(
        (line, col, k, msg.as_str()),
        (2, 3, key("ntp_sever"), "unknown key")
    );
    assert_eq!(hint.as_deref(), Some("did you mean `ntp_server`?"));
    let (_, _, k, _, hint) = one_error("{\"ptp\": {\"subdomian\": \"_DFLT\"}}");
    assert_eq!(k, key("ptp.subdomian"));
    assert_eq!(hint.as_deref(), Some("did you mean `ptp.subdomain`?"));
    let (_, _, k, _, hint) = one_error("{\"ntp\": {\"ntp_server\": \"x\"}}");
    assert_eq!(k, key("ntp.ntp_server"));
    assert_eq!(
        hint.as_deref(),
        Some("`ntp_server` belongs at the top level")
    );
    let (_, _, _, _, hint) = one_error("{\"stratum\": 2}");
    assert_eq!(
        hint.as_deref(),
        Some("`stratum` belongs in `ntp_server_mode`")
    );
    let (_, _, _, _, hint) = one_error("{\"log\": {\"colour\": true}}");
    assert_eq!(
        hint.as_deref(),
        Some("the keys of `log` are: level (keys starting with `_` are comments)")
    );
}

#[test]
fn comment_keys_are_ignored_everywhere() {
    let cfg = parse_ok(
        r#"{"_ntp_server_examples": "pool.ntp.org", "ptp": {"_why": ["any", 1]}, "log": {"_": {}}}"#,
    );
    assert!(cfg.warnings.is_empty());
}

#[test]
fn wrong_types_name_the_type_found() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"ntp_server_mode": {"port": "abc"}}"#, "ntp_server_mode.port", "expected an integer 1-65535, found \"abc\""),
        (r#"{"ntp_server_mode": {"port": "123"}}"#, "ntp_server_mode.port", "expected an integer 1-65535, found \"123\""),
        (r#"{"http_status": {"port": 88.5}}"#, "http_status.port", "expected an integer 1-65535, found 88.5"),
        (r#"{"http_status": {"enabled": "true"}}"#, "http_status.enabled", "expected true or false, found \"true\""),
        (r#"{"ntp_server": 5}"#, "ntp_server", "expected a server name or address, or a list of them, found 5"),
        (r#"{"ntp_server": ["a.lan", 7]}"#, "ntp_server[1]", "expected a string in double quotes, found 7"),
        (r#"{"ptp": "_DFLT"}"#, "ptp", "expected an object { ... }, found \"_DFLT\""),
        (r#"{"ptp": {"leader_allowlist": "00:1d:c1:a1:72:3c"}}"#, "ptp.leader_allowlist", "expected a list of leader UUIDs like \"00:1d:c1:a1:72:3c\", found \"00:1d:c1:a1:72:3c\""),
        (r#"{"ntp": {"slew_max_ppm": null}}"#, "ntp.slew_max_ppm", "expected a number from 0.1 to 500 (ppm), found null"),
        (r#"{"interface": ["eth0"]}"#, "interface", "expected a string in double quotes, found a list"),
    ];
    for (text, k, msg) in cases {
        let (_, _, got_key, got_msg, _) = one_error(text);
        assert_eq!(
            (got_key.as_deref(), got_msg.as_str()),
            (Some(*k), *msg),
            "{text}"
        );
    }
    let (_, _, _, _, hint) = one_error(r#"{"ntp_server_mode": {"port": "123"}}"#);
    assert_eq!(
        hint.as_deref(),
        Some("write the number without quotes: 123")
    );
    let errors = parse_err("[1, 2]");
    assert_eq!(
        errors[0].message,
        "expected the configuration to be a JSON object { ... }, found a list"
    );
}

#[test]
fn out_of_range_numbers_are_refused() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"http_status": {"port": 0}}"#,
            "http_status.port",
            "found 0",
        ),
        (
            r#"{"query_api": {"port": 65536}}"#,
            "query_api.port",
            "found 65536",
        ),
        (
            r#"{"ptp": {"event_port": -1}}"#,
            "ptp.event_port",
            "found -1",
        ),
        (
            r#"{"ntp_server_mode": {"stratum": 0}}"#,
            "ntp_server_mode.stratum",
            "expected an integer 1-15, found 0",
        ),
        (
            r#"{"ntp_server_mode": {"stratum": 16}}"#,
            "ntp_server_mode.stratum",
            "expected an integer 1-15, found 16",
        ),
        (
            r#"{"ptp": {"offline_timeout_s": 0.5}}"#,
            "ptp.offline_timeout_s",
            "expected a number from 1 to 3600 (seconds), found 0.5",
        ),
        (
            r#"{"ntp": {"slew_max_offset_us": -1}}"#,
            "ntp.slew_max_offset_us",
            "found -1",
        ),
        (
            r#"{"ntp": {"panic_threshold_s": 0}}"#,
            "ntp.panic_threshold_s",
            "found 0",
        ),
        (
            r#"{"ntp": {"slew_max_ppm": 501}}"#,
            "ntp.slew_max_ppm",
            "found 501",
        ),
        (
            r#"{"ptp": {"offline_timeout_s": 1e400}}"#,
            "ptp.offline_timeout_s",
            "found 1e400",
        ),
    ];
    for (text, k, msg) in cases {
        let (_, _, got_key, got_msg, _) = one_error(text);
        assert_eq!(got_key.as_deref(), Some(*k), "{text}");
        assert!(got_msg.ends_with(msg), "{text}: {got_msg}");
    }
    let cfg =
        parse_ok(r#"{"ntp_server_mode": {"stratum": 1, "port": 65535}, "ptp": {"event_port": 1}}"#);
    assert_eq!(
        (
            cfg.ntp_server_mode.stratum,
            cfg.ntp_server_mode.port,
            cfg.ptp.event_port
        ),
        (Some(1), 65535, 1)
    );
}

#[test]
fn addresses_and_hosts_are_checked() {
    let (line, col, k, msg, hint) = one_error("{\n  \"ntp_server\": \"10.77.8.256\"\n}");
    assert_eq!(
        (line, col, k, msg.as_str()),
        (
            2,
            17,
            key("ntp_server"),
            "\"10.77.8.256\" is not a valid IPv4 address"
        )
    );
    assert_eq!(
        hint.as_deref(),
        Some("256 is above 255: each number of an IPv4 address is 0-255")
    );
    let (_, _, k, msg, _) = one_error(r#"{"ntp_server": ["ok.lan", "bad host"]}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("ntp_server[1]"),
            "\"bad host\" is not a valid host name or address"
        )
    );
    let (_, _, k, msg, _) = one_error(r#"{"query_api": {"bind": "0.0.0"}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (key("query_api.bind"), "\"0.0.0\" is not an IP address")
    );
    let (_, _, k, _, _) = one_error(r#"{"ptp": {"source_allowlist": ["10.77.9.0/33"]}}"#);
    assert_eq!(k, key("ptp.source_allowlist[0]"));
    let (_, _, k, msg, _) = one_error(r#"{"query_api": {"allow": []}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (key("query_api.allow"), "an empty list answers no one")
    );
    let (_, _, k, msg, hint) = one_error(r#"{"ntp_server_mode": {"allow": []}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("ntp_server_mode.allow"),
            "an empty list is ambiguous here (answer everyone, or no one?)"
        )
    );
    assert!(hint.unwrap().contains("remove the key"));
    let (line, col, k, _, _) =
        one_error("{\"ntp_server_mode\": {\n  \"deny\": [\"10.0.0.0/8\", \"10.1.2.3/33\"]}}");
    assert_eq!((line, col, k), (2, 26, key("ntp_server_mode.deny[1]")));
    let (_, _, k, msg, _) =
        one_error(r#"{"ntp_server_mode": {"deny": ["10.0.0.0/8", "10.0.0.0/8"]}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("ntp_server_mode.deny[1]"),
            "10.0.0.0/8 is listed twice (first at line 1)"
        )
    );
    let (_, _, k, _, _) = one_error(r#"{"ntp_server_mode": {"allow": "10.0.0.0/8"}}"#);
    assert_eq!(k, key("ntp_server_mode.allow"));
    let (_, _, k, _, _) = one_error(r#"{"ntp_server_mode": {"rate_limit": "off"}}"#);
    assert_eq!(k, key("ntp_server_mode.rate_limit"));
    let (_, _, k, msg, _) = one_error(r#"{"ntp_server": ["a.lan", "a.lan:123"]}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("ntp_server[1]"),
            "a.lan:123 is listed twice (first at line 1)"
        )
    );
    let (_, _, k, msg, _) = one_error(r#"{"interface": ""}"#);
    assert_eq!(
        (k, msg.as_str()),
        (key("interface"), "an empty interface name")
    );
    assert_eq!(parse_ok(r#"{"interface": null}"#).interface, None);
    assert!(parse_ok(r#"{"ntp_server": []}"#).ptp_only());
}

#[test]
fn leader_uuids_are_checked() {
    let text = "{\n  \"ptp\": {\n    \"leader_allowlist\": [\n      \"00:1d:c1:a1:72:3c\",\n      \"00:1d:c1:a1:72\"\n    ]\n  }\n}";
    let (line, col, k, msg, _) = one_error(text);
    assert_eq!((line, col, k), (5, 7, key("ptp.leader_allowlist[1]")));
    assert_eq!(
        msg,
        "expected a PTPv1 UUID: six hex bytes like \"00:1d:c1:a1:72:3c\", found \"00:1d:c1:a1:72\""
    );
    let (_, _, k, msg, _) =
        one_error(r#"{"ptp": {"leader_allowlist": ["00:1d:c1:a1:72:3c", "00-1d-c1-a1-72-3c"]}}"#);
    assert_eq!(
        (k, msg.as_str()),
        (
            key("ptp.leader_allowlist[1]"),
            "00:1d:c1:a1:72:3c is listed twice (first at line 1)"
        )
    );
    let (_, _, _, _, hint) = one_error(r#"{"ptp": {"subdomain": "_dflt"}}"#);
    assert_eq!(hint.as_deref(), Some("write it in capitals: \"_DFLT\""));
}

#[test]
fn a_key_given_twice_is_an_error() {
    let (line, col, k, msg, _) =
        one_error("{\n  \"ntp_server\": \"a.lan\",\n  \"ntp_server\": \"b.lan\"\n}");
    assert_eq!(
        (line, col, k, msg.as_str()),
        (3, 3, key("ntp_server"), "given twice (first at line 2)")
    );
}

#[test]
fn two_services_on_one_udp_port_are_refused() {
    let text = "{\n  \"ntp_server_mode\": {\"enabled\": true, \"port\": 31900}\n}";
    let (line, col, k, msg, _) = one_error(text);
    assert_eq!((line, col, k), (2, 48, key("ntp_server_mode.port")));
    assert_eq!(
        msg,
        "UDP port 31900 is also used by query_api.port (its default)"
    );
    let text = "{\n  \"ptp\": {\"event_port\": 400,\n          \"general_port\": 400}\n}";
    let (line, _, k, msg, _) = one_error(text);
    assert_eq!(
        (line, k, msg.as_str()),
        (
            3,
            key("ptp.general_port"),
            "UDP port 400 is also used by ptp.event_port (line 2)"
        )
    );
    // A disabled service binds nothing; different specific addresses do not collide.
    parse_ok(r#"{"ntp_server_mode": {"enabled": false, "port": 31900}}"#);
    parse_ok(
        r#"{"ntp_server_mode": {"enabled": true, "port": 5000, "bind": "10.0.0.1"}, "query_api": {"port": 5000, "bind": "10.0.0.2"}}"#,
    );
    let errors = parse_err(
        r#"{"ntp_server_mode": {"enabled": true, "port": 5000, "bind": "10.0.0.1"}, "query_api": {"port": 5000}}"#,
    );
    assert_eq!(errors.len(), 1);
    // HTTP is TCP: it may share a number with a UDP service.
    parse_ok(r#"{"http_status": {"port": 31900}}"#);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = "{\n  \"log\": {\"level\": \"loud\"},\n  \"ntp_sever\": 1,\n  \"http_status\": {\"port\": 0}\n}";
    let errors = parse_err(text);
    let lines: Vec<_> = errors
        .iter()
        .map(|e| (e.line().unwrap(), e.key.clone().unwrap()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, "log.level".to_owned()),
            (3, "ntp_sever".to_owned()),
            (4, "http_status.port".to_owned())
        ]
    );
}

#[test]
fn the_state_file_is_never_the_configuration() {
    let (_, _, k, msg, _) = one_error(&format!("{{\"state_file\": \"{FILE}\"}}"));
    assert_eq!(
        (k, msg.as_str()),
        (key("state_file"), "is the configuration file itself")
    );
    let (_, _, _, msg, _) = one_error(r#"{"state_file": "state.json"}"#);
    assert_eq!(msg, "expected an absolute path, found \"state.json\"");
}

#[test]
fn log_levels() {
    assert_eq!(
        parse_ok(r#"{"log": {"level": "trace"}}"#).log.level,
        LogLevel::Trace
    );
    let (_, _, _, _, hint) = one_error(r#"{"log": {"level": "WARN"}}"#);
    assert_eq!(hint.as_deref(), Some("write it in lower case: \"warn\""));
    let (_, _, _, _, hint) = one_error(r#"{"log": {"level": "debgu"}}"#);
    assert_eq!(hint.as_deref(), Some("did you mean \"debug\"?"));
    for (i, name) in LogLevel::NAMES.iter().enumerate() {
        assert_eq!(LogLevel::from_name(name).unwrap().as_str(), *name);
        assert_eq!(LogLevel::from_name(name).unwrap() as usize, i);
    }
}

// ---- the earlier DanteSync's files ------------------------------------------------------

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

// ---- overrides and start-up ------------------------------------------------------------

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

// ---- the documentation -------------------------------------------------------------------

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn every_key_is_documented() {
    let doc = std::fs::read_to_string(repo_file("docs/config.md")).unwrap();
    let mut missing = Vec::new();
    for (section, keys) in file::sections() {
        for k in keys {
            let path = read::join(section, k);
            if !doc.contains(&format!("`{path}`")) {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md does not document {missing:?}"
    );
}

#[test]
fn the_examples_are_valid_and_the_full_one_sets_every_key() {
    let dir = repo_file("examples/config");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).unwrap();
            let cfg = parse(&bytes, &path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert!(
                cfg.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                cfg.warnings
            );
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert!(
        names.contains(&"full.json".to_owned()) && names.contains(&"minimal.json".to_owned()),
        "{names:?}"
    );

    // full.json names every key of the schema except the earlier tool's, and the simulated
    // clock's keys, which have their own example (a production file must not carry them).
    let paths_in = |name: &str| {
        let root = json::parse(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        let mut present = Vec::new();
        collect_paths(&root, "", &mut present);
        present
    };
    let full = paths_in("full.json");
    let simulated = paths_in("simulated-clock.json");
    for (section, keys) in file::sections() {
        for k in keys {
            let path = read::join(section, k);
            let earlier =
                section == "system" || k == "system" || path == "ntp_server_mode.max_step_us";
            let sim_only = path == "clock.drift_ppm" || path == "clock.offset_ms";
            if sim_only {
                assert!(
                    simulated.contains(&path),
                    "simulated-clock.json lacks {path}"
                );
            } else {
                assert!(earlier || full.contains(&path), "full.json lacks {path}");
            }
        }
    }
}

fn collect_paths(node: &Node, path: &str, out: &mut Vec<String>) {
    if let Value::Object(members) = &node.value {
        for m in members {
            let p = read::join(path, &m.key);
            collect_paths(&m.value, &p, out);
            out.push(p);
        }
    }
}
