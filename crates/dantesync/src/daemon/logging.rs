//! Logging: `tracing` to stderr (journald takes it from there under systemd), at the
//! configured level unless `RUST_LOG` says otherwise.

use tracing_subscriber::EnvFilter;

use crate::config::LogLevel;

pub fn init(level: LogLevel) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("dantesync={}", level.as_str())));
    // Under systemd the journal adds its own timestamps; elsewhere they help.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}
