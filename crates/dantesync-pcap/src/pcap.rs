//! Classic libpcap files (magic `a1b2c3d4`, or `a1b23c4d` for nanosecond
//! timestamps, in either byte order).

use pcap_file::pcap::PcapParser;
use pcap_file::TsResolution;

use crate::link::{udp_in_frame, Link};
use crate::{Datagram, Error, Reader};

const FORMAT: &str = "pcap";
const FILE_HEADER_LEN: usize = 24;

pub(crate) fn read(bytes: &[u8], origin: &str) -> Result<Vec<Datagram>, Error> {
    let reader = Reader {
        origin,
        format: FORMAT,
    };
    let (mut rest, parser) =
        PcapParser::new(bytes).map_err(|e| reader.error(0, "file header".into(), e))?;
    let header = parser.header();
    let linktype = u32::from(header.datalink);
    let link = Link::from_linktype(linktype).ok_or_else(|| Error::Unsupported {
        origin: origin.to_owned(),
        what: format!("link type {linktype} (only Ethernet, Linux cooked, raw IP and loopback)"),
    })?;
    // Microseconds unless the magic number said nanoseconds.
    let frac_to_nanos: i64 = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };

    let mut datagrams = Vec::new();
    let mut index = 0usize;
    let mut offset = FILE_HEADER_LEN;
    while !rest.is_empty() {
        // Raw records: the checked conversion rejects files whose snaplen is
        // smaller than the packets (common with hand-made captures), and the
        // timestamp is computed here anyway.
        let (after, packet) = parser
            .next_raw_packet(rest)
            .map_err(|e| reader.error(offset, format!("packet record {index}"), e))?;
        let ts_nanos =
            i64::from(packet.ts_sec) * 1_000_000_000 + i64::from(packet.ts_frac) * frac_to_nanos;
        if let Some(udp) = udp_in_frame(link, &packet.data) {
            datagrams.push(Datagram {
                ts_nanos,
                src: udp.src,
                dst: udp.dst,
                payload: udp.payload.to_vec(),
            });
        }
        offset += rest.len() - after.len();
        rest = after;
        index += 1;
    }
    Ok(datagrams)
}
