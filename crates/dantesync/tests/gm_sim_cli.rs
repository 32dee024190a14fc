//! `dantesync gm-sim` as a user runs it: stopped by SIGTERM with its summary, and clear
//! errors for bad arguments and privileged ports.
//!
//! Every run has a hard time limit and the child is killed if a test fails; all traffic is
//! to 127.0.0.1.

mod support;

// Only the tests that signal or drop privileges (Unix) use these.
#[cfg(unix)]
use std::process::Command;
#[cfg(unix)]
use std::time::{Duration, Instant};

use support::gm_sim::*;

// SIGTERM is a Unix signal.
#[cfg(unix)]
#[test]
fn runs_until_sigterm_and_still_prints_the_summary() {
    let sim = Sim::start(&["--sync-interval-log2", "-5"]);
    sim.wait_for_general(3);
    let pid = libc::pid_t::try_from(sim.child.id()).unwrap();
    // SAFETY: kill has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let stopped_at = Instant::now();
    let outcome = sim.finish();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        stopped_at.elapsed()
    );
    let summary = outcome.summary();
    assert!(outcome.banner().contains("until Ctrl-C"));
    assert!(summary.contains("stopped by a signal"), "{summary}");
    let sent = pairs(&outcome).len();
    assert!(
        summary.contains(&format!("sent {sent} Syncs and {sent} Follow_Ups")),
        "received {sent} pairs: {summary}"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--dest", "300.1.2.3"], 2, "--dest"),
        (&["--sync-interval-log2", "5"], 2, "--sync-interval-log2"),
        (&["--drift-ppm", "nan"], 2, "must be a finite number"),
        (
            &["--dest", "127.0.0.1", "--jitter-us", "250000"],
            1,
            "--jitter-us 250000 is not below the Sync interval (250000 µs)",
        ),
        (
            &["--dest", "127.0.0.1", "--interface", "no-such-if0"],
            1,
            "no interface named \"no-such-if0\"",
        ),
        (
            // TEST-NET-1: on no interface of this host, so the bind fails and nothing is sent.
            &[
                "--dest",
                "127.0.0.1",
                "--bind",
                "192.0.2.77",
                "--count",
                "1",
            ],
            1,
            "no interface of this host has that address",
        ),
    ];
    for (args, code, message) in cases {
        let mut full = vec!["gm-sim"];
        full.extend_from_slice(args);
        let (status, stdout, stderr) = run_plain(&full);
        assert_eq!(status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
    }
}

// Privileged ports, geteuid and setpriv are Unix notions.
#[cfg(unix)]
#[test]
fn port_319_without_root_says_what_to_do() {
    // Needs an unprivileged user to be meaningful: drop to nobody with setpriv when root.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    let args = [
        "gm-sim",
        "--dest",
        "127.0.0.1",
        "--event-port",
        "319",
        "--general-port",
        "320",
        "--count",
        "1",
    ];
    let (status, stdout, stderr) = match (root, unprivileged_start) {
        (_, Some(start)) if start <= 319 => {
            eprintln!(
                "SKIPPED: ip_unprivileged_port_start is {start}: port 319 is not privileged here"
            );
            return;
        }
        (false, _) => run_plain(&args),
        (true, _) if setpriv => {
            let mut full = vec![
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_dantesync"),
            ];
            full.extend_from_slice(&args);
            run_program("setpriv", &full)
        }
        (true, _) => {
            eprintln!(
                "SKIPPED: running as root without setpriv: cannot test port 319 unprivileged"
            );
            return;
        }
    };
    if status.code() == Some(126) || status.code() == Some(127) {
        eprintln!("SKIPPED: the unprivileged user cannot run the binary: {stderr}");
        return;
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("dantesync gm-sim: the Delay_Req listener: cannot bind 0.0.0.0:319: "),
        "{stderr}"
    );
    assert!(stderr.contains("run as root"), "{stderr}");
    assert!(stderr.contains("--event-port"), "{stderr}");
    assert_eq!(stdout, "");
}
