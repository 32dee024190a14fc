use super::*;

fn request(cfg: &Config) -> InstallRequest {
    InstallRequest {
        exe: PathBuf::from(r"C:\Program Files\DanteSync\dantesync.exe"),
        config: PathBuf::from(r"C:\ProgramData\DanteSync\config.json"),
        rules: firewall_rules(cfg),
    }
}

fn w32time(start_type: StartType, running: bool) -> W32TimeRecord {
    W32TimeRecord {
        start_type,
        running,
    }
}

#[test]
fn default_config_opens_ptp_query_and_http_but_not_ntp() {
    let rules = firewall_rules(&Config::default());
    let summary: Vec<(&str, Protocol, Vec<u16>)> = rules
        .iter()
        .map(|r| (r.name, r.protocol, r.ports.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("DanteSync PTP", Protocol::Udp, vec![319, 320]),
            ("DanteSync query API", Protocol::Udp, vec![31900]),
            ("DanteSync HTTP status", Protocol::Tcp, vec![8898]),
        ]
    );
}

#[test]
fn rules_follow_the_configured_ports_and_servers() {
    let mut cfg = Config::default();
    cfg.ptp.event_port = 1319;
    cfg.ptp.general_port = 1320;
    cfg.ntp_server_mode.enabled = true;
    cfg.ntp_server_mode.port = 1123;
    cfg.http_status.port = 8080;
    cfg.query_api.enabled = false;
    let rules = firewall_rules(&cfg);
    let names: Vec<&str> = rules.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "DanteSync PTP",
            "DanteSync NTP server",
            "DanteSync HTTP status"
        ]
    );
    assert_eq!(rules[0].ports, [1319, 1320]);
    assert_eq!(rules[1].ports, [1123]);
    assert_eq!(rules[2].ports, [8080]);
    // Bound to loopback: nothing to open.
    cfg.http_status.bind = "127.0.0.1".parse().unwrap();
    assert_eq!(firewall_rules(&cfg).len(), 2);
}

#[test]
fn the_netsh_rule_is_inbound_allow_for_the_program_only() {
    let rule = &firewall_rules(&Config::default())[0];
    let args = rule.netsh_add(Path::new(r"C:\Program Files\DanteSync\dantesync.exe"));
    assert_eq!(
        args.join(" "),
        "advfirewall firewall add rule name=DanteSync PTP dir=in action=allow protocol=UDP \
         localport=319,320 program=C:\\Program Files\\DanteSync\\dantesync.exe profile=any \
         enable=yes"
    );
    assert_eq!(
        netsh_delete("DanteSync PTP"),
        [
            "advfirewall",
            "firewall",
            "delete",
            "rule",
            "name=DanteSync PTP"
        ]
    );
}

#[test]
fn the_data_folder_is_writable_by_system_and_admins_and_readable_by_users() {
    let args = icacls_args(Path::new(DATA_DIR));
    assert_eq!(
        args,
        [
            r"C:\ProgramData\DanteSync",
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "*S-1-5-32-545:(OI)(CI)RX",
        ]
    );
}

#[test]
fn a_first_install_records_w32time_then_stops_and_disables_it() {
    let cfg = Config::default();
    let found = Observed {
        w32time: Some(w32time(StartType::Demand, true)),
        config_exists: true,
        ..Observed::default()
    };
    let plan = install_plan(&found, &request(&cfg));
    assert_eq!(
        plan[..7],
        [
            Action::PrepareDataDir,
            Action::RegisterEventSource,
            Action::CreateService,
            Action::SetRecovery,
            Action::RecordW32Time(w32time(StartType::Demand, true)),
            Action::StopW32Time,
            Action::DisableW32Time,
        ]
    );
    let deleted: Vec<&Action> = plan
        .iter()
        .filter(|a| matches!(a, Action::DeleteFirewallRule(_)))
        .collect();
    assert_eq!(deleted.len(), 4, "every name install may have used");
    let added: Vec<&str> = plan
        .iter()
        .filter_map(|a| match a {
            Action::AddFirewallRule(r) => Some(r.name),
            _ => None,
        })
        .collect();
    assert_eq!(
        added,
        [
            "DanteSync PTP",
            "DanteSync query API",
            "DanteSync HTTP status"
        ]
    );
    let last_delete = plan
        .iter()
        .rposition(|a| matches!(a, Action::DeleteFirewallRule(_)))
        .unwrap();
    let first_add = plan
        .iter()
        .position(|a| matches!(a, Action::AddFirewallRule(_)))
        .unwrap();
    assert!(last_delete < first_add, "old rules go before new ones come");
    assert_eq!(
        request(&cfg).launch_arguments(),
        [
            "--service",
            "--config",
            r"C:\ProgramData\DanteSync\config.json"
        ]
    );
}

#[test]
fn a_second_install_updates_and_keeps_the_first_record() {
    let cfg = Config::default();
    // As the first install left it.
    let found = Observed {
        service: Some(FoundService { running: true }),
        w32time: Some(w32time(StartType::Disabled, false)),
        w32time_record: Some(w32time(StartType::Auto, true)),
        data_dir_exists: true,
        config_exists: true,
    };
    let plan = install_plan(&found, &request(&cfg));
    assert!(plan.contains(&Action::UpdateService));
    assert!(
        !plan.contains(&Action::CreateConfig),
        "an existing config is never rewritten"
    );
    assert!(!plan.contains(&Action::CreateService));
    assert!(
        !plan.iter().any(|a| matches!(
            a,
            Action::RecordW32Time(_) | Action::StopW32Time | Action::DisableW32Time
        )),
        "{plan:?}"
    );
    // Someone started W32Time again since: stopped and disabled again, record untouched.
    let found = Observed {
        w32time: Some(w32time(StartType::Demand, true)),
        ..found
    };
    let plan = install_plan(&found, &request(&cfg));
    assert!(plan.contains(&Action::StopW32Time));
    assert!(plan.contains(&Action::DisableW32Time));
    assert!(!plan.iter().any(|a| matches!(a, Action::RecordW32Time(_))));
}

#[test]
fn without_w32time_install_leaves_time_services_alone() {
    let plan = install_plan(&Observed::default(), &request(&Config::default()));
    assert!(!plan.iter().any(|a| matches!(
        a,
        Action::RecordW32Time(_) | Action::StopW32Time | Action::DisableW32Time
    )));
}

#[test]
fn uninstall_stops_removes_and_restores_w32time_as_recorded() {
    let found = Observed {
        service: Some(FoundService { running: true }),
        w32time: Some(w32time(StartType::Disabled, false)),
        w32time_record: Some(w32time(StartType::Auto, true)),
        data_dir_exists: true,
        config_exists: true,
    };
    let plan = uninstall_plan(&found, false);
    let mut expected = vec![Action::StopService, Action::DeleteService];
    expected.extend(RULE_NAMES.iter().map(|n| Action::DeleteFirewallRule(n)));
    expected.extend([
        Action::RestoreW32Time(w32time(StartType::Auto, true)),
        Action::ForgetW32Time,
        Action::DeregisterEventSource,
    ]);
    assert_eq!(plan, expected, "config and state are kept without --purge");

    let purged = uninstall_plan(&found, true);
    assert_eq!(purged.last(), Some(&Action::PurgeDataDir));
    assert!(!purged.contains(&Action::ForgetW32Time), "purge removes it");
}

#[test]
fn a_second_uninstall_only_repeats_what_is_harmless() {
    // As the first uninstall left it: no service, no record, W32Time back.
    let found = Observed {
        w32time: Some(w32time(StartType::Auto, true)),
        data_dir_exists: true,
        ..Observed::default()
    };
    let plan = uninstall_plan(&found, false);
    assert!(plan.iter().all(|a| matches!(
        a,
        Action::DeleteFirewallRule(_) | Action::DeregisterEventSource
    )));
    assert!(!plan.iter().any(|a| matches!(a, Action::RestoreW32Time(_))));
}

#[test]
fn the_w32time_record_round_trips_as_json() {
    let r = w32time(StartType::Demand, true);
    let text = r.to_json();
    assert_eq!(
        text,
        "{\n  \"start_type\": \"demand\",\n  \"running\": true\n}\n"
    );
    assert_eq!(W32TimeRecord::from_json(&text).unwrap(), r);
    let e = W32TimeRecord::from_json("{\"start_type\": \"sometimes\"}").unwrap_err();
    assert!(
        e.starts_with("w32time-before.json: unknown variant `sometimes`"),
        "{e}"
    );
}

#[test]
fn a_delayed_automatic_start_is_recorded_and_restored_as_such() {
    let r = w32time(StartType::DelayedAuto, true);
    assert_eq!(
        r.to_json(),
        "{\n  \"start_type\": \"delayed-auto\",\n  \"running\": true\n}\n"
    );
    assert_eq!(StartType::DelayedAuto.sc_name(), "delayed-auto");
    assert_eq!(
        Action::RestoreW32Time(r).describe(),
        "W32Time restored: automatic (delayed start), started"
    );
}

#[test]
fn every_action_says_what_it_did() {
    assert_eq!(
        Action::RestoreW32Time(w32time(StartType::Demand, true)).describe(),
        "W32Time restored: manual, started"
    );
    assert_eq!(
        Action::AddFirewallRule(firewall_rules(&Config::default())[0].clone()).describe(),
        "firewall rule \"DanteSync PTP\": inbound UDP 319,320"
    );
}

#[test]
fn only_recovery_and_the_event_source_may_fail_without_stopping_the_install() {
    let plan = install_plan(
        &Observed {
            w32time: Some(w32time(StartType::Auto, true)),
            ..Observed::default()
        },
        &request(&Config::default()),
    );
    let optional: Vec<&Action> = plan.iter().filter(|a| a.is_optional()).collect();
    assert_eq!(
        optional,
        [&Action::RegisterEventSource, &Action::SetRecovery]
    );
}

#[test]
fn a_missing_config_gets_the_starter_which_loads_as_ptp_only_defaults() {
    let plan = install_plan(&Observed::default(), &request(&Config::default()));
    assert_eq!(plan[..2], [Action::PrepareDataDir, Action::CreateConfig]);
    let path = Path::new(r"C:\ProgramData\DanteSync\config.json");
    let cfg = crate::config::parse(STARTER_CONFIG.as_bytes(), path).unwrap();
    assert!(cfg.ntp_servers.is_empty());
    assert_eq!(cfg.interface, None);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(firewall_rules(&cfg), firewall_rules(&Config::default()));
}
