//! The `status` object of `/api/status`: every field of the snapshot
//! ([`dantesync_core::Status`]), in the order `/metrics` shows their metrics (the fields with
//! none at the end). See the module above for how to add one.

use dantesync_core::path_delay::PathDelayState;
use dantesync_core::{LocalTime, Mode, Status};
use serde_json::{json, Value};

use super::super::status_json::{self as shape, clamp_i64, identifier_text};
use super::super::View;
use super::{Field, Kind, Metric, Num, Read, Unit, Wire};

fn bool_value(b: bool) -> f64 {
    f64::from(u8::from(b))
}

pub static STATUS: &[Field] = &[
    Field {
        path: "status.host.uptime_s",
        unit: Unit::Seconds,
        help: "Seconds since the daemon started.",
        read: Read::Number(|v| Some(Num::Float(v.status.host.uptime_s))),
        metrics: &[Metric::gauge("dantesync_uptime_seconds")],
        query: &[Wire::At(232)],
    },
    Field {
        path: "status.mode",
        unit: Unit::Text,
        help: "The mode: INIT, ACQ, PROD, LOCK, NANO or NTP-ONLY.",
        read: Read::Json(|v| json!(v.status.mode.name())),
        metrics: &[Metric::labelled(
            "dantesync_mode",
            Kind::Gauge,
            "1 for the node's current mode, 0 for the others (INIT, ACQ, PROD, LOCK, NANO, NTP-ONLY).",
            &["mode"],
            |v, emit| {
                for m in Mode::ALL {
                    emit(&[m.name()], bool_value(v.status.mode == m));
                }
            },
        )],
        query: &[Wire::At(40)],
    },
    Field {
        path: "status.mode_code",
        unit: Unit::Code,
        help: "The current mode as the query API codes it: 0 INIT, 1 ACQ, 2 PROD, 3 LOCK, 4 NANO, 5 NTP-ONLY.",
        read: Read::Number(|v| Some(Num::Uint(u64::from(v.status.mode.wire_code())))),
        metrics: &[Metric::gauge("dantesync_mode_code")],
        query: &[Wire::At(40)],
    },
    Field {
        path: "status.locked",
        unit: Unit::Bool,
        help: "1 when the frequency is locked to the PTP leader (LOCK or NANO).",
        read: Read::Number(|v| Some(Num::Bool(v.status.mode.is_locked()))),
        metrics: &[Metric::gauge("dantesync_locked")],
        query: &[Wire::At(41), Wire::At(62)],
    },
    Field {
        path: "status.drift_ppm",
        unit: Unit::Ppm,
        help: "Estimated drift of the disciplined clock against the PTP leader (1e-6 = 1 ppm = 1 us/s).",
        read: Read::Number(|v| v.status.drift_ppm.map(Num::Float)),
        metrics: &[Metric::gauge("dantesync_drift_ratio")],
        query: &[Wire::At(32), Wire::At(96)],
    },
    Field {
        path: "status.drift_sigma_ppm",
        unit: Unit::Ppm,
        help: "Standard error of the drift estimate (1e-6 = 1 ppm).",
        read: Read::Number(|v| v.status.drift_sigma_ppm.map(Num::Float)),
        metrics: &[Metric::gauge("dantesync_drift_uncertainty_ratio")],
        query: &[Wire::At(104)],
    },
    Field {
        path: "status.error_bound_ppm",
        unit: Unit::Ppm,
        help: "|drift| + 3 sigma, on which LOCK and NANO are decided (1e-6 = 1 ppm).",
        read: Read::Number(|v| v.status.error_bound_ppm.map(Num::Float)),
        metrics: &[Metric::gauge("dantesync_drift_error_bound_ratio")],
        query: &[Wire::At(112)],
    },
    Field {
        path: "status.natural_rate_ppm",
        unit: Unit::Ppm,
        help: "Estimated natural rate of the local oscillator against the leader (1e-6 = 1 ppm).",
        read: Read::Number(|v| v.status.natural_rate_ppm.map(Num::Float)),
        metrics: &[Metric::gauge("dantesync_natural_rate_ratio")],
        query: &[Wire::At(120)],
    },
    Field {
        path: "status.applied_ppm",
        unit: Unit::Ppm,
        help: "Frequency adjustment the servo applies to the clock, without NTP slew (1e-6 = 1 ppm).",
        read: Read::Number(|v| Some(Num::Float(v.status.applied_ppm))),
        metrics: &[Metric::gauge("dantesync_frequency_adjustment_ratio")],
        query: &[Wire::At(36), Wire::At(128)],
    },
    Field {
        path: "status.slew_ppm",
        unit: Unit::Ppm,
        help: "Extra frequency of an NTP slew in progress (1e-6 = 1 ppm).",
        read: Read::Number(|v| Some(Num::Float(v.status.slew_ppm))),
        metrics: &[Metric::gauge("dantesync_slew_ratio")],
        query: &[Wire::At(136)],
    },
    Field {
        path: "status.noise_us",
        unit: Unit::Micros,
        help: "Timestamp noise around the rate fit.",
        read: Read::Number(|v| v.status.noise_us.map(Num::Float)),
        metrics: &[Metric::gauge("dantesync_timestamp_noise_seconds")],
        query: &[Wire::At(144)],
    },
    Field {
        path: "status.window_samples",
        unit: Unit::Count,
        help: "PTP samples in the rate estimator's window.",
        read: Read::Number(|v| Some(Num::Uint(v.status.window_samples as u64))),
        metrics: &[Metric::gauge("dantesync_estimator_window_samples")],
        query: &[Wire::At(228)],
    },
    Field {
        path: "status.window_s",
        unit: Unit::Seconds,
        help: "Time span of the rate estimator's window.",
        read: Read::Number(|v| Some(Num::Float(v.status.window_s))),
        metrics: &[Metric::gauge("dantesync_estimator_window_seconds")],
        query: &[],
    },
    Field {
        path: "status.last_ptp_sample",
        unit: Unit::Time,
        help: "When the last PTP sample of the leader arrived.",
        read: Read::Json(|v| shape::instant(v.status.last_ptp_sample, v.now)),
        metrics: &[Metric::one(
            "dantesync_ptp_last_sample_age_seconds",
            Kind::Gauge,
            "Seconds since the last PTP sample.",
            |v| {
                v.status
                    .last_ptp_sample
                    .map(|t| v.now.nanos_since(t) as f64 * 1e-9)
            },
        )],
        query: &[],
    },
    Field {
        path: "status.last_ptp_packet",
        unit: Unit::Time,
        help: "When the last PTP datagram of any kind arrived (any sender, usable or not).",
        read: Read::Json(|v| shape::instant(v.status.last_ptp_packet, v.now)),
        metrics: &[Metric::one(
            "dantesync_ptp_last_packet_age_seconds",
            Kind::Gauge,
            "Seconds since the last PTP datagram of any kind.",
            |v| {
                v.status
                    .last_ptp_packet
                    .map(|t| v.now.nanos_since(t) as f64 * 1e-9)
            },
        )],
        query: &[Wire::At(336)],
    },
    Field {
        path: "status.ptp_packets_per_s",
        unit: Unit::PerSecond,
        help: "PTP datagrams per second over the last 10 s (0 once none came for 10 s).",
        read: Read::Number(|v| ptp_packets_per_s(v).map(Num::Float)),
        metrics: &[Metric::one(
            "dantesync_ptp_packets_per_second",
            Kind::Gauge,
            "PTP datagrams per second over the last 10 s.",
            ptp_packets_per_s,
        )],
        query: &[Wire::At(344)],
    },
    Field {
        path: "status.leader",
        unit: Unit::Object,
        help: "The PTP leader followed now, null while there is none.",
        read: Read::Json(|v| v.status.leader.as_ref().map_or(Value::Null, shape::leader)),
        metrics: &[
            Metric::labelled(
                "dantesync_leader_info",
                Kind::Gauge,
                "Always 1; the labels name the PTP leader followed now.",
                &["grandmaster", "sender", "sender_port"],
                |v, emit| {
                    if let Some(l) = &v.status.leader {
                        let gm = l.id.grandmaster.to_string();
                        let sender = l.id.sender.to_string();
                        let port = l.id.sender_port.to_string();
                        emit(&[&gm, &sender, &port], 1.0);
                    }
                },
            ),
            Metric::one(
                "dantesync_leader_stratum",
                Kind::Gauge,
                "PTPv1 stratum the leader advertises.",
                |v| {
                    let q = v.status.leader?.quality?;
                    Some(f64::from(q.stratum))
                },
            ),
            Metric::labelled(
                "dantesync_leader_clock_info",
                Kind::Gauge,
                "Always 1; the labels carry the leader's advertised clock identifier and preference.",
                &["identifier", "preferred"],
                |v, emit| {
                    if let Some(q) = v.status.leader.and_then(|l| l.quality) {
                        let preferred = if q.preferred { "true" } else { "false" };
                        emit(&[&identifier_text(q.identifier), preferred], 1.0);
                    }
                },
            ),
        ],
        query: &[
            Wire::At(42),
            Wire::At(152),
            Wire::At(158),
            Wire::At(160),
            Wire::At(166),
            Wire::At(168),
            Wire::At(170),
            Wire::At(172),
            Wire::Flag(6),
            Wire::Flag(7),
            Wire::Flag(8),
        ],
    },
    Field {
        path: "status.ptp",
        unit: Unit::Object,
        help: "PTP packet counters since the start.",
        read: Read::Json(|v| shape::ptp_counters(&v.status.ptp)),
        metrics: &[
            Metric::one(
                "dantesync_leader_changes_total",
                Kind::Counter,
                "Times a new PTP leader (a new timescale) was chosen.",
                |v| Some(v.status.ptp.leader_changes as f64),
            ),
            Metric::one(
                "dantesync_ptp_packets_received_total",
                Kind::Counter,
                "PTP datagrams received (before any check).",
                |v| Some(v.status.ptp.received as f64),
            ),
            Metric::one(
                "dantesync_ptp_samples_total",
                Kind::Counter,
                "Complete PTP samples (Sync with its Follow_Up) of the leader.",
                |v| Some(v.status.ptp.samples as f64),
            ),
            Metric::labelled(
                "dantesync_ptp_packets_dropped_total",
                Kind::Counter,
                "PTP datagrams not used, by reason.",
                &["reason"],
                |v, emit| {
                    let p = &v.status.ptp;
                    for (reason, n) in [
                        ("source_not_allowed", v.ptp_dropped_source),
                        ("not_v1", p.not_v1),
                        ("malformed", p.malformed),
                        ("other_subdomain", p.other_subdomain),
                        ("not_leader", p.not_leader),
                        ("unmatched_follow_up", p.unmatched_follow_up),
                        ("ignored_other", p.ignored_other),
                    ] {
                        emit(&[reason], n as f64);
                    }
                },
            ),
        ],
        query: &[Wire::At(240), Wire::At(248), Wire::At(256)],
    },
    Field {
        path: "status.estimator",
        unit: Unit::Object,
        help: "Rate estimator events since the start.",
        read: Read::Json(|v| shape::estimator_counters(&v.status.estimator)),
        metrics: &[Metric::labelled(
            "dantesync_estimator_events_total",
            Kind::Counter,
            "Rate estimator events: samples rejected as outliers, rate changes (kinks), steps of the path delay, restarts.",
            &["event"],
            |v, emit| {
                let e = &v.status.estimator;
                for (event, n) in [
                    ("outlier", e.outliers),
                    ("kink", e.kinks),
                    ("delay_step", e.delay_steps),
                    ("restart", e.restarts),
                ] {
                    emit(&[event], n as f64);
                }
            },
        )],
        query: &[],
    },
    Field {
        path: "status.ntp",
        unit: Unit::Object,
        help: "The last completed NTP check, null before the first.",
        read: Read::Json(|v| v.status.ntp.map_or(Value::Null, |n| shape::ntp(&n, v.now))),
        metrics: &[
            Metric::one(
                "dantesync_ntp_offset_seconds",
                Kind::Gauge,
                "Offset (server - local) measured by the last completed NTP check.",
                |v| v.status.ntp.map(|n| n.offset_ns as f64 * 1e-9),
            ),
            Metric::one(
                "dantesync_ntp_delay_seconds",
                Kind::Gauge,
                "Round-trip delay of the last completed NTP check.",
                |v| v.status.ntp.map(|n| n.delay_ns as f64 * 1e-9),
            ),
            Metric::one(
                "dantesync_ntp_last_check_age_seconds",
                Kind::Gauge,
                "Seconds since the last completed NTP check.",
                |v| v.status.ntp.map(|n| v.now.nanos_since(n.at) as f64 * 1e-9),
            ),
        ],
        query: &[Wire::At(56), Wire::At(176), Wire::At(184), Wire::At(192)],
    },
    Field {
        path: "status.ntp_failing",
        unit: Unit::Bool,
        help: "1 when the latest NTP check failed.",
        read: Read::Number(|v| Some(Num::Bool(v.status.ntp_failing))),
        metrics: &[Metric::gauge("dantesync_ntp_failing")],
        query: &[Wire::At(62), Wire::Flag(2)],
    },
    Field {
        path: "status.sync_mode",
        unit: Unit::Text,
        help: "classic (NTP sets this node's time) or fleet (phase-locked to the leader + D + path delay).",
        read: Read::Json(|v| json!(v.status.sync_mode.name())),
        metrics: &[],
        query: &[Wire::At(370)],
    },
    Field {
        path: "status.fleet_state",
        unit: Unit::Text,
        help: "Fleet mode: off (classic), waiting (no announcement of D yet), tracking, holding (new leader, not yet announced: frequency held), or fallback (no announcement for fleet.hold_s: classic behaviour).",
        read: Read::Json(|v| json!(v.status.fleet.state.as_str())),
        metrics: &[],
        query: &[Wire::At(371)],
    },
    Field {
        path: "status.phase_error_ns",
        unit: Unit::Nanos,
        help: "Fleet mode: filtered phase error of the clock to the leader + D + path delay (positive = ahead); null unless tracking or holding.",
        read: Read::Number(|v| v.status.fleet.phase_error_ns.map(|e| Num::Int(e.round() as i64))),
        metrics: &[],
        query: &[Wire::At(408)],
    },
    Field {
        path: "status.fleet_d_ns",
        unit: Unit::Nanos,
        help: "Fleet mode: D (UTC minus leader time) at the last Sync, from the authority's announcement; null before one.",
        read: Read::Number(|v| v.status.fleet.d_ns.map(Num::Int)),
        metrics: &[],
        query: &[Wire::At(384)],
    },
    Field {
        path: "status.fleet_epoch",
        unit: Unit::Count,
        help: "Fleet mode: the announcement's epoch (changes with every discontinuous change of D); null before one.",
        read: Read::Number(|v| v.status.fleet.epoch.map(|e| Num::Uint(u64::from(e)))),
        metrics: &[],
        query: &[Wire::At(376)],
    },
    Field {
        path: "status.fleet_d_age_s",
        unit: Unit::Seconds,
        help: "Fleet mode: seconds since the last announcement of D arrived (monotonic); past fleet.hold_s the node falls back to classic.",
        read: Read::Number(|v| v.status.fleet.d_age_s.map(Num::Float)),
        metrics: &[],
        query: &[Wire::At(392)],
    },
    Field {
        path: "status.time_synchronised",
        unit: Unit::Bool,
        help: "1 when NTP has confirmed this node's time (two checks agreed in the last ten minutes).",
        read: Read::Number(|v| Some(Num::Bool(v.status.time_synchronised))),
        metrics: &[Metric::gauge("dantesync_time_synchronised")],
        query: &[Wire::Flag(1)],
    },
    Field {
        path: "status.ntp_interval_s",
        unit: Unit::Seconds,
        help: "Interval until the next NTP check, as chosen from the accumulated phase.",
        read: Read::Number(|v| Some(Num::Float(v.status.ntp_interval_s))),
        metrics: &[Metric::gauge("dantesync_ntp_check_interval_seconds")],
        query: &[Wire::At(224)],
    },
    Field {
        path: "status.accumulated_phase_us",
        unit: Unit::Micros,
        help: "Integral of the drift since the last NTP correction.",
        read: Read::Number(|v| Some(Num::Float(v.status.accumulated_phase_us))),
        metrics: &[Metric::gauge("dantesync_accumulated_phase_seconds")],
        query: &[Wire::At(60), Wire::At(216)],
    },
    Field {
        path: "status.ntp_corrections",
        unit: Unit::Count,
        help: "Corrections of the time made from NTP (slews and steps).",
        read: Read::Number(|v| Some(Num::Uint(v.status.ntp_corrections))),
        metrics: &[Metric::counter("dantesync_ntp_corrections_total")],
        query: &[Wire::At(208)],
    },
    Field {
        path: "status.external_steps",
        unit: Unit::Count,
        help: "Steps of the clock made by something other than dantesync (an admin, a VM resume, another time service), seen against the monotonic clock.",
        read: Read::Number(|v| Some(Num::Uint(v.status.external_steps))),
        metrics: &[Metric::counter("dantesync_external_steps_total")],
        query: &[Wire::At(352)],
    },
    Field {
        path: "status.path_delay_ns",
        unit: Unit::Nanos,
        help: "Mean path delay to the leader, from Delay_Req/Delay_Resp (the mean of the last 256 measurements within the outlier gate); null unless path_delay_state is ok.",
        read: Read::Number(|v| v.status.path_delay.delay_ns.map(Num::Int)),
        metrics: &[Metric::gauge("dantesync_path_delay_seconds")],
        query: &[Wire::At(400)],
    },
    Field {
        path: "status.path_delay_state",
        unit: Unit::Text,
        help: "Path-delay measurement: off (not configured), measuring, ok, or unanswered (the leader answered none of the last 3 Delay_Reqs, or they could not be sent: no compensation).",
        read: Read::Json(|v| json!(v.status.path_delay.state.as_str())),
        metrics: &[Metric::labelled(
            "dantesync_path_delay_state",
            Kind::Gauge,
            "1 for the path-delay measurement's state, 0 for the others (off, measuring, ok, unanswered).",
            &["state"],
            |v, emit| {
                for s in PathDelayState::ALL {
                    emit(&[s.as_str()], bool_value(v.status.path_delay.state == s));
                }
            },
        )],
        query: &[Wire::At(372)],
    },
    Field {
        path: "status.delay_requests_sent",
        unit: Unit::Count,
        help: "Delay_Reqs sent to the leader since the start.",
        read: Read::Number(|v| Some(Num::Uint(v.status.path_delay.requests_sent))),
        metrics: &[Metric::counter("dantesync_delay_requests_sent_total")],
        query: &[],
    },
    Field {
        path: "status.delay_responses_matched",
        unit: Unit::Count,
        help: "Delay_Resps from the leader that answered one of this node's Delay_Reqs in time.",
        read: Read::Number(|v| Some(Num::Uint(v.status.path_delay.responses_matched))),
        metrics: &[Metric::counter("dantesync_delay_responses_matched_total")],
        query: &[],
    },
    Field {
        path: "status.host.query",
        unit: Unit::Object,
        help: "The UDP query API's datagrams by outcome since the start.",
        read: Read::Json(|v| shape::query_counters(&v.status.host.query)),
        metrics: &[Metric::labelled(
            "dantesync_query_requests_total",
            Kind::Counter,
            "UDP query API datagrams, by outcome.",
            &["outcome"],
            |v, emit| {
                let q = &v.status.host.query;
                emit(&["answered"], q.answered() as f64);
                emit(&["dropped"], q.dropped() as f64);
            },
        )],
        query: &[Wire::At(264), Wire::At(272), Wire::At(280)],
    },
    Field {
        path: "status.learned_prior",
        unit: Unit::Bool,
        help: "Whether a frequency learned in an earlier run still contributes to the rate.",
        read: Read::Number(|v| Some(Num::Bool(v.status.learned_prior))),
        metrics: &[],
        query: &[Wire::Flag(3)],
    },
    Field {
        path: "status.ptp_offset_ns",
        unit: Unit::Nanos,
        help: "Last raw PTP offset T2 - T1 (meaningless in absolute terms: Dante sends uptime).",
        read: Read::Number(|v| v.status.ptp_offset_ns.map(|o| Num::Int(clamp_i64(o)))),
        metrics: &[],
        query: &[Wire::At(24)],
    },
    Field {
        path: "status.last_correction",
        unit: Unit::Time,
        help: "When NTP last corrected the time.",
        read: Read::Json(|v| shape::instant(v.status.last_correction, v.now)),
        metrics: &[],
        query: &[Wire::At(200)],
    },
    Field {
        path: "status.time_confirmed",
        unit: Unit::Time,
        help: "When NTP last confirmed the time (a correction, or a check within the threshold).",
        read: Read::Json(|v| shape::instant(v.status.time_confirmed, v.now)),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "status.host.ptp_timestamping",
        unit: Unit::Text,
        help: "How PTP datagrams are stamped.",
        read: Read::Json(|v| json!(v.status.host.ptp_timestamping.describe())),
        metrics: &[],
        query: &[Wire::Flag(4), Wire::Flag(5)],
    },
    Field {
        path: "status.path_delay",
        unit: Unit::Object,
        help: "Path-delay measurement in full: state, delay_ns, requests_sent, responses_matched, timeouts, responses_unmatched, outliers, user_space_stamps (requests whose send time was read in user space, not stamped by the kernel).",
        read: Read::Json(|v| {
            let p = &v.status.path_delay;
            json!({
                "state": p.state.as_str(),
                "delay_ns": p.delay_ns,
                "requests_sent": p.requests_sent,
                "responses_matched": p.responses_matched,
                "timeouts": p.timeouts,
                "responses_unmatched": p.responses_unmatched,
                "outliers": p.outliers,
                "user_space_stamps": p.user_space_stamps,
            })
        }),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "status.fleet",
        unit: Unit::Object,
        help: "Fleet mode in full: state, phase_error_ns, d_ns, epoch, d_age_s, added_ppm (what fleet mode adds to the rate servo's frequency), path_delay_used, steps, ignored_other_leader, phase_outliers, ramp_detections (a leader's frequency step seen in the phase residuals).",
        read: Read::Json(|v| {
            let f = &v.status.fleet;
            json!({ "state": f.state.as_str(), "phase_error_ns": f.phase_error_ns, "d_ns": f.d_ns, "epoch": f.epoch, "d_age_s": f.d_age_s, "added_ppm": f.added_ppm, "path_delay_used": f.path_delay_used, "steps": f.steps, "ignored_other_leader": f.ignored_other_leader, "phase_outliers": f.phase_outliers, "ramp_detections": f.ramp_detections })
        }),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "status.ntp_sources",
        unit: Unit::List,
        help: "Every configured NTP server as of the last check.",
        read: Read::Json(|v| {
            Value::Array(v.status.ntp_sources.iter().map(shape::ntp_source).collect())
        }),
        metrics: &[],
        query: &[],
    },
];

fn ptp_packets_per_s(v: &View) -> Option<f64> {
    ptp_packets_per_s_at(&v.status, v.now)
}

/// The rate the controller counted up to the last datagram, or 0 once that is 10 s old (the
/// controller hears of no time between datagrams; the reader knows the time now). The query
/// API's version 2 carries the same figure.
pub(crate) fn ptp_packets_per_s_at(status: &Status, now: LocalTime) -> Option<f64> {
    let last = status.last_ptp_packet?;
    if now.nanos_since(last) >= 10_000_000_000 {
        Some(0.0)
    } else {
        status.ptp_packets_per_s
    }
}
