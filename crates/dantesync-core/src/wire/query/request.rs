//! The query request: "DSYN", a request id, and (extended form only) a version byte.
//!
//! Existing tools send exactly 8 bytes, and the earlier server accepted "8 bytes or more",
//! ignoring the rest. So the byte after the id is the only place left to tell a newer format
//! apart: absent or 0 means the compact request (any zero padding is tolerated); anything else
//! is the highest extended version the client reads (`docs/query-api.md`). An extended request
//! carries the client's transmit time at offset 16 and must be at least
//! [`EXTENDED_REQUEST_MIN_LEN`] bytes long, the size of the shortest extended reply, so that no
//! new request type makes the reflection problem worse. A version with a longer reply (version
//! 3's 448 bytes) is answered only to a request at least that long; a shorter one gets the
//! newest version whose reply fits ([`answer_version`]).
//!
//! The earlier tool's later releases also answer a "DSYX" magic with an extended reply of
//! their own; this codec refuses it as a bad magic, which is what those clients expect from a
//! server that lacks that extension.

use std::num::NonZeroU8;

use super::error::QueryError;
use super::extended::{
    extended_reply_len, EXTENDED_REPLY_LEN, EXTENDED_VERSION, REQUEST_CLIENT_TX_AT,
};

/// "DSYN".
pub const REQUEST_MAGIC: u32 = 0x4453_594E;
pub const COMPACT_REQUEST_LEN: usize = 8;
/// The size of the version-1 extended reply: no extended request may be shorter. A later
/// version with a longer reply is answered in that version only when its request is at least
/// as long as that reply ([`answer_version`]).
pub const EXTENDED_REQUEST_MIN_LEN: usize = EXTENDED_REPLY_LEN;

/// The version an extended request for `requested` that is `len` bytes long is answered in:
/// the newest this code writes that is not above `requested` and whose reply is no longer
/// than the request. So a request padded to 384 bytes gets a version-2 reply whatever version
/// it asks for, as it would from a node that writes only version 2, and nothing is ever
/// answered with more bytes than it came with. `None` when even version 1's reply is longer
/// (the parser refuses such a request).
pub fn answer_version(requested: NonZeroU8, len: usize) -> Option<NonZeroU8> {
    (1..=requested.get().min(EXTENDED_VERSION))
        .rev()
        .find(|&v| extended_reply_len(v) <= len)
        .and_then(NonZeroU8::new)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryRequest {
    /// What every existing tool sends; answered by the 64-byte [`QueryReply`](super::QueryReply).
    Compact { request_id: u32 },
    /// The versioned extended request; `len` is the datagram length, the cap on the size of
    /// the reply it gets.
    Extended {
        /// The highest version the client reads.
        version: NonZeroU8,
        request_id: u32,
        /// T1: the client's transmit time, echoed untouched in the reply.
        client_tx: u64,
        len: usize,
    },
}

impl QueryRequest {
    pub fn parse(datagram: &[u8]) -> Result<QueryRequest, QueryError> {
        let Some(head) = datagram.first_chunk::<COMPACT_REQUEST_LEN>() else {
            return Err(QueryError::TooShort {
                len: datagram.len(),
                min: COMPACT_REQUEST_LEN,
            });
        };
        let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if magic != REQUEST_MAGIC {
            return Err(QueryError::BadMagic {
                found: magic,
                expected: REQUEST_MAGIC,
            });
        }
        let request_id = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let version = datagram.get(COMPACT_REQUEST_LEN).copied().unwrap_or(0);
        let Some(version) = NonZeroU8::new(version) else {
            return Ok(QueryRequest::Compact { request_id });
        };
        if datagram.len() < EXTENDED_REQUEST_MIN_LEN {
            return Err(QueryError::ExtendedRequestNotPadded {
                version: version.get(),
                len: datagram.len(),
                min: EXTENDED_REQUEST_MIN_LEN,
            });
        }
        let tx = &datagram[REQUEST_CLIENT_TX_AT..REQUEST_CLIENT_TX_AT + 8];
        Ok(QueryRequest::Extended {
            version,
            request_id,
            client_tx: u64::from_be_bytes(tx.try_into().expect("8 bytes")),
            len: datagram.len(),
        })
    }

    /// The compact form is 8 bytes; the extended form is zero-padded to `len`, and never to
    /// less than [`EXTENDED_REQUEST_MIN_LEN`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let (request_id, extended, len) = match *self {
            QueryRequest::Compact { request_id } => (request_id, None, COMPACT_REQUEST_LEN),
            QueryRequest::Extended {
                version,
                request_id,
                client_tx,
                len,
            } => (
                request_id,
                Some((version, client_tx)),
                len.max(EXTENDED_REQUEST_MIN_LEN),
            ),
        };
        let mut out = vec![0u8; len];
        out[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&request_id.to_be_bytes());
        if let Some((version, client_tx)) = extended {
            out[COMPACT_REQUEST_LEN] = version.get();
            out[REQUEST_CLIENT_TX_AT..REQUEST_CLIENT_TX_AT + 8]
                .copy_from_slice(&client_tx.to_be_bytes());
        }
        out
    }

    pub fn request_id(&self) -> u32 {
        match *self {
            QueryRequest::Compact { request_id } | QueryRequest::Extended { request_id, .. } => {
                request_id
            }
        }
    }
}
