//! `/metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Names follow Prometheus conventions: `dantesync_` prefix, base units (`_seconds`), `_total`
//! on counters, and frequencies as `_ratio` (dimensionless, as node_exporter's
//! `node_timex_frequency_adjustment_ratio`): 1 ppm is 1e-6. A value the daemon does not know
//! yet (no drift estimate before the first PTP samples, no NTP offset before the first check)
//! is left out rather than shown as 0. See docs/http-api.md for the list.

use std::fmt::Write as _;

use dantesync_core::ntp_server::DropReason;
use dantesync_core::Mode;

use super::status_json::{drop_reason_name, identifier_text};
use super::View;

const PPM: f64 = 1e-6;

/// The kind of a metric family, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Gauge,
    Counter,
}

/// Text in the exposition format, one family at a time.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    /// A family with a single unlabelled sample.
    fn one(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A gauge shown only when its value is known.
    fn known(&mut self, name: &str, help: &str, value: Option<f64>) {
        if let Some(v) = value {
            self.one(name, Kind::Gauge, help, v);
        }
    }
}

/// The whole `/metrics` page.
pub fn render(v: &View) -> String {
    let s = &v.status;
    let mut e = Exposition::default();

    e.family(
        "dantesync_build_info",
        Kind::Gauge,
        "Always 1; the labels say which dantesync this is.",
    );
    e.sample(
        "dantesync_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.one(
        "dantesync_uptime_seconds",
        Kind::Gauge,
        "Seconds since the daemon started.",
        v.uptime_s(),
    );

    e.family(
        "dantesync_mode",
        Kind::Gauge,
        "1 for the node's current mode, 0 for the others (INIT, ACQ, PROD, LOCK, NANO, NTP-ONLY).",
    );
    for m in Mode::ALL {
        e.sample(
            "dantesync_mode",
            &[("mode", m.name())],
            f64::from(u8::from(s.mode == m)),
        );
    }
    e.one(
        "dantesync_mode_code",
        Kind::Gauge,
        "The current mode as the query API codes it: 0 INIT, 1 ACQ, 2 PROD, 3 LOCK, 4 NANO, 5 NTP-ONLY.",
        f64::from(s.mode.wire_code()),
    );
    e.one(
        "dantesync_locked",
        Kind::Gauge,
        "1 when the frequency is locked to the PTP leader (LOCK or NANO).",
        bool_value(s.mode.is_locked()),
    );

    e.known(
        "dantesync_drift_ratio",
        "Estimated drift of the disciplined clock against the PTP leader (1e-6 = 1 ppm = 1 us/s).",
        s.drift_ppm.map(|p| p * PPM),
    );
    e.known(
        "dantesync_drift_uncertainty_ratio",
        "Standard error of the drift estimate (1e-6 = 1 ppm).",
        s.drift_sigma_ppm.map(|p| p * PPM),
    );
    e.known(
        "dantesync_drift_error_bound_ratio",
        "|drift| + 3 sigma, on which LOCK and NANO are decided (1e-6 = 1 ppm).",
        s.error_bound_ppm.map(|p| p * PPM),
    );
    e.known(
        "dantesync_natural_rate_ratio",
        "Estimated natural rate of the local oscillator against the leader (1e-6 = 1 ppm).",
        s.natural_rate_ppm.map(|p| p * PPM),
    );
    e.one(
        "dantesync_frequency_adjustment_ratio",
        Kind::Gauge,
        "Frequency adjustment the servo applies to the clock, without NTP slew (1e-6 = 1 ppm).",
        s.applied_ppm * PPM,
    );
    e.one(
        "dantesync_slew_ratio",
        Kind::Gauge,
        "Extra frequency of an NTP slew in progress (1e-6 = 1 ppm).",
        s.slew_ppm * PPM,
    );
    e.known(
        "dantesync_timestamp_noise_seconds",
        "Timestamp noise around the rate fit.",
        s.noise_us.map(|u| u * 1e-6),
    );
    e.one(
        "dantesync_estimator_window_samples",
        Kind::Gauge,
        "PTP samples in the rate estimator's window.",
        s.window_samples as f64,
    );
    e.one(
        "dantesync_estimator_window_seconds",
        Kind::Gauge,
        "Time span of the rate estimator's window.",
        s.window_s,
    );
    e.known(
        "dantesync_ptp_last_sample_age_seconds",
        "Seconds since the last PTP sample.",
        s.last_ptp_sample
            .map(|t| v.now.nanos_since(t) as f64 * 1e-9),
    );

    if let Some(l) = &s.leader {
        let gm = l.id.grandmaster.to_string();
        let sender = l.id.sender.to_string();
        let port = l.id.sender_port.to_string();
        e.family(
            "dantesync_leader_info",
            Kind::Gauge,
            "Always 1; the labels name the PTP leader followed now.",
        );
        e.sample(
            "dantesync_leader_info",
            &[
                ("grandmaster", &gm),
                ("sender", &sender),
                ("sender_port", &port),
            ],
            1.0,
        );
        if let Some(q) = l.quality {
            e.one(
                "dantesync_leader_stratum",
                Kind::Gauge,
                "PTPv1 stratum the leader advertises.",
                f64::from(q.stratum),
            );
            e.family(
                "dantesync_leader_clock_info",
                Kind::Gauge,
                "Always 1; the labels carry the leader's advertised clock identifier and preference.",
            );
            e.sample(
                "dantesync_leader_clock_info",
                &[
                    ("identifier", &identifier_text(q.identifier)),
                    ("preferred", if q.preferred { "true" } else { "false" }),
                ],
                1.0,
            );
        }
    }
    e.one(
        "dantesync_leader_changes_total",
        Kind::Counter,
        "Times a new PTP leader (a new timescale) was chosen.",
        s.ptp.leader_changes as f64,
    );
    e.one(
        "dantesync_ptp_packets_received_total",
        Kind::Counter,
        "PTP datagrams received (before any check).",
        s.ptp.received as f64,
    );
    e.one(
        "dantesync_ptp_samples_total",
        Kind::Counter,
        "Complete PTP samples (Sync with its Follow_Up) of the leader.",
        s.ptp.samples as f64,
    );
    e.family(
        "dantesync_ptp_packets_dropped_total",
        Kind::Counter,
        "PTP datagrams not used, by reason.",
    );
    for (reason, n) in [
        ("source_not_allowed", v.ptp_dropped_source),
        ("not_v1", s.ptp.not_v1),
        ("malformed", s.ptp.malformed),
        ("other_subdomain", s.ptp.other_subdomain),
        ("not_leader", s.ptp.not_leader),
        ("unmatched_follow_up", s.ptp.unmatched_follow_up),
        ("ignored_other", s.ptp.ignored_other),
    ] {
        e.sample(
            "dantesync_ptp_packets_dropped_total",
            &[("reason", reason)],
            n as f64,
        );
    }
    e.family(
        "dantesync_estimator_events_total",
        Kind::Counter,
        "Rate estimator events: samples rejected as outliers, rate changes (kinks), restarts.",
    );
    for (event, n) in [
        ("outlier", s.estimator.outliers),
        ("kink", s.estimator.kinks),
        ("restart", s.estimator.restarts),
    ] {
        e.sample(
            "dantesync_estimator_events_total",
            &[("event", event)],
            n as f64,
        );
    }

    e.known(
        "dantesync_ntp_offset_seconds",
        "Offset (server - local) measured by the last completed NTP check.",
        s.ntp.map(|n| n.offset_ns as f64 * 1e-9),
    );
    e.known(
        "dantesync_ntp_delay_seconds",
        "Round-trip delay of the last completed NTP check.",
        s.ntp.map(|n| n.delay_ns as f64 * 1e-9),
    );
    e.known(
        "dantesync_ntp_last_check_age_seconds",
        "Seconds since the last completed NTP check.",
        s.ntp.map(|n| v.now.nanos_since(n.at) as f64 * 1e-9),
    );
    e.one(
        "dantesync_ntp_failing",
        Kind::Gauge,
        "1 when the latest NTP check failed.",
        bool_value(s.ntp_failing),
    );
    e.one(
        "dantesync_time_synchronised",
        Kind::Gauge,
        "1 when NTP has confirmed this node's time (two checks agreed in the last ten minutes).",
        bool_value(s.time_synchronised),
    );
    e.one(
        "dantesync_ntp_check_interval_seconds",
        Kind::Gauge,
        "Interval until the next NTP check, as chosen from the accumulated phase.",
        s.ntp_interval_s,
    );
    e.one(
        "dantesync_accumulated_phase_seconds",
        Kind::Gauge,
        "Integral of the drift since the last NTP correction.",
        s.accumulated_phase_us * 1e-6,
    );
    e.one(
        "dantesync_ntp_corrections_total",
        Kind::Counter,
        "Corrections of the time made from NTP (slews and steps).",
        s.ntp_corrections as f64,
    );

    e.family(
        "dantesync_query_requests_total",
        Kind::Counter,
        "UDP query API datagrams, by outcome.",
    );
    e.sample(
        "dantesync_query_requests_total",
        &[("outcome", "answered")],
        v.query_answered() as f64,
    );
    e.sample(
        "dantesync_query_requests_total",
        &[("outcome", "dropped")],
        v.query_dropped() as f64,
    );

    if let Some(c) = &v.ntp_server {
        e.one(
            "dantesync_ntp_server_requests_received_total",
            Kind::Counter,
            "Datagrams the built-in NTP server received.",
            c.received as f64,
        );
        e.one(
            "dantesync_ntp_server_responses_total",
            Kind::Counter,
            "Replies carrying the time sent by the built-in NTP server.",
            c.answered as f64,
        );
        e.one(
            "dantesync_ntp_server_kiss_of_death_total",
            Kind::Counter,
            "KoD RATE packets sent by the built-in NTP server.",
            c.kiss_of_death as f64,
        );
        e.one(
            "dantesync_ntp_server_rate_limited_total",
            Kind::Counter,
            "Requests over their source's rate limit (answered with KoD or dropped).",
            c.rate_limited as f64,
        );
        e.family(
            "dantesync_ntp_server_requests_dropped_total",
            Kind::Counter,
            "Requests the built-in NTP server dropped without a reply, by reason.",
        );
        for r in DropReason::ALL {
            e.sample(
                "dantesync_ntp_server_requests_dropped_total",
                &[("reason", drop_reason_name(r))],
                c.dropped(r) as f64,
            );
        }
    }
    e.out
}

fn bool_value(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Go's float formatting is what Prometheus reads; Rust's shortest round-trip form of a finite
/// f64 is valid input for it, and the specials have fixed spellings.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
