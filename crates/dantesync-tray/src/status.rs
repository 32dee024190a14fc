//! What the tray reads from the daemon's `/api/status` document (docs/http-api.md), in the
//! daemon's own names under `status` and `node`, never the legacy top-level ones (those fold
//! INIT into ACQ, and a starting daemon must look grey, not yellow).

use serde_json::Value;

/// The daemon's one `Mode`, as `status.mode` spells it.
pub use dantesync_core::Mode;

/// `status.mode` read back; the legacy top-level spelling "NTP-only" is taken too.
pub fn parse_mode(text: &str) -> Option<Mode> {
    Mode::from_name(text).or((text == "NTP-only").then_some(Mode::NtpOnly))
}

/// Modes in which the daemon follows a PTP leader (the engine leaves them for NTP-only after
/// 10 s without PTP).
pub fn follows_ptp(mode: Mode) -> bool {
    matches!(mode, Mode::Acq | Mode::Prod | Mode::Lock | Mode::Nano)
}

/// One reading of the daemon's status, reduced to what the tray shows and judges.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub mode: Mode,
    /// Drift rate against the leader (µs/s), `None` before an estimate.
    pub drift_ppm: Option<f64>,
    /// |drift| + 3σ: what LOCK and NANO are decided on.
    pub error_bound_ppm: Option<f64>,
    pub applied_ppm: f64,
    /// The leader's grandmaster UUID, e.g. `00:1d:c1:0a:0b:0c`.
    pub leader: Option<String>,
    pub ntp_server: Option<String>,
    /// Offset (server − local) of the last NTP check.
    pub ntp_offset_us: Option<f64>,
    pub ntp_failing: bool,
    pub accumulated_phase_us: f64,
    /// Seconds since the daemon started, counted by the daemon when it answered.
    pub uptime_s: f64,
    /// Age of the last PTP datagram of any kind, as the daemon computed it when it answered.
    pub last_ptp_packet_age_s: Option<f64>,
    /// `"classic"` or `"fleet"`, when the daemon says (fleet mode is newer than this tray).
    pub sync_mode: Option<String>,
    /// Phase error to the fleet timescale (leader + D), when the daemon reports it.
    pub fleet_phase_error_us: Option<f64>,
    pub hostname: Option<String>,
}

impl Reading {
    /// Fleet mode with a phase error to show: then that, not the NTP offset, is the time error.
    pub fn fleet_phase_error(&self) -> Option<f64> {
        match self.sync_mode.as_deref() {
            Some("fleet") => self.fleet_phase_error_us,
            _ => None,
        }
    }
}

/// Parses the body of `/api/status`. A document without `status.mode` or an uptime is not a
/// dantesync status (a proxy's error page, another program on the port) and is an error.
pub fn parse(body: &str) -> Result<Reading, String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let s = &doc["status"];
    let node = &doc["node"];
    let mode_text = s["mode"].as_str().ok_or("no status.mode")?;
    let mode = parse_mode(mode_text).ok_or_else(|| format!("unknown mode {mode_text:?}"))?;
    let uptime_s = node["uptime_s"]
        .as_f64()
        .or_else(|| s["host"]["uptime_s"].as_f64())
        .ok_or("no node.uptime_s")?;
    let sync_mode = s["sync_mode"]
        .as_str()
        .or_else(|| doc["sync_mode"].as_str())
        .map(str::to_owned);
    Ok(Reading {
        mode,
        drift_ppm: s["drift_ppm"].as_f64(),
        error_bound_ppm: s["error_bound_ppm"].as_f64(),
        applied_ppm: s["applied_ppm"].as_f64().unwrap_or(0.0),
        leader: s["leader"]["grandmaster"].as_str().map(str::to_owned),
        ntp_server: node["ntp_upstream"].as_str().map(str::to_owned),
        ntp_offset_us: s["ntp"]["offset_ns"].as_f64().map(|ns| ns / 1000.0),
        ntp_failing: s["ntp_failing"].as_bool().unwrap_or(false),
        accumulated_phase_us: s["accumulated_phase_us"].as_f64().unwrap_or(0.0),
        uptime_s,
        last_ptp_packet_age_s: s["last_ptp_packet"]["age_s"].as_f64(),
        sync_mode,
        fleet_phase_error_us: s["phase_error_ns"].as_f64().map(|ns| ns / 1000.0),
        hostname: node["hostname"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape the daemon serves (trimmed to the keys the tray reads, plus some it ignores).
    pub(crate) const LOCKED: &str = r#"{
        "mode": "LOCK", "drift_ppm": 12.5,
        "status": {"mode": "LOCK", "mode_code": 3, "drift_ppm": -0.8, "error_bound_ppm": 1.9,
            "applied_ppm": 49.7, "accumulated_phase_us": 3.25, "ntp_failing": false,
            "leader": {"grandmaster": "00:1d:c1:0a:0b:0c", "sender": "10.0.0.5"},
            "ntp": {"offset_ns": -41000, "delay_ns": 300000, "at": {"unix_ns": 1, "age_s": 4.0}},
            "last_ptp_packet": {"unix_ns": 5, "age_s": 0.2},
            "host": {"uptime_s": 120.5}},
        "node": {"hostname": "foh-pc", "ntp_upstream": "10.0.0.1", "uptime_s": 120.5}
    }"#;

    #[test]
    fn reads_the_daemons_own_names() {
        let r = parse(LOCKED).unwrap();
        assert_eq!(r.mode, Mode::Lock);
        assert_eq!(r.drift_ppm, Some(-0.8));
        assert_eq!(r.error_bound_ppm, Some(1.9));
        assert_eq!(r.applied_ppm, 49.7);
        assert_eq!(r.leader.as_deref(), Some("00:1d:c1:0a:0b:0c"));
        assert_eq!(r.ntp_server.as_deref(), Some("10.0.0.1"));
        assert_eq!(r.ntp_offset_us, Some(-41.0));
        assert_eq!(r.accumulated_phase_us, 3.25);
        assert_eq!(r.uptime_s, 120.5);
        assert_eq!(r.last_ptp_packet_age_s, Some(0.2));
        assert_eq!(r.hostname.as_deref(), Some("foh-pc"));
        assert_eq!(r.sync_mode, None);
        assert_eq!(r.fleet_phase_error(), None);
    }

    #[test]
    fn init_is_not_folded_into_acq() {
        let body = r#"{"mode": "ACQ", "status": {"mode": "INIT"}, "node": {"uptime_s": 0.4}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.mode, Mode::Init);
        assert_eq!(r.drift_ppm, None);
        assert_eq!(r.ntp_offset_us, None);
        assert_eq!(r.leader, None);
    }

    #[test]
    fn fleet_phase_error_replaces_the_ntp_offset_only_in_fleet_mode() {
        let fleet = r#"{"status": {"mode": "LOCK", "sync_mode": "fleet", "phase_error_ns": 2500,
            "ntp": {"offset_ns": 90000}}, "node": {"uptime_s": 9}}"#;
        assert_eq!(parse(fleet).unwrap().fleet_phase_error(), Some(2.5));
        let classic = fleet.replace("\"fleet\"", "\"classic\"");
        assert_eq!(parse(&classic).unwrap().fleet_phase_error(), None);
    }

    #[test]
    fn other_documents_are_errors() {
        assert!(parse("<html>502</html>").unwrap_err().contains("not JSON"));
        assert_eq!(
            parse(r#"{"node": {"uptime_s": 1}}"#).unwrap_err(),
            "no status.mode"
        );
        assert_eq!(
            parse(r#"{"status": {"mode": "LOCK"}}"#).unwrap_err(),
            "no node.uptime_s"
        );
        assert!(
            parse(r#"{"status": {"mode": "SPIN"}, "node": {"uptime_s": 1}}"#)
                .unwrap_err()
                .contains("SPIN")
        );
    }
}
