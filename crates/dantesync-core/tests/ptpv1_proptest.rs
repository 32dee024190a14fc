//! Properties of the PTPv1 codec over inputs nobody would write by hand: arbitrary bytes,
//! real messages with random damage, and arbitrary structured messages.

use dantesync_core::wire::ptpv1::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, ManagementBody, Message, ParseError,
    Subdomain, SyncBody, Timestamp, Uuid, HEADER_LEN,
};
use proptest::prelude::*;

/// The first Dante Sync and Follow_Up of inferno-fpga/dante_ptpv1.pcap, and ptpd 1.1.0's
/// Delay_Req and Delay_Resp: starting points that are already valid, so that damaged copies
/// reach every field rather than stopping at the version check.
const REAL: [&str; 4] = [
    "000100015f44464c5400000000000000000000000101001dc1a1723c00010aa40000000c00000000000002bb0ca875bc000000000001001dc1a1723c00000aa40000009944464c5400007060000000010000fffe00007060000000000000009944464c540001001dc1a1723c00000000000000000000000000000000",
    "000100015f44464c5400000000000000000000000201001dc1a1723c00010aa40200000c0000000000000aa4000002bb0ca95f92",
    "000100015f44464c5400000000000000000000000101becf8175137f0001000101000008000000006b015b302cae00e80000000000017a03564888cf000000050000000144464c540000f06000010000000000010000f06000000001000000ff44464c5400017a03564888cf00000001000000000000002600000000",
    "000100015f44464c54000000000000000000000002017a03564888cf0001000603000008000000006b015b302cb177a00001becf8175137f00010001",
];

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Whatever `parse` accepts must come back byte for byte, and parse again to the same value.
fn check_accepted(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Message::parse(bytes) {
        Ok(message) => {
            prop_assert_eq!(message.encoded_len(), bytes.len());
            let written = message.to_bytes();
            prop_assert_eq!(&written[..], bytes);
            prop_assert_eq!(Message::parse(&written), Ok(message.clone()));
            prop_assert_eq!(message.header().control, message.control());
            prop_assert_eq!(
                message.header().message_type,
                message.control().message_type()
            );
        }
        Err(ParseError::TooShort { needed, got }) => {
            prop_assert_eq!(got, bytes.len());
            prop_assert!(needed > got);
        }
        Err(ParseError::NotVersion1 { version }) => {
            let raw = u16::from_be_bytes([bytes[0], bytes[1]]);
            prop_assert_ne!(raw, 1);
            let nibble = u16::from(bytes[1] & 0x0f);
            prop_assert_eq!(version, if nibble == 1 { raw } else { nibble });
        }
        Err(ParseError::BadControl(control)) => {
            prop_assert_eq!(control, bytes[32]);
            prop_assert!(control > 4);
        }
        Err(ParseError::BadMessageType {
            control,
            message_type,
        }) => {
            prop_assert_eq!(message_type, bytes[20]);
            prop_assert_ne!(message_type, control.message_type());
        }
        Err(ParseError::BadBoolean { value, .. }) => prop_assert!(value > 1),
        Err(other) => prop_assert!(false, "unexpected error {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip_when_accepted(
        bytes in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        check_accepted(&bytes)?;
    }

    /// Random bytes behind a valid-looking start (version 1, a control value near the valid
    /// range, usually the right messageType) exercise the body parsers.
    #[test]
    fn v1_looking_bytes_round_trip_when_accepted(
        mut bytes in proptest::collection::vec(any::<u8>(), HEADER_LEN..200),
        control in 0u8..7,
        right_type in proptest::bool::weighted(0.9),
    ) {
        bytes[0] = 0;
        bytes[1] = 1;
        bytes[32] = control;
        let event = control < 2;
        bytes[20] = if event == right_type { 1 } else { 2 };
        for off in [77, 79, 123] {
            if off < bytes.len() {
                bytes[off] &= 1;
            }
        }
        check_accepted(&bytes)?;
    }

    #[test]
    fn damaged_real_messages_round_trip_when_accepted(
        which in 0..REAL.len(),
        edits in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
        new_len in 0usize..200,
        resize in any::<bool>(),
    ) {
        let mut bytes = hex(REAL[which]);
        for (off, value) in edits {
            if let Some(slot) = bytes.get_mut(off) {
                *slot = value;
            }
        }
        if resize {
            bytes.resize(new_len, 0x5a);
        }
        check_accepted(&bytes)?;
    }

    #[test]
    fn structured_messages_survive_serialize_then_parse(message in arb_message()) {
        let bytes = message.to_bytes();
        prop_assert_eq!(bytes.len(), message.encoded_len());
        prop_assert_eq!(Message::parse(&bytes), Ok(message));
    }

    #[test]
    fn timestamps_convert_exactly_within_range(
        ns in -Timestamp::MAX_NANOS..=Timestamp::MAX_NANOS
    ) {
        let t = Timestamp::from_nanos(ns);
        prop_assert_eq!(t.to_nanos(), ns);
        prop_assert_eq!(Timestamp::checked_from_nanos(ns), Some(t));
        prop_assert!((t.nanoseconds & i32::MAX) < 1_000_000_000);
    }

    #[test]
    fn any_wire_timestamp_has_an_exact_value(seconds in any::<u32>(), nanoseconds in any::<i32>()) {
        let t = Timestamp::new(seconds, nanoseconds);
        let magnitude = i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds & i32::MAX);
        let expected = if nanoseconds < 0 { -magnitude } else { magnitude };
        prop_assert_eq!(t.to_nanos(), expected);
    }
}

fn arb_uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 6]>().prop_map(Uuid)
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<u32>(), any::<i32>()).prop_map(|(s, ns)| Timestamp::new(s, ns))
}

fn arb_trailing() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 1..40),
    ]
}

fn arb_header(control: Control) -> impl Strategy<Value = Header> {
    (
        any::<u16>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        arb_uuid(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<[u8; 5]>(),
    )
        .prop_map(
            move |(
                version_network,
                subdomain,
                source_communication_technology,
                source_uuid,
                source_port_id,
                sequence_id,
                flags,
                reserved,
            )| Header {
                version_network,
                subdomain: Subdomain(subdomain),
                message_type: control.message_type(),
                source_communication_technology,
                source_uuid,
                source_port_id,
                sequence_id,
                control,
                flags: Flags(flags),
                reserved,
            },
        )
}

prop_compose! {
    fn arb_sync_body()(
        grandmaster in (
            arb_timestamp(), any::<u16>(), any::<i16>(), any::<u8>(), arb_uuid(), any::<u16>(),
            any::<u16>(), any::<u8>(), any::<[u8; 4]>(), any::<i16>(), any::<bool>(),
            any::<bool>(),
        ),
        local in (
            any::<i8>(), any::<i16>(), any::<u16>(), any::<u8>(), any::<[u8; 4]>(), any::<u8>(),
            arb_uuid(), any::<u16>(), any::<i16>(), any::<i32>(), any::<bool>(),
        ),
        reserved in any::<[u8; 26]>(),
        trailing in arb_trailing(),
    ) -> SyncBody {
        let (
            origin_timestamp, epoch_number, current_utc_offset,
            grandmaster_communication_technology, grandmaster_clock_uuid, grandmaster_port_id,
            grandmaster_sequence_id, grandmaster_clock_stratum, grandmaster_clock_identifier,
            grandmaster_clock_variance, grandmaster_preferred, grandmaster_is_boundary_clock,
        ) = grandmaster;
        let (
            sync_interval, local_clock_variance, local_steps_removed, local_clock_stratum,
            local_clock_identifier, parent_communication_technology, parent_uuid,
            parent_port_field, estimated_master_variance, estimated_master_drift, utc_reasonable,
        ) = local;
        SyncBody {
            origin_timestamp, epoch_number, current_utc_offset,
            grandmaster_communication_technology, grandmaster_clock_uuid, grandmaster_port_id,
            grandmaster_sequence_id, grandmaster_clock_stratum, grandmaster_clock_identifier,
            grandmaster_clock_variance, grandmaster_preferred, grandmaster_is_boundary_clock,
            sync_interval, local_clock_variance, local_steps_removed, local_clock_stratum,
            local_clock_identifier, parent_communication_technology, parent_uuid,
            parent_port_field, estimated_master_variance, estimated_master_drift, utc_reasonable,
            reserved, trailing,
        }
    }
}

prop_compose! {
    fn arb_follow_up_body()(
        associated_sequence_id in any::<u16>(),
        precise_origin_timestamp in arb_timestamp(),
        reserved in any::<[u8; 2]>(),
        trailing in arb_trailing(),
    ) -> FollowUpBody {
        FollowUpBody { associated_sequence_id, precise_origin_timestamp, reserved, trailing }
    }
}

prop_compose! {
    fn arb_delay_resp_body()(
        delay_receipt_timestamp in arb_timestamp(),
        requesting_source_communication_technology in any::<u8>(),
        requesting_source_uuid in arb_uuid(),
        requesting_source_port_id in any::<u16>(),
        requesting_source_sequence_id in any::<u16>(),
        reserved in any::<[u8; 1]>(),
        trailing in arb_trailing(),
    ) -> DelayRespBody {
        DelayRespBody {
            delay_receipt_timestamp,
            requesting_source_communication_technology,
            requesting_source_uuid,
            requesting_source_port_id,
            requesting_source_sequence_id,
            reserved,
            trailing,
        }
    }
}

prop_compose! {
    fn arb_management_body()(
        target_communication_technology in any::<u8>(),
        target_uuid in arb_uuid(),
        target_port_id in any::<u16>(),
        starting_boundary_hops in any::<i16>(),
        boundary_hops in any::<i16>(),
        management_message_key in any::<u8>(),
        parameter_length in any::<u16>(),
        reserved in any::<[u8; 4]>(),
        parameters in proptest::collection::vec(any::<u8>(), 0..100),
    ) -> ManagementBody {
        ManagementBody {
            target_communication_technology,
            target_uuid,
            target_port_id,
            starting_boundary_hops,
            boundary_hops,
            management_message_key,
            parameter_length,
            reserved,
            parameters,
        }
    }
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (arb_header(Control::Sync), arb_sync_body()).prop_map(|(h, b)| Message::Sync(h, b)),
        (arb_header(Control::DelayReq), arb_sync_body()).prop_map(|(h, b)| Message::DelayReq(h, b)),
        (arb_header(Control::FollowUp), arb_follow_up_body())
            .prop_map(|(h, b)| Message::FollowUp(h, b)),
        (arb_header(Control::DelayResp), arb_delay_resp_body())
            .prop_map(|(h, b)| Message::DelayResp(h, b)),
        (arb_header(Control::Management), arb_management_body())
            .prop_map(|(h, b)| Message::Management(h, b)),
    ]
}
