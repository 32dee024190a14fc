//! The rules that look at more than one value, or at where a value is written: a list that
//! names something twice, keys that only apply with another key, the state file, the earlier
//! DanteSync's keys, two services on one UDP port, and the warnings about combinations that
//! probably do not do what was meant.

use std::fmt::Display;
use std::net::IpAddr;
use std::path::Path;

use super::de::ClockName;
use super::file::File;
use super::json::{Node, Pos, Value};
use super::legacy;
use super::read::{Doc, Findings};
use super::settings::{default_state_file, same_server, Config};
use super::values::ServerAddr;

/// Fills `cfg` from what serde read, and checks what serde cannot.
pub fn apply(doc: &Doc<'_>, file: &File, f: &mut Findings<'_>, cfg: &mut Config) {
    cfg.interface.clone_from(&file.interface);
    cfg.ntp_servers.clone_from(&file.ntp_server);
    cfg.ntp = file.ntp.clone();
    cfg.ptp = file.ptp.clone();
    cfg.clock = file.clock.clock();
    cfg.ntp_server_mode = file.ntp_server_mode.clone();
    cfg.query_api = file.query_api.clone();
    cfg.http_status = file.http_status.clone();
    cfg.log = file.log.clone();
    cfg.fleet = file.fleet.clone();

    listed_once(doc, f, &["ntp_server"], &file.ntp_server);
    if let Some(list) = &file.ntp.lan_servers {
        listed_once(doc, f, &["ntp", "lan_servers"], list);
        lan_servers_named(doc, list, &file.ntp_server, f);
    }
    listed_once(
        doc,
        f,
        &["ptp", "leader_allowlist"],
        &file.ptp.leader_allowlist,
    );
    listed_once(
        doc,
        f,
        &["ptp", "source_allowlist"],
        &file.ptp.source_allowlist,
    );
    listed_once(
        doc,
        f,
        &["ptp", "leader_preference"],
        &file.ptp.leader_preference,
    );
    let nsm = &file.ntp_server_mode;
    listed_once(doc, f, &["ntp_server_mode", "allow"], &nsm.allow);
    listed_once(doc, f, &["ntp_server_mode", "deny"], &nsm.deny);
    listed_once(doc, f, &["query_api", "allow"], &file.query_api.allow);
    if let Some(list) = file.system.gm_allowlist() {
        listed_once(doc, f, &["system", "gm_allowlist"], list);
    }

    preferred_outside_allowlist(doc, file, f);
    simulated_only(doc, file, f);
    if let Some(text) = &file.state_file {
        state_file(doc, text, f, cfg);
    }
    if let Some(node) = doc.node(&["ntp_server_mode", "rate_limit"]) {
        if !nsm.rate_limit {
            f.warn(
                node.pos,
                "ntp_server_mode.rate_limit",
                "per-client rate limiting is off: one client can make this node answer as fast \
                 as it can send",
                Some("meant for benchmarks; remove the key in production".to_owned()),
            );
        }
    }
    legacy::apply(doc, &file.system, f, cfg);
    udp_ports(doc, cfg, f);
    serving(doc, cfg, f);
}

/// A preferred leader that the allowlist does not let lead is silently never followed: say so.
fn preferred_outside_allowlist(doc: &Doc<'_>, file: &File, f: &mut Findings<'_>) {
    let ptp = &file.ptp;
    let Some(node) = doc.node(&["ptp", "leader_preference"]) else {
        return;
    };
    if ptp.leader_allowlist.is_empty() {
        return;
    }
    for ((index, at), uuid) in doc.items(node).zip(&ptp.leader_preference) {
        if !ptp.leader_allowlist.contains(uuid) {
            f.warn(
                at.pos,
                &format!("ptp.leader_preference[{index}]"),
                format!("{uuid} is preferred but not in ptp.leader_allowlist, so it never leads"),
                Some("add it to ptp.leader_allowlist, or remove it from the preference".to_owned()),
            );
        }
    }
}

/// The values serde must not read, because a rule here reports them instead: the earlier
/// DanteSync's keys inside today's sections, a simulated clock's keys on a clock that is not
/// simulated (their range says nothing then), and `system.gm_allowlist` beside the
/// `ptp.source_allowlist` that replaces it.
pub fn read_after<'n>(doc: &Doc<'n>) -> Vec<&'n Node> {
    let mut out: Vec<&Node> = legacy::SET_ASIDE
        .iter()
        .filter_map(|(section, key)| doc.node(&[section, key]))
        .collect();
    let not_simulated = match doc.node(&["clock", "kind"]).map(|n| &n.value) {
        None => true,
        Some(Value::String(kind)) => kind == "system",
        Some(_) => false,
    };
    if not_simulated {
        out.extend(
            SIMULATED_ONLY
                .iter()
                .filter_map(|k| doc.node(&["clock", k])),
        );
    }
    if doc.member(&["ptp", "source_allowlist"]).is_some() {
        out.extend(doc.node(&["system", "gm_allowlist"]));
    }
    out
}

const SIMULATED_ONLY: [&str; 2] = ["drift_ppm", "offset_ms"];

/// A list that names one thing twice is a slip (or a merge gone wrong).
/// An `ntp.lan_servers` entry that names no `ntp_server` entry makes no server count as on the
/// LAN: a typo or a leftover, worth saying.
fn lan_servers_named(
    doc: &Doc<'_>,
    list: &[ServerAddr],
    servers: &[ServerAddr],
    f: &mut Findings<'_>,
) {
    let Some(node) = doc.node(&["ntp", "lan_servers"]) else {
        return;
    };
    let nodes: Vec<_> = doc.items(node).collect();
    for ((index, at), item) in nodes.into_iter().zip(list) {
        if !servers.iter().any(|s| same_server(s, item)) {
            f.warn(
                at.pos,
                &format!("ntp.lan_servers[{index}]"),
                format!(
                    "{item} is none of the ntp_server entries, so it puts no server on the LAN"
                ),
                Some(
                    "write it as ntp_server writes it (the same name or address, and port)"
                        .to_owned(),
                ),
            );
        }
    }
}

fn listed_once<T: PartialEq + Display>(
    doc: &Doc<'_>,
    f: &mut Findings<'_>,
    path: &[&str],
    items: &[T],
) {
    let Some(node) = doc.node(path) else {
        return;
    };
    if !matches!(node.value, Value::Array(_)) {
        return;
    }
    let key = path.join(".");
    let nodes: Vec<_> = doc.items(node).collect();
    for (i, item) in items.iter().enumerate() {
        let Some(first) = items[..i].iter().position(|seen| seen == item) else {
            continue;
        };
        let (index, at) = nodes[i];
        f.error(
            at.pos,
            &format!("{key}[{index}]"),
            format!(
                "{item} is listed twice (first at line {})",
                nodes[first].1.pos.line
            ),
            Some("keep one of the two".to_owned()),
        );
    }
}

/// `clock.drift_ppm` and `clock.offset_ms` describe a simulated clock.
fn simulated_only(doc: &Doc<'_>, file: &File, f: &mut Findings<'_>) {
    let kind = file.clock.kind;
    // A refused kind was reported; what the other keys mean depends on what was meant.
    let kind_refused = doc.has(&["clock", "kind"]) && kind.is_none();
    if kind == Some(ClockName::Simulated) || kind_refused {
        return;
    }
    for key in SIMULATED_ONLY {
        if let Some(m) = doc.member(&["clock", key]) {
            f.error(
                m.key_pos,
                &format!("clock.{key}"),
                "applies only to a simulated clock",
                Some(format!(
                    "add \"kind\": \"simulated\" to the clock, or remove {key} (the system \
                     clock's drift is measured, not set)"
                )),
            );
        }
    }
}

fn state_file(doc: &Doc<'_>, text: &str, f: &mut Findings<'_>, cfg: &mut Config) {
    let Some(node) = doc.node(&["state_file"]) else {
        return;
    };
    let path = Path::new(text);
    let example = default_state_file();
    // Rooted rather than absolute: on Windows `\ProgramData\...` (the current drive) is as
    // good as `C:\...`, while `state.json` would depend on the service's working directory.
    if text.is_empty() || !path.has_root() {
        f.expected(
            node,
            "state_file",
            "an absolute path",
            Some(format!(
                "write a full path, e.g. {:?}",
                example.display().to_string()
            )),
        );
    } else if path == f.file() {
        f.error(
            node.pos,
            "state_file",
            "is the configuration file itself",
            Some(format!(
                "the daemon writes its state there and never writes its configuration: use \
                 another file, e.g. {:?}",
                example.display().to_string()
            )),
        );
    } else {
        cfg.state_file = path.to_path_buf();
    }
}

/// The UDP ports the configuration binds, to catch two services on one port before the
/// daemon fails to start with "address in use". HTTP is TCP and may share a number.
fn udp_ports(doc: &Doc<'_>, cfg: &Config, f: &mut Findings<'_>) {
    let at = |path: &[&str]| doc.node(path).map(|n| n.pos);
    let mut entries: Vec<(&str, u16, Option<Pos>, Option<IpAddr>)> = vec![
        (
            "ptp.event_port",
            cfg.ptp.event_port,
            at(&["ptp", "event_port"]),
            None,
        ),
        (
            "ptp.general_port",
            cfg.ptp.general_port,
            at(&["ptp", "general_port"]),
            None,
        ),
    ];
    let s = &cfg.ntp_server_mode;
    if s.enabled {
        let pos = at(&["ntp_server_mode", "port"]);
        entries.push(("ntp_server_mode.port", s.port, pos, Some(s.bind)));
    }
    let q = &cfg.query_api;
    if q.enabled {
        let pos = at(&["query_api", "port"]);
        entries.push(("query_api.port", q.port, pos, Some(q.bind)));
    }
    for (i, (key, port, pos, bind)) in entries.iter().enumerate() {
        for (other, other_port, other_pos, other_bind) in &entries[..i] {
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
            f.error(
                at,
                this,
                format!("UDP port {port} is also used by {that}{where_}"),
                Some("give each service its own port".to_owned()),
            );
        }
    }
}

/// What the NTP server serves, when the file probably means something else.
fn serving(doc: &Doc<'_>, cfg: &Config, f: &mut Findings<'_>) {
    let pos = doc
        .member(&["ntp_server_mode"])
        .map_or(doc.root_pos(), |m| m.key_pos);
    let local_stratum = cfg.ntp_server_mode.local_stratum.is_some();
    if cfg.ntp_server_mode.enabled && cfg.ntp_servers.is_empty() && !local_stratum {
        f.warn(
            pos,
            "ntp_server_mode.enabled",
            "this node serves NTP but has no ntp_server: its clients get this PC's time, which \
             nothing corrects to UTC",
            Some(
                "set ntp_server to an upstream NTP server, or ntp_server_mode.local_stratum to \
                 serve this clock as it is"
                    .to_owned(),
            ),
        );
    }
    if local_stratum && !cfg.ntp_servers.is_empty() {
        f.warn(
            pos,
            "ntp_server_mode.local_stratum",
            "ignored: this node has an ntp_server, and serves the time it gets from it",
            Some("remove local_stratum, or ntp_server to serve this clock as it is".to_owned()),
        );
    }
}
