//! The daemon: a switchboard between sockets, timers and the sans-IO controller.
//!
//! Tasks on one tokio thread (current_thread: the work per event is microseconds; one thread
//! keeps the clock calls ordered and idle CPU at zero, everything waits on sockets or timers):
//! - two PTP receivers ([`ptp`]) stamp datagrams and send them to the engine;
//! - the engine ([`engine`]) owns the [`Controller`], executes its actions on the clock, arms
//!   its timer, logs, persists the learned frequency;
//! - the NTP client ([`ntp`]) runs a check when the engine asks and reports back, so a server
//!   that never answers delays nothing else;
//! - the query responder ([`query`]) answers from the published status and the clock;
//! - the NTP server ([`ntp_serve`]), when enabled, answers NTP clients from the clock, with a
//!   header built from the published status;
//! - the HTTP status server ([`http`]), when enabled, shows the published status as JSON,
//!   Prometheus metrics and a live page.
//!
//! Shutdown (SIGTERM, SIGINT, Ctrl-C): the learned frequency is saved and the clock's frequency
//! is left as it is — resetting it to zero would make a free-running clock drift at its natural
//! rate, the worst choice.

mod delay_req;
mod engine;
mod fleet;
mod http;
mod iface;
mod kernel_sync;
mod lock;
mod logging;
mod ntp;
mod ntp_serve;
mod ptp;
mod query;
mod shared;
#[cfg(target_os = "linux")]
use crate::sys;
mod systemd;
mod win_service;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use dantesync_clock::state::{self, LearnedOn, PersistPolicy, Persister};
use dantesync_core::fleet::SyncMode;
use dantesync_core::Controller;
use tokio::sync::mpsc;

use crate::config::{self, ClockKind, Config, Overrides};
use engine::Engine;
use shared::Shared;
use systemd::Notifier;
pub use win_service::exit_code_meaning;
pub use win_service::run as run_service;
#[cfg(windows)]
pub use win_service::SERVICE_NAME;
use win_service::{ServiceHooks, Stage};

/// The daemon's flags, as `main` parsed them.
#[derive(Debug)]
pub struct Flags<'a> {
    pub config: Option<&'a std::path::Path>,
    pub overrides: Overrides,
}

/// Runs the daemon until a stop signal: exit 0 then; 1 when it cannot start.
pub fn run(flags: &Flags<'_>) -> ExitCode {
    match run_with(flags, &mut ServiceHooks::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Runs the daemon with a service manager's hooks; on failure, the stage that failed.
fn run_with(flags: &Flags<'_>, hooks: &mut ServiceHooks) -> Result<(), Stage> {
    hooks.stage = Stage::Config;
    let cfg = match config::load(flags.config).and_then(|c| {
        c.with_overrides(&flags.overrides)
            .map_err(|d| config::LoadError::Invalid { errors: vec![d] })
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dantesync: {e}");
            hooks.fatal(&e.to_string());
            return Err(Stage::Config);
        }
    };
    if let Err(e) = logging::init(cfg.log.level, hooks.log_dir.as_deref()) {
        tracing::warn!("{e}; logging to stderr");
        hooks.event(win_service::ServiceEvent::LogUnavailable, &e);
    }
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    hooks.stage = Stage::Runtime;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            hooks.fatal(&format!("cannot start the runtime: {e}"));
            return Err(Stage::Runtime);
        }
    };
    match runtime.block_on(daemon(cfg, hooks)) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("dantesync: {e}");
            hooks.fatal(&e);
            Err(hooks.stage)
        }
    }
}

/// Where this daemon keeps its learned state. A simulated clock never shares the system's
/// state file (or, through it, the instance lock): its learned frequency belongs to no real
/// oscillator, and the system clock's next start would read it as its prior. Unless the config
/// names a file of its own, it lives in a per-process temporary directory.
fn state_file_for(cfg: &Config) -> (PathBuf, bool) {
    let is_default = cfg.state_file == config::default_state_file();
    match cfg.clock {
        ClockKind::Simulated { .. } if is_default => (
            std::env::temp_dir()
                .join(format!("dantesync-simulated-{}", std::process::id()))
                .join("state.json"),
            true,
        ),
        _ => (cfg.state_file.clone(), false),
    }
}

async fn daemon(mut cfg: Config, hooks: &mut ServiceHooks) -> Result<(), String> {
    let (state_file, temporary_state) = state_file_for(&cfg);
    cfg.state_file = state_file;
    hooks.stage = Stage::InstanceLock;
    let lock_path = lock::lock_path(&cfg.state_file, cfg.clock == ClockKind::System);
    let instance = lock::acquire(&lock_path)?;
    tracing::debug!("instance lock held on {}", instance.path.display());

    hooks.stage = Stage::Clock;
    // Verified: on Windows the clock's start-up self-test runs first (Linux: as `open`).
    let clock = dantesync_clock::open_verified(&cfg.clock).map_err(|e| {
        if matches!(e, dantesync_clock::ClockError::SelfTestFailed(_)) {
            hooks.stage = Stage::ClockSelfTest;
        }
        format!("clock: {e}")
    })?;

    let learned_on = LearnedOn::of(&cfg.clock);
    let on_disk = match state::load(&cfg.state_file) {
        Ok(Some(s)) => match s.not_for(&learned_on) {
            None => Some(s),
            Some(why) => {
                tracing::info!(
                    "{}: not using the learned frequency {:+.3} ppm: {why}",
                    cfg.state_file.display(),
                    s.frequency_ppm
                );
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("{e}; starting without a learned frequency");
            None
        }
    };
    let initial_ppm = match &on_disk {
        Some(s) => s.frequency_ppm,
        None => clock.frequency().unwrap_or(0.0),
    };

    let mut controller_cfg = cfg.controller_config();
    controller_cfg.max_frequency_ppm = controller_cfg.max_frequency_ppm.min(clock.max_frequency());
    delay_req::identify(&cfg, &mut controller_cfg.path_delay);
    let path_delay_cfg = controller_cfg.path_delay.clone();
    let moment = dantesync_core::Moment::new(clock.now(), shared::mono_now());
    let now = moment.local;
    let mut controller = Controller::new(controller_cfg, moment, initial_ppm);
    if let Some(saved) = &on_disk {
        // A frequency saved less than a day ago, against a known leader, is a prior: the node
        // locks again within a second of hearing that leader. Older ones only set the start.
        let age_s = (now.nanos() / 1_000_000_000).saturating_sub(saved.saved_at as i64);
        let leader = saved.leader.as_deref().and_then(|l| l.parse().ok());
        if (0..86_400).contains(&age_s) && leader.is_some() {
            controller =
                controller.with_learned_frequency(saved.frequency_ppm, saved.sigma_ppm, leader);
        }
    }
    let fleet_d_path = fleet::saved_d_path(&cfg.state_file);
    let fleet_d_on_disk = controller_has_authority(&controller)
        .then(|| fleet::load_d(&fleet_d_path))
        .flatten();
    if let Some(saved) = fleet_d_on_disk {
        tracing::info!(
            "fleet: D {} ns (epoch {}) read back",
            saved.d_ns,
            saved.epoch
        );
        controller.restore_fleet_timescale(saved);
    }
    let shared = Arc::new(Shared::new(clock, controller.status(), cfg.ptp.clone()));

    log_start(&cfg, &shared, on_disk.as_ref().map(|s| s.frequency_ppm));

    // Sockets first: a port that cannot be bound stops the daemon before it touches the clock.
    hooks.stage = Stage::Sockets;
    let event_sock = ptp::bind(cfg.ptp.event_port, "event")?;
    let general_sock = ptp::bind(cfg.ptp.general_port, "general")?;
    let query_sock = if cfg.query_api.enabled {
        Some(query::bind(&cfg.query_api).await?)
    } else {
        None
    };
    let http_listener = if cfg.http_status.enabled {
        let h = &cfg.http_status;
        Some(http::bind(std::net::SocketAddr::new(h.bind, h.port)).await?)
    } else {
        None
    };
    let ntp_serve_sock = if cfg.ntp_server_mode.enabled {
        let settings = ntp_serve::ServeSettings::from_config(&cfg);
        Some((ntp_serve::bind(&settings)?, settings))
    } else {
        None
    };

    // The starting frequency; a clock that refuses even this cannot be disciplined.
    hooks.stage = Stage::StartFrequency;
    let mut rest = Vec::new();
    for action in controller.start(moment) {
        if !matches!(action, dantesync_core::Action::SetFrequency { .. }) {
            rest.push(action);
            continue;
        }
        let done = dantesync_core::controller::execute(&mut **shared.clock(), action);
        if let dantesync_core::controller::Executed::FrequencyRefused { error, .. } = done {
            return Err(format!("cannot set the clock's frequency: {error}"));
        }
    }

    let (event_tx, event_rx) = mpsc::channel(256);
    let group = dantesync_core::wire::ptpv1::Subdomain::from_name(&cfg.ptp.subdomain)
        .multicast_group()
        .unwrap_or(Ipv4Addr::new(224, 0, 1, 129));
    let interfaces = ptp::Interfaces::new(cfg.interface.clone());
    let delay_req = delay_req::open(&cfg, group, interfaces.clone(), path_delay_cfg.as_ref());
    for sock in [event_sock, general_sock] {
        tokio::spawn(ptp::receive(
            sock,
            group,
            interfaces.clone(),
            shared.clone(),
            event_tx.clone(),
        ));
    }
    let ntp_tx = if cfg.ptp_only() {
        None
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        let servers = cfg
            .ntp_servers
            .iter()
            .map(|s| (s.clone(), cfg.ntp.locality(s)));
        tokio::spawn(ntp::run(
            servers.collect(),
            shared.clone(),
            rx,
            event_tx.clone(),
        ));
        Some(tx)
    };
    if let Some(sock) = query_sock {
        let info = query::NodeInfo {
            ntp_server: match cfg.ntp_servers.first() {
                Some(server) if !cfg.ptp_only() => server.to_string(),
                _ => String::new(),
            },
            ptp_only: cfg.ptp_only(),
            events: Some(event_tx.clone()),
        };
        tokio::spawn(query::serve(
            sock,
            cfg.query_api.clone(),
            shared.clone(),
            info,
        ));
    }
    if let Some((sock, settings)) = ntp_serve_sock {
        tokio::spawn(ntp_serve::serve(sock, settings, shared.clone()));
    }
    if let Some(listener) = http_listener {
        let node = http::NodeInfo::from_config(&cfg);
        tokio::spawn(http::serve(listener, node, shared.clone()));
    }
    if let Some((host, port)) = fleet_authority_address(&cfg) {
        tokio::spawn(fleet::poll_authority(
            host,
            port,
            std::time::Duration::from_secs_f64(cfg.fleet.authority_poll_s),
            Arc::default(),
            event_tx.clone(),
        ));
    }
    drop(event_tx);

    let notifier = Notifier::from_env();
    notifier.ready(&format!("{}: waiting for PTP", controller.mode()));
    hooks.stage = Stage::Running;
    if let Some(ready) = hooks.on_ready.take() {
        ready();
    }
    let persister = Persister::new(
        cfg.state_file.clone(),
        PersistPolicy::default(),
        on_disk.as_ref(),
    )
    .learned_on(learned_on);
    let mut engine = Engine::new(controller, shared, ntp_tx, persister, notifier);
    engine.kernel = kernel_sync::KernelSync::new(cfg.served_local_stratum());
    engine.delay_req = delay_req;
    if controller_has_authority(&engine.controller) {
        engine.fleet_d = Some(fleet::DPersister::new(fleet_d_path, fleet_d_on_disk));
    }
    engine.execute(rest);
    let service_stop = hooks.stop.take();
    let stop = async move {
        match service_stop {
            Some(service) => tokio::select! {
                why = service => why,
                why = shutdown_signal() => why,
            },
            None => shutdown_signal().await,
        }
    };
    engine.run(event_rx, stop).await;
    drop(instance);
    if temporary_state {
        // Per-process: nothing in it is of use to any later run.
        if let Some(dir) = cfg.state_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    Ok(())
}

fn controller_has_authority(c: &Controller) -> bool {
    c.config().authority.is_some()
}

/// Where a fleet client asks for D: `fleet.authority`, else the first NTP server on the query
/// port. None when this node does not poll: in classic mode, and on the authority itself
/// (it locks to its own announcement).
fn fleet_authority_address(cfg: &Config) -> Option<(String, u16)> {
    if cfg.sync_mode != SyncMode::Fleet || cfg.fleet_authority().is_some() {
        return None;
    }
    cfg.fleet.authority.clone().or_else(|| {
        cfg.ntp_servers
            .first()
            .map(|s| (s.host.clone(), config::fleet::AUTHORITY_PORT))
    })
}

fn log_start(cfg: &Config, shared: &Shared, learned: Option<f64>) {
    let clock = shared.clock();
    let backend = match cfg.clock {
        ClockKind::System => clock.name().to_owned(),
        ClockKind::Simulated {
            drift_ppm,
            offset_ms,
        } => format!(
            "{} (drift {drift_ppm:+} ppm, offset {offset_ms} ms)",
            clock.name()
        ),
    };
    drop(clock);
    match http::clock_adjustment() {
        Some(how) if how.contains("legacy") => tracing::warn!(
            "the system clock's frequency would be set with {how}: coarser steps than the \
             precise interface{}",
            if matches!(cfg.clock, ClockKind::Simulated { .. }) {
                " (this daemon runs on a simulated clock)"
            } else {
                ""
            }
        ),
        Some(how) => tracing::info!("this Windows sets the system clock's frequency with {how}"),
        None => {}
    }
    let ntp = match cfg.ptp_only_reason() {
        Some(reason) => format!("PTP-only: {reason}"),
        None => format!(
            "NTP {}",
            cfg.ntp_servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let start = match learned {
        Some(ppm) => format!("starting from the learned {ppm:+.3} ppm"),
        None => "no learned frequency yet".to_owned(),
    };
    tracing::info!(
        "dantesync {} starting: interface {}, clock {backend}, PTP ports {}/{}, {ntp}; {start}; {}",
        env!("CARGO_PKG_VERSION"),
        cfg.interface.as_deref().unwrap_or("automatic"),
        cfg.ptp.event_port,
        cfg.ptp.general_port,
        cfg.origin_note()
    );
}

/// Resolves with the signal's name on SIGTERM or SIGINT (Ctrl-C on Windows).
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        // A service may have no console to take Ctrl-C from: then only its stop request ends it.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_clock_keeps_its_state_away_from_the_systems() {
        let system = Config::default();
        assert_eq!(
            state_file_for(&system),
            (config::default_state_file(), false)
        );
        let simulated = Config {
            clock: ClockKind::Simulated {
                drift_ppm: 50.0,
                offset_ms: 0.0,
            },
            ..Config::default()
        };
        let (path, temporary) = state_file_for(&simulated);
        assert!(temporary);
        assert_ne!(path, config::default_state_file());
        assert!(path.starts_with(std::env::temp_dir()), "{}", path.display());
        assert!(
            path.parent()
                .unwrap()
                .ends_with(format!("dantesync-simulated-{}", std::process::id())),
            "{}",
            path.display()
        );
        // So is its instance lock: a simulated daemon never holds the system's.
        let lock = lock::lock_path(&path, false);
        assert_eq!(lock.parent(), path.parent());
        // A state file the config names is used as it is.
        let named = Config {
            state_file: PathBuf::from("/tmp/x/state.json"),
            ..simulated
        };
        assert_eq!(
            state_file_for(&named),
            (PathBuf::from("/tmp/x/state.json"), false)
        );
    }
}
