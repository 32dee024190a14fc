//! Any datagram on the PTP ports: parsing never panics, whatever parses re-serialises to the
//! exact bytes it came from and parses back to the same message, and a rejection names a byte
//! that really is wrong.
#![no_main]
use dantesync_core::wire::ptpv1::{is_ptpv1, Message, ParseError, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Message::parse(data);
    assert_eq!(
        is_ptpv1(data),
        !matches!(
            parsed,
            Err(ParseError::NotVersion1 { .. }) | Err(ParseError::TooShort { got: 0 | 1, .. })
        )
    );
    match parsed {
        Ok(message) => {
            assert_eq!(message.encoded_len(), data.len());
            let bytes = message.to_bytes();
            assert_eq!(bytes, data);
            let again = Message::parse(&bytes).expect("written bytes parse");
            assert_eq!(again, message);
            assert_eq!(message.header().control, message.control());

            let mut out = vec![0xa5; data.len() + 3];
            assert_eq!(message.write_to(&mut out), Ok(data.len()));
            assert_eq!(&out[..data.len()], data);
            assert!(message.write_to(&mut out[..data.len() - 1]).is_err());

            let timestamp = match &message {
                Message::Sync(_, body) | Message::DelayReq(_, body) => body.origin_timestamp,
                Message::FollowUp(_, body) => body.precise_origin_timestamp,
                Message::DelayResp(_, body) => body.delay_receipt_timestamp,
                Message::Management(_, body) => {
                    assert!(body.declared_parameters().len() <= body.parameters.len());
                    Timestamp::default()
                }
            };
            let ns = timestamp.to_nanos();
            let back = Timestamp::from_nanos(ns);
            assert_eq!(
                back.to_nanos(),
                ns.clamp(-Timestamp::MAX_NANOS, Timestamp::MAX_NANOS)
            );
            let _ = message.header().subdomain.as_str();
            let _ = format!("{message:?}");
        }
        Err(ParseError::TooShort { needed, got }) => assert!(got == data.len() && got < needed),
        Err(ParseError::NotVersion1 { version }) => assert!(version != 1 && data[..2] != [0, 1]),
        Err(ParseError::BadControl(control)) => assert!(control > 4 && data[32] == control),
        Err(ParseError::BadMessageType {
            control,
            message_type,
        }) => {
            assert!(data[20] == message_type && message_type != control.message_type())
        }
        Err(ParseError::BadBoolean { value, .. }) => assert!(value > 1),
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
