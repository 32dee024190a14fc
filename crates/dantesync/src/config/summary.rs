//! What a configuration means, in words: the output of `dantesync config check`, and what
//! the daemon logs at start.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use dantesync_core::wire::ptpv1::Subdomain;

use super::settings::{ClockKind, Config, Origin};
use super::LoadError;

impl Config {
    /// One sentence on where the settings came from.
    pub fn origin_note(&self) -> String {
        match &self.origin {
            Origin::File(path) => format!("configuration read from {}", path.display()),
            Origin::MissingDefault(path) => format!(
                "no configuration file at {}: running on the defaults",
                path.display()
            ),
            Origin::Builtin => "built-in configuration".to_owned(),
        }
    }

    /// The effective settings, one aligned line per area; values the engine derives (the
    /// NTP gate) are shown as the engine will receive them.
    pub fn summary(&self) -> String {
        let engine = self.controller_config();
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<14}{value}");
        };
        line(
            "interface",
            self.interface
                .clone()
                .unwrap_or_else(|| "automatic (the one the Dante leader is heard on)".to_owned()),
        );
        let servers = self
            .ntp_servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match (&engine.ntp, self.ptp_only_reason()) {
            (Some(gate), _) => {
                line("ntp_server", servers);
                let panic = gate
                    .panic_threshold_s
                    .map_or("never".to_owned(), |s| format!("beyond {s} s"));
                let backward = if gate.allow_backward_step {
                    "allowed"
                } else {
                    "never (slewed instead)"
                };
                line(
                    "ntp",
                    format!(
                        "slew offsets up to {} µs at most {} ppm, step larger ones; refuse {panic}; \
                         backward steps {backward}",
                        gate.slew_max_offset_us, gate.slew_max_ppm
                    ),
                );
            }
            (None, reason) => {
                let mut text = "none: PTP-only".to_owned();
                if self.skip_ntp && !servers.is_empty() {
                    let _ = write!(text, " (--skip-ntp; configured: {servers})");
                } else if let Some(reason) = reason {
                    let _ = write!(text, " ({})", reason.split(':').next().unwrap_or(reason));
                }
                line("ntp_server", text);
            }
        }
        let group = Subdomain::from_name(&self.ptp.subdomain)
            .multicast_group()
            .map_or(String::new(), |g| format!(" ({g})"));
        line(
            "ptp",
            format!(
                "subdomain {}{group}, UDP ports {}/{}, NtpOnly after {} s without samples",
                self.ptp.subdomain,
                self.ptp.event_port,
                self.ptp.general_port,
                engine.ptp.offline_timeout_s
            ),
        );
        line("ptp leaders", list_or_any(&engine.ptp.leader_allowlist));
        if !engine.ptp.leader_preference.is_empty() {
            let order: Vec<String> = engine
                .ptp
                .leader_preference
                .iter()
                .map(ToString::to_string)
                .collect();
            line(
                "ptp preference",
                format!(
                    "{} (a leader that comes back leads again after {} s)",
                    order.join(" > "),
                    engine.ptp.leader_preference_hold_s
                ),
            );
        }
        line("ptp sources", list_or_any(&self.ptp.source_allowlist));
        line(
            "clock",
            match self.clock {
                ClockKind::System => "system".to_owned(),
                ClockKind::Simulated {
                    drift_ppm,
                    offset_ms,
                } => format!(
                    "simulated (drift {drift_ppm} ppm, offset {offset_ms} ms; the system clock \
                     is never touched)"
                ),
            },
        );
        let s = &self.ntp_server_mode;
        line(
            "ntp server",
            if s.enabled {
                let stratum = match self.served_local_stratum() {
                    Some(n) => format!("{n}, its own clock (local_stratum)"),
                    None => s
                        .stratum
                        .map_or("upstream + 1".to_owned(), |n| n.to_string()),
                };
                let deny = if s.deny.is_empty() {
                    String::new()
                } else {
                    format!(" except {}", list_or_any(&s.deny))
                };
                let limit = if s.rate_limit {
                    "rate limited per client"
                } else {
                    "NOT rate limited"
                };
                format!(
                    "on, {} port {}, stratum {stratum}, answers {}{deny}, {limit}",
                    s.bind,
                    s.port,
                    list_or_any(&s.allow)
                )
            } else {
                "off".to_owned()
            },
        );
        let q = &self.query_api;
        line(
            "query api",
            if q.enabled {
                format!(
                    "on, {} port {}, answers {}",
                    q.bind,
                    q.port,
                    list_or_any(&q.allow)
                )
            } else {
                "off".to_owned()
            },
        );
        let h = &self.http_status;
        line(
            "http status",
            if h.enabled {
                format!("on, {} port {}", h.bind, h.port)
            } else {
                "off".to_owned()
            },
        );
        line(
            "fleet",
            self.fleet.summary(self.fleet_authority().is_some()),
        );
        line("state file", self.state_file.display().to_string());
        line("log level", self.log.level.as_str().to_owned());
        out
    }
}

fn list_or_any<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "any".to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Loads, validates and reports. Exit 0 with a summary when the daemon would start on this
/// configuration; exit 1 with every error otherwise. The file is only read.
pub fn check(path: Option<&Path>) -> ExitCode {
    match super::load(path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}", cfg.origin_note());
            if !cfg.warnings.is_empty() {
                let n = cfg.warnings.len();
                println!("valid, with {n} warning{} (above)", plural(n));
            } else {
                println!("valid");
            }
            print!("{}", cfg.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            let count = match &e {
                LoadError::Invalid { errors } => errors.len(),
                _ => 1,
            };
            eprintln!(
                "dantesync config check: {count} error{}; the daemon would not start (the file \
                 was not changed)",
                plural(count)
            );
            ExitCode::FAILURE
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
