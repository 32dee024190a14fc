//! The binary's system calls that the standard library, socket2 and tokio lack, each behind a
//! safe function. Every `unsafe` block of the daemon, gm-sim and the demo is here (Windows'
//! receive timestamps and service glue live in `daemon/sys_windows.rs`), one place per call:
//!
//! - [`socket`]: receiving with kernel receive timestamps and the arrival interface (daemon);
//! - [`txstamp`]: the kernel's transmit stamps of datagrams sent (gm-sim's Sync);
//! - [`interfaces`]: the interfaces and their IPv4 addresses (daemon and gm-sim);
//! - [`process`]: the single-instance lock, the root check, children that die with the demo;
//! - `event_log` (Windows): the Windows Event Log, for the service;
//! - `service_config` (Windows): a service's delayed automatic start, for `dantesync service`.

#[cfg(windows)]
pub mod event_log;
#[cfg(unix)]
pub mod interfaces;
pub mod process;
#[cfg(windows)]
pub mod service_config;
#[cfg(target_os = "linux")]
pub mod socket;
#[cfg(target_os = "linux")]
pub mod txstamp;

#[cfg(unix)]
pub use interfaces::interfaces;
#[cfg(target_os = "linux")]
pub use process::{is_root, try_lock_exclusive};
#[cfg(target_os = "linux")]
pub use socket::*;
