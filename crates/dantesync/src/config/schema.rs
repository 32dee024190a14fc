//! The configuration's schema: which keys exist, what each accepts, and the reading of a
//! parsed document into a [`Config`], collecting every error rather than stopping at the
//! first, so one run of `dantesync config check` shows all that needs fixing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use dantesync_core::wire::ptpv1::Uuid;

use super::diagnostic::{Diagnostic, Place};
use super::json::{Member, Node, Pos, Value};
use super::legacy;
use super::settings::{
    ClockKind, Config, LogLevel, Origin, SIMULATED_DRIFT_PPM, SIMULATED_OFFSET_MS,
};
use super::suggest;
use super::values::{self, Cidr, Refusal, ServerAddr};

pub const TOP: &[&str] = &[
    "interface",
    "ntp_server",
    "ntp",
    "ptp",
    "clock",
    "ntp_server_mode",
    "query_api",
    "http_status",
    "state_file",
    "log",
    "system",
];
pub const NTP: &[&str] = &[
    "panic_threshold_s",
    "allow_backward_step",
    "slew_max_offset_us",
    "slew_max_ppm",
];
pub const PTP: &[&str] = &[
    "event_port",
    "general_port",
    "subdomain",
    "offline_timeout_s",
    "leader_allowlist",
    "source_allowlist",
];
pub const CLOCK: &[&str] = &["kind", "drift_ppm", "offset_ms"];
pub const NTP_SERVER_MODE: &[&str] = &[
    "enabled",
    "port",
    "stratum",
    "local_stratum",
    "bind",
    "allow",
    "deny",
    "rate_limit",
    "max_step_us",
];
pub const QUERY_API: &[&str] = &["enabled", "port", "bind", "allow"];
pub const HTTP_STATUS: &[&str] = &["enabled", "port", "bind"];
pub const LOG: &[&str] = &["level"];

/// Every object of the schema and its keys, to tell a key written in the wrong section where
/// it belongs.
pub const SECTIONS: &[(&str, &[&str])] = &[
    ("", TOP),
    ("ntp", NTP),
    ("ptp", PTP),
    ("clock", CLOCK),
    ("ntp_server_mode", NTP_SERVER_MODE),
    ("query_api", QUERY_API),
    ("http_status", HTTP_STATUS),
    ("log", LOG),
    ("system", legacy::SYSTEM),
];

/// The PTPv1 subdomains that have a multicast group; Dante leaders use `_DFLT`.
pub const SUBDOMAINS: [&str; 4] = ["_DFLT", "_ALT1", "_ALT2", "_ALT3"];

/// Collects diagnostics while a document is read.
pub struct Walker<'f> {
    file: &'f Path,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// The members of one object of the document, checked against its section's keys.
pub struct Fields<'n> {
    path: String,
    members: &'n [Member],
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.member(key).map(|m| &m.value)
    }

    pub fn member(&self, key: &str) -> Option<&'n Member> {
        self.members.iter().find(|m| m.key == key)
    }

    pub fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The members the schema reads: comments (`_` keys) left out.
    pub fn keyed(&self) -> impl Iterator<Item = &'n Member> {
        self.members.iter().filter(|m| !is_comment(&m.key))
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// JSON has no comments, so by the convention the earlier DanteSync's own files follow
/// (`_ntp_server_examples`), a key starting with `_` is a note for people.
pub fn is_comment(key: &str) -> bool {
    key.starts_with('_')
}

impl<'f> Walker<'f> {
    pub fn new(file: &'f Path) -> Self {
        Walker {
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

    fn refused(&mut self, node: &Node, key: &str, r: Refusal) {
        self.error(node.pos, key, r.message, r.hint);
    }

    fn expected(&mut self, node: &Node, key: &str, what: &str, hint: Option<String>) {
        let found = node.value.describe();
        self.error(
            node.pos,
            key,
            format!("expected {what}, found {found}"),
            hint,
        );
    }

    /// Reads an object of the section `path` whose keys are `known`: every other key is an
    /// error that names it and says what was probably meant; a key given twice is an error
    /// too, since JSON readers disagree on which one wins.
    pub fn object<'n>(&mut self, node: &'n Node, path: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Value::Object(members) = &node.value else {
            let what = if path.is_empty() {
                "the configuration to be a JSON object { ... }"
            } else {
                "an object { ... }"
            };
            self.expected(node, path, what, None);
            return None;
        };
        let mut first_at: HashMap<&str, Pos> = HashMap::new();
        for m in members {
            let key_path = join(path, &m.key);
            if let Some(first) = first_at.get(m.key.as_str()) {
                let line = first.line;
                self.error(
                    m.key_pos,
                    &key_path,
                    format!("given twice (first at line {line})"),
                    Some("keep one of the two".to_owned()),
                );
                continue;
            }
            first_at.insert(&m.key, m.key_pos);
            if is_comment(&m.key) || known.contains(&m.key.as_str()) {
                continue;
            }
            let hint = unknown_key_hint(path, &m.key, known);
            self.error(m.key_pos, &key_path, "unknown key", Some(hint));
        }
        Some(Fields {
            path: path.to_owned(),
            members,
        })
    }

    pub fn bool(&mut self, node: &Node, key: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                let hint = match other {
                    Value::String(s) if s == "true" || s == "false" => {
                        Some(format!("write {s} without quotes"))
                    }
                    Value::Number(n) if n == "0" || n == "1" => {
                        Some("write true or false".to_owned())
                    }
                    _ => None,
                };
                self.expected(node, key, "true or false", hint);
                None
            }
        }
    }

    /// An integer in `lo..=hi`. Numbers written as text or with a fraction get a hint, since
    /// those are the usual slips.
    pub fn integer(
        &mut self,
        node: &Node,
        key: &str,
        lo: i128,
        hi: i128,
        hint: &str,
    ) -> Option<i128> {
        let expected = format!("an integer {lo}-{hi}");
        match (&node.value, node.value.as_integer()) {
            (_, Some(n)) if (lo..=hi).contains(&n) => Some(n),
            (_, Some(_)) => {
                self.expected(node, key, &expected, Some(hint.to_owned()));
                None
            }
            (Value::String(s), _) if s.trim().parse::<i128>().is_ok() => {
                let h = format!("write the number without quotes: {}", s.trim());
                self.expected(node, key, &expected, Some(h));
                None
            }
            (Value::Number(text), None) if text.contains(['.', 'e', 'E']) => {
                self.expected(
                    node,
                    key,
                    &expected,
                    Some("write a whole number".to_owned()),
                );
                None
            }
            _ => {
                self.expected(node, key, &expected, None);
                None
            }
        }
    }

    pub fn port(&mut self, node: &Node, key: &str) -> Option<u16> {
        self.integer(node, key, 1, 65535, "a port is a whole number 1-65535")
            .map(|p| p as u16)
    }

    /// A number in `lo..=hi` (`unit` names what it counts).
    pub fn number(&mut self, node: &Node, key: &str, lo: f64, hi: f64, unit: &str) -> Option<f64> {
        let expected = format!("a number from {lo} to {hi} ({unit})");
        match (&node.value, node.value.as_f64()) {
            (_, Some(x)) if (lo..=hi).contains(&x) => Some(x),
            (Value::String(s), _) if s.trim().parse::<f64>().is_ok() => {
                let h = format!("write the number without quotes: {}", s.trim());
                self.expected(node, key, &expected, Some(h));
                None
            }
            _ => {
                self.expected(node, key, &expected, None);
                None
            }
        }
    }

    pub fn string<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n str> {
        match &node.value {
            Value::String(s) => Some(s),
            _ => {
                self.expected(node, key, "a string in double quotes", None);
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, key: &str, of: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Array(items) => Some(items),
            Value::String(s) => {
                let h = format!("put it in a list: [{s:?}]");
                self.expected(node, key, &format!("a list of {of}"), Some(h));
                None
            }
            _ => {
                self.expected(node, key, &format!("a list of {of}"), None);
                None
            }
        }
    }

    fn bind(&mut self, node: &Node, key: &str) -> Option<IpAddr> {
        let text = self.string(node, key)?;
        values::parse_bind(text)
            .map_err(|r| self.refused(node, key, r))
            .ok()
    }

    /// A list of address ranges; `None` when the list itself is not one (items with errors
    /// are reported and left out).
    pub fn cidrs(&mut self, node: &Node, key: &str) -> Option<Vec<Cidr>> {
        let items = self.list(node, key, "addresses or ranges like \"10.0.0.0/8\"")?;
        let mut out: Vec<(Cidr, Pos)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            let Some(text) = self.string(item, &item_key) else {
                continue;
            };
            match values::parse_cidr(text) {
                Ok(c) => match out.iter().find(|(seen, _)| *seen == c) {
                    Some((_, first)) => {
                        let line = first.line;
                        self.error(
                            item.pos,
                            &item_key,
                            format!("{c} is listed twice (first at line {line})"),
                            Some("keep one of the two".to_owned()),
                        );
                    }
                    None => out.push((c, item.pos)),
                },
                Err(r) => self.refused(item, &item_key, r),
            }
        }
        Some(out.into_iter().map(|(c, _)| c).collect())
    }
}

/// "Did you mean", or where the key belongs, or what the section holds.
fn unknown_key_hint(path: &str, key: &str, known: &[&str]) -> String {
    if let Some(near) = suggest::closest(key, known.iter().copied()) {
        return format!("did you mean `{}`?", join(path, near));
    }
    let elsewhere: Vec<String> = SECTIONS
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

/// Reads the document into a configuration; errors and warnings are left in the walker.
pub fn read(root: &Node, file: &Path, w: &mut Walker<'_>) -> Config {
    let mut cfg = Config {
        origin: Origin::File(file.to_path_buf()),
        ..Config::default()
    };
    let Some(top) = w.object(root, "", TOP) else {
        return cfg;
    };
    let mut ports = PortBook::default();

    if let Some(node) = top.get("interface").filter(|n| n.value != Value::Null) {
        if let Some(name) = w.string(node, "interface") {
            match values::check_interface(name) {
                Ok(()) => cfg.interface = Some(name.to_owned()),
                Err(r) => w.refused(node, "interface", r),
            }
        }
    }
    if let Some(node) = top.get("ntp_server").filter(|n| n.value != Value::Null) {
        cfg.ntp_servers = read_servers(w, node);
    }
    if let Some(node) = top.get("ntp") {
        read_ntp(w, node, &mut cfg);
    }
    if let Some(node) = top.get("ptp") {
        read_ptp(w, node, &mut cfg, &mut ports);
    }
    ports.add("ptp.event_port", cfg.ptp.event_port, None, None);
    ports.add("ptp.general_port", cfg.ptp.general_port, None, None);
    if let Some(node) = top.get("clock") {
        read_clock(w, node, &mut cfg);
    }
    if let Some(node) = top.get("ntp_server_mode") {
        read_ntp_server_mode(w, node, &mut cfg, &mut ports);
    }
    if cfg.ntp_server_mode.enabled {
        let s = &cfg.ntp_server_mode;
        ports.add("ntp_server_mode.port", s.port, None, Some(s.bind));
    }
    if let Some(node) = top.get("query_api") {
        read_query_api(w, node, &mut cfg, &mut ports);
    }
    if cfg.query_api.enabled {
        let q = &cfg.query_api;
        ports.add("query_api.port", q.port, None, Some(q.bind));
    }
    if let Some(node) = top.get("http_status") {
        read_http_status(w, node, &mut cfg);
    }
    if let Some(node) = top.get("state_file") {
        read_state_file(w, node, file, &mut cfg);
    }
    if let Some(node) = top.get("log") {
        read_log(w, node, &mut cfg);
    }
    if let Some(member) = top.member("system") {
        let ptp_source_set = top
            .get("ptp")
            .and_then(|p| match &p.value {
                Value::Object(ms) => ms.iter().find(|m| m.key == "source_allowlist"),
                _ => None,
            })
            .map(|m| m.key_pos);
        legacy::read_system(w, member, ptp_source_set, &mut cfg);
        if top.get("ntp_server").is_none() {
            w.warn(
                member.key_pos,
                "ntp_server",
                "not set: this version runs PTP-only without it (the earlier DanteSync \
                 silently used 10.77.8.2)",
                Some(
                    "add \"ntp_server\": \"<your NTP server>\" to keep correcting the time"
                        .to_owned(),
                ),
            );
        }
    }
    ports.report_conflicts(w);
    let local_stratum = cfg.ntp_server_mode.local_stratum.is_some();
    if cfg.ntp_server_mode.enabled && cfg.ntp_servers.is_empty() && !local_stratum {
        let pos = top
            .member("ntp_server_mode")
            .map_or(root.pos, |m| m.key_pos);
        w.warn(
            pos,
            "ntp_server_mode.enabled",
            "this node serves NTP but has no ntp_server: its clients get this PC's time, \
             which nothing corrects to UTC",
            Some(
                "set ntp_server to an upstream NTP server, or ntp_server_mode.local_stratum \
                 to serve this clock as it is"
                    .to_owned(),
            ),
        );
    }
    if local_stratum && !cfg.ntp_servers.is_empty() {
        let pos = top
            .member("ntp_server_mode")
            .map_or(root.pos, |m| m.key_pos);
        w.warn(
            pos,
            "ntp_server_mode.local_stratum",
            "ignored: this node has an ntp_server, and serves the time it gets from it",
            Some("remove local_stratum, or ntp_server to serve this clock as it is".to_owned()),
        );
    }
    cfg
}

/// The UDP ports the configuration binds, to catch two services on one port before the
/// daemon fails to start with "address in use".
#[derive(Default)]
struct PortBook {
    entries: Vec<(String, u16, Option<Pos>, Option<IpAddr>)>,
}

impl PortBook {
    /// Records a port; `pos` is where the file sets it (`None`: a default). The first record
    /// of a key wins, so a key read from the file is not overwritten by its default.
    fn add(&mut self, key: &str, port: u16, pos: Option<Pos>, bind: Option<IpAddr>) {
        if self.entries.iter().any(|(k, ..)| k == key) {
            return;
        }
        self.entries.push((key.to_owned(), port, pos, bind));
    }

    fn set_bind(&mut self, key: &str, bind: IpAddr) {
        if let Some(e) = self.entries.iter_mut().find(|(k, ..)| k == key) {
            e.3 = Some(bind);
        }
    }

    fn report_conflicts(&self, w: &mut Walker<'_>) {
        for (i, (key, port, pos, bind)) in self.entries.iter().enumerate() {
            for (other, other_port, other_pos, other_bind) in &self.entries[..i] {
                let overlap = match (bind, other_bind) {
                    (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
                    _ => true,
                };
                if port != other_port || !overlap {
                    continue;
                }
                let (at, this, that, that_pos) = match (pos, other_pos) {
                    (Some(p), _) => (*p, key, other, *other_pos),
                    (None, Some(p)) => (*p, other, key, None),
                    (None, None) => continue,
                };
                let where_ = that_pos.map_or(" (its default)".to_owned(), |p| {
                    format!(" (line {})", p.line)
                });
                w.error(
                    at,
                    this,
                    format!("UDP port {port} is also used by {that}{where_}"),
                    Some("give each service its own port".to_owned()),
                );
            }
        }
    }
}

fn read_servers(w: &mut Walker<'_>, node: &Node) -> Vec<ServerAddr> {
    let items: Vec<(&Node, String)> = match &node.value {
        Value::String(_) => vec![(node, "ntp_server".to_owned())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n, format!("ntp_server[{i}]")))
            .collect(),
        _ => {
            w.expected(
                node,
                "ntp_server",
                "a server name or address, or a list of them",
                Some(
                    "e.g. \"ntp_server\": \"10.77.8.2\" or [\"ntp1.lan\", \"ntp2.lan\"]".to_owned(),
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<(ServerAddr, Pos)> = Vec::new();
    for (item, key) in items {
        let Some(text) = w.string(item, &key) else {
            continue;
        };
        match values::parse_server(text) {
            Ok(addr) => match out.iter().find(|(a, _)| *a == addr) {
                Some((_, first)) => {
                    let line = first.line;
                    w.error(
                        item.pos,
                        &key,
                        format!("{addr} is listed twice (first at line {line})"),
                        Some("keep one of the two".to_owned()),
                    );
                }
                None => out.push((addr, item.pos)),
            },
            Err(r) => w.refused(item, &key, r),
        }
    }
    out.into_iter().map(|(a, _)| a).collect()
}

fn read_ntp(w: &mut Walker<'_>, node: &Node, cfg: &mut Config) {
    let Some(f) = w.object(node, "ntp", NTP) else {
        return;
    };
    if let Some(n) = f.get("panic_threshold_s") {
        if n.value == Value::Null {
            cfg.ntp.panic_threshold_s = None;
        } else if let Some(x) = w.number(n, &f.path("panic_threshold_s"), 0.001, 1e9, "seconds") {
            cfg.ntp.panic_threshold_s = Some(x);
        }
    }
    if let Some(n) = f.get("allow_backward_step") {
        if let Some(b) = w.bool(n, &f.path("allow_backward_step")) {
            cfg.ntp.allow_backward_step = b;
        }
    }
    if let Some(n) = f.get("slew_max_offset_us") {
        let key = f.path("slew_max_offset_us");
        if let Some(x) = w.number(n, &key, 0.0, 1_000_000.0, "microseconds") {
            cfg.ntp.slew_max_offset_us = x;
        }
    }
    if let Some(n) = f.get("slew_max_ppm") {
        if let Some(x) = w.number(n, &f.path("slew_max_ppm"), 0.1, 500.0, "ppm") {
            cfg.ntp.slew_max_ppm = x;
        }
    }
}

fn read_ptp(w: &mut Walker<'_>, node: &Node, cfg: &mut Config, ports: &mut PortBook) {
    let Some(f) = w.object(node, "ptp", PTP) else {
        return;
    };
    for (key, slot) in [
        ("event_port", &mut cfg.ptp.event_port),
        ("general_port", &mut cfg.ptp.general_port),
    ] {
        if let Some(n) = f.get(key) {
            let path = f.path(key);
            if let Some(p) = w.port(n, &path) {
                *slot = p;
                ports.add(&path, p, Some(n.pos), None);
            }
        }
    }
    if let Some(n) = f.get("subdomain") {
        let key = f.path("subdomain");
        if let Some(name) = w.string(n, &key) {
            if SUBDOMAINS.contains(&name) {
                cfg.ptp.subdomain = name.to_owned();
            } else {
                let hint = SUBDOMAINS
                    .iter()
                    .find(|s| s.eq_ignore_ascii_case(name))
                    .map(|s| format!("write it in capitals: \"{s}\""))
                    .unwrap_or_else(|| {
                        "Dante uses \"_DFLT\"; the other PTPv1 subdomains are \"_ALT1\", \
                         \"_ALT2\" and \"_ALT3\""
                            .to_owned()
                    });
                w.expected(
                    n,
                    &key,
                    "one of \"_DFLT\", \"_ALT1\", \"_ALT2\", \"_ALT3\"",
                    Some(hint),
                );
            }
        }
    }
    if let Some(n) = f.get("offline_timeout_s") {
        if let Some(x) = w.number(n, &f.path("offline_timeout_s"), 1.0, 3600.0, "seconds") {
            cfg.ptp.offline_timeout_s = x;
        }
    }
    if let Some(n) = f.get("leader_allowlist") {
        cfg.ptp.leader_allowlist = read_uuids(w, n, &f.path("leader_allowlist"));
    }
    if let Some(n) = f.get("source_allowlist") {
        if let Some(list) = w.cidrs(n, &f.path("source_allowlist")) {
            cfg.ptp.source_allowlist = list;
        }
    }
}

fn read_uuids(w: &mut Walker<'_>, node: &Node, key: &str) -> Vec<Uuid> {
    let Some(items) = w.list(node, key, "leader UUIDs like \"00:1d:c1:a1:72:3c\"") else {
        return Vec::new();
    };
    let mut out: Vec<(Uuid, Pos)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        let Some(text) = w.string(item, &item_key) else {
            continue;
        };
        match text.parse::<Uuid>() {
            Ok(uuid) => match out.iter().find(|(u, _)| *u == uuid) {
                Some((_, first)) => {
                    let line = first.line;
                    w.error(
                        item.pos,
                        &item_key,
                        format!("{uuid} is listed twice (first at line {line})"),
                        Some("keep one of the two".to_owned()),
                    );
                }
                None => out.push((uuid, item.pos)),
            },
            Err(_) => w.expected(
                item,
                &item_key,
                "a PTPv1 UUID: six hex bytes like \"00:1d:c1:a1:72:3c\"",
                Some(
                    "a Dante leader's UUID is its MAC address: six pairs of hex digits \
                     separated by `:` or `-` (`dantesync replay` prints the leader's)"
                        .to_owned(),
                ),
            ),
        }
    }
    out.into_iter().map(|(u, _)| u).collect()
}

fn read_clock(w: &mut Walker<'_>, node: &Node, cfg: &mut Config) {
    let Some(f) = w.object(node, "clock", CLOCK) else {
        return;
    };
    let mut simulated = false;
    let mut kind_ok = true;
    if let Some(n) = f.get("kind") {
        let key = f.path("kind");
        match w.string(n, &key) {
            Some("system") => {}
            Some("simulated") => simulated = true,
            Some(other) => {
                kind_ok = false;
                let hint = suggest::closest(other, ["system", "simulated"])
                    .map(|s| format!("did you mean \"{s}\"?"));
                w.expected(n, &key, "\"system\" or \"simulated\"", hint);
            }
            None => kind_ok = false,
        }
    }
    let mut drift_ppm = SIMULATED_DRIFT_PPM;
    let mut offset_ms = SIMULATED_OFFSET_MS;
    for (key, slot, lo, hi, unit) in [
        ("drift_ppm", &mut drift_ppm, -500.0, 500.0, "ppm"),
        (
            "offset_ms",
            &mut offset_ms,
            -8.64e10,
            8.64e10,
            "milliseconds",
        ),
    ] {
        let Some(m) = f.member(key) else {
            continue;
        };
        let path = f.path(key);
        if !simulated && kind_ok {
            w.error(
                m.key_pos,
                &path,
                "applies only to a simulated clock",
                Some(format!(
                    "add \"kind\": \"simulated\" to the clock, or remove {key} (the system \
                     clock's drift is measured, not set)"
                )),
            );
            continue;
        }
        if let Some(x) = w.number(&m.value, &path, lo, hi, unit) {
            *slot = x;
        }
    }
    cfg.clock = if simulated {
        ClockKind::Simulated {
            drift_ppm,
            offset_ms,
        }
    } else {
        ClockKind::System
    };
}

fn read_ntp_server_mode(w: &mut Walker<'_>, node: &Node, cfg: &mut Config, ports: &mut PortBook) {
    let Some(f) = w.object(node, "ntp_server_mode", NTP_SERVER_MODE) else {
        return;
    };
    let s = &mut cfg.ntp_server_mode;
    if let Some(n) = f.get("enabled") {
        if let Some(b) = w.bool(n, &f.path("enabled")) {
            s.enabled = b;
        }
    }
    if let Some(n) = f.get("port") {
        let key = f.path("port");
        if let Some(p) = w.port(n, &key) {
            s.port = p;
            if s.enabled {
                ports.add(&key, p, Some(n.pos), None);
            }
        }
    }
    if let Some(n) = f.get("stratum").filter(|n| n.value != Value::Null) {
        let hint = "1 is a reference clock, 15 the last usable level; remove the key to \
                    announce one more than the upstream server";
        if let Some(x) = w.integer(n, &f.path("stratum"), 1, 15, hint) {
            s.stratum = Some(x as u8);
        }
    }
    if let Some(n) = f.get("local_stratum").filter(|n| n.value != Value::Null) {
        let hint = "a lab or demo master without upstream NTP usually takes 8 to 10, so that a \
                    real NTP server, if one appears, is preferred";
        if let Some(x) = w.integer(n, &f.path("local_stratum"), 1, 15, hint) {
            s.local_stratum = Some(x as u8);
        }
    }
    if let Some(n) = f.get("bind") {
        if let Some(ip) = w.bind(n, &f.path("bind")) {
            s.bind = ip;
            ports.set_bind("ntp_server_mode.port", ip);
        }
    }
    if let Some(n) = f.get("allow") {
        let key = f.path("allow");
        if let Some(list) = w.cidrs(n, &key) {
            if matches!(n.value, Value::Array(ref items) if items.is_empty()) {
                w.error(
                    n.pos,
                    &key,
                    "an empty list is ambiguous here (answer everyone, or no one?)",
                    Some(
                        "remove the key to answer every address, or set \"enabled\": false to \
                         answer none"
                            .to_owned(),
                    ),
                );
            } else {
                s.allow = list;
            }
        }
    }
    if let Some(n) = f.get("deny") {
        if let Some(list) = w.cidrs(n, &f.path("deny")) {
            s.deny = list;
        }
    }
    if let Some(n) = f.get("rate_limit") {
        if let Some(b) = w.bool(n, &f.path("rate_limit")) {
            s.rate_limit = b;
            if !b {
                w.warn(
                    n.pos,
                    &f.path("rate_limit"),
                    "per-client rate limiting is off: one client can make this node answer \
                     as fast as it can send",
                    Some("meant for benchmarks; remove the key in production".to_owned()),
                );
            }
        }
    }
    if let Some(m) = f.member("max_step_us") {
        legacy::obsolete(w, m, &f.path("max_step_us"), legacy::MAX_STEP_US);
    }
}

fn read_query_api(w: &mut Walker<'_>, node: &Node, cfg: &mut Config, ports: &mut PortBook) {
    let Some(f) = w.object(node, "query_api", QUERY_API) else {
        return;
    };
    let q = &mut cfg.query_api;
    if let Some(n) = f.get("enabled") {
        if let Some(b) = w.bool(n, &f.path("enabled")) {
            q.enabled = b;
        }
    }
    if let Some(n) = f.get("port") {
        let key = f.path("port");
        if let Some(p) = w.port(n, &key) {
            q.port = p;
            if q.enabled {
                ports.add(&key, p, Some(n.pos), None);
            }
        }
    }
    if let Some(n) = f.get("bind") {
        if let Some(ip) = w.bind(n, &f.path("bind")) {
            q.bind = ip;
            ports.set_bind("query_api.port", ip);
        }
    }
    if let Some(n) = f.get("allow") {
        let key = f.path("allow");
        if let Some(list) = w.cidrs(n, &key) {
            if list.is_empty() && matches!(n.value, Value::Array(ref items) if items.is_empty()) {
                w.error(
                    n.pos,
                    &key,
                    "an empty list answers no one",
                    Some(
                        "set \"enabled\": false to turn the API off, or list the ranges to \
                         answer"
                            .to_owned(),
                    ),
                );
            } else {
                q.allow = list;
            }
        }
    }
}

fn read_http_status(w: &mut Walker<'_>, node: &Node, cfg: &mut Config) {
    let Some(f) = w.object(node, "http_status", HTTP_STATUS) else {
        return;
    };
    let h = &mut cfg.http_status;
    if let Some(n) = f.get("enabled") {
        if let Some(b) = w.bool(n, &f.path("enabled")) {
            h.enabled = b;
        }
    }
    if let Some(n) = f.get("port") {
        if let Some(p) = w.port(n, &f.path("port")) {
            h.port = p;
        }
    }
    if let Some(n) = f.get("bind") {
        if let Some(ip) = w.bind(n, &f.path("bind")) {
            h.bind = ip;
        }
    }
}

fn read_state_file(w: &mut Walker<'_>, node: &Node, file: &Path, cfg: &mut Config) {
    let Some(text) = w.string(node, "state_file") else {
        return;
    };
    let path = Path::new(text);
    let example = super::settings::default_state_file();
    // Rooted rather than absolute: on Windows `\ProgramData\...` (the current drive) is as
    // good as `C:\...`, while `state.json` would depend on the service's working directory.
    if text.is_empty() || !path.has_root() {
        w.expected(
            node,
            "state_file",
            "an absolute path",
            Some(format!(
                "write a full path, e.g. {:?}",
                example.display().to_string()
            )),
        );
    } else if path == file {
        w.error(
            node.pos,
            "state_file",
            "is the configuration file itself",
            Some(format!(
                "the daemon writes its state there and never writes its configuration: \
                 use another file, e.g. {:?}",
                example.display().to_string()
            )),
        );
    } else {
        cfg.state_file = path.to_path_buf();
    }
}

fn read_log(w: &mut Walker<'_>, node: &Node, cfg: &mut Config) {
    let Some(f) = w.object(node, "log", LOG) else {
        return;
    };
    if let Some(n) = f.get("level") {
        let key = f.path("level");
        if let Some(name) = w.string(n, &key) {
            match LogLevel::from_name(name) {
                Some(level) => cfg.log.level = level,
                None => {
                    let lower = name.to_ascii_lowercase();
                    let hint = if LogLevel::from_name(&lower).is_some() {
                        Some(format!("write it in lower case: \"{lower}\""))
                    } else {
                        suggest::closest(name, LogLevel::NAMES)
                            .map(|s| format!("did you mean \"{s}\"?"))
                    };
                    let names = LogLevel::NAMES.map(|n| format!("\"{n}\"")).join(", ");
                    w.expected(n, &key, &format!("one of {names}"), hint);
                }
            }
        }
    }
}
