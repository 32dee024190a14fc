//! Per-client rate limiting in constant memory and constant time.
//!
//! A fixed table of buckets, indexed by a seeded hash of the source address. Each bucket is a
//! token bucket written as GCRA (the "virtual scheduling" form): it keeps only the
//! *theoretical arrival time* `tat` of the next conforming packet. A packet at `now` conforms
//! when `tat − now ≤ (burst − 1) × interval`; it then moves `tat` on by one `interval`. That is
//! exactly a bucket of `burst` tokens refilled at one token per `interval`, without a division
//! or a float per packet.
//!
//! Two sources that hash to one bucket share its budget. With the default 1024 buckets and a
//! Dante network's tens of clients a collision is rare and costs a well-behaved client nothing
//! (its budget is far above its poll rate); the alternative — storing the address and evicting
//! on collision — would let a flooder reset its own bucket by alternating two addresses. The
//! seed (which the host should draw at random) keeps an outsider from choosing addresses that
//! collide with a victim's.
//!
//! A source over its limit gets up to `kod_burst` Kiss-o'-Death packets, then silence. Its KoD
//! allowance comes back only when its bucket is full again, i.e. after it stayed quiet long
//! enough to earn the whole burst back: a client that honours the KoD is told once, a flood is
//! not answered at all.

use std::net::IpAddr;

use super::access::canonical;
use crate::time::LocalTime;

/// How much a single source may ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests answered back to back before the limit applies (at least 1).
    pub burst: u32,
    /// The sustained rate: one more request per this many nanoseconds (at least 1).
    pub interval_ns: i64,
    /// KoD RATE packets sent to a source over its limit before it gets silence.
    pub kod_burst: u8,
    /// Number of buckets (at least 1).
    pub buckets: usize,
    /// Seed of the address hash.
    pub seed: u64,
}

impl Default for RateLimit {
    /// 16 back to back, then 4 per second: well above any NTP client (`iburst` sends 4-8
    /// requests 2 s apart; dantesync's own client a burst of 4 every 10 s or more), far below
    /// a flood.
    fn default() -> Self {
        RateLimit {
            burst: 16,
            interval_ns: 250_000_000,
            kod_burst: 2,
            buckets: 1024,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// The limiter's decision for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    KissOfDeath,
    Drop,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// When the next packet conforms; `None` for a bucket never used (full).
    tat: Option<LocalTime>,
    kods_left: u8,
}

/// The table of buckets; see the module documentation.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Vec<Bucket>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let limit = RateLimit {
            burst: limit.burst.max(1),
            interval_ns: limit.interval_ns.max(1),
            buckets: limit.buckets.max(1),
            ..limit
        };
        RateLimiter {
            buckets: vec![Bucket::default(); limit.buckets],
            limit,
        }
    }

    /// Counts one packet from `src` at `now` and says what to do with it.
    pub fn check(&mut self, src: IpAddr, now: LocalTime) -> Verdict {
        let index = self.index(src);
        let limit = self.limit;
        let tolerance = limit.interval_ns.saturating_mul(i64::from(limit.burst) - 1);
        let bucket = &mut self.buckets[index];
        // A bucket whose time has come (or that was never used) is full: the source earned
        // its whole burst back, and with it the right to be told about the limit again.
        // `tat` is never more than one interval past the tolerance ahead of a packet; if it
        // is, the clock was stepped back, and the source must not pay for the step.
        let ceiling = now.add_nanos(tolerance.saturating_add(limit.interval_ns));
        let tat = match bucket.tat {
            Some(t) if t > now => t.min(ceiling),
            _ => {
                bucket.kods_left = limit.kod_burst;
                now
            }
        };
        if tat.nanos_since(now) > tolerance {
            bucket.tat = Some(tat);
            if bucket.kods_left > 0 {
                bucket.kods_left -= 1;
                return Verdict::KissOfDeath;
            }
            return Verdict::Drop;
        }
        bucket.tat = Some(tat.add_nanos(limit.interval_ns));
        Verdict::Answer
    }

    fn index(&self, src: IpAddr) -> usize {
        let bits: u128 = match canonical(src) {
            IpAddr::V4(v4) => u128::from(v4.to_bits()),
            IpAddr::V6(v6) => v6.to_bits() ^ (1 << 127),
        };
        let mut h = self.limit.seed;
        for word in [bits as u64, (bits >> 64) as u64] {
            h = mix(h ^ word);
        }
        (h % self.buckets.len() as u64) as usize
    }
}

/// splitmix64's finaliser: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const T0: i64 = 1_785_427_891_000_000_000;

    fn at(ms: i64) -> LocalTime {
        LocalTime::from_nanos(T0 + ms * 1_000_000)
    }

    fn ip(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 77, 8, d))
    }

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateLimit {
            burst: 3,
            interval_ns: 1_000_000_000,
            kod_burst: 2,
            buckets: 1024,
            seed: 7,
        })
    }

    #[test]
    fn burst_then_kod_then_silence() {
        let mut l = limiter();
        let got: Vec<_> = (0..7).map(|_| l.check(ip(5), at(0))).collect();
        use Verdict::*;
        assert_eq!(
            got,
            [Answer, Answer, Answer, KissOfDeath, KissOfDeath, Drop, Drop]
        );
    }

    #[test]
    fn tokens_come_back_at_the_sustained_rate() {
        let mut l = limiter();
        for _ in 0..3 {
            assert_eq!(l.check(ip(5), at(0)), Verdict::Answer);
        }
        // tat is now +3 s; tolerance 2 s: one token back at +1 s, not before.
        assert_eq!(l.check(ip(5), at(999)), Verdict::KissOfDeath);
        assert_eq!(l.check(ip(5), at(1000)), Verdict::Answer);
        assert_eq!(l.check(ip(5), at(1000)), Verdict::KissOfDeath);
        // Still not full (tat +4 s): the KoD allowance is spent, so silence.
        assert_eq!(l.check(ip(5), at(1500)), Verdict::Drop);
        assert_eq!(l.check(ip(5), at(2000)), Verdict::Answer);
        // After a quiet spell the bucket is full: a whole burst and a fresh KoD allowance.
        for _ in 0..3 {
            assert_eq!(l.check(ip(5), at(10_000)), Verdict::Answer);
        }
        assert_eq!(l.check(ip(5), at(10_000)), Verdict::KissOfDeath);
    }

    #[test]
    fn a_well_behaved_client_is_never_limited() {
        let mut l = limiter();
        for s in 0..100 {
            assert_eq!(l.check(ip(9), at(s * 1000)), Verdict::Answer);
        }
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let mut l = limiter();
        for _ in 0..10 {
            l.check(ip(5), at(0));
        }
        assert_eq!(l.check(ip(5), at(0)), Verdict::Drop);
        assert_ne!(l.index(ip(5)), l.index(ip(6)));
        assert_eq!(l.check(ip(6), at(0)), Verdict::Answer);
        // An IPv4-mapped source is the same client as its IPv4 address.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 77, 8, 5).to_ipv6_mapped());
        assert_eq!(l.index(mapped), l.index(ip(5)));
    }

    #[test]
    fn a_lan_spreads_over_the_table() {
        let l = RateLimiter::new(RateLimit::default());
        let mut used = std::collections::HashSet::new();
        for d in 0..=255u8 {
            used.insert(l.index(ip(d)));
        }
        // 256 addresses into 1024 buckets: about 226 distinct buckets expected.
        assert!(used.len() > 200, "{} buckets", used.len());
    }

    #[test]
    fn a_clock_step_back_does_not_lock_a_client_out_forever() {
        let mut l = limiter();
        for _ in 0..5 {
            l.check(ip(5), at(0));
        }
        // The clock went back a minute: the bucket's tat is clamped to what it can be after a
        // burst (now + 3 s), so the source waits one interval, not the minute of the step.
        assert_eq!(l.check(ip(5), at(-60_000)), Verdict::Drop);
        assert_eq!(l.check(ip(5), at(-59_000)), Verdict::Answer);
    }
}
