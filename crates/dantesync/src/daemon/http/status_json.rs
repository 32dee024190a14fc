//! `/api/status`: the status snapshot as JSON.
//!
//! The top level keeps the field names and meanings of the earlier DanteSync's status JSON, so
//! its tray and scripts read it unchanged (note `drift_ppm` there is the *applied* frequency and
//! `smoothed_rate_ppm` the drift rate, as that tool used them). Everything this daemon knows is
//! under `status` (every field of [`Status`], in its own names and units), `node` and
//! `counters`. See docs/http-api.md.

use dantesync_core::controller::{HostStatus, LeaderStatus, NtpStatus};
use dantesync_core::ntp_client::NtpSourceStatus;
use dantesync_core::ntp_server::{Counters, DropReason};
use dantesync_core::servo::estimator::EstimatorCounters;
use dantesync_core::source::PtpCounters;
use dantesync_core::{LocalTime, Mode, Status};
use serde_json::{json, Map, Value};

use super::View;

/// The whole `/api/status` document.
pub fn document(v: &View) -> Value {
    let s = &v.status;
    let mut doc = legacy(s, v.now);
    doc.insert("status".into(), snapshot(s, v.now));
    doc.insert("node".into(), node(v));
    doc.insert("counters".into(), counters(v));
    Value::Object(doc)
}

/// Every field of [`Status`], under its own name. The destructuring is exhaustive on purpose:
/// a field added to `Status` does not compile until it is shown here too.
pub fn snapshot(s: &Status, now: LocalTime) -> Value {
    let Status {
        mode,
        drift_ppm,
        drift_sigma_ppm,
        error_bound_ppm,
        natural_rate_ppm,
        learned_prior,
        applied_ppm,
        slew_ppm,
        noise_us,
        window_samples,
        window_s,
        ptp_offset_ns,
        last_ptp_sample,
        leader,
        ntp,
        ntp_failing,
        ntp_interval_s,
        accumulated_phase_us,
        last_correction,
        ntp_corrections,
        time_synchronised,
        time_confirmed,
        ptp,
        estimator,
        host,
        ntp_sources,
    } = s;
    json!({
        "mode": mode.name(),
        "mode_code": mode.wire_code(),
        "locked": mode.is_locked(),
        "drift_ppm": drift_ppm,
        "drift_sigma_ppm": drift_sigma_ppm,
        "error_bound_ppm": error_bound_ppm,
        "natural_rate_ppm": natural_rate_ppm,
        "learned_prior": learned_prior,
        "applied_ppm": applied_ppm,
        "slew_ppm": slew_ppm,
        "noise_us": noise_us,
        "window_samples": window_samples,
        "window_s": window_s,
        "ptp_offset_ns": ptp_offset_ns.map(clamp_i64),
        "last_ptp_sample": instant(*last_ptp_sample, now),
        "leader": leader.as_ref().map(leader_json),
        "ntp": ntp.as_ref().map(|n| ntp_json(n, now)),
        "ntp_failing": ntp_failing,
        "ntp_interval_s": ntp_interval_s,
        "accumulated_phase_us": accumulated_phase_us,
        "last_correction": instant(*last_correction, now),
        "ntp_corrections": ntp_corrections,
        "time_synchronised": time_synchronised,
        "time_confirmed": instant(*time_confirmed, now),
        "ptp": ptp_counters(ptp),
        "estimator": estimator_counters(estimator),
        "host": host_json(host),
        "ntp_sources": ntp_sources.iter().map(ntp_source_json).collect::<Vec<_>>(),
    })
}

fn ntp_source_json(n: &NtpSourceStatus) -> Value {
    json!({
        "name": n.name,
        "address": n.address.map(|a| a.to_string()),
        "state": n.state.as_str(),
        "last": n.last.map(|b| json!({
            "offset_ns": b.offset_ns,
            "delay_ns": b.delay_ns,
            "spread_ns": b.spread_ns,
            "samples": b.samples,
            "kept": b.kept,
            "stratum": b.stratum,
            "root_delay_ns": b.root_delay_ns,
            "root_dispersion_ns": b.root_dispersion_ns,
        })),
        "backoff_s": n.backoff_s,
    })
}

fn host_json(h: &HostStatus) -> Value {
    let q = &h.query;
    json!({
        "uptime_s": h.uptime_s,
        "ptp_timestamping": h.ptp_timestamping.describe(),
        "query": {
            "answered_compact": q.answered_compact,
            "answered_extended": q.answered_extended,
            "not_allowed": q.not_allowed,
            "rate_limited": q.rate_limited,
            "malformed": q.malformed,
            "not_padded": q.not_padded,
        },
    })
}

/// The earlier DanteSync's names, types and meanings (its tray deserialises exactly these).
fn legacy(s: &Status, now: LocalTime) -> Map<String, Value> {
    let legacy_mode = match s.mode {
        // That tool had no INIT: it started in ACQ.
        Mode::Init | Mode::Acq => "ACQ",
        Mode::Prod => "PROD",
        Mode::Lock => "LOCK",
        Mode::Nano => "NANO",
        Mode::NtpOnly => "NTP-only",
    };
    let v = json!({
        "mode": legacy_mode,
        "is_locked": s.mode.is_locked(),
        // The query API's "settled" flag says the same.
        "settled": s.mode.is_locked(),
        "offset_ns": s.ptp_offset_ns.map_or(0, clamp_i64),
        "drift_ppm": s.applied_ppm,
        "smoothed_rate_ppm": s.drift_ppm.unwrap_or(0.0),
        "gm_uuid": s.leader.map(|l| l.id.grandmaster.0),
        "gm_source_ip": Value::Null,
        "updated_ts": now.nanos().max(0) / 1_000_000_000,
        "ntp_offset_us": s.ntp.map_or(0, |n| n.offset_ns / 1000),
        "ntp_failed": s.ntp_failing,
        "accumulated_phase_us": s.accumulated_phase_us,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn node(v: &View) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "hostname": v.node.hostname,
        "clock": v.node.clock,
        "interface": v.node.interface,
        "ntp_upstream": v.node.ntp_upstream,
        "ntp_server_enabled": v.ntp_server.is_some(),
        "timestamping": v.timestamping(),
        "uptime_s": v.uptime_s(),
        "now_unix_ns": v.now.nanos(),
    })
}

fn counters(v: &View) -> Value {
    json!({
        "ptp_dropped_source": v.ptp_dropped_source,
        "query_answered": v.query_answered(),
        "query_dropped": v.query_dropped(),
        "ntp_server": v.ntp_server.as_ref().map(ntp_server_counters),
    })
}

fn leader_json(l: &LeaderStatus) -> Value {
    json!({
        "grandmaster": l.id.grandmaster.to_string(),
        "sender": l.id.sender.to_string(),
        "sender_port": l.id.sender_port,
        "quality": l.quality.map(|q| json!({
            "preferred": q.preferred,
            "stratum": q.stratum,
            "identifier": identifier_text(q.identifier),
            "variance": q.variance,
        })),
        "sync_interval_log2": l.sync_interval_log2,
    })
}

fn ntp_json(n: &NtpStatus, now: LocalTime) -> Value {
    json!({
        "offset_ns": n.offset_ns,
        "delay_ns": n.delay_ns,
        "at": instant(Some(n.at), now),
    })
}

fn ptp_counters(c: &PtpCounters) -> Value {
    let PtpCounters {
        received,
        samples,
        not_v1,
        malformed,
        other_subdomain,
        not_leader,
        unmatched_follow_up,
        ignored_other,
        leader_changes,
    } = c;
    json!({
        "received": received,
        "samples": samples,
        "not_v1": not_v1,
        "malformed": malformed,
        "other_subdomain": other_subdomain,
        "not_leader": not_leader,
        "unmatched_follow_up": unmatched_follow_up,
        "ignored_other": ignored_other,
        "leader_changes": leader_changes,
    })
}

fn estimator_counters(c: &EstimatorCounters) -> Value {
    let EstimatorCounters {
        outliers,
        kinks,
        restarts,
    } = c;
    json!({"outliers": outliers, "kinks": kinks, "restarts": restarts})
}

pub fn ntp_server_counters(c: &Counters) -> Value {
    let dropped: Map<String, Value> = DropReason::ALL
        .iter()
        .map(|r| (drop_reason_name(*r).to_owned(), json!(c.dropped(*r))))
        .collect();
    json!({
        "received": c.received,
        "answered": c.answered,
        "kiss_of_death": c.kiss_of_death,
        "rate_limited": c.rate_limited,
        "dropped": dropped,
    })
}

/// The snake_case name of a drop reason, as JSON keys and metric labels show it.
pub fn drop_reason_name(r: DropReason) -> &'static str {
    match r {
        DropReason::NotAllowed => "not_allowed",
        DropReason::TooShort => "too_short",
        DropReason::UnsupportedVersion => "unsupported_version",
        DropReason::ControlMessage => "control_message",
        DropReason::PrivateMessage => "private_message",
        DropReason::NotClientMode => "not_client_mode",
        DropReason::MalformedExtensions => "malformed_extensions",
        DropReason::RateLimited => "rate_limited",
    }
}

/// A time on the disciplined clock, with how long ago it was.
fn instant(t: Option<LocalTime>, now: LocalTime) -> Value {
    t.map_or(Value::Null, |t| {
        json!({
            "unix_ns": t.nanos(),
            "age_s": now.nanos_since(t) as f64 / 1e9,
        })
    })
}

/// A PTPv1 clock identifier ("ATOM", "GPS", "DFLT"...): printable ASCII, NULs dropped.
pub fn identifier_text(id: [u8; 4]) -> String {
    id.iter()
        .filter(|b| **b != 0)
        .map(|b| {
            if b.is_ascii_graphic() {
                char::from(*b)
            } else {
                '?'
            }
        })
        .collect()
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
