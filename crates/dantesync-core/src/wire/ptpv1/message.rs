use super::control::Control;
use super::delay_resp::DelayRespBody;
use super::error::{EncodeError, ParseError};
use super::follow_up::FollowUpBody;
use super::header::{Header, HEADER_LEN};
use super::management::ManagementBody;
use super::sync::SyncBody;

/// One PTPv1 message; the variant is the header's control field.
///
/// `Message::parse(buf)?.to_bytes() == buf` for every `buf` that parses: reserved bytes,
/// unknown flag bits and bytes beyond the message's length are all kept. That is what lets a
/// capture be replayed through the codec and compared byte for byte, and lets the fuzzer check
/// the codec against itself.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Message {
    Sync(Header, SyncBody),
    DelayReq(Header, SyncBody),
    FollowUp(Header, FollowUpBody),
    DelayResp(Header, DelayRespBody),
    Management(Header, ManagementBody),
}

impl Message {
    /// Reads one message from a UDP payload.
    ///
    /// Rejected: any versionPTP other than 1 (PTPv2 shares the group and ports), fewer bytes
    /// than the control field requires, an unknown control value, a messageType that
    /// contradicts the control field, and a Boolean field that is neither 0 nor 1. Accepted as
    /// is: everything the codec does not interpret, so the bytes can be reproduced exactly.
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        let header = Header::parse(buf)?;
        Ok(match header.control {
            Control::Sync => Message::Sync(header, SyncBody::parse(buf)?),
            Control::DelayReq => Message::DelayReq(header, SyncBody::parse(buf)?),
            Control::FollowUp => Message::FollowUp(header, FollowUpBody::parse(buf)?),
            Control::DelayResp => Message::DelayResp(header, DelayRespBody::parse(buf)?),
            Control::Management => Message::Management(header, ManagementBody::parse(buf)?),
        })
    }

    pub fn header(&self) -> &Header {
        match self {
            Message::Sync(header, _)
            | Message::DelayReq(header, _)
            | Message::FollowUp(header, _)
            | Message::DelayResp(header, _)
            | Message::Management(header, _) => header,
        }
    }

    pub fn header_mut(&mut self) -> &mut Header {
        match self {
            Message::Sync(header, _)
            | Message::DelayReq(header, _)
            | Message::FollowUp(header, _)
            | Message::DelayResp(header, _)
            | Message::Management(header, _) => header,
        }
    }

    /// The kind of message, from the variant (which is what [`Message::to_bytes`] writes,
    /// whatever `header().control` says).
    pub fn control(&self) -> Control {
        match self {
            Message::Sync(..) => Control::Sync,
            Message::DelayReq(..) => Control::DelayReq,
            Message::FollowUp(..) => Control::FollowUp,
            Message::DelayResp(..) => Control::DelayResp,
            Message::Management(..) => Control::Management,
        }
    }

    /// How many bytes [`Message::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Sync(_, body) | Message::DelayReq(_, body) => body.encoded_len(),
            Message::FollowUp(_, body) => body.encoded_len(),
            Message::DelayResp(_, body) => body.encoded_len(),
            Message::Management(_, body) => body.encoded_len(),
        }
    }

    /// Writes the message at the start of `out` and returns its length, for a send path that
    /// reuses one buffer. Every byte of `out[..len]` is written.
    ///
    /// The control field and messageType come from the variant, not from the header, so the
    /// output always parses back into the same variant.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        let got = out.len();
        let Some(out) = out.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall { needed: len, got });
        };
        self.header().write(self.control(), &mut out[..HEADER_LEN]);
        match self {
            Message::Sync(_, body) | Message::DelayReq(_, body) => body.write(out),
            Message::FollowUp(_, body) => body.write(out),
            Message::DelayResp(_, body) => body.write(out),
            Message::Management(_, body) => body.write(out),
        }
        Ok(len)
    }

    /// The exact inverse of [`Message::parse`] for every message it returned.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        // Cannot fail: the buffer has exactly the length write_to asks for.
        let _ = self.write_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Flags, Subdomain, Timestamp, Uuid, SYNC_LEN};
    use super::*;

    /// First Sync and Follow_Up of inferno-fpga/dante_ptpv1.pcap (a Focusrite RedNet AM2).
    const DANTE_SYNC: &str = "000100015f44464c5400000000000000000000000101001dc1a1723c00010aa4\
        0000000c00000000000002bb0ca875bc000000000001001dc1a1723c00000aa40000009944464c5400007060\
        000000010000fffe00007060000000000000009944464c540001001dc1a1723c000000000000000000000000\
        00000000";
    const DANTE_FOLLOW_UP: &str = "000100015f44464c5400000000000000000000000201001dc1a1723c0001\
        0aa40200000c0000000000000aa4000002bb0ca95f92";
    /// Delay_Req and Delay_Resp of ptpd 1.1.0 (fixtures/ptpv1), slave be:cf:81:75:13:7f.
    const PTPD_DELAY_REQ: &str = "000100015f44464c5400000000000000000000000101becf8175137f000100\
        0101000008000000006b015b302cae00e80000000000017a03564888cf000000050000000144464c540000f0\
        6000010000000000010000f06000000001000000ff44464c5400017a03564888cf0000000100000000000000\
        2600000000";
    const PTPD_DELAY_RESP: &str = "000100015f44464c54000000000000000000000002017a03564888cf00010\
        00603000008000000006b015b302cb177a00001becf8175137f00010001";

    const AM2: Uuid = Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn dante_sync_fields_are_read_at_the_right_offsets() {
        let bytes = hex(DANTE_SYNC);
        assert_eq!(bytes.len(), 124);
        let Message::Sync(header, body) = Message::parse(&bytes).unwrap() else {
            panic!("not a Sync");
        };
        assert_eq!(header.sequence_id, 2724);
        assert_eq!(header.flags, Flags::BOUNDARY_CLOCK | Flags::ASSIST);
        assert_eq!(body.origin_timestamp, Timestamp::new(699, 212_366_780));
        assert_eq!(body.epoch_number, 0);
        assert_eq!(body.current_utc_offset, 0);
        assert_eq!(body.grandmaster_communication_technology, 1);
        assert_eq!(body.grandmaster_clock_uuid, AM2);
        assert_eq!(body.grandmaster_port_id, 0);
        assert_eq!(body.grandmaster_sequence_id, 2724);
        assert_eq!(body.grandmaster_clock_stratum, 153);
        assert_eq!(&body.grandmaster_clock_identifier, b"DFLT");
        assert_eq!(body.grandmaster_clock_variance, 28768);
        assert!(!body.grandmaster_preferred);
        assert!(body.grandmaster_is_boundary_clock);
        assert_eq!(body.sync_interval, -2);
        assert_eq!(body.local_clock_variance, 28768);
        assert_eq!(body.local_steps_removed, 0);
        assert_eq!(body.local_clock_stratum, 153);
        assert_eq!(&body.local_clock_identifier, b"DFLT");
        assert_eq!(body.parent_communication_technology, 1);
        assert_eq!(body.parent_uuid, AM2);
        assert_eq!(body.parent_port_field, 0);
        assert_eq!(body.estimated_master_variance, 0);
        assert_eq!(body.estimated_master_drift, 0);
        assert!(!body.utc_reasonable);
        // Byte 82: Dante writes syncInterval sign-extended to 16 bits.
        let mut reserved = [0u8; 26];
        reserved[SyncBody::SYNC_INTERVAL_HIGH_BYTE] = 0xff;
        assert_eq!(body.reserved, reserved);
        assert!(body.trailing.is_empty());
    }

    #[test]
    fn dante_follow_up_names_its_sync() {
        let bytes = hex(DANTE_FOLLOW_UP);
        assert_eq!(bytes.len(), 52);
        let Message::FollowUp(header, body) = Message::parse(&bytes).unwrap() else {
            panic!("not a Follow_Up");
        };
        assert_eq!(header.message_type, 2);
        assert_eq!(header.sequence_id, 2724);
        assert_eq!(body.associated_sequence_id, 2724);
        assert_eq!(
            body.precise_origin_timestamp,
            Timestamp::new(699, 212_426_642)
        );
        assert_eq!(body.reserved, [0, 0]);
    }

    #[test]
    fn ptpd_delay_resp_answers_its_delay_req() {
        let request = Message::parse(&hex(PTPD_DELAY_REQ)).unwrap();
        let Message::DelayReq(req_header, req_body) = &request else {
            panic!("not a Delay_Req");
        };
        assert_eq!(
            req_header.source_uuid,
            Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f])
        );
        assert_eq!(req_header.sequence_id, 1);
        assert_eq!(req_header.flags, Flags::ASSIST);
        assert_eq!(req_body.sync_interval, 1);
        assert_eq!(req_body.local_clock_variance, -4000);
        assert_eq!(req_body.local_clock_stratum, 255);
        assert_eq!(req_body.local_steps_removed, 1);
        assert_eq!(req_body.estimated_master_drift, 38);

        let Message::DelayResp(resp_header, resp_body) =
            Message::parse(&hex(PTPD_DELAY_RESP)).unwrap()
        else {
            panic!("not a Delay_Resp");
        };
        assert_eq!(resp_header.sequence_id, 6);
        assert_eq!(
            resp_body.delay_receipt_timestamp,
            Timestamp::new(1_795_250_992, 749_828_000)
        );
        assert_eq!(resp_body.requesting_source_communication_technology, 1);
        assert_eq!(resp_body.requesting_source_uuid, req_header.source_uuid);
        assert_eq!(
            resp_body.requesting_source_port_id,
            req_header.source_port_id
        );
        assert_eq!(
            resp_body.requesting_source_sequence_id,
            req_header.sequence_id
        );
    }

    #[test]
    fn real_messages_round_trip_exactly() {
        for text in [DANTE_SYNC, DANTE_FOLLOW_UP, PTPD_DELAY_REQ, PTPD_DELAY_RESP] {
            let bytes = hex(text);
            let message = Message::parse(&bytes).unwrap();
            assert_eq!(message.encoded_len(), bytes.len());
            assert_eq!(message.to_bytes(), bytes);
        }
    }

    #[test]
    fn write_to_covers_every_byte_and_reports_small_buffers() {
        for text in [DANTE_SYNC, DANTE_FOLLOW_UP, PTPD_DELAY_REQ, PTPD_DELAY_RESP] {
            let bytes = hex(text);
            let message = Message::parse(&bytes).unwrap();
            let mut out = [0xa5u8; 200];
            assert_eq!(message.write_to(&mut out), Ok(bytes.len()));
            assert_eq!(&out[..bytes.len()], &bytes[..]);
            assert!(out[bytes.len()..].iter().all(|&b| b == 0xa5));
            assert_eq!(
                message.write_to(&mut out[..bytes.len() - 1]),
                Err(EncodeError::BufferTooSmall {
                    needed: bytes.len(),
                    got: bytes.len() - 1
                })
            );
        }
    }

    #[test]
    fn extra_bytes_are_kept_and_written_back() {
        let mut bytes = hex(DANTE_SYNC);
        bytes.extend_from_slice(&[0xde, 0xad]);
        let message = Message::parse(&bytes).unwrap();
        let Message::Sync(_, body) = &message else {
            panic!("not a Sync");
        };
        assert_eq!(body.trailing, [0xde, 0xad]);
        assert_eq!(message.to_bytes(), bytes);
    }

    #[test]
    fn every_truncation_is_rejected_with_the_length_needed() {
        for (text, len) in [
            (DANTE_SYNC, 124),
            (DANTE_FOLLOW_UP, 52),
            (PTPD_DELAY_REQ, 124),
            (PTPD_DELAY_RESP, 60),
        ] {
            let bytes = hex(text);
            for cut in 0..len {
                let needed = if cut < HEADER_LEN { HEADER_LEN } else { len };
                assert_eq!(
                    Message::parse(&bytes[..cut]),
                    Err(ParseError::TooShort { needed, got: cut }),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn booleans_other_than_0_or_1_are_rejected() {
        for (offset, field) in [
            (77, "grandmasterPreferred"),
            (79, "grandmasterIsBoundaryClock"),
            (123, "utcReasonable"),
        ] {
            let mut bytes = hex(DANTE_SYNC);
            bytes[offset] = 2;
            assert_eq!(
                Message::parse(&bytes),
                Err(ParseError::BadBoolean { field, value: 2 })
            );
        }
    }

    #[test]
    fn management_keeps_declared_length_and_all_bytes() {
        let mut header = Header::new(Control::Management, AM2, 9);
        header.subdomain = Subdomain::ALT2;
        let body = ManagementBody {
            target_communication_technology: 1,
            target_uuid: Uuid([1, 2, 3, 4, 5, 6]),
            target_port_id: 7,
            starting_boundary_hops: -3,
            boundary_hops: 2,
            management_message_key: 12,
            parameter_length: 6,
            reserved: [0; 4],
            parameters: vec![0x10, 0x11, 0x12, 0x13],
        };
        let message = Message::Management(header, body);
        let bytes = message.to_bytes();
        assert_eq!(bytes.len(), 64);
        assert_eq!(
            &bytes[40..60],
            &[0, 1, 1, 2, 3, 4, 5, 6, 0, 7, 0xff, 0xfd, 0, 2, 0, 12, 0, 0, 0, 6]
        );
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed, message);
        let Message::Management(_, body) = parsed else {
            panic!("not Management");
        };
        assert_eq!(body.declared_parameters(), [0x10, 0x11, 0x12, 0x13]);
    }

    #[test]
    fn writing_uses_the_variant_for_control_and_message_type() {
        // A header left over from a Sync, put into a Delay_Req: the bytes must say Delay_Req.
        let mut header = Header::new(Control::Sync, AM2, 1);
        header.message_type = 7;
        let message = Message::DelayReq(header, SyncBody::default());
        let bytes = message.to_bytes();
        assert_eq!(bytes.len(), SYNC_LEN);
        assert_eq!((bytes[20], bytes[32]), (1, 1));
        let reparsed = Message::parse(&bytes).unwrap();
        assert_eq!(reparsed.control(), Control::DelayReq);
        assert_eq!(reparsed.header().control, Control::DelayReq);
    }

    #[test]
    fn set_sync_interval_sign_extends_like_dante() {
        let dante = Message::parse(&hex(DANTE_SYNC)).unwrap();
        let Message::Sync(header, original) = &dante else {
            panic!("not a Sync");
        };
        let mut body = original.clone();
        body.set_sync_interval(3);
        body.set_sync_interval(-2);
        assert_eq!(&body, original);
        assert_eq!(Message::Sync(*header, body).to_bytes(), hex(DANTE_SYNC));
    }
}
