//! Wireshark's PTP dissector as an independent reader of what the PTPv1 codec writes.
//!
//! Every field gets a distinctive value (no zeros, no defaults, negative where the type is
//! signed), so a field written at the wrong offset or with the wrong width shows up as a
//! mismatch rather than as two zeros agreeing.

mod support;

use dantesync_core::wire::ptpv1::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, ManagementBody, Message, Subdomain,
    SyncBody, Timestamp, Uuid, EVENT_PORT, GENERAL_PORT,
};
use support::tshark::{self, UdpPacket};

fn header(control: Control, sequence_id: u16) -> Header {
    let mut header = Header::new(
        control,
        Uuid([0x02, 0x1d, 0xc1, 0x5e, 0xa7, 0x91]),
        sequence_id,
    );
    header.subdomain = Subdomain::ALT2;
    header.source_communication_technology = 1;
    header.source_port_id = 0x0203;
    header.flags = Flags::LI59 | Flags::EXT_SYNC | Flags::PARENT_STATS | Flags::SYNC_BURST;
    header
}

fn sync_body() -> SyncBody {
    let mut body = SyncBody {
        origin_timestamp: Timestamp::new(3_000_000_123, 987_654_321),
        epoch_number: 0x0102,
        current_utc_offset: -37,
        grandmaster_communication_technology: 1,
        grandmaster_clock_uuid: Uuid([0x00, 0x1d, 0xc1, 0x08, 0x02, 0x14]),
        grandmaster_port_id: 0x0405,
        grandmaster_sequence_id: 0x0607,
        grandmaster_clock_stratum: 121,
        grandmaster_clock_identifier: *b"ATOM",
        grandmaster_clock_variance: -1234,
        grandmaster_preferred: true,
        grandmaster_is_boundary_clock: true,
        sync_interval: 0,
        local_clock_variance: -4000,
        local_steps_removed: 0x0809,
        local_clock_stratum: 153,
        local_clock_identifier: *b"GPS\0",
        parent_communication_technology: 1,
        parent_uuid: Uuid([0x00, 0x1d, 0xc1, 0x0a, 0x0b, 0x0c]),
        parent_port_field: 0x0d0e,
        estimated_master_variance: -321,
        estimated_master_drift: -123_456_789,
        utc_reasonable: true,
        ..SyncBody::default()
    };
    body.set_sync_interval(-3);
    body
}

fn packet(message: &Message) -> UdpPacket {
    let port = message.control().udp_port();
    UdpPacket {
        src_port: port,
        dst_port: port,
        payload: message.to_bytes(),
    }
}

/// Has tshark dissect `message` alone and compares every named field with `expected`.
fn assert_tshark_reads(message: &Message, expected: &[(&str, String)]) {
    let packets = [packet(message)];
    let mut fields: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    fields.push("_ws.malformed");
    let Some(rows) = tshark::decode(&packets, "ptp", &fields) else {
        eprintln!("SKIPPED tshark cross-check of {}", message.control());
        return;
    };
    assert_eq!(rows.len(), 1, "tshark did not see one PTP packet: {rows:?}");
    let row = &rows[0];
    for ((name, want), got) in expected.iter().zip(row) {
        assert_eq!(got, want, "{} field {name}", message.control());
    }
    assert_eq!(row.last().map(String::as_str), Some(""), "malformed");
    assert_eq!(tshark::malformed_count(&packets), Some(0));
    assert_eq!(tshark::problems(&packets), Some(vec![]));
}

fn header_fields(header: &Header, control: Control) -> Vec<(&'static str, String)> {
    let flag = |f: Flags| u8::from(header.flags.contains(f)).to_string();
    vec![
        ("ptp.versionptp", "1".into()),
        ("ptp.versionnetwork", header.version_network.to_string()),
        ("ptp.subdomain", header.subdomain.as_str().into()),
        ("ptp.messagetype", control.message_type().to_string()),
        (
            "ptp.sourcecommunicationtechnology",
            header.source_communication_technology.to_string(),
        ),
        ("ptp.sourceuuid", header.source_uuid.to_string()),
        ("ptp.sourceportid", header.source_port_id.to_string()),
        ("ptp.sequenceid", header.sequence_id.to_string()),
        ("ptp.controlfield", control.to_u8().to_string()),
        ("ptp.flags", format!("{:#06x}", header.flags.0)),
        ("ptp.flags.li61", flag(Flags::LI61)),
        ("ptp.flags.li59", flag(Flags::LI59)),
        ("ptp.flags.boundary_clock", flag(Flags::BOUNDARY_CLOCK)),
        ("ptp.flags.assist", flag(Flags::ASSIST)),
        ("ptp.flags.ext_sync", flag(Flags::EXT_SYNC)),
        ("ptp.flags.parent_stats", flag(Flags::PARENT_STATS)),
        ("ptp.flags.sync_burst", flag(Flags::SYNC_BURST)),
    ]
}

fn identifier(bytes: &[u8; 4]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(4);
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

fn sync_fields(body: &SyncBody) -> Vec<(&'static str, String)> {
    vec![
        (
            "ptp.sdr.origintimestamp_seconds",
            body.origin_timestamp.seconds.to_string(),
        ),
        (
            "ptp.sdr.origintimestamp_nanoseconds",
            body.origin_timestamp.nanoseconds.to_string(),
        ),
        ("ptp.sdr.epochnumber", body.epoch_number.to_string()),
        (
            "ptp.sdr.currentutcoffset",
            body.current_utc_offset.to_string(),
        ),
        (
            "ptp.sdr.grandmastercommunicationtechnology",
            body.grandmaster_communication_technology.to_string(),
        ),
        (
            "ptp.sdr.grandmasterclockuuid",
            body.grandmaster_clock_uuid.to_string(),
        ),
        (
            "ptp.sdr.grandmasterportid",
            body.grandmaster_port_id.to_string(),
        ),
        (
            "ptp.sdr.grandmastersequenceid",
            body.grandmaster_sequence_id.to_string(),
        ),
        (
            "ptp.sdr.grandmasterclockstratum",
            body.grandmaster_clock_stratum.to_string(),
        ),
        (
            "ptp.sdr.grandmasterclockidentifier",
            identifier(&body.grandmaster_clock_identifier),
        ),
        (
            "ptp.sdr.grandmasterclockvariance",
            body.grandmaster_clock_variance.to_string(),
        ),
        (
            "ptp.sdr.grandmasterpreferred",
            u8::from(body.grandmaster_preferred).to_string(),
        ),
        (
            "ptp.sdr.grandmasterisboundaryclock",
            u8::from(body.grandmaster_is_boundary_clock).to_string(),
        ),
        ("ptp.sdr.syncinterval", body.sync_interval.to_string()),
        (
            "ptp.sdr.localclockvariance",
            body.local_clock_variance.to_string(),
        ),
        (
            "ptp.sdr.localstepsremoved",
            body.local_steps_removed.to_string(),
        ),
        (
            "ptp.sdr.localclockstratum",
            body.local_clock_stratum.to_string(),
        ),
        (
            "ptp.sdr.localclockidentifier",
            identifier(&body.local_clock_identifier),
        ),
        (
            "ptp.sdr.parentcommunicationtechnology",
            body.parent_communication_technology.to_string(),
        ),
        ("ptp.sdr.parentuuid", body.parent_uuid.to_string()),
        (
            "ptp.sdr.parentportfield",
            body.parent_port_field.to_string(),
        ),
        (
            "ptp.sdr.estimatedmastervariance",
            body.estimated_master_variance.to_string(),
        ),
        (
            "ptp.sdr.estimatedmasterdrift",
            body.estimated_master_drift.to_string(),
        ),
        (
            "ptp.sdr.utcreasonable",
            u8::from(body.utc_reasonable).to_string(),
        ),
    ]
}

#[test]
fn tshark_reads_every_field_of_a_sync() {
    let header = header(Control::Sync, 0x1234);
    let body = sync_body();
    let mut expected = header_fields(&header, Control::Sync);
    expected.extend(sync_fields(&body));
    assert_tshark_reads(&Message::Sync(header, body), &expected);
}

#[test]
fn tshark_reads_every_field_of_a_delay_req() {
    let mut header = header(Control::DelayReq, 0x4321);
    header.flags = Flags::LI61 | Flags::BOUNDARY_CLOCK | Flags::ASSIST;
    let mut body = sync_body();
    body.origin_timestamp = Timestamp::new(17, 5);
    body.set_sync_interval(4);
    body.utc_reasonable = false;
    body.grandmaster_preferred = false;
    let mut expected = header_fields(&header, Control::DelayReq);
    expected.extend(sync_fields(&body));
    assert_tshark_reads(&Message::DelayReq(header, body), &expected);
}

/// The Delay_Req the path-delay measurement sends, exactly as it leaves the core.
#[test]
fn tshark_reads_our_own_delay_req_cleanly() {
    use dantesync_core::path_delay::{PathDelay, PathDelayConfig};
    use dantesync_core::source::LeaderId;
    let leader = LeaderId {
        sender: Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
        sender_port: 1,
        grandmaster: Uuid([0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]),
    };
    let cfg = PathDelayConfig {
        interval_s: 4.0,
        identity: Uuid([0x02, 0x42, 0xac, 0x11, 0x00, 0x07]),
        seed: 9,
    };
    let mut path = PathDelay::new(cfg, Subdomain::DEFAULT);
    path.leader_changed(leader, 0);
    path.sync(250_000_000, 699_212_426_642, 0);
    let request = path.poll(1_000_000_000).expect("a request is due");
    let message = Message::parse(&request.bytes).expect("our Delay_Req parses");
    assert_eq!(message.to_bytes(), request.bytes);
    let Message::DelayReq(header, body) = &message else {
        panic!("not a Delay_Req: {message:?}");
    };
    assert_eq!(header.sequence_id, request.sequence_id);
    let mut expected = header_fields(header, Control::DelayReq);
    expected.extend(sync_fields(body));
    assert_tshark_reads(&message, &expected);
}

#[test]
fn tshark_reads_every_field_of_a_follow_up() {
    let header = header(Control::FollowUp, 0x1234);
    let body = FollowUpBody {
        associated_sequence_id: 0xfedc,
        precise_origin_timestamp: Timestamp::new(4_000_000_001, 999_999_999),
        ..FollowUpBody::default()
    };
    let mut expected = header_fields(&header, Control::FollowUp);
    expected.extend([
        (
            "ptp.fu.associatedsequenceid",
            body.associated_sequence_id.to_string(),
        ),
        (
            "ptp.fu.preciseorigintimestamp_seconds",
            body.precise_origin_timestamp.seconds.to_string(),
        ),
        (
            "ptp.fu.preciseorigintimestamp_nanoseconds",
            body.precise_origin_timestamp.nanoseconds.to_string(),
        ),
    ]);
    assert_tshark_reads(&Message::FollowUp(header, body), &expected);
}

/// A negative receipt time (sign bit of the nanoseconds) too: tshark shows the raw Int32.
#[test]
fn tshark_reads_every_field_of_a_delay_resp() {
    let header = header(Control::DelayResp, 0x5678);
    let body = DelayRespBody {
        delay_receipt_timestamp: Timestamp::from_nanos(-2_000_000_250),
        requesting_source_communication_technology: 1,
        requesting_source_uuid: Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f]),
        requesting_source_port_id: 0x0a0b,
        requesting_source_sequence_id: 0x4321,
        ..DelayRespBody::default()
    };
    assert_eq!(body.delay_receipt_timestamp.nanoseconds, -2_147_483_398);
    let mut expected = header_fields(&header, Control::DelayResp);
    expected.extend([
        (
            "ptp.dr.delayreceipttimestamp_seconds",
            body.delay_receipt_timestamp.seconds.to_string(),
        ),
        (
            "ptp.dr.delayreceipttimestamp_nanoseconds",
            body.delay_receipt_timestamp.nanoseconds.to_string(),
        ),
        (
            "ptp.dr.requestingsourcecommunicationtechnology",
            body.requesting_source_communication_technology.to_string(),
        ),
        (
            "ptp.dr.requestingsourceuuid",
            body.requesting_source_uuid.to_string(),
        ),
        (
            "ptp.dr.requestingsourceportid",
            body.requesting_source_port_id.to_string(),
        ),
        (
            "ptp.dr.requestingsourcesequenceid",
            body.requesting_source_sequence_id.to_string(),
        ),
    ]);
    assert_tshark_reads(&Message::DelayResp(header, body), &expected);
}

/// GET_CURRENT_DATA_SET (key 10), which has no parameters.
#[test]
fn tshark_reads_the_management_header() {
    let header = header(Control::Management, 0x0042);
    let body = ManagementBody {
        target_communication_technology: 1,
        target_uuid: Uuid([0x00, 0x1d, 0xc1, 0x11, 0x22, 0x33]),
        target_port_id: 0x0102,
        starting_boundary_hops: 5,
        boundary_hops: -2,
        management_message_key: 10,
        parameter_length: 0,
        ..ManagementBody::default()
    };
    let mut expected = header_fields(&header, Control::Management);
    expected.extend([
        (
            "ptp.mm.targetcommunicationtechnology",
            body.target_communication_technology.to_string(),
        ),
        ("ptp.mm.targetuuid", body.target_uuid.to_string()),
        ("ptp.mm.targetportid", body.target_port_id.to_string()),
        (
            "ptp.mm.startingboundaryhops",
            body.starting_boundary_hops.to_string(),
        ),
        ("ptp.mm.boundaryhops", body.boundary_hops.to_string()),
        (
            "ptp.mm.managementmessagekey",
            body.management_message_key.to_string(),
        ),
        ("ptp.mm.parameterlength", body.parameter_length.to_string()),
    ]);
    assert_tshark_reads(&Message::Management(header, body), &expected);
}

/// tshark and the codec agree on which port each kind goes to: Wireshark dissects PTP only on
/// 319/320, and the codec's `udp_port` is what the daemon sends to.
#[test]
fn event_and_general_ports_are_319_and_320() {
    assert_eq!((EVENT_PORT, GENERAL_PORT), (319, 320));
    assert_eq!(
        packet(&Message::Sync(header(Control::Sync, 1), sync_body())).dst_port,
        319
    );
}
