//! The built-in NTP server (RFC 5905 server mode), sans-IO.
//!
//! The daemon receives a datagram, stamps it (`rx`), reads the clock once more as late as it
//! can (`tx`) and hands all three to [`Responder::respond`], which answers with the bytes to
//! send, a Kiss-o'-Death, or a reason to stay silent. The header it sends is honest: it comes
//! from a [`ServerState`], built from the controller's [`Status`](crate::Status) by
//! [`ServerState::from_status`], so an unsynchronised node says so (LI = 3, stratum 16) instead
//! of serving an unknown time as if it were UTC — the earlier DanteSync's mistake.
//!
//! Rules, in the order they are applied:
//! 1. sources outside the allow list, or inside the deny list, are dropped silently
//!    ([`AccessList`]);
//! 2. only 48-byte-or-longer NTPv3/v4 mode-3 (client) packets are answered; control (mode 6),
//!    private (mode 7), other modes, other versions, short packets and malformed extension
//!    areas are dropped — nothing that is not a time request can make the server send;
//! 3. each source is rate limited ([`RateLimiter`]: a fixed table of token buckets hashed by
//!    address, O(1) per packet); a source over its limit gets a few KoD `RATE` packets and then
//!    silence until it backs off;
//! 4. the reply is always exactly 48 bytes (extension fields and MACs are not echoed), so it is
//!    never longer than the request: the server cannot be used as an amplifier.
//!
//! The transmit timestamp should be read as late as possible. The responder writes `tx` into
//! the reply; a host that can read the clock later still (e.g. right before `send`) may
//! overwrite it in place with [`patch_transmit`].

mod access;
mod rate_limit;
mod reply;
mod responder;
mod state;

pub use access::{AccessList, Subnet};
pub use rate_limit::{RateLimit, RateLimiter, Verdict};
pub use reply::patch_transmit;
pub use responder::{Counters, DropReason, Responder, ResponderConfig, Response};
pub use state::{
    leap_in_force, reference_id_of, utc_date, ServerConfig, ServerState, UpstreamInfo, PHI_PPM,
};
