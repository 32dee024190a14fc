//! The NTP server's responder on arbitrary datagrams from arbitrary sources: it never panics,
//! answers only NTPv3/v4 client requests of at least 48 bytes, and whatever it sends is exactly
//! 48 bytes, never longer than what came in, and names the request it answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dantesync_core::ntp_server::{
    DropReason, RateLimit, Responder, ResponderConfig, Response, ServerState,
};
use dantesync_core::wire::ntp::{Mode, NtpHeader};
use dantesync_core::LocalTime;
use proptest::prelude::*;

const T: i64 = 1_785_427_891_123_456_789;

fn source() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<u128>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

/// Arbitrary bytes, or a client request with an arbitrary tail (so the answered path is
/// exercised as much as the refused ones).
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            proptest::collection::vec(any::<u8>(), 48),
            3u8..=4,
            proptest::collection::vec(any::<u8>(), 0..120)
        )
            .prop_map(|(mut head, version, tail)| {
                head[0] = (head[0] & 0xc0) | (version << 3) | 3;
                head.extend(tail);
                head
            }),
    ]
}

proptest! {
    #[test]
    fn any_datagram_from_any_source(
        packets in proptest::collection::vec((datagram(), source(), 0i64..5_000_000_000), 1..40),
        limited in any::<bool>(),
    ) {
        let mut r = Responder::new(ResponderConfig {
            rate_limit: limited.then(|| RateLimit { burst: 2, ..RateLimit::default() }),
            ..ResponderConfig::default()
        });
        let state = ServerState::local(8, LocalTime::from_nanos(T), -20);
        for (bytes, src, dt) in &packets {
            let rx = LocalTime::from_nanos(T + dt);
            let sent = match r.respond(bytes, *src, rx, &state, rx) {
                Response::Reply(b) => Some(b),
                Response::KissOfDeath(b) => Some(b),
                Response::Drop(reason) => {
                    prop_assert!(DropReason::ALL.contains(&reason));
                    None
                }
            };
            if let Some(reply) = sent {
                prop_assert!(reply.len() <= bytes.len());
                let (request, _) = NtpHeader::parse(bytes).expect("only parsed requests are answered");
                prop_assert_eq!(request.mode, Mode::Client);
                prop_assert!((3..=4).contains(&request.version));
                let (h, _) = NtpHeader::parse(&reply).unwrap();
                prop_assert_eq!(h.mode, Mode::Server);
                prop_assert_eq!(h.version, request.version);
                prop_assert_eq!(h.origin_ts, request.transmit_ts);
            }
        }
        let c = r.counters();
        prop_assert_eq!(c.received, packets.len() as u64);
        prop_assert_eq!(
            c.answered + c.kiss_of_death + c.dropped_total(),
            c.received
        );
    }
}
