//! The PTPv1 codec against traffic nobody on this team wrote: a real Dante leader (Focusrite
//! RedNet AM2, shared/captures/inferno-fpga), ptpd 1.1.0 as master and slave
//! (shared/fixtures/ptpv1), and every PTPv2 capture we have, which must all be refused.
//! Expected values were read off the raw bytes and cross-checked with tshark.

use std::collections::HashMap;

use dantesync_core::wire::ptpv1::{
    is_ptpv1, Control, Flags, Message, ParseError, Subdomain, SyncBody, Timestamp, Uuid,
    EVENT_PORT, GENERAL_PORT,
};
use dantesync_pcap::Datagram;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

const AM2: Uuid = Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);
const PTPD_MASTER: Uuid = Uuid([0x7a, 0x03, 0x56, 0x48, 0x88, 0xcf]);
const PTPD_SLAVE: Uuid = Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f]);

fn udp(relative: &str) -> Vec<Datagram> {
    let path = format!("{SHARED}/{relative}");
    dantesync_pcap::read_udp(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses every datagram and checks it re-serialises to exactly the bytes it came from.
fn parse_all(datagrams: &[Datagram]) -> Vec<Message> {
    datagrams
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let message =
                Message::parse(&d.payload).unwrap_or_else(|e| panic!("datagram {i}: {e}"));
            assert_eq!(
                message.to_bytes(),
                d.payload,
                "datagram {i} does not round-trip"
            );
            message
        })
        .collect()
}

fn count(messages: &[Message], control: Control) -> usize {
    messages.iter().filter(|m| m.control() == control).count()
}

#[test]
fn dante_leader_capture_parses_and_round_trips() {
    let datagrams = udp("captures/inferno-fpga/dante_ptpv1.pcap");
    assert_eq!(datagrams.len(), 116);
    let messages = parse_all(&datagrams);
    assert_eq!(count(&messages, Control::Sync), 58);
    assert_eq!(count(&messages, Control::FollowUp), 58);

    for (datagram, message) in datagrams.iter().zip(&messages) {
        let header = message.header();
        assert_eq!(header.version_network, 1);
        assert_eq!(header.subdomain, Subdomain::DEFAULT);
        assert_eq!(header.subdomain.as_str(), "_DFLT");
        assert_eq!(header.source_communication_technology, 1);
        assert_eq!(header.source_uuid, AM2);
        assert_eq!(header.source_port_id, 1);
        assert_eq!(header.flags, Flags(0x000c));
        assert_eq!(header.flags, Flags::BOUNDARY_CLOCK | Flags::ASSIST);
        assert_eq!(header.reserved, [0; 5]);
        // Event messages to 319 from 49155, general ones to 320 from 49156.
        assert_eq!(datagram.dst.port(), message.control().udp_port());
        let src_port = if message.control().is_event() {
            49155
        } else {
            49156
        };
        assert_eq!(datagram.src.port(), src_port);
    }
}

/// Every Sync carries the same leader description; these are the values the best-master
/// choice sees from an ordinary (not Preferred) Dante leader.
#[test]
fn dante_sync_advertises_stratum_153_variance_28768_dflt() {
    let messages = parse_all(&udp("captures/inferno-fpga/dante_ptpv1.pcap"));
    let mut sequence_ids = Vec::new();
    for message in &messages {
        let Message::Sync(header, body) = message else {
            continue;
        };
        sequence_ids.push(header.sequence_id);
        assert_eq!(body.grandmaster_sequence_id, header.sequence_id);
        let mut reserved = [0u8; 26];
        reserved[SyncBody::SYNC_INTERVAL_HIGH_BYTE] = 0xff;
        let expected = SyncBody {
            origin_timestamp: body.origin_timestamp,
            epoch_number: 0,
            current_utc_offset: 0,
            grandmaster_communication_technology: 1,
            grandmaster_clock_uuid: AM2,
            grandmaster_port_id: 0,
            grandmaster_sequence_id: header.sequence_id,
            grandmaster_clock_stratum: 153,
            grandmaster_clock_identifier: *b"DFLT",
            grandmaster_clock_variance: 28768,
            grandmaster_preferred: false,
            grandmaster_is_boundary_clock: true,
            sync_interval: -2,
            local_clock_variance: 28768,
            local_steps_removed: 0,
            local_clock_stratum: 153,
            local_clock_identifier: *b"DFLT",
            parent_communication_technology: 1,
            parent_uuid: AM2,
            parent_port_field: 0,
            estimated_master_variance: 0,
            estimated_master_drift: 0,
            utc_reasonable: false,
            reserved,
            trailing: Vec::new(),
        };
        assert_eq!(body, &expected, "Sync {}", header.sequence_id);
    }
    assert_eq!(sequence_ids, (2724..=2781).collect::<Vec<u16>>());
}

#[test]
fn dante_follow_up_matches_its_sync_and_is_58_to_65_us_later() {
    let datagrams = udp("captures/inferno-fpga/dante_ptpv1.pcap");
    let messages = parse_all(&datagrams);
    let mut syncs: HashMap<u16, Timestamp> = HashMap::new();
    let mut gaps_ns = Vec::new();
    for message in &messages {
        match message {
            Message::Sync(header, body) => {
                syncs.insert(header.sequence_id, body.origin_timestamp);
            }
            Message::FollowUp(header, body) => {
                assert_eq!(body.associated_sequence_id, header.sequence_id);
                let sync_origin = syncs
                    .get(&body.associated_sequence_id)
                    .unwrap_or_else(|| panic!("Follow_Up {} before its Sync", header.sequence_id));
                gaps_ns.push(body.precise_origin_timestamp.to_nanos() - sync_origin.to_nanos());
                assert_eq!(body.reserved, [0, 0]);
            }
            other => panic!("unexpected {:?}", other.control()),
        }
    }
    assert_eq!(gaps_ns.len(), 58);
    // The Sync's own timestamp is early by tens of µs: T1 must come from the Follow_Up.
    assert_eq!(gaps_ns.iter().min(), Some(&58_062));
    assert_eq!(gaps_ns.iter().max(), Some(&64_962));

    let Message::FollowUp(_, first) = &messages[1] else {
        panic!("second datagram is not a Follow_Up");
    };
    assert_eq!(
        first.precise_origin_timestamp,
        Timestamp::new(699, 212_426_642)
    );
    let Message::FollowUp(_, last) = &messages[115] else {
        panic!("last datagram is not a Follow_Up");
    };
    assert_eq!(
        last.precise_origin_timestamp,
        Timestamp::new(713, 462_480_822)
    );
}

/// Least squares of the Sync arrival times (capture clock) against the Follow_Up T1 (leader
/// clock): the capture host ran 33.7 ppm slow against the AM2 with about 7 µs of jitter. This
/// checks that the codec pairs T1 with the right Sync; a wrong pairing shows as 250 ms jumps.
#[test]
fn dante_capture_host_ran_33_7_ppm_slow_against_the_leader() {
    let datagrams = udp("captures/inferno-fpga/dante_ptpv1.pcap");
    let messages = parse_all(&datagrams);
    let mut arrivals: HashMap<u16, i64> = HashMap::new();
    let mut points = Vec::new();
    for (datagram, message) in datagrams.iter().zip(&messages) {
        match message {
            Message::Sync(header, _) => {
                arrivals.insert(header.sequence_id, datagram.ts_nanos);
            }
            Message::FollowUp(_, body) => {
                let t2 = arrivals[&body.associated_sequence_id];
                let t1 = body.precise_origin_timestamp.to_nanos();
                points.push((t1 as f64 * 1e-9, t2 as f64 * 1e-9));
            }
            _ => unreachable!(),
        }
    }
    let (x0, y0) = points[0];
    let centred: Vec<(f64, f64)> = points.iter().map(|(x, y)| (x - x0, y - y0)).collect();
    let n = centred.len() as f64;
    let mean_x = centred.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = centred.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = centred
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let sxx: f64 = centred.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let slope = sxy / sxx;
    let ppm = (slope - 1.0) * 1e6;
    assert!((ppm - -33.72).abs() < 0.05, "rate {ppm} ppm");
    let residual_rms_us = (centred
        .iter()
        .map(|(x, y)| (y - mean_y - slope * (x - mean_x)).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
        * 1e6;
    assert!(
        (residual_rms_us - 6.82).abs() < 0.05,
        "jitter {residual_rms_us} µs"
    );
    let span = centred.last().unwrap().0;
    assert!((span - 14.25).abs() < 0.001, "span {span} s");
}

#[test]
fn ptpd_master_and_slave_exchange_parses_and_round_trips() {
    let datagrams = udp("fixtures/ptpv1/ptpd-1.1.0_master+slave_veth.pcapng");
    assert_eq!(datagrams.len(), 74);
    let messages = parse_all(&datagrams);
    assert_eq!(count(&messages, Control::Sync), 35);
    assert_eq!(count(&messages, Control::FollowUp), 35);
    assert_eq!(count(&messages, Control::DelayReq), 2);
    assert_eq!(count(&messages, Control::DelayResp), 2);
    assert_eq!(count(&messages, Control::Management), 0);

    for (datagram, message) in datagrams.iter().zip(&messages) {
        assert_eq!(datagram.dst.port(), message.control().udp_port());
        let header = message.header();
        assert_eq!(header.subdomain, Subdomain::DEFAULT);
        // ptpd 1.1.0 is two-step but not a boundary clock.
        assert_eq!(header.flags, Flags::ASSIST);
        let expected_source = if message.control() == Control::DelayReq {
            PTPD_SLAVE
        } else {
            PTPD_MASTER
        };
        assert_eq!(header.source_uuid, expected_source);
        if let Message::Sync(_, body) = message {
            assert_eq!(body.grandmaster_clock_uuid, PTPD_MASTER);
            assert_eq!(body.grandmaster_clock_stratum, 1);
            assert_eq!(&body.grandmaster_clock_identifier, b"DFLT");
            assert_eq!(body.grandmaster_clock_variance, -4000);
            // 0 = one Sync per second: no sign extension into byte 82 to keep.
            assert_eq!(body.sync_interval, 0);
            assert_eq!(body.reserved, [0; 26]);
        }
    }
}

#[test]
fn ptpd_delay_resp_names_the_delay_req_it_answers() {
    let datagrams = udp("fixtures/ptpv1/ptpd-1.1.0_master+slave_veth.pcapng");
    let messages = parse_all(&datagrams);
    let mut requests: HashMap<(Uuid, u16, u16), (usize, Timestamp)> = HashMap::new();
    let mut answered = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        match message {
            Message::DelayReq(header, body) => {
                assert_eq!(body.grandmaster_clock_uuid, PTPD_MASTER);
                assert_eq!(body.parent_uuid, PTPD_MASTER);
                assert_eq!(body.local_steps_removed, 1);
                requests.insert(
                    (
                        header.source_uuid,
                        header.source_port_id,
                        header.sequence_id,
                    ),
                    (i, body.origin_timestamp),
                );
            }
            Message::DelayResp(_, body) => {
                assert_eq!(body.requesting_source_communication_technology, 1);
                let key = (
                    body.requesting_source_uuid,
                    body.requesting_source_port_id,
                    body.requesting_source_sequence_id,
                );
                let (request_index, t3) = *requests
                    .get(&key)
                    .unwrap_or_else(|| panic!("Delay_Resp {i} answers no earlier Delay_Req"));
                assert!(request_index < i);
                // T4 (master receipt) − T3 (slave departure): the veth path delay plus the
                // offset the slave had not yet removed.
                let t4_minus_t3 = body.delay_receipt_timestamp.to_nanos() - t3.to_nanos();
                answered.push((key.2, t4_minus_t3));
            }
            _ => {}
        }
    }
    // ptpd 1.1.0 timestamps with gettimeofday, hence whole microseconds.
    assert_eq!(answered, [(1, 227_000), (2, 8_000)]);
}

#[test]
fn ptpd_follow_ups_follow_their_syncs() {
    let messages = parse_all(&udp("fixtures/ptpv1/ptpd-1.1.0_master+slave_veth.pcapng"));
    let mut last_sync = None;
    let mut pairs = 0;
    for message in &messages {
        match message {
            Message::Sync(header, _) => last_sync = Some(header.sequence_id),
            Message::FollowUp(_, body) => {
                assert_eq!(Some(body.associated_sequence_id), last_sync);
                pairs += 1;
            }
            _ => {}
        }
    }
    assert_eq!(pairs, 35);
}

/// PTPv2 over UDP (IPv4 and IPv6): the datagrams a Dante node also receives on 319/320 when
/// AES67-mode devices are on the network. Every one must be refused as version 2.
#[test]
fn every_ptpv2_udp_datagram_is_refused_as_version_2() {
    for (relative, expected) in [
        ("captures/tcpdump/ptp.pcap", 5),
        ("captures/tcpdump/ptp_corrections.pcap", 3),
        ("captures/ndpi/ptpv2.pcap", 14),
    ] {
        let datagrams = udp(relative);
        let ptp: Vec<_> = datagrams
            .iter()
            .filter(|d| [EVENT_PORT, GENERAL_PORT].contains(&d.dst.port()))
            .collect();
        assert_eq!(ptp.len(), expected, "{relative}");
        for d in ptp {
            assert_eq!(
                Message::parse(&d.payload),
                Err(ParseError::NotVersion1 { version: 2 }),
                "{relative}"
            );
            assert!(!is_ptpv1(&d.payload));
        }
    }
}

/// The Layer-2 PTPv2 captures carry no UDP; their PTP messages (EtherType 0x88F7) are taken
/// straight from the Ethernet frames. Includes 1588-2019 v2.1 (minorVersionPTP 1).
#[test]
fn every_ptpv2_ethernet_message_is_refused_as_version_2() {
    for (relative, expected) in [
        ("captures/tcpdump/ptp_ethernet.pcap", 205),
        ("captures/tcpdump/ptp_management.pcap", 10),
        ("captures/tcpdump/ptp_v2_1.pcap", 38),
    ] {
        let path = format!("{SHARED}/{relative}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let payloads = ethernet_ptp_payloads(&bytes);
        assert_eq!(payloads.len(), expected, "{relative}");
        for payload in payloads {
            assert_eq!(
                Message::parse(payload),
                Err(ParseError::NotVersion1 { version: 2 }),
                "{relative}"
            );
        }
    }
}

/// PTP payloads (EtherType 0x88F7, after any 802.1Q tags) of a classic Ethernet pcap.
fn ethernet_ptp_payloads(file: &[u8]) -> Vec<&[u8]> {
    const ETHERTYPE_PTP: u16 = 0x88f7;
    const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];
    let magic = &file[..4];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a classic pcap: {magic:02x?}"),
    };
    let u32_at = |off: usize| {
        let b = [file[off], file[off + 1], file[off + 2], file[off + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "link type is not Ethernet");
    let mut payloads = Vec::new();
    let mut off = 24;
    while off + 16 <= file.len() {
        let captured = u32_at(off + 8) as usize;
        let frame = &file[off + 16..off + 16 + captured];
        off += 16 + captured;
        let mut type_at = 12;
        let ethertype = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
        while ETHERTYPE_VLAN.contains(&ethertype(type_at)) {
            type_at += 4;
        }
        if ethertype(type_at) == ETHERTYPE_PTP {
            payloads.push(&frame[type_at + 2..]);
        }
    }
    payloads
}

/// The fuzz seeds are real payloads; this keeps them what their names say.
#[test]
fn fuzz_seeds_are_what_their_names_say() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/ptpv1");
    let seed = |name: &str| {
        let path = format!("{dir}/{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    for (name, control, len) in [
        ("dante-sync.bin", Control::Sync, 124),
        ("dante-follow-up.bin", Control::FollowUp, 52),
        ("ptpd-delay-req.bin", Control::DelayReq, 124),
        ("ptpd-delay-resp.bin", Control::DelayResp, 60),
        ("management-get-current.bin", Control::Management, 60),
    ] {
        let bytes = seed(name);
        assert_eq!(bytes.len(), len, "{name}");
        let message = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message.control(), control, "{name}");
        assert_eq!(message.to_bytes(), bytes, "{name}");
    }
    for name in ["ptpv2-sync.bin", "ptpv2-delay-req.bin"] {
        assert_eq!(
            Message::parse(&seed(name)),
            Err(ParseError::NotVersion1 { version: 2 }),
            "{name}"
        );
    }
}
