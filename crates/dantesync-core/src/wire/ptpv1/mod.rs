//! PTPv1 (IEEE 1588-2002), the protocol Dante leaders use to distribute their clock.
//!
//! dantesync takes only the *rate* from PTP (a Dante leader's timestamps are its uptime, not
//! UTC), so what matters here is reading every leader's Sync and Follow_Up exactly, never
//! mistaking the PTPv2 traffic that AES67-mode devices send to the same group and ports for
//! it, and writing Delay_Req.
//!
//! # Lengths and extra bytes
//!
//! A PTPv1 header has no length field: the control field alone fixes the length (124 bytes
//! for Sync and Delay_Req, 52 for Follow_Up, 60 for Delay_Resp, 60 plus parameters for
//! Management). A datagram shorter than that is rejected. A longer one is accepted and the
//! extra bytes are kept in the body (`trailing`, or `parameters` for Management), because
//! dropping a leader's every Sync over padding would cost far more than ignoring the padding,
//! and keeping it keeps the round trip exact.
//!
//! # Exactness
//!
//! For every buffer [`Message::parse`] accepts, [`Message::to_bytes`] returns the same bytes:
//! reserved bytes live in each struct's `reserved` array (their offsets are the type's
//! `RESERVED_OFFSETS`), unknown flag bits in [`Flags`], the full 16 subdomain bytes in
//! [`Subdomain`]. Anything whose value the codec would have to guess at (a Boolean that is
//! neither 0 nor 1) is rejected instead.

mod bytes;
mod control;
mod dante_leader;
mod delay_resp;
mod error;
mod flags;
mod follow_up;
mod header;
mod management;
mod message;
mod subdomain;
mod sync;
mod timestamp;
mod uuid;

use std::net::Ipv4Addr;

pub use control::{Control, MESSAGE_TYPE_EVENT, MESSAGE_TYPE_GENERAL};
pub use dante_leader::LeaderIdentity;
pub use delay_resp::{DelayRespBody, DELAY_RESP_LEN};
pub use error::{EncodeError, ParseError};
pub use flags::Flags;
pub use follow_up::{FollowUpBody, FOLLOW_UP_LEN};
pub use header::{is_ptpv1, Header, COMMUNICATION_TECHNOLOGY_ETHERNET, HEADER_LEN, VERSION_PTP};
pub use management::{ManagementBody, MANAGEMENT_LEN};
pub use message::Message;
pub use subdomain::Subdomain;
pub use sync::{SyncBody, SYNC_LEN};
pub use timestamp::Timestamp;
pub use uuid::{Uuid, UuidParseError};

/// Group of the `_DFLT` subdomain, the one every Dante leader uses.
pub const PTP_MULTICAST_DEFAULT: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 129);
pub const PTP_MULTICAST_ALT1: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 130);
pub const PTP_MULTICAST_ALT2: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 131);
pub const PTP_MULTICAST_ALT3: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 132);

/// UDP port of event messages (Sync, Delay_Req), whose arrival must be timestamped.
pub const EVENT_PORT: u16 = 319;
/// UDP port of general messages (Follow_Up, Delay_Resp, Management).
pub const GENERAL_PORT: u16 = 320;
