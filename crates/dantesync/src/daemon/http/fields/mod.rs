//! One definition per status field: the table ([`all`]) says, for every key of the
//! `/api/status` document, where it sits, its unit, what it means, how it is read from the
//! snapshot, which Prometheus metrics it feeds and where the UDP query API carries it. The JSON
//! document ([`super::status_json`]) and the `/metrics` page ([`super::metrics`]) are both
//! produced by walking this table, and the tests check `docs/http-api.md` and
//! `docs/query-api.md` against it, so a field cannot be shown on one surface and forgotten on
//! another.
//!
//! # Adding a status field
//!
//! 1. Add it to `Status` (`crates/dantesync-core/src/controller/status.rs`) and set it where the
//!    controller builds the snapshot (`Controller::status`).
//! 2. Add one [`Field`] to `STATUS` in `snapshot.rs`: its `path` (`status.` and the field's own
//!    name), [`Unit`], `help` (one sentence; it is also the HELP of a metric that has none of
//!    its own), `read` ([`Read::Number`] for a number, bool or absent value, [`Read::Json`] for
//!    anything else) and, when it has one, its metric: [`Metric::gauge`] or
//!    [`Metric::counter`] named after Prometheus conventions (`dantesync_` prefix, base units:
//!    `_seconds`, `_ratio` for ppm, `_total` for counters); a metric computed otherwise (an
//!    age, a labelled family) is a [`Metric::one`] or [`Metric::labelled`], and an object's
//!    JSON shape goes next to the others in `status_json.rs`. Leave `query` empty: the query
//!    API's bytes are fixed, a new field travels there only in a new version of the extended
//!    reply (`docs/query-api.md`, "Versioning rules"), whose offsets `query` then names.
//! 3. Add its row to the `/api/status` table of `docs/http-api.md` (`` | `path` | unit |
//!    metrics | meaning | ``) and, with a metric, the metric's row to the `/metrics` table
//!    (`` | `name` | type | meaning | ``). `cargo test -p dantesync --bin dantesync fields`
//!    fails naming whatever is missing.
//!
//! Metrics are written in table order (a family only when it has a sample, so a value not known
//! yet is left out rather than shown as 0); the JSON keys are sorted by serde_json whatever the
//! order here.

mod document;
mod fleet;
mod snapshot;

pub(crate) use snapshot::ptp_packets_per_s_at;

use serde_json::Value;

use super::View;

/// Every field, in the order `/metrics` shows their metrics: `node` (whose version is the
/// first family, `dantesync_build_info`), the snapshot, `counters`, then the earlier
/// DanteSync's top-level keys.
pub fn all() -> impl Iterator<Item = &'static Field> {
    document::NODE
        .iter()
        .chain(snapshot::STATUS)
        .chain(fleet::FLEET)
        .chain(document::COUNTERS)
        .chain(document::LEGACY)
}

/// One key of the `/api/status` document.
#[derive(Debug)]
pub struct Field {
    /// Where it sits in the document, dot-separated: `status.drift_ppm`, `node.hostname`, or a
    /// top-level key of the earlier DanteSync (`is_locked`).
    pub path: &'static str,
    pub unit: Unit,
    /// What it means, one sentence; the HELP of its metrics that have none of their own.
    pub help: &'static str,
    pub read: Read,
    /// The Prometheus metric families it feeds, in the order `/metrics` shows them.
    pub metrics: &'static [Metric],
    /// Where the UDP query API's replies carry it: documentation, checked against
    /// docs/query-api.md by the tests (those bytes are fixed, so nothing else reads it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub query: &'static [Wire],
}

/// How a field is read from a [`View`].
#[derive(Clone, Copy)]
pub enum Read {
    /// A number or bool, `None` while unknown (JSON null; its [`Samples::Value`] metric is
    /// then left out).
    Number(fn(&View) -> Option<Num>),
    /// Anything else, as the JSON value it is shown as.
    Json(fn(&View) -> Value),
}

impl std::fmt::Debug for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Read::Number(_) => "Number",
            Read::Json(_) => "Json",
        })
    }
}

/// A scalar value as read from the snapshot, in the field's own unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Float(f64),
    Int(i64),
    Uint(u64),
    Bool(bool),
}

impl Num {
    pub fn json(self) -> Value {
        match self {
            Num::Float(v) => Value::from(v),
            Num::Int(v) => Value::from(v),
            Num::Uint(v) => Value::from(v),
            Num::Bool(v) => Value::from(v),
        }
    }

    /// The value in the base unit of `unit` (a bool as 0 or 1), as a metric shows it.
    pub fn base(self, unit: Unit) -> f64 {
        let scale = |v: f64| match unit.to_base() {
            Some(k) => v * k,
            None => v,
        };
        match self {
            Num::Float(v) => scale(v),
            Num::Int(v) => scale(v as f64),
            Num::Uint(v) => scale(v as f64),
            Num::Bool(v) => f64::from(u8::from(v)),
        }
    }
}

/// The unit of a field's JSON value, as the docs' unit column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Parts per million (= µs/s); a metric shows it as a ratio (1 ppm = 1e-6).
    Ppm,
    Micros,
    Nanos,
    Seconds,
    /// A number of things.
    Count,
    /// Things per second.
    PerSecond,
    /// A number standing for a name (the query API's mode byte).
    Code,
    Bool,
    Text,
    /// `{"unix_ns": ..., "age_s": ...}` on the disciplined clock, or null.
    Time,
    Object,
    List,
}

impl Unit {
    /// The unit column of the docs tables (which the tests check).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn name(self) -> &'static str {
        match self {
            Unit::Ppm => "ppm",
            Unit::Micros => "µs",
            Unit::Nanos => "ns",
            Unit::Seconds => "s",
            Unit::Count => "count",
            Unit::PerSecond => "per s",
            Unit::Code => "code",
            Unit::Bool => "bool",
            Unit::Text => "text",
            Unit::Time => "time",
            Unit::Object => "object",
            Unit::List => "list",
        }
    }

    /// The factor to the metric's base unit (seconds, ratio); `None` when it is already one.
    fn to_base(self) -> Option<f64> {
        match self {
            Unit::Ppm | Unit::Micros => Some(1e-6),
            Unit::Nanos => Some(1e-9),
            _ => None,
        }
    }
}

/// The kind of a metric family, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One Prometheus metric family.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// `None`: the field's help.
    pub help: Option<&'static str>,
    /// The label names, in the order [`Samples::Labelled`] gives their values.
    pub labels: &'static [&'static str],
    pub samples: Samples,
}

/// Receives one labelled sample: the label values (in the order of [`Metric::labels`]) and
/// the value.
pub type Emit<'a> = dyn FnMut(&[&str], f64) + 'a;

/// Where a metric's samples come from.
#[derive(Clone, Copy)]
pub enum Samples {
    /// The field's own [`Read::Number`] value in base units; none while it is unknown.
    Value,
    /// One unlabelled sample, none when `None`.
    One(fn(&View) -> Option<f64>),
    /// Any number of labelled samples.
    Labelled(fn(&View, &mut Emit<'_>)),
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Samples::Value => "Value",
            Samples::One(_) => "One",
            Samples::Labelled(_) => "Labelled",
        })
    }
}

impl Metric {
    /// A gauge of the field's own value, with the field's help.
    pub const fn gauge(name: &'static str) -> Metric {
        Metric {
            name,
            kind: Kind::Gauge,
            help: None,
            labels: &[],
            samples: Samples::Value,
        }
    }

    /// A counter of the field's own value, with the field's help.
    pub const fn counter(name: &'static str) -> Metric {
        Metric {
            kind: Kind::Counter,
            ..Metric::gauge(name)
        }
    }

    /// One unlabelled sample computed from the view.
    pub const fn one(
        name: &'static str,
        kind: Kind,
        help: &'static str,
        value: fn(&View) -> Option<f64>,
    ) -> Metric {
        Metric {
            name,
            kind,
            help: Some(help),
            labels: &[],
            samples: Samples::One(value),
        }
    }

    /// Labelled samples computed from the view.
    pub const fn labelled(
        name: &'static str,
        kind: Kind,
        help: &'static str,
        labels: &'static [&'static str],
        samples: fn(&View, &mut Emit<'_>),
    ) -> Metric {
        Metric {
            name,
            kind,
            help: Some(help),
            labels,
            samples: Samples::Labelled(samples),
        }
    }

    /// The name with its label names, as the docs' metric table writes it:
    /// `dantesync_mode{mode}`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn signature(&self) -> String {
        if self.labels.is_empty() {
            self.name.to_owned()
        } else {
            format!("{}{{{}}}", self.name, self.labels.join(","))
        }
    }
}

/// Where the UDP query API carries a field (`docs/query-api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// At this byte offset of the reply: below 64 in the compact reply (and so at the start of
    /// every extended one), from 64 in the extended reply.
    At(u16),
    /// This bit of the extended reply's flags word (offset 68).
    Flag(u8),
}

impl Field {
    /// Its value as the document shows it.
    pub fn json(&self, v: &View) -> Value {
        match self.read {
            Read::Number(read) => read(v).map_or(Value::Null, Num::json),
            Read::Json(read) => read(v),
        }
    }

    /// The samples of one of its metrics.
    pub fn samples(&self, metric: &Metric, v: &View, emit: &mut Emit<'_>) {
        match metric.samples {
            Samples::Value => {
                if let Read::Number(read) = self.read {
                    if let Some(n) = read(v) {
                        emit(&[], n.base(self.unit));
                    }
                }
            }
            Samples::One(value) => {
                if let Some(x) = value(v) {
                    emit(&[], x);
                }
            }
            Samples::Labelled(samples) => samples(v, emit),
        }
    }

    /// The HELP text of one of its metrics.
    pub fn help_of<'a>(&'a self, metric: &'a Metric) -> &'a str {
        metric.help.unwrap_or(self.help)
    }
}

#[cfg(test)]
mod doc_tables;
#[cfg(test)]
mod tests;
