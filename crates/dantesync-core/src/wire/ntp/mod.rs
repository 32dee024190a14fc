//! NTP (RFC 5905) packets: the 48-byte header, its timestamp and short-time formats, and a
//! walk over NTPv4 extension fields (RFC 7822).
//!
//! Parsing is for what a client and a server need: [`NtpHeader::parse`] gives the decoded
//! header and where any extension fields and MAC lie, and refuses control (mode 6) and private
//! (mode 7) messages so they can never be taken for time samples; [`classify`] names those
//! without parsing. Timestamps stay era-relative on the wire and become Unix nanoseconds only
//! through [`NtpTimestamp::to_unix_nanos`], with a pivot that picks the era.

mod classify;
mod error;
mod extensions;
mod header;
mod leap;
mod mode;
mod reference_id;
mod short_time;
mod timestamp;

pub use classify::{classify, PacketKind};
pub use error::{ExtensionFault, ParseError};
pub use extensions::{ExtensionField, Extensions, Mac, MAX_MAC_LEN, MIN_EXTENSION_FIELD_LEN};
pub use header::{NtpHeader, HEADER_LEN};
pub use leap::Leap;
pub use mode::Mode;
pub use reference_id::ReferenceId;
pub use short_time::ShortTime;
pub use timestamp::{NtpTimestamp, UNIX_EPOCH_NTP_SECONDS};
