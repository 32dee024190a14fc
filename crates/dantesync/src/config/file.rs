//! The file's shape: its top-level keys and the sections that hold the others, as serde reads
//! them. A section is the setting struct of the same name (`settings.rs`); a key is one of its
//! fields. The list of keys every hint and the documentation test use is taken from these
//! structs, so a key added to a struct is known everywhere at once.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::de::{self as read, ClockName};
use super::fleet::FleetSettings;
use super::legacy;
use super::settings::{
    ClockKind, HttpStatus, LogSettings, NtpServerMode, NtpSettings, PtpSettings, QueryApi,
    SIMULATED_DRIFT_PPM, SIMULATED_OFFSET_MS,
};
use super::values::ServerAddr;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct File {
    #[serde(deserialize_with = "read::interface")]
    pub interface: Option<String>,
    #[serde(deserialize_with = "read::servers")]
    pub ntp_server: Vec<ServerAddr>,
    pub ntp: NtpSettings,
    pub ptp: PtpSettings,
    pub clock: ClockSection,
    pub ntp_server_mode: NtpServerMode,
    pub query_api: QueryApi,
    pub http_status: HttpStatus,
    /// Checked against the configuration's own path once the file is read.
    #[serde(deserialize_with = "read::some_string")]
    pub state_file: Option<String>,
    pub log: LogSettings,
    #[serde(deserialize_with = "read::sync_mode")]
    pub sync_mode: dantesync_core::fleet::SyncMode,
    pub fleet: FleetSettings,
    pub system: legacy::System,
}

/// The `clock` object. `drift_ppm` and `offset_ms` describe a simulated clock only; that rule
/// needs the key's place in the file and is checked after reading (`checks.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSection {
    #[serde(deserialize_with = "read::clock_kind")]
    pub kind: Option<ClockName>,
    #[serde(deserialize_with = "read::some_drift_ppm")]
    pub drift_ppm: Option<f64>,
    #[serde(deserialize_with = "read::some_offset_ms")]
    pub offset_ms: Option<f64>,
}

impl ClockSection {
    pub fn clock(&self) -> ClockKind {
        match self.kind {
            Some(ClockName::Simulated) => ClockKind::Simulated {
                drift_ppm: self.drift_ppm.unwrap_or(SIMULATED_DRIFT_PPM),
                offset_ms: self.offset_ms.unwrap_or(SIMULATED_OFFSET_MS),
            },
            Some(ClockName::System) | None => ClockKind::System,
        }
    }
}

/// Every object of the file and its keys (`""` is the top level), to check the objects, to
/// tell a key written in the wrong section where it belongs, and to test the documentation.
pub fn sections() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = vec![
        ("", keys::<File>()),
        ("ntp", keys::<NtpSettings>()),
        ("ptp", keys::<PtpSettings>()),
        ("clock", keys::<ClockSection>()),
        ("ntp_server_mode", keys::<NtpServerMode>()),
        ("query_api", keys::<QueryApi>()),
        ("http_status", keys::<HttpStatus>()),
        ("log", keys::<LogSettings>()),
        ("fleet", keys::<FleetSettings>()),
        ("system", keys::<legacy::System>()),
    ];
    for (section, key) in legacy::SET_ASIDE {
        if let Some((_, keys)) = out.iter_mut().find(|(s, _)| s == &section) {
            keys.push(key);
        }
    }
    out
}

/// The keys a struct reads, as serde derive declares them.
pub fn keys<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    let mut found = Vec::new();
    let _ = T::deserialize(FieldNames(&mut found));
    found
}

/// A deserializer that reads nothing: it records the field names a struct asks for and stops.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
