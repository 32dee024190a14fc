//! Any datagram on the NTP port: parsing never panics, agrees with the classifier, accounts for
//! every byte, and a parsed header re-serialises to the exact bytes it came from.
#![no_main]
use dantesync_core::wire::ntp::{classify, NtpHeader, NtpTimestamp, PacketKind, ParseError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    match NtpHeader::parse(data) {
        Ok((header, extensions)) => {
            let time = PacketKind::Time {
                version: header.version,
                mode: header.mode,
            };
            assert_eq!(kind, Ok(time));
            let bytes = header.to_bytes();
            assert_eq!(bytes[..], data[..48]);
            let (again, again_extensions) = NtpHeader::parse(&bytes).unwrap();
            assert_eq!(again, header);
            assert!(again_extensions.fields.is_empty() && again_extensions.mac.is_none());

            assert_eq!(extensions.datagram_len, data.len());
            let mut end = 48;
            for field in &extensions.fields {
                assert_eq!(field.offset, end);
                assert_eq!(field.value(data).unwrap().len(), field.len - 4);
                end += field.len;
            }
            assert_eq!(end + extensions.mac.map_or(0, |mac| mac.len), data.len());

            // Conversions of arbitrary timestamps around arbitrary pivots never panic, and a
            // nanosecond-exact timestamp comes back exactly.
            let pivot = header.reference_ts.to_bits() as i64;
            for ts in [header.origin_ts, header.receive_ts, header.transmit_ts] {
                let unix = ts.to_unix_nanos(pivot);
                let wide = ts.to_unix_nanos_wide(pivot);
                if let Ok(exact) = i64::try_from(wide) {
                    assert_eq!(unix, exact);
                    assert_eq!(
                        NtpTimestamp::from_unix_nanos(exact).to_unix_nanos(exact),
                        exact
                    );
                }
            }
            let _ = header.root_delay.to_nanos();
            let _ = header.kiss_code();
        }
        Err(ParseError::ControlMessage) => {
            assert!(matches!(kind, Ok(PacketKind::Control { .. })))
        }
        Err(ParseError::PrivateMessage) => {
            assert!(matches!(kind, Ok(PacketKind::Private { .. })))
        }
        Err(ParseError::Empty | ParseError::UnsupportedVersion(_)) => assert!(kind.is_err()),
        Err(ParseError::TooShort { len }) => assert!(len < 48 && kind.is_ok()),
        Err(ParseError::MalformedExtension { offset, .. }) => {
            assert!(offset >= 48 && offset < data.len());
        }
    }
});
