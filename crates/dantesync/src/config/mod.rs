//! The daemon's configuration: the JSON file, its defaults and its validation.

use std::path::Path;
use std::process::ExitCode;

/// `dantesync config check [PATH]`.
pub fn check_command(path: Option<&Path>) -> ExitCode {
    let _ = path;
    eprintln!("dantesync config check: not built yet");
    ExitCode::from(2)
}
