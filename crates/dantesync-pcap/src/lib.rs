//! Reads UDP datagrams, with their capture timestamps, out of pcap and pcapng
//! files, so protocol parsers and the servo can be tested against real traffic.
//!
//! Supported link types: Ethernet (with 802.1Q / QinQ tags), Linux cooked v1
//! and v2, raw IPv4/IPv6, and BSD loopback. IPv4 and IPv6. Frames that are not
//! UDP, are IP fragments, or are cut short by the snap length are skipped;
//! a file that is not a well-formed capture is an [`Error`], never a panic.

mod error;
mod link;
mod pcap;
mod pcapng;

use std::net::SocketAddr;
use std::path::Path;

pub use error::Error;

/// One UDP datagram as captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_nanos: i64,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// UDP payload (as long as the UDP length field says).
    pub payload: Vec<u8>,
}

/// Reads every UDP datagram of a pcap or pcapng file, in file order.
pub fn read_udp(path: impl AsRef<Path>) -> Result<Vec<Datagram>, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(&bytes, &path.display().to_string())
}

/// Reads every UDP datagram of a pcap or pcapng capture held in memory.
pub fn read_udp_from_bytes(bytes: &[u8]) -> Result<Vec<Datagram>, Error> {
    read_from(bytes, "<in-memory capture>")
}

/// pcapng files start with a section header block, whose type is this in
/// either byte order.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Classic pcap magic numbers (µs and ns), as stored big- or little-endian.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];

fn read_from(bytes: &[u8], origin: &str) -> Result<Vec<Datagram>, Error> {
    let magic = bytes.get(..4).unwrap_or(bytes);
    if magic == PCAPNG_MAGIC {
        pcapng::read(bytes, origin)
    } else if PCAP_MAGICS.iter().any(|m| m == magic) {
        pcap::read(bytes, origin)
    } else {
        Err(Error::UnknownFormat {
            origin: origin.to_owned(),
            magic: magic.to_vec(),
        })
    }
}

/// Where a capture comes from, to turn pcap-file's errors into ours.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    origin: &'a str,
    format: &'static str,
}

impl Reader<'_> {
    fn error(&self, offset: usize, what: String, e: pcap_file::PcapError) -> Error {
        let origin = self.origin.to_owned();
        let format = self.format;
        match e {
            pcap_file::PcapError::IncompleteBuffer => Error::Truncated {
                origin,
                format,
                offset,
                what,
            },
            pcap_file::PcapError::InvalidField(detail) => Error::Malformed {
                origin,
                format,
                offset,
                what,
                detail: detail.to_owned(),
            },
            other => Error::Malformed {
                origin,
                format,
                offset,
                what,
                detail: other.to_string(),
            },
        }
    }
}
