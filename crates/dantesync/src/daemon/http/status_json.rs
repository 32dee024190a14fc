//! `/api/status`: the status snapshot as JSON, one key per entry of the field table
//! ([`super::fields`]); this file holds the shapes of its nested objects.
//!
//! The top level keeps the field names and meanings of the earlier DanteSync's status JSON, so
//! its tray and scripts read it unchanged (note `drift_ppm` there is the *applied* frequency and
//! `smoothed_rate_ppm` the drift rate, as that tool used them). Everything this daemon knows is
//! under `status` (every field of [`dantesync_core::Status`], in its own names and units),
//! `node` and `counters`. See docs/http-api.md.

use dantesync_core::controller::{LeaderStatus, NtpStatus};
use dantesync_core::ntp_client::NtpSourceStatus;
use dantesync_core::ntp_server::{Counters, DropReason};
use dantesync_core::query_server::QueryCounters;
use dantesync_core::servo::estimator::EstimatorCounters;
use dantesync_core::source::PtpCounters;
use dantesync_core::LocalTime;
use serde_json::{json, Map, Value};

use super::fields;
use super::View;

/// The whole `/api/status` document.
pub fn document(v: &View) -> Value {
    let mut doc = Map::new();
    for field in fields::all() {
        insert(&mut doc, field.path, field.json(v));
    }
    Value::Object(doc)
}

/// Puts `value` at the dot-separated `path`, making the objects on the way.
fn insert(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = doc.entry(head).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert(inner, rest, value);
            }
        }
    }
}

pub fn ntp_source(n: &NtpSourceStatus) -> Value {
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
        "lan": n.lan,
        "poll_s": n.poll_s,
    })
}

pub fn query_counters(q: &QueryCounters) -> Value {
    json!({
        "answered_compact": q.answered_compact,
        "answered_extended": q.answered_extended,
        "not_allowed": q.not_allowed,
        "rate_limited": q.rate_limited,
        "malformed": q.malformed,
        "not_padded": q.not_padded,
        "over_global_cap": q.over_global_cap,
    })
}

pub fn leader(l: &LeaderStatus) -> Value {
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

pub fn ntp(n: &NtpStatus, now: LocalTime) -> Value {
    json!({
        "offset_ns": n.offset_ns,
        "delay_ns": n.delay_ns,
        "at": instant(Some(n.at), now),
    })
}

/// Every counter, under its own name: the destructuring is exhaustive, so a counter added to
/// [`PtpCounters`] does not compile until it is shown here.
pub fn ptp_counters(c: &PtpCounters) -> Value {
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

pub fn estimator_counters(c: &EstimatorCounters) -> Value {
    let EstimatorCounters {
        outliers,
        kinks,
        delay_steps,
        restarts,
    } = c;
    json!({"outliers": outliers, "kinks": kinks, "delay_steps": delay_steps, "restarts": restarts})
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
pub fn instant(t: Option<LocalTime>, now: LocalTime) -> Value {
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

pub fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
