//! The effective configuration: what the daemon runs on once the file and the flags are read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use dantesync_core::controller::NtpGateConfig;
use dantesync_core::fleet::{FleetConfig, SyncMode};
use dantesync_core::ntp_client::Locality;
use dantesync_core::path_delay::PathDelayConfig;
use dantesync_core::source::PtpConfig;
use dantesync_core::wire::ptpv1::{Subdomain, Uuid};
use dantesync_core::ControllerConfig;

use serde::Deserialize;

use super::de;
use super::diagnostic::{Diagnostic, Place};
use super::fleet::FleetSettings;
use super::values::{self, Cidr, ServerAddr};

/// Where the settings came from, so the daemon can say it once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Read from this file.
    File(PathBuf),
    /// No file at the default path: every setting is its default.
    MissingDefault(PathBuf),
    /// Built in code (tests, tools).
    Builtin,
}

/// The whole configuration. Every field holds a validated value; defaults are filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub origin: Origin,
    /// The interface to receive PTP on; `None` lets the daemon choose.
    pub interface: Option<String>,
    /// Upstream NTP servers, in the order given; empty runs PTP-only.
    pub ntp_servers: Vec<ServerAddr>,
    /// `--skip-ntp` was given: the servers above are kept for the record but never asked.
    pub skip_ntp: bool,
    pub ntp: NtpSettings,
    pub ptp: PtpSettings,
    pub clock: ClockKind,
    pub ntp_server_mode: NtpServerMode,
    pub query_api: QueryApi,
    pub http_status: HttpStatus,
    /// Where the daemon keeps what it learned (the clock's frequency) across restarts. It is
    /// the daemon's own file, never the configuration.
    pub state_file: PathBuf,
    pub log: LogSettings,
    /// Classic (NTP sets the time) or fleet (phase-locked to the leader + D + path delay).
    pub sync_mode: SyncMode,
    /// Fleet mode's phase loop, the authority's UTC policy and where a fleet client asks for D.
    pub fleet: FleetSettings,
    /// Accepted but worth telling the operator: keys of the earlier DanteSync that no longer
    /// act, and combinations that probably do not do what was meant.
    pub warnings: Vec<Diagnostic>,
}

// Each section below is also how the file's object of that name is read: a key is a field
// (serde's name), its reader the `deserialize_with` beside it, its default the `Default` impl.

/// How NTP may correct the time: the file's `ntp` object.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtpSettings {
    /// An offset beyond this many seconds is refused after the first correction (a server
    /// that is suddenly that far off is more likely wrong than the clock); `None` never
    /// refuses.
    #[serde(deserialize_with = "de::panic_threshold_s")]
    pub panic_threshold_s: Option<f64>,
    /// When false, a clock that is ahead is slewed back, never stepped backwards.
    #[serde(deserialize_with = "de::flag")]
    pub allow_backward_step: bool,
    /// Offsets up to this many µs are slewed (the rate bent briefly), larger ones stepped.
    #[serde(deserialize_with = "de::slew_max_offset_us")]
    pub slew_max_offset_us: f64,
    /// The most extra frequency a slew may add, ppm.
    #[serde(deserialize_with = "de::slew_max_ppm")]
    pub slew_max_ppm: f64,
    /// Which `ntp_server` entries are on the local network (asked at the controller's pace
    /// with bursts); the others are polled every 64 s with single requests. `None` decides
    /// by each server's address (private, link-local, loopback, unique local are the LAN).
    #[serde(deserialize_with = "de::some_server_list")]
    pub lan_servers: Option<Vec<ServerAddr>>,
}

impl NtpSettings {
    /// Where `server` (an `ntp_server` entry) counts as being: as `lan_servers` lists it, or
    /// by its address when there is no such list.
    pub fn locality(&self, server: &ServerAddr) -> Locality {
        match &self.lan_servers {
            None => Locality::ByAddress,
            Some(list) if list.iter().any(|l| same_server(l, server)) => Locality::Lan,
            Some(_) => Locality::Outside,
        }
    }
}

/// Two entries name the same server: the same port, and the same host (names compared
/// without regard to case).
pub fn same_server(a: &ServerAddr, b: &ServerAddr) -> bool {
    a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
}

impl Default for NtpSettings {
    fn default() -> Self {
        let gate = NtpGateConfig::default();
        NtpSettings {
            panic_threshold_s: gate.panic_threshold_s,
            allow_backward_step: gate.allow_backward_step,
            slew_max_offset_us: gate.slew_max_offset_us,
            slew_max_ppm: gate.slew_max_ppm,
            lan_servers: None,
        }
    }
}

/// The PTP side: the file's `ptp` object.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PtpSettings {
    #[serde(deserialize_with = "de::port")]
    pub event_port: u16,
    #[serde(deserialize_with = "de::port")]
    pub general_port: u16,
    /// The PTPv1 subdomain name; one of `_DFLT`, `_ALT1`, `_ALT2`, `_ALT3`.
    #[serde(deserialize_with = "de::subdomain")]
    pub subdomain: String,
    /// No usable PTP for this long: the node goes NtpOnly (holdover).
    #[serde(deserialize_with = "de::offline_timeout_s")]
    pub offline_timeout_s: f64,
    /// When not empty, only these leaders (PTPv1 UUIDs) are followed.
    #[serde(deserialize_with = "de::uuids")]
    pub leader_allowlist: Vec<Uuid>,
    /// When not empty, PTP packets from any other source address are dropped before they
    /// reach the engine (the earlier DanteSync's `system.gm_allowlist`).
    #[serde(deserialize_with = "de::cidrs")]
    pub source_allowlist: Vec<Cidr>,
    /// Leaders (PTPv1 UUIDs) preferred above the best-master rule, most preferred first.
    #[serde(deserialize_with = "de::uuids")]
    pub leader_preference: Vec<Uuid>,
    /// How long a more preferred leader that came back must be heard before it leads again.
    #[serde(deserialize_with = "de::leader_preference_hold_s")]
    pub leader_preference_hold_s: f64,
    /// Mean seconds between Delay_Reqs to the leader (randomised, never under 1 s); 0: off.
    #[serde(deserialize_with = "de::delay_request_interval_s")]
    pub delay_request_interval_s: f64,
    /// Where Delay_Reqs go; None: the subdomain's group at `event_port`, as PTPv1 sends them.
    #[serde(deserialize_with = "de::delay_request_to")]
    pub delay_request_to: Option<std::net::SocketAddrV4>,
}

impl Default for PtpSettings {
    fn default() -> Self {
        let core = PtpConfig::default();
        PtpSettings {
            event_port: 319,
            general_port: 320,
            subdomain: core.subdomain.as_str().to_owned(),
            offline_timeout_s: core.offline_timeout_s,
            leader_allowlist: core.leader_allowlist,
            source_allowlist: Vec::new(),
            leader_preference: core.leader_preference,
            leader_preference_hold_s: core.leader_preference_hold_s,
            delay_request_interval_s: PathDelayConfig::default().interval_s,
            delay_request_to: None,
        }
    }
}

impl PtpSettings {
    /// Whether a PTP packet from `source` may be handed to the engine.
    #[allow(dead_code, reason = "the daemon's PTP receive path calls it")]
    pub fn source_allowed(&self, source: IpAddr) -> bool {
        self.source_allowlist.is_empty() || self.source_allowlist.iter().any(|c| c.contains(source))
    }
}

/// Which clock the daemon disciplines: the clock crate's own description of the clock to
/// open, read from the file's `clock` object by `file::ClockSection`.
pub use dantesync_clock::ClockConfig as ClockKind;

/// A simulated clock's natural rate error when the file does not give one.
pub const SIMULATED_DRIFT_PPM: f64 = 50.0;
pub const SIMULATED_OFFSET_MS: f64 = 0.0;

/// The built-in NTP server, for the one node that serves the others: the file's
/// `ntp_server_mode` object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtpServerMode {
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    #[serde(deserialize_with = "de::port")]
    pub port: u16,
    /// The stratum to announce; `None` announces one more than the upstream server's.
    #[serde(deserialize_with = "de::stratum")]
    pub stratum: Option<u8>,
    /// Serve this node's own clock as synchronised at this stratum (reference id `LOCL`) when
    /// it has no upstream `ntp_server`: a lab or demo master without internet.
    #[serde(deserialize_with = "de::local_stratum")]
    pub local_stratum: Option<u8>,
    #[serde(deserialize_with = "de::bind")]
    pub bind: IpAddr,
    /// Only these client ranges are answered; empty answers every address.
    #[serde(deserialize_with = "de::ntp_server_allow")]
    pub allow: Vec<Cidr>,
    /// These client ranges are never answered, even inside `allow`.
    #[serde(deserialize_with = "de::cidrs")]
    pub deny: Vec<Cidr>,
    /// Per-client rate limiting (KoD RATE, then silence). Off only for benchmarks.
    #[serde(deserialize_with = "de::flag")]
    pub rate_limit: bool,
}

impl Default for NtpServerMode {
    fn default() -> Self {
        NtpServerMode {
            enabled: false,
            port: 123,
            stratum: None,
            local_stratum: None,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            allow: Vec::new(),
            deny: Vec::new(),
            rate_limit: true,
        }
    }
}

/// The UDP query API (port 31900) that the tray and monitoring read: the file's `query_api`
/// object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryApi {
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    #[serde(deserialize_with = "de::port")]
    pub port: u16,
    #[serde(deserialize_with = "de::bind")]
    pub bind: IpAddr,
    /// Only these client addresses get an answer; the rest are ignored silently, so the API
    /// cannot be used to bounce traffic at strangers.
    #[serde(deserialize_with = "de::query_allow")]
    pub allow: Vec<Cidr>,
}

/// Loopback, the private ranges and link-local: the LAN, never the internet.
pub const DEFAULT_QUERY_ALLOW: [Cidr; 8] = [
    Cidr::v4(127, 0, 0, 0, 8),
    Cidr::v4(10, 0, 0, 0, 8),
    Cidr::v4(172, 16, 0, 0, 12),
    Cidr::v4(192, 168, 0, 0, 16),
    Cidr::v4(169, 254, 0, 0, 16),
    Cidr::v6(Ipv6Addr::LOCALHOST, 128),
    Cidr::v6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    Cidr::v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];

impl Default for QueryApi {
    fn default() -> Self {
        QueryApi {
            enabled: true,
            port: 31900,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            allow: DEFAULT_QUERY_ALLOW.to_vec(),
        }
    }
}

impl QueryApi {
    pub fn allows(&self, client: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(client))
    }
}

/// The read-only HTTP status page (`GET /status`): the file's `http_status` object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpStatus {
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    #[serde(deserialize_with = "de::port")]
    pub port: u16,
    #[serde(deserialize_with = "de::bind")]
    pub bind: IpAddr,
}

impl Default for HttpStatus {
    fn default() -> Self {
        HttpStatus {
            enabled: true,
            port: 8898,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const NAMES: [&'static str; 5] = ["error", "warn", "info", "debug", "trace"];

    pub fn from_name(name: &str) -> Option<LogLevel> {
        Some(match name {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The file's `log` object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    #[serde(deserialize_with = "de::log_level")]
    pub level: LogLevel,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: LogLevel::Info,
        }
    }
}

/// The platform's place for the daemon's state.
pub fn default_state_file() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\DanteSync\state.json")
    } else {
        PathBuf::from("/var/lib/dantesync/state.json")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            origin: Origin::Builtin,
            interface: None,
            ntp_servers: Vec::new(),
            skip_ntp: false,
            ntp: NtpSettings::default(),
            ptp: PtpSettings::default(),
            clock: ClockKind::default(),
            ntp_server_mode: NtpServerMode::default(),
            query_api: QueryApi::default(),
            http_status: HttpStatus::default(),
            state_file: default_state_file(),
            log: LogSettings::default(),
            sync_mode: SyncMode::Classic,
            fleet: FleetSettings::default(),
            warnings: Vec::new(),
        }
    }
}

/// The daemon's command-line flags that override the file (`--interface`, `--ntp-server`,
/// `--skip-ntp`).
#[allow(dead_code, reason = "the daemon builds it from its flags")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub interface: Option<String>,
    pub ntp_server: Option<String>,
    pub skip_ntp: bool,
}

impl Config {
    /// Applies the command-line flags: a flag wins over the file. `--ntp-server` replaces the
    /// whole server list, and is checked like the file's `ntp_server`.
    #[allow(dead_code, reason = "the daemon calls it with its flags")]
    pub fn with_overrides(mut self, flags: &Overrides) -> Result<Config, Diagnostic> {
        let refusal = |flag: &'static str, r: values::Refusal| Diagnostic {
            place: Place::Flag(flag),
            key: None,
            message: r.message,
            hint: r.hint,
        };
        if let Some(name) = &flags.interface {
            values::check_interface(name).map_err(|r| refusal("--interface", r))?;
            self.interface = Some(name.clone());
        }
        if let Some(server) = &flags.ntp_server {
            let addr = values::parse_server(server).map_err(|r| refusal("--ntp-server", r))?;
            self.ntp_servers = vec![addr];
            // The file's "no upstream server" warnings no longer hold.
            self.warnings.retain(|w| {
                !matches!(
                    w.key.as_deref(),
                    Some("ntp_server" | "ntp_server_mode.enabled")
                )
            });
        }
        if flags.skip_ntp && !self.skip_ntp && self.ntp_server_mode.enabled {
            self.warnings.push(Diagnostic {
                place: Place::Flag("--skip-ntp"),
                key: None,
                message: "this node serves NTP, and with --skip-ntp nothing corrects its time \
                          to UTC"
                    .to_owned(),
                hint: Some("leave out --skip-ntp on the node that serves NTP".to_owned()),
            });
        }
        self.skip_ntp |= flags.skip_ntp;
        Ok(self)
    }

    /// True when no NTP server will be asked: PTP sets the rate and nothing corrects the
    /// time. The daemon says so once at start.
    pub fn ptp_only(&self) -> bool {
        self.skip_ntp || self.ntp_servers.is_empty()
    }

    /// The stratum at which the NTP server serves this clock as its own reference:
    /// `ntp_server_mode.local_stratum`, honoured only when no upstream NTP server is asked.
    pub fn served_local_stratum(&self) -> Option<u8> {
        self.ntp_server_mode
            .local_stratum
            .filter(|_| self.ptp_only())
    }

    /// Why the daemon runs PTP-only, in words for the start-up log; `None` when it does not.
    pub fn ptp_only_reason(&self) -> Option<&'static str> {
        if self.skip_ntp {
            Some("--skip-ntp was given: NTP is never asked, only the clock's rate is disciplined")
        } else if self.ntp_servers.is_empty() {
            Some(
                "no ntp_server is configured: running PTP-only (the clock's rate follows the \
                 Dante leader; nothing corrects its time)",
            )
        } else {
            None
        }
    }

    /// The NTP master (it serves NTP and has an upstream of its own) is the fleet's
    /// authority for D.
    pub fn fleet_authority(&self) -> Option<dantesync_core::fleet::AuthorityConfig> {
        (self.ntp_server_mode.enabled && !self.ptp_only()).then(|| self.fleet.authority_config())
    }

    /// The engine's settings: the PTP source and the NTP gate from this file, everything the
    /// file does not expose at the engine's tuned defaults.
    pub fn controller_config(&self) -> ControllerConfig {
        let defaults = ControllerConfig::default();
        let ptp = PtpConfig {
            subdomain: Subdomain::from_name(&self.ptp.subdomain),
            leader_allowlist: self.ptp.leader_allowlist.clone(),
            leader_preference: self.ptp.leader_preference.clone(),
            leader_preference_hold_s: self.ptp.leader_preference_hold_s,
            offline_timeout_s: self.ptp.offline_timeout_s,
            ..defaults.ptp
        };
        let ntp = (!self.ptp_only()).then(|| NtpGateConfig {
            panic_threshold_s: self.ntp.panic_threshold_s,
            allow_backward_step: self.ntp.allow_backward_step,
            slew_max_offset_us: self.ntp.slew_max_offset_us,
            slew_max_ppm: self.ntp.slew_max_ppm,
            ..NtpGateConfig::default()
        });
        // The identity (the interface's MAC) and the seed are the daemon's to fill in.
        let path_delay = (self.ptp.delay_request_interval_s > 0.0).then(|| PathDelayConfig {
            interval_s: self.ptp.delay_request_interval_s,
            ..PathDelayConfig::default()
        });
        let fleet = FleetConfig {
            max_slew_ppm: self.fleet.max_slew_ppm,
            hold_s: self.fleet.hold_s,
            step_threshold_us: self.fleet.step_threshold_us,
            step_scheduled: self.fleet.step_scheduled,
            ..defaults.fleet
        };
        ControllerConfig {
            ptp,
            ntp,
            path_delay,
            sync_mode: self.sync_mode,
            fleet,
            authority: self.fleet_authority(),
            ..defaults
        }
    }
}
