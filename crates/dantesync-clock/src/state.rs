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
use crate::ClockConfig;

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
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "dantesync-state-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn learned(ppm: f64) -> LearnedState {
        LearnedState::new(
            ppm,
            0.02,
            Some("00:1d:c1:0e:31:7a".into()),
            at(1_785_427_891),
        )
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temporary_file() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("sub/state.json");
        save(&path, &learned(-12.345)).unwrap();
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back, learned(-12.345));
        assert_eq!(back.saved_at, 1_785_427_891);
        let names: Vec<_> = fs::read_dir(dir.0.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.json".to_string()]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"frequency_ppm\": -12.345"), "{text}");
        assert!(text.contains("\"version\": 1"), "{text}");
        // A second save replaces the first.
        save(&path, &learned(3.5)).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 3.5);
    }

    #[test]
    fn a_missing_file_is_a_first_start_not_an_error() {
        let dir = TempDir::new("missing");
        assert_eq!(load(&dir.0.join("state.json")).unwrap(), None);
    }

    #[test]
    fn broken_files_are_refused_with_the_path_and_the_reason() {
        let dir = TempDir::new("broken");
        let path = dir.0.join("state.json");
        fs::write(&path, "{\"frequency_ppm\": 3.0,\n \"sigma_ppm\": }").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("line 2 column"), "{e}");
        assert!(e.contains("delete it to start from scratch"), "{e}");

        fs::write(
            &path,
            r#"{"frequency_ppm": 900.0, "sigma_ppm": 0.1, "saved_at": 1}"#,
        )
        .unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("frequency_ppm 900 is outside ±500 ppm"), "{e}");

        fs::write(
            &path,
            r#"{"frequency_ppm": 1.0, "sigma_ppm": -1, "saved_at": 1}"#,
        )
        .unwrap();
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("sigma_ppm -1"));

        fs::write(
            &path,
            r#"{"version": 2, "frequency_ppm": 1.0, "sigma_ppm": 0.1, "saved_at": 1}"#,
        )
        .unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("version 2"));
    }

    #[test]
    fn a_minimal_file_without_optional_fields_loads() {
        let dir = TempDir::new("minimal");
        let path = dir.0.join("state.json");
        fs::write(
            &path,
            r#"{"frequency_ppm": -4.25, "sigma_ppm": 0.5, "saved_at": 100}"#,
        )
        .unwrap();
        let s = load(&path).unwrap().unwrap();
        assert_eq!(s.frequency_ppm, -4.25);
        assert_eq!(s.leader, None);
        assert_eq!(s.version, 1);
        assert_eq!(s.age(at(160)), Duration::from_secs(60));
        assert_eq!(s.age(at(50)), Duration::ZERO);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_cleans_up() {
        let dir = TempDir::new("failed");
        let path = dir.0.join("state.json");
        save(&path, &learned(1.0)).unwrap();
        // Renaming a file over a non-empty directory fails: the old content must survive.
        let blocked = dir.0.join("blocked");
        fs::create_dir_all(blocked.join("inner")).unwrap();
        let e = save(&blocked, &learned(2.0)).unwrap_err();
        assert!(matches!(e, StateError::Io { .. }), "{e}");
        assert!(
            e.to_string().starts_with(&blocked.display().to_string()),
            "{e}"
        );
        assert!(blocked.join("inner").is_dir());
        assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 1.0);
        let leftovers: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn the_persister_writes_rarely_unless_the_frequency_moves() {
        let dir = TempDir::new("persister");
        let path = dir.0.join("state.json");
        let mut p = Persister::new(path.clone(), PersistPolicy::default(), None);
        // Nothing on disk: the first offer is written at once.
        assert!(p.offer(mins(0), learned(10.0)).unwrap());
        // Small moves wait for the 15 minute interval.
        assert!(!p.offer(mins(1), learned(10.3)).unwrap());
        assert!(!p.offer(mins(14), learned(10.4)).unwrap());
        assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 10.0);
        assert!(p.offer(mins(15), learned(10.4)).unwrap());
        assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 10.4);
        // A move of more than 1 ppm is written after the 60 s gap, not before.
        assert!(!p
            .offer(mins(15) + Duration::from_secs(30), learned(12.0))
            .unwrap());
        assert!(p.offer(mins(16), learned(12.0)).unwrap());
        // An unchanged frequency is never rewritten, however long it has been.
        assert!(!p.offer(mins(600), learned(12.005)).unwrap());
    }

    #[test]
    fn the_persister_flushes_the_last_offer_on_exit() {
        let dir = TempDir::new("flush");
        let path = dir.0.join("state.json");
        let mut p = Persister::new(path.clone(), PersistPolicy::default(), None);
        assert!(
            !p.flush(mins(0)).unwrap(),
            "nothing offered, nothing written"
        );
        p.offer(mins(0), learned(-7.0)).unwrap();
        p.offer(mins(3), learned(-7.4)).unwrap();
        assert!(p.flush(mins(4)).unwrap());
        assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, -7.4);
        assert!(!p.flush(mins(5)).unwrap(), "already written");
    }

    #[test]
    fn the_file_found_at_start_counts_as_written() {
        let dir = TempDir::new("resume");
        let path = dir.0.join("state.json");
        save(&path, &learned(5.0)).unwrap();
        let on_disk = load(&path).unwrap();
        let mut p = Persister::new(path.clone(), PersistPolicy::default(), on_disk.as_ref());
        // The servo starts from 5.0 and confirms it: no write.
        assert!(!p.offer(mins(1), learned(5.001)).unwrap());
        assert!(!p.flush(mins(2)).unwrap());
        // A different leader with a 3 ppm different rate: written after the gap.
        assert!(p.offer(mins(2), learned(8.0)).unwrap());
    }

    #[test]
    fn a_state_learned_on_another_clock_does_not_apply() {
        let dir = TempDir::new("identity");
        let id = dir.0.join("machine-id");
        let cs = dir.0.join("clocksource");
        fs::write(&id, "4c4c4544004a\n").unwrap();
        fs::write(&cs, "tsc\n").unwrap();
        let here = LearnedOn::system_from(&id, &cs);
        assert_eq!(
            here,
            LearnedOn::System {
                machine_id: Some("4c4c4544004a".into()),
                clocksource: Some("tsc".into())
            }
        );
        // The persister stamps what it writes; the same clock reads it back as its own.
        let path = dir.0.join("state.json");
        let mut p =
            Persister::new(path.clone(), PersistPolicy::default(), None).learned_on(here.clone());
        p.offer(mins(0), learned(-12.0)).unwrap();
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.learned_on, Some(here.clone()));
        assert_eq!(back.not_for(&here), None);
        // A cloned disk image on another machine, another clocksource, a simulated clock.
        fs::write(&id, "9f0e11aa\n").unwrap();
        let why = back.not_for(&LearnedOn::system_from(&id, &cs)).unwrap();
        assert!(
            why.contains("another machine") && why.contains("9f0e11aa"),
            "{why}"
        );
        fs::write(&id, "4c4c4544004a\n").unwrap();
        fs::write(&cs, "hpet\n").unwrap();
        let why = back.not_for(&LearnedOn::system_from(&id, &cs)).unwrap();
        assert!(
            why.contains("clocksource tsc") && why.contains("hpet"),
            "{why}"
        );
        let sim = |drift_ppm| {
            LearnedOn::of(&ClockConfig::Simulated {
                drift_ppm,
                offset_ms: 0.0,
            })
        };
        assert!(back.not_for(&sim(50.0)).unwrap().contains("simulated"));
        // A simulated clock's frequency applies only to the same drift.
        let on_sim = LearnedState {
            learned_on: Some(sim(50.0)),
            ..learned(-50.0)
        };
        assert_eq!(on_sim.not_for(&sim(50.0)), None);
        assert!(on_sim.not_for(&sim(-20.0)).unwrap().contains("-20 ppm"));
        assert!(on_sim.not_for(&here).is_some());
        // A file that does not say where it was learned is no prior for anyone.
        assert!(learned(1.0)
            .not_for(&here)
            .unwrap()
            .contains("does not say"));
    }

    #[test]
    fn the_default_path_is_the_documented_one() {
        let p = default_state_path();
        if cfg!(windows) {
            assert_eq!(p, PathBuf::from(r"C:\ProgramData\DanteSync\state.json"));
        } else {
            assert_eq!(p, PathBuf::from("/var/lib/dantesync/state.json"));
        }
    }
}
