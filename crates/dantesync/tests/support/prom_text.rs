//! A strict reader of the Prometheus text exposition format (0.0.4), for tests: it refuses
//! what Prometheus would refuse (bad names, bad label syntax, unparsable values, a sample
//! whose family has no TYPE line before it, a family declared twice) and returns every sample.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// A sample's labels, sorted by name.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name → (type, help).
    pub families: HashMap<String, (String, String)>,
    /// (metric name, labels) → value.
    pub samples: BTreeMap<(String, Labels), f64>,
}

impl Exposition {
    /// The value of an unlabelled sample.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.samples.get(&(name.to_owned(), Vec::new())).copied()
    }

    /// The value of a sample with exactly these labels.
    pub fn labelled(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut l: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        l.sort();
        self.samples.get(&(name.to_owned(), l)).copied()
    }

    /// All samples of one metric name, with their labels.
    pub fn all(&self, name: &str) -> Vec<(Labels, f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l.clone(), *v))
            .collect()
    }
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// Labels from just after `{`; returns them and the rest after `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without =")?;
        let name = &s[..eq];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = s[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("label value not quoted".into());
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                '\n' => return Err("raw newline in label value".into()),
                c => value.push(c),
            }
        }
        let end = end.ok_or("unterminated label value")?;
        if labels.iter().any(|(k, _): &(String, String)| k == name) {
            return Err(format!("label {name} twice"));
        }
        labels.push((name.to_owned(), value));
        s = &s[end..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        }
    }
}

pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut e = Exposition::default();
    let mut help: HashMap<String, String> = HashMap::new();
    for (no, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_name(name) || help.insert(name.to_owned(), text.to_owned()).is_some() {
                return Err(at("bad or repeated HELP".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without type".into()))?;
            if !valid_name(name)
                || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
            {
                return Err(at("bad TYPE".into()));
            }
            if e.families.contains_key(name) {
                return Err(at("family declared twice".into()));
            }
            let h = help.get(name).cloned().unwrap_or_default();
            e.families.insert(name.to_owned(), (kind.to_owned(), h));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| at("sample without value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(at("bad metric name".into()));
        }
        let (mut labels, rest) = if let Some(r) = line[name_end..].strip_prefix('{') {
            parse_labels(r).map_err(at)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing text".into()));
        }
        // dantesync has no histograms or summaries: a sample's name is its family's.
        if !e.families.contains_key(name) {
            return Err(at(format!("sample of {name} before its TYPE line")));
        }
        labels.sort();
        if e.samples.insert((name.to_owned(), labels), value).is_some() {
            return Err(at("sample repeated".into()));
        }
    }
    Ok(e)
}
