//! The fleet timescale: every node holds its clock at `leader time + D + path delay`.
//!
//! Every node on a Dante network hears the same Syncs from the same leader, so every node can
//! hold its clock on the leader's timescale shifted by one number, D = UTC − leader time. The
//! NTP master (the fleet's authority) measures D against its upstream NTP and announces it;
//! each node adds its own path delay to the leader. This module holds what nodes agree on
//! ([`timescale::FleetTimescale`], one announcement of D), the authority that measures and
//! announces it ([`authority`], filtered by [`d_filter`], ruled by a [`policy`]), and each
//! node's phase servo ([`phase`]) that holds the clock on it, with the detector of a leader's
//! frequency step ([`ramp`]).

pub mod authority;
pub mod d_filter;
pub mod phase;
pub mod policy;
pub mod ramp;
pub mod timescale;

pub use authority::{d_sample, Authority, AuthorityNow, AuthorityStatus, CorrectRefused, DSource};
pub use phase::{FleetConfig, PhaseLoop, PhaseVerdict};
pub use policy::{AuthorityConfig, UtcPolicy};
pub use ramp::{Ramp, RampDetector};
pub use timescale::{FleetTimescale, PendingCorrection, SyncMode};
