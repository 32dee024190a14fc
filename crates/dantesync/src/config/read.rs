//! Reading a parsed document into a [`Config`], reporting every error rather than the first.
//!
//! serde reads the file into [`File`] and stops at its first error. So the document is read
//! again after each error with the offending value set aside, until serde accepts what is
//! left: one run of `dantesync config check` shows all that needs fixing. serde_path_to_error
//! names the key of each error; the spanned tree of `json.rs` gives the line and column
//! where that key's value starts and the value as it was written.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_path_to_error::Segment;

use super::checks;
use super::de::Problem;
use super::diagnostic::{Diagnostic, Place};
use super::file::{self, File};
use super::json::{Member, Node, Pos, Value};
use super::settings::{Config, Origin};
use super::suggest;

/// JSON has no comments, so by the convention the earlier DanteSync's own files follow
/// (`_ntp_server_examples`), a key starting with `_` is a note for people.
pub fn is_comment(key: &str) -> bool {
    key.starts_with('_')
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The errors and warnings found in one file.
#[derive(Debug)]
pub struct Findings<'f> {
    file: &'f Path,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl<'f> Findings<'f> {
    pub fn new(file: &'f Path) -> Self {
        Findings {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn diagnostic(&self, pos: Pos, key: &str, message: String, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            place: Place::File {
                path: self.file.to_path_buf(),
                pos,
            },
            key: (!key.is_empty()).then(|| key.to_owned()),
            message,
            hint,
        }
    }

    pub fn error(&mut self, pos: Pos, key: &str, message: impl Into<String>, hint: Option<String>) {
        let d = self.diagnostic(pos, key, message.into(), hint);
        self.errors.push(d);
    }

    pub fn warn(&mut self, pos: Pos, key: &str, message: impl Into<String>, hint: Option<String>) {
        let d = self.diagnostic(pos, key, message.into(), hint);
        self.warnings.push(d);
    }

    /// The file being read.
    pub fn file(&self) -> &Path {
        self.file
    }

    pub fn expected(&mut self, node: &Node, key: &str, what: &str, hint: Option<String>) {
        let found = node.value.describe();
        self.error(
            node.pos,
            key,
            format!("expected {what}, found {found}"),
            hint,
        );
    }
}

/// The parsed document as serde gets to read it: comments left out, and the values already
/// refused set aside, so that lookups and serde see the same document.
#[derive(Debug)]
pub struct Doc<'n> {
    root: &'n Node,
    /// Values reported as errors (a member is left out with its value).
    refused: HashSet<*const Node>,
    /// Values serde does not read because a rule after reading reports them (`checks.rs`).
    aside: HashSet<*const Node>,
}

/// A value found by its key path.
struct Found<'n> {
    /// Where its key is, when it is a member of an object.
    key_pos: Option<Pos>,
    node: &'n Node,
    /// The list it is an item of, if it is one.
    list: Option<&'n Node>,
    /// The key path as the operator reads it, with the file's own list indices.
    key: String,
}

impl<'n> Doc<'n> {
    fn new(root: &'n Node) -> Self {
        Doc {
            root,
            refused: HashSet::new(),
            aside: HashSet::new(),
        }
    }

    pub fn root_pos(&self) -> Pos {
        self.root.pos
    }

    fn refuse(&mut self, node: &Node) {
        self.refused.insert(node as *const Node);
    }

    fn is_refused(&self, node: &Node) -> bool {
        self.refused.contains(&(node as *const Node))
    }

    /// The members of an object that are read: neither comments nor refused, first copies.
    pub fn members(&self, node: &'n Node) -> impl Iterator<Item = &'n Member> + '_ {
        let members: &'n [Member] = match &node.value {
            Value::Object(members) => members,
            _ => &[],
        };
        members
            .iter()
            .filter(|m| !is_comment(&m.key) && !self.is_refused(&m.value))
    }

    /// The items of a list that are read, with their index in the file.
    pub fn items(&self, node: &'n Node) -> impl Iterator<Item = (usize, &'n Node)> + '_ {
        let items: &'n [Node] = match &node.value {
            Value::Array(items) => items,
            _ => &[],
        };
        items
            .iter()
            .enumerate()
            .filter(|(_, n)| !self.is_refused(n))
    }

    /// The member at a path of keys (`["ptp", "event_port"]`), if it is read.
    pub fn member(&self, path: &[&str]) -> Option<&'n Member> {
        let (last, parents) = path.split_last()?;
        let mut node = self.root;
        for key in parents {
            node = &self.members(node).find(|m| m.key == *key)?.value;
        }
        self.members(node).find(|m| m.key == *last)
    }

    pub fn node(&self, path: &[&str]) -> Option<&'n Node> {
        self.member(path).map(|m| &m.value)
    }

    /// Whether the file has a member at `path`, read or refused.
    pub fn has(&self, path: &[&str]) -> bool {
        let (last, parents) = path.split_last().expect("a key path");
        let mut node = self.root;
        for key in parents {
            match self.members(node).find(|m| m.key == *key) {
                Some(m) => node = &m.value,
                None => return false,
            }
        }
        matches!(&node.value, Value::Object(ms) if ms.iter().any(|m| m.key == *last))
    }

    /// The value serde's path names; list indices count only the items serde was given.
    fn find(&self, path: &[Segment]) -> Option<Found<'n>> {
        let mut found = Found {
            key_pos: None,
            node: self.root,
            list: None,
            key: String::new(),
        };
        for segment in path {
            match segment {
                Segment::Map { key } => {
                    let m = self.members(found.node).find(|m| m.key == *key)?;
                    found = Found {
                        key_pos: Some(m.key_pos),
                        node: &m.value,
                        list: None,
                        key: join(&found.key, key),
                    };
                }
                Segment::Seq { index } => {
                    let (i, item) = self.items(found.node).nth(*index)?;
                    found = Found {
                        key_pos: None,
                        node: item,
                        list: Some(found.node),
                        key: format!("{}[{i}]", found.key),
                    };
                }
                Segment::Enum { .. } | Segment::Unknown => return None,
            }
        }
        Some(found)
    }

    /// The document as serde reads it.
    fn to_value(&self) -> serde_json::Value {
        self.value_of(self.root)
    }

    fn value_of(&self, node: &Node) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            // Beyond f64 (`1e400`): the largest number of its sign, which every range refuses;
            // the error quotes the text as written.
            Value::Number(text) => J::Number(text.parse().unwrap_or_else(|_| {
                let max = if text.starts_with('-') {
                    f64::MIN
                } else {
                    f64::MAX
                };
                serde_json::Number::from_f64(max).expect("finite")
            })),
            Value::String(s) => J::String(s.clone()),
            Value::Array(_) => J::Array(
                self.items(node)
                    .map(|(_, item)| self.value_of(item))
                    .collect(),
            ),
            Value::Object(_) => J::Object(
                self.members(node)
                    .filter(|m| !self.aside.contains(&(&m.value as *const Node)))
                    .map(|m| (m.key.clone(), self.value_of(&m.value)))
                    .collect(),
            ),
        }
    }
}

/// Reads the document into a configuration; errors and warnings are returned beside it.
pub fn read<'f>(root: &Node, file: &'f Path) -> (Config, Findings<'f>) {
    let mut f = Findings::new(file);
    let mut doc = Doc::new(root);
    let sections = file::sections();
    if !matches!(root.value, Value::Object(_)) {
        f.expected(
            root,
            "",
            "the configuration to be a JSON object { ... }",
            None,
        );
        return (Config::default(), f);
    }
    check_objects(&mut doc, &sections, &mut f);
    for node in checks::read_after(&doc) {
        doc.aside.insert(node as *const Node);
    }

    // Each pass reports the first error serde meets and sets its value aside; a document has
    // fewer values than passes can take.
    let mut read = None;
    for _ in 0..=count(root) {
        match serde_path_to_error::deserialize::<_, File>(doc.to_value()) {
            Ok(file) => {
                read = Some(file);
                break;
            }
            Err(e) => {
                let path: Vec<Segment> = e.path().iter().cloned().collect();
                let text = e.into_inner().to_string();
                match report(&doc, &path, &text, &sections, &mut f) {
                    Some((node, list)) => {
                        doc.refuse(node);
                        // A list whose every item was refused says nothing more: leaving it
                        // empty would report it as an empty list too.
                        if let Some(list) = list.filter(|l| doc.items(l).next().is_none()) {
                            doc.refuse(list);
                        }
                    }
                    None => {
                        // Never seen; but a file serde refused must not pass for valid.
                        f.error(root.pos, &path_text(&path), text, None);
                        break;
                    }
                }
            }
        }
    }
    if read.is_none() && f.errors.is_empty() {
        f.error(root.pos, "", "the file could not be read", None);
    }
    let file_read = read.unwrap_or_default();
    let mut cfg = Config {
        origin: Origin::File(file.to_path_buf()),
        ..Config::default()
    };
    checks::apply(&doc, &file_read, &mut f, &mut cfg);
    (cfg, f)
}

/// A serde path as text, for an error that cannot be placed on a value.
fn path_text(path: &[Segment]) -> String {
    path.iter()
        .fold(String::new(), |text, segment| match segment {
            Segment::Map { key } => join(&text, key),
            Segment::Seq { index } => format!("{text}[{index}]"),
            Segment::Enum { .. } | Segment::Unknown => text,
        })
}

fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(members) => members.iter().map(|m| count(&m.value)).sum(),
        _ => 0,
    }
}

/// The objects of the schema must be objects, and hold each key once: JSON readers disagree
/// on which copy of a key wins.
fn check_objects(doc: &mut Doc<'_>, sections: &[(&str, Vec<&str>)], f: &mut Findings<'_>) {
    for (section, _) in sections {
        let node = if section.is_empty() {
            doc.root
        } else {
            match doc.node(&[*section]) {
                Some(node) => node,
                None => continue,
            }
        };
        let Value::Object(members) = &node.value else {
            f.expected(node, section, "an object { ... }", None);
            doc.refuse(node);
            continue;
        };
        let mut first_at: HashMap<&str, Pos> = HashMap::new();
        for m in members {
            if let Some(first) = first_at.get(m.key.as_str()) {
                f.error(
                    m.key_pos,
                    &join(section, &m.key),
                    format!("given twice (first at line {})", first.line),
                    Some("keep one of the two".to_owned()),
                );
                doc.refuse(&m.value);
            } else {
                first_at.insert(&m.key, m.key_pos);
            }
        }
    }
}

/// Turns serde's error into a diagnostic at the value it is about, and returns that value
/// (and the list it is in, if any) for the next pass to leave out; `None` when the path leads nowhere (then no later pass
/// could do better).
fn report<'n>(
    doc: &Doc<'n>,
    path: &[Segment],
    text: &str,
    sections: &[(&str, Vec<&str>)],
    f: &mut Findings<'_>,
) -> Option<(&'n Node, Option<&'n Node>)> {
    let problem = Problem::decode(text);
    if let Problem::Serde(text) = &problem {
        if let Some(key) = unknown_field(text) {
            // The path may or may not end with the unknown key itself.
            let mut path = path.to_vec();
            if !matches!(path.last(), Some(Segment::Map { key: k }) if k == key) {
                path.push(Segment::Map {
                    key: key.to_owned(),
                });
            }
            let found = doc.find(&path)?;
            let section = found
                .key
                .strip_suffix(key)
                .unwrap_or_default()
                .trim_end_matches('.');
            let known = sections
                .iter()
                .find(|(s, _)| *s == section)
                .map_or(&[][..], |(_, keys)| keys.as_slice());
            let hint = unknown_key_hint(section, key, known, sections);
            let pos = found.key_pos.unwrap_or(found.node.pos);
            f.error(pos, &found.key, "unknown key", Some(hint));
            return Some((found.node, None));
        }
    }
    let found = doc.find(path)?;
    match problem {
        Problem::Expected { what, hint } => f.expected(found.node, &found.key, &what, hint),
        Problem::Refused { message, hint } => {
            f.error(found.node.pos, &found.key, message, hint);
        }
        Problem::Serde(text) => f.error(found.node.pos, &found.key, text, None),
    }
    Some((found.node, found.list))
}

/// The key of serde's "unknown field `x`, expected ..." error.
fn unknown_field(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(key, _)| key)
}

/// "Did you mean", or where the key belongs, or what the section holds.
fn unknown_key_hint(
    path: &str,
    key: &str,
    known: &[&str],
    sections: &[(&str, Vec<&str>)],
) -> String {
    if let Some(near) = suggest::closest(key, known.iter().copied()) {
        return format!("did you mean `{}`?", join(path, near));
    }
    let elsewhere: Vec<String> = sections
        .iter()
        .filter(|(section, keys)| *section != path && keys.contains(&key))
        .map(|(section, _)| {
            if section.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `{section}`")
            }
        })
        .collect();
    if let Some((last, rest)) = elsewhere.split_last() {
        let places = if rest.is_empty() {
            last.clone()
        } else {
            format!("{} or {last}", rest.join(", "))
        };
        return format!("`{key}` belongs {places}");
    }
    let here = if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{path}`")
    };
    format!(
        "the keys of {here} are: {} (keys starting with `_` are comments)",
        known.join(", ")
    )
}
