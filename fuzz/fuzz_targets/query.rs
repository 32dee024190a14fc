//! Any datagram on the query port, read as a request, as a compact reply and as an extended
//! reply, and put through the query gate: never panics, what parses re-encodes to bytes that
//! parse to the same value, and no answer is longer than its request.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};

use dantesync_core::query_server::{Decision, QueryGate, QueryRateLimit};
use dantesync_core::wire::query::{
    extended_reply_len, ExtendedReply, QueryReply, QueryRequest, COMPACT_REQUEST_LEN,
    EXTENDED_REPLY_LEN, FLEET_LEN, REPLY_LEN, SYNC_MODE_VERSION,
};
use dantesync_core::LocalTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = QueryRequest::parse(data) {
        let bytes = request.to_bytes();
        assert_eq!(bytes[..COMPACT_REQUEST_LEN], data[..COMPACT_REQUEST_LEN]);
        assert_eq!(QueryRequest::parse(&bytes), Ok(request));
        if let QueryRequest::Extended { len, .. } = request {
            // Never a reply bigger than the request.
            assert!(len >= EXTENDED_REPLY_LEN && len == data.len());
        }
    }
    if let Ok(reply) = QueryReply::parse(data) {
        let bytes = reply.to_bytes();
        // Everything but the reserved byte is reproduced; the reserved byte is written as 0.
        assert_eq!(bytes[..REPLY_LEN - 1], data[..REPLY_LEN - 1]);
        assert_eq!(bytes[REPLY_LEN - 1], 0);
        assert_eq!(QueryReply::parse(&bytes), Ok(reply));
    }
    if let Ok(reply) = ExtendedReply::parse(data) {
        let bytes = reply.to_bytes();
        assert_eq!(bytes.len(), extended_reply_len(reply.version));
        // Version 3's fields (sync mode, fleet state, D, path delay, phase error) exactly when
        // the version says so.
        assert_eq!(reply.sync_mode.is_some(), reply.version >= SYNC_MODE_VERSION);
        assert_eq!(ExtendedReply::parse(&bytes), Ok(reply));
    }
    // The gate answers only what parses, and an extended answer only to a request at least
    // as long as the reply of the version it answers in.
    let mut gate = QueryGate::new(QueryRateLimit::default());
    let src = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
    match gate.check(data, src, true, LocalTime::from_nanos(0)) {
        Decision::Extended { version, .. } => {
            assert!(data.len() >= extended_reply_len(version.get()))
        }
        Decision::Compact { .. } => assert!(data.len() >= COMPACT_REQUEST_LEN),
        Decision::Fleet(_) => assert!(data.len() >= FLEET_LEN),
        Decision::Drop(_) => {}
    }
});
