//! The extended query (docs/query-api.md): the reply byte for byte against a buffer written
//! by hand from the layout table, the versioning rules, the exchange arithmetic, and
//! round trips and no-panic on arbitrary input.

use dantesync_core::controller::FleetState;
use dantesync_core::fleet::{DSource, SyncMode};
use dantesync_core::path_delay::PathDelayState;
use dantesync_core::wire::query::{
    extended_reply_len, text_field, AccumulatedPhase, Coded, Exchange, ExtendedFlags,
    ExtendedHealth, ExtendedLeader, ExtendedReply, ExtendedSyncMode, KernelSync, LeapPending,
    QueryError, QueryReply, ReplyFlags, EXTENDED_REPLY_LEN, EXTENDED_VERSION, SYNC_MODE_REPLY_LEN,
};
use dantesync_core::Mode;
use proptest::prelude::*;

fn sample() -> ExtendedReply {
    ExtendedReply {
        base: QueryReply {
            request_id: 0x0102_0304,
            system_time_ns: 1_785_412_800_123_456_789,
            monotonic_counter: 0x0000_0123_4567_89ab,
            ptp_offset_ns: -2,
            drift_rate_ppb: 12,
            frequency_adjustment_ppb: -50_001,
            mode: Mode::Nano,
            is_locked: true,
            grandmaster_uuid: [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01],
            monotonic_frequency_hz: 1_000_000_000,
            last_ntp_offset_us: 5,
            accumulated_phase: AccumulatedPhase::from_micros_saturating(-1),
            flags: ReplyFlags::new(false, true),
        },
        version: 1,
        flags: ExtendedFlags(ExtendedFlags::RX_KERNEL | ExtendedFlags::LEADER),
        request_rx_ns: 1_785_412_800_123_400_000,
        client_tx: 0x1122_3344_5566_7788,
        reply_tx_ns: 1_785_412_800_123_456_789,
        drift_ppt: Some(12_345),
        drift_sigma_ppt: Some(1),
        error_bound_ppt: Some(256),
        natural_rate_ppt: None,
        applied_ppt: -50_001_000,
        slew_ppt: 0,
        noise_ns: None,
        leader: ExtendedLeader {
            sender_uuid: [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01],
            sender_port: 1,
            grandmaster_uuid: [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01],
            sync_interval_log2: -2,
            stratum: 153,
            variance: 28768,
            identifier: *b"DFLT",
        },
        ntp_offset_ns: Some(-1_000),
        ntp_delay_ns: None,
        ntp_at_ns: 0,
        last_correction_ns: 0x0102,
        ntp_corrections: 3,
        accumulated_phase_ns: -1_200,
        ntp_interval_ms: 10_000,
        window_samples: 480,
        uptime_ns: 60_000_000_000,
        ptp_received: 1000,
        ptp_samples: 480,
        leader_changes: 1,
        query_answered: 7,
        query_dropped: 2,
        query_rate_limited: 1,
        software_version: text_field("0.1.0"),
        ntp_server: text_field("10.0.0.1:123"),
        health: None,
        sync_mode: None,
    }
}

/// The same reply in version 2, as a node of today writes it.
fn sample_v2() -> ExtendedReply {
    ExtendedReply {
        version: 2,
        health: Some(ExtendedHealth {
            since_last_ptp_ns: Some(180_000_000),
            ptp_packets_per_s_milli: Some(8_000),
            external_steps: 2,
            clock_interference: 3,
            leap_pending: LeapPending::Insert,
            kernel_sync: KernelSync::Synchronised,
        }),
        ..sample()
    }
}

/// Version 2's bytes: version 1's, with the version byte and the fields written into what
/// version 1 reserved.
fn sample_v2_bytes() -> Vec<u8> {
    let mut b = sample_bytes();
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(64, &[2]);
    put(336, &[0, 0, 0, 0, 0x0a, 0xba, 0x95, 0x00]); // 180 ms since the last PTP datagram
    put(344, &[0, 0, 0, 0, 0, 0, 0x1f, 0x40]); // 8.000 datagrams/s
    put(352, &[0, 0, 0, 0, 0, 0, 0, 2]); // external steps
    put(360, &[0, 0, 0, 0, 0, 0, 0, 3]); // interference
    put(368, &[1, 1]); // leap: insert; kernel: synchronised
                       // 370..384 reserved, zero.
    b
}

/// The same reply in version 3, from a fleet-mode node tracking the fleet's timescale.
fn sample_v3() -> ExtendedReply {
    ExtendedReply {
        version: 3,
        sync_mode: Some(ExtendedSyncMode {
            sync_mode: Coded::Known(SyncMode::Fleet),
            fleet_state: Coded::Known(FleetState::Tracking),
            path_delay_state: Coded::Known(PathDelayState::Ok),
            d_source: Coded::Known(Some(DSource::Measured)),
            d_epoch: Some(7),
            d_ns: Some(1_785_000_000_123_456_789),
            d_age_ns: Some(2_500_000_000),
            path_delay_ns: Some(45_200),
            phase_error_ns: Some(-1_500),
        }),
        ..sample_v2()
    }
}

/// Version 3's bytes: version 2's, with the version byte, the length, the codes and the epoch
/// in what version 2 reserved, and 64 bytes more.
fn sample_v3_bytes() -> Vec<u8> {
    let mut b = sample_v2_bytes();
    b.resize(448, 0);
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(64, &[3]);
    put(66, &[0x01, 0xc0]); // length 448
    put(370, &[1, 2, 2, 1]); // fleet, tracking, path delay ok, D measured
    put(374, &[0, 0]); // reserved
    put(376, &[0, 0, 0, 0, 0, 0, 0, 7]); // epoch 7
    put(384, &[0x18, 0xc5, 0x98, 0x0a, 0xf3, 0x6e, 0x4d, 0x15]); // D 1785000000123456789 ns
    put(392, &[0, 0, 0, 0, 0x95, 0x02, 0xf9, 0x00]); // heard 2.5 s ago
    put(400, &[0, 0, 0, 0, 0, 0, 0xb0, 0x90]); // path delay 45200 ns
    put(408, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x24]); // phase error −1500 ns
                                                                 // 416..448 reserved, zero.
    b
}

/// The expected datagram, written field by field from the table in docs/query-api.md.
fn sample_bytes() -> Vec<u8> {
    let absent = [0x80, 0, 0, 0, 0, 0, 0, 0];
    let mut b = vec![0u8; 384];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    // The compact reply.
    put(0, b"DSYR");
    put(4, &[0x01, 0x02, 0x03, 0x04]);
    put(8, &[0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xcb, 0x4d, 0x15]);
    put(16, &[0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
    put(24, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    put(32, &[0x00, 0x00, 0x00, 0x0c]);
    put(36, &[0xff, 0xff, 0x3c, 0xaf]); // −50001
    put(40, &[4, 1]);
    put(42, &[0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
    put(48, &[0x00, 0x00, 0x00, 0x00, 0x3b, 0x9a, 0xca, 0x00]);
    put(56, &[0x00, 0x00, 0x00, 0x05]);
    put(60, &[0xff, 0xff]);
    put(62, &[0x02, 0x00]);
    // The extension.
    put(64, &[1, 0]); // version 1, reserved
    put(66, &[0x01, 0x80]); // length 384
    put(68, &[0x00, 0x00, 0x00, 0x41]); // RX_KERNEL | LEADER
    put(72, &[0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xca, 0x6f, 0x40]); // T2 …123400000
    put(80, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]); // T1 echoed
    put(88, &[0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xcb, 0x4d, 0x15]); // T3
    put(96, &[0, 0, 0, 0, 0, 0, 0x30, 0x39]); // drift 12345 ppt
    put(104, &[0, 0, 0, 0, 0, 0, 0, 1]); // sigma 1 ppt
    put(112, &[0, 0, 0, 0, 0, 0, 0x01, 0x00]); // error bound 256 ppt
    put(120, &absent); // natural rate unknown
    put(128, &[0xff, 0xff, 0xff, 0xff, 0xfd, 0x05, 0x0b, 0x98]); // −50001000 ppt
    put(136, &[0; 8]); // slew 0
    put(144, &absent); // noise unknown
    put(152, &[0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01, 0x00, 0x01]); // sender, port 1
    put(160, &[0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01, 0xfe, 0x00]); // grandmaster, log2 −2
    put(168, &[153, 0, 0x70, 0x60]); // stratum 153, reserved, variance 28768
    put(172, b"DFLT");
    put(176, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x18]); // NTP offset −1000 ns
    put(184, &absent); // NTP delay none
    put(192, &[0; 8]); // no NTP check yet
    put(200, &[0, 0, 0, 0, 0, 0, 0x01, 0x02]); // last correction
    put(208, &[0, 0, 0, 0, 0, 0, 0, 3]);
    put(216, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, 0x50]); // phase −1200 ns
    put(224, &[0x00, 0x00, 0x27, 0x10]); // next check 10000 ms
    put(228, &[0x00, 0x00, 0x01, 0xe0]); // 480 samples
    put(232, &[0x00, 0x00, 0x00, 0x0d, 0xf8, 0x47, 0x58, 0x00]); // uptime 60 s
    put(240, &[0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
    put(248, &[0, 0, 0, 0, 0, 0, 0x01, 0xe0]);
    put(256, &[0, 0, 0, 0, 0, 0, 0, 1]);
    put(264, &[0, 0, 0, 0, 0, 0, 0, 7]);
    put(272, &[0, 0, 0, 0, 0, 0, 0, 2]);
    put(280, &[0, 0, 0, 0, 0, 0, 0, 1]);
    put(288, b"0.1.0");
    put(304, b"10.0.0.1:123");
    // 336..384 reserved, zero.
    b
}

#[test]
fn extended_reply_is_byte_exact() {
    assert_eq!(sample().to_bytes().to_vec(), sample_bytes());
    assert_eq!(ExtendedReply::parse(&sample_bytes()), Ok(sample()));
    // Its first 64 bytes are a compact reply any existing tool reads.
    assert_eq!(QueryReply::parse(&sample_bytes()), Ok(sample().base));
}

#[test]
fn version_2_writes_the_health_fields_into_version_1s_reserved_room() {
    assert_eq!(sample_v2().to_bytes().to_vec(), sample_v2_bytes());
    assert_eq!(ExtendedReply::parse(&sample_v2_bytes()), Ok(sample_v2()));
    // Same length; only the version byte and bytes 336..370 differ from version 1, which a
    // version-1 reader took as reserved and ignored: it reads every field it knows unchanged.
    let (v1, v2) = (sample_bytes(), sample_v2_bytes());
    assert_eq!(v1.len(), v2.len());
    let differ: Vec<usize> = (0..v1.len()).filter(|&i| v1[i] != v2[i]).collect();
    assert!(
        differ.iter().all(|&i| i == 64 || (336..370).contains(&i)),
        "{differ:?}"
    );
    // A version-1 reply (an older node) has no health fields: unknown, not zero.
    assert_eq!(ExtendedReply::parse(&v1).unwrap().health, None);
    // Absent values and unknown codes survive a round trip.
    let odd = ExtendedReply {
        health: Some(ExtendedHealth {
            since_last_ptp_ns: None,
            ptp_packets_per_s_milli: None,
            leap_pending: LeapPending::Other(9),
            kernel_sync: KernelSync::NotApplicable,
            ..sample_v2().health.unwrap()
        }),
        ..sample_v2()
    };
    let bytes = odd.to_bytes();
    assert_eq!(bytes[336], 0x80);
    assert_eq!(bytes[344], 0x80);
    assert_eq!(bytes[368..370], [9, 0]);
    assert_eq!(ExtendedReply::parse(&bytes), Ok(odd));
}

#[test]
fn the_transmit_time_is_stamped_into_both_places() {
    let mut bytes = sample().to_bytes();
    ExtendedReply::stamp_transmit(&mut bytes, 0x0a0b_0c0d_0e0f_1011, 0x99);
    assert_eq!(
        bytes[8..16],
        [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]
    );
    assert_eq!(
        bytes[88..96],
        [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]
    );
    assert_eq!(bytes[16..24], [0, 0, 0, 0, 0, 0, 0, 0x99]);
    let r = ExtendedReply::parse(&bytes).unwrap();
    assert_eq!(r.reply_tx_ns, r.base.system_time_ns);
}

#[test]
fn version_3_appends_the_sync_mode_and_fleet_fields() {
    assert_eq!(EXTENDED_VERSION, 3);
    assert_eq!(sample_v3().to_bytes(), sample_v3_bytes());
    assert_eq!(sample_v3_bytes().len(), SYNC_MODE_REPLY_LEN);
    assert_eq!(ExtendedReply::parse(&sample_v3_bytes()), Ok(sample_v3()));
    // Absent values are i64::MIN; a classic node says classic, off, off, no source.
    let classic = ExtendedReply {
        sync_mode: Some(ExtendedSyncMode::default()),
        ..sample_v3()
    };
    let bytes = classic.to_bytes();
    assert_eq!(bytes[370..376], [0; 6]);
    for at in [376, 384, 392, 400, 408] {
        assert_eq!(
            bytes[at..at + 8],
            [0x80, 0, 0, 0, 0, 0, 0, 0],
            "offset {at}"
        );
    }
    assert_eq!(ExtendedReply::parse(&bytes), Ok(classic));
    // Codes a newer node may add are kept, not mistaken for known ones.
    let odd = ExtendedReply {
        sync_mode: Some(ExtendedSyncMode {
            sync_mode: Coded::Unknown(9),
            fleet_state: Coded::Unknown(5),
            path_delay_state: Coded::Unknown(4),
            d_source: Coded::Unknown(4),
            ..sample_v3().sync_mode.unwrap()
        }),
        ..sample_v3()
    };
    let bytes = odd.to_bytes();
    assert_eq!(bytes[370..374], [9, 5, 4, 4]);
    assert_eq!(ExtendedReply::parse(&bytes), Ok(odd));
}

#[test]
fn a_version_2_reader_reads_a_version_3_reply_unchanged() {
    // A version-2 reader checks that the length at 66 (448) is at least 384 and that the
    // datagram is that long, then reads bytes 0..370 but the version byte and the length:
    // version 3 changes none of them, only what version 2 reserved (370..384) and the bytes
    // past 384, which that reader ignores.
    let (v2, v3) = (sample_v2_bytes(), sample_v3_bytes());
    let declared = usize::from(u16::from_be_bytes([v3[66], v3[67]]));
    assert!(declared >= EXTENDED_REPLY_LEN && v3.len() >= declared);
    let differ: Vec<usize> = (0..v2.len()).filter(|&i| v2[i] != v3[i]).collect();
    assert!(
        differ
            .iter()
            .all(|&i| i == 64 || i == 66 || i == 67 || (370..384).contains(&i)),
        "{differ:?}"
    );
    // Today's reader of the same reply finds version 2's fields as version 2 wrote them.
    let r = ExtendedReply::parse(&v3).unwrap();
    assert_eq!(
        ExtendedReply {
            version: 2,
            sync_mode: None,
            ..r
        },
        sample_v2()
    );
}

#[test]
fn a_version_3_reader_reads_a_version_2_reply_as_having_no_sync_mode() {
    // From an older node, or to a request padded only to 384 bytes: no version-3 fields,
    // unknown rather than "classic".
    let r = ExtendedReply::parse(&sample_v2_bytes()).unwrap();
    assert_eq!((r.version, r.sync_mode), (2, None));
    assert_eq!(r, sample_v2());
    assert_eq!(sample_v2().to_bytes().len(), EXTENDED_REPLY_LEN);
    assert_eq!(extended_reply_len(2), EXTENDED_REPLY_LEN);
    assert_eq!(extended_reply_len(3), SYNC_MODE_REPLY_LEN);
}

#[test]
fn an_older_reader_takes_a_newer_longer_reply() {
    // A later version appends 64 bytes, uses today's reserved room and sets a flag bit this
    // version does not know.
    let mut newer = sample_v3_bytes();
    newer[64] = 4;
    newer[66..68].copy_from_slice(&512u16.to_be_bytes());
    newer[68..72].copy_from_slice(&[0x80, 0x00, 0x00, 0x41]);
    newer[375] = 0x55; // something in today's reserved room
    newer[420] = 0x66;
    newer.extend_from_slice(&[0xaa; 64]);
    let r = ExtendedReply::parse(&newer).unwrap();
    assert_eq!(r.version, 4);
    assert!(r.flags.has(ExtendedFlags::RX_KERNEL) && r.flags.has(ExtendedFlags::LEADER));
    assert_eq!(
        ExtendedReply {
            version: 3,
            flags: sample().flags,
            ..r
        },
        sample_v3()
    );
}

#[test]
fn refusals() {
    let bytes = sample_bytes();
    // A compact reply is not an extended one.
    assert!(matches!(
        ExtendedReply::parse(&bytes[..64]),
        Err(QueryError::TooShort { .. })
    ));
    let mut compact_padded = bytes.clone();
    compact_padded[64] = 0;
    assert_eq!(
        ExtendedReply::parse(&compact_padded),
        Err(QueryError::NotExtended)
    );
    // Cut short of its declared length, or declaring less than version 1's.
    assert!(matches!(
        ExtendedReply::parse(&bytes[..383]),
        Err(QueryError::BadExtendedLength {
            declared: 384,
            len: 383,
            ..
        })
    ));
    let mut small = bytes.clone();
    small[66..68].copy_from_slice(&100u16.to_be_bytes());
    assert!(matches!(
        ExtendedReply::parse(&small),
        Err(QueryError::BadExtendedLength { declared: 100, .. })
    ));
    // Version 3 and newer need 448 bytes, declared and received.
    let mut v3_short = sample_v2_bytes();
    v3_short[64] = 3;
    assert_eq!(
        ExtendedReply::parse(&v3_short),
        Err(QueryError::BadExtendedLength {
            version: 3,
            declared: 384,
            len: 384,
            min: 448
        })
    );
    assert!(matches!(
        ExtendedReply::parse(&sample_v3_bytes()[..447]),
        Err(QueryError::BadExtendedLength {
            declared: 448,
            len: 447,
            ..
        })
    ));
}

#[test]
fn exchange_offset_and_delay() {
    // The node is 37 ms ahead; 1050 ns each way, 30 ns in the node: client sends at 1000,
    // node receives at 37_002_050 and sends at 37_002_080, client receives at 3130.
    let x = Exchange::from_timestamps(1_000, 37_002_050, 37_002_080, 3_130);
    assert_eq!(
        x,
        Exchange {
            offset_ns: 37_000_000,
            delay_ns: 2_100
        }
    );
    // Extremes do not overflow.
    let x = Exchange::from_timestamps(u64::MAX, 0, 0, u64::MAX);
    assert_eq!(x.offset_ns, i64::MIN);
}

prop_compose! {
    fn opt_i64()(v in prop_oneof![Just(None), any::<i64>().prop_map(Some)]) -> Option<i64> {
        // i64::MIN is the wire's "absent": a present value never takes it.
        v.map(|v| v.max(i64::MIN + 1))
    }
}

prop_compose! {
    fn extended()(
        request_id: u32, t1: u64, t2: u64, t3: u64, mono: u64,
        mode in (0u8..=5).prop_map(|m| Mode::from_wire_code(m).unwrap()),
        flags: u32, rates in proptest::array::uniform4(opt_i64()), applied: i64, slew: i64,
        ntp in proptest::array::uniform3(opt_i64()),
        times: [u64; 3], counts: [u64; 7], small: [u32; 2], phase: i64,
        uuids: [[u8; 6]; 2], port: u16, log2: i8, stratum: u8, variance: i16,
        identifier: [u8; 4], version in 1u8..=255, texts: ([u8; 16], [u8; 32]),
        health in (opt_i64(), opt_i64(), any::<[u64; 2]>(), any::<[u8; 2]>()),
        codes: [u8; 4], epoch in proptest::option::of(any::<u32>()),
        fleet in proptest::array::uniform4(opt_i64()),
    ) -> ExtendedReply {
        let mut r = sample();
        r.base.request_id = request_id;
        r.base.system_time_ns = t3;
        r.base.monotonic_counter = mono;
        r.base.mode = mode;
        r.version = version;
        r.flags = ExtendedFlags(flags);
        r.client_tx = t1;
        r.request_rx_ns = t2;
        r.reply_tx_ns = t3;
        [r.drift_ppt, r.drift_sigma_ppt, r.error_bound_ppt, r.natural_rate_ppt] = rates;
        r.applied_ppt = applied;
        r.slew_ppt = slew;
        [r.noise_ns, r.ntp_offset_ns, r.ntp_delay_ns] = ntp;
        [r.ntp_at_ns, r.last_correction_ns, r.uptime_ns] = times;
        [r.ntp_corrections, r.ptp_received, r.ptp_samples, r.leader_changes, r.query_answered,
            r.query_dropped, r.query_rate_limited] = counts;
        [r.ntp_interval_ms, r.window_samples] = small;
        r.accumulated_phase_ns = phase;
        r.leader = ExtendedLeader {
            sender_uuid: uuids[0], sender_port: port, grandmaster_uuid: uuids[1],
            sync_interval_log2: log2, stratum, variance, identifier,
        };
        (r.software_version, r.ntp_server) = texts;
        // Version 2's fields exist exactly in replies of version 2 and newer.
        r.health = (version >= 2).then_some(ExtendedHealth {
            since_last_ptp_ns: health.0,
            ptp_packets_per_s_milli: health.1,
            external_steps: health.2[0],
            clock_interference: health.2[1],
            leap_pending: LeapPending::from_code(health.3[0]),
            kernel_sync: KernelSync::from_code(health.3[1]),
        });
        // And version 3's in replies of version 3 and newer.
        r.sync_mode = (version >= 3).then_some(ExtendedSyncMode {
            sync_mode: Coded::from_code(codes[0]),
            fleet_state: Coded::from_code(codes[1]),
            path_delay_state: Coded::from_code(codes[2]),
            d_source: Coded::from_code(codes[3]),
            d_epoch: epoch,
            d_ns: fleet[0],
            d_age_ns: fleet[1],
            path_delay_ns: fleet[2],
            phase_error_ns: fleet[3],
        });
        r
    }
}

proptest! {
    #[test]
    fn extended_replies_round_trip(r in extended()) {
        let bytes = r.to_bytes();
        prop_assert_eq!(bytes.len(), extended_reply_len(r.version));
        prop_assert_eq!(ExtendedReply::parse(&bytes), Ok(r));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        head in prop_oneof![
            Just(sample_bytes()[..72].to_vec()),
            Just(sample_v3_bytes()[..72].to_vec()),
            Just(b"DSYR".to_vec()),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = [head, tail].concat();
        if let Ok(r) = ExtendedReply::parse(&bytes) {
            let again = r.to_bytes();
            prop_assert_eq!(ExtendedReply::parse(&again), Ok(r));
        }
    }

    #[test]
    fn exchange_is_antisymmetric(t1 in 0u64..1 << 62, d1 in 0u64..1 << 30, s in 0u64..1 << 30,
                                 d2 in 0u64..1 << 30, off in -(1i64 << 40)..1 << 40) {
        // Server clock = client clock + off: T2 = T1 + d1 + off, T3 = T2 + s, T4 = T3 − off + d2.
        let t2 = (t1 as i64 + d1 as i64 + off) as u64;
        let t3 = t2 + s;
        let t4 = (t3 as i64 - off + d2 as i64) as u64;
        let x = Exchange::from_timestamps(t1, t2, t3, t4);
        prop_assert_eq!(x.delay_ns, (d1 + d2) as i64);
        // The error of the offset is half the path asymmetry.
        prop_assert!((x.offset_ns - off - (d1 as i64 - d2 as i64) / 2).abs() <= 1);
    }
}
