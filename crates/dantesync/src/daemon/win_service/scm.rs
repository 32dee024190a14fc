//! The SCM side of the Windows service: the dispatcher, the control handler and the status
//! reports, around the daemon's `run_with`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use super::{Lifecycle, Report, ScmState, ServiceEvent, ServiceHooks, LOG_DIR, SERVICE_NAME};
use crate::config::Overrides;
use crate::sys::event_log::{self, EventType};

/// Writes `event` to the Windows Event Log under the service's name.
fn report_event(event: ServiceEvent, text: &str) {
    let kind = match event.level() {
        super::EventLevel::Information => EventType::Information,
        super::EventLevel::Warning => EventType::Warning,
        super::EventLevel::Error => EventType::Error,
    };
    event_log::report(SERVICE_NAME, kind, event.id(), text);
}

/// The flags `main` parsed, for the service's main function (the SCM calls it on its own
/// thread, with the arguments of StartService rather than the command line).
static FLAGS: Mutex<Option<(Option<std::path::PathBuf>, Overrides)>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

pub fn run(config: Option<std::path::PathBuf>, overrides: Overrides) -> ExitCode {
    *FLAGS.lock().unwrap_or_else(PoisonError::into_inner) = Some((config, overrides));
    match service_dispatcher::start(SERVICE_NAME, ffi_service_main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "dantesync: --service: not started by the service control manager ({e}); \
                 without --service the daemon runs in this console"
            );
            ExitCode::from(2)
        }
    }
}

fn to_status(r: Report) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: match r.state {
            ScmState::StartPending => ServiceState::StartPending,
            ScmState::Running => ServiceState::Running,
            ScmState::StopPending => ServiceState::StopPending,
            ScmState::Stopped => ServiceState::Stopped,
        },
        controls_accepted: if r.accepts_stop {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: if r.exit_code == 0 {
            ServiceExitCode::NO_ERROR
        } else {
            ServiceExitCode::ServiceSpecific(r.exit_code)
        },
        checkpoint: r.checkpoint,
        wait_hint: r.wait_hint,
        process_id: None,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let (config, overrides) = FLAGS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let (life, first) = Lifecycle::starting();
    let life = Arc::new(Mutex::new(life));
    let handle_slot: Arc<Mutex<Option<service_control_handler::ServiceStatusHandle>>> =
        Arc::default();

    let report = {
        let slot = handle_slot.clone();
        move |r: Option<Report>| {
            let handle = *slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let (Some(h), Some(r)) = (handle, r) {
                if let Err(e) = h.set_service_status(to_status(r)) {
                    tracing::warn!("cannot report the service state: {e}");
                }
            }
        }
    };

    let handler = {
        let life = life.clone();
        let report = report.clone();
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let r = life
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stop_requested();
                report(r);
                let what = if matches!(control, ServiceControl::Stop) {
                    "service stop"
                } else {
                    "system shutdown"
                };
                if let Some(tx) = stop_tx
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = tx.send(what);
                }
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = match service_control_handler::register(SERVICE_NAME, handler) {
        Ok(h) => h,
        Err(e) => {
            report_event(
                ServiceEvent::StartFailed,
                &format!("DanteSync cannot register with the service control manager: {e}"),
            );
            return;
        }
    };
    *handle_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
    report(Some(first));

    let config_shown = config
        .clone()
        .unwrap_or_else(crate::config::default_path)
        .display()
        .to_string();
    let stopped_by = Arc::new(Mutex::new("service stop"));
    let mut hooks = ServiceHooks {
        on_ready: Some(Box::new({
            let life = life.clone();
            let report = report.clone();
            move || {
                let r = life.lock().unwrap_or_else(PoisonError::into_inner).ready();
                report(r);
                report_event(
                    ServiceEvent::Started,
                    &format!(
                        "DanteSync {} started (config {config_shown}, log {LOG_DIR}\\{})",
                        env!("CARGO_PKG_VERSION"),
                        crate::daemon::logging::LOG_FILE_NAME
                    ),
                );
            }
        })),
        log_dir: Some(std::path::PathBuf::from(LOG_DIR)),
        on_event: Some(Box::new(report_event)),
        stop: Some(Box::pin({
            let stopped_by = stopped_by.clone();
            async move {
                let what = stop_rx.await.unwrap_or("service stop");
                *stopped_by.lock().unwrap_or_else(PoisonError::into_inner) = what;
                what
            }
        })),
        ..ServiceHooks::default()
    };
    let result = super::super::run_with(
        &super::super::Flags {
            config: config.as_deref(),
            overrides,
        },
        &mut hooks,
    );
    if result.is_ok() {
        let what = *stopped_by.lock().unwrap_or_else(PoisonError::into_inner);
        report_event(
            ServiceEvent::Stopped,
            &format!("DanteSync stopped ({what})"),
        );
    }
    let last = life
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .exited(result);
    report(Some(last));
}
