//! `docs/e2e-results.md`: every figure of every scenario as the harness measured it, the
//! command that ran it, the date, and the link emulator's own precision. Written only by the
//! harness, so no number in it is typed by hand.

use std::fmt::Write;

use crate::scenario::Outcome;

fn utc_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The commit the binaries were built from, as `git` in the working directory sees it, and
/// whether the tree had changes; None outside a git checkout.
fn source_commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let changed = git(&["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changed.is_empty() {
        format!("commit {head}")
    } else {
        format!("commit {head} with uncommitted changes")
    })
}

fn emulator_text(o: &Outcome) -> String {
    let relay = match o.emulator.error_us() {
        Some((med, p99, max)) => format!(
            "{} frames relayed, {} dropped on purpose; the relay's error (sent − due, due = kernel arrival + the link's latency ({} µs + {} µs × its slot 0..{}) + delay + jitter): median {med:.1} µs, 99th percentile {p99:.1} µs, max {max:.1} µs",
            o.emulator.frames,
            o.emulator.dropped,
            crate::link::LATENCY_US,
            crate::link::STAGGER_US,
            crate::link::STAGGER_SLOTS,
        ),
        None => return "no frames relayed".into(),
    };
    let relay = match o.emulator.event_error_us(i64::MIN, i64::MAX) {
        Some((n, med, p99, max)) => format!(
            "{relay}; PTP event frames alone ({n}: Sync, Delay_Req, the ones stamped): median {med:.1} µs, 99th percentile {p99:.1} µs, max {max:.1} µs; {} other frames held back up to {} µs so that an event frame left on time",
            o.emulator.held,
            crate::link::HOLD_NS / 1000,
        ),
        None => relay,
    };
    match o.emulator.outside_error_us() {
        Some((n, med, p99, max)) => format!(
            "{relay}; from outside (kernel stamps at the host's eth0 and its switch port, {n} frames without jitter; path delay − latency − delay): median {med:.1} µs, 99th percentile {p99:.1} µs, max {max:.1} µs"
        ),
        None => format!("{relay}; no frame measured from outside"),
    }
}

/// The Markdown report of `outcomes`, run by `command`.
pub fn markdown(outcomes: &[Outcome], command: &str, total_s: f64) -> String {
    let mut s = String::new();
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let _ = writeln!(s, "# End-to-end results: the multi-host test bed\n");
    let _ = writeln!(
        s,
        "Written by the harness (`crates/dantesync-bed`); do not edit by hand. Every figure below \
         was measured from outside the nodes: each node's clock is read with CLOCK_MONOTONIC_RAW \
         in its query reply, so differences between nodes and true rates need no assumption \
         about network delay. See `crates/dantesync-bed/src/lib.rs` for how.\n"
    );
    let _ = writeln!(s, "- Command: `{command}`");
    let _ = writeln!(s, "- Date: {}", utc_now());
    if let Some(source) = source_commit() {
        let _ = writeln!(s, "- Source: {source}");
    }
    let _ = writeln!(
        s,
        "- Host: {} cores; total {:.0} s; {passed} of {} scenarios passed\n",
        crate::sys::cpu_count(),
        total_s,
        outcomes.len()
    );
    let _ = writeln!(s, "| scenario | result | time |\n|---|---|---|");
    for o in outcomes {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} s |",
            o.title,
            if o.passed() { "PASS" } else { "FAIL" },
            o.seconds
        );
    }
    for o in outcomes {
        let _ = writeln!(s, "\n## {}\n", o.title);
        let _ = writeln!(
            s,
            "`dantesync-bed run {}`: **{}** in {:.0} s. Link emulator: {}.\n",
            o.name,
            if o.passed() { "PASS" } else { "FAIL" },
            o.seconds,
            emulator_text(o)
        );
        if !o.figures.is_empty() {
            let _ = writeln!(s, "| figure | measured | limit | |\n|---|---|---|---|");
            for f in &o.figures {
                let _ = writeln!(
                    s,
                    "| {} | {} {} | {} | {} |",
                    f.what,
                    f.value,
                    f.unit,
                    f.limit_text(),
                    if f.pass() { "ok" } else { "**FAIL**" }
                );
            }
        }
        for n in &o.notes {
            let _ = writeln!(s, "\n- {n}");
        }
        if let Some(e) = &o.error {
            let first: Vec<&str> = e.lines().take(3).collect();
            let _ = writeln!(s, "\nDid not complete: {}", first.join(" / "));
        }
    }
    s
}
