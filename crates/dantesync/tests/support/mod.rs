//! Helpers shared by the daemon's process-level tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

mod child;
pub mod prom_text;

#[allow(unused_imports)] // not every test binary starts children
pub use child::Proc;

/// The tests of one binary run one at a time: each runs daemons whose timing the others would
/// disturb on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A free UDP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `$TMP/dantesync-<kind>-<tag>-<pid>`, empty.
    pub fn new(kind: &str, tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("dantesync-{kind}-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
