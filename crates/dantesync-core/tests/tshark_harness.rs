//! The tshark harness itself, fed with real Dante PTPv1 traffic.

mod support;

use support::tshark::{self, UdpPacket};

const DANTE_PTPV1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/captures/inferno-fpga/dante_ptpv1.pcap"
);

/// The first two Sync / Follow_Up pairs of the RedNet AM2 capture, with
/// their real ports (49155 → 319 and 49156 → 320).
fn dante_packets() -> Vec<UdpPacket> {
    let datagrams = dantesync_pcap::read_udp(DANTE_PTPV1).unwrap();
    datagrams[..4]
        .iter()
        .map(|d| UdpPacket {
            src_port: d.src.port(),
            dst_port: d.dst.port(),
            payload: d.payload.clone(),
        })
        .collect()
}

#[test]
fn tshark_dissects_real_dante_sync_and_follow_up() {
    let packets = dante_packets();
    assert_eq!(
        packets.iter().map(|p| p.payload.len()).collect::<Vec<_>>(),
        [124, 52, 124, 52]
    );

    let Some(rows) = tshark::decode(
        &packets,
        "ptp",
        &[
            "udp.srcport",
            "udp.dstport",
            "ptp.versionptp",
            "ptp.controlfield",
            "ptp.sequenceid",
            "ptp.subdomain",
            "ptp.sourceuuid",
            "ptp.sdr.syncinterval",
            "ptp.fu.associatedsequenceid",
        ],
    ) else {
        eprintln!("SKIPPED tshark_dissects_real_dante_sync_and_follow_up");
        return;
    };
    let expected = [
        [
            "49155",
            "319",
            "1",
            "0",
            "2724",
            "_DFLT",
            "00:1d:c1:a1:72:3c",
            "-2",
            "",
        ],
        [
            "49156",
            "320",
            "1",
            "2",
            "2724",
            "_DFLT",
            "00:1d:c1:a1:72:3c",
            "",
            "2724",
        ],
        [
            "49155",
            "319",
            "1",
            "0",
            "2725",
            "_DFLT",
            "00:1d:c1:a1:72:3c",
            "-2",
            "",
        ],
        [
            "49156",
            "320",
            "1",
            "2",
            "2725",
            "_DFLT",
            "00:1d:c1:a1:72:3c",
            "",
            "2725",
        ],
    ];
    assert_eq!(rows, expected);

    assert_eq!(tshark::malformed_count(&packets), Some(0));
    assert_eq!(tshark::problems(&packets), Some(vec![]));
}

/// The malformed check must be able to fail: a Sync cut to 20 bytes is
/// reported, the whole packets around it are not.
#[test]
fn tshark_reports_a_truncated_sync_as_malformed() {
    let mut packets = dante_packets();
    packets[2].payload.truncate(20);
    let Some(malformed) = tshark::decode(&packets, "_ws.malformed", &["frame.number"]) else {
        eprintln!("SKIPPED tshark_reports_a_truncated_sync_as_malformed");
        return;
    };
    assert_eq!(malformed, [["3"]]);
    assert_eq!(tshark::malformed_count(&packets), Some(1));
    let problems = tshark::problems(&packets).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("packet 2: Malformed Packet"),
        "{problems:?}"
    );
}
