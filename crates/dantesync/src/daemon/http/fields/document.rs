//! The rest of the `/api/status` document: `node` (what the daemon knows besides the
//! snapshot), `counters`, and the earlier DanteSync's top-level keys.

use dantesync_core::ntp_server::DropReason;
use dantesync_core::Mode;
use serde_json::{json, Value};

use super::super::status_json::{self as shape, clamp_i64, drop_reason_name};
use super::{Field, Kind, Metric, Num, Read, Unit, Wire};

pub static NODE: &[Field] = &[
    Field {
        path: "node.version",
        unit: Unit::Text,
        help: "The dantesync version.",
        read: Read::Json(|_| json!(env!("CARGO_PKG_VERSION"))),
        metrics: &[Metric::labelled(
            "dantesync_build_info",
            Kind::Gauge,
            "Always 1; the labels say which dantesync this is.",
            &["version"],
            |_, emit| emit(&[env!("CARGO_PKG_VERSION")], 1.0),
        )],
        query: &[Wire::At(288)],
    },
    Field {
        path: "node.hostname",
        unit: Unit::Text,
        help: "The host's name.",
        read: Read::Json(|v| json!(v.node.hostname)),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.clock",
        unit: Unit::Text,
        help: "The clock disciplined: system or simulated.",
        read: Read::Json(|v| json!(v.node.clock)),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.clock_adjustment",
        unit: Unit::Text,
        help: "Windows: the interface that sets the system clock's frequency; null elsewhere.",
        read: Read::Json(|v| json!(v.node.clock_adjustment)),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.interface",
        unit: Unit::Text,
        help: "The configured network interface, null for all.",
        read: Read::Json(|v| json!(v.node.interface)),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.ntp_upstream",
        unit: Unit::Text,
        help: "The NTP server asked, null when PTP-only.",
        read: Read::Json(|v| json!(v.node.ntp_upstream)),
        metrics: &[],
        query: &[Wire::At(304), Wire::Flag(9)],
    },
    Field {
        path: "node.ntp_server_enabled",
        unit: Unit::Bool,
        help: "Whether the built-in NTP server runs.",
        read: Read::Number(|v| Some(Num::Bool(v.ntp_server.is_some()))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.timestamping",
        unit: Unit::Text,
        help: "How PTP datagrams are stamped.",
        read: Read::Json(|v| json!(v.status.host.ptp_timestamping.describe())),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.uptime_s",
        unit: Unit::Seconds,
        help: "Seconds since the daemon started.",
        read: Read::Number(|v| Some(Num::Float(v.status.host.uptime_s))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "node.now_unix_ns",
        unit: Unit::Nanos,
        help: "The disciplined clock when this document was made, since the Unix epoch.",
        read: Read::Number(|v| Some(Num::Int(v.now.nanos()))),
        metrics: &[],
        query: &[Wire::At(8)],
    },
    Field {
        path: "node.kernel_synchronised",
        unit: Unit::Bool,
        help: "Whether the kernel was told the clock is synchronised (adjtimex STA_UNSYNC clear), null for a clock without such a status (simulated, Windows).",
        read: Read::Number(|v| v.kernel_synchronised.map(Num::Bool)),
        metrics: &[Metric::gauge("dantesync_kernel_synchronised")],
        query: &[Wire::At(369)],
    },
    Field {
        path: "node.leap_pending",
        unit: Unit::Text,
        help: "The leap second the upstream servers' majority announces for the end of this month (June or December): none, insert or delete.",
        read: Read::Json(|v| json!(v.leap_pending.name())),
        metrics: &[Metric::one(
            "dantesync_leap_pending",
            Kind::Gauge,
            "1 when a leap second is to be inserted at the end of this month, -1 deleted, 0 none.",
            |v| {
                Some(match v.leap_pending {
                    dantesync_clock::LeapSecond::None => 0.0,
                    dantesync_clock::LeapSecond::Insert => 1.0,
                    dantesync_clock::LeapSecond::Delete => -1.0,
                })
            },
        )],
        query: &[Wire::At(368)],
    },
];

pub static COUNTERS: &[Field] = &[
    Field {
        path: "counters.ntp_server",
        unit: Unit::Object,
        help: "The built-in NTP server's requests and replies, null when it is off.",
        read: Read::Json(|v| {
            v.ntp_server
                .as_ref()
                .map_or(Value::Null, shape::ntp_server_counters)
        }),
        metrics: &[
            Metric::one(
                "dantesync_ntp_server_requests_received_total",
                Kind::Counter,
                "Datagrams the built-in NTP server received.",
                |v| v.ntp_server.map(|c| c.received as f64),
            ),
            Metric::one(
                "dantesync_ntp_server_responses_total",
                Kind::Counter,
                "Replies carrying the time sent by the built-in NTP server.",
                |v| v.ntp_server.map(|c| c.answered as f64),
            ),
            Metric::one(
                "dantesync_ntp_server_kiss_of_death_total",
                Kind::Counter,
                "KoD RATE packets sent by the built-in NTP server.",
                |v| v.ntp_server.map(|c| c.kiss_of_death as f64),
            ),
            Metric::one(
                "dantesync_ntp_server_rate_limited_total",
                Kind::Counter,
                "Requests over their source's rate limit (answered with KoD or dropped).",
                |v| v.ntp_server.map(|c| c.rate_limited as f64),
            ),
            Metric::labelled(
                "dantesync_ntp_server_requests_dropped_total",
                Kind::Counter,
                "Requests the built-in NTP server dropped without a reply, by reason.",
                &["reason"],
                |v, emit| {
                    if let Some(c) = &v.ntp_server {
                        for r in DropReason::ALL {
                            emit(&[drop_reason_name(r)], c.dropped(r) as f64);
                        }
                    }
                },
            ),
        ],
        query: &[],
    },
    Field {
        path: "counters.ptp_dropped_source",
        unit: Unit::Count,
        help: "PTP datagrams from sources outside ptp.source_allowlist.",
        read: Read::Number(|v| Some(Num::Uint(v.ptp_dropped_source))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "counters.clock_interference",
        unit: Unit::Count,
        help: "Changes of the clock's frequency by another program (chronyd, ntpd, timesyncd...) seen since start.",
        read: Read::Number(|v| Some(Num::Uint(v.clock_interference))),
        metrics: &[Metric::counter("dantesync_clock_interference_total")],
        query: &[Wire::At(360)],
    },
    Field {
        path: "counters.query_answered",
        unit: Unit::Count,
        help: "UDP query API requests answered.",
        read: Read::Number(|v| Some(Num::Uint(v.status.host.query.answered()))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "counters.query_dropped",
        unit: Unit::Count,
        help: "UDP query API datagrams dropped, all reasons.",
        read: Read::Number(|v| Some(Num::Uint(v.status.host.query.dropped()))),
        metrics: &[],
        query: &[],
    },
];

/// The earlier DanteSync's names, types and meanings (its tray deserialises exactly these).
pub static LEGACY: &[Field] = &[
    Field {
        path: "mode",
        unit: Unit::Text,
        help: "The mode in the earlier spellings; INIT shows as ACQ, as that tool started in ACQ.",
        read: Read::Json(|v| {
            json!(match v.status.mode {
                Mode::Init | Mode::Acq => "ACQ",
                Mode::Prod => "PROD",
                Mode::Lock => "LOCK",
                Mode::Nano => "NANO",
                Mode::NtpOnly => "NTP-only",
            })
        }),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "is_locked",
        unit: Unit::Bool,
        help: "LOCK or NANO.",
        read: Read::Number(|v| Some(Num::Bool(v.status.mode.is_locked()))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "settled",
        unit: Unit::Bool,
        help: "The same as is_locked, as the query API's settled flag.",
        read: Read::Number(|v| Some(Num::Bool(v.status.mode.is_locked()))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "offset_ns",
        unit: Unit::Nanos,
        help: "Last raw PTP offset T2 - T1; 0 before the first sample.",
        read: Read::Number(|v| Some(Num::Int(v.status.ptp_offset_ns.map_or(0, clamp_i64)))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "drift_ppm",
        unit: Unit::Ppm,
        help: "The applied frequency adjustment, as the earlier tool used this name.",
        read: Read::Number(|v| Some(Num::Float(v.status.applied_ppm))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "smoothed_rate_ppm",
        unit: Unit::Ppm,
        help: "The drift rate; 0 before the first estimate.",
        read: Read::Number(|v| Some(Num::Float(v.status.drift_ppm.unwrap_or(0.0)))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "gm_uuid",
        unit: Unit::List,
        help: "The leader's grandmaster UUID as 6 integers, null without a leader.",
        read: Read::Json(|v| json!(v.status.leader.map(|l| l.id.grandmaster.0))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "gm_source_ip",
        unit: Unit::Text,
        help: "Always null: not tracked.",
        read: Read::Json(|_| Value::Null),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "updated_ts",
        unit: Unit::Seconds,
        help: "Unix seconds of this reading (the disciplined clock).",
        read: Read::Number(|v| Some(Num::Int(v.now.nanos().max(0) / 1_000_000_000))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "ntp_offset_us",
        unit: Unit::Micros,
        help: "Last NTP offset; 0 before the first check.",
        read: Read::Number(|v| Some(Num::Int(v.status.ntp.map_or(0, |n| n.offset_ns / 1000)))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "ntp_failed",
        unit: Unit::Bool,
        help: "The latest NTP check failed.",
        read: Read::Number(|v| Some(Num::Bool(v.status.ntp_failing))),
        metrics: &[],
        query: &[],
    },
    Field {
        path: "accumulated_phase_us",
        unit: Unit::Micros,
        help: "Integral of the drift since the last NTP correction.",
        read: Read::Number(|v| Some(Num::Float(v.status.accumulated_phase_us))),
        metrics: &[],
        query: &[],
    },
];
