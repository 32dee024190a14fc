//! The learned frequency, kept across restarts.
//!
//! A restarted node that starts its servo from the frequency it had learned is locked again
//! within seconds; one that starts from zero re-acquires from scratch (tens of ppm of error for
//! the first minute). So the learned frequency is saved in a small JSON file:
//!
//! ```json
//! {"version": 1, "frequency_ppm": -12.345, "sigma_ppm": 0.02, "leader": "00:1d:c1:0e:31:7a", "saved_at": 1785427891,
//!  "learned_on": {"kind": "system", "machine_id": "4c4c...", "clocksource": "tsc"}}
//! ```
//!
//! A frequency is a property of one oscillator: the file records which clock it was learned on
//! ([`LearnedOn`]) and a daemon on another one (a cloned disk image, a swapped mainboard, a
//! changed kernel clocksource, a simulated clock of another drift) ignores it.
//!
//! written atomically (a temporary file in the same directory, fsync, rename over the old one,
//! fsync the directory), so a crash or power cut leaves either the old file or the new one,
//! never half of one. It is written rarely ([`Persister`]): the frequency of a locked node
//! barely moves, and flash storage in small PCs should not be worn by a daemon.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::units::LINUX_MAX_FREQ_PPM;

/// The format's version, written into every file.
pub const STATE_VERSION: u32 = 1;

/// The state file's default location.
pub fn default_state_path() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\DanteSync\state.json")
    } else {
        PathBuf::from("/var/lib/dantesync/state.json")
    }
}

/// What is remembered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnedState {
    #[serde(default = "current_version")]
    pub version: u32,
    /// The frequency adjustment that kept the clock in step with the leader, ppm.
    pub frequency_ppm: f64,
    /// Its uncertainty, ppm.
    pub sigma_ppm: f64,
    /// The leader it was learned from, if known.
    #[serde(default)]
    pub leader: Option<String>,
    /// When it was saved, seconds since the Unix epoch.
    pub saved_at: u64,
    /// The clock it was learned on; None in files written before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_on: Option<LearnedOn>,
}

mod learned_on;
pub use learned_on::LearnedOn;

fn current_version() -> u32 {
    STATE_VERSION
}

impl LearnedState {
    pub fn new(frequency_ppm: f64, sigma_ppm: f64, leader: Option<String>, at: SystemTime) -> Self {
        Self {
            version: STATE_VERSION,
            frequency_ppm,
            sigma_ppm,
            leader,
            saved_at: at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            learned_on: None,
        }
    }

    /// Why this state does not apply to a clock `now`, or None if it does. A file that does
    /// not say what it was learned on does not apply: it may come from any oscillator.
    pub fn not_for(&self, now: &LearnedOn) -> Option<String> {
        match &self.learned_on {
            None => Some("the file does not say which clock it was learned on".into()),
            Some(on) => on.differs_from(now),
        }
    }

    /// How long ago it was saved (zero if the clock reads earlier than `saved_at`).
    pub fn age(&self, now: SystemTime) -> Duration {
        let saved = UNIX_EPOCH + Duration::from_secs(self.saved_at);
        now.duration_since(saved).unwrap_or_default()
    }

    fn check(&self) -> Result<(), String> {
        if self.version != STATE_VERSION {
            return Err(format!(
                "version {} is not one this dantesync reads (it reads {STATE_VERSION})",
                self.version
            ));
        }
        if !self.frequency_ppm.is_finite() || self.frequency_ppm.abs() > LINUX_MAX_FREQ_PPM {
            return Err(format!(
                "frequency_ppm {} is outside ±{LINUX_MAX_FREQ_PPM} ppm",
                self.frequency_ppm
            ));
        }
        if !self.sigma_ppm.is_finite() || self.sigma_ppm < 0.0 {
            return Err(format!(
                "sigma_ppm {} is not a valid uncertainty",
                self.sigma_ppm
            ));
        }
        Ok(())
    }
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a dantesync state file: {message} (delete it to start from scratch)")]
    Invalid { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the state file; `Ok(None)` when there is none yet (a first start).
pub fn load(path: &Path) -> Result<Option<LearnedState>, StateError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let state: LearnedState = serde_json::from_str(&text).map_err(|e| StateError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    state.check().map_err(|message| StateError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(Some(state))
}

/// Writes the state file atomically, creating its directory if needed.
pub fn save(path: &Path, state: &LearnedState) -> Result<(), StateError> {
    save_json(path, state)
}

/// Writes any small state as JSON the way [`save`] writes the learned frequency (atomically,
/// synced): for the files kept beside it, such as the fleet authority's D.
pub fn save_json<T: Serialize>(path: &Path, state: &T) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "state.json".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut text = serde_json::to_string_pretty(state).expect("plain data serialises");
    text.push('\n');
    let written = write_synced(&tmp, text.as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_dir(dir).map_err(io_err(dir))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes the rename durable: on Unix a rename lives in the directory, which has to be synced
/// itself. Windows cannot open a directory for syncing; its rename (MoveFileEx with
/// REPLACE_EXISTING) is journalled by NTFS.
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        fs::File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

/// When to write the learned frequency.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistPolicy {
    /// Normally not more often than this.
    pub min_interval: Duration,
    /// ...unless the frequency moved by more than this since the last write (a new leader, a
    /// temperature change), ppm.
    pub big_move_ppm: f64,
    /// Even a big move is not written more often than this.
    pub min_gap: Duration,
    /// A frequency closer than this to the one on disk is not worth a write, ppm.
    pub resolution_ppm: f64,
}

impl Default for PersistPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(15 * 60),
            big_move_ppm: 1.0,
            min_gap: Duration::from_secs(60),
            resolution_ppm: 0.01,
        }
    }
}

/// Decides when the learned frequency is written, and writes it.
///
/// The daemon offers it the servo's frequency whenever it is trustworthy (locked), and calls
/// [`Persister::flush`] on exit. Times are monotonic (`Instant`-like durations since any
/// origin), so a clock step does not trigger or suppress a write.
#[derive(Debug)]
pub struct Persister {
    path: PathBuf,
    policy: PersistPolicy,
    /// Monotonic time and frequency of the last write.
    last_write: Option<(Duration, f64)>,
    /// The latest offer not yet written.
    pending: Option<LearnedState>,
    /// Written into every state saved: the clock it was learned on.
    learned_on: Option<LearnedOn>,
}

impl Persister {
    /// `on_disk` is what [`load`] found at start: it counts as written (at time zero), so an
    /// unchanged frequency is not written again right away.
    pub fn new(path: PathBuf, policy: PersistPolicy, on_disk: Option<&LearnedState>) -> Self {
        Self {
            path,
            policy,
            last_write: on_disk.map(|s| (Duration::ZERO, s.frequency_ppm)),
            pending: None,
            learned_on: None,
        }
    }

    /// Every state written records that it was learned on `on`.
    #[must_use]
    pub fn learned_on(mut self, on: LearnedOn) -> Self {
        self.learned_on = Some(on);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a frequency offered at monotonic time `now` should be written now.
    pub fn due(&self, now: Duration, frequency_ppm: f64) -> bool {
        let Some((at, written)) = self.last_write else {
            return true;
        };
        let moved = (frequency_ppm - written).abs();
        if moved < self.policy.resolution_ppm {
            return false;
        }
        let since = now.saturating_sub(at);
        since >= self.policy.min_interval
            || (moved > self.policy.big_move_ppm && since >= self.policy.min_gap)
    }

    /// Offers the present learned state; writes it if it is due. Returns whether it wrote.
    pub fn offer(&mut self, now: Duration, state: LearnedState) -> Result<bool, StateError> {
        if self.due(now, state.frequency_ppm) {
            self.write(now, &state)?;
            self.pending = None;
            Ok(true)
        } else {
            self.pending = Some(state);
            Ok(false)
        }
    }

    /// On exit: writes the latest offer if it differs from what is on disk.
    pub fn flush(&mut self, now: Duration) -> Result<bool, StateError> {
        let Some(state) = self.pending.take() else {
            return Ok(false);
        };
        let unchanged = self.last_write.is_some_and(|(_, written)| {
            (state.frequency_ppm - written).abs() < self.policy.resolution_ppm
        });
        if unchanged {
            return Ok(false);
        }
        self.write(now, &state)?;
        Ok(true)
    }

    fn write(&mut self, now: Duration, state: &LearnedState) -> Result<(), StateError> {
        let stamped;
        let state = match (&self.learned_on, &state.learned_on) {
            (Some(on), None) => {
                stamped = LearnedState {
                    learned_on: Some(on.clone()),
                    ..state.clone()
                };
                &stamped
            }
            _ => state,
        };
        save(&self.path, state)?;
        self.last_write = Some((now, state.frequency_ppm));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
