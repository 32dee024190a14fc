//! gm-sim's messages parsed and paired, the real leader's from the shared capture, and the
//! Delay_Req a follower sends.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Instant;

use dantesync_core::wire::ptpv1::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
};

use super::receive::Datagram;
use super::run::Outcome;
use super::tshark::UdpPacket;
use super::{DANTE_CAPTURE, DEFAULT_UUID, FOLLOWER};

#[derive(Debug, Clone)]
pub struct SyncPacket {
    pub datagram: Datagram,
    pub header: Header,
    pub body: SyncBody,
}

#[derive(Debug, Clone)]
pub struct FollowUpPacket {
    pub datagram: Datagram,
    pub header: Header,
    pub body: FollowUpBody,
}

/// A Sync and the Follow_Up that names it.
#[derive(Debug, Clone)]
pub struct Pair {
    pub sync: SyncPacket,
    pub follow_up: FollowUpPacket,
}

impl Pair {
    pub fn sequence_id(&self) -> u16 {
        self.sync.header.sequence_id
    }

    /// The precise T1 of the Follow_Up, ns of leader uptime.
    pub fn t1(&self) -> i128 {
        self.follow_up.body.precise_origin_timestamp.to_nanos()
    }

    /// When the Sync arrived.
    pub fn arrival(&self) -> Instant {
        self.sync.datagram.at
    }
}

pub fn parse_syncs(datagrams: &[Datagram]) -> Vec<SyncPacket> {
    datagrams
        .iter()
        .map(|d| match Message::parse(&d.bytes) {
            Ok(Message::Sync(header, body)) => SyncPacket {
                datagram: d.clone(),
                header,
                body,
            },
            other => panic!("the event port got something other than a Sync: {other:?}"),
        })
        .collect()
}

pub fn parse_follow_ups(datagrams: &[Datagram]) -> Vec<FollowUpPacket> {
    datagrams
        .iter()
        .filter_map(|d| match Message::parse(&d.bytes) {
            Ok(Message::FollowUp(header, body)) => Some(FollowUpPacket {
                datagram: d.clone(),
                header,
                body,
            }),
            Ok(Message::DelayResp(..)) => None,
            other => panic!("the general port got an unexpected message: {other:?}"),
        })
        .collect()
}

pub fn parse_delay_resps(datagrams: &[Datagram]) -> Vec<(Datagram, Header, DelayRespBody)> {
    datagrams
        .iter()
        .filter_map(|d| match Message::parse(&d.bytes) {
            Ok(Message::DelayResp(header, body)) => Some((d.clone(), header, body)),
            _ => None,
        })
        .collect()
}

/// Every Sync with its Follow_Up, in order; asserts that each Follow_Up has its Sync and
/// that no Sync lacks a Follow_Up (loopback loses nothing).
pub fn pairs(outcome: &Outcome) -> Vec<Pair> {
    let syncs = parse_syncs(&outcome.event);
    let follow_ups = parse_follow_ups(&outcome.general);
    let by_sequence: HashMap<u16, &SyncPacket> =
        syncs.iter().map(|s| (s.header.sequence_id, s)).collect();
    assert_eq!(by_sequence.len(), syncs.len(), "a sequence id came twice");
    let pairs: Vec<Pair> = follow_ups
        .iter()
        .map(|f| {
            assert_eq!(
                f.header.sequence_id, f.body.associated_sequence_id,
                "a Follow_Up's header and associatedSequenceId differ"
            );
            let sync = by_sequence
                .get(&f.body.associated_sequence_id)
                .unwrap_or_else(|| {
                    panic!(
                        "Follow_Up {} matches no Sync",
                        f.body.associated_sequence_id
                    )
                });
            Pair {
                sync: (*sync).clone(),
                follow_up: f.clone(),
            }
        })
        .collect();
    assert_eq!(pairs.len(), syncs.len(), "every Sync has its Follow_Up");
    pairs
}

/// The first Sync and its Follow_Up in the real Dante capture, with their UDP source ports.
pub fn real_first_pair() -> (UdpPacket, UdpPacket) {
    let datagrams = dantesync_pcap::read_udp(DANTE_CAPTURE).expect("read the Dante capture");
    let sync = datagrams
        .iter()
        .find(|d| matches!(Message::parse(&d.payload), Ok(Message::Sync(..))))
        .expect("a Sync in the capture");
    let Ok(Message::Sync(sync_header, _)) = Message::parse(&sync.payload) else {
        unreachable!()
    };
    let follow_up = datagrams
        .iter()
        .find(|d| match Message::parse(&d.payload) {
            Ok(Message::FollowUp(_, body)) => {
                body.associated_sequence_id == sync_header.sequence_id
            }
            _ => false,
        })
        .expect("the first Sync's Follow_Up in the capture");
    let packet = |d: &dantesync_pcap::Datagram| UdpPacket {
        src_port: d.src.port(),
        dst_port: d.dst.port(),
        payload: d.payload.clone(),
    };
    (packet(sync), packet(follow_up))
}

/// The real leader's Sync as it would be with another sequence id, timestamp and UUID.
pub fn real_sync_as(real: &[u8], sequence_id: u16, origin: Timestamp, uuid: Uuid) -> Vec<u8> {
    let Ok(Message::Sync(mut header, mut body)) = Message::parse(real) else {
        panic!("not a Sync")
    };
    header.sequence_id = sequence_id;
    header.source_uuid = uuid;
    body.grandmaster_sequence_id = sequence_id;
    body.origin_timestamp = origin;
    body.grandmaster_clock_uuid = uuid;
    body.parent_uuid = uuid;
    Message::Sync(header, body).to_bytes()
}

/// The real leader's Follow_Up as it would be with another sequence id, T1 and UUID.
pub fn real_follow_up_as(real: &[u8], sequence_id: u16, t1: Timestamp, uuid: Uuid) -> Vec<u8> {
    let Ok(Message::FollowUp(mut header, mut body)) = Message::parse(real) else {
        panic!("not a Follow_Up")
    };
    header.sequence_id = sequence_id;
    header.source_uuid = uuid;
    body.associated_sequence_id = sequence_id;
    body.precise_origin_timestamp = t1;
    Message::FollowUp(header, body).to_bytes()
}

/// Sends a Delay_Req as a ptpd follower does to `port` on 127.0.0.1, from `socket`.
pub fn send_delay_req(socket: &UdpSocket, port: u16, sequence_id: u16) -> Instant {
    let mut header = Header::new(Control::DelayReq, FOLLOWER, sequence_id);
    header.source_port_id = 1;
    header.flags = Flags::ASSIST;
    let mut body = SyncBody {
        origin_timestamp: Timestamp::new(1_795_250_992, 12_345),
        grandmaster_communication_technology: 1,
        grandmaster_clock_uuid: DEFAULT_UUID,
        local_clock_stratum: 255,
        local_clock_identifier: *b"DFLT",
        parent_communication_technology: 1,
        parent_uuid: DEFAULT_UUID,
        ..SyncBody::default()
    };
    body.set_sync_interval(-2);
    let bytes = Message::DelayReq(header, body).to_bytes();
    let at = Instant::now();
    socket
        .send_to(&bytes, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
        .unwrap();
    at
}
