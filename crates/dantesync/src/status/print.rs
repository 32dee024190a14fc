//! The answer as a table for people and as one JSON object for scripts.

use std::fmt::Write;

use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::wire::query::{ppt_to_ppm, ExtendedFlags, ExtendedReply, QueryReply};
use serde_json::{json, Value};

use super::query::Answer;
use super::{health, sync_mode};

fn mode_line(base: &QueryReply) -> String {
    let locked = if base.mode.is_locked() {
        "locked"
    } else {
        "not locked"
    };
    format!("{} ({locked})", base.mode)
}

/// "127.0.0.1:31900", or "name (address:port)" when the node was named.
fn node_name(host: &str, addr: &std::net::SocketAddr) -> String {
    if addr.ip().to_string() == host {
        addr.to_string()
    } else {
        format!("{host} ({addr})")
    }
}

fn uuid(bytes: [u8; 6]) -> String {
    Uuid(bytes).to_string()
}

fn ppm(v: Option<i64>) -> Option<f64> {
    v.map(ppt_to_ppm)
}

/// Seconds from `at` to the reply's transmit time (both on the node's clock); `None` for never.
fn age_s(r: &ExtendedReply, at_ns: u64) -> Option<f64> {
    (at_ns != 0).then(|| (r.reply_tx_ns as f64 - at_ns as f64) / 1e9)
}

fn query_rx_name(flags: ExtendedFlags) -> &'static str {
    if flags.has(ExtendedFlags::RX_KERNEL) {
        "kernel"
    } else {
        "user-space"
    }
}

fn leader_json(r: &ExtendedReply) -> Value {
    if !r.flags.has(ExtendedFlags::LEADER) {
        return Value::Null;
    }
    let l = &r.leader;
    let quality = r.flags.has(ExtendedFlags::LEADER_QUALITY);
    json!({
        "uuid": uuid(l.sender_uuid),
        "port": l.sender_port,
        "grandmaster_uuid": uuid(l.grandmaster_uuid),
        "sync_interval_log2": (l.sync_interval_log2 != i8::MIN).then_some(l.sync_interval_log2),
        "stratum": quality.then_some(l.stratum),
        "variance": quality.then_some(l.variance),
        "identifier": quality.then(|| dantesync_core::wire::query::field_text(&l.identifier)),
        "preferred": quality.then(|| r.flags.has(ExtendedFlags::LEADER_PREFERRED)),
    })
}

pub fn json(host: &str, port: u16, answer: &Answer) -> String {
    let v = match answer {
        Answer::Compact { reply, addr } => json!({
            "host": host,
            "port": port,
            "address": addr.to_string(),
            "reachable": true,
            "extended": false,
            "mode": reply.mode.name(),
            "locked": reply.mode.is_locked(),
            "drift_ppm": f64::from(reply.drift_rate_ppb) / 1e3,
            "applied_ppm": f64::from(reply.frequency_adjustment_ppb) / 1e3,
            "grandmaster_uuid": uuid(reply.grandmaster_uuid),
            "ntp": {
                "offset_us": reply.last_ntp_offset_us,
                "failing": reply.flags.ntp_failing(),
            },
            "accumulated_phase_us": reply.accumulated_phase.as_micros(),
        }),
        Answer::Extended {
            reply: r,
            exchange,
            addr,
        } => {
            let ptp_only = r.flags.has(ExtendedFlags::PTP_ONLY);
            let mut v = json!({
                "host": host,
                "port": port,
                "address": addr.to_string(),
                "reachable": true,
                "extended": true,
                "version": r.software_version_text(),
                "mode": r.base.mode.name(),
                "locked": r.base.mode.is_locked(),
                "leader": leader_json(r),
                "drift_ppm": ppm(r.drift_ppt),
                "drift_sigma_ppm": ppm(r.drift_sigma_ppt),
                "error_bound_ppm": ppm(r.error_bound_ppt),
                "natural_rate_ppm": ppm(r.natural_rate_ppt),
                "learned_prior": r.flags.has(ExtendedFlags::LEARNED_PRIOR),
                "applied_ppm": ppt_to_ppm(r.applied_ppt),
                "slew_ppm": ppt_to_ppm(r.slew_ppt),
                "noise_us": r.noise_ns.map(|n| n as f64 / 1e3),
                "window_samples": r.window_samples,
                "ntp": {
                    "server": (!ptp_only).then(|| r.ntp_server_text()),
                    "ptp_only": ptp_only,
                    "offset_us": r.ntp_offset_ns.map(|n| n as f64 / 1e3),
                    "delay_us": r.ntp_delay_ns.map(|n| n as f64 / 1e3),
                    "age_s": age_s(r, r.ntp_at_ns),
                    "last_correction_age_s": age_s(r, r.last_correction_ns),
                    "corrections": r.ntp_corrections,
                    "next_check_s": f64::from(r.ntp_interval_ms) / 1e3,
                    "synchronised": r.flags.has(ExtendedFlags::TIME_SYNCHRONISED),
                    "failing": r.flags.has(ExtendedFlags::NTP_FAILING),
                },
                "accumulated_phase_us": r.accumulated_phase_ns as f64 / 1e3,
                "uptime_s": r.uptime_ns as f64 / 1e9,
                "timestamping": {
                    "ptp": r.flags.ptp_timestamping().name(),
                    "query_rx": query_rx_name(r.flags),
                },
                "exchange": {
                    "offset_us": exchange.offset_ns as f64 / 1e3,
                    "delay_us": exchange.delay_ns as f64 / 1e3,
                },
                "counters": {
                    "ptp_received": r.ptp_received,
                    "ptp_samples": r.ptp_samples,
                    "leader_changes": r.leader_changes,
                    "query_answered": r.query_answered,
                    "query_dropped": r.query_dropped,
                    "query_rate_limited": r.query_rate_limited,
                },
            });
            health::add_json(r, &mut v);
            sync_mode::add_json(r, &mut v);
            v
        }
    };
    v.to_string()
}

fn opt_ppm(v: Option<f64>) -> String {
    v.map_or("unknown".to_owned(), |v| format!("{v:+.3} ppm"))
}

fn duration(s: f64) -> String {
    let total = s.max(0.0) as u64;
    let (d, h, m, sec) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if d > 0 {
        format!("{d} d {h} h {m:02} min")
    } else if h > 0 {
        format!("{h} h {m:02} min {sec:02} s")
    } else if m > 0 {
        format!("{m} min {sec:02} s")
    } else {
        format!("{s:.1} s")
    }
}

/// The `chronyc tracking`-like table.
pub fn text(host: &str, answer: &Answer) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<18}: {value}");
    };
    match answer {
        Answer::Compact { reply, addr } => {
            line("Node", node_name(host, addr));
            line(
                "Note",
                "compact reply only (an older dantesync or the earlier DanteSync)".to_owned(),
            );
            line("Mode", mode_line(reply));
            line("Grandmaster", uuid(reply.grandmaster_uuid));
            line(
                "Drift",
                format!("{:+.3} ppm", f64::from(reply.drift_rate_ppb) / 1e3),
            );
            line(
                "Applied frequency",
                format!(
                    "{:+.3} ppm",
                    f64::from(reply.frequency_adjustment_ppb) / 1e3
                ),
            );
            line(
                "Last NTP offset",
                format!(
                    "{:+} µs{}",
                    reply.last_ntp_offset_us,
                    if reply.flags.ntp_failing() {
                        " (NTP failing)"
                    } else {
                        ""
                    }
                ),
            );
            line(
                "Accumulated phase",
                format!("{:+} µs", reply.accumulated_phase.as_micros()),
            );
        }
        Answer::Extended {
            reply: r,
            exchange,
            addr,
        } => {
            let f = r.flags;
            line(
                "Node",
                format!(
                    "{}, dantesync {}",
                    node_name(host, addr),
                    r.software_version_text()
                ),
            );
            line("Mode", mode_line(&r.base));
            for (name, value) in sync_mode::lines(r) {
                line(name, value);
            }
            let leader = if f.has(ExtendedFlags::LEADER) {
                let l = &r.leader;
                let mut s = format!("{} port {}", uuid(l.sender_uuid), l.sender_port);
                if l.grandmaster_uuid != l.sender_uuid {
                    let _ = write!(s, ", grandmaster {}", uuid(l.grandmaster_uuid));
                }
                if f.has(ExtendedFlags::LEADER_QUALITY) {
                    let _ = write!(
                        s,
                        ", stratum {}, {}, variance {}{}",
                        l.stratum,
                        dantesync_core::wire::query::field_text(&l.identifier),
                        l.variance,
                        if f.has(ExtendedFlags::LEADER_PREFERRED) {
                            ", preferred"
                        } else {
                            ""
                        }
                    );
                }
                if l.sync_interval_log2 != i8::MIN {
                    let _ = write!(
                        s,
                        ", Sync every {} s",
                        2f64.powi(i32::from(l.sync_interval_log2))
                    );
                }
                s
            } else {
                "none".to_owned()
            };
            line("Leader", leader);
            line(
                "Drift",
                match (ppm(r.drift_ppt), ppm(r.drift_sigma_ppt)) {
                    (Some(d), Some(s)) => format!("{d:+.3} ppm ± {s:.3} ppm"),
                    (d, _) => opt_ppm(d),
                },
            );
            line(
                "Error bound",
                ppm(r.error_bound_ppt).map_or("unknown".to_owned(), |b| {
                    format!("{b:.3} ppm (|drift| + 3σ, what LOCK and NANO are decided on)")
                }),
            );
            line(
                "Applied frequency",
                format!(
                    "{:+.3} ppm (NTP slew {:+.3} ppm)",
                    ppt_to_ppm(r.applied_ppt),
                    ppt_to_ppm(r.slew_ppt)
                ),
            );
            line(
                "Natural rate",
                format!(
                    "{}{}",
                    opt_ppm(ppm(r.natural_rate_ppt)),
                    if f.has(ExtendedFlags::LEARNED_PRIOR) {
                        " (learned prior in use)"
                    } else {
                        ""
                    }
                ),
            );
            line(
                "NTP server",
                if f.has(ExtendedFlags::PTP_ONLY) {
                    "none (PTP-only)".to_owned()
                } else {
                    r.ntp_server_text()
                },
            );
            let ntp = match (r.ntp_offset_ns, r.ntp_delay_ns) {
                (Some(o), Some(d)) => format!(
                    "offset {:+.1} µs, delay {:.1} µs, {} ago",
                    o as f64 / 1e3,
                    d as f64 / 1e3,
                    duration(age_s(r, r.ntp_at_ns).unwrap_or(0.0))
                ),
                _ => "no check yet".to_owned(),
            };
            line("NTP check", ntp);
            let state = if f.has(ExtendedFlags::PTP_ONLY) {
                "PTP-only: the rate follows the leader, nothing corrects the time".to_owned()
            } else {
                format!(
                    "{}{}; next check in {}",
                    if f.has(ExtendedFlags::TIME_SYNCHRONISED) {
                        "synchronised"
                    } else {
                        "not synchronised"
                    },
                    if f.has(ExtendedFlags::NTP_FAILING) {
                        ", failing"
                    } else {
                        ""
                    },
                    duration(f64::from(r.ntp_interval_ms) / 1e3)
                )
            };
            line("NTP state", state);
            line(
                "Last correction",
                match age_s(r, r.last_correction_ns) {
                    Some(age) => format!("{} ago ({} in all)", duration(age), r.ntp_corrections),
                    None => "never".to_owned(),
                },
            );
            line(
                "Accumulated phase",
                format!("{:+.1} µs", r.accumulated_phase_ns as f64 / 1e3),
            );
            line("Uptime", duration(r.uptime_ns as f64 / 1e9));
            for (name, value) in health::lines(r) {
                line(name, value);
            }
            line(
                "Timestamping",
                format!(
                    "PTP {}, this query {}",
                    f.ptp_timestamping().name(),
                    query_rx_name(f)
                ),
            );
            line(
                "Query exchange",
                format!(
                    "node offset {:+.1} µs from this host, delay {:.1} µs",
                    exchange.offset_ns as f64 / 1e3,
                    exchange.delay_ns as f64 / 1e3
                ),
            );
            line(
                "Counters",
                format!(
                    "PTP {} received, {} samples, {} leader changes; queries {} answered, {} \
                     dropped ({} rate limited)",
                    r.ptp_received,
                    r.ptp_samples,
                    r.leader_changes,
                    r.query_answered,
                    r.query_dropped,
                    r.query_rate_limited
                ),
            );
        }
    }
    out
}

/// Reads the docs' tables: the field table's test helper, compiled in here too (the HTTP
/// module is private to the daemon, so this cannot `use` it).
#[cfg(test)]
#[allow(clippy::duplicate_mod)]
#[path = "../daemon/http/fields/doc_tables.rs"]
mod doc_tables;

#[cfg(test)]
#[path = "print_tests.rs"]
mod tests;
