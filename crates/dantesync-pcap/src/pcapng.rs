//! pcapng files: sections, interfaces and (enhanced) packet blocks.
//!
//! pcap-file hands back the raw 64-bit timestamp of a packet block without
//! applying its interface's `if_tsresol` (an enhanced packet block's
//! `Duration` is the raw count read as nanoseconds), so the scaling and the
//! `if_tsoffset` are applied here.

use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};

use crate::link::{udp_in_frame, Link};
use crate::{Datagram, Error, Reader};

const FORMAT: &str = "pcapng";
const NANOS_PER_SEC: i128 = 1_000_000_000;
/// `if_tsresol` when the option is absent: microseconds.
const DEFAULT_TSRESOL: u8 = 6;

pub(crate) fn read(bytes: &[u8], origin: &str) -> Result<Vec<Datagram>, Error> {
    let reader = Reader {
        origin,
        format: FORMAT,
    };
    let (mut rest, mut parser) =
        PcapNgParser::new(bytes).map_err(|e| reader.error(0, "section header block".into(), e))?;

    let mut datagrams = Vec::new();
    let mut index = 1usize;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let what = format!("block {index}");
        let (after, block) = parser
            .next_block(rest)
            .map_err(|e| reader.error(offset, what.clone(), e))?;
        let (interface_id, ticks, data) = match &block {
            Block::EnhancedPacket(epb) => {
                // Exact: pcap-file built the Duration from a u64 count.
                let ticks = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                (epb.interface_id, ticks, &epb.data)
            }
            Block::Packet(pb) => (u32::from(pb.interface_id), pb.timestamp, &pb.data),
            Block::SimplePacket(_) => {
                return Err(Error::Unsupported {
                    origin: origin.to_owned(),
                    what: format!(
                    "pcapng simple packet block ({what} at byte {offset}): it carries no timestamp"
                ),
                })
            }
            _ => {
                rest = after;
                index += 1;
                continue;
            }
        };
        let malformed = |detail: String| Error::Malformed {
            origin: origin.to_owned(),
            format: FORMAT,
            offset,
            what: what.clone(),
            detail,
        };
        let interface = parser
            .interfaces()
            .get(interface_id as usize)
            .ok_or_else(|| malformed(format!("packet refers to interface {interface_id}, which no interface description block declared")))?;
        let linktype = u32::from(interface.linktype);
        let link = Link::from_linktype(linktype).ok_or_else(|| Error::Unsupported {
            origin: origin.to_owned(),
            what: format!(
                "link type {linktype} on pcapng interface {interface_id} (only Ethernet, Linux cooked, raw IP and loopback)"
            ),
        })?;
        if let Some(udp) = udp_in_frame(link, data) {
            let ts_nanos = timestamp_nanos(interface, ticks).map_err(malformed)?;
            datagrams.push(Datagram {
                ts_nanos,
                src: udp.src,
                dst: udp.dst,
                payload: udp.payload.to_vec(),
            });
        }
        rest = after;
        index += 1;
    }
    Ok(datagrams)
}

/// Converts a packet block's raw timestamp to nanoseconds since the epoch,
/// honouring the interface's `if_tsresol` and `if_tsoffset`.
fn timestamp_nanos(interface: &InterfaceDescriptionBlock<'_>, ticks: u64) -> Result<i64, String> {
    let mut tsresol = DEFAULT_TSRESOL;
    let mut offset_secs: i128 = 0;
    for option in &interface.options {
        match option {
            InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
            // The pcapng spec makes if_tsoffset a signed 64-bit count of seconds.
            InterfaceDescriptionOption::IfTsOffset(o) => {
                offset_secs = i128::from(i64::from_ne_bytes(o.to_ne_bytes()))
            }
            _ => {}
        }
    }
    let since_offset = ticks_to_nanos(ticks, tsresol).ok_or_else(|| {
        format!("if_tsresol {tsresol:#04x} is too fine to convert to nanoseconds")
    })?;
    let nanos = since_offset + offset_secs * NANOS_PER_SEC;
    i64::try_from(nanos).map_err(|_| format!("timestamp of {nanos} ns does not fit in an i64"))
}

/// Scales a count of `if_tsresol` units to nanoseconds (truncating finer
/// units). The high bit of `tsresol` selects a power of two, else of ten.
fn ticks_to_nanos(ticks: u64, tsresol: u8) -> Option<i128> {
    let ticks = u128::from(ticks);
    let exponent = u32::from(tsresol & 0x7f);
    let nanos = if tsresol & 0x80 != 0 {
        (ticks * 1_000_000_000) >> exponent
    } else if exponent <= 9 {
        ticks * 10u128.pow(9 - exponent)
    } else {
        ticks / 10u128.checked_pow(exponent - 9)?
    };
    i128::try_from(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::ticks_to_nanos;

    #[test]
    fn tsresol_powers_of_ten_and_two() {
        assert_eq!(ticks_to_nanos(1_500_000, 6), Some(1_500_000_000));
        assert_eq!(ticks_to_nanos(1_500_000_123, 9), Some(1_500_000_123));
        assert_eq!(ticks_to_nanos(3, 0), Some(3_000_000_000));
        assert_eq!(ticks_to_nanos(1_234_567, 12), Some(1_234));
        // 2^-10 s units: 1024 ticks are one second.
        assert_eq!(ticks_to_nanos(1024, 0x80 | 10), Some(1_000_000_000));
        assert_eq!(ticks_to_nanos(1, 0x80 | 1), Some(500_000_000));
        // 10^-127 cannot be formed in 128 bits.
        assert_eq!(ticks_to_nanos(1, 127), None);
    }
}
