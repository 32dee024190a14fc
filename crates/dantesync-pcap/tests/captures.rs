//! The reader against real third-party captures and hand-built frames.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dantesync_pcap::{read_udp, read_udp_from_bytes, Datagram, Error};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn shared(path: &str) -> String {
    format!("{SHARED}/{path}")
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

const DANTE_PTPV1: &str = "captures/inferno-fpga/dante_ptpv1.pcap";
const LEAPSECOND_NTP: &str = "captures/leapsecond/ntp.pcap";
const PTPD_PCAPNG: &str = "fixtures/ptpv1/ptpd-1.1.0_master+slave_veth.pcapng";

#[test]
fn dante_ptpv1_capture_from_real_hardware() {
    let datagrams = read_udp(shared(DANTE_PTPV1)).unwrap();
    assert_eq!(datagrams.len(), 116);

    let sync: Vec<&Datagram> = datagrams.iter().filter(|d| d.dst.port() == 319).collect();
    let follow_up: Vec<&Datagram> = datagrams.iter().filter(|d| d.dst.port() == 320).collect();
    assert_eq!(sync.len(), 58);
    assert_eq!(follow_up.len(), 58);
    for d in &sync {
        assert_eq!(d.src, v4(169, 254, 61, 114, 49155));
        assert_eq!(d.dst, v4(224, 0, 1, 129, 319));
        assert_eq!(d.payload.len(), 124);
    }
    for d in &follow_up {
        assert_eq!(d.src, v4(169, 254, 61, 114, 49156));
        assert_eq!(d.dst, v4(224, 0, 1, 129, 320));
        assert_eq!(d.payload.len(), 52);
    }

    // Timestamps as tshark prints them (frame.time_epoch), microsecond file.
    assert_eq!(datagrams[0].ts_nanos, 1_785_427_891_463_474_000);
    assert_eq!(datagrams[115].ts_nanos, 1_785_427_905_713_121_000);
    assert_eq!(
        datagrams[115].ts_nanos - datagrams[0].ts_nanos,
        14_249_647_000
    );
    assert!(datagrams.windows(2).all(|w| w[0].ts_nanos <= w[1].ts_nanos));

    // First Sync: versionPTP 1, versionNetwork 1, subdomain "_DFLT",
    // messageType 1 (event), sourceUuid 00:1d:c1:a1:72:3c, sequenceId 2724
    // (0x0aa4), control 0 (Sync).
    let first = &datagrams[0].payload;
    assert_eq!(&first[0..4], &[0x00, 0x01, 0x00, 0x01]);
    assert_eq!(&first[4..9], b"_DFLT");
    assert_eq!(first[20], 0x01);
    assert_eq!(&first[22..28], &[0x00, 0x1d, 0xc1, 0xa1, 0x72, 0x3c]);
    assert_eq!(u16::from_be_bytes([first[30], first[31]]), 2724);
    assert_eq!(first[32], 0);
    // Its Follow_Up: control 2, associatedSequenceId 2724 at offset 42.
    let fu = &datagrams[1].payload;
    assert_eq!(fu[32], 2);
    assert_eq!(u16::from_be_bytes([fu[42], fu[43]]), 2724);
}

#[test]
fn leapsecond_ntp_capture_is_linux_cooked() {
    let datagrams = read_udp(shared(LEAPSECOND_NTP)).unwrap();
    assert_eq!(datagrams.len(), 194);
    let client = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 248));
    assert!(datagrams
        .iter()
        .all(|d| d.src.port() == 123 && d.dst.port() == 123 && d.payload.len() == 48));
    assert_eq!(
        datagrams.iter().filter(|d| d.src.ip() == client).count(),
        100
    );
    assert_eq!(
        datagrams.iter().filter(|d| d.dst.ip() == client).count(),
        94
    );

    let first = &datagrams[0];
    assert_eq!(first.src, v4(192, 168, 0, 248, 123));
    assert_eq!(first.dst, v4(85, 91, 1, 180, 123));
    assert_eq!(first.ts_nanos, 1_483_219_006_964_921_000);
    // NTPv3 client: LI 1, VN 3, mode 3.
    assert_eq!(first.payload[0], 0x5b);
    assert_eq!(datagrams[193].ts_nanos, 1_483_226_281_398_552_000);
}

#[test]
fn ptpd_pcapng_with_nanosecond_interface() {
    let datagrams = read_udp(shared(PTPD_PCAPNG)).unwrap();
    assert_eq!(datagrams.len(), 74);
    let master = IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1));
    let slave = IpAddr::V4(Ipv4Addr::new(10, 250, 0, 2));
    let count = |src: IpAddr, port: u16, len: usize| {
        datagrams
            .iter()
            .filter(|d| d.src.ip() == src && d.dst.port() == port && d.payload.len() == len)
            .count()
    };
    assert_eq!(count(master, 319, 124), 35); // Sync
    assert_eq!(count(master, 320, 52), 35); // Follow_Up
    assert_eq!(count(slave, 319, 124), 2); // Delay_Req
    assert_eq!(count(master, 320, 60), 2); // Delay_Resp
    assert!(datagrams.iter().all(|d| d.src.port() == d.dst.port()));
    // if_tsresol is 9: the nanosecond digits survive.
    assert_eq!(datagrams[0].ts_nanos, 1_795_250_988_749_914_305);
    assert_eq!(datagrams[73].ts_nanos, 1_795_251_022_749_604_990);
}

// ---- hand-built captures ------------------------------------------------

const UDP_PAYLOAD: &[u8] = b"dante sync!";

fn pcap_file(magic: u32, linktype: u32, frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (sec, frac, frame) in frames {
        let len = u32::try_from(frame.len()).unwrap();
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&frac.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // checksum not computed (legal for IPv4)
    out.extend_from_slice(payload);
    out
}

/// IPv4 header (no options) around `l4`; `flags_fragment` is the raw
/// flags + fragment offset word.
fn ipv4(protocol: u8, flags_fragment: u16, l4: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + l4.len()).unwrap();
    let mut h = vec![0x45, 0x00];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&flags_fragment.to_be_bytes());
    h.extend_from_slice(&[1, protocol, 0, 0]);
    h.extend_from_slice(&[192, 168, 1, 10]);
    h.extend_from_slice(&[224, 0, 1, 129]);
    let sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !u16::try_from((folded & 0xffff) + (folded >> 16)).unwrap();
    h[10..12].copy_from_slice(&checksum.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

fn ipv6_udp(l4: &[u8]) -> Vec<u8> {
    let len = u16::try_from(l4.len()).unwrap();
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[17, 1]);
    h.extend_from_slice(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).octets());
    h.extend_from_slice(&Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x181).octets());
    h.extend_from_slice(l4);
    h
}

/// Ethernet frame to the PTP multicast MAC with the given VLAN tags
/// (TPID, TCI) in front of EtherType `ether_type`.
fn ethernet(tags: &[(u16, u16)], ether_type: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0x01, 0x00, 0x5e, 0x00, 0x01, 0x81];
    f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    for (tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

const PCAP_US: u32 = 0xa1b2_c3d4;
const PCAP_NS: u32 = 0xa1b2_3c4d;

#[test]
fn vlan_tagged_ethernet_gives_the_udp_payload() {
    let l3 = ipv4(17, 0x4000, &udp(49155, 319, UDP_PAYLOAD));
    let frames = vec![
        (
            1_700_000_000,
            250_000,
            ethernet(&[(0x8100, 0x6064)], 0x0800, &l3),
        ),
        (
            1_700_000_001,
            0,
            ethernet(&[(0x88a8, 0x0010), (0x8100, 0x0064)], 0x0800, &l3),
        ),
    ];
    let datagrams = read_udp_from_bytes(&pcap_file(PCAP_US, 1, &frames)).unwrap();
    let expected = |ts_nanos| Datagram {
        ts_nanos,
        src: v4(192, 168, 1, 10, 49155),
        dst: v4(224, 0, 1, 129, 319),
        payload: UDP_PAYLOAD.to_vec(),
    };
    assert_eq!(
        datagrams,
        vec![
            expected(1_700_000_000_250_000_000),
            expected(1_700_000_001_000_000_000)
        ]
    );
}

#[test]
fn non_udp_fragments_and_non_ip_frames_are_skipped() {
    let payload_udp = udp(5000, 6000, UDP_PAYLOAD);
    let frames = vec![
        // ICMP echo: not UDP.
        (
            10,
            0,
            ethernet(&[], 0x0800, &ipv4(1, 0, &[8, 0, 0, 0, 0, 0, 0, 0])),
        ),
        // First fragment (more-fragments bit) and a later fragment.
        (
            11,
            0,
            ethernet(&[], 0x0800, &ipv4(17, 0x2000, &payload_udp)),
        ),
        (
            12,
            0,
            ethernet(&[], 0x0800, &ipv4(17, 0x0003, &payload_udp)),
        ),
        // ARP.
        (13, 0, ethernet(&[], 0x0806, &[0u8; 28])),
        // UDP whose length field claims more than was captured.
        (
            14,
            0,
            ethernet(&[], 0x0800, &ipv4(17, 0, &payload_udp)[..30]),
        ),
        // The one real datagram.
        (15, 7, ethernet(&[], 0x0800, &ipv4(17, 0, &payload_udp))),
    ];
    let datagrams = read_udp_from_bytes(&pcap_file(PCAP_NS, 1, &frames)).unwrap();
    assert_eq!(datagrams.len(), 1);
    assert_eq!(datagrams[0].ts_nanos, 15_000_000_007);
    assert_eq!(datagrams[0].src, v4(192, 168, 1, 10, 5000));
    assert_eq!(datagrams[0].payload, UDP_PAYLOAD);
}

#[test]
fn raw_ipv6_linux_cooked_v2_and_loopback() {
    let l4 = udp(319, 319, UDP_PAYLOAD);
    let v6_src = SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), 319);
    let v6_dst = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x181)),
        319,
    );

    let raw = read_udp_from_bytes(&pcap_file(PCAP_US, 229, &[(5, 1, ipv6_udp(&l4))])).unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(
        (raw[0].src, raw[0].dst, raw[0].ts_nanos),
        (v6_src, v6_dst, 5_000_001_000)
    );
    assert_eq!(raw[0].payload, UDP_PAYLOAD);

    // SLL2: protocol 0x0800, reserved, ifindex, ARPHRD_ETHER, packet type,
    // address length 6, address padded to 8.
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    sll2.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
    sll2.extend_from_slice(&ipv4(17, 0, &l4));
    let cooked = read_udp_from_bytes(&pcap_file(PCAP_US, 276, &[(6, 0, sll2)])).unwrap();
    assert_eq!(cooked.len(), 1);
    assert_eq!(cooked[0].dst, v4(224, 0, 1, 129, 319));
    assert_eq!(cooked[0].payload, UDP_PAYLOAD);

    // BSD loopback, AF_INET6 = 30 on macOS, host byte order.
    let mut null = 30u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ipv6_udp(&l4));
    let looped = read_udp_from_bytes(&pcap_file(PCAP_US, 0, &[(7, 0, null)])).unwrap();
    assert_eq!(looped.len(), 1);
    assert_eq!(looped[0].src, v6_src);
}

// ---- broken input -------------------------------------------------------

#[test]
fn garbage_and_truncation_are_errors_naming_the_problem() {
    assert!(matches!(
        read_udp_from_bytes(&[]),
        Err(Error::UnknownFormat { .. })
    ));
    let err = read_udp_from_bytes(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory capture>: not a pcap or pcapng capture (first bytes [47, 45, 54, 20])"
    );

    let dante = std::fs::read(shared(DANTE_PTPV1)).unwrap();
    // Header only: a valid, empty capture.
    assert_eq!(read_udp_from_bytes(&dante[..24]).unwrap(), vec![]);
    // Half a header.
    assert!(matches!(
        read_udp_from_bytes(&dante[..12]),
        Err(Error::Truncated { offset: 0, .. })
    ));
    // Cut inside the second packet: 24 + 16 + 166 = 206 is where it starts.
    let err = read_udp_from_bytes(&dante[..250]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory capture>: pcap capture is truncated in packet record 1 at byte 206"
    );

    let pcapng = std::fs::read(shared(PTPD_PCAPNG)).unwrap();
    let cut = read_udp_from_bytes(&pcapng[..pcapng.len() - 10]).unwrap_err();
    assert!(
        matches!(
            cut,
            Error::Truncated {
                format: "pcapng",
                ..
            }
        ),
        "{cut}"
    );

    let missing = read_udp(shared("captures/no-such-file.pcap")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
    assert!(
        missing.to_string().contains("no-such-file.pcap"),
        "{missing}"
    );

    let unsupported = read_udp_from_bytes(&pcap_file(PCAP_US, 105, &[])).unwrap_err();
    assert!(
        unsupported.to_string().contains("link type 105"),
        "{unsupported}"
    );
}

/// Every prefix and many single-byte corruptions of real captures: the reader
/// may fail but must not panic.
#[test]
fn no_panic_on_truncated_or_corrupted_captures() {
    for path in [DANTE_PTPV1, LEAPSECOND_NTP, PTPD_PCAPNG] {
        let bytes = std::fs::read(shared(path)).unwrap();
        for end in 0..bytes.len() {
            let _ = read_udp_from_bytes(&bytes[..end]);
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            // xorshift64: deterministic positions and values.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut corrupted = bytes.clone();
            let at = usize::try_from(state % bytes.len() as u64).unwrap();
            corrupted[at] ^= u8::try_from(state >> 56).unwrap() | 1;
            let _ = read_udp_from_bytes(&corrupted);
        }
    }
}
