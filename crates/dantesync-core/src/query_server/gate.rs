//! The decision for one datagram: answer (which form) or drop (why).

use std::net::IpAddr;
use std::num::NonZeroU8;

use super::counters::{QueryCounters, QueryDrop};
use crate::ntp_server::{RateLimit, RateLimiter, Verdict};
use crate::time::LocalTime;
use crate::wire::query::{
    answer_version, is_fleet_request, FleetKind, FleetRequest, QueryError, QueryRequest,
};

/// How much one source may ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryRateLimit {
    /// Requests answered back to back before the limit applies.
    pub burst: u32,
    /// Sustained requests per second.
    pub per_second: u32,
    /// Number of buckets of the table (sources hashing to one bucket share its budget).
    pub buckets: usize,
    /// Seed of the address hash (the host should draw it at random).
    pub seed: u64,
    /// Compact replies (64 bytes for an 8-byte request: an 8x amplifier) answered back to
    /// back over all sources together, and per second sustained. Source addresses can be
    /// spoofed across a whole allowed range (10/8 has 16 million), which per-source limits
    /// cannot stop; this caps what a reflection through this node can ever send.
    pub compact_burst: u32,
    pub compact_per_second: u32,
}

impl Default for QueryRateLimit {
    /// 50 back to back, then 50 a second: far above a monitoring tool or a tray polling once a
    /// second (and above a test polling every 20 ms), far below a flood.
    fn default() -> Self {
        QueryRateLimit {
            burst: 50,
            per_second: 50,
            buckets: 1024,
            seed: 0x2545_f491_4f6c_dd1d,
            // 200 a second is 12.8 kB/s of replies at most: harmless as a reflector, and room
            // for a hundred monitoring tools each polling every 0.5 s.
            compact_burst: 200,
            compact_per_second: 200,
        }
    }
}

/// What to do with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the 64-byte compact reply.
    Compact {
        request_id: u32,
    },
    /// Send the extended reply in `version` (the highest both sides read).
    Extended {
        request_id: u32,
        version: NonZeroU8,
        client_tx: u64,
    },
    /// Answer a fleet request (padded to its reply's size, like an extended one).
    Fleet(FleetDecision),
    Drop(QueryDrop),
}

/// A fleet request let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetDecision {
    pub request: FleetRequest,
    /// The request asks for a correction and came from loopback; a correction asked from
    /// anywhere else is answered with a refusal, never carried out.
    pub may_correct: bool,
}

/// The allowlist verdict, the per-source limiter and the counters of one query socket.
#[derive(Clone, Debug)]
pub struct QueryGate {
    limiter: RateLimiter,
    /// The cap on compact replies over all sources: the same limiter with one bucket.
    compact: RateLimiter,
    counters: QueryCounters,
}

impl QueryGate {
    pub fn new(limit: QueryRateLimit) -> Self {
        let interval_ns = 1_000_000_000 / i64::from(limit.per_second.max(1));
        QueryGate {
            limiter: RateLimiter::new(RateLimit {
                burst: limit.burst,
                interval_ns,
                kod_burst: 0,
                buckets: limit.buckets,
                seed: limit.seed,
            }),
            compact: RateLimiter::new(RateLimit {
                burst: limit.compact_burst,
                interval_ns: 1_000_000_000 / i64::from(limit.compact_per_second.max(1)),
                kod_burst: 0,
                buckets: 1,
                seed: 0,
            }),
            counters: QueryCounters::default(),
        }
    }

    pub fn counters(&self) -> QueryCounters {
        self.counters
    }

    /// Decides for `datagram` from `src` at `now` (any monotonic time); `allowed` is the
    /// allowlist's verdict on `src`. Counts the outcome.
    pub fn check(
        &mut self,
        datagram: &[u8],
        src: IpAddr,
        allowed: bool,
        now: LocalTime,
    ) -> Decision {
        let decision = self.decide(datagram, src, allowed, now);
        match decision {
            Decision::Compact { .. } => {
                self.counters.answered_compact = self.counters.answered_compact.saturating_add(1)
            }
            Decision::Extended { .. } | Decision::Fleet(_) => {
                self.counters.answered_extended = self.counters.answered_extended.saturating_add(1)
            }
            Decision::Drop(why) => self.counters.count_drop(why),
        }
        decision
    }

    fn decide(&mut self, datagram: &[u8], src: IpAddr, allowed: bool, now: LocalTime) -> Decision {
        if !allowed {
            return Decision::Drop(QueryDrop::NotAllowed);
        }
        // Before parsing: garbage spends a source's budget like a request does.
        if self.limiter.check(src, now) != Verdict::Answer {
            return Decision::Drop(QueryDrop::RateLimited);
        }
        if is_fleet_request(datagram) {
            return match FleetRequest::parse(datagram) {
                Ok(request) => Decision::Fleet(FleetDecision {
                    request,
                    may_correct: request.kind == FleetKind::CorrectNow && src.is_loopback(),
                }),
                Err(QueryError::ExtendedRequestNotPadded { .. }) => {
                    Decision::Drop(QueryDrop::NotPadded)
                }
                Err(_) => Decision::Drop(QueryDrop::Malformed),
            };
        }
        match QueryRequest::parse(datagram) {
            Ok(QueryRequest::Compact { request_id }) => {
                let all = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                if self.compact.check(all, now) == Verdict::Answer {
                    Decision::Compact { request_id }
                } else {
                    Decision::Drop(QueryDrop::OverGlobalCap)
                }
            }
            Ok(QueryRequest::Extended {
                version,
                request_id,
                client_tx,
                len,
            }) => match answer_version(version, len) {
                // A newer client gets the newest version this server writes, an older one its
                // own, and either only as long a reply as its request.
                Some(version) => Decision::Extended {
                    request_id,
                    version,
                    client_tx,
                },
                None => Decision::Drop(QueryDrop::NotPadded),
            },
            Err(QueryError::ExtendedRequestNotPadded { .. }) => {
                Decision::Drop(QueryDrop::NotPadded)
            }
            Err(_) => Decision::Drop(QueryDrop::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::query::{
        QueryRequest, EXTENDED_REPLY_LEN, EXTENDED_VERSION, SYNC_MODE_REPLY_LEN,
    };
    use std::net::Ipv4Addr;

    const T0: i64 = 1_000_000_000_000;

    fn at(ms: i64) -> LocalTime {
        LocalTime::from_nanos(T0 + ms * 1_000_000)
    }

    fn ip(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, d))
    }

    fn compact(id: u32) -> Vec<u8> {
        QueryRequest::Compact { request_id: id }.to_bytes()
    }

    fn extended(version: u8, id: u32, client_tx: u64) -> Vec<u8> {
        padded(version, id, client_tx, EXTENDED_REPLY_LEN)
    }

    fn padded(version: u8, id: u32, client_tx: u64, len: usize) -> Vec<u8> {
        QueryRequest::Extended {
            version: NonZeroU8::new(version).unwrap(),
            request_id: id,
            client_tx,
            len,
        }
        .to_bytes()
    }

    fn gate() -> QueryGate {
        QueryGate::new(QueryRateLimit {
            burst: 4,
            per_second: 2,
            ..QueryRateLimit::default()
        })
    }

    #[test]
    fn both_forms_are_answered_within_the_allowlist_only() {
        let mut g = gate();
        assert_eq!(
            g.check(&compact(9), ip(1), true, at(0)),
            Decision::Compact { request_id: 9 }
        );
        assert_eq!(
            g.check(&extended(1, 10, 77), ip(1), true, at(0)),
            Decision::Extended {
                request_id: 10,
                version: NonZeroU8::new(1).unwrap(),
                client_tx: 77
            }
        );
        for request in [compact(9), extended(1, 10, 77)] {
            assert_eq!(
                g.check(&request, ip(2), false, at(0)),
                Decision::Drop(QueryDrop::NotAllowed)
            );
        }
        let c = g.counters();
        assert_eq!((c.answered_compact, c.answered_extended), (1, 1));
        assert_eq!((c.not_allowed, c.dropped(), c.answered()), (2, 2, 2));
    }

    #[test]
    fn a_newer_client_gets_the_newest_version_this_server_writes() {
        let mut g = gate();
        match g.check(&padded(9, 1, 2, 1000), ip(1), true, at(0)) {
            Decision::Extended { version, .. } => assert_eq!(version.get(), EXTENDED_VERSION),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_version_answered_is_the_newest_whose_reply_fits_the_request() {
        let mut g = QueryGate::new(QueryRateLimit::default());
        let version = |g: &mut QueryGate, asked, len| match g.check(
            &padded(asked, 1, 2, len),
            ip(1),
            true,
            at(0),
        ) {
            Decision::Extended { version, .. } => version.get(),
            other => panic!("{other:?}"),
        };
        // Padded for version 3's 448 bytes: version 3, or what the client asked for if older.
        assert_eq!(version(&mut g, 3, SYNC_MODE_REPLY_LEN), 3);
        assert_eq!(version(&mut g, 9, SYNC_MODE_REPLY_LEN), 3);
        assert_eq!(version(&mut g, 2, SYNC_MODE_REPLY_LEN), 2);
        assert_eq!(version(&mut g, 1, SYNC_MODE_REPLY_LEN), 1);
        // Padded only to 384 (a client of version 2, or one that pads too little for 3): the
        // 384-byte version 2, as from a node that writes only version 2. Never a longer reply.
        assert_eq!(version(&mut g, 3, EXTENDED_REPLY_LEN), 2);
        assert_eq!(version(&mut g, 3, SYNC_MODE_REPLY_LEN - 1), 2);
        assert_eq!(version(&mut g, 2, EXTENDED_REPLY_LEN), 2);
        assert_eq!(version(&mut g, 1, EXTENDED_REPLY_LEN), 1);
    }

    #[test]
    fn malformed_and_unpadded_requests_are_dropped_and_counted() {
        let mut g = gate();
        let mut short = extended(1, 1, 2);
        short.truncate(EXTENDED_REPLY_LEN - 1);
        assert_eq!(
            g.check(&short, ip(1), true, at(0)),
            Decision::Drop(QueryDrop::NotPadded)
        );
        assert_eq!(
            g.check(b"DSY", ip(1), true, at(1000)),
            Decision::Drop(QueryDrop::Malformed)
        );
        assert_eq!(
            g.check(b"DSYRxxxx", ip(1), true, at(2000)),
            Decision::Drop(QueryDrop::Malformed)
        );
        let c = g.counters();
        assert_eq!((c.not_padded, c.malformed, c.answered()), (1, 2, 0));
    }

    #[test]
    fn fleet_requests_are_answered_padded_and_corrections_only_from_loopback() {
        let mut g = gate();
        let ask = |kind| {
            FleetRequest {
                version: 1,
                kind,
                request_id: 5,
                client_tx: 6,
            }
            .to_bytes()
        };
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        match g.check(&ask(FleetKind::CorrectNow), lo, true, at(0)) {
            Decision::Fleet(f) => {
                assert_eq!(
                    (f.request.kind, f.request.request_id),
                    (FleetKind::CorrectNow, 5)
                );
                assert!(f.may_correct);
            }
            other => panic!("{other:?}"),
        }
        for (kind, src) in [
            (FleetKind::CorrectNow, ip(1)),
            (FleetKind::Announcement, lo),
            (FleetKind::Announcement, ip(1)),
        ] {
            assert!(matches!(
                g.check(&ask(kind), src, true, at(0)),
                Decision::Fleet(FleetDecision {
                    may_correct: false,
                    ..
                })
            ));
        }
        let mut short = ask(FleetKind::Announcement);
        short.truncate(crate::wire::query::FLEET_LEN - 1);
        assert_eq!(
            g.check(&short, ip(2), true, at(0)),
            Decision::Drop(QueryDrop::NotPadded)
        );
        assert_eq!(
            g.check(&ask(FleetKind::Announcement), ip(3), false, at(0)),
            Decision::Drop(QueryDrop::NotAllowed)
        );
        let c = g.counters();
        assert_eq!(
            (c.answered_extended, c.not_padded, c.not_allowed),
            (4, 1, 1)
        );
    }

    #[test]
    fn a_flood_is_limited_and_another_source_still_answered() {
        let mut g = gate();
        let answered = (0..100)
            .filter(|_| {
                g.check(&compact(1), ip(66), true, at(0)) != Decision::Drop(QueryDrop::RateLimited)
            })
            .count();
        // The burst of 4, nothing more at the same instant.
        assert_eq!(answered, 4);
        assert_eq!(g.counters().rate_limited, 96);
        assert_eq!(
            g.check(&compact(2), ip(7), true, at(0)),
            Decision::Compact { request_id: 2 }
        );
        // The flooder earns one request back every 500 ms.
        assert_eq!(
            g.check(&compact(1), ip(66), true, at(499)),
            Decision::Drop(QueryDrop::RateLimited)
        );
        assert_eq!(
            g.check(&compact(1), ip(66), true, at(500)),
            Decision::Compact { request_id: 1 }
        );
    }

    #[test]
    fn a_source_at_the_sustained_rate_is_never_limited() {
        let mut g = gate();
        for i in 0..200 {
            assert_eq!(
                g.check(&compact(i), ip(3), true, at(i64::from(i) * 500)),
                Decision::Compact { request_id: i }
            );
        }
    }

    #[test]
    fn spoofed_sources_across_a_range_get_no_more_than_the_global_cap() {
        // 10 000 sources of 10/8, one compact request each, all at one instant: each is
        // within its own limit, but only the global burst is answered.
        let mut g = QueryGate::new(QueryRateLimit::default());
        let limit = QueryRateLimit::default();
        let mut answered = 0u32;
        for i in 0..10_000u32 {
            let [_, b, c, d] = i.to_be_bytes();
            let src = IpAddr::V4(Ipv4Addr::new(10, b, c, d));
            if let Decision::Compact { .. } = g.check(&compact(i), src, true, at(0)) {
                answered += 1;
            }
        }
        assert_eq!(answered, limit.compact_burst);
        assert_eq!(
            g.counters().over_global_cap,
            u64::from(10_000 - limit.compact_burst)
        );
        // Extended requests are as long as their replies: no amplification, not capped.
        assert!(matches!(
            g.check(&extended(1, 1, 1), ip(200), true, at(0)),
            Decision::Extended { .. }
        ));
        // Sustained: compact_per_second more over the next second, evenly.
        let mut later = 0u32;
        for i in 0..10_000u32 {
            let [_, b, c, d] = (i + 20_000).to_be_bytes();
            let src = IpAddr::V4(Ipv4Addr::new(10, b, c, d));
            if let Decision::Compact { .. } =
                g.check(&compact(i), src, true, at(1 + i64::from(i) / 10))
            {
                later += 1;
            }
        }
        assert_eq!(later, limit.compact_per_second);
    }
}
