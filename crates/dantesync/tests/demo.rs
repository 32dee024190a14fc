//! `dantesync demo` as a user runs it: a simulated leader and three daemons on loopback, on
//! simulated clocks (the host's clock is never touched), to a verdict within two minutes.
//!
//! The acceptance: exit 0 with every node locked and a phase spread under 1 ms, in under two
//! minutes. With `--rate-only` (no NTP master) the nodes lock but keep their starting
//! offsets, and the verdict says so.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");

/// The demos run one at a time: three daemons and a leader each, on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The demo, killed if the test fails while it runs.
struct Demo(Option<Child>);

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let child = Command::new(BIN)
            .arg("demo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Demo(Some(child))
    }

    // Only the interrupt test (Linux: /proc and SIGINT) needs it.
    #[cfg(target_os = "linux")]
    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits for the end, at most `limit`.
    fn finish(mut self, limit: Duration) -> (Output, Duration) {
        let started = Instant::now();
        let mut child = self.0.take().unwrap();
        // Read the pipes on threads so a full pipe cannot stall the demo.
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the demo still ran after {limit:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        };
        (output, started.elapsed())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The number after `key` in `text` ("… spread is 0.042 ms …" → 0.042).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
fn the_demo_converges_within_two_minutes() {
    let _serial = serial();
    let started = Instant::now();
    let (out, _) = Demo::start(&["--duration", "110"]).finish(Duration::from_secs(150));
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    assert!(
        stdout.contains("NTP master A serves 127.0.0.1:"),
        "{stdout}"
    );
    let verdict = verdict(&stdout);
    assert!(
        verdict.starts_with("verdict: all 3 nodes locked ("),
        "{verdict}"
    );
    assert_locked(verdict);
    let spread = number_after(verdict, "the phase spread is ")
        .unwrap_or_else(|| panic!("no spread in {verdict}"));
    assert!((0.0..1.0).contains(&spread), "spread {spread} ms");
    assert!(
        verdict.contains("from the NTP master A (stratum 8, refid LOCL)"),
        "{verdict}"
    );
    let converged_after = number_after(verdict, "converged after ").unwrap();
    assert!(converged_after < 110.0, "{verdict}");
    // The live view went to a pipe: one line a second, then the last table.
    let live = stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(" s] A "))
        .count();
    assert!(live >= 5, "{live} live lines:\n{stdout}");
    // The nodes removed the natural drift of their clocks (+45, −30, +12 ppm), and B and C,
    // which started 6 ms ahead and 9 ms behind, are within 1 ms of A.
    for (node, natural) in [("A", 45.0), ("B", -30.0), ("C", 12.0)] {
        let row = table_row(&stdout, node);
        assert!(
            (applied_ppm(&row) + natural).abs() < 2.0,
            "{node} against a natural {natural} ppm: {row}"
        );
        if node != "A" {
            assert!(row.contains("NTP client"), "{row}");
            assert!(phase_ms(&row).abs() < 1.0, "{row}");
        }
    }
}

#[test]
fn rate_only_locks_every_node_and_says_the_time_is_not_corrected() {
    let _serial = serial();
    let (out, took) =
        Demo::start(&["--duration", "60", "--rate-only"]).finish(Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(stdout.contains("--rate-only: no NTP master"), "{stdout}");
    let verdict = verdict(&stdout);
    assert!(
        verdict.starts_with("verdict (rate sync only): all 3 nodes locked ("),
        "{verdict}"
    );
    assert_locked(verdict);
    // Nothing corrected the time: B and C are still about +6 and −9 ms from A (their start,
    // plus the few µs their natural drift added before they locked).
    let spread = number_after(verdict, "the phase spread is ").unwrap();
    assert!((14.0..16.0).contains(&spread), "{verdict}");
    for (node, start_ms) in [("B", 6.0), ("C", -9.0)] {
        let row = table_row(&stdout, node);
        assert!(row.contains("rate only"), "{row}");
        assert!((phase_ms(&row) - start_ms).abs() < 0.5, "{row}");
    }
}

/// The verdict line.
fn verdict(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("verdict"))
        .unwrap_or_else(|| panic!("no verdict:\n{stdout}"))
}

/// Every node in a locked mode, as the verdict names them.
fn assert_locked(verdict: &str) {
    let modes = &verdict[verdict.find("locked (").unwrap()..];
    for node in ["A", "B", "C"] {
        assert!(
            modes.contains(&format!("{node} LOCK")) || modes.contains(&format!("{node} NANO")),
            "{verdict}"
        );
    }
}

/// The last table row of `node` in the demo's output.
fn table_row(stdout: &str, node: &str) -> String {
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{node}    ")))
        .unwrap_or_else(|| panic!("no table row for {node}:\n{stdout}"))
        .to_owned()
}

/// A row's applied frequency: node, role (two words), own clock (two), mode, drift, applied.
fn applied_ppm(row: &str) -> f64 {
    row.split_whitespace()
        .nth(7)
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no applied ppm in {row:?}"))
}

/// A row's last column: the node's phase against A, ms.
fn phase_ms(row: &str) -> f64 {
    row.split_whitespace()
        .last()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no phase in {row:?}"))
}

#[cfg(target_os = "linux")]
#[test]
fn an_interrupt_stops_every_node_and_removes_the_scratch_directory() {
    let _serial = serial();
    let demo = Demo::start(&["--duration", "60"]);
    let pid = demo.pid();
    // Wait until the demo shows its first line of state: every child is running then.
    let children_file = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(20);
    let children: Vec<u32> = loop {
        let kids: Vec<u32> = std::fs::read_to_string(&children_file)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if kids.len() >= 4 {
            break kids;
        }
        assert!(Instant::now() < deadline, "only {kids:?} started");
        std::thread::sleep(Duration::from_millis(100));
    };
    let scratch = std::env::temp_dir().join(format!("dantesync-demo-{pid}-0"));
    assert!(scratch.is_dir(), "{}", scratch.display());
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let (out, took) = demo.finish(Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(took < Duration::from_secs(3), "took {took:?} to stop");
    assert!(
        stdout.contains("interrupted; the nodes are stopped"),
        "{stdout}"
    );
    for child in children {
        assert!(
            !std::path::Path::new(&format!("/proc/{child}")).exists(),
            "child {child} still there"
        );
    }
    assert!(!scratch.exists(), "{} left behind", scratch.display());
}
