//! The UDP time query API on port 31900, byte for byte what the earlier DanteSync and the
//! monitoring tools built for it speak: an 8-byte request ("DSYN", request id) answered by a
//! 64-byte status reply ("DSYR"). All fields are big-endian.
//!
//! The compact request is 8 times smaller than its reply, which makes it a reflection
//! amplifier; it stays only because existing tools send it. Anything newer goes through
//! [`QueryRequest::Extended`], which must be padded to at least the size of its reply, and is
//! answered by an [`ExtendedReply`] (`docs/query-api.md`). The fleet announcement
//! ([`FleetRequest`], [`FleetReply`]) shares the port under a magic of its own.

mod error;
mod extended;
mod fleet;
mod health;
mod reply;
mod request;
mod sync_mode;
mod units;

pub use error::QueryError;
pub use extended::{
    extended_reply_len, field_text, ppm_to_ppt, ppt_to_ppm, text_field, Exchange, ExtendedFlags,
    ExtendedLeader, ExtendedReply, ABSENT, EXTENDED_REPLY_LEN, EXTENDED_REPLY_MAX_LEN,
    EXTENDED_VERSION, HEALTH_VERSION, NTP_SERVER_LEN, REQUEST_CLIENT_TX_AT, VERSION_TEXT_LEN,
};
pub use fleet::{
    is_fleet_request, FleetKind, FleetReply, FleetRequest, FleetResult, FLEET_LEN,
    FLEET_REPLY_MAGIC, FLEET_REQUEST_MAGIC, FLEET_VERSION,
};
pub use health::{ExtendedHealth, KernelSync, LeapPending};
pub use reply::{QueryReply, ReplyFlags, REPLY_LEN, REPLY_MAGIC};
pub use request::{
    answer_version, QueryRequest, COMPACT_REQUEST_LEN, EXTENDED_REQUEST_MIN_LEN, REQUEST_MAGIC,
};
pub use sync_mode::{Coded, ExtendedSyncMode, WireCode, SYNC_MODE_REPLY_LEN, SYNC_MODE_VERSION};
pub use units::{micros_to_i32_saturating, ppm_to_ppb_saturating, AccumulatedPhase};
