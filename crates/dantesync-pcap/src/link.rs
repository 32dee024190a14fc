//! From a captured frame to the UDP datagram inside it.
//!
//! Each capture link type puts a different header in front of the IP packet;
//! this module strips it and lets etherparse slice IP and UDP. Frames that are
//! not UDP, are IP fragments, or are cut short are not datagrams: they yield
//! `None` rather than an error, because real captures are full of them.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

/// The link-layer framings this reader understands (tcpdump.org LINKTYPE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// LINKTYPE_ETHERNET (1); 802.1Q and QinQ tags are handled by etherparse.
    Ethernet,
    /// LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): a 4-byte address family
    /// header, whose byte order depends on the capturing host.
    BsdLoopback,
    /// LINKTYPE_RAW (101), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229): the
    /// frame starts with the IP header.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113): 16-byte Linux cooked header v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): 20-byte Linux cooked header v2.
    LinuxSll2,
}

impl Link {
    /// The framing for a numeric link type, or `None` if it is not supported.
    pub(crate) fn from_linktype(linktype: u32) -> Option<Link> {
        match linktype {
            0 | 108 => Some(Link::BsdLoopback),
            1 => Some(Link::Ethernet),
            101 | 228 | 229 => Some(Link::RawIp),
            113 => Some(Link::LinuxSll),
            276 => Some(Link::LinuxSll2),
            _ => None,
        }
    }
}

/// A UDP datagram found in a frame, borrowing its payload from the frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UdpInFrame<'a> {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) payload: &'a [u8],
}

/// Length of the Linux cooked v2 header; its first two bytes are the EtherType.
const SLL2_HEADER_LEN: usize = 20;
/// Length of the BSD loopback address-family header.
const LOOPBACK_HEADER_LEN: usize = 4;

/// Finds the UDP datagram in `frame`, if it holds a whole, unfragmented one.
pub(crate) fn udp_in_frame(link: Link, frame: &[u8]) -> Option<UdpInFrame<'_>> {
    let sliced = match link {
        Link::Ethernet => SlicedPacket::from_ethernet(frame),
        Link::LinuxSll => SlicedPacket::from_linux_sll(frame),
        Link::RawIp => SlicedPacket::from_ip(frame),
        // The address family value differs between BSDs for IPv6, so look at
        // the IP version nibble instead of decoding it.
        Link::BsdLoopback => SlicedPacket::from_ip(frame.get(LOOPBACK_HEADER_LEN..)?),
        Link::LinuxSll2 => {
            let ether_type = u16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
            SlicedPacket::from_ether_type(EtherType(ether_type), frame.get(SLL2_HEADER_LEN..)?)
        }
    }
    .ok()?;

    let (src_ip, dst_ip, fragmented) = match sliced.net.as_ref()? {
        NetSlice::Ipv4(ip) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
            ip.payload().fragmented,
        ),
        NetSlice::Ipv6(ip) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
            ip.payload().fragmented,
        ),
    };
    if fragmented {
        return None;
    }
    match sliced.transport? {
        TransportSlice::Udp(udp) => Some(UdpInFrame {
            src: SocketAddr::new(src_ip, udp.source_port()),
            dst: SocketAddr::new(dst_ip, udp.destination_port()),
            payload: udp.payload(),
        }),
        _ => None,
    }
}
