//! Each rule a file can break, with the exact line, column, key and message it reports.

use super::*;

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

#[test]
fn every_error_of_one_section_and_one_list_is_reported() {
    let text = "{\"ptp\": {\"event_port\": 70000,\n  \"subdomain\": \"_dflt\",\n  \
                \"leader_allowlist\": [\"zz\", \"00:1d:c1:a1:72:3c\", \"yy\"]}}";
    let errors = parse_err(text);
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.line().unwrap(), e.key.clone().unwrap()))
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "ptp.event_port".to_owned()),
            (2, "ptp.subdomain".to_owned()),
            (3, "ptp.leader_allowlist[0]".to_owned()),
            (3, "ptp.leader_allowlist[2]".to_owned()),
        ]
    );
    assert_eq!(
        errors[3].pos().unwrap().col,
        51,
        "the third item, not the second"
    );
}

#[test]
fn a_list_of_only_bad_items_is_not_also_called_empty() {
    let errors = parse_err(r#"{"query_api": {"allow": ["x", "10.1.1.1/8"]}}"#);
    let keys: Vec<_> = errors.iter().map(|e| e.key.clone().unwrap()).collect();
    assert_eq!(keys, vec!["query_api.allow[0]", "query_api.allow[1]"]);
}

#[test]
fn a_system_clock_s_drift_is_refused_for_its_place_not_its_range() {
    let (_, col, k, msg, _) = one_error("{\"clock\": {\"kind\": \"system\", \"drift_ppm\": 900}}");
    assert_eq!(
        (col, k, msg.as_str()),
        (
            30,
            key("clock.drift_ppm"),
            "applies only to a simulated clock"
        )
    );
    // With a kind that is itself wrong, the value is still checked on its own.
    let errors = parse_err("{\"clock\": {\"kind\": \"gps\", \"drift_ppm\": 900}}");
    let keys: Vec<_> = errors.iter().map(|e| e.key.clone().unwrap()).collect();
    assert_eq!(keys, vec!["clock.kind", "clock.drift_ppm"]);
}
