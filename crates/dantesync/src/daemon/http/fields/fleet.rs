//! The fleet authority's fields of the `status` object (on the NTP master; null elsewhere),
//! shown after the snapshot's own: none has a metric.

use serde_json::{json, Value};

use super::{Field, Num, Read, Unit, Wire};

pub static FLEET: &[Field] = &[
    Field {
        path: "status.fleet_d_source",
        unit: Unit::Text,
        help: "On the fleet's authority (the NTP master): where the announced D came from: measured (filtered NTP measurements), persisted (kept from the last run) or own-clock (a new leader's D from this node's clock); null elsewhere or before the first D.",
        read: Read::Json(|v| json!(v.status.fleet_authority.and_then(|a| a.source).map(|s| s.name()))),
        metrics: &[],
        query: &[Wire::At(373)],
    },
    Field {
        path: "status.fleet_steps_last_24h",
        unit: Unit::Count,
        help: "On the fleet's authority: corrections of D applied in the last 24 hours; null elsewhere.",
        read: Read::Number(|v| {
            v.status
                .fleet_authority
                .map(|a| Num::Uint(u64::from(a.steps_last_24h)))
        }),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "status.fleet_next_correction",
        unit: Unit::Object,
        help: "On the fleet's authority: the announced correction of D, {at_leader_ns, delta_ns, epoch}; null when none is pending.",
        read: Read::Json(|v| {
            match v.status.fleet_authority.and_then(|a| a.next_correction) {
                Some(p) => json!({
                    "at_leader_ns": p.at_leader_ns,
                    "delta_ns": p.delta_ns,
                    "epoch": p.epoch,
                }),
                None => Value::Null,
            }
        }),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "status.fleet_authority",
        unit: Unit::Object,
        help: "On the fleet's authority: the announcement and its measurement in full: policy, leader, epoch, d_ns, at_leader_ns, rate_ppb, source, age_s (since D was last measured), error_ns (measured minus announced), measured_rate_ppb, samples, steps_last_24h, too_often, next_scheduled_utc_ns (scheduled: the next daily instant); null elsewhere.",
        read: Read::Json(|v| {
            let Some(a) = v.status.fleet_authority else {
                return Value::Null;
            };
            let ts = a.timescale;
            json!({
                "policy": a.policy.name(),
                "leader": ts.map(|t| t.leader.grandmaster.to_string()),
                "epoch": ts.map(|t| t.epoch),
                "d_ns": ts.map(|t| t.d_ns),
                "at_leader_ns": ts.map(|t| t.at_leader_ns),
                "rate_ppb": ts.map(|t| t.rate_ppb),
                "source": a.source.map(|s| s.name()),
                "age_s": a.age_s,
                "error_ns": a.error_ns,
                "measured_rate_ppb": a.measured_rate_ppb,
                "samples": a.samples,
                "steps_last_24h": a.steps_last_24h,
                "too_often": a.too_often,
                "next_scheduled_utc_ns": a.next_scheduled_utc_ns,
            })
        }),
        metrics: &[],
        query: &[],
    },
];
