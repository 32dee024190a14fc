//! The daemon's configuration: the JSON file, its defaults and its validation.
//!
//! The file is strict: an unknown key, a wrong type or an impossible value stops the daemon
//! with an error that names the file, the line and column, and the key path, and says how to
//! fix it. Being lenient is what let the earlier DanteSync run for weeks on settings nobody
//! wrote (a typo fell back to defaults and the user's file was overwritten). The file is only
//! ever read: nothing here, nor in the daemon, writes it. `docs/config.md` documents every key.
//!
//! A missing file at the default path means the defaults (a fresh install needs no file); a
//! missing file at a path the operator named is an error, since they meant a file.
//!
//! The way through: `json.rs` parses the text into a tree that knows where each value starts
//! (and explains syntax mistakes); `read.rs` has serde read it into [`file::File`], whose
//! sections are the setting structs of `settings.rs`, each field checked by its reader in
//! `de.rs`; `checks.rs` and `legacy.rs` apply the rules that span several values.
//!
//! Adding a key: a field in its section's struct (with its reader and its default), its
//! entry in `docs/config.md`, and its line in `examples/config/full.json`. The tests in
//! `tests/docs.rs` take the keys from the structs and fail until the last two are written.

mod checks;
mod de;
mod diagnostic;
mod file;
pub mod fleet;
mod json;
mod legacy;
mod read;
mod settings;
mod suggest;
mod summary;
mod values;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

// The API the daemon builds on; `config check` uses only part of it.
#[allow(unused_imports)]
pub use diagnostic::{Diagnostic, LoadError, Place};
#[allow(unused_imports)]
pub use settings::{
    default_state_file, ClockKind, Config, HttpStatus, LogLevel, LogSettings, NtpServerMode,
    NtpSettings, Origin, Overrides, PtpSettings, QueryApi, DEFAULT_QUERY_ALLOW,
};
#[allow(unused_imports)]
pub use values::{Cidr, ServerAddr};

/// The platform's configuration file.
pub fn default_path() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\DanteSync\config.json")
    } else {
        PathBuf::from("/etc/dantesync/config.json")
    }
}

/// Loads the configuration from `explicit` (`--config PATH`), or from [`default_path`] when
/// none is given. Only a missing *default* file yields the defaults
/// (with [`Origin::MissingDefault`], for the daemon to mention once).
pub fn load(explicit: Option<&Path>) -> Result<Config, LoadError> {
    let path = explicit.map_or_else(default_path, Path::to_path_buf);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match explicit {
                Some(_) => Err(LoadError::NotFound { path }),
                None => Ok(Config {
                    origin: Origin::MissingDefault(path),
                    ..Config::default()
                }),
            };
        }
        Err(error) => return Err(LoadError::Unreadable { path, error }),
    };
    parse(&bytes, &path).map_err(|errors| LoadError::Invalid { errors })
}

/// Reads a configuration from the bytes of a file; `path` names it in diagnostics. Every
/// error found is returned, in file order.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Config, Vec<Diagnostic>> {
    let root = json::parse(bytes).map_err(|e| {
        vec![Diagnostic {
            place: Place::File {
                path: path.to_path_buf(),
                pos: e.pos,
            },
            key: e.key,
            message: e.message,
            hint: e.hint,
        }]
    })?;
    let (mut cfg, mut found) = read::read(&root, path);
    if !found.errors.is_empty() {
        found.errors.sort_by_key(Diagnostic::pos);
        return Err(found.errors);
    }
    found.warnings.sort_by_key(Diagnostic::pos);
    cfg.warnings = found.warnings;
    Ok(cfg)
}

/// `dantesync config check [PATH]`.
pub fn check_command(path: Option<&Path>) -> ExitCode {
    summary::check(path)
}

#[cfg(test)]
mod tests;
