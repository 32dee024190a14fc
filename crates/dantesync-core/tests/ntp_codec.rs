//! The NTP codec on hand-built bytes: exact encoding, every refusal, the extension-field walk,
//! and property tests (arbitrary bytes never panic, structured values round-trip).

use dantesync_core::wire::ntp::{
    classify, ExtensionFault, Leap, Mac, Mode, NtpHeader, NtpTimestamp, PacketKind, ParseError,
    ReferenceId, ShortTime,
};
use proptest::prelude::*;

fn server_reply() -> NtpHeader {
    NtpHeader {
        leap: Leap::InsertSecond,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: 6,
        precision: -20,
        root_delay: ShortTime::from_bits(0x0001_8000),
        root_dispersion: ShortTime::from_bits(0x0000_0042),
        reference_id: ReferenceId::from_bytes([192, 0, 2, 7]),
        reference_ts: NtpTimestamp::from_parts(0xe69f_811f, 0x3996_bdf2),
        origin_ts: NtpTimestamp::from_parts(0x0102_0304, 0x0506_0708),
        receive_ts: NtpTimestamp::from_parts(0xe69f_8152, 0x3024_91b0),
        transmit_ts: NtpTimestamp::from_parts(0xe69f_8152, 0x3028_dd5e),
    }
}

#[rustfmt::skip]
const SERVER_REPLY_BYTES: [u8; 48] = [
    0x64, 0x02, 0x06, 0xec, // LI 1, VN 4, mode 4; stratum 2; poll 6; precision -20
    0x00, 0x01, 0x80, 0x00, // root delay 1.5 s
    0x00, 0x00, 0x00, 0x42, // root dispersion
    192, 0, 2, 7,           // reference id
    0xe6, 0x9f, 0x81, 0x1f, 0x39, 0x96, 0xbd, 0xf2,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0xe6, 0x9f, 0x81, 0x52, 0x30, 0x24, 0x91, 0xb0,
    0xe6, 0x9f, 0x81, 0x52, 0x30, 0x28, 0xdd, 0x5e,
];

#[test]
fn encodes_every_field_in_place() {
    assert_eq!(server_reply().to_bytes(), SERVER_REPLY_BYTES);
    let (parsed, ext) = NtpHeader::parse(&SERVER_REPLY_BYTES).unwrap();
    assert_eq!(parsed, server_reply());
    assert_eq!((ext.fields.len(), ext.mac, ext.datagram_len), (0, None, 48));
    assert_eq!(parsed.root_delay.to_nanos(), 1_500_000_000);
}

#[test]
fn kiss_code_only_at_stratum_zero() {
    let mut kod = server_reply();
    kod.stratum = 0;
    kod.reference_id = ReferenceId::RATE;
    assert_eq!(kod.kiss_code(), Some(*b"RATE"));
    kod.stratum = 1;
    assert_eq!(kod.kiss_code(), None);
}

fn with_first_byte(first: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    bytes[0] = first;
    bytes
}

#[test]
fn refusals() {
    assert_eq!(NtpHeader::parse(&[]), Err(ParseError::Empty));
    assert_eq!(classify(&[]), Err(ParseError::Empty));
    // Version 0 and 5-7 (bits 3-5), whatever the mode.
    for first in [0x03, 0x2b, 0x33, 0x3b] {
        let version = (first >> 3) & 7;
        let packet = with_first_byte(first, 48);
        assert_eq!(
            NtpHeader::parse(&packet),
            Err(ParseError::UnsupportedVersion(version))
        );
    }
    // Version 1 to 4 all accepted, in every time mode.
    for version in 1..=4u8 {
        for mode in 0..=5u8 {
            let packet = with_first_byte(version << 3 | mode, 48);
            assert_eq!(
                classify(&packet),
                Ok(PacketKind::Time {
                    version,
                    mode: Mode::from_bits(mode)
                })
            );
            assert_eq!(NtpHeader::parse(&packet).unwrap().0.version, version);
        }
    }
    assert_eq!(
        NtpHeader::parse(&with_first_byte(0x23, 47)),
        Err(ParseError::TooShort { len: 47 })
    );
    // Control and private messages are refused before their (short) length matters.
    assert_eq!(
        NtpHeader::parse(&with_first_byte(0x26, 12)),
        Err(ParseError::ControlMessage)
    );
    assert_eq!(
        NtpHeader::parse(&with_first_byte(0x1f, 1)),
        Err(ParseError::PrivateMessage)
    );
    assert_eq!(
        classify(&with_first_byte(0xa7, 1)),
        Ok(PacketKind::Private { version: 4 })
    );
    assert_eq!(
        classify(&with_first_byte(0x0e, 1)),
        Ok(PacketKind::Control { version: 1 })
    );
}

/// An NTPv4 client header followed by `tail`.
fn v4_with(tail: &[u8]) -> Vec<u8> {
    let mut packet = with_first_byte(0x23, 48);
    packet.extend_from_slice(tail);
    packet
}

fn field(field_type: u16, len: u16) -> Vec<u8> {
    let mut bytes = vec![0xaa; usize::from(len).max(4)];
    bytes[..2].copy_from_slice(&field_type.to_be_bytes());
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    bytes
}

#[test]
fn extension_fields_and_macs() {
    // A 16-byte field followed by an MD5 MAC.
    let mut tail = field(0x0104, 16);
    tail.extend_from_slice(&[0, 0, 0, 9]);
    tail.extend_from_slice(&[0x55; 16]);
    let packet = v4_with(&tail);
    let (_, ext) = NtpHeader::parse(&packet).unwrap();
    assert_eq!(ext.fields.len(), 1);
    assert_eq!(
        (
            ext.fields[0].field_type,
            ext.fields[0].offset,
            ext.fields[0].len
        ),
        (0x0104, 48, 16)
    );
    assert_eq!(ext.fields[0].value(&packet), Some(&[0xaa; 12][..]));
    assert_eq!(ext.fields[0].value(&packet[..60]), None);
    assert_eq!(
        ext.mac,
        Some(Mac {
            offset: 64,
            len: 20
        })
    );
    assert_eq!(ext.mac.unwrap().key_id(&packet), Some(9));
    assert_eq!(ext.datagram_len, 84);

    // A lone 28-byte field (the RFC 7822 minimum for a last field without MAC).
    let (_, ext) = NtpHeader::parse(&v4_with(&field(0x0204, 28))).unwrap();
    assert_eq!((ext.fields.len(), ext.mac), (1, None));

    // Two fields then a SHA-1 MAC.
    let mut tail = field(0x0104, 36);
    tail.extend(field(0x0404, 40));
    tail.extend_from_slice(&[0x11; 24]);
    let (_, ext) = NtpHeader::parse(&v4_with(&tail)).unwrap();
    assert_eq!(
        ext.fields.iter().map(|f| f.offset).collect::<Vec<_>>(),
        [48, 84]
    );
    assert_eq!(
        ext.mac,
        Some(Mac {
            offset: 124,
            len: 24
        })
    );
}

#[test]
fn malformed_extension_areas() {
    let fault = |tail: &[u8]| match NtpHeader::parse(&v4_with(tail)) {
        Err(ParseError::MalformedExtension { offset, fault }) => (offset, fault),
        other => panic!("{other:?}"),
    };
    // A lone 16-byte field is shorter than 28 and so reads as a 16-byte MAC, which is no MAC.
    assert_eq!(fault(&field(1, 16)), (48, ExtensionFault::BadTrailer(16)));
    assert_eq!(fault(&[0; 5]), (48, ExtensionFault::BadTrailer(5)));
    assert_eq!(fault(&[0; 12]), (48, ExtensionFault::BadTrailer(12)));
    let mut long = field(1, 12);
    long.resize(32, 0);
    assert_eq!(fault(&long), (48, ExtensionFault::FieldTooShort(12)));
    let mut odd = field(1, 30);
    odd.resize(32, 0);
    assert_eq!(fault(&odd), (48, ExtensionFault::FieldNotWordAligned(30)));
    let mut overrun = field(1, 64);
    overrun.truncate(32);
    assert_eq!(
        fault(&overrun),
        (
            48,
            ExtensionFault::FieldOverruns {
                length: 64,
                remaining: 32
            }
        )
    );
    assert_eq!(
        fault(&[field(1, 28), vec![0; 7]].concat()),
        (76, ExtensionFault::BadTrailer(7))
    );
    // A zero length field must not make the walk loop forever.
    assert_eq!(fault(&[0; 40]), (48, ExtensionFault::FieldTooShort(0)));
}

#[test]
fn older_versions_keep_any_trailer_opaque() {
    // An NTPv3 DES authenticator: 4-byte key id + 8-byte checksum, no extension fields.
    let mut packet = with_first_byte(0x1b, 48);
    packet.extend_from_slice(&[0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8]);
    let (header, ext) = NtpHeader::parse(&packet).unwrap();
    assert_eq!((header.version, header.mode), (3, Mode::Client));
    assert_eq!(ext.fields.len(), 0);
    assert_eq!(
        ext.mac,
        Some(Mac {
            offset: 48,
            len: 12
        })
    );
    assert_eq!(ext.mac.unwrap().key_id(&packet), Some(3));
}

#[test]
fn timestamps_of_known_dates() {
    // The NTP prime epoch is 0 and the Unix epoch is 2208988800 s.
    assert_eq!(
        NtpTimestamp::from_unix_nanos(-2_208_988_800_000_000_000),
        NtpTimestamp::ZERO
    );
    assert_eq!(
        NtpTimestamp::from_unix_nanos(0).to_bits(),
        2_208_988_800 << 32
    );
    // 2036-02-07 06:28:16 UTC opens era 1; one nanosecond before, the fraction is all but full.
    let era1 = 2_085_978_496_000_000_000;
    assert_eq!(NtpTimestamp::from_unix_nanos(era1), NtpTimestamp::ZERO);
    assert_eq!(
        NtpTimestamp::from_unix_nanos(era1 - 1),
        NtpTimestamp::from_parts(u32::MAX, 4_294_967_292)
    );
    let pivot_2030 = 1_893_456_000_000_000_000;
    assert_eq!(
        NtpTimestamp::from_unix_nanos(era1 - 1).to_unix_nanos(pivot_2030),
        era1 - 1
    );
    assert_eq!(NtpTimestamp::ZERO.to_unix_nanos(pivot_2030), era1);
    assert_eq!(
        NtpTimestamp::from_parts(1, 0).to_unix_nanos(pivot_2030),
        era1 + 1_000_000_000
    );
    // 2100-01-01 00:00:00 UTC from a 2090 pivot: era 1, 2016466304 s.
    let y2100 = 4_102_444_800_000_000_000;
    let t = NtpTimestamp::from_unix_nanos(y2100);
    assert_eq!((t.seconds(), t.fraction()), (2_016_466_304, 0));
    assert_eq!(t.to_unix_nanos(3_786_912_000_000_000_000), y2100);
}

fn leap() -> impl Strategy<Value = Leap> {
    (0u8..4).prop_map(Leap::from_bits)
}

prop_compose! {
    fn time_header()(
        leap in leap(),
        version in 1u8..=4,
        mode in (0u8..=5).prop_map(Mode::from_bits),
        stratum: u8, poll: i8, precision: i8,
        delay: u32, dispersion: u32, refid: [u8; 4],
        reference: u64, origin: u64, receive: u64, transmit: u64,
    ) -> NtpHeader {
        NtpHeader {
            leap, version, mode, stratum, poll, precision,
            root_delay: ShortTime::from_bits(delay),
            root_dispersion: ShortTime::from_bits(dispersion),
            reference_id: ReferenceId::from_bytes(refid),
            reference_ts: NtpTimestamp::from_bits(reference),
            origin_ts: NtpTimestamp::from_bits(origin),
            receive_ts: NtpTimestamp::from_bits(receive),
            transmit_ts: NtpTimestamp::from_bits(transmit),
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let kind = classify(&bytes);
        match NtpHeader::parse(&bytes) {
            Ok((header, ext)) => {
                let time = PacketKind::Time { version: header.version, mode: header.mode };
                prop_assert_eq!(kind, Ok(time));
                prop_assert_eq!(&header.to_bytes()[..], &bytes[..48]);
                prop_assert_eq!(ext.datagram_len, bytes.len());
                let end = ext.fields.last().map_or(48, |f| f.offset + f.len);
                prop_assert_eq!(end + ext.mac.map_or(0, |m| m.len), bytes.len());
            }
            Err(ParseError::ControlMessage) => {
                let control = matches!(kind, Ok(PacketKind::Control { .. }));
                prop_assert!(control);
            }
            Err(ParseError::PrivateMessage) => {
                let private = matches!(kind, Ok(PacketKind::Private { .. }));
                prop_assert!(private);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn random_tails_never_panic(
        header in time_header(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let packet = [&header.to_bytes()[..], &tail].concat();
        match NtpHeader::parse(&packet) {
            Ok((parsed, ext)) => {
                prop_assert_eq!(parsed, header);
                let end = ext.fields.last().map_or(48, |f| f.offset + f.len);
                prop_assert_eq!(end + ext.mac.map_or(0, |m| m.len), packet.len());
            }
            Err(e) => {
                let malformed = matches!(e, ParseError::MalformedExtension { .. });
                prop_assert!(malformed && header.version == 4, "{}", e);
            }
        }
    }

    #[test]
    fn headers_round_trip(header in time_header(), tail_words in 0usize..3) {
        let bytes = header.to_bytes();
        let (parsed, _) = NtpHeader::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, header);
        // An NTPv4 packet with MAC-sized trailers still yields the same header.
        let mut longer = bytes.to_vec();
        longer.extend(std::iter::repeat_n(0u8, [4, 20, 24][tail_words]));
        prop_assert_eq!(NtpHeader::parse(&longer).unwrap().0, header);
    }

    #[test]
    fn unix_nanos_round_trip(unix_nanos: i64, skew_s in -2_147_000_000i64..2_147_000_000) {
        let t = NtpTimestamp::from_unix_nanos(unix_nanos);
        // Any pivot less than half an era away recovers the exact nanosecond.
        let pivot = unix_nanos.saturating_add(skew_s * 1_000_000_000);
        prop_assert_eq!(t.to_unix_nanos(pivot), unix_nanos);
        prop_assert_eq!(t.to_unix_nanos_wide(pivot), i128::from(unix_nanos));
    }

    #[test]
    fn fraction_is_the_nearest(unix_nanos: i64) {
        let t = NtpTimestamp::from_unix_nanos(unix_nanos);
        let ns_in_second = i128::from(unix_nanos.rem_euclid(1_000_000_000));
        // |fraction − ns·2^32/1e9| ≤ 1/2, in units of 1e-9 to stay in integers; a carry into
        // the next second shows up as fraction 0 with ns_in_second near 1e9.
        let exact = ns_in_second << 32;
        let got = i128::from(t.fraction()) * 1_000_000_000;
        let error = (got - exact).abs().min((got + (1_000_000_000i128 << 32) - exact).abs());
        prop_assert!(error <= 500_000_000, "error {error}");
    }

    #[test]
    fn short_time_round_trips(bits: u32) {
        let short = ShortTime::from_bits(bits);
        prop_assert_eq!(ShortTime::from_nanos_saturating(short.to_nanos()), short);
        prop_assert_eq!(ShortTime::from_seconds_f64(short.to_seconds_f64()), short);
    }
}
