//! The earlier DanteSync's keys that have no place in this schema.
//!
//! Its files keep working: `ntp_server`, `ntp_server_mode.{enabled,port,stratum}` and
//! `http_status.{enabled,port}` are read by the schema as they are. What lived under `system`
//! tuned machinery this version does not have; those keys are accepted so an upgrade never
//! stops a node, and each one is named in a warning so the operator learns it no longer acts.
//! The one that still means something, `system.gm_allowlist`, is applied as
//! `ptp.source_allowlist`.

use super::json::{Member, Pos, Value};
use super::schema::{self, Walker};
use super::settings::Config;

/// The keys of the earlier `system` object.
pub const SYSTEM: &[&str] = &[
    "servo",
    "filters",
    "ntp_stale_secs",
    "gm_allowlist",
    "phase_slew",
    "dscp",
    "clock_alarm_interval_s",
    "clock_discipline",
    "date_offset",
];

/// Why an earlier key no longer acts, and what to do about it.
#[derive(Clone, Copy, Debug)]
pub struct Obsolete {
    pub reason: &'static str,
    pub fix: &'static str,
}

pub const MAX_STEP_US: Obsolete = Obsolete {
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

/// Warns about `member` and, when it is an object, about each key inside it, so every
/// ignored setting is named where it is written.
pub fn obsolete(w: &mut Walker<'_>, member: &Member, path: &str, why: Obsolete) {
    let mut leaves: Vec<(String, Pos)> = Vec::new();
    collect_leaves(member, path, &mut leaves);
    for (key, pos) in leaves {
        w.warn(
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
            for m in members.iter().filter(|m| !schema::is_comment(&m.key)) {
                collect_leaves(m, &schema::join(path, &m.key), out);
            }
        }
        _ => out.push((path.to_owned(), member.key_pos)),
    }
}

/// Reads the earlier `system` object. `ptp_source_set` is where the file also sets
/// `ptp.source_allowlist`, if it does: the same setting twice is an error, not a merge.
pub fn read_system(
    w: &mut Walker<'_>,
    member: &Member,
    ptp_source_set: Option<Pos>,
    cfg: &mut Config,
) {
    let Some(f) = w.object(&member.value, "system", SYSTEM) else {
        return;
    };
    for m in f.keyed() {
        // A key given twice was reported by `object`; only its first copy is read.
        if !f.member(&m.key).is_some_and(|first| std::ptr::eq(first, m)) {
            continue;
        }
        let path = f.path(&m.key);
        let why = match m.key.as_str() {
            "servo" => SERVO,
            "filters" => FILTERS,
            "ntp_stale_secs" => NTP_STALE,
            "phase_slew" => PHASE_SLEW,
            "dscp" => DSCP,
            "clock_alarm_interval_s" => CLOCK_ALARM,
            "clock_discipline" => CLOCK_DISCIPLINE,
            "date_offset" => DATE_OFFSET,
            "gm_allowlist" => {
                read_gm_allowlist(w, m, &path, ptp_source_set, cfg);
                continue;
            }
            // Unknown keys were reported by `object`.
            _ => continue,
        };
        obsolete(w, m, &path, why);
    }
}

fn read_gm_allowlist(
    w: &mut Walker<'_>,
    m: &Member,
    path: &str,
    ptp_source_set: Option<Pos>,
    cfg: &mut Config,
) {
    if let Some(other) = ptp_source_set {
        w.error(
            m.key_pos,
            path,
            format!(
                "set together with ptp.source_allowlist (line {}), which replaces it",
                other.line
            ),
            Some("keep only ptp.source_allowlist".to_owned()),
        );
        return;
    }
    let before = w.errors.len();
    if let Some(list) = w.cidrs(&m.value, path) {
        if w.errors.len() == before {
            cfg.ptp.source_allowlist = list;
        }
    }
    w.warn(
        m.key_pos,
        path,
        "applied as ptp.source_allowlist: PTP from any other source address is dropped",
        Some("move the list to \"ptp\": { \"source_allowlist\": [...] }".to_owned()),
    );
}
