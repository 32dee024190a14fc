//! The tests of `print.rs`: the JSON and the table, against docs/query-api.md.
use super::doc_tables::{quoted, Table};
use super::*;
use dantesync_core::controller::FleetState;
use dantesync_core::fleet::{DSource, SyncMode};
use dantesync_core::path_delay::PathDelayState;
use dantesync_core::wire::query::{
    text_field, AccumulatedPhase, Coded, Exchange, ExtendedLeader, ExtendedSyncMode, ReplyFlags,
};
use dantesync_core::Mode;
use std::collections::BTreeSet;

const QUERY_API: &str = include_str!("../../../../docs/query-api.md");

fn reply(mode: Mode, flags: u32) -> ExtendedReply {
    ExtendedReply {
        base: QueryReply {
            request_id: 1,
            system_time_ns: 2_000_000_000_000,
            monotonic_counter: 0,
            ptp_offset_ns: 0,
            drift_rate_ppb: 0,
            frequency_adjustment_ppb: -50_000,
            mode,
            is_locked: mode.is_locked(),
            grandmaster_uuid: [0, 0x1d, 0xc1, 0, 0x53, 1],
            monotonic_frequency_hz: 1_000_000_000,
            last_ntp_offset_us: 0,
            accumulated_phase: AccumulatedPhase::ZERO,
            flags: ReplyFlags::default(),
        },
        version: 1,
        flags: ExtendedFlags(flags),
        request_rx_ns: 0,
        client_tx: 0,
        reply_tx_ns: 2_000_000_000_000,
        drift_ppt: Some(12_000),
        drift_sigma_ppt: None,
        error_bound_ppt: Some(250_000),
        natural_rate_ppt: None,
        applied_ppt: -50_000_000,
        slew_ppt: 0,
        noise_ns: None,
        leader: ExtendedLeader {
            sender_uuid: [0, 0x1d, 0xc1, 0, 0x53, 1],
            sender_port: 1,
            grandmaster_uuid: [0, 0x1d, 0xc1, 0, 0x53, 1],
            sync_interval_log2: -2,
            stratum: 153,
            variance: 28768,
            identifier: *b"DFLT",
        },
        ntp_offset_ns: Some(-1_500),
        ntp_delay_ns: Some(300_000),
        ntp_at_ns: 1_990_000_000_000,
        last_correction_ns: 0,
        ntp_corrections: 0,
        accumulated_phase_ns: 0,
        ntp_interval_ms: 64_000,
        window_samples: 100,
        uptime_ns: 3_725_000_000_000,
        ptp_received: 0,
        ptp_samples: 0,
        leader_changes: 0,
        query_answered: 0,
        query_dropped: 0,
        query_rate_limited: 0,
        software_version: text_field("9.9.9"),
        ntp_server: text_field("10.0.0.1"),
        health: None,
        sync_mode: None,
    }
}

fn answer(r: ExtendedReply) -> Answer {
    Answer::Extended {
        reply: Box::new(r),
        exchange: Exchange {
            offset_ns: 37_000_500,
            delay_ns: 42_000,
        },
        addr: "127.0.0.1:31900".parse().unwrap(),
    }
}

#[test]
fn json_carries_the_fields_in_natural_units() {
    let a = answer(reply(
        Mode::Nano,
        ExtendedFlags::LEADER | ExtendedFlags::LEADER_QUALITY | ExtendedFlags::PTP_RX_KERNEL,
    ));
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["mode"], "NANO");
    assert_eq!(v["locked"], true);
    assert_eq!(v["drift_ppm"], 0.012);
    assert_eq!(v["drift_sigma_ppm"], Value::Null);
    assert_eq!(v["error_bound_ppm"], 0.25);
    assert_eq!(v["applied_ppm"], -50.0);
    assert_eq!(v["leader"]["uuid"], "00:1d:c1:00:53:01");
    assert_eq!(v["leader"]["identifier"], "DFLT");
    assert_eq!(v["ntp"]["server"], "10.0.0.1");
    assert_eq!(v["ntp"]["offset_us"], -1.5);
    assert_eq!(v["ntp"]["age_s"], 10.0);
    assert_eq!(v["ntp"]["last_correction_age_s"], Value::Null);
    assert_eq!(v["uptime_s"], 3725.0);
    assert_eq!(v["timestamping"]["ptp"], "kernel");
    assert_eq!(v["timestamping"]["query_rx"], "user-space");
    assert_eq!(v["exchange"]["offset_us"], 37_000.5);
    assert_eq!(v["version"], "9.9.9");
}

#[test]
fn no_leader_and_ptp_only_show_as_such() {
    let a = answer(reply(Mode::Acq, ExtendedFlags::PTP_ONLY));
    let v: Value = serde_json::from_str(&json("node", 1, &a)).unwrap();
    assert_eq!(v["leader"], Value::Null);
    assert_eq!(v["ntp"]["server"], Value::Null);
    assert_eq!(v["locked"], false);
    let t = text("node", &a);
    assert!(t.contains("Leader            : none"), "{t}");
    assert!(t.contains("NTP server        : none (PTP-only)"), "{t}");
    assert!(t.contains("Mode              : ACQ (not locked)"), "{t}");
    assert!(t.contains("Uptime            : 1 h 02 min 05 s"), "{t}");
    assert!(t.contains("node offset +37000.5 µs"), "{t}");
}

/// Every leaf of a JSON object, as dot-separated paths.
fn leaves(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The keys named in the `--json` column of a table of docs/query-api.md.
fn documented(t: &Table) -> BTreeSet<String> {
    let col = t.column("in `dantesync status --json`");
    t.rows
        .values()
        .flat_map(|r| quoted(&r[col]))
        .map(str::to_owned)
        .collect()
}

#[test]
fn json_shows_every_documented_slot_and_every_key_is_documented() {
    let compact_doc = documented(&Table::after(QUERY_API, "Reply, 64 bytes:"));
    let mut extended_doc = documented(&Table::after(QUERY_API, "### Reply, version 1"));
    extended_doc.extend(documented(&Table::after(QUERY_API, "Flags (offset 68):")));
    assert!(compact_doc.len() >= 8 && extended_doc.len() >= 40);
    // What the command adds itself: not read from the reply.
    let own = ["host", "port", "address", "reachable", "extended"].map(String::from);

    let r = reply(
        Mode::Lock,
        ExtendedFlags::LEADER
            | ExtendedFlags::LEADER_QUALITY
            | ExtendedFlags::LEADER_PREFERRED
            | ExtendedFlags::PTP_RX_KERNEL,
    );
    let compact = Answer::Compact {
        reply: r.base,
        addr: "127.0.0.1:31900".parse().unwrap(),
    };
    for (answer, doc, also) in [
        (answer(r), &extended_doc, &compact_doc),
        (compact, &compact_doc, &BTreeSet::new()),
    ] {
        let v: Value = serde_json::from_str(&json("node", 31900, &answer)).unwrap();
        for key in doc {
            let found = key
                .split('.')
                .try_fold(&v, |v, k| v.as_object()?.get(k))
                .is_some();
            assert!(found, "docs/query-api.md names `{key}`, missing from {v}");
        }
        let mut shown = BTreeSet::new();
        leaves(&v, "", &mut shown);
        for key in shown {
            assert!(
                doc.contains(&key) || also.contains(&key) || own.contains(&key),
                "`{key}` of `dantesync status --json` has no row in docs/query-api.md"
            );
        }
    }
}

fn with_health(mut r: ExtendedReply) -> ExtendedReply {
    use dantesync_core::wire::query::{ExtendedHealth, KernelSync, LeapPending};
    r.version = 2;
    r.health = Some(ExtendedHealth {
        since_last_ptp_ns: Some(180_000_000),
        ptp_packets_per_s_milli: Some(8_000),
        external_steps: 2,
        clock_interference: 3,
        leap_pending: LeapPending::Insert,
        kernel_sync: KernelSync::Synchronised,
    });
    r
}

#[test]
fn version_2_shows_whether_the_node_can_be_trusted_now() {
    let a = answer(with_health(reply(Mode::Lock, ExtendedFlags::LEADER)));
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["query_version"], 2);
    assert_eq!(v["since_last_ptp_packet_s"], 0.18);
    assert_eq!(v["ptp_packets_per_s"], 8.0);
    assert_eq!(v["leap_pending"], "insert");
    assert_eq!(v["kernel_synchronised"], true);
    assert_eq!(v["counters"]["external_steps"], 2);
    assert_eq!(v["counters"]["clock_interference"], 3);
    let t = text("node", &a);
    for want in [
        "Last PTP datagram : 0.18 s ago, 8.0 per second over the last 10 s",
        "Kernel sync       : synchronised (STA_UNSYNC clear)",
        "Leap second       : insert at the end of this month (23:59:60)",
        "Clock events      : 2 external steps (someone else stepped the clock), 3 interference",
    ] {
        assert!(t.contains(want), "{want:?} not in\n{t}");
    }
}

#[test]
fn an_older_node_answering_in_version_1_shows_them_as_unknown_not_zero() {
    let a = answer(reply(Mode::Lock, ExtendedFlags::LEADER));
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["query_version"], 1);
    for key in [
        "since_last_ptp_packet_s",
        "ptp_packets_per_s",
        "leap_pending",
        "kernel_synchronised",
    ] {
        assert_eq!(v[key], Value::Null, "{key}");
    }
    assert_eq!(v["counters"]["external_steps"], Value::Null);
    assert_eq!(v["counters"]["clock_interference"], Value::Null);
    let t = text("node", &a);
    for name in [
        "Last PTP datagram",
        "Kernel sync",
        "Leap second",
        "Clock events",
    ] {
        let want = format!("{name:<18}: unknown (the node answers in query version 1");
        assert!(t.contains(&want), "{want:?} not in\n{t}");
    }
    // A node of today with a simulated clock and no PTP yet says so rather than "unknown".
    let mut r = with_health(reply(Mode::Init, 0));
    r.health = Some(dantesync_core::wire::query::ExtendedHealth::default());
    let t = text("node", &answer(r));
    assert!(t.contains("Last PTP datagram : none received yet"), "{t}");
    assert!(t.contains("Kernel sync       : not applicable"), "{t}");
    assert!(t.contains("Leap second       : none announced"), "{t}");
}

/// `r` as a node of today answers: version 3, with `m` as its sync mode fields.
fn with_sync_mode(r: ExtendedReply, m: ExtendedSyncMode) -> ExtendedReply {
    let mut r = with_health(r);
    r.version = 3;
    r.sync_mode = Some(m);
    r
}

fn tracking() -> ExtendedSyncMode {
    ExtendedSyncMode {
        sync_mode: Coded::Known(SyncMode::Fleet),
        fleet_state: Coded::Known(FleetState::Tracking),
        path_delay_state: Coded::Known(PathDelayState::Ok),
        d_source: Coded::Known(None),
        d_epoch: Some(7),
        d_ns: Some(1_785_000_000_123_456_789),
        d_age_ns: Some(2_500_000_000),
        path_delay_ns: Some(45_200),
        phase_error_ns: Some(-1_500),
    }
}

fn line_of<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    let head = format!("{name:<18}: ");
    t.lines().find_map(|l| l.strip_prefix(head.as_str()))
}

#[test]
fn a_classic_node_says_classic_and_nothing_of_the_fleet() {
    let a = answer(with_sync_mode(
        reply(Mode::Nano, ExtendedFlags::LEADER),
        ExtendedSyncMode::default(),
    ));
    let t = text("node", &a);
    assert_eq!(
        line_of(&t, "Sync mode"),
        Some("classic (NTP sets the time)"),
        "{t}"
    );
    for name in ["Fleet D", "Path delay", "Phase error"] {
        assert_eq!(line_of(&t, name), None, "{t}");
    }
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["query_version"], 3);
    assert_eq!(v["sync_mode"], "classic");
    assert_eq!(v["fleet"]["state"], "off");
    assert_eq!(v["path_delay"]["state"], "off");
    for key in ["d_ns", "epoch", "d_age_s", "d_source", "phase_error_ns"] {
        assert_eq!(v["fleet"][key], Value::Null, "{key}");
    }
}

#[test]
fn a_fleet_node_shows_its_state_d_path_delay_and_phase_error() {
    let a = answer(with_sync_mode(
        reply(Mode::Nano, ExtendedFlags::LEADER),
        tracking(),
    ));
    let t = text("node", &a);
    for (name, want) in [
        (
            "Sync mode",
            "fleet, tracking (phase-locked to leader + D + path delay)",
        ),
        (
            "Fleet D",
            "1785000000.123456789 s (UTC − leader time), epoch 7, heard 2.5 s ago",
        ),
        ("Path delay", "45.2 µs"),
        ("Phase error", "-1.5 µs to leader + D + path delay"),
    ] {
        assert_eq!(line_of(&t, name), Some(want), "{name} in\n{t}");
    }
    // Right under the mode.
    let names: Vec<&str> = t.lines().map(|l| l[..18].trim_end()).collect();
    let at = names.iter().position(|&n| n == "Mode").unwrap();
    assert_eq!(
        names[at..at + 5],
        ["Mode", "Sync mode", "Fleet D", "Path delay", "Phase error"]
    );
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["sync_mode"], "fleet");
    assert_eq!(v["fleet"]["state"], "tracking");
    assert_eq!(v["fleet"]["d_ns"], 1_785_000_000_123_456_789_i64);
    assert_eq!(v["fleet"]["epoch"], 7);
    assert_eq!(v["fleet"]["d_age_s"], 2.5);
    assert_eq!(v["fleet"]["d_source"], Value::Null);
    assert_eq!(v["fleet"]["phase_error_ns"], -1500);
    assert_eq!(v["path_delay"]["state"], "ok");
    assert_eq!(v["path_delay"]["delay_ns"], 45_200);
}

#[test]
fn a_fleet_node_still_waiting_or_measuring_says_so() {
    // The authority itself: D's source is its own; not yet announced to this node's loop.
    let m = ExtendedSyncMode {
        fleet_state: Coded::Known(FleetState::Waiting),
        path_delay_state: Coded::Known(PathDelayState::Measuring),
        d_source: Coded::Known(Some(DSource::Persisted)),
        d_epoch: None,
        d_ns: None,
        d_age_ns: None,
        path_delay_ns: None,
        phase_error_ns: None,
        ..tracking()
    };
    let a = answer(with_sync_mode(reply(Mode::Acq, 0), m));
    let t = text("node", &a);
    for (name, want) in [
        (
            "Sync mode",
            "fleet, waiting (no announcement of D yet: NTP sets the time)",
        ),
        ("Fleet D", "none yet, source persisted"),
        ("Path delay", "measuring (0 used)"),
        ("Phase error", "none (only while tracking or holding)"),
    ] {
        assert_eq!(line_of(&t, name), Some(want), "{name} in\n{t}");
    }
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["fleet"]["state"], "waiting");
    assert_eq!(v["fleet"]["d_source"], "persisted");
    assert_eq!(v["path_delay"]["state"], "measuring");
    assert_eq!(v["path_delay"]["delay_ns"], Value::Null);
    // Unanswered Delay_Reqs, and codes of a newer node.
    let m = ExtendedSyncMode {
        fleet_state: Coded::Unknown(9),
        path_delay_state: Coded::Known(PathDelayState::Unanswered),
        path_delay_ns: None,
        ..tracking()
    };
    let a = answer(with_sync_mode(reply(Mode::Lock, 0), m));
    let t = text("node", &a);
    assert_eq!(
        line_of(&t, "Sync mode"),
        Some("fleet, unknown state (code 9)")
    );
    assert_eq!(line_of(&t, "Path delay"), Some("unanswered (0 used)"));
    let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
    assert_eq!(v["fleet"]["state"], "unknown");
}

#[test]
fn a_node_answering_in_version_2_shows_the_sync_mode_as_unknown_not_classic() {
    for r in [with_health(reply(Mode::Lock, 0)), reply(Mode::Lock, 0)] {
        let version = r.version;
        let a = answer(r);
        let t = text("node", &a);
        let want =
            format!("unknown (the node answers in query version {version}: an older dantesync)");
        assert_eq!(line_of(&t, "Sync mode"), Some(want.as_str()), "{t}");
        assert_eq!(line_of(&t, "Fleet D"), None, "{t}");
        let v: Value = serde_json::from_str(&json("node", 31900, &a)).unwrap();
        assert_eq!(v["sync_mode"], Value::Null);
        assert_eq!(v["fleet"]["state"], Value::Null);
        assert_eq!(v["path_delay"]["delay_ns"], Value::Null);
    }
}
