//! The sans-IO core of dantesync.
//!
//! Nothing in this crate opens a socket, reads a clock or starts a thread. Every input carries
//! its own timestamp and every decision comes back as a value, so the same code runs in the
//! daemon, in the deterministic simulator and in the benchmark.
#![forbid(unsafe_code)]

pub mod controller;
pub mod fleet;
pub mod mode;
pub mod ntp_client;
pub mod ntp_server;
pub mod path_delay;
pub mod query_server;
pub mod servo;
pub mod source;
pub mod time;
pub mod wire;

pub use controller::{Action, Controller, ControllerConfig, Notice, NtpMeasurement, Status};
pub use mode::Mode;
pub use time::{LocalTime, Moment, MonoTime};
