//! Logging: `tracing` to stderr (journald takes it from there under systemd), at the
//! configured level unless `RUST_LOG` says otherwise. Under the Windows service control
//! manager, which discards stderr, to a size-rotated file instead ([`rotate`]), and the
//! service's start, stop and fatal errors also to the Windows Event Log (`win_service.rs`).

pub mod rotate;

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::config::LogLevel;

/// The service's log file, in the folder the service gives.
pub const LOG_FILE_NAME: &str = "dantesync.log";

/// Starts logging to stderr, or to `dir`'s rotated `dantesync.log` when a folder is given.
/// When that file cannot be opened, logging goes to stderr and the error says why.
pub fn init(level: LogLevel, dir: Option<&Path>) -> Result<(), String> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("dantesync={}", level.as_str())))
    };
    let file = dir.map(|d| rotate::RotatingFile::open(d, LOG_FILE_NAME, rotate::SERVICE_LIMITS));
    let failed = match file {
        Some(Ok(file)) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_writer(Mutex::new(file))
                .with_target(false)
                .with_ansi(false)
                .try_init();
            return Ok(());
        }
        Some(Err(e)) => Some(e.to_string()),
        None => None,
    };
    // Under systemd the journal adds its own timestamps; elsewhere they help.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    failed.map_or(Ok(()), Err)
}
