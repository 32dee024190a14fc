//! `dantesync gm-sim`'s packets on loopback, received on real UDP sockets, parsed with the
//! project's codec and compared byte for byte and through tshark with the first Sync and
//! Follow_Up of a real Dante leader (a Focusrite RedNet AM2).
//!
//! Every run has a hard time limit and the child is killed if a test fails; all traffic is
//! to 127.0.0.1.

mod support;

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;

use dantesync_core::wire::ptpv1::{Flags, Message, Uuid};

use support::gm_sim::tshark::UdpPacket;
use support::gm_sim::*;

#[test]
fn sends_the_real_leaders_sync_and_follow_up_but_for_ids_and_times() {
    let sim = Sim::start(&["--count", "8"]);
    let (event_port, general_port) = (sim.event.port, sim.general.port);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(
        outcome.banner().contains(&format!(
            "sends Sync to 127.0.0.1:{event_port} (TOS 0xe0) and Follow_Up to \
             127.0.0.1:{general_port} (TOS 0xb8)"
        )),
        "{}",
        outcome.banner()
    );
    assert!(
        summary.contains("sent 8 Syncs and 8 Follow_Ups (sequence ids 2796..=2803)"),
        "{summary}"
    );
    assert!(summary.contains("stopped by --count"), "{summary}");

    let pairs = pairs(&outcome);
    let sequence_ids: Vec<u16> = pairs.iter().map(Pair::sequence_id).collect();
    assert_eq!(sequence_ids, (2796..=2803).collect::<Vec<u16>>());

    let (real_sync, real_follow_up) = real_first_pair();
    for pair in &pairs {
        let (sync, follow_up) = (&pair.sync, &pair.follow_up);
        // Byte for byte the AM2's messages, once its ids and times are swapped in.
        assert_eq!(
            sync.datagram.bytes,
            real_sync_as(
                &real_sync.payload,
                pair.sequence_id(),
                sync.body.origin_timestamp,
                DEFAULT_UUID
            ),
            "Sync {}",
            pair.sequence_id()
        );
        assert_eq!(
            follow_up.datagram.bytes,
            real_follow_up_as(
                &real_follow_up.payload,
                pair.sequence_id(),
                follow_up.body.precise_origin_timestamp,
                DEFAULT_UUID
            ),
            "Follow_Up {}",
            pair.sequence_id()
        );
        // The same, said field by field.
        assert_eq!(sync.datagram.bytes.len(), 124);
        assert_eq!(follow_up.datagram.bytes.len(), 52);
        assert_eq!(sync.header.flags, Flags(0x000c));
        assert_eq!(follow_up.header.flags, Flags(0x000c));
        assert_eq!(sync.header.source_uuid, DEFAULT_UUID);
        assert_eq!(sync.body.grandmaster_clock_stratum, 153);
        assert_eq!(sync.body.grandmaster_clock_variance, 28768);
        assert_eq!(&sync.body.grandmaster_clock_identifier, b"DFLT");
        assert!(!sync.body.grandmaster_preferred);
        assert_eq!(sync.body.sync_interval, -2);
        assert_eq!(sync.datagram.bytes[82..84], [0xff, 0xfe]);
        assert_eq!(
            (sync.body.epoch_number, sync.body.current_utc_offset),
            (0, 0)
        );
        assert!(!sync.body.utc_reasonable);
        // Ephemeral source ports, one socket per class; TOS and TTL as Dante sends them.
        assert_eq!(sync.datagram.from.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(sync.datagram.from.port(), event_port);
        assert_ne!(sync.datagram.from.port(), follow_up.datagram.from.port());
        if cfg!(target_os = "linux") {
            assert_eq!(sync.datagram.tos, Some(0xe0), "Sync TOS");
            assert_eq!(follow_up.datagram.tos, Some(0xb8), "Follow_Up TOS");
            assert_eq!(sync.datagram.ttl, Some(1), "Sync TTL");
            assert_eq!(follow_up.datagram.ttl, Some(1), "Follow_Up TTL");
        }
        // The Sync's own time is read before the precise one, and not long before.
        let early = pair.t1() - sync.body.origin_timestamp.to_nanos();
        assert!(
            (0..2_000_000).contains(&early),
            "Sync {} origin is {early} ns before its T1",
            pair.sequence_id()
        );
    }
    // Uptime from 699 s, Sync k due k × 250 ms later: never early, and late only by the
    // scheduling of this machine (a wrong interval would be off by 125 ms or more).
    for (k, pair) in pairs.iter().enumerate() {
        let late = pair.t1() - 699 * NS_PER_S - k as i128 * 250_000_000;
        assert!(
            (0..100_000_000).contains(&late),
            "Sync {k} is {late} ns late for its 250 ms slot"
        );
        if cfg!(target_os = "linux") {
            assert!(pair.sync.datagram.kernel_ns.is_some(), "no SO_TIMESTAMPNS");
        }
    }
}

#[test]
fn options_set_identity_quality_interval_and_wrapping_sequence_ids() {
    let uuid = Uuid([0x02, 0x00, 0x5e, 0x10, 0x00, 0x2a]);
    let sim = Sim::start(&[
        "--uuid",
        "02:00:5e:10:00:2a",
        "--stratum",
        "99",
        "--variance",
        "-4000",
        "--preferred",
        "--sync-interval-log2",
        "-4",
        "--uptime-start-s",
        "12345.5",
        "--first-sequence-id",
        "65534",
        "--count",
        "4",
    ]);
    // A positive interval at the same time: byte 82 is then 0.
    let slow = Sim::start(&["--sync-interval-log2", "0", "--count", "2"]);
    let outcome = sim.finish();
    outcome.summary();
    let pairs = pairs(&outcome);
    let sequence_ids: Vec<u16> = pairs.iter().map(Pair::sequence_id).collect();
    assert_eq!(sequence_ids, [65534, 65535, 0, 1]);
    for pair in &pairs {
        let (header, body) = (&pair.sync.header, &pair.sync.body);
        assert_eq!(header.source_uuid, uuid);
        assert_eq!(pair.follow_up.header.source_uuid, uuid);
        assert_eq!(body.grandmaster_clock_uuid, uuid);
        assert_eq!(body.parent_uuid, uuid);
        assert_eq!(
            (body.grandmaster_clock_stratum, body.local_clock_stratum),
            (99, 99)
        );
        assert_eq!(
            (body.grandmaster_clock_variance, body.local_clock_variance),
            (-4000, -4000)
        );
        assert!(body.grandmaster_preferred);
        assert_eq!(body.sync_interval, -4);
        assert_eq!(pair.sync.datagram.bytes[82..84], [0xff, 0xfc]);
        assert_eq!(header.flags, Flags(0x000c));
    }
    let first = pairs[0].t1();
    assert!(
        (12_345_500_000_000..12_345_550_000_000).contains(&first),
        "first T1 {first} ns"
    );
    // Sync k is due k × 62.5 ms after the uptime read 12345.5 s.
    let late = pairs[3].t1() - 12_345_500_000_000 - 3 * 62_500_000;
    assert!(
        (0..50_000_000).contains(&late),
        "the 4th Sync is {late} ns late"
    );

    let slow = slow.finish();
    slow.summary();
    let pairs = self::pairs(&slow);
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].sync.body.sync_interval, 0);
    assert_eq!(pairs[0].sync.datagram.bytes[82..84], [0, 0]);
    let late = pairs[1].t1() - 699 * NS_PER_S - NS_PER_S;
    assert!(
        (0..200_000_000).contains(&late),
        "the 2nd Sync is {late} ns late"
    );
}

#[test]
fn tshark_decodes_gm_sim_like_the_real_leader() {
    let _timing = timing_lock();
    let delay_req_port = free_port();
    let port_text = delay_req_port.to_string();
    let sim = Sim::start(&["--duration-s", "1", "--delay-req-port", &port_text]);
    sim.wait_for_general(1);
    let follower = UdpSocket::bind("127.0.0.1:0").unwrap();
    send_delay_req(&follower, delay_req_port, 4242);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(summary.contains("answered 1 Delay_Req in"), "{summary}");
    let pairs = pairs(&outcome);
    let (sync, follow_up) = (&pairs[0].sync, &pairs[0].follow_up);
    let (delay_resp, _, _) = parse_delay_resps(&outcome.general)
        .into_iter()
        .next()
        .expect("a Delay_Resp");
    let (real_sync, real_follow_up) = real_first_pair();
    // The same UDP ports as the real leader's, so only the payloads differ.
    let as_real = |real: &UdpPacket, payload: &[u8]| UdpPacket {
        src_port: real.src_port,
        dst_port: real.dst_port,
        payload: payload.to_vec(),
    };
    let ours = [
        as_real(&real_sync, &sync.datagram.bytes),
        as_real(&real_follow_up, &follow_up.datagram.bytes),
        as_real(&real_follow_up, &delay_resp.bytes),
    ];
    let Some(malformed) = tshark::malformed_count(&ours) else {
        return; // DANTESYNC_SKIP_TSHARK=1 and no tshark: the harness said so.
    };
    assert_eq!(malformed, 0);
    assert_eq!(tshark::problems(&ours), Some(Vec::new()));

    // Every PTPv1 field Wireshark knows, but the ones that must differ.
    let listing = Command::new("tshark")
        .args(["-G", "fields"])
        .output()
        .expect("tshark -G fields");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let all: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split('\t').nth(2))
        .filter(|name| name.starts_with("ptp.") && !name.starts_with("ptp.v2."))
        .collect();
    let compared: Vec<&str> = all
        .iter()
        .copied()
        .filter(|f| !f.contains("sequenceid") && !f.contains("timestamp") && !f.contains("uuid"))
        .collect();
    assert!(compared.len() > 40, "{compared:?}");
    let packets = [
        real_sync.clone(),
        real_follow_up.clone(),
        ours[0].clone(),
        ours[1].clone(),
    ];
    let rows = tshark::decode(&packets, "ptp", &compared).unwrap();
    assert_eq!(rows.len(), 4);
    let differing = |real: &[String], sim: &[String]| -> Vec<String> {
        compared
            .iter()
            .zip(real.iter().zip(sim))
            .filter(|(_, (r, s))| r != s)
            .map(|(f, (r, s))| format!("{f}: real {r:?}, gm-sim {s:?}"))
            .collect()
    };
    assert_eq!(differing(&rows[0], &rows[2]), Vec::<String>::new(), "Sync");
    assert_eq!(
        differing(&rows[1], &rows[3]),
        Vec::<String>::new(),
        "Follow_Up"
    );
    // And the comparison was about something: the values Dante is known by.
    let sync_fields: HashMap<&str, &str> = compared
        .iter()
        .copied()
        .zip(rows[2].iter().map(String::as_str))
        .collect();
    for (field, want) in [
        ("ptp.versionptp", "1"),
        ("ptp.subdomain", "_DFLT"),
        ("ptp.controlfield", "0"),
        ("ptp.flags", "0x000c"),
        ("ptp.flags.assist", "1"),
        ("ptp.flags.boundary_clock", "1"),
        ("ptp.sdr.grandmasterclockstratum", "153"),
        ("ptp.sdr.grandmasterclockidentifier", "DFLT"),
        ("ptp.sdr.grandmasterclockvariance", "28768"),
        ("ptp.sdr.syncinterval", "-2"),
        ("ptp.sdr.utcreasonable", "0"),
    ] {
        assert_eq!(sync_fields[field], want, "{field}");
    }

    // The fields that differ say what gm-sim put there.
    let varying = [
        "ptp.sequenceid",
        "ptp.sourceuuid",
        "ptp.sdr.origintimestamp",
        "ptp.sdr.grandmasterclockuuid",
        "ptp.sdr.grandmastersequenceid",
        "ptp.sdr.parentuuid",
        "ptp.fu.associatedsequenceid",
        "ptp.fu.preciseorigintimestamp",
        "ptp.dr.delayreceipttimestamp",
        "ptp.dr.requestingsourceuuid",
        "ptp.dr.requestingsourceportid",
        "ptp.dr.requestingsourcesequenceid",
    ];
    let rows = tshark::decode(&ours, "ptp", &varying).unwrap();
    let seq = pairs[0].sequence_id().to_string();
    let t1 = follow_up.body.precise_origin_timestamp.to_string();
    let origin = sync.body.origin_timestamp.to_string();
    let Ok(Message::DelayResp(_, response)) = Message::parse(&delay_resp.bytes) else {
        unreachable!()
    };
    let t4 = response.delay_receipt_timestamp.to_string();
    let uuid = DEFAULT_UUID.to_string();
    let follower = FOLLOWER.to_string();
    let want: [[&str; 12]; 3] = [
        [
            &seq, &uuid, &origin, &uuid, &seq, &uuid, "", "", "", "", "", "",
        ],
        [&seq, &uuid, "", "", "", "", &seq, &t1, "", "", "", ""],
        [
            "0", &uuid, "", "", "", "", "", "", &t4, &follower, "1", "4242",
        ],
    ];
    for (row, want) in rows.iter().zip(want) {
        assert_eq!(row, &want.map(str::to_owned).to_vec());
    }
}
