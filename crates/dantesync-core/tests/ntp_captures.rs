//! The NTP codec against real traffic nobody on this team wrote (see
//! shared/captures/README.md). Expected values were read off the raw bytes.

use std::net::Ipv4Addr;

use dantesync_core::wire::ntp::{
    classify, Leap, Mac, Mode, NtpHeader, PacketKind, ParseError, ReferenceId, ShortTime,
};
use dantesync_pcap::Datagram;

const NS: i64 = 1_000_000_000;

fn capture(relative: &str) -> Vec<Datagram> {
    let path = format!(
        "{}/../../../shared/captures/{relative}",
        env!("CARGO_MANIFEST_DIR")
    );
    dantesync_pcap::read_udp(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses a time packet and checks that its header re-serialises to the bytes it came from.
fn parse(payload: &[u8]) -> (NtpHeader, dantesync_core::wire::ntp::Extensions) {
    let (header, extensions) = NtpHeader::parse(payload).unwrap();
    assert_eq!(header.to_bytes()[..], payload[..48]);
    (header, extensions)
}

#[test]
fn chrony_pairs_with_kiss_of_death_and_macs() {
    let datagrams = capture("tcpdump/ntp.pcap");
    assert_eq!(datagrams.len(), 8);
    let packets: Vec<_> = datagrams.iter().map(|d| parse(&d.payload)).collect();
    let capture_ts = datagrams[1].ts_nanos;

    // 1: client, LI 0, poll 0, precision 32, random transmit timestamp (1987), SHA-1 MAC.
    let (request, ext) = &packets[0];
    assert_eq!(
        (request.leap, request.version, request.mode),
        (Leap::NoWarning, 4, Mode::Client)
    );
    assert_eq!(
        (request.stratum, request.poll, request.precision),
        (0, 0, 32)
    );
    assert_eq!(request.transmit_ts.to_bits(), 0xa4b3_9cd1_01fb_24bf);
    assert!(ext.fields.is_empty());
    assert_eq!(
        ext.mac,
        Some(Mac {
            offset: 48,
            len: 24
        })
    );
    assert_eq!(ext.mac.unwrap().key_id(&datagrams[0].payload), Some(8));
    assert_eq!(ext.datagram_len, 72);

    // 2: the KoD answering it: LI 3, stratum 0, refid STEP, crypto-NAK (lone zero key id).
    let (kod, ext) = &packets[1];
    assert_eq!(
        (kod.leap, kod.version, kod.mode),
        (Leap::Unsynchronized, 4, Mode::Server)
    );
    assert_eq!((kod.stratum, kod.poll, kod.precision), (0, 3, -23));
    assert_eq!(kod.kiss_code(), Some(*b"STEP"));
    assert_eq!(kod.reference_id, ReferenceId::STEP);
    assert_eq!(kod.root_delay, ShortTime::ZERO);
    assert_eq!(kod.root_dispersion, ShortTime::from_bits(90));
    assert_eq!(kod.origin_ts, request.transmit_ts);
    assert!(kod.reference_ts.is_zero());
    assert_eq!(
        kod.receive_ts.to_unix_nanos(capture_ts),
        1_497_881_529_516_015_118
    );
    assert_eq!(
        kod.transmit_ts.to_unix_nanos(capture_ts),
        1_497_881_529_516_074_048
    );
    assert_eq!(ext.mac, Some(Mac { offset: 48, len: 4 }));
    assert_eq!(ext.mac.unwrap().key_id(&datagrams[1].payload), Some(0));

    // 4: stratum-2 reply from 10.5.27.10, root delay 10191/65536 s = 155.5 ms.
    let (reply, ext) = &packets[3];
    assert_eq!((reply.leap, reply.stratum), (Leap::NoWarning, 2));
    assert_eq!(reply.kiss_code(), None);
    assert_eq!(reply.reference_id.to_ipv4(), Ipv4Addr::new(10, 5, 27, 10));
    assert_eq!(reply.root_delay.to_bits(), 10191);
    assert_eq!(reply.root_delay.to_nanos(), 155_502_319);
    assert_eq!(reply.root_dispersion.to_bits(), 103);
    assert_eq!(ext.mac.unwrap().len, 24);
    // Its request (3) carried random origin/receive timestamps; the reply echoes the transmit.
    assert_eq!(reply.origin_ts, packets[2].0.transmit_ts);
    assert_eq!(
        reply.transmit_ts.to_unix_nanos(datagrams[3].ts_nanos),
        1_497_881_958_494_546_877
    );
    // The random receive timestamp 0x6b70caf9 s is 1957 seen from 2017, never 2093.
    assert_eq!(
        packets[2].0.receive_ts.to_unix_nanos(datagrams[2].ts_nanos),
        -406_434_694_306_000_123
    );

    // 5: client LI 3 with root delay and dispersion of exactly 1 s, no MAC, 48 bytes.
    let (client, ext) = &packets[4];
    assert_eq!(client.leap, Leap::Unsynchronized);
    assert_eq!(client.root_delay.to_nanos(), 1_000_000_000);
    assert_eq!(client.root_dispersion.to_seconds_f64(), 1.0);
    assert_eq!((ext.mac, ext.datagram_len), (None, 48));

    // 7: symmetric-key client with refid INIT at stratum 0, MD5 MAC (4 + 16 bytes).
    let (init, ext) = &packets[6];
    assert_eq!(
        (init.leap, init.stratum, init.poll, init.precision),
        (Leap::Unsynchronized, 0, 6, -25)
    );
    assert_eq!(init.kiss_code(), Some(*b"INIT"));
    assert_eq!(init.reference_id.as_ascii(), Some("INIT"));
    assert_eq!(
        ext.mac,
        Some(Mac {
            offset: 48,
            len: 20
        })
    );
    let (reply, _) = &packets[7];
    assert_eq!(
        reply.reference_id.to_ipv4(),
        Ipv4Addr::new(10, 11, 160, 238)
    );
    assert_eq!(reply.origin_ts, init.transmit_ts);
}

#[test]
fn stratum_two_reply_gives_a_plausible_date() {
    let datagrams = capture("tcpdump/ntp-time.pcap");
    assert_eq!(datagrams.len(), 2);
    let (request, _) = parse(&datagrams[0].payload);
    assert_eq!(
        (request.leap, request.mode, request.poll),
        (Leap::Unsynchronized, Mode::Client, 8)
    );
    let (reply, ext) = parse(&datagrams[1].payload);
    assert_eq!(
        (
            reply.leap,
            reply.version,
            reply.mode,
            reply.stratum,
            reply.poll,
            reply.precision
        ),
        (Leap::NoWarning, 4, Mode::Server, 2, 8, -24)
    );
    assert_eq!(
        reply.reference_id.to_ipv4(),
        Ipv4Addr::new(132, 199, 7, 201)
    );
    assert_eq!(
        (reply.root_delay.to_bits(), reply.root_dispersion.to_bits()),
        (21, 2386)
    );
    assert_eq!(ext.datagram_len, 48);

    let pivot = datagrams[1].ts_nanos;
    let t1 = reply.origin_ts.to_unix_nanos(pivot);
    let t2 = reply.receive_ts.to_unix_nanos(pivot);
    let t3 = reply.transmit_ts.to_unix_nanos(pivot);
    // 2017-08-23 13:21:56.929948438 UTC.
    assert_eq!(t3, 1_503_494_516_929_948_438);
    assert_eq!(
        reply.reference_ts.to_unix_nanos(pivot),
        1_503_493_306_337_741_360
    );
    assert_eq!(t1, request.transmit_ts.to_unix_nanos(pivot));
    // The server's transmit time is 1.1 ms after the capture host's arrival time: the two clocks
    // agree to about a millisecond, so the era and the conversion are right.
    assert_eq!(t3 - datagrams[1].ts_nanos, 1_097_438);
    assert_eq!(t3 - t2, 27_809);
}

#[test]
fn nts_extension_fields_are_walked() {
    let datagrams = capture("tcpdump/ntp-time-ef.pcap");
    assert_eq!(datagrams.len(), 2);

    let (request, ext) = parse(&datagrams[0].payload);
    assert_eq!(request.mode, Mode::Client);
    let types: Vec<_> = ext
        .fields
        .iter()
        .map(|f| (f.field_type, f.offset, f.len))
        .collect();
    // Unique Identifier, NTS Cookie, Cookie Placeholder, Authenticator.
    assert_eq!(
        types,
        [
            (0x0104, 48, 36),
            (0x0204, 84, 104),
            (0x0304, 188, 104),
            (0x0404, 292, 40)
        ]
    );
    assert_eq!((ext.mac, ext.datagram_len), (None, 332));
    let unique_id = ext.fields[0].value(&datagrams[0].payload).unwrap();
    assert_eq!(unique_id.len(), 32);
    assert_eq!(unique_id[..4], [0x5c, 0xf0, 0x6d, 0x70]);

    let (reply, ext) = parse(&datagrams[1].payload);
    assert_eq!((reply.mode, reply.stratum), (Mode::Server, 3));
    assert_eq!(reply.reference_id.to_ipv4(), Ipv4Addr::new(10, 31, 8, 128));
    assert_eq!(
        (reply.root_delay.to_bits(), reply.root_dispersion.to_bits()),
        (1119, 48)
    );
    let types: Vec<_> = ext.fields.iter().map(|f| (f.field_type, f.len)).collect();
    assert_eq!(types, [(0x0104, 36), (0x0404, 248)]);
    assert_eq!(ext.fields[0].value(&datagrams[1].payload), Some(unique_id));
    assert_eq!(ext.datagram_len, 332);
    // 2022-08-11 13:23:30.188123546 UTC; the client's transmit was a random 2015 value.
    let pivot = datagrams[1].ts_nanos;
    assert_eq!(
        reply.transmit_ts.to_unix_nanos(pivot),
        1_660_224_210_188_123_546
    );
    assert_eq!(reply.origin_ts, request.transmit_ts);
}

#[test]
fn control_messages_are_refused_as_time_samples() {
    let datagrams = capture("tcpdump/ntp-control.pcap");
    assert_eq!(datagrams.len(), 21);
    for d in &datagrams {
        assert_eq!(d.payload[0], 0x16);
        assert_eq!(classify(&d.payload), Ok(PacketKind::Control { version: 2 }));
        assert_eq!(
            NtpHeader::parse(&d.payload),
            Err(ParseError::ControlMessage)
        );
    }
    let sizes: Vec<_> = datagrams.iter().map(|d| d.payload.len()).collect();
    // 12-byte ntpq requests and replies up to 480 bytes: longer than a header, still refused.
    assert_eq!(sizes[..4], [12, 408, 12, 32]);
    assert_eq!(sizes.iter().max(), Some(&480));
}

#[test]
fn private_messages_are_refused_as_time_samples() {
    let datagrams = capture("tcpdump/ntp-mode7.pcap");
    assert_eq!(datagrams.len(), 8);
    for (i, d) in datagrams.iter().enumerate() {
        // ntpdc requests (0x17) and responses (0x97, response bit set), version 2.
        assert_eq!(d.payload[0], if i % 2 == 0 { 0x17 } else { 0x97 });
        assert_eq!(classify(&d.payload), Ok(PacketKind::Private { version: 2 }));
        assert_eq!(
            NtpHeader::parse(&d.payload),
            Err(ParseError::PrivateMessage)
        );
    }
    assert_eq!(datagrams[0].payload.len(), 192);
}

#[test]
fn ndpi_samples() {
    // NTPv2 mode 7 monlist response (MON_GETLIST_1), 368 bytes.
    let monlist = capture("ndpi/NTPv2.pcap");
    assert_eq!(monlist.len(), 1);
    assert_eq!(
        (monlist[0].payload[0], monlist[0].payload.len()),
        (0x97, 368)
    );
    assert_eq!(
        classify(&monlist[0].payload),
        Ok(PacketKind::Private { version: 2 })
    );
    assert_eq!(
        NtpHeader::parse(&monlist[0].payload),
        Err(ParseError::PrivateMessage)
    );

    // NTPv3 server packet at stratum 0 with a zero refid: a KoD-shaped reply, whole seconds.
    let v3 = capture("ndpi/NTPv3.pcap");
    let (header, ext) = parse(&v3[0].payload);
    assert_eq!(
        (
            header.leap,
            header.version,
            header.mode,
            header.stratum,
            header.poll,
            header.precision
        ),
        (Leap::NoWarning, 3, Mode::Server, 0, 4, -6)
    );
    assert_eq!(header.kiss_code(), Some([0; 4]));
    assert!(header.origin_ts.is_zero());
    // 2015-07-14 09:04:17 UTC exactly.
    assert_eq!(
        header.transmit_ts.to_unix_nanos(v3[0].ts_nanos),
        1_436_864_657 * NS
    );
    assert_eq!(header.receive_ts, header.transmit_ts);
    assert_eq!((ext.fields.len(), ext.mac, ext.datagram_len), (0, None, 48));

    // NTPv4 client packet from a synchronised stratum-2 host.
    let v4 = capture("ndpi/NTPv4.pcap");
    let (header, _) = parse(&v4[0].payload);
    assert_eq!(
        (
            header.leap,
            header.version,
            header.mode,
            header.stratum,
            header.poll,
            header.precision
        ),
        (Leap::NoWarning, 4, Mode::Client, 2, 7, -21)
    );
    assert_eq!(
        header.reference_id.to_ipv4(),
        Ipv4Addr::new(131, 188, 3, 223)
    );
    assert_eq!(
        (
            header.root_delay.to_bits(),
            header.root_dispersion.to_bits()
        ),
        (1104, 939)
    );
    assert_eq!(
        header.transmit_ts.to_unix_nanos(v4[0].ts_nanos),
        1_436_865_396_176_374_611
    );
}

/// Unix time of 2017-01-01 00:00:00 UTC, right after the inserted 2016-12-31 23:59:60.
const NEW_YEAR_2017: i64 = 1_483_228_800 * NS;

#[test]
fn leap_second_announced_by_ntpv3_servers() {
    let datagrams = capture("leapsecond/ntp.pcap");
    assert_eq!(datagrams.len(), 194);
    let mut servers = 0;
    for d in &datagrams {
        let (header, ext) = parse(&d.payload);
        assert_eq!((header.version, ext.datagram_len), (3, 48));
        if header.mode == Mode::Server {
            servers += 1;
            assert_eq!((header.leap, header.stratum), (Leap::InsertSecond, 2));
            let tx = header.transmit_ts.to_unix_nanos(d.ts_nanos);
            // Every reply is dated 2016-12-31, before midnight, within 0.2 s of the capture.
            assert!((1_483_219_017 * NS..NEW_YEAR_2017).contains(&tx), "{tx}");
            assert!((tx - d.ts_nanos).abs() < NS / 5, "{tx} vs {}", d.ts_nanos);
        } else {
            assert_eq!(header.mode, Mode::Client);
        }
    }
    assert_eq!(servers, 94);
}

#[test]
fn leap_indicator_clears_after_midnight() {
    let datagrams = capture("leapsecond/ntp_2P.pcap");
    assert_eq!(datagrams.len(), 439);
    let mut last_warning = i64::MIN;
    let mut first_clear = i64::MAX;
    let (mut warned, mut cleared) = (0, 0);
    for d in &datagrams {
        let (header, _) = parse(&d.payload);
        assert_eq!(header.version, 3);
        if header.mode != Mode::Server {
            continue;
        }
        let tx = header.transmit_ts.to_unix_nanos(d.ts_nanos);
        assert!((tx - d.ts_nanos).abs() < NS / 5, "{tx} vs {}", d.ts_nanos);
        match header.leap {
            Leap::InsertSecond => {
                warned += 1;
                last_warning = last_warning.max(tx);
            }
            Leap::NoWarning => {
                cleared += 1;
                first_clear = first_clear.min(tx);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((warned, cleared), (45, 170));
    // 2016-12-31 23:56:54.043 is the last announcement, 2017-01-01 00:01:10.562 the first
    // reply without one: the servers clear LI exactly across midnight.
    assert_eq!(last_warning, 1_483_228_614_043_238_932);
    assert_eq!(first_clear, 1_483_228_870_562_122_473);
    assert!(last_warning < NEW_YEAR_2017 && NEW_YEAR_2017 < first_clear);
}

#[test]
fn every_real_time_header_round_trips() {
    let files = [
        "tcpdump/ntp.pcap",
        "tcpdump/ntp-time.pcap",
        "tcpdump/ntp-time-ef.pcap",
        "ndpi/NTPv3.pcap",
        "ndpi/NTPv4.pcap",
        "leapsecond/ntp.pcap",
        "leapsecond/ntp_2P.pcap",
    ];
    let mut total = 0;
    for file in files {
        for d in capture(file) {
            let (header, _) = parse(&d.payload);
            let again = NtpHeader::parse(&header.to_bytes()).unwrap().0;
            assert_eq!(again, header, "{file}");
            total += 1;
        }
    }
    assert_eq!(total, 8 + 2 + 2 + 1 + 1 + 194 + 439);
}
