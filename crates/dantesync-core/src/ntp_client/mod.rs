//! The sans-IO NTP client: several servers, a burst per server per check, a burst filter,
//! per-server back-off and Kiss-o'-Death handling, and a majority selection that names
//! falsetickers and combines the truechimers' offsets for the controller's gate.
//!
//! - [`reply`]: one reply checked against its request, turned into a [`Sample`].
//! - [`burst`]: a burst's samples reduced to offset, delay, spread and count.
//! - [`source`]: one server's state, back-off and poll (on the LAN or outside it), and
//!   [`NtpSourceStatus`] for the surfaces.
//! - [`select`]: intersection of correctness intervals; truechimers and falsetickers.
//! - [`client`]: [`NtpClient`], who is asked and what a check comes to.

pub mod burst;
pub mod client;
pub mod reply;
pub mod select;
pub mod source;

pub use burst::{reduce, BurstResult};
pub use client::{Change, CheckReport, Combined, NtpClient, Outcome};
pub use reply::{evaluate, Kiss, Sample, Verdict};
pub use source::{
    is_lan_address, spacing, Locality, NtpSourceStatus, SourceState, BURST, INITIAL_CHECKS,
    LAN_SPACING, OUTSIDE_POLL, OUTSIDE_SPACING,
};

#[cfg(test)]
mod tests;
