//! One daemon per machine: two would fight over the clock. The first takes an exclusive lock
//! on a lock file (released by the kernel when the process ends, however it ends) and writes
//! its PID into it, so the second can say who holds it.
//!
//! Where: for the system clock, `/run/dantesync.lock` as root, else
//! `$XDG_RUNTIME_DIR/dantesync.lock`, else next to the state file. A daemon on the simulated
//! clock touches nothing machine-wide, so it only has to exclude another daemon on the same
//! state file: its lock lives next to the state file (tests and the testbed run several).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file's path for this process.
pub fn lock_path(state_file: &Path, system_clock: bool) -> PathBuf {
    if system_clock {
        #[cfg(target_os = "linux")]
        if super::sys::is_root() {
            return PathBuf::from("/run/dantesync.lock");
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
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
