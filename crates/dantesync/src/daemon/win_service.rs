//! Running under the Windows service control manager (`dantesync --service`, service name
//! `DanteSync`), with an honest SCM state:
//!
//! - START_PENDING while the daemon starts (config, instance lock, clock and its self-test,
//!   sockets, the starting frequency);
//! - RUNNING at the point where systemd hears READY=1: sockets bound, the clock accepted its
//!   starting frequency; only then are Stop and Shutdown accepted;
//! - STOP_PENDING when Stop or Shutdown arrives: the daemon stops as on SIGTERM (the learned
//!   frequency saved, the clock's frequency left as it is);
//! - STOPPED, with exit code 0 after a requested stop, or ERROR_SERVICE_SPECIFIC_ERROR and the
//!   [`Stage`]'s code when the start failed — a non-zero exit is what lets the SCM's recovery
//!   actions restart the service (with "enable actions for stops with errors",
//!   `sc.exe failureflag DanteSync 1`).
//!
//! The SCM discards stderr: the service logs to `C:\ProgramData\DanteSync\logs\dantesync.log`
//! (rotated by size) and reports its start, stop and fatal errors ([`ServiceEvent`]) to the
//! Windows Event Log under the source `DanteSync`.
//!
//! The stages, their codes, the events and the state machine ([`Lifecycle`]) are plain Rust,
//! tested on every platform; only [`run`]'s Windows body talks to the SCM (through
//! `windows-service`).

#![cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "the state machine drives the Windows SCM; tested everywhere"
    )
)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// The service's name in the SCM, and its Event Log source.
pub const SERVICE_NAME: &str = "DanteSync";

/// The service's log folder.
pub const LOG_DIR: &str = r"C:\ProgramData\DanteSync\logs";

/// What the service writes to the Windows Event Log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    Started,
    Stopped,
    /// The start failed; the service stops with the stage's exit code.
    StartFailed,
    /// The running daemon failed.
    Failed,
    /// The log file cannot be written; the service runs on without it.
    LogUnavailable,
}

/// Where a service manager's events go.
pub type EventSink = Box<dyn Fn(ServiceEvent, &str) + Send>;

/// An Event Log entry's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventLevel {
    Information,
    Warning,
    Error,
}

impl ServiceEvent {
    /// The event ID: one per kind, so a monitoring rule can filter on it.
    pub fn id(self) -> u32 {
        match self {
            ServiceEvent::Started => 1,
            ServiceEvent::Stopped => 2,
            ServiceEvent::StartFailed => 3,
            ServiceEvent::Failed => 4,
            ServiceEvent::LogUnavailable => 5,
        }
    }

    pub fn level(self) -> EventLevel {
        match self {
            ServiceEvent::Started | ServiceEvent::Stopped => EventLevel::Information,
            ServiceEvent::LogUnavailable => EventLevel::Warning,
            ServiceEvent::StartFailed | ServiceEvent::Failed => EventLevel::Error,
        }
    }
}

/// How far the daemon's start got; when it fails, the stage says what failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    /// Reading and checking the configuration.
    #[default]
    Config,
    /// Starting the async runtime.
    Runtime,
    /// Taking the instance lock (another daemon holds it).
    InstanceLock,
    /// Opening the clock.
    Clock,
    /// The clock's start-up self-test (wrong sign or scale of its adjustments).
    ClockSelfTest,
    /// Binding the PTP, query API or NTP server sockets.
    Sockets,
    /// Writing the starting frequency.
    StartFrequency,
    /// Started: past every fatal check.
    Running,
}

impl Stage {
    /// The service-specific exit code of a start that failed at this stage (0: it did not).
    pub fn exit_code(self) -> u32 {
        match self {
            Stage::Config => 1,
            Stage::Runtime => 2,
            Stage::InstanceLock => 3,
            Stage::Clock => 4,
            Stage::ClockSelfTest => 5,
            Stage::Sockets => 6,
            Stage::StartFrequency => 7,
            Stage::Running => 0,
        }
    }
}

/// What a service-specific exit code means, for `dantesync service status`.
pub fn exit_code_meaning(code: u32) -> &'static str {
    match code {
        0 => "clean exit",
        1 => "start failed: the configuration",
        2 => "start failed: the async runtime",
        3 => "start failed: another dantesync holds the instance lock",
        4 => "start failed: opening the clock",
        5 => "start failed: the clock's self-test",
        6 => "start failed: binding the sockets",
        7 => "start failed: writing the starting frequency",
        8 => "failed while running",
        _ => "unknown",
    }
}

/// What a service manager plugs into the daemon's start and stop. The default plugs nothing:
/// the daemon run from a terminal or by systemd.
#[derive(Default)]
pub struct ServiceHooks {
    /// How far the start got.
    pub stage: Stage,
    /// Called once, at the point systemd hears READY=1.
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// Resolves (with what asked) when the service manager asks the daemon to stop.
    pub stop: Option<Pin<Box<dyn Future<Output = &'static str> + Send>>>,
    /// Log to a rotated file in this folder instead of stderr.
    pub log_dir: Option<PathBuf>,
    /// Where the service's events go (the Windows Event Log).
    pub on_event: Option<EventSink>,
}

impl ServiceHooks {
    pub fn event(&self, event: ServiceEvent, text: &str) {
        if let Some(f) = &self.on_event {
            f(event, text);
        }
    }

    /// The daemon cannot go on: the event says at which stage and with which exit code.
    pub fn fatal(&self, error: &str) {
        let (event, text) = fatal_event(self.stage, error);
        self.event(event, &text);
    }
}

/// The Event Log entry for a fatal error at `stage`.
pub fn fatal_event(stage: Stage, error: &str) -> (ServiceEvent, String) {
    if stage == Stage::Running {
        (
            ServiceEvent::Failed,
            format!("DanteSync failed and stops (exit code 8): {error}"),
        )
    } else {
        (
            ServiceEvent::StartFailed,
            format!(
                "DanteSync could not start ({stage:?}, exit code {}): {error}",
                stage.exit_code()
            ),
        )
    }
}

impl std::fmt::Debug for ServiceHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHooks")
            .field("stage", &self.stage)
            .field("on_ready", &self.on_ready.is_some())
            .field("stop", &self.stop.is_some())
            .field("log_dir", &self.log_dir)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// The SCM states this service reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScmState {
    StartPending,
    Running,
    StopPending,
    Stopped,
}

/// One status report for the SCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub state: ScmState,
    /// Whether Stop and Shutdown are accepted.
    pub accepts_stop: bool,
    /// The service-specific exit code; 0 is a clean exit (Win32 NO_ERROR).
    pub exit_code: u32,
    /// Grows with every pending report, so the SCM sees progress.
    pub checkpoint: u32,
    pub wait_hint: Duration,
}

/// Longest a start takes (the Windows clock self-test alone takes about 7 s).
const START_WAIT: Duration = Duration::from_secs(30);
/// Longest a stop takes (saving the learned frequency).
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The service's state machine: every event gives the report to send, or nothing when the
/// event does not apply in the present state.
#[derive(Debug)]
pub struct Lifecycle {
    state: ScmState,
    checkpoint: u32,
}

impl Lifecycle {
    pub fn starting() -> (Self, Report) {
        let life = Self {
            state: ScmState::StartPending,
            checkpoint: 1,
        };
        let report = life.pending(START_WAIT);
        (life, report)
    }

    fn pending(&self, wait_hint: Duration) -> Report {
        Report {
            state: self.state,
            accepts_stop: false,
            exit_code: 0,
            checkpoint: self.checkpoint,
            wait_hint,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> ScmState {
        self.state
    }

    /// The daemon is up: RUNNING, Stop accepted.
    pub fn ready(&mut self) -> Option<Report> {
        if self.state != ScmState::StartPending {
            return None;
        }
        self.state = ScmState::Running;
        self.checkpoint = 0;
        Some(Report {
            state: ScmState::Running,
            accepts_stop: true,
            exit_code: 0,
            checkpoint: 0,
            wait_hint: Duration::ZERO,
        })
    }

    /// Stop or Shutdown arrived.
    pub fn stop_requested(&mut self) -> Option<Report> {
        if !matches!(self.state, ScmState::StartPending | ScmState::Running) {
            return None;
        }
        self.state = ScmState::StopPending;
        self.checkpoint += 1;
        Some(self.pending(STOP_WAIT))
    }

    /// The daemon returned: `Ok` after a requested stop, `Err` with the stage a start failed
    /// at. Always the last report.
    pub fn exited(&mut self, result: Result<(), Stage>) -> Report {
        self.state = ScmState::Stopped;
        self.checkpoint = 0;
        Report {
            state: ScmState::Stopped,
            accepts_stop: false,
            exit_code: match result {
                Ok(()) => 0,
                // A failure past the start has no stage of its own; still not a clean exit.
                Err(Stage::Running) => 8,
                Err(stage) => stage.exit_code(),
            },
            checkpoint: 0,
            wait_hint: Duration::ZERO,
        }
    }
}

/// What `--service` says where there is no Windows service control manager.
#[cfg(any(not(windows), test))]
pub const NOT_WINDOWS: &str = "--service is for Windows; on Linux use the systemd unit \
                               packaging/systemd/dantesync.service";

/// Runs the daemon as the Windows service: blocks until the SCM stops it.
#[cfg(not(windows))]
pub fn run(
    config: Option<std::path::PathBuf>,
    overrides: crate::config::Overrides,
) -> std::process::ExitCode {
    let _ = (config, overrides);
    eprintln!("dantesync: {NOT_WINDOWS}");
    std::process::ExitCode::from(2)
}

#[cfg(windows)]
pub use scm::run;

#[cfg(windows)]
mod scm;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_stage_has_its_own_nonzero_code() {
        let failed = [
            Stage::Config,
            Stage::Runtime,
            Stage::InstanceLock,
            Stage::Clock,
            Stage::ClockSelfTest,
            Stage::Sockets,
            Stage::StartFrequency,
        ];
        let codes: Vec<u32> = failed.iter().map(|s| s.exit_code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(Stage::Running.exit_code(), 0);
        assert_eq!(Stage::default(), Stage::Config);
    }

    #[test]
    fn a_clean_run_goes_start_pending_running_stop_pending_stopped_0() {
        let (mut life, first) = Lifecycle::starting();
        assert_eq!(first.state, ScmState::StartPending);
        assert!(!first.accepts_stop);
        assert_eq!(first.wait_hint, Duration::from_secs(30));
        assert_eq!(first.checkpoint, 1);
        let running = life.ready().unwrap();
        assert_eq!(running.state, ScmState::Running);
        assert!(running.accepts_stop);
        assert_eq!(running.checkpoint, 0);
        assert_eq!(life.ready(), None, "RUNNING is reported once");
        let stopping = life.stop_requested().unwrap();
        assert_eq!(stopping.state, ScmState::StopPending);
        assert!(!stopping.accepts_stop);
        assert_eq!(stopping.wait_hint, Duration::from_secs(10));
        assert_eq!(life.stop_requested(), None, "a second Stop changes nothing");
        let stopped = life.exited(Ok(()));
        assert_eq!(stopped.state, ScmState::Stopped);
        assert_eq!(stopped.exit_code, 0);
        assert_eq!(life.state(), ScmState::Stopped);
    }

    #[test]
    fn a_failed_start_stops_with_the_stage_code_and_never_reports_running() {
        for (stage, code) in [
            (Stage::Config, 1),
            (Stage::ClockSelfTest, 5),
            (Stage::Sockets, 6),
        ] {
            let (mut life, _) = Lifecycle::starting();
            let stopped = life.exited(Err(stage));
            assert_eq!(stopped.state, ScmState::Stopped);
            assert_eq!(stopped.exit_code, code);
            assert_eq!(life.ready(), None);
        }
        let (mut life, _) = Lifecycle::starting();
        life.ready().unwrap();
        assert_eq!(life.exited(Err(Stage::Running)).exit_code, 8);
    }

    #[test]
    fn a_stop_while_starting_is_stop_pending_and_ready_is_then_ignored() {
        let (mut life, _) = Lifecycle::starting();
        let r = life.stop_requested().unwrap();
        assert_eq!((r.state, r.checkpoint), (ScmState::StopPending, 2));
        assert_eq!(life.ready(), None);
    }

    #[test]
    fn every_exit_code_has_a_meaning_that_matches_its_stage() {
        for (stage, words) in [
            (Stage::Config, "configuration"),
            (Stage::InstanceLock, "instance lock"),
            (Stage::ClockSelfTest, "self-test"),
            (Stage::Sockets, "sockets"),
            (Stage::StartFrequency, "starting frequency"),
        ] {
            let meaning = exit_code_meaning(stage.exit_code());
            assert!(meaning.contains(words), "{stage:?}: {meaning}");
        }
        assert_eq!(exit_code_meaning(8), "failed while running");
        assert_eq!(exit_code_meaning(99), "unknown");
    }

    #[test]
    fn events_have_fixed_ids_and_a_fatal_one_names_stage_and_exit_code() {
        let all = [
            ServiceEvent::Started,
            ServiceEvent::Stopped,
            ServiceEvent::StartFailed,
            ServiceEvent::Failed,
            ServiceEvent::LogUnavailable,
        ];
        let ids: Vec<u32> = all.iter().map(|e| e.id()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(ServiceEvent::Started.level(), EventLevel::Information);
        assert_eq!(ServiceEvent::LogUnavailable.level(), EventLevel::Warning);
        assert_eq!(ServiceEvent::StartFailed.level(), EventLevel::Error);

        let (event, text) = fatal_event(Stage::Sockets, "cannot bind UDP 319");
        assert_eq!(event, ServiceEvent::StartFailed);
        assert_eq!(
            text,
            "DanteSync could not start (Sockets, exit code 6): cannot bind UDP 319"
        );
        let (event, text) = fatal_event(Stage::Running, "runtime gone");
        assert_eq!(event, ServiceEvent::Failed);
        assert_eq!(
            text,
            "DanteSync failed and stops (exit code 8): runtime gone"
        );
    }

    #[test]
    fn hooks_send_fatal_errors_to_the_event_sink() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let hooks = ServiceHooks {
            stage: Stage::Config,
            on_event: Some(Box::new({
                let seen = seen.clone();
                move |e, t: &str| seen.lock().unwrap().push((e, t.to_owned()))
            })),
            ..ServiceHooks::default()
        };
        hooks.fatal("config.json:3:5: unknown key");
        hooks.event(ServiceEvent::LogUnavailable, "no folder");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, ServiceEvent::StartFailed);
        assert!(seen[0].1.contains("(Config, exit code 1): config.json:3:5"));
        assert_eq!(
            seen[1],
            (ServiceEvent::LogUnavailable, "no folder".to_owned())
        );
    }

    #[test]
    fn outside_windows_the_message_names_the_systemd_unit() {
        assert!(NOT_WINDOWS.starts_with("--service is for Windows"));
        assert!(NOT_WINDOWS.contains("packaging/systemd/dantesync.service"));
    }
}
