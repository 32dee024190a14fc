//! Any datagram on the query port, read as a fleet request and as a fleet reply, and put
//! through the query gate from loopback and from the LAN: never panics, what parses re-encodes
//! to bytes that parse to the same value, a fleet answer goes only to a request at least as
//! long as the reply, and a correction is let through only from loopback.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};

use dantesync_core::query_server::{Decision, QueryGate, QueryRateLimit};
use dantesync_core::wire::query::{FleetKind, FleetReply, FleetRequest, FLEET_LEN};
use dantesync_core::LocalTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = FleetRequest::parse(data) {
        assert!(data.len() >= FLEET_LEN);
        let bytes = request.to_bytes();
        assert_eq!(bytes.len(), FLEET_LEN);
        assert_eq!(FleetRequest::parse(&bytes), Ok(request));
    }
    if let Ok(reply) = FleetReply::parse(data) {
        let bytes = reply.to_bytes();
        assert_eq!(bytes.len(), FLEET_LEN);
        assert_eq!(FleetReply::parse(&bytes), Ok(reply));
    }
    for (src, loopback) in [
        (IpAddr::V4(Ipv4Addr::LOCALHOST), true),
        (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)), false),
    ] {
        let mut gate = QueryGate::new(QueryRateLimit::default());
        if let Decision::Fleet(f) = gate.check(data, src, true, LocalTime::from_nanos(0)) {
            assert!(data.len() >= FLEET_LEN);
            assert_eq!(
                f.may_correct,
                loopback && f.request.kind == FleetKind::CorrectNow
            );
        }
    }
});
