//! The menu's commands that hand something to the desktop: the live page, the log, the config,
//! and (Windows) an elevated restart of the service. They start a program and return at once;
//! a failure is printed, as the tray has no window to show it in.

#[cfg(target_os = "linux")]
use std::process::{Command, Stdio};

use crate::app::Options;

/// Opens the daemon's live page in the default browser.
pub fn live_page(options: &Options) {
    open(&format!("{}/", options.endpoint.url()));
}

pub fn config(options: &Options) {
    open(&options.config);
}

/// The log: `--log`'s file if given; otherwise, on Linux, the last 2000 lines of the
/// service's journal written to a file in the user's runtime folder (a text viewer is on every
/// desktop, a terminal emulator's name is not), on Windows the daemon's data folder.
pub fn log(options: &Options) {
    if let Some(path) = &options.log {
        open(path);
        return;
    }
    platform_log();
}

#[cfg(target_os = "linux")]
fn platform_log() {
    let dir = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_else(|| std::env::temp_dir().into());
    let path = std::path::Path::new(&dir).join("dantesync-journal.txt");
    let out = Command::new("journalctl")
        .args(["-u", "dantesync", "-n", "2000", "--no-pager"])
        .stdin(Stdio::null())
        .output();
    let text = match out {
        Ok(o) => {
            let mut t = o.stdout;
            t.extend_from_slice(&o.stderr);
            t
        }
        Err(e) => format!("journalctl -u dantesync: {e}\n").into_bytes(),
    };
    match std::fs::write(&path, text) {
        Ok(()) => open(&path.to_string_lossy()),
        Err(e) => eprintln!("dantesync-tray: writing {}: {e}", path.display()),
    }
}

#[cfg(windows)]
fn platform_log() {
    open(r"C:\ProgramData\DanteSync");
}

#[cfg(target_os = "linux")]
fn open(target: &str) {
    match Command::new("xdg-open")
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
    {
        // Reaped by a thread of its own, so no zombie stays behind.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => eprintln!("dantesync-tray: xdg-open {target}: {e}"),
    }
}

#[cfg(windows)]
fn open(target: &str) {
    if let Err(e) = crate::windows_sys_calls::shell_execute("open", target, None, false) {
        eprintln!("dantesync-tray: opening {target}: {e}");
    }
}

/// Restarts the DanteSync service through an elevation prompt: `net stop` waits until the
/// service has stopped, which `sc stop` does not.
#[cfg(windows)]
pub fn restart_service() {
    let args = "/c net stop DanteSync & net start DanteSync";
    if let Err(e) = crate::windows_sys_calls::shell_execute("runas", "cmd.exe", Some(args), true) {
        eprintln!("dantesync-tray: restarting the service: {e}");
    }
}
