//! Helpers shared by the daemon's process-level tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

mod child;
pub mod gm_sim;
#[cfg(unix)]
pub mod netns;
pub mod prom_text;
pub mod query;

#[allow(unused_imports)] // not every test binary starts children
pub use child::Proc;

/// The tests of one binary run one at a time: each runs daemons whose timing the others would
/// disturb on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ports handed out to tests: below Linux's ephemeral range (32768–60999 by default), so
/// that no socket bound to port 0 (a client of another test, a DNS lookup...) can be given
/// one between the check here and the daemon's own bind. Picked at random, so tests running
/// in parallel seldom pick the same one.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Ports this test binary has handed out: never twice.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// A port in [`TEST_PORTS`] that `bindable` accepts now (it binds and releases).
fn pick_port(bindable: impl Fn(u16) -> bool) -> u16 {
    let mut taken = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let port = (0..1000)
        .map(|_| rand::random_range(TEST_PORTS))
        .find(|p| !taken.contains(p) && bindable(*p))
        .expect("no free test port in 20000..32000");
    taken.push(port);
    port
}

/// A UDP port free on every address (the daemon binds 0.0.0.0).
pub fn free_port() -> u16 {
    pick_port(|p| UdpSocket::bind(("0.0.0.0", p)).is_ok())
}

/// A TCP port free on every address.
pub fn free_tcp_port() -> u16 {
    pick_port(|p| TcpListener::bind(("0.0.0.0", p)).is_ok())
}

/// This host's realtime clock, ns since the Unix epoch.
pub fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// `dantesync gm-sim` unicast to 127.0.0.1 at these ports, drift 0, no Delay_Req, for 120 s.
pub fn gm_sim_loopback(event: u16, general: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dantesync"));
    c.args(["gm-sim", "--dest", "127.0.0.1", "--event-port"])
        .arg(event.to_string())
        .arg("--general-port")
        .arg(general.to_string())
        .args([
            "--delay-req-port",
            "0",
            "--drift-ppm",
            "0",
            "--duration-s",
            "120",
        ]);
    c
}

/// The daemon started on `config`, written to `dir/config.json`; its log is `dir/daemon.log`
/// (debug level) and its runtime files (instance lock) stay in `dir`.
pub fn daemon_with_config(dir: &TempDir, config: &str) -> Proc {
    let path = dir.0.join("config.json");
    std::fs::write(&path, config).unwrap();
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_dantesync"))
            .args(["--config", path.to_str().unwrap()])
            .env("XDG_RUNTIME_DIR", &dir.0)
            .env("RUST_LOG", "dantesync=debug"),
        &dir.0.join("daemon.log"),
    )
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
