//! The earlier DanteSync's keys that have no place in this configuration.
//!
//! Its files keep working: `ntp_server`, `ntp_server_mode.{enabled,port,stratum}` and
//! `http_status.{enabled,port}` are read as they are. What lived under `system`
//! tuned machinery this version does not have; those keys are accepted so an upgrade never
//! stops a node, and each one is named in a warning so the operator learns it no longer acts.
//! The one that still means something, `system.gm_allowlist`, is applied as
//! `ptp.source_allowlist`.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::de;
use super::json::{Member, Pos, Value};
use super::read::{is_comment, join, Doc, Findings};
use super::settings::Config;
use super::values::Cidr;

/// The earlier `system` object. Every key but `gm_allowlist` is read only to be named in a
/// warning, whatever it holds.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct System {
    servo: Option<IgnoredAny>,
    filters: Option<IgnoredAny>,
    ntp_stale_secs: Option<IgnoredAny>,
    #[serde(deserialize_with = "de::some_cidrs")]
    gm_allowlist: Option<Vec<Cidr>>,
    phase_slew: Option<IgnoredAny>,
    dscp: Option<IgnoredAny>,
    clock_alarm_interval_s: Option<IgnoredAny>,
    clock_discipline: Option<IgnoredAny>,
    date_offset: Option<IgnoredAny>,
}

impl System {
    pub fn gm_allowlist(&self) -> Option<&[Cidr]> {
        self.gm_allowlist.as_deref()
    }
}

/// Earlier keys inside sections of this schema, `(section, key)`: set aside before the
/// section is read, and warned about.
pub const SET_ASIDE: [(&str, &str); 1] = [("ntp_server_mode", "max_step_us")];

/// Why an earlier key no longer acts, and what to do about it.
#[derive(Clone, Copy, Debug)]
pub struct Obsolete {
    pub reason: &'static str,
    pub fix: &'static str,
}

const MAX_STEP_US: Obsolete = Obsolete {
    reason: "this version steps or slews the whole confirmed offset; a correction beyond \
             ntp.panic_threshold_s is refused instead of cut into pieces",
    fix: "remove it; ntp.panic_threshold_s and ntp.slew_max_offset_us set the limits",
};

const SERVO: Obsolete = Obsolete {
    reason: "the earlier servo's gains no longer apply: the rate estimator and frequency \
             policy have no gains to set",
    fix: "remove it",
};
const FILTERS: Obsolete = Obsolete {
    reason: "the earlier servo's filters no longer apply: the rate estimator fits every \
             sample and rejects outliers itself",
    fix: "remove it",
};
const NTP_STALE: Obsolete = Obsolete {
    reason: "the NTP status reports when the last check succeeded; there is no staleness \
             window to set",
    fix: "remove it",
};
const PHASE_SLEW: Obsolete = Obsolete {
    reason: "small corrections are always slewed",
    fix: "remove it; ntp.slew_max_offset_us sets how large a correction may be slewed",
};
const DSCP: Obsolete = Obsolete {
    reason: "this version does not mark its packets",
    fix: "remove it; mark NTP traffic with a QoS policy on the host or switch if needed",
};
const CLOCK_ALARM: Obsolete = Obsolete {
    reason: "there is no repeating alarm: each change of mode is logged once when it happens",
    fix: "remove it",
};
const CLOCK_DISCIPLINE: Obsolete = Obsolete {
    reason: "there is one discipline: PTP sets the clock's rate, NTP its time",
    fix: "remove it",
};
const DATE_OFFSET: Obsolete = Obsolete {
    reason: "there is no fleet date offset: every node corrects its time against its NTP \
             server (the NTP master's, for the others)",
    fix: "remove it",
};

/// Why each ignored key of the earlier `system` object no longer acts.
fn system_key(key: &str) -> Option<Obsolete> {
    Some(match key {
        "servo" => SERVO,
        "filters" => FILTERS,
        "ntp_stale_secs" => NTP_STALE,
        "phase_slew" => PHASE_SLEW,
        "dscp" => DSCP,
        "clock_alarm_interval_s" => CLOCK_ALARM,
        "clock_discipline" => CLOCK_DISCIPLINE,
        "date_offset" => DATE_OFFSET,
        _ => return None,
    })
}

/// Warns about `member` and, when it is an object, about each key inside it, so every
/// ignored setting is named where it is written.
fn obsolete(f: &mut Findings<'_>, member: &Member, path: &str, why: Obsolete) {
    let mut leaves: Vec<(String, Pos)> = Vec::new();
    collect_leaves(member, path, &mut leaves);
    for (key, pos) in leaves {
        f.warn(
            pos,
            &key,
            format!("ignored: {}", why.reason),
            Some(why.fix.to_owned()),
        );
    }
}

fn collect_leaves(member: &Member, path: &str, out: &mut Vec<(String, Pos)>) {
    match &member.value.value {
        Value::Object(members) if !members.is_empty() => {
            for m in members.iter().filter(|m| !is_comment(&m.key)) {
                collect_leaves(m, &join(path, &m.key), out);
            }
        }
        _ => out.push((path.to_owned(), member.key_pos)),
    }
}

/// The earlier keys the file holds: each ignored one named in a warning, `gm_allowlist`
/// applied as `ptp.source_allowlist` (the same setting twice is an error, not a merge).
pub fn apply(doc: &Doc<'_>, system: &System, f: &mut Findings<'_>, cfg: &mut Config) {
    if let Some(m) = doc.member(&["ntp_server_mode", "max_step_us"]) {
        obsolete(f, m, "ntp_server_mode.max_step_us", MAX_STEP_US);
    }
    let Some(section) = doc.member(&["system"]) else {
        return;
    };
    for m in doc.members(&section.value) {
        let path = join("system", &m.key);
        if let Some(why) = system_key(&m.key) {
            obsolete(f, m, &path, why);
        } else if m.key == "gm_allowlist" {
            gm_allowlist(doc, m, system, f, cfg);
        }
    }
    if doc.member(&["ntp_server"]).is_none() {
        f.warn(
            section.key_pos,
            "ntp_server",
            "not set: this version runs PTP-only without it (the earlier DanteSync silently \
             used 10.77.8.2)",
            Some(
                "add \"ntp_server\": \"<your NTP server>\" to keep correcting the time".to_owned(),
            ),
        );
    }
}

fn gm_allowlist(
    doc: &Doc<'_>,
    m: &Member,
    system: &System,
    f: &mut Findings<'_>,
    cfg: &mut Config,
) {
    if let Some(other) = doc.member(&["ptp", "source_allowlist"]) {
        f.error(
            m.key_pos,
            "system.gm_allowlist",
            format!(
                "set together with ptp.source_allowlist (line {}), which replaces it",
                other.key_pos.line
            ),
            Some("keep only ptp.source_allowlist".to_owned()),
        );
        return;
    }
    if let Some(list) = &system.gm_allowlist {
        cfg.ptp.source_allowlist = list.clone();
    }
    f.warn(
        m.key_pos,
        "system.gm_allowlist",
        "applied as ptp.source_allowlist: PTP from any other source address is dropped",
        Some("move the list to \"ptp\": { \"source_allowlist\": [...] }".to_owned()),
    );
}
