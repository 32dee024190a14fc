//! What version 3 of the extended reply adds: the sync mode and, in fleet mode, where the node
//! stands against the fleet's timescale (its state, D with its epoch, age and source, the path
//! delay, the phase error to leader + D + path delay), worded as the live page's "Sync mode"
//! row. A node that predates version 3 shows it as unknown, not as classic.

use dantesync_core::controller::FleetState;
use dantesync_core::fleet::SyncMode;
use dantesync_core::path_delay::PathDelayState;
use dantesync_core::wire::query::{Coded, ExtendedReply, ExtendedSyncMode, WireCode};
use serde_json::{json, Value};

/// A code's name, or "unknown" for a code this version does not know.
fn name<T: WireCode>(c: Coded<T>, name: impl Fn(T) -> &'static str) -> &'static str {
    c.known().map_or("unknown", name)
}

/// Adds the version-3 keys to the `--json` object, named as `/api/status` names them: `null`
/// for what the node did not say.
pub fn add_json(r: &ExtendedReply, v: &mut Value) {
    let m = r.sync_mode;
    v["sync_mode"] = json!(m.map(|m| name(m.sync_mode, SyncMode::name)));
    v["fleet"] = json!({
        "state": m.map(|m| name(m.fleet_state, FleetState::as_str)),
        "d_ns": m.and_then(|m| m.d_ns),
        "epoch": m.and_then(|m| m.d_epoch),
        "d_age_s": m.and_then(|m| m.d_age_s()),
        "d_source": m.and_then(|m| match m.d_source {
            Coded::Known(source) => source.map(|s| s.name()),
            Coded::Unknown(_) => Some("unknown"),
        }),
        "phase_error_ns": m.and_then(|m| m.phase_error_ns),
    });
    v["path_delay"] = json!({
        "state": m.map(|m| name(m.path_delay_state, PathDelayState::as_str)),
        "delay_ns": m.and_then(|m| m.path_delay_ns),
    });
}

/// ns as seconds with all nine decimals (D is UTC − leader time: decades, to the ns).
fn exact_s(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    format!("{sign}{}.{:09} s", abs / 1_000_000_000, abs % 1_000_000_000)
}

fn mode_line(m: &ExtendedSyncMode) -> String {
    match m.sync_mode {
        Coded::Known(SyncMode::Classic) => "classic (NTP sets the time)".to_owned(),
        Coded::Known(SyncMode::Fleet) => {
            let state = match m.fleet_state {
                Coded::Known(FleetState::Off) => "off",
                Coded::Known(FleetState::Waiting) => {
                    "waiting (no announcement of D yet: NTP sets the time)"
                }
                Coded::Known(FleetState::Tracking) => {
                    "tracking (phase-locked to leader + D + path delay)"
                }
                Coded::Known(FleetState::Holding) => {
                    "holding (new leader, not announced yet: frequency held)"
                }
                Coded::Known(FleetState::Fallback) => {
                    "fallback (no announcement for fleet.hold_s: NTP sets the time)"
                }
                Coded::Unknown(c) => return format!("fleet, unknown state (code {c})"),
            };
            format!("fleet, {state}")
        }
        Coded::Unknown(c) => format!("unknown (code {c})"),
    }
}

fn d_line(m: &ExtendedSyncMode) -> String {
    let mut parts = Vec::new();
    match m.d_ns {
        Some(d) => parts.push(format!("{} (UTC − leader time)", exact_s(d))),
        None => parts.push("none yet".to_owned()),
    }
    if let Some(epoch) = m.d_epoch {
        parts.push(format!(
            "epoch {epoch}{}",
            m.d_age_s()
                .map_or(String::new(), |age| format!(", heard {age:.1} s ago"))
        ));
    }
    match m.d_source {
        Coded::Known(Some(source)) => parts.push(format!("source {}", source.name())),
        Coded::Known(None) => {}
        Coded::Unknown(c) => parts.push(format!("source unknown (code {c})")),
    }
    parts.join(", ")
}

fn path_delay_line(m: &ExtendedSyncMode) -> String {
    match (m.path_delay_ns, m.path_delay_state) {
        (Some(ns), _) => format!("{:.1} µs", ns as f64 / 1e3),
        (None, Coded::Known(state)) => format!("{} (0 used)", state.as_str()),
        (None, Coded::Unknown(c)) => format!("unknown state (code {c}) (0 used)"),
    }
}

fn phase_error_line(m: &ExtendedSyncMode) -> String {
    m.phase_error_ns
        .map_or("none (only while tracking or holding)".to_owned(), |e| {
            format!("{:+.1} µs to leader + D + path delay", e as f64 / 1e3)
        })
}

/// The table's lines, named as `print::text` names its lines: the sync mode, and in fleet mode
/// D, the path delay and the phase error.
pub fn lines(r: &ExtendedReply) -> Vec<(&'static str, String)> {
    let Some(m) = r.sync_mode else {
        return vec![(
            "Sync mode",
            format!(
                "unknown (the node answers in query version {}: an older dantesync)",
                r.version
            ),
        )];
    };
    let mut out = vec![("Sync mode", mode_line(&m))];
    if m.sync_mode != Coded::Known(SyncMode::Classic) {
        out.push(("Fleet D", d_line(&m)));
        out.push(("Path delay", path_delay_line(&m)));
        out.push(("Phase error", phase_error_line(&m)));
    }
    out
}
