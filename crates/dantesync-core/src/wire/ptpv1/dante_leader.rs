//! The messages a Dante leader sends, field for field as real gear sends them: a two-step
//! Sync with the boundary-clock and assist flags (0x000c), its Follow_Up with the same flags,
//! and the Delay_Resp to a follower's Delay_Req.
//!
//! The simulator's virtual leader and `dantesync gm-sim` (a leader on real sockets) build
//! their packets here, so both send exactly what the follower code is written against. Only
//! message building lives here: when to send and what time to put in is the caller's.

use super::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
    COMMUNICATION_TECHNOLOGY_ETHERNET,
};

/// Who a leader is and how it advertises itself.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderIdentity {
    pub uuid: Uuid,
    pub stratum: u8,
    pub variance: i16,
    pub identifier: [u8; 4],
    pub preferred: bool,
    pub sync_interval_log2: i8,
}

impl LeaderIdentity {
    /// An ordinary Dante leader, as the RedNet AM2 in the shared capture advertises itself.
    pub fn dante(uuid: Uuid) -> Self {
        Self {
            uuid,
            stratum: 153,
            variance: 28768,
            identifier: *b"DFLT",
            preferred: false,
            sync_interval_log2: -2,
        }
    }

    /// The header of every message this leader sends: its UUID as the source, flags 0x000c.
    fn header(&self, control: Control, sequence_id: u16) -> Header {
        let mut header = Header::new(control, self.uuid, sequence_id);
        header.flags = Flags::BOUNDARY_CLOCK | Flags::ASSIST;
        header
    }

    /// The Sync a Dante leader sends: two-step, boundary-clock flag, its own uptime as the
    /// (approximate) origin time.
    pub fn sync(&self, sequence_id: u16, origin: Timestamp) -> Message {
        let header = self.header(Control::Sync, sequence_id);
        let mut body = SyncBody {
            origin_timestamp: origin,
            epoch_number: 0,
            current_utc_offset: 0,
            grandmaster_communication_technology: COMMUNICATION_TECHNOLOGY_ETHERNET,
            grandmaster_clock_uuid: self.uuid,
            grandmaster_port_id: 0,
            grandmaster_sequence_id: sequence_id,
            grandmaster_clock_stratum: self.stratum,
            grandmaster_clock_identifier: self.identifier,
            grandmaster_clock_variance: self.variance,
            grandmaster_preferred: self.preferred,
            grandmaster_is_boundary_clock: true,
            sync_interval: 0,
            local_clock_variance: self.variance,
            local_steps_removed: 0,
            local_clock_stratum: self.stratum,
            local_clock_identifier: self.identifier,
            parent_communication_technology: COMMUNICATION_TECHNOLOGY_ETHERNET,
            parent_uuid: self.uuid,
            parent_port_field: 0,
            estimated_master_variance: 0,
            estimated_master_drift: 0,
            utc_reasonable: false,
            reserved: [0; 26],
            trailing: Vec::new(),
        };
        body.set_sync_interval(self.sync_interval_log2);
        Message::Sync(header, body)
    }

    /// The Follow_Up carrying the precise send time of Sync `sequence_id`.
    pub fn follow_up(&self, sequence_id: u16, precise_origin: Timestamp) -> Message {
        let header = self.header(Control::FollowUp, sequence_id);
        let body = FollowUpBody {
            associated_sequence_id: sequence_id,
            precise_origin_timestamp: precise_origin,
            reserved: [0; 2],
            trailing: Vec::new(),
        };
        Message::FollowUp(header, body)
    }

    /// The Delay_Resp to the Delay_Req whose header is `request`, received at `receipt` on
    /// the leader's timescale. The requesting fields are copied from the request, so the
    /// follower that sent it recognises its answer on the group. `sequence_id` is the
    /// leader's own count of Delay_Resps, as ptpd keeps it; the flags are those of the
    /// leader's other messages (the shared capture holds no Delay_Resp to check them against).
    pub fn delay_resp(&self, sequence_id: u16, request: &Header, receipt: Timestamp) -> Message {
        let header = self.header(Control::DelayResp, sequence_id);
        let body = DelayRespBody {
            delay_receipt_timestamp: receipt,
            requesting_source_communication_technology: request.source_communication_technology,
            requesting_source_uuid: request.source_uuid,
            requesting_source_port_id: request.source_port_id,
            requesting_source_sequence_id: request.sequence_id,
            reserved: [0],
            trailing: Vec::new(),
        };
        Message::DelayResp(header, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_carries_the_syncs_flags_like_dante() {
        let leader = LeaderIdentity::dante("00:1d:c1:00:53:01".parse().unwrap());
        let bytes = leader
            .follow_up(2724, Timestamp::from_nanos(699_212_426_642))
            .to_bytes();
        let Ok(Message::FollowUp(header, body)) = Message::parse(&bytes) else {
            panic!("not a Follow_Up");
        };
        assert_eq!(header.flags, Flags(0x000c));
        assert_eq!(
            (header.sequence_id, body.associated_sequence_id),
            (2724, 2724)
        );
        assert_eq!(
            body.precise_origin_timestamp,
            Timestamp::new(699, 212_426_642)
        );
    }

    #[test]
    fn delay_resp_copies_the_requesting_fields() {
        let leader = LeaderIdentity::dante("00:1d:c1:00:53:01".parse().unwrap());
        let mut request = Header::new(
            Control::DelayReq,
            Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f]),
            4242,
        );
        request.source_port_id = 3;
        let bytes = leader
            .delay_resp(7, &request, Timestamp::from_nanos(700_123_456_789))
            .to_bytes();
        assert_eq!(bytes.len(), 60);
        let Ok(Message::DelayResp(header, body)) = Message::parse(&bytes) else {
            panic!("not a Delay_Resp");
        };
        assert_eq!(header.source_uuid, leader.uuid);
        assert_eq!(header.sequence_id, 7);
        assert_eq!(header.flags, Flags(0x000c));
        assert_eq!(
            body.delay_receipt_timestamp,
            Timestamp::new(700, 123_456_789)
        );
        assert_eq!(body.requesting_source_communication_technology, 1);
        assert_eq!(body.requesting_source_uuid, request.source_uuid);
        assert_eq!(body.requesting_source_port_id, 3);
        assert_eq!(body.requesting_source_sequence_id, 4242);
    }
}
