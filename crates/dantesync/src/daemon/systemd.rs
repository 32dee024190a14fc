//! systemd's notify protocol (`Type=notify`): READY=1 once the sockets are bound, STATUS= lines
//! on mode changes, WATCHDOG=1 at half the watchdog interval. A datagram to `$NOTIFY_SOCKET`
//! (a path, or `@name` in the abstract namespace); without that variable every call does
//! nothing, so the same binary runs under systemd, in a terminal and on Windows.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct Notifier {
    #[cfg(target_os = "linux")]
    target: Option<(
        std::os::unix::net::UnixDatagram,
        std::os::unix::net::SocketAddr,
    )>,
}

impl Notifier {
    /// From the environment systemd gives the service.
    pub fn from_env() -> Self {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            use std::os::unix::net::{SocketAddr, UnixDatagram};
            let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
                return Self::default();
            };
            let path = path.to_string_lossy().into_owned();
            let addr = match path.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
                None => SocketAddr::from_pathname(&path),
            };
            let target = addr
                .ok()
                .and_then(|a| UnixDatagram::unbound().ok().map(|s| (s, a)));
            if target.is_none() {
                tracing::warn!(
                    "NOTIFY_SOCKET={path} is not usable; systemd will not hear from dantesync"
                );
            }
            Self { target }
        }
        #[cfg(not(target_os = "linux"))]
        Self::default()
    }

    fn send(&self, message: &str) {
        #[cfg(target_os = "linux")]
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
                tracing::debug!("systemd notify failed: {e}");
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = message;
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process.
    pub fn watchdog_interval() -> Option<Duration> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Some(pid) = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
        {
            if pid != std::process::id() {
                return None;
            }
        }
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("dantesync-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some((
                UnixDatagram::unbound().unwrap(),
                std::os::unix::net::SocketAddr::from_pathname(&path).unwrap(),
            )),
        };
        n.status("LOCK: following 00:1d:c1:00:53:01");
        let mut buf = [0u8; 128];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STATUS=LOCK: following 00:1d:c1:00:53:01");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
