//! One daemon per machine: two would fight over the clock. The first takes an exclusive lock
//! on a lock file (released by the kernel when the process ends, however it ends) and writes
//! its PID into it, so the second can say who holds it.
//!
//! Where: for the system clock, `/run/dantesync/dantesync.lock` as root, and for the systemd
//! service, which runs as the unprivileged user `dantesync`, `$RUNTIME_DIRECTORY/dantesync.lock`:
//! the unit's `RuntimeDirectory=dantesync` makes that the same `/run/dantesync/dantesync.lock`,
//! so a daemon started by hand as root and the service exclude each other. Otherwise
//! `$XDG_RUNTIME_DIR/dantesync.lock`, else next to the state file. A daemon on the simulated
//! clock touches nothing machine-wide, so it only has to exclude another daemon on the same
//! state file: its lock lives next to the state file (tests and the testbed run several).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// The machine-wide lock of a root daemon; the service's `RuntimeDirectory=` is its folder.
const RUN_LOCK: &str = "/run/dantesync/dantesync.lock";

/// The lock file's path for this process.
pub fn lock_path(state_file: &Path, system_clock: bool) -> PathBuf {
    #[cfg(target_os = "linux")]
    let root = super::sys::is_root();
    #[cfg(not(target_os = "linux"))]
    let root = false;
    choose_lock_path(
        state_file,
        system_clock,
        root,
        std::env::var_os("RUNTIME_DIRECTORY"),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

/// [`lock_path`] for a given identity and environment. `runtime_directory` is systemd's
/// `$RUNTIME_DIRECTORY` (a `:`-separated list when a unit names several; the first is taken).
fn choose_lock_path(
    state_file: &Path,
    system_clock: bool,
    root: bool,
    runtime_directory: Option<OsString>,
    xdg_runtime_dir: Option<OsString>,
) -> PathBuf {
    if system_clock {
        if root {
            return PathBuf::from(RUN_LOCK);
        }
        let first = runtime_directory.and_then(|d| {
            d.to_str()
                .and_then(|d| d.split(':').next())
                .map(PathBuf::from)
        });
        if let Some(dir) = first.filter(|d| !d.as_os_str().is_empty()) {
            return dir.join("dantesync.lock");
        }
        if let Some(dir) = xdg_runtime_dir.filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("dantesync.lock");
        }
    }
    match state_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join("dantesync.lock"),
        _ => PathBuf::from("dantesync.lock"),
    }
}

/// Takes the lock, or says which file and which process hold it.
pub fn acquire(path: &Path) -> Result<InstanceLock, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(windows)]
    {
        // No sharing: a second open fails while the first daemon holds the file.
        use std::os::windows::fs::OpenOptionsExt;
        options.share_mode(0);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        #[cfg(windows)]
        Err(e) if e.raw_os_error() == Some(32) => return Err(held(path, None)),
        Err(e) => return Err(format!("cannot open the lock file {}: {e}", path.display())),
    };
    #[cfg(target_os = "linux")]
    match super::sys::try_lock_exclusive(&file) {
        Ok(true) => {}
        Ok(false) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(held(path, text.trim().parse::<u32>().ok()));
        }
        Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
    }
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = writeln!(file, "{}", std::process::id());
    let _ = file.flush();
    let _ = file.read(&mut []);
    Ok(InstanceLock {
        _file: file,
        path: path.to_path_buf(),
    })
}

fn held(path: &Path, pid: Option<u32>) -> String {
    let who = pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"));
    format!(
        "another dantesync is already running ({who} holds the lock file {}); two daemons \
         would fight over the clock. Stop it first",
        path.display()
    )
}

#[cfg(test)]
mod path_tests {
    use super::*;

    const STATE: &str = "/var/lib/dantesync/state.json";

    fn path(system: bool, root: bool, runtime: Option<&str>, xdg: Option<&str>) -> PathBuf {
        choose_lock_path(
            Path::new(STATE),
            system,
            root,
            runtime.map(OsString::from),
            xdg.map(OsString::from),
        )
    }

    #[test]
    fn root_and_the_systemd_service_share_one_lock() {
        // By hand as root, whatever the environment says.
        assert_eq!(
            path(true, true, None, Some("/run/user/0")),
            Path::new(RUN_LOCK)
        );
        // The unit: user dantesync, RuntimeDirectory=dantesync, no XDG_RUNTIME_DIR.
        assert_eq!(
            path(true, false, Some("/run/dantesync"), None),
            Path::new(RUN_LOCK)
        );
        assert_eq!(
            path(
                true,
                false,
                Some("/run/dantesync:/run/other"),
                Some("/run/user/997")
            ),
            Path::new(RUN_LOCK)
        );
    }

    #[test]
    fn a_user_outside_systemd_locks_in_its_runtime_dir_else_beside_the_state() {
        assert_eq!(
            path(true, false, None, Some("/run/user/1000")),
            Path::new("/run/user/1000/dantesync.lock")
        );
        assert_eq!(
            path(true, false, Some(""), Some("")),
            Path::new("/var/lib/dantesync/dantesync.lock")
        );
    }

    #[test]
    fn a_simulated_clock_locks_beside_its_state_file_only() {
        for root in [false, true] {
            assert_eq!(
                path(false, root, Some("/run/dantesync"), Some("/run/user/0")),
                Path::new("/var/lib/dantesync/dantesync.lock")
            );
        }
        assert_eq!(
            choose_lock_path(Path::new("state.json"), false, false, None, None),
            Path::new("dantesync.lock")
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_with_the_holder() {
        let dir = std::env::temp_dir().join(format!("dantesync-lock-{}", std::process::id()));
        let path = dir.join("dantesync.lock");
        let first = acquire(&path).unwrap();
        let e = acquire(&path).unwrap_err();
        assert!(
            e.contains(&format!(
                "process {} holds the lock file {}",
                std::process::id(),
                path.display()
            )),
            "{e}"
        );
        drop(first);
        assert!(acquire(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
