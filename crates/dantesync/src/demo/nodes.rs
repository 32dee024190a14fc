//! The demo's cast: three daemon configurations, their ports, the scratch directory they live
//! in, and child processes that cannot outlive the demo.

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A node's simulated oscillator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeSpec {
    pub name: &'static str,
    /// How fast its free-running clock gains, ppm.
    pub drift_ppm: f64,
    /// Where its clock starts against the host's, ms.
    pub offset_ms: f64,
}

/// Three PCs whose clocks start several ms and tens of ppm apart. The first is the NTP master.
pub const NODES: [NodeSpec; 3] = [
    NodeSpec {
        name: "A",
        drift_ppm: 45.0,
        offset_ms: 0.0,
    },
    NodeSpec {
        name: "B",
        drift_ppm: -30.0,
        offset_ms: 6.0,
    },
    NodeSpec {
        name: "C",
        drift_ppm: 12.0,
        offset_ms: -9.0,
    },
];

/// The stratum the master serves its own clock at when it has no upstream.
pub const MASTER_STRATUM: u8 = 8;

/// A node's ports on 127.0.0.1: UDP for PTP and the query API, TCP for its HTTP status page
/// when it serves one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub event: u16,
    pub general: u16,
    pub query: u16,
    pub http: Option<u16>,
}

/// A free TCP port on 127.0.0.1, released for a child to bind.
pub fn free_tcp_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free TCP port on 127.0.0.1: {e}"))
}

/// Free UDP ports on 127.0.0.1, all different: each is held until all are chosen, then
/// released for the children to bind (a port may be taken in between; the child then says so).
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let sockets = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free UDP port on 127.0.0.1: {e}"))?;
    sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read a socket's port: {e}"))
}

/// How a node takes part in time (phase) sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtpRole {
    /// Neither serves nor asks NTP: rate sync only.
    None,
    /// Serves NTP on this port from its own clock (no upstream), at [`MASTER_STRATUM`].
    Master { port: u16 },
    /// Sets its time from the master on 127.0.0.1 at this port.
    Client { master_port: u16 },
}

/// The configuration file of one node: a simulated clock, PTP, the query API and (when it has
/// a port) the HTTP status page on loopback, its state in `dir`.
pub fn config_text(spec: &NodeSpec, ports: Ports, ntp: NtpRole, dir: &Path) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"clock\": {{\"kind\": \"simulated\", \"drift_ppm\": {:.1}, \"offset_ms\": {:.1}}},",
        spec.drift_ppm, spec.offset_ms
    );
    let _ = writeln!(
        out,
        "  \"ptp\": {{\"event_port\": {}, \"general_port\": {}}},",
        ports.event, ports.general
    );
    match ntp {
        NtpRole::None => {}
        NtpRole::Master { port } => {
            let _ = writeln!(
                out,
                "  \"ntp_server_mode\": {{\"enabled\": true, \"port\": {port}, \"bind\": \
                 \"127.0.0.1\", \"local_stratum\": {MASTER_STRATUM}}},"
            );
        }
        NtpRole::Client { master_port } => {
            let _ = writeln!(out, "  \"ntp_server\": \"127.0.0.1:{master_port}\",");
        }
    }
    let _ = writeln!(
        out,
        "  \"query_api\": {{\"enabled\": true, \"port\": {}, \"bind\": \"127.0.0.1\"}},",
        ports.query
    );
    match ports.http {
        Some(port) => {
            let _ = writeln!(
                out,
                "  \"http_status\": {{\"enabled\": true, \"port\": {port}, \"bind\": \"127.0.0.1\"}},"
            );
        }
        None => {
            let _ = writeln!(out, "  \"http_status\": {{\"enabled\": false}},");
        }
    }
    // A daemon on a simulated clock locks its state file's directory: one each.
    let state = dir.join(spec.name).join("state.json");
    let _ = writeln!(out, "  \"state_file\": {},", json_string(&state));
    let _ = writeln!(out, "  \"log\": {{\"level\": \"info\"}}");
    out.push_str("}\n");
    out
}

/// A path as a JSON string (Windows paths carry backslashes).
fn json_string(path: &Path) -> String {
    let mut s = String::from("\"");
    for c in path.to_string_lossy().chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A scratch directory, removed when dropped (also when the demo fails or is interrupted).
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn create() -> Result<ScratchDir, String> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!("dantesync-demo-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
        Err(format!(
            "cannot create a scratch directory in {}",
            base.display()
        ))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process (a daemon or the leader), killed and reaped when dropped, so no exit path
/// of the demo leaves one behind. On Linux it also gets SIGTERM should the demo itself be
/// killed outright.
#[derive(Debug)]
pub struct Kid {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Kid {
    /// Starts this same binary with `args`, its output going to `<dir>/<name>.log`.
    pub fn spawn(name: &str, args: &[String], dir: &Path) -> Result<Kid, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's own path: {e}"))?;
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            // The nodes' lock files and any runtime files stay in the scratch directory.
            .env("XDG_RUNTIME_DIR", dir)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET");
        crate::sys::process::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Kid {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// `None` while it runs; its exit status once it has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(format!("cannot be waited for: {e}")),
        }
    }

    /// The last `n` lines of its output.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            event: 40001,
            general: 40002,
            query: 40003,
            http: None,
        }
    }

    #[test]
    fn configs_are_what_each_role_needs() {
        let dir = Path::new("/tmp/demo");
        let with_page = Ports {
            http: Some(40080),
            ..ports()
        };
        let master = config_text(&NODES[0], with_page, NtpRole::Master { port: 40123 }, dir);
        assert!(master
            .contains(r#""http_status": {"enabled": true, "port": 40080, "bind": "127.0.0.1"}"#));
        assert!(master
            .contains(r#""clock": {"kind": "simulated", "drift_ppm": 45.0, "offset_ms": 0.0}"#));
        assert!(master.contains(r#""ptp": {"event_port": 40001, "general_port": 40002}"#));
        assert!(master.contains(
            r#""ntp_server_mode": {"enabled": true, "port": 40123, "bind": "127.0.0.1", "local_stratum": 8}"#
        ));
        assert!(!master.contains("\"ntp_server\""));
        // Path::join puts the platform's separator after the directory given.
        let state = if cfg!(windows) {
            r#""state_file": "/tmp/demo\\A\\state.json""#
        } else {
            r#""state_file": "/tmp/demo/A/state.json""#
        };
        assert!(master.contains(state), "{master}");
        let client = config_text(
            &NODES[2],
            ports(),
            NtpRole::Client { master_port: 40123 },
            dir,
        );
        assert!(client.contains(r#""drift_ppm": 12.0, "offset_ms": -9.0"#));
        assert!(client.contains(r#""ntp_server": "127.0.0.1:40123""#));
        assert!(!client.contains("ntp_server_mode"));
        let alone = config_text(&NODES[1], ports(), NtpRole::None, dir);
        assert!(!alone.contains("ntp"));
        assert!(alone.contains(r#""http_status": {"enabled": false}"#));
        assert!(
            alone.contains(r#""query_api": {"enabled": true, "port": 40003, "bind": "127.0.0.1"}"#)
        );
    }

    #[test]
    fn windows_paths_are_escaped() {
        assert_eq!(
            json_string(Path::new(r#"C:\Temp\a"b"#)),
            r#""C:\\Temp\\a\"b""#
        );
    }

    #[test]
    fn free_ports_differ() {
        let mut p = free_ports(10).unwrap();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 10);
        assert!(!p.contains(&0));
    }

    #[test]
    fn the_scratch_directory_goes_away() {
        let dir = ScratchDir::create().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("x"), "y").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
