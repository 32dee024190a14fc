//! The field table against the snapshot it reads, the surfaces it produces and the docs that
//! describe it: each test names what is missing and where to add it.

use std::collections::{BTreeMap, BTreeSet};

use dantesync_core::LocalTime;
use serde_json::Value;

use super::super::tests::{debug_field_names, view};
use super::super::{metrics, status_json, View};
use super::doc_tables::{cells, quoted, Table};
use super::*;

const HTTP_API: &str = include_str!("../../../../../../docs/http-api.md");
const QUERY_API: &str = include_str!("../../../../../../docs/query-api.md");

/// The known view of the HTTP tests, with the times it leaves unset set too, so that every
/// field has a value.
fn full_view() -> View {
    let mut v = view();
    v.status.last_correction = Some(LocalTime::from_nanos(v.now.nanos() - 7_000_000_000));
    v.status.time_confirmed = Some(LocalTime::from_nanos(v.now.nanos() - 3_000_000_000));
    v.status.learned_prior = true;
    v
}

fn paths() -> BTreeSet<&'static str> {
    all().map(|f| f.path).collect()
}

#[test]
fn every_field_of_the_snapshot_has_a_definition() {
    let s = full_view().status;
    let names = debug_field_names(&format!("{s:?}"));
    // The reader works: the first and the last field of Status are found.
    assert_eq!(names.first().map(String::as_str), Some("mode"), "{names:?}");
    assert!(names.iter().any(|n| n == "ntp_sources"), "{names:?}");
    let host = debug_field_names(&format!("{:?}", s.host));
    assert!(host.iter().any(|n| n == "uptime_s"), "{host:?}");
    let known = paths();
    let mut missing = Vec::new();
    for name in &names {
        if name == "host" {
            for h in &host {
                let path = format!("status.host.{h}");
                if !known.contains(path.as_str()) {
                    missing.push(path);
                }
            }
        } else if !known.contains(format!("status.{name}").as_str()) {
            missing.push(format!("status.{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "fields of Status with no definition in daemon/http/fields/snapshot.rs: {missing:?}"
    );
}

#[test]
fn paths_and_metric_names_are_unique_and_follow_the_conventions() {
    let mut seen_paths = BTreeSet::new();
    let mut seen_metrics = BTreeSet::new();
    for f in all() {
        assert!(seen_paths.insert(f.path), "{} is defined twice", f.path);
        assert!(!f.help.is_empty(), "{} has no help", f.path);
        for m in f.metrics {
            assert!(seen_metrics.insert(m.name), "{} is defined twice", m.name);
            assert!(m.name.starts_with("dantesync_"), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                m.name
            );
            if let Samples::Value = m.samples {
                assert!(
                    matches!(f.read, Read::Number(_)),
                    "{}: a metric of the field's own value needs Read::Number",
                    m.name
                );
                let suffix = match f.unit {
                    Unit::Ppm => Some("_ratio"),
                    Unit::Micros | Unit::Nanos | Unit::Seconds => Some("_seconds"),
                    _ => None,
                };
                if let Some(suffix) = suffix {
                    assert!(
                        m.name.ends_with(suffix),
                        "{} should end in {suffix}",
                        m.name
                    );
                }
            }
        }
    }
}

/// The value at a dot-separated path of the document, `None` when a key is missing.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(doc, |v, key| v.as_object()?.get(key))
}

#[test]
fn every_field_reaches_the_document_and_every_metric_the_exposition() {
    let v = full_view();
    let doc = status_json::document(&v);
    let text = metrics::render(&v);
    for f in all() {
        let value = at(&doc, f.path).unwrap_or_else(|| panic!("{} missing from {doc}", f.path));
        assert_eq!(*value, f.json(&v), "{}", f.path);
        for m in f.metrics {
            let mut samples = 0;
            f.samples(m, &v, &mut |labels, _| {
                assert_eq!(labels.len(), m.labels.len(), "{}: label values", m.name);
                samples += 1;
            });
            assert!(samples > 0, "{} has no sample for a known value", m.name);
            let family = format!("# TYPE {} {}\n", m.name, m.kind.name());
            assert!(text.contains(&family), "{family:?} missing:\n{text}");
            let help = format!("# HELP {} {}\n", m.name, f.help_of(m));
            assert!(text.contains(&help), "{help:?} missing:\n{text}");
        }
    }
    // The status object holds nothing the table does not define.
    let defined = paths();
    for key in doc["status"].as_object().unwrap().keys() {
        let path = format!("status.{key}");
        assert!(
            defined.contains(path.as_str()) || defined.iter().any(|p| p.starts_with(&path)),
            "{path}"
        );
    }
}

/// The rows (as cells) of every table in `text`, header and rule left out.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .map(cells)
        .filter(|c| {
            !c.first()
                .is_some_and(|h| h.starts_with("---") || h == "key")
        })
        .collect()
}

/// What is between `heading` and the next heading of the same level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &doc[start + heading.len() + 2..];
    let level = heading.split(' ').next().unwrap();
    rest.find(&format!("\n{level} "))
        .map_or(rest, |end| &rest[..end])
}

#[test]
fn the_http_docs_show_every_field_with_its_unit_and_metrics() {
    let status = section(HTTP_API, "## `/api/status`");
    let mut documented: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows(status) {
        let key = quoted(&row[0]).concat();
        assert!(
            documented.insert(key.clone(), row).is_none(),
            "docs/http-api.md: {key} has two rows"
        );
    }
    for f in all() {
        let row = documented.remove(f.path).unwrap_or_else(|| {
            panic!(
                "docs/http-api.md: no row for `{}` in the /api/status tables",
                f.path
            )
        });
        assert_eq!(
            row[1],
            f.unit.name(),
            "docs/http-api.md: unit of {}",
            f.path
        );
        let names: Vec<&str> = f.metrics.iter().map(|m| m.name).collect();
        assert_eq!(
            quoted(&row[2]),
            names,
            "docs/http-api.md: metrics of {}",
            f.path
        );
    }
    assert!(
        documented.is_empty(),
        "docs/http-api.md documents keys that are not defined: {:?}",
        documented.keys()
    );

    let table = section(HTTP_API, "## `/metrics`");
    let mut documented: BTreeMap<String, String> = rows(table)
        .into_iter()
        .filter(|r| r[0].starts_with("`dantesync_"))
        .map(|r| (quoted(&r[0]).concat(), r[1].clone()))
        .collect();
    for m in all().flat_map(|f| f.metrics) {
        let kind = documented
            .remove(&m.signature())
            .unwrap_or_else(|| panic!("docs/http-api.md: no row for `{}`", m.signature()));
        assert_eq!(kind, m.kind.name(), "docs/http-api.md: type of {}", m.name);
    }
    assert!(
        documented.is_empty(),
        "docs/http-api.md lists metrics that are not defined: {:?}",
        documented.keys()
    );
}

#[test]
fn the_query_docs_name_the_field_each_slot_carries() {
    let compact = Table::after(QUERY_API, "Reply, 64 bytes:");
    let extended = Table::after(QUERY_API, "### Reply, version 1");
    let flags = Table::after(QUERY_API, "Flags (offset 68):");
    assert!(compact.rows.len() >= 15 && extended.rows.len() >= 40 && flags.rows.len() >= 10);
    let tables = [
        (&compact, "compact reply"),
        (&extended, "extended reply"),
        (&flags, "flags"),
    ];
    let where_ = |w: Wire| match w {
        Wire::At(off) if off < 64 => (0, off),
        Wire::At(off) => (1, off),
        Wire::Flag(bit) => (2, u16::from(bit)),
    };
    let mut expected: BTreeSet<(usize, u16, &str)> = BTreeSet::new();
    for f in all() {
        for w in f.query {
            let (i, key) = where_(*w);
            let (table, name) = tables[i];
            let col = table.column("in `/api/status`");
            let named = table
                .rows
                .get(&key)
                .map(|row| quoted(&row[col]))
                .unwrap_or_else(|| panic!("docs/query-api.md: no row {key} in the {name} table"));
            assert!(
                named.contains(&f.path),
                "docs/query-api.md: the {name} row {key} does not name `{}`",
                f.path
            );
            expected.insert((i, key, f.path));
        }
    }
    for (i, (table, name)) in tables.iter().enumerate() {
        let col = table.column("in `/api/status`");
        for (key, row) in &table.rows {
            for path in quoted(&row[col]) {
                assert!(
                    expected.contains(&(i, *key, path)),
                    "docs/query-api.md: the {name} row {key} names `{path}`, whose definition \
                     does not say it travels there"
                );
            }
        }
    }
}
