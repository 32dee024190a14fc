//! `/metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Names follow Prometheus conventions: `dantesync_` prefix, base units (`_seconds`), `_total`
//! on counters, and frequencies as `_ratio` (dimensionless, as node_exporter's
//! `node_timex_frequency_adjustment_ratio`): 1 ppm is 1e-6. A value the daemon does not know
//! yet (no drift estimate before the first PTP samples, no NTP offset before the first check)
//! is left out rather than shown as 0. See docs/http-api.md for the list.

use std::fmt::Write as _;

use super::fields;
use super::View;

/// The whole `/metrics` page: every metric of the field table, in its order. A family is
/// written only with at least one sample, so a value not known yet leaves out its HELP and
/// TYPE lines too.
pub fn render(v: &View) -> String {
    let mut out = String::new();
    for field in fields::all() {
        for metric in field.metrics {
            let mut samples = String::new();
            field.samples(metric, v, &mut |values, value| {
                sample(&mut samples, metric.name, metric.labels, values, value);
            });
            if samples.is_empty() {
                continue;
            }
            let name = metric.name;
            let _ = writeln!(out, "# HELP {name} {}", escape_help(field.help_of(metric)));
            let _ = writeln!(out, "# TYPE {name} {}", metric.kind.name());
            out.push_str(&samples);
        }
    }
    out
}

/// One sample line; `values` are the label values, in the order of `labels`.
fn sample(out: &mut String, name: &str, labels: &[&str], values: &[&str], value: f64) {
    debug_assert_eq!(labels.len(), values.len(), "{name}: labels and values");
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
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
