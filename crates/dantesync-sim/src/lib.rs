//! A deterministic, virtual-time simulator of a Dante network around one dantesync node.
//!
//! It drives the very [`dantesync_core::Controller`] the daemon runs, feeding it PTP packets
//! encoded by the real codec and NTP results, and applies the controller's actions to a
//! simulated oscillator whose true frequency and phase error are known exactly. Everything is
//! seeded: the same scenario and seed give the same numbers, bit for bit.

pub mod delay_req;
pub mod fleet;
pub mod leader;
pub mod metrics;
pub mod network;
pub mod ntp_server;
pub mod oscillator;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod warm_start;

pub use metrics::Metrics;
pub use run::{run, Claim, Observation, Trace};
pub use scenario::Scenario;
