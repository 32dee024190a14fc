//! `dantesync config check` run as the operator runs it: files written to a temporary
//! directory, the binary's exit code and output checked, and the file's bytes and
//! modification time compared before and after (the daemon must never write its
//! configuration).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

/// A directory of its own per test, removed when the test ends (also when it fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dantesync-config-check-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(path: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dantesync"))
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs the check and asserts the file was only read.
fn check_untouched(path: &Path) -> Run {
    let bytes = std::fs::read(path).unwrap();
    let mtime: SystemTime = std::fs::metadata(path).unwrap().modified().unwrap();
    let run = check(path);
    assert_eq!(
        std::fs::read(path).unwrap(),
        bytes,
        "the file's bytes changed"
    );
    assert_eq!(
        std::fs::metadata(path).unwrap().modified().unwrap(),
        mtime,
        "the file's modification time changed"
    );
    run
}

/// Asserts the run failed with an error at `line:col` about `key` whose message starts with
/// `message`, and returns the whole error output.
fn assert_error(run: &Run, path: &Path, line: u32, col: u32, key: &str, message: &str) -> String {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let head = format!("{}:{line}:{col}: {key}: {message}", path.display());
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&head)),
        "no line starting {head:?} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the daemon would not start (the file was not changed)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    run.stderr.clone()
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/config")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_full_example_passes_and_is_summarised() {
    let dir = TempDir::new();
    let path = dir.write("config.json", &example("full.json"));
    let run = check_untouched(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("configuration read from {}", path.display()).as_str())
    );
    assert_eq!(lines.next(), Some("valid"));
    for needle in [
        "  interface     eth0",
        "  ntp_server    10.77.8.2:123, pool.ntp.org:123",
        "  ptp           subdomain _DFLT (224.0.1.129), UDP ports 319/320",
        "  clock         system",
        "  ntp server    on, 0.0.0.0 port 123, stratum 3, answers 10.0.0.0/8, 172.16.0.0/12, \
         192.168.0.0/16, 169.254.0.0/16, rate limited per client",
        "  http status   on, 0.0.0.0 port 8898",
        "  log level     info",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} not in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn every_example_passes_without_warnings() {
    let dir = TempDir::new();
    for name in [
        "full.json",
        "minimal.json",
        "ntp-client.json",
        "simulated-clock.json",
    ] {
        let path = dir.write(name, &example(name));
        let run = check_untouched(&path);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
    }
}

#[test]
fn a_json_syntax_error_names_file_line_and_key() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"ntp_server\": \"10.77.8.2\",\n  \"ntp_server_mode\": {\n    \"enabled\": true\n    \"port\": 123\n  }\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(
        &run,
        &path,
        5,
        5,
        "ntp_server_mode",
        "expected `,` or `}` after a member",
    );
    assert!(
        err.contains("fix: a comma is missing at the end of the previous line"),
        "{err}"
    );
}

#[test]
fn a_trailing_comma_and_a_comment_are_explained() {
    let dir = TempDir::new();
    let path = dir.write("trailing.json", "{\n  \"ntp_server\": \"10.77.8.2\",\n}\n");
    let run = check_untouched(&path);
    assert_eq!(run.code, 1);
    let head = format!("{}:2:28: trailing comma before `}}`", path.display());
    assert!(run.stderr.starts_with(&head), "{}", run.stderr);

    let path = dir.write(
        "comment.json",
        "{\n  // master\n  \"ntp_server\": \"x.lan\"\n}\n",
    );
    let run = check_untouched(&path);
    assert_eq!(run.code, 1);
    let head = format!("{}:2:3: comments are not allowed in JSON", path.display());
    assert!(run.stderr.starts_with(&head), "{}", run.stderr);
}

#[test]
fn a_misspelt_key_is_named_with_the_key_meant() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"interface\": \"eth0\",\n  \"ntp_sever\": \"10.77.8.2\"\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(&run, &path, 3, 3, "ntp_sever", "unknown key");
    assert!(err.contains("fix: did you mean `ntp_server`?"), "{err}");
}

#[test]
fn an_unknown_nested_key_is_named_by_its_path() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"http_status\": {\n    \"enabled\": true,\n    \"prot\": 8898\n  }\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(&run, &path, 4, 5, "http_status.prot", "unknown key");
    assert!(err.contains("did you mean `http_status.port`?"), "{err}");
}

#[test]
fn a_wrong_type_is_named() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"ntp_server\": \"10.77.8.2\",\n  \"ntp_server_mode\": {\n    \"enabled\": true,\n    \"port\": \"abc\"\n  }\n}\n",
    );
    let run = check_untouched(&path);
    assert_error(
        &run,
        &path,
        5,
        13,
        "ntp_server_mode.port",
        "expected an integer 1-65535, found \"abc\"",
    );
    let path = dir.write(
        "bool.json",
        "{\n  \"http_status\": {\"enabled\": \"yes\"}\n}\n",
    );
    let run = check_untouched(&path);
    assert_error(
        &run,
        &path,
        2,
        30,
        "http_status.enabled",
        "expected true or false, found \"yes\"",
    );
}

#[test]
fn a_bad_address_is_named() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"ntp_server\": [\n    \"10.77.8.2\",\n    \"10.77.8.256\"\n  ]\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(
        &run,
        &path,
        4,
        5,
        "ntp_server[1]",
        "\"10.77.8.256\" is not a valid IPv4 address",
    );
    assert!(err.contains("fix: 256 is above 255"), "{err}");

    let path = dir.write(
        "bind.json",
        "{\n  \"query_api\": {\n    \"bind\": \"localhost\"\n  }\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(
        &run,
        &path,
        3,
        13,
        "query_api.bind",
        "\"localhost\" is not an IP address",
    );
    assert!(err.contains("write 127.0.0.1"), "{err}");
}

#[test]
fn an_out_of_range_port_is_named() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"http_status\": {\n    \"enabled\": true,\n    \"port\": 70000\n  }\n}\n",
    );
    let run = check_untouched(&path);
    assert_error(
        &run,
        &path,
        4,
        13,
        "http_status.port",
        "expected an integer 1-65535, found 70000",
    );
}

#[test]
fn a_bad_uuid_in_the_leader_allowlist_is_named() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"ptp\": {\n    \"leader_allowlist\": [\n      \"00:1d:c1:a1:72:3c\",\n      \"00:1d:c1:zz:72:3c\"\n    ]\n  }\n}\n",
    );
    let run = check_untouched(&path);
    let err = assert_error(
        &run,
        &path,
        5,
        7,
        "ptp.leader_allowlist[1]",
        "expected a PTPv1 UUID: six hex bytes like \"00:1d:c1:a1:72:3c\", found \"00:1d:c1:zz:72:3c\"",
    );
    assert!(err.contains("MAC address"), "{err}");
}

#[test]
fn every_error_of_a_file_is_listed_at_once() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        "{\n  \"ntp_sever\": \"a.lan\",\n  \"http_status\": {\"port\": 0},\n  \"ntp_server_mode\": {\"stratum\": 16}\n}\n",
    );
    let run = check_untouched(&path);
    assert_error(&run, &path, 2, 3, "ntp_sever", "unknown key");
    assert_error(
        &run,
        &path,
        3,
        27,
        "http_status.port",
        "expected an integer",
    );
    assert_error(
        &run,
        &path,
        4,
        34,
        "ntp_server_mode.stratum",
        "expected an integer 1-15, found 16",
    );
    assert!(
        run.stderr
            .contains("dantesync config check: 3 errors; the daemon would not start"),
        "{}",
        run.stderr
    );
}

/// A file with every key the earlier DanteSync knew, as it wrote them.
const EARLIER: &str = r#"{
  "_ntp_server_examples": "sk.pool.ntp.org, europe.pool.ntp.org, time.google.com, time.cloudflare.com",
  "ntp_server": "10.77.8.2",
  "ntp_server_mode": {
    "enabled": false,
    "port": 123,
    "stratum": 3,
    "max_step_us": 100000
  },
  "http_status": {
    "enabled": true,
    "port": 8898
  },
  "system": {
    "servo": {
      "kp": 0.0005,
      "ki": 0.00005,
      "max_freq_adj_ppm": 500.0,
      "max_integral_ppm": 100.0
    },
    "filters": {
      "sample_window_size": 4,
      "min_delta_ns": 1000000,
      "calibration_samples": 0,
      "warmup_secs": 3.0
    },
    "ntp_stale_secs": 180,
    "gm_allowlist": ["10.77.9.0/24"],
    "_phase_slew": "set enabled:true to slew sub-50ms UTC errors instead of stepping",
    "phase_slew": {"enabled": false},
    "dscp": {"enabled": true, "dscp": 46},
    "clock_alarm_interval_s": 60,
    "clock_discipline": "ptp_phase_lock",
    "date_offset": {"step_bound_ms": 50, "step_lead_ms": 5000}
  }
}
"#;

#[test]
fn the_earlier_dantesync_s_file_is_accepted_with_deprecation_warnings() {
    let dir = TempDir::new();
    let path = dir.write("config.json", EARLIER);
    let run = check_untouched(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = path.display();
    for (line, col, key) in [
        (22, 7, "sample_window_size"),
        (23, 7, "min_delta_ns"),
        (24, 7, "calibration_samples"),
        (25, 7, "warmup_secs"),
    ] {
        let want = format!(
            "warning: {p}:{line}:{col}: system.filters.{key}: ignored: the earlier servo's \
             filters no longer apply"
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&want)),
            "{want:?} not in:\n{}",
            run.stderr
        );
    }
    for key in [
        "ntp_server_mode.max_step_us",
        "system.servo.kp",
        "system.ntp_stale_secs",
        "system.phase_slew.enabled",
        "system.dscp.dscp",
        "system.clock_alarm_interval_s",
        "system.clock_discipline",
        "system.date_offset.step_lead_ms",
    ] {
        assert!(
            run.stderr.contains(&format!(": {key}: ignored: ")),
            "{key} not warned:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "warning: {p}:28:5: system.gm_allowlist: applied as ptp.source_allowlist"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .count(),
        18
    );
    assert!(run.stdout.contains("valid, with 18 warnings (above)"));
    assert!(run.stdout.contains("  ntp_server    10.77.8.2:123"));
    assert!(run.stdout.contains("  ptp sources   10.77.9.0/24"));
    assert!(run.stdout.contains("  ntp server    off"));
    assert!(run.stdout.contains("  http status   on, 0.0.0.0 port 8898"));
}

#[test]
fn the_simulated_clock_snippet_parses() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.json",
        r#"{"clock": {"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}}"#,
    );
    let run = check_untouched(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "  clock         simulated (drift 50 ppm, offset 0 ms; the system clock is never touched)"
        ),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("  ntp_server    none: PTP-only (no ntp_server is configured)"));
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error() {
    let dir = TempDir::new();
    let path = dir.0.join("nowhere.json");
    let run = check(&path);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with(&format!("{}: no such configuration file", path.display())),
        "{}",
        run.stderr
    );
    assert!(!path.exists(), "the check must not create the file");
}
