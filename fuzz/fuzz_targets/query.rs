//! Any datagram on the query port, read as a request and as a reply: never panics, and what
//! parses re-encodes to bytes that parse to the same value.
#![no_main]
use dantesync_core::wire::query::{QueryReply, QueryRequest, COMPACT_REQUEST_LEN, REPLY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = QueryRequest::parse(data) {
        let bytes = request.to_bytes();
        assert_eq!(bytes[..COMPACT_REQUEST_LEN], data[..COMPACT_REQUEST_LEN]);
        assert_eq!(QueryRequest::parse(&bytes), Ok(request));
        if let QueryRequest::Extended { len, .. } = request {
            // Never a reply bigger than the request.
            assert!(len >= REPLY_LEN && len == data.len());
        }
    }
    if let Ok(reply) = QueryReply::parse(data) {
        let bytes = reply.to_bytes();
        // Everything but the reserved byte is reproduced; the reserved byte is written as 0.
        assert_eq!(bytes[..REPLY_LEN - 1], data[..REPLY_LEN - 1]);
        assert_eq!(bytes[REPLY_LEN - 1], 0);
        assert_eq!(QueryReply::parse(&bytes), Ok(reply));
    }
});
