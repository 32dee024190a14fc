//! The query API's gate, sans-IO: which datagrams on port 31900 get an answer.
//!
//! Rules, in the order they are applied, to every form of request:
//! 1. a source outside the allowlist is dropped (the host decides membership and passes it in);
//! 2. each allowed source is rate limited with the NTP server's [`RateLimiter`] (a fixed table
//!    of token buckets hashed by address, O(1) per datagram, no Kiss-o'-Death: over the limit
//!    means silence);
//! 3. what does not parse as a request is dropped; an extended request shorter than its reply
//!    is dropped too (it would make the API an amplifier).
//!
//! Every drop is counted by reason ([`QueryCounters`]); nothing here can panic on any input.

mod counters;
mod gate;

pub use counters::{QueryCounters, QueryDrop};
pub use gate::{Decision, FleetDecision, QueryGate, QueryRateLimit};
