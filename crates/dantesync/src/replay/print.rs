//! How a replay report is shown: a short table for people, one JSON object for scripts.

use std::fmt::Write;

use super::ReplayReport;

/// The report as one line of JSON.
pub fn json(report: &ReplayReport) -> String {
    // A struct of plain fields and strings cannot fail to serialise; should that ever change,
    // the error still comes out as valid JSON rather than as a panic.
    serde_json::to_string(report).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialise the report: {e}") }).to_string()
    })
}

/// The report as a table, one quantity a line.
pub fn text(r: &ReplayReport) -> String {
    let mut out = String::new();
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<10} {value}");
    };
    row("capture", r.file.clone());
    row(
        "datagrams",
        format!(
            "{} UDP over {:.2} s: {} to PTP ports 319/320, {} skipped{}",
            r.udp_datagrams,
            r.duration_s,
            r.packets,
            r.skipped,
            if r.out_of_order > 0 {
                format!(", {} out of order", r.out_of_order)
            } else {
                String::new()
            }
        ),
    );
    row("leader", leader(r));
    row(
        "pairs",
        format!(
            "{} Sync/Follow_Up ({} in the final window, {} outliers)",
            r.pairs, r.window_samples, r.outliers
        ),
    );
    row("rate", rate(r));
    row(
        "jitter",
        r.jitter_us
            .map_or_else(|| "unknown".to_owned(), |j| format!("{j:.1} µs")),
    );
    row("modes", modes(r));
    if let Some(ppm) = r.applied_ppm {
        row(
            "frequency",
            format!(
                "{ppm:+.3} ppm applied at the end, after {} changes",
                r.frequency_changes
            ),
        );
    }
    row(
        "events",
        format!(
            "{} leader changes, {} timescale jumps, {} rate changes",
            r.leader_changes, r.timescale_jumps, r.rate_changes
        ),
    );
    row(
        "dropped",
        format!(
            "{} not PTPv1, {} malformed, {} other subdomain, {} not from the leader, \
             {} unmatched Follow_Up, {} Delay/Management",
            r.not_v1,
            r.malformed,
            r.other_subdomain,
            r.not_leader,
            r.unmatched_follow_up,
            r.ignored_other
        ),
    );
    out
}

fn leader(r: &ReplayReport) -> String {
    let Some(gm) = &r.gm_uuid else {
        return "none".to_owned();
    };
    let mut s = gm.clone();
    if let Some(sender) = r.leader_uuid.as_ref().filter(|&s| s != gm) {
        let _ = write!(s, " (relayed by {sender})");
    }
    match r.sync_interval_ms {
        Some(ms) => {
            let _ = write!(s, ", Sync every {ms} ms");
        }
        None => s.push_str(", Sync period unknown"),
    }
    s
}

fn rate(r: &ReplayReport) -> String {
    let Some(ppm) = r.rate_ppm else {
        return "unknown".to_owned();
    };
    let sigma = r
        .rate_sigma_ppm
        .map_or_else(String::new, |s| format!(" ± {s:.2}"));
    let direction = if ppm >= 0.0 { "fast" } else { "slow" };
    format!("{ppm:+.2}{sigma} ppm (this host's clock runs {direction} against the leader)")
}

fn modes(r: &ReplayReport) -> String {
    if r.modes.is_empty() {
        return "none (nothing replayed)".to_owned();
    }
    r.modes
        .iter()
        .zip(&r.mode_entered_s)
        .enumerate()
        .map(|(i, (mode, at))| {
            if i == 0 {
                (*mode).to_owned()
            } else {
                format!("{mode} ({at:.2} s)")
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::replay_datagrams;

    #[test]
    fn an_empty_report_prints_without_unknown_values_failing() {
        let report = replay_datagrams("nothing.pcap", &[]);
        let text = text(&report);
        assert!(text.starts_with("capture    nothing.pcap\n"), "{text}");
        assert!(text.contains("\nrate       unknown\n"), "{text}");
        assert!(
            text.contains("\nmodes      none (nothing replayed)\n"),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(value["pairs"], 0);
        assert!(value["rate_ppm"].is_null());
        assert!(value["gm_uuid"].is_null());
    }
}
