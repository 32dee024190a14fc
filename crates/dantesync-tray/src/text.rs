//! The words of the tooltip and of the menu's status lines, from the same judgement as the icon.

use crate::health::{Shown, Watch};
use crate::icon::LOCK_THRESHOLD_PPM;

/// Tooltip title and lines; the menu shows the same lines, greyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub title: String,
    pub lines: Vec<String>,
}

impl Text {
    /// Title and lines as one block (Windows' tooltip is one string of at most 127 chars;
    /// the caller trims).
    pub fn joined(&self) -> String {
        let mut s = self.title.clone();
        for l in &self.lines {
            s.push('\n');
            s.push_str(l);
        }
        s
    }
}

fn signed(v: f64, decimals: usize) -> String {
    format!("{v:+.decimals$}")
}

pub fn describe(watch: &Watch, now_s: f64, url: &str) -> Text {
    let shown = watch.shown(now_s);
    let title = format!("dantesync: {}", shown.label());
    let mut lines = Vec::new();
    match shown {
        Shown::Unreachable => {
            lines.push(format!("no answer from {url}"));
            if let Some(e) = watch.last_error() {
                lines.push(e.to_owned());
            }
        }
        Shown::Stale => lines.push(format!(
            "the daemon at {url} answers, its status does not move"
        )),
        _ => {}
    }
    if let Some(age) = watch.age_s(now_s).filter(|_| shown.is_offline()) {
        lines.push(format!("last fresh status {age:.0} s ago:"));
    }
    let Some(r) = watch.last_reading() else {
        if lines.is_empty() {
            lines.push(format!("waiting for {url}"));
        }
        return Text { title, lines };
    };
    lines.push(format!("mode {}", r.mode.name()));
    lines.push(match r.drift_ppm {
        Some(d) => {
            // The daemon gives |drift| + 3σ; σ is what a reader compares the drift with.
            let sigma = r
                .error_bound_ppm
                .map(|b| format!(" ±{:.2}", (b - d.abs()) / 3.0))
                .unwrap_or_default();
            format!(
                "drift {} µs/s{sigma} (lock below {LOCK_THRESHOLD_PPM})",
                signed(d, 2)
            )
        }
        None => "drift: no estimate yet".to_owned(),
    });
    lines.push(format!("applied {} ppm", signed(r.applied_ppm, 3)));
    lines.push(format!("leader {}", r.leader.as_deref().unwrap_or("none")));
    match r.fleet_phase_error() {
        Some(e) => lines.push(format!("phase error to fleet time {} µs", signed(e, 1))),
        None => {
            let server = r.ntp_server.as_deref().unwrap_or("none (PTP only)");
            let offset = match r.ntp_offset_us {
                Some(o) => format!("offset {} µs", signed(o, 0)),
                None => "no check yet".to_owned(),
            };
            let failing = if r.ntp_failing { ", failing" } else { "" };
            lines.push(format!("NTP {server}: {offset}{failing}"));
        }
    }
    lines.push(format!(
        "accumulated phase {} µs",
        signed(r.accumulated_phase_us, 1)
    ));
    Text { title, lines }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::parse;

    const URL: &str = "http://127.0.0.1:8898";

    fn watch(body: &str) -> Watch {
        let mut w = Watch::new();
        w.on_reading(0.0, parse(body).unwrap());
        w
    }

    #[test]
    fn a_locked_node_shows_every_value_the_issue_asks_for() {
        let w = watch(
            r#"{"status": {"mode": "LOCK", "drift_ppm": -0.8, "error_bound_ppm": 1.9,
            "applied_ppm": 49.7, "accumulated_phase_us": 3.31,
            "leader": {"grandmaster": "00:1d:c1:0a:0b:0c"},
            "ntp": {"offset_ns": -41000}, "last_ptp_packet": {"age_s": 0.2}},
            "node": {"ntp_upstream": "10.0.0.1", "uptime_s": 120.5}}"#,
        );
        let t = describe(&w, 1.0, URL);
        assert_eq!(t.title, "dantesync: LOCK");
        assert_eq!(
            t.lines,
            [
                "mode LOCK",
                "drift -0.80 µs/s ±0.37 (lock below 5)",
                "applied +49.700 ppm",
                "leader 00:1d:c1:0a:0b:0c",
                "NTP 10.0.0.1: offset -41 µs",
                "accumulated phase +3.3 µs",
            ]
        );
    }

    #[test]
    fn fleet_mode_shows_the_phase_error_instead_of_the_ntp_offset() {
        let w = watch(
            r#"{"status": {"mode": "NANO", "sync_mode": "fleet", "phase_error_ns": -1500,
            "ntp": {"offset_ns": 70000}, "last_ptp_packet": {"age_s": 0.2}},
            "node": {"uptime_s": 9}}"#,
        );
        let t = describe(&w, 0.5, URL);
        assert!(
            t.lines
                .contains(&"phase error to fleet time -1.5 µs".to_owned()),
            "{t:?}"
        );
        assert!(!t.lines.iter().any(|l| l.starts_with("NTP")), "{t:?}");
    }

    #[test]
    fn offline_says_why_and_how_old_the_last_values_are() {
        let mut w = watch(
            r#"{"status": {"mode": "NTP-ONLY", "applied_ppm": 12}, "node": {"uptime_s": 9}}"#,
        );
        w.on_error("connection refused".into());
        let t = describe(&w, 12.0, URL);
        assert_eq!(t.title, "dantesync: OFFLINE (daemon not answering)");
        assert_eq!(t.lines[0], "no answer from http://127.0.0.1:8898");
        assert_eq!(t.lines[1], "connection refused");
        assert_eq!(t.lines[2], "last fresh status 12 s ago:");
        assert_eq!(t.lines[3], "mode NTP-ONLY");
        assert!(t
            .joined()
            .starts_with("dantesync: OFFLINE (daemon not answering)\nno answer"));
    }

    #[test]
    fn before_any_answer() {
        let t = describe(&Watch::new(), 0.0, URL);
        assert_eq!(t.title, "dantesync: starting");
        assert_eq!(t.lines, ["waiting for http://127.0.0.1:8898"]);
    }
}
