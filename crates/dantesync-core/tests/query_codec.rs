//! The port-31900 query API, byte for byte against the table in PROTOCOLS.md (all fields
//! big-endian), with the expected bytes written out by hand rather than by the encoder.

use dantesync_core::Mode;
use std::num::NonZeroU8;

use dantesync_core::wire::query::{
    answer_version, extended_reply_len, micros_to_i32_saturating, ppm_to_ppb_saturating,
    AccumulatedPhase, QueryError, QueryReply, QueryRequest, ReplyFlags, EXTENDED_REPLY_LEN,
    EXTENDED_REQUEST_MIN_LEN, EXTENDED_VERSION, REPLY_LEN,
};
use proptest::prelude::*;

fn sample_reply() -> QueryReply {
    QueryReply {
        request_id: 0x0102_0304,
        // 2026-07-30 12:00:00.123456789 UTC.
        system_time_ns: 1_785_412_800_123_456_789,
        monotonic_counter: 0x0000_0123_4567_89ab,
        ptp_offset_ns: -699_212_366_780,
        drift_rate_ppb: ppm_to_ppb_saturating(-33.7),
        frequency_adjustment_ppb: ppm_to_ppb_saturating(12.345),
        mode: Mode::Lock,
        is_locked: true,
        grandmaster_uuid: [0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c],
        monotonic_frequency_hz: 1_000_000_000,
        last_ntp_offset_us: micros_to_i32_saturating(-250),
        accumulated_phase: AccumulatedPhase::from_micros_saturating(-40_000),
        flags: ReplyFlags::new(false, true),
    }
}

#[rustfmt::skip]
const SAMPLE_REPLY_BYTES: [u8; 64] = [
    b'D', b'S', b'Y', b'R',                         // 0  magic 0x44535952
    0x01, 0x02, 0x03, 0x04,                         // 4  request id
    0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xcb, 0x4d, 0x15, // 8  system time ns
    0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, // 16 monotonic counter
    0xff, 0xff, 0xff, 0x5d, 0x33, 0xb1, 0xfc, 0x44, // 24 PTP offset −699212366780 ns
    0xff, 0xff, 0x7c, 0x5c,                         // 32 drift −33700 (−33.7 µs/s)
    0x00, 0x00, 0x30, 0x39,                         // 36 applied 12345 (12.345 ppm)
    3,                                              // 40 mode LOCK
    1,                                              // 41 is_locked
    0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c,             // 42 grandmaster UUID
    0x00, 0x00, 0x00, 0x00, 0x3b, 0x9a, 0xca, 0x00, // 48 monotonic frequency 1e9 Hz
    0xff, 0xff, 0xff, 0x06,                         // 56 last NTP offset −250 µs
    0x80, 0x00,                                     // 60 accumulated phase, clamped to −32768
    0x02,                                           // 62 flags: settled
    0x00,                                           // 63 reserved
];

#[test]
fn reply_is_byte_exact() {
    assert_eq!(sample_reply().to_bytes(), SAMPLE_REPLY_BYTES);
    assert_eq!(QueryReply::parse(&SAMPLE_REPLY_BYTES), Ok(sample_reply()));
    let parsed = QueryReply::parse(&SAMPLE_REPLY_BYTES).unwrap();
    assert_eq!(parsed.accumulated_phase.as_micros(), -32_768);
    assert_eq!(
        (parsed.flags.ntp_failing(), parsed.flags.settled()),
        (false, true)
    );
}

#[test]
fn every_mode_code() {
    let modes = [
        (Mode::Init, 0),
        (Mode::Acq, 1),
        (Mode::Prod, 2),
        (Mode::Lock, 3),
        (Mode::Nano, 4),
        (Mode::NtpOnly, 5),
    ];
    for (mode, code) in modes {
        let reply = QueryReply {
            mode,
            ..sample_reply()
        };
        assert_eq!(reply.to_bytes()[40], code);
        assert_eq!(QueryReply::parse(&reply.to_bytes()).unwrap().mode, mode);
    }
    assert_eq!(Mode::from_wire_code(6), None);
}

#[test]
fn flags_bits() {
    assert_eq!(ReplyFlags::new(true, false).bits(), 0x01);
    assert_eq!(ReplyFlags::new(true, true).bits(), 0x03);
    assert_eq!(ReplyFlags::default().bits(), 0);
}

#[test]
fn reply_refusals_and_tolerances() {
    assert_eq!(
        QueryReply::parse(&SAMPLE_REPLY_BYTES[..63]),
        Err(QueryError::TooShort { len: 63, min: 64 })
    );
    let mut bytes = SAMPLE_REPLY_BYTES;
    bytes[3] = b'N';
    assert_eq!(
        QueryReply::parse(&bytes),
        Err(QueryError::BadMagic {
            found: 0x4453_594E,
            expected: 0x4453_5952
        })
    );
    let mut bytes = SAMPLE_REPLY_BYTES;
    bytes[40] = 6;
    assert_eq!(QueryReply::parse(&bytes), Err(QueryError::UnknownMode(6)));
    let mut bytes = SAMPLE_REPLY_BYTES;
    bytes[41] = 2;
    assert_eq!(QueryReply::parse(&bytes), Err(QueryError::BadLockedByte(2)));
    // Reserved byte and trailing bytes (an extended reply's tail) are ignored, unknown flag
    // bits kept.
    let mut longer = SAMPLE_REPLY_BYTES.to_vec();
    longer[63] = 0x7f;
    longer[62] = 0x86;
    longer.extend_from_slice(&[1, 2, 3, 4]);
    let parsed = QueryReply::parse(&longer).unwrap();
    assert_eq!(parsed.flags.bits(), 0x86);
    assert_eq!(parsed.to_bytes()[62..], [0x86, 0x00]);
}

#[test]
fn compact_requests() {
    let bytes = [0x44, 0x53, 0x59, 0x4e, 0xde, 0xad, 0xbe, 0xef];
    let request = QueryRequest::parse(&bytes).unwrap();
    assert_eq!(
        request,
        QueryRequest::Compact {
            request_id: 0xdead_beef
        }
    );
    assert_eq!(request.request_id(), 0xdead_beef);
    assert_eq!(request.to_bytes(), bytes);
    // "8 bytes or more": zero padding after the id is still the compact request.
    let mut padded = bytes.to_vec();
    padded.resize(48, 0);
    assert_eq!(QueryRequest::parse(&padded), Ok(request));

    assert_eq!(
        QueryRequest::parse(&bytes[..7]),
        Err(QueryError::TooShort { len: 7, min: 8 })
    );
    // Little-endian magic, and the earlier tool's "DSYX", are not this API.
    for magic in [[0x4e, 0x59, 0x53, 0x44], *b"DSYX"] {
        let mut wrong = bytes;
        wrong[..4].copy_from_slice(&magic);
        assert!(matches!(
            QueryRequest::parse(&wrong),
            Err(QueryError::BadMagic {
                expected: 0x4453_594E,
                ..
            })
        ));
    }
}

#[test]
fn extended_requests_must_be_padded_to_their_reply() {
    // Written by hand: magic, id 7, version 1, reserved, T1 at 16, zero padding to 384.
    let mut request = vec![0u8; 384];
    request[..4].copy_from_slice(b"DSYN");
    request[4..8].copy_from_slice(&[0, 0, 0, 7]);
    request[8] = 1;
    request[16..24].copy_from_slice(&[0x18, 0xc7, 0x0f, 0x7b, 0x70, 0xcb, 0x4d, 0x15]);
    let parsed = QueryRequest::parse(&request).unwrap();
    let version = NonZeroU8::new(1).unwrap();
    assert_eq!(
        parsed,
        QueryRequest::Extended {
            version,
            request_id: 7,
            client_tx: 1_785_412_800_123_456_789,
            len: 384
        }
    );
    assert_eq!(parsed.to_bytes(), request);

    let error = QueryRequest::parse(&request[..383]).unwrap_err();
    assert_eq!(
        error,
        QueryError::ExtendedRequestNotPadded {
            version: 1,
            len: 383,
            min: 384
        }
    );
    assert!(error.to_string().contains("padded to at least 384 bytes"));
    // The shortest datagram that names a version is 9 bytes; still refused, as is one the
    // size of the compact reply.
    for len in [9, 24, 64] {
        assert!(matches!(
            QueryRequest::parse(&request[..len]),
            Err(QueryError::ExtendedRequestNotPadded { .. })
        ));
    }
    // An encoder can never produce an unpadded one.
    let short = QueryRequest::Extended {
        version,
        request_id: 7,
        client_tx: 0,
        len: 9,
    };
    assert_eq!(short.to_bytes().len(), EXTENDED_REQUEST_MIN_LEN);
    assert_eq!(EXTENDED_REQUEST_MIN_LEN, EXTENDED_REPLY_LEN);
}

prop_compose! {
    fn reply()(
        request_id: u32, system_time_ns: u64, monotonic_counter: u64, ptp_offset_ns: i64,
        drift_rate_ppb: i32, frequency_adjustment_ppb: i32,
        mode in (0u8..=5).prop_map(|m| Mode::from_wire_code(m).unwrap()),
        is_locked: bool, grandmaster_uuid: [u8; 6], monotonic_frequency_hz: u64,
        last_ntp_offset_us: i32, phase: i16, flags: u8,
    ) -> QueryReply {
        QueryReply {
            request_id, system_time_ns, monotonic_counter, ptp_offset_ns, drift_rate_ppb,
            frequency_adjustment_ppb, mode, is_locked, grandmaster_uuid, monotonic_frequency_hz,
            last_ntp_offset_us,
            accumulated_phase: AccumulatedPhase::from_micros_saturating(phase.into()),
            flags: ReplyFlags::from_bits(flags),
        }
    }
}

proptest! {
    #[test]
    fn no_extended_answer_is_longer_than_its_request(
        asked in 1u8..=255,
        len in EXTENDED_REQUEST_MIN_LEN..2048,
    ) {
        let asked = NonZeroU8::new(asked).unwrap();
        let v = answer_version(asked, len).expect("every padded request has an answer");
        prop_assert!(extended_reply_len(v.get()) <= len);
        prop_assert!(v <= asked && v.get() <= EXTENDED_VERSION);
        // And it is the newest that fits: the next one up would be too long or not asked for.
        let next = v.get() + 1;
        prop_assert!(next > asked.get() || next > EXTENDED_VERSION || extended_reply_len(next) > len);
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let bytes = reply.to_bytes();
        prop_assert_eq!(bytes.len(), REPLY_LEN);
        prop_assert_eq!(QueryReply::parse(&bytes), Ok(reply));
    }

    #[test]
    fn requests_round_trip(id: u32, client_tx: u64, version in 0u8..=255, pad in 0usize..100) {
        let request = match NonZeroU8::new(version) {
            None => QueryRequest::Compact { request_id: id },
            Some(version) => QueryRequest::Extended {
                version, request_id: id, client_tx, len: EXTENDED_REPLY_LEN + pad,
            },
        };
        prop_assert_eq!(QueryRequest::parse(&request.to_bytes()), Ok(request));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        magic in prop_oneof![Just(&b"DSYN"[..]), Just(&b"DSYR"[..]), Just(&b""[..])],
        tail in proptest::collection::vec(any::<u8>(), 0..500),
    ) {
        let bytes = [magic, &tail].concat();
        if let Ok(request) = QueryRequest::parse(&bytes) {
            prop_assert_eq!(QueryRequest::parse(&request.to_bytes()), Ok(request));
        }
        if let Ok(reply) = QueryReply::parse(&bytes) {
            prop_assert_eq!(&reply.to_bytes()[..63], &bytes[..63]);
        }
    }

    #[test]
    fn phase_is_clamped_not_wrapped(micros: i64) {
        let phase = AccumulatedPhase::from_micros_saturating(micros).as_micros();
        prop_assert_eq!(i64::from(phase), micros.clamp(-32_768, 32_767));
    }
}
