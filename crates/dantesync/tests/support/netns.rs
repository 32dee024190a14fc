//! Entering a network namespace the test made, for the thread that asks (a thread's network
//! namespace is its own; what it starts inherits it).

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// Moves the calling thread into the namespace whose file is `ns_file` (`/run/netns/NAME` or
/// `/proc/PID/ns/net`).
pub fn enter(ns_file: &Path) {
    let f =
        std::fs::File::open(ns_file).unwrap_or_else(|e| panic!("open {}: {e}", ns_file.display()));
    // SAFETY: setns on an open namespace file; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// A UDP socket bound to `bind` inside the named namespace (`ip netns add NAME`), made by a
/// thread that entered it, usable from any thread afterwards; reads wait at most `wait`.
pub fn udp_socket_in(name: &str, bind: &str, wait: Duration) -> UdpSocket {
    let path = Path::new("/run/netns").join(name);
    let bind = bind.to_owned();
    std::thread::spawn(move || {
        enter(&path);
        let s = UdpSocket::bind(bind.as_str()).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        s
    })
    .join()
    .unwrap()
}

/// Where `tool` is: on PATH, or in the sbin directories a non-login root shell may lack.
pub fn tool_path(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(std::path::PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn needed(tool: &str) -> std::path::PathBuf {
    tool_path(tool).unwrap_or_else(|| {
        panic!("`{tool}` is missing: apt-get install -y iproute2 util-linux (or bash scripts/install-deps.sh)")
    })
}

/// A private network namespace with loopback up, held by a `sleep` that dies with the guard
/// (and the namespace with its last process).
#[derive(Debug)]
pub struct Netns {
    holder: std::process::Child,
}

impl Netns {
    pub fn new() -> Netns {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let script = format!(
            "{} link set lo up && echo ready && exec sleep 600",
            needed("ip").display()
        );
        let mut holder = Command::new(needed("unshare"))
            .args(["-n", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the namespace did not come up");
        Netns { holder }
    }

    /// `program` run inside the namespace (nsenter execs it: the child is the program).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new(needed("nsenter"));
        c.args(["-t", &self.holder.id().to_string(), "-n", "--"]);
        c.arg(program);
        c.stdin(std::process::Stdio::null());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The tools of `tools` (name, an argument that makes it print its version) that are not
/// there or do not run, each named in backquotes.
pub fn missing_tools(tools: &[(&str, &str)]) -> Vec<String> {
    tools
        .iter()
        .filter(|(tool, arg)| {
            !tool_path(tool).is_some_and(|path| {
                std::process::Command::new(path)
                    .arg(arg)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
        })
        .map(|(tool, _)| format!("`{tool}`"))
        .collect()
}
