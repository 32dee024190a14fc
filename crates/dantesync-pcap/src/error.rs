//! The one error type of the crate. Every variant names where the bytes came
//! from (a file path, or `<in-memory capture>`), so a failing test or tool says
//! which capture is broken and how.

use std::path::PathBuf;

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read capture file {path}: {source}")]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("{origin}: not a pcap or pcapng capture (first bytes {magic:02x?})")]
    UnknownFormat {
        /// Where the bytes came from.
        origin: String,
        /// Up to the first four bytes of the input.
        magic: Vec<u8>,
    },

    /// The capture stops in the middle of a header, packet record or block.
    #[error("{origin}: {format} capture is truncated in {what} at byte {offset}")]
    Truncated {
        /// Where the bytes came from.
        origin: String,
        /// `"pcap"` or `"pcapng"`.
        format: &'static str,
        /// Byte offset of the record that could not be read whole.
        offset: usize,
        /// Which record, e.g. `file header`, `packet record 12`, `block 3`
        /// (zero-based).
        what: String,
    },

    /// A header, packet record or block holds a value that cannot be right.
    #[error("{origin}: malformed {format} capture, {what} at byte {offset}: {detail}")]
    Malformed {
        /// Where the bytes came from.
        origin: String,
        /// `"pcap"` or `"pcapng"`.
        format: &'static str,
        /// Byte offset of the offending record.
        offset: usize,
        /// Which record, e.g. `file header`, `packet record 12`, `block 3`
        /// (zero-based).
        what: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The capture is well formed but holds something this reader does not
    /// decode (a link type without IP, a block without timestamps...).
    #[error("{origin}: unsupported {what}")]
    Unsupported {
        /// Where the bytes came from.
        origin: String,
        /// What is not supported, e.g. `link type 105`.
        what: String,
    },
}
