//! The file's `fleet` object: fleet mode's phase loop (used with `sync_mode` "fleet"), the
//! authority's UTC policy for D (on the NTP master) and where a fleet client asks for D.
//! `docs/fleet.md` says when to choose which policy.

use dantesync_core::fleet::{AuthorityConfig, FleetConfig, UtcPolicy};
use serde::{Deserialize, Deserializer};

use super::de::expected;

/// The query API's port, where an authority answers fleet requests by default.
pub const AUTHORITY_PORT: u16 = 31900;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetSettings {
    /// The most frequency the phase loop adds to the rate servo's, ppm.
    #[serde(deserialize_with = "super::de::fleet_max_slew_ppm")]
    pub max_slew_ppm: f64,
    /// How long the last announcement of D is used without a fresh one before falling back
    /// to classic, s.
    #[serde(deserialize_with = "super::de::fleet_hold_s")]
    pub hold_s: f64,
    /// Before the first fleet lock, a larger phase error is removed by one step, µs.
    #[serde(deserialize_with = "super::de::fleet_step_threshold_us")]
    pub step_threshold_us: f64,
    /// Step a scheduled correction of D at its leader instant (else slew it away).
    #[serde(deserialize_with = "super::de::flag")]
    pub step_scheduled: bool,
    /// `"slew"`, `"scheduled"` or `"none"`.
    #[serde(deserialize_with = "utc_policy")]
    pub utc_policy: UtcPolicy,
    /// `scheduled`: the daily correction's time, `"HH:MM"` UTC, as seconds after midnight.
    #[serde(deserialize_with = "daily_time")]
    pub daily_time: u32,
    /// Scheduled corrections are multiples of this (ms); 0 leaves them exact.
    #[serde(deserialize_with = "quantum_ms")]
    pub quantum_ms: f64,
    /// How long ahead a correction is announced (s).
    #[serde(deserialize_with = "lead_s")]
    pub lead_s: f64,
    /// D this far from UTC (ms) brings a correction at once (`slew`, `scheduled`).
    #[serde(deserialize_with = "emergency_limit_ms")]
    pub emergency_limit_ms: f64,
    /// `slew`: the largest rate at which D follows UTC (ppm).
    #[serde(deserialize_with = "utc_slew_max_ppm")]
    pub utc_slew_max_ppm: f64,
    /// Where a fleet client asks for D, `"host"` or `"host:port"`; None: the first
    /// `ntp_server`, port 31900.
    #[serde(deserialize_with = "authority")]
    pub authority: Option<(String, u16)>,
    /// How often a fleet client asks (s).
    #[serde(deserialize_with = "authority_poll_s")]
    pub authority_poll_s: f64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        let core = AuthorityConfig::default();
        let node = FleetConfig::default();
        FleetSettings {
            max_slew_ppm: node.max_slew_ppm,
            hold_s: node.hold_s,
            step_threshold_us: node.step_threshold_us,
            step_scheduled: node.step_scheduled,
            utc_policy: core.policy,
            daily_time: core.daily_utc_s,
            quantum_ms: core.quantum_ns as f64 * 1e-6,
            lead_s: core.lead_s,
            emergency_limit_ms: core.emergency_limit_ns as f64 * 1e-6,
            utc_slew_max_ppm: core.slew_max_ppb as f64 * 1e-3,
            authority: None,
            authority_poll_s: 5.0,
        }
    }
}

impl FleetSettings {
    /// The authority's configuration from this section.
    pub fn authority_config(&self) -> AuthorityConfig {
        AuthorityConfig {
            policy: self.utc_policy,
            daily_utc_s: self.daily_time,
            quantum_ns: (self.quantum_ms * 1e6).round() as i64,
            lead_s: self.lead_s,
            emergency_limit_ns: (self.emergency_limit_ms * 1e6).round() as i64,
            slew_max_ppb: (self.utc_slew_max_ppm * 1e3).round() as i64,
            ..AuthorityConfig::default()
        }
    }
}

impl FleetSettings {
    /// One line for `dantesync config check`: the authority's policy when this node is the
    /// fleet's authority, and where it asks for D when it polls.
    pub fn summary(&self, authority: bool) -> String {
        let mut parts = Vec::new();
        if authority {
            let limit = format!("a correction at once beyond {} ms", self.emergency_limit_ms);
            let policy = match self.utc_policy {
                UtcPolicy::Scheduled => format!(
                    "scheduled: daily at {:02}:{:02} UTC in steps of {} ms, announced {} s \
                     ahead, {limit}",
                    self.daily_time / 3600,
                    self.daily_time % 3600 / 60,
                    self.quantum_ms,
                    self.lead_s
                ),
                UtcPolicy::Slew => format!(
                    "slew: D follows UTC at most {} ppm, {limit}",
                    self.utc_slew_max_ppm
                ),
                UtcPolicy::None => "none: D is set once and never follows UTC".to_owned(),
            };
            parts.push(format!("authority for D (the NTP master), {policy}"));
        }
        if let Some((host, port)) = &self.authority {
            parts.push(format!(
                "asks {host}:{port} for D every {} s",
                self.authority_poll_s
            ));
        }
        if parts.is_empty() {
            "not the authority for D, does not ask for it".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

fn utc_policy<'de, D: Deserializer<'de>>(d: D) -> Result<UtcPolicy, D::Error> {
    let name = String::deserialize(d)?;
    UtcPolicy::from_name(&name).ok_or_else(|| {
        expected(
            "one of \"slew\", \"scheduled\", \"none\"",
            Some("see docs/fleet.md for when to choose which".to_owned()),
        )
    })
}

/// "HH:MM" (UTC) as seconds after midnight.
pub fn parse_daily_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

fn daily_time<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    parse_daily_time(&text).ok_or_else(|| {
        expected(
            "a time of day \"HH:MM\" in UTC",
            Some("for example \"03:00\"".to_owned()),
        )
    })
}

fn ranged<'de, D: Deserializer<'de>>(d: D, lo: f64, hi: f64, unit: &str) -> Result<f64, D::Error> {
    let x = f64::deserialize(d)?;
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(expected(
            format!("a number of {unit} from {lo} to {hi}"),
            None,
        ))
    }
}

fn quantum_ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    ranged(d, 0.0, 10_000.0, "milliseconds")
}

fn lead_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    ranged(d, 5.0, 3_600.0, "seconds")
}

fn emergency_limit_ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    ranged(d, 1.0, 86_400_000.0, "milliseconds")
}

fn utc_slew_max_ppm<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    ranged(d, 0.001, 500.0, "ppm")
}

fn authority_poll_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    ranged(d, 0.5, 60.0, "seconds")
}

/// "host", "host:port", "[v6]" or "[v6]:port"; the port defaults to 31900.
pub fn parse_authority(text: &str) -> Option<(String, u16)> {
    if text.is_empty() || text.trim() != text {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => AUTHORITY_PORT,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => {
            Some((host.to_owned(), port.parse().ok().filter(|&p| p != 0)?))
        }
        // A bare IPv6 address.
        Some(_) => Some((text.to_owned(), AUTHORITY_PORT)),
        None => Some((text.to_owned(), AUTHORITY_PORT)),
    }
}

fn authority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(String, u16)>, D::Error> {
    let text = String::deserialize(d)?;
    parse_authority(&text).map(Some).ok_or_else(|| {
        expected(
            "an address \"host\" or \"host:port\"",
            Some("the port defaults to 31900, the query API's".to_owned()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_times_and_authority_addresses_parse() {
        assert_eq!(parse_daily_time("03:00"), Some(10_800));
        assert_eq!(parse_daily_time("23:59"), Some(86_340));
        assert_eq!(parse_daily_time("24:00"), None);
        assert_eq!(parse_daily_time("3:00"), None);
        assert_eq!(
            parse_authority("10.0.0.5"),
            Some(("10.0.0.5".into(), 31900))
        );
        assert_eq!(
            parse_authority("master.local:4000"),
            Some(("master.local".into(), 4000))
        );
        assert_eq!(parse_authority("[::1]:9"), Some(("::1".into(), 9)));
        assert_eq!(parse_authority("fe80::1"), Some(("fe80::1".into(), 31900)));
        assert_eq!(parse_authority("host:0"), None);
        assert_eq!(parse_authority(" host"), None);
    }

    #[test]
    fn the_summary_says_the_policy_and_the_authority_asked() {
        let f = FleetSettings {
            authority: Some(("10.0.0.5".into(), 31900)),
            ..FleetSettings::default()
        };
        assert_eq!(
            f.summary(true),
            "authority for D (the NTP master), scheduled: daily at 03:00 UTC in steps of 200 ms, \
             announced 30 s ahead, a correction at once beyond 2000 ms; asks 10.0.0.5:31900 \
             for D every 5 s"
        );
        let slew = FleetSettings {
            utc_policy: UtcPolicy::Slew,
            ..FleetSettings::default()
        };
        assert_eq!(
            slew.summary(true),
            "authority for D (the NTP master), slew: D follows UTC at most 20 ppm, a correction \
             at once beyond 2000 ms"
        );
        assert_eq!(
            FleetSettings::default().summary(false),
            "not the authority for D, does not ask for it"
        );
    }

    #[test]
    fn the_defaults_are_the_cores() {
        assert_eq!(
            FleetSettings::default().authority_config(),
            AuthorityConfig::default()
        );
    }
}
