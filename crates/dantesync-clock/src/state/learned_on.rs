//! What a learned frequency was learned on: the clock that must be the same for it to apply.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clock::ClockConfig;

/// The clock a frequency was learned on: what must be the same for it to apply again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LearnedOn {
    /// The machine's clock: the machine (`/etc/machine-id`) and the kernel clocksource it
    /// counts (`/sys/devices/system/clocksource/clocksource0/current_clocksource`; a switch
    /// from tsc to hpet changes the oscillator). Both None where the OS has no such thing.
    System {
        machine_id: Option<String>,
        clocksource: Option<String>,
    },
    /// A simulated clock of this natural drift.
    Simulated { drift_ppm: f64 },
}

const MACHINE_ID: &str = "/etc/machine-id";
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

fn first_line(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

impl LearnedOn {
    /// The clock `config` opens, as it is on this machine now.
    pub fn of(config: &ClockConfig) -> Self {
        match *config {
            ClockConfig::Simulated { drift_ppm, .. } => Self::Simulated { drift_ppm },
            ClockConfig::System => Self::system_from(Path::new(MACHINE_ID), Path::new(CLOCKSOURCE)),
        }
    }

    /// The system clock, identified by the files at these paths (absent files read as None).
    pub fn system_from(machine_id: &Path, clocksource: &Path) -> Self {
        Self::System {
            machine_id: first_line(machine_id),
            clocksource: first_line(clocksource),
        }
    }

    /// Whether a frequency learned on `self` applies to `now`; if not, why.
    pub fn differs_from(&self, now: &LearnedOn) -> Option<String> {
        match (self, now) {
            (Self::Simulated { drift_ppm: a }, Self::Simulated { drift_ppm: b }) => {
                ((a - b).abs() > 1e-9).then(|| {
                    format!("learned on a simulated clock of {a} ppm drift, this one has {b} ppm")
                })
            }
            (
                Self::System {
                    machine_id: ma,
                    clocksource: ca,
                },
                Self::System {
                    machine_id: mb,
                    clocksource: cb,
                },
            ) => {
                if ma != mb {
                    Some(format!(
                        "learned on another machine (machine id {} here {})",
                        ma.as_deref().unwrap_or("unknown"),
                        mb.as_deref().unwrap_or("unknown")
                    ))
                } else if ca != cb {
                    Some(format!(
                        "learned on clocksource {}, the kernel now counts {}",
                        ca.as_deref().unwrap_or("unknown"),
                        cb.as_deref().unwrap_or("unknown")
                    ))
                } else {
                    None
                }
            }
            (Self::Simulated { .. }, Self::System { .. }) => {
                Some("learned on a simulated clock, this is the system clock".into())
            }
            (Self::System { .. }, Self::Simulated { .. }) => {
                Some("learned on the system clock, this is a simulated one".into())
            }
        }
    }
}
