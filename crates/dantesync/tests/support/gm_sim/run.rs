//! `dantesync gm-sim` as a child process, bounded by [`HARD_TIMEOUT`] and killed on drop.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::receive::{Collector, Datagram};
use super::HARD_TIMEOUT;

/// A running `dantesync gm-sim` sending to two collectors on 127.0.0.1; killed on drop.
pub struct Sim {
    pub child: Child,
    pub started: Instant,
    pub event: Collector,
    pub general: Collector,
}

/// What a finished run printed and sent.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub event: Vec<Datagram>,
    pub general: Vec<Datagram>,
}

impl Sim {
    /// Starts gm-sim on loopback with `args` added. Unless the test names a Delay_Req port,
    /// it gets `--delay-req-port 0`: the event port is the test's.
    pub fn start(args: &[&str]) -> Sim {
        let event = Collector::bind();
        let general = Collector::bind();
        let mut command = Command::new(env!("CARGO_BIN_EXE_dantesync"));
        command
            .args(["gm-sim", "--dest", "127.0.0.1", "--bind", "127.0.0.1"])
            .args(["--event-port", &event.port.to_string()])
            .args(["--general-port", &general.port.to_string()]);
        if !args.contains(&"--delay-req-port") {
            command.args(["--delay-req-port", "0"]);
        }
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the dantesync binary runs");
        Sim {
            child,
            started: Instant::now(),
            event,
            general,
        }
    }

    /// Waits (at most 5 s) until the general port has received `n` datagrams.
    pub fn wait_for_general(&self, n: usize) -> Vec<Datagram> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.general.snapshot();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "gm-sim sent {} datagrams to the general port, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for gm-sim to exit (killing it past [`HARD_TIMEOUT`]), lets the last datagrams
    /// arrive and returns everything.
    pub fn finish(mut self) -> Outcome {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for gm-sim") {
                break status;
            }
            if self.started.elapsed() > HARD_TIMEOUT {
                let _ = self.child.kill();
                panic!("gm-sim still running after {HARD_TIMEOUT:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        std::thread::sleep(Duration::from_millis(100));
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut stdout).unwrap();
        }
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        Outcome {
            status,
            stdout,
            stderr,
            event: self.event.finish(),
            general: self.general.finish(),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Harmless once it has exited; stops it if a test failed while it ran.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Outcome {
    /// Asserts a clean exit with the start line and the summary, and returns the summary.
    pub fn summary(&self) -> &str {
        assert!(
            self.status.success(),
            "gm-sim failed ({}): {}",
            self.status,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "a start line and a summary: {}",
            self.stdout
        );
        lines[1]
    }

    pub fn banner(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }
}

/// Runs dantesync to the end with `args` (no collectors), for the error cases.
pub fn run_plain(args: &[&str]) -> (ExitStatus, String, String) {
    run_program(env!("CARGO_BIN_EXE_dantesync"), args)
}

/// Runs `program` to the end, killing it past [`HARD_TIMEOUT`].
pub fn run_program(program: &str, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HARD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} still running after {HARD_TIMEOUT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status, stdout, stderr)
}
