//! The fleet timescale: every node holds its clock at `leader time + D + path delay`.
//!
//! Every node on a Dante network hears the same Syncs from the same leader, so every node can
//! hold its clock on the leader's timescale shifted by one number, D = UTC − leader time. The
//! NTP master (the fleet's authority) measures D against its upstream NTP and announces it;
//! each node adds its own path delay to the leader. This module holds what nodes agree on
//! ([`timescale::FleetTimescale`], one announcement of D); the authority's measurement, the
//! UTC policies and the phase servo build on it.

pub mod phase;
pub mod ramp;
pub mod timescale;

pub use phase::{FleetConfig, PhaseLoop, PhaseVerdict};
pub use ramp::{Ramp, RampDetector};
pub use timescale::{FleetTimescale, PendingCorrection, SyncMode};
