//! What `dantesync service install | uninstall` do, decided from what is there: plain Rust,
//! tested on every platform. The Windows side ([`super::windows`]) only observes the machine
//! and executes the [`Action`]s.
//!
//! Idempotent by construction: install updates an existing service instead of creating a
//! second one, replaces its firewall rules by name (deleting a name removes every rule of that
//! name, so rules never pile up), and records W32Time's state only once, so a second install
//! does not record the "disabled" the first one left. Uninstall does only what it finds to undo.

#![cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "the plan drives the Windows service installer; tested everywhere"
    )
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The service's data folder: config, learned state, logs, the W32Time record.
pub const DATA_DIR: &str = r"C:\ProgramData\DanteSync";
/// W32Time's start type and state before the first install, in [`DATA_DIR`].
pub const W32TIME_RECORD: &str = "w32time-before.json";
/// The Windows Time service.
pub const W32TIME: &str = "W32Time";

/// The configuration install writes when there is none at the default path: the service is
/// started with `--config`, and a named file that is missing stops the daemon.
pub const STARTER_CONFIG: &str = r#"{
  "_about": "dantesync's configuration (docs/config.md; every key is optional, keys starting with _ are comments). As installed, the node runs PTP-only: its clock's rate follows the Dante leader, nothing corrects its time. Add ntp_server, then: Restart-Service DanteSync. Check the file with: dantesync config check",

  "_ntp_server": "Upstream NTP: one server or a list, e.g. \"10.77.8.2\" or [\"10.77.8.2\", \"10.77.8.3\"]. The NTP master of a Dante network takes it from outside; the other nodes from the master.",

  "_interface": "The IPv4 address of the interface that receives PTP from the Dante leader, e.g. \"192.168.1.20\"; without it, the system's default interface.",

  "log": {
    "level": "info"
  }
}
"#;

/// A Windows service's start type, named as `sc.exe config start=` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartType {
    Boot,
    System,
    Auto,
    DelayedAuto,
    Demand,
    Disabled,
}

impl StartType {
    pub fn sc_name(self) -> &'static str {
        match self {
            StartType::Boot => "boot",
            StartType::System => "system",
            StartType::Auto => "auto",
            StartType::DelayedAuto => "delayed-auto",
            StartType::Demand => "demand",
            StartType::Disabled => "disabled",
        }
    }

    /// As Windows' Services console names it.
    pub fn label(self) -> &'static str {
        match self {
            StartType::Boot => "boot",
            StartType::System => "system",
            StartType::Auto => "automatic",
            StartType::DelayedAuto => "automatic (delayed start)",
            StartType::Demand => "manual",
            StartType::Disabled => "disabled",
        }
    }
}

/// W32Time as found: what uninstall puts back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct W32TimeRecord {
    pub start_type: StartType,
    pub running: bool,
}

impl W32TimeRecord {
    pub fn to_json(self) -> String {
        serde_json::to_string_pretty(&self).expect("plain fields serialize") + "\n"
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("{W32TIME_RECORD}: {e}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

/// One inbound allow rule for the daemon's program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallRule {
    pub name: &'static str,
    pub protocol: Protocol,
    pub ports: Vec<u16>,
}

/// Every rule name install may create: uninstall and a re-install delete them all, whatever
/// the config says today (a port or a server turned off since the last install).
pub const RULE_NAMES: [&str; 4] = [
    "DanteSync PTP",
    "DanteSync NTP server",
    "DanteSync query API",
    "DanteSync HTTP status",
];

/// The rules the daemon needs with this config: PTP always, the NTP server, query API and
/// HTTP status page when enabled and listening beyond loopback.
pub fn firewall_rules(cfg: &Config) -> Vec<FirewallRule> {
    let mut rules = vec![FirewallRule {
        name: RULE_NAMES[0],
        protocol: Protocol::Udp,
        ports: vec![cfg.ptp.event_port, cfg.ptp.general_port],
    }];
    let open = |enabled: bool, bind: IpAddr| enabled && !bind.is_loopback();
    if open(cfg.ntp_server_mode.enabled, cfg.ntp_server_mode.bind) {
        rules.push(FirewallRule {
            name: RULE_NAMES[1],
            protocol: Protocol::Udp,
            ports: vec![cfg.ntp_server_mode.port],
        });
    }
    if open(cfg.query_api.enabled, cfg.query_api.bind) {
        rules.push(FirewallRule {
            name: RULE_NAMES[2],
            protocol: Protocol::Udp,
            ports: vec![cfg.query_api.port],
        });
    }
    if open(cfg.http_status.enabled, cfg.http_status.bind) {
        rules.push(FirewallRule {
            name: RULE_NAMES[3],
            protocol: Protocol::Tcp,
            ports: vec![cfg.http_status.port],
        });
    }
    rules
}

impl FirewallRule {
    /// `netsh advfirewall firewall add rule ...` arguments (netsh over the COM API: one
    /// well-known command, no COM apartment or unsafe code, and an admin can read it).
    pub fn netsh_add(&self, program: &Path) -> Vec<String> {
        let mut ports: Vec<u16> = self.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        vec![
            "advfirewall".into(),
            "firewall".into(),
            "add".into(),
            "rule".into(),
            format!("name={}", self.name),
            "dir=in".into(),
            "action=allow".into(),
            format!(
                "protocol={}",
                match self.protocol {
                    Protocol::Udp => "UDP",
                    Protocol::Tcp => "TCP",
                }
            ),
            format!("localport={}", ports.join(",")),
            format!("program={}", program.display()),
            "profile=any".into(),
            "enable=yes".into(),
        ]
    }
}

/// `netsh advfirewall firewall delete rule name=...` arguments.
pub fn netsh_delete(name: &str) -> Vec<String> {
    ["advfirewall", "firewall", "delete", "rule"]
        .into_iter()
        .map(String::from)
        .chain([format!("name={name}")])
        .collect()
}

/// The data folder's access: full control for SYSTEM and Administrators, read for Users, and
/// nothing inherited from ProgramData (whose default lets every user create files). Well-known
/// SIDs, so it works on every display language.
pub fn icacls_args(dir: &Path) -> Vec<String> {
    vec![
        dir.display().to_string(),
        "/inheritance:r".into(),
        "/grant:r".into(),
        "*S-1-5-18:(OI)(CI)F".into(),
        "*S-1-5-32-544:(OI)(CI)F".into(),
        "*S-1-5-32-545:(OI)(CI)RX".into(),
    ]
}

/// The service as found in the SCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundService {
    pub running: bool,
}

/// What is on the machine now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub service: Option<FoundService>,
    /// W32Time's present start type and state; `None` where it does not exist.
    pub w32time: Option<W32TimeRecord>,
    /// The record an earlier install left.
    pub w32time_record: Option<W32TimeRecord>,
    pub data_dir_exists: bool,
    /// Whether the configuration the service is to run with exists.
    pub config_exists: bool,
}

/// What install is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallRequest {
    pub exe: PathBuf,
    pub config: PathBuf,
    pub rules: Vec<FirewallRule>,
}

impl InstallRequest {
    /// The arguments the SCM starts the program with.
    pub fn launch_arguments(&self) -> Vec<String> {
        vec![
            "--service".into(),
            "--config".into(),
            self.config.display().to_string(),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the data and log folders and set their access.
    PrepareDataDir,
    /// Write [`STARTER_CONFIG`] to the (missing) configuration file.
    CreateConfig,
    /// Name the Event Log source's message file, so Event Viewer shows the text.
    RegisterEventSource,
    CreateService,
    /// Rewrite an existing service's program, arguments and start type.
    UpdateService,
    /// Restart after 10 s, 30 s, 60 s; also after an exit with an error code.
    SetRecovery,
    RecordW32Time(W32TimeRecord),
    StopW32Time,
    DisableW32Time,
    DeleteFirewallRule(&'static str),
    AddFirewallRule(FirewallRule),
    StopService,
    DeleteService,
    RestoreW32Time(W32TimeRecord),
    ForgetW32Time,
    DeregisterEventSource,
    PurgeDataDir,
}

impl Action {
    /// Whether the rest may go on without it (a warning, not a failure): the service runs
    /// without recovery actions or a registered Event Log source, only less well looked after.
    pub fn is_optional(&self) -> bool {
        matches!(self, Action::SetRecovery | Action::RegisterEventSource)
    }

    /// One line for the operator.
    pub fn describe(&self) -> String {
        match self {
            Action::PrepareDataDir => format!(
                "{DATA_DIR} and its logs folder: writable by Administrators and SYSTEM, \
                 readable by Users"
            ),
            Action::CreateConfig => {
                "configuration written: PTP-only until you add ntp_server".into()
            }
            Action::RegisterEventSource => "Event Log source DanteSync registered".into(),
            Action::CreateService => "service DanteSync created (automatic start)".into(),
            Action::UpdateService => "service DanteSync updated (automatic start)".into(),
            Action::SetRecovery => {
                "recovery: restart after 10 s, 30 s, 60 s, also after an error exit".into()
            }
            Action::RecordW32Time(r) => format!(
                "W32Time's state recorded in {DATA_DIR}\\{W32TIME_RECORD} ({}, {})",
                r.start_type.label(),
                if r.running { "running" } else { "stopped" }
            ),
            Action::StopW32Time => "W32Time stopped".into(),
            Action::DisableW32Time => "W32Time disabled".into(),
            Action::DeleteFirewallRule(name) => format!("firewall rule \"{name}\" removed"),
            Action::AddFirewallRule(r) => {
                let ports: Vec<String> = r.ports.iter().map(u16::to_string).collect();
                format!(
                    "firewall rule \"{}\": inbound {} {}",
                    r.name,
                    match r.protocol {
                        Protocol::Udp => "UDP",
                        Protocol::Tcp => "TCP",
                    },
                    ports.join(",")
                )
            }
            Action::StopService => "service DanteSync stopped".into(),
            Action::DeleteService => "service DanteSync removed".into(),
            Action::RestoreW32Time(r) => format!(
                "W32Time restored: {}{}",
                r.start_type.label(),
                if r.running { ", started" } else { "" }
            ),
            Action::ForgetW32Time => format!("{W32TIME_RECORD} removed"),
            Action::DeregisterEventSource => "Event Log source DanteSync removed".into(),
            Action::PurgeDataDir => format!("{DATA_DIR} removed (config, state, logs)"),
        }
    }
}

pub fn install_plan(found: &Observed, request: &InstallRequest) -> Vec<Action> {
    let mut plan = vec![Action::PrepareDataDir];
    if !found.config_exists {
        plan.push(Action::CreateConfig);
    }
    plan.push(Action::RegisterEventSource);
    plan.push(if found.service.is_some() {
        Action::UpdateService
    } else {
        Action::CreateService
    });
    plan.push(Action::SetRecovery);
    if let Some(w32time) = found.w32time {
        if found.w32time_record.is_none() {
            plan.push(Action::RecordW32Time(w32time));
        }
        if w32time.running {
            plan.push(Action::StopW32Time);
        }
        if w32time.start_type != StartType::Disabled {
            plan.push(Action::DisableW32Time);
        }
    }
    plan.extend(RULE_NAMES.iter().map(|n| Action::DeleteFirewallRule(n)));
    plan.extend(request.rules.iter().cloned().map(Action::AddFirewallRule));
    plan
}

pub fn uninstall_plan(found: &Observed, purge: bool) -> Vec<Action> {
    let mut plan = Vec::new();
    if let Some(service) = &found.service {
        if service.running {
            plan.push(Action::StopService);
        }
        plan.push(Action::DeleteService);
    }
    plan.extend(RULE_NAMES.iter().map(|n| Action::DeleteFirewallRule(n)));
    if let Some(record) = found.w32time_record {
        if found.w32time.is_some() {
            plan.push(Action::RestoreW32Time(record));
        }
        if !purge {
            plan.push(Action::ForgetW32Time);
        }
    }
    plan.push(Action::DeregisterEventSource);
    if purge && found.data_dir_exists {
        plan.push(Action::PurgeDataDir);
    }
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
