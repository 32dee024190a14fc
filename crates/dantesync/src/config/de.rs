//! How each kind of value is read from the file: the `deserialize_with` readers the setting
//! structs name, each refusing a wrong value with the words an operator needs.
//!
//! A reader says only what it expected (or why it refused the text) and how to fix it; the
//! value it found is described by the caller from the file's own text (see `read.rs`), so
//! `1e400` is quoted as written rather than as the number serde saw. That problem crosses
//! serde as the error's text, in the form [`Problem::decode`] reads back.

use std::fmt;
use std::net::IpAddr;

use dantesync_core::wire::ptpv1::Uuid;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::settings::LogLevel;
use super::suggest;
use super::values::{self, Cidr, Refusal, ServerAddr};

/// Separates the parts of a [`Problem`] inside a serde error's text.
const SEP: char = '\u{1f}';

/// What a reader found wrong with one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// "expected {what}, found ..." (the caller names what was found).
    Expected { what: String, hint: Option<String> },
    /// The text was read and refused, with its own message.
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// An error serde made itself (an unknown field, for one).
    Serde(String),
}

fn encode<E: de::Error>(tag: &str, first: &str, hint: Option<String>) -> E {
    E::custom(format!(
        "{tag}{SEP}{first}{SEP}{}",
        hint.unwrap_or_default()
    ))
}

pub fn expected<E: de::Error>(what: impl fmt::Display, hint: Option<String>) -> E {
    encode("E", &what.to_string(), hint)
}

pub fn refused<E: de::Error>(r: Refusal) -> E {
    encode("R", &r.message, r.hint)
}

impl Problem {
    pub fn decode(text: &str) -> Problem {
        let parts: Vec<&str> = text.splitn(3, SEP).collect();
        let hint = |h: &str| (!h.is_empty()).then(|| h.to_owned());
        match parts[..] {
            ["E", what, h] => Problem::Expected {
                what: what.to_owned(),
                hint: hint(h),
            },
            ["R", message, h] => Problem::Refused {
                message: message.to_owned(),
                hint: hint(h),
            },
            _ => Problem::Serde(text.to_owned()),
        }
    }
}

/// One JSON value as a reader sees it; lists and objects are only named.
#[derive(Debug)]
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List,
    Object,
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Raw, E> {
        Ok(Raw::Int(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Raw, E> {
        Ok(Raw::Int(n.into()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Raw, E> {
        Ok(Raw::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Raw, E> {
        Ok(Raw::Str(s.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::List)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Object)
    }
}

fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
    d.deserialize_any(RawVisitor)
}

fn string_of<E: de::Error>(raw: Raw) -> Result<String, E> {
    match raw {
        Raw::Str(s) => Ok(s),
        _ => Err(expected("a string in double quotes", None)),
    }
}

pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match raw(d)? {
        Raw::Bool(b) => Ok(b),
        other => {
            let hint = match other {
                Raw::Str(s) if s == "true" || s == "false" => {
                    Some(format!("write {s} without quotes"))
                }
                Raw::Int(0 | 1) => Some("write true or false".to_owned()),
                _ => None,
            };
            Err(expected("true or false", hint))
        }
    }
}

/// An integer in `lo..=hi`. Numbers written as text or with a fraction get a hint, since
/// those are the usual slips; `hint` explains the range.
fn integer<E: de::Error>(raw: Raw, lo: i128, hi: i128, hint: &str) -> Result<i128, E> {
    let what = format!("an integer {lo}-{hi}");
    match raw {
        Raw::Int(n) if (lo..=hi).contains(&n) => Ok(n),
        Raw::Int(_) => Err(expected(what, Some(hint.to_owned()))),
        Raw::Str(s) if s.trim().parse::<i128>().is_ok() => Err(expected(
            what,
            Some(format!("write the number without quotes: {}", s.trim())),
        )),
        Raw::Float(_) => Err(expected(what, Some("write a whole number".to_owned()))),
        _ => Err(expected(what, None)),
    }
}

/// A number in `lo..=hi` (`unit` names what it counts).
fn number<E: de::Error>(raw: Raw, lo: f64, hi: f64, unit: &str) -> Result<f64, E> {
    let what = format!("a number from {lo} to {hi} ({unit})");
    let x = match raw {
        Raw::Int(n) => n as f64,
        Raw::Float(x) => x,
        Raw::Str(s) if s.trim().parse::<f64>().is_ok() => {
            let hint = format!("write the number without quotes: {}", s.trim());
            return Err(expected(what, Some(hint)));
        }
        _ => return Err(expected(what, None)),
    };
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(expected(what, None))
    }
}

pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    integer(raw(d)?, 1, 65535, "a port is a whole number 1-65535").map(|p| p as u16)
}

/// `null` is the same as leaving the key out.
fn stratum_or_null<'de, D: Deserializer<'de>>(d: D, hint: &str) -> Result<Option<u8>, D::Error> {
    match raw(d)? {
        Raw::Null => Ok(None),
        other => integer(other, 1, 15, hint).map(|n| Some(n as u8)),
    }
}

pub fn stratum<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    stratum_or_null(
        d,
        "1 is a reference clock, 15 the last usable level; remove the key to announce one \
         more than the upstream server",
    )
}

pub fn local_stratum<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    stratum_or_null(
        d,
        "a lab or demo master without upstream NTP usually takes 8 to 10, so that a real NTP \
         server, if one appears, is preferred",
    )
}

/// Readers of numbers with a range, one per kind of quantity the file holds.
macro_rules! ranged {
    ($($(#[$doc:meta])* $name:ident: $lo:expr, $hi:expr, $unit:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            number(raw(d)?, $lo, $hi, $unit)
        }
    )*};
}

ranged! {
    slew_max_offset_us: 0.0, 1_000_000.0, "microseconds";
    slew_max_ppm: 0.1, 500.0, "ppm";
    offline_timeout_s: 1.0, 3600.0, "seconds";
    leader_preference_hold_s: 0.0, 86400.0, "seconds";
    delay_request_interval_s: 0.0, 3600.0, "seconds";
    fleet_max_slew_ppm: 0.1, 500.0, "ppm";
    fleet_hold_s: 1.0, 604800.0, "seconds";
    fleet_step_threshold_us: 1.0, 1e9, "microseconds";
    drift_ppm: -500.0, 500.0, "ppm";
    offset_ms: -8.64e10, 8.64e10, "milliseconds";
}

/// `null` never refuses.
pub fn panic_threshold_s<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match raw(d)? {
        Raw::Null => Ok(None),
        other => number(other, 0.001, 1e9, "seconds").map(Some),
    }
}

pub fn some_drift_ppm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    drift_ppm(d).map(Some)
}

pub fn some_offset_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    offset_ms(d).map(Some)
}

/// A string, checked later against the rest of the file (`state_file`).
pub fn some_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_of(raw(d)?).map(Some)
}

/// The PTPv1 subdomains that have a multicast group; Dante leaders use `_DFLT`.
pub const SUBDOMAINS: [&str; 4] = ["_DFLT", "_ALT1", "_ALT2", "_ALT3"];

pub fn subdomain<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = string_of(raw(d)?)?;
    if SUBDOMAINS.contains(&name.as_str()) {
        return Ok(name);
    }
    let hint = SUBDOMAINS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(&name))
        .map(|s| format!("write it in capitals: \"{s}\""))
        .unwrap_or_else(|| {
            "Dante uses \"_DFLT\"; the other PTPv1 subdomains are \"_ALT1\", \"_ALT2\" and \
             \"_ALT3\""
                .to_owned()
        });
    Err(expected(
        "one of \"_DFLT\", \"_ALT1\", \"_ALT2\", \"_ALT3\"",
        Some(hint),
    ))
}

pub fn log_level<'de, D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
    let name = string_of(raw(d)?)?;
    if let Some(level) = LogLevel::from_name(&name) {
        return Ok(level);
    }
    let lower = name.to_ascii_lowercase();
    let hint = if LogLevel::from_name(&lower).is_some() {
        Some(format!("write it in lower case: \"{lower}\""))
    } else {
        suggest::closest(&name, LogLevel::NAMES).map(|s| format!("did you mean \"{s}\"?"))
    };
    let names = LogLevel::NAMES.map(|n| format!("\"{n}\"")).join(", ");
    Err(expected(format!("one of {names}"), hint))
}

pub fn bind<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    values::parse_bind(&string_of(raw(d)?)?).map_err(refused)
}

/// `null`: the subdomain's group at the event port; else `"a.b.c.d:port"`.
pub fn delay_request_to<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddrV4>, D::Error> {
    match raw(d)? {
        Raw::Null => Ok(None),
        other => {
            let text = string_of(other)?;
            text.parse().map(Some).map_err(|_| {
                expected(
                    "an IPv4 address and port such as \"10.0.0.5:319\"".to_owned(),
                    None,
                )
            })
        }
    }
}

/// `null` lets the daemon choose.
pub fn interface<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match raw(d)? {
        Raw::Null => Ok(None),
        other => {
            let name = string_of(other)?;
            values::check_interface(&name).map_err(refused)?;
            Ok(Some(name))
        }
    }
}

/// Which clock `clock.kind` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockName {
    System,
    Simulated,
}

pub fn clock_kind<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClockName>, D::Error> {
    match string_of(raw(d)?)?.as_str() {
        "system" => Ok(Some(ClockName::System)),
        "simulated" => Ok(Some(ClockName::Simulated)),
        other => {
            let hint = suggest::closest(other, ["system", "simulated"])
                .map(|s| format!("did you mean \"{s}\"?"));
            Err(expected("\"system\" or \"simulated\"", hint))
        }
    }
}

/// A value written as text and read by a parser that explains what it refuses.
trait FromText: Sized {
    fn from_text<E: de::Error>(text: &str) -> Result<Self, E>;
}

impl FromText for Cidr {
    fn from_text<E: de::Error>(text: &str) -> Result<Self, E> {
        values::parse_cidr(text).map_err(refused)
    }
}

impl FromText for ServerAddr {
    fn from_text<E: de::Error>(text: &str) -> Result<Self, E> {
        values::parse_server(text).map_err(refused)
    }
}

impl FromText for Uuid {
    fn from_text<E: de::Error>(text: &str) -> Result<Self, E> {
        text.parse().map_err(|_| {
            expected(
                "a PTPv1 UUID: six hex bytes like \"00:1d:c1:a1:72:3c\"",
                Some(
                    "a Dante leader's UUID is its MAC address: six pairs of hex digits \
                     separated by `:` or `-` (`dantesync replay` prints the leader's)"
                        .to_owned(),
                ),
            )
        })
    }
}

/// One item of a list; an error in it names the item (`key[1]`).
struct Item<T>(std::marker::PhantomData<T>);

impl<'de, T: FromText> DeserializeSeed<'de> for Item<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::from_text(&string_of(raw(d)?)?)
    }
}

/// A list of `T`; `of` names its items in errors. `single` also takes one bare string as a
/// list of one (`ntp_server`); otherwise a bare string is refused with how to list it.
struct List<T> {
    of: &'static str,
    single: bool,
    _item: std::marker::PhantomData<T>,
}

impl<'de, T: FromText> Visitor<'de> for List<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}", self.of)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Item(std::marker::PhantomData))? {
            out.push(item);
        }
        Ok(out)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<T>, E> {
        if self.single {
            return Ok(vec![T::from_text(s)?]);
        }
        let hint = format!("put it in a list: [{s:?}]");
        Err(expected(format!("a list of {}", self.of), Some(hint)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        if self.single {
            return Ok(Vec::new());
        }
        self.other()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<T>, E> {
        self.other()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<T>, E> {
        self.other()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<T>, E> {
        self.other()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<T>, E> {
        self.other()
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<T>, A::Error> {
        self.other()
    }
}

impl<T> List<T> {
    fn other<E: de::Error>(&self) -> Result<Vec<T>, E> {
        if self.single {
            Err(expected(
                "a server name or address, or a list of them",
                Some(
                    "e.g. \"ntp_server\": \"10.77.8.2\" or [\"ntp1.lan\", \"ntp2.lan\"]".to_owned(),
                ),
            ))
        } else {
            Err(expected(format!("a list of {}", self.of), None))
        }
    }
}

fn list<'de, D: Deserializer<'de>, T: FromText>(
    d: D,
    of: &'static str,
    single: bool,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_any(List {
        of,
        single,
        _item: std::marker::PhantomData,
    })
}

const CIDRS: &str = "addresses or ranges like \"10.0.0.0/8\"";

pub fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    list(d, CIDRS, false)
}

pub fn some_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Cidr>>, D::Error> {
    cidrs(d).map(Some)
}

/// `ntp_server_mode.allow`: empty would read as "answer no one" to some and "everyone" to
/// others.
pub fn ntp_server_allow<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let list = cidrs(d)?;
    if list.is_empty() {
        return Err(refused(Refusal {
            message: "an empty list is ambiguous here (answer everyone, or no one?)".to_owned(),
            hint: Some(
                "remove the key to answer every address, or set \"enabled\": false to answer \
                 none"
                    .to_owned(),
            ),
        }));
    }
    Ok(list)
}

pub fn query_allow<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let list = cidrs(d)?;
    if list.is_empty() {
        return Err(refused(Refusal {
            message: "an empty list answers no one".to_owned(),
            hint: Some(
                "set \"enabled\": false to turn the API off, or list the ranges to answer"
                    .to_owned(),
            ),
        }));
    }
    Ok(list)
}

pub fn uuids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Uuid>, D::Error> {
    list(d, "leader UUIDs like \"00:1d:c1:a1:72:3c\"", false)
}

/// A list of servers (`ntp.lan_servers`): a list even of one, and `[]` is a list of none.
pub fn some_server_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ServerAddr>>, D::Error> {
    list(d, "servers as written in ntp_server", false).map(Some)
}

/// One server or a list of them; `null` is none.
pub fn servers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServerAddr>, D::Error> {
    list(d, "servers", true)
}

/// `sync_mode`: "classic" or "fleet".
pub fn sync_mode<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<dantesync_core::fleet::SyncMode, D::Error> {
    use dantesync_core::fleet::SyncMode;
    let name = string_of(raw(d)?)?;
    if let Some(mode) = SyncMode::from_name(&name) {
        return Ok(mode);
    }
    let names = ["classic", "fleet"];
    let lower = name.to_ascii_lowercase();
    let hint = if SyncMode::from_name(&lower).is_some() {
        Some(format!("write it in lower case: \"{lower}\""))
    } else {
        suggest::closest(&name, names).map(|s| format!("did you mean \"{s}\"?"))
    };
    Err(expected("\"classic\" or \"fleet\"".to_string(), hint))
}
