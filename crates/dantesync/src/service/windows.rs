//! The Windows side of `dantesync service`: observes the machine, executes the plan's actions
//! and reads the status. The SCM through `windows-service`; the firewall through netsh, the
//! folder's access through icacls, W32Time's start type through sc.exe and the Event Log
//! source through reg.exe — each one documented command, so no more unsafe code here.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::plan::{
    firewall_rules, icacls_args, install_plan, netsh_delete, uninstall_plan, Action, FoundService,
    InstallRequest, Observed, StartType, W32TimeRecord, DATA_DIR, STARTER_CONFIG, W32TIME,
    W32TIME_RECORD,
};
use super::status::{self, Found};
use super::ServiceCommand;
use crate::config;
use crate::daemon::SERVICE_NAME;

const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;

const EVENT_SOURCE_KEY: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\DanteSync";
/// .NET's message file: every event ID's message is "%1", the text the service passes.
const EVENT_MESSAGE_FILE: &str =
    r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll";

pub fn run(command: &ServiceCommand) -> ExitCode {
    let result = match command {
        ServiceCommand::Install { config } => install(config.as_deref()),
        ServiceCommand::Uninstall { purge } => uninstall(*purge),
        ServiceCommand::Status => return show_status(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dantesync service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn install(config: Option<&Path>) -> Result<(), String> {
    let config_path = config.map_or_else(config::default_path, Path::to_path_buf);
    let config_path =
        std::path::absolute(&config_path).map_err(|e| format!("{}: {e}", config_path.display()))?;
    // The service must start with this file: refuse one that does not load. Without
    // --config a missing default file means the defaults, as for the daemon.
    let cfg = config::load(config.map(|_| config_path.as_path())).map_err(|e| e.to_string())?;
    for w in &cfg.warnings {
        eprintln!("dantesync service: warning: {w}");
    }
    let exe = std::env::current_exe().map_err(|e| format!("the program's own path: {e}"))?;
    let request = InstallRequest {
        exe,
        config: config_path,
        rules: firewall_rules(&cfg),
    };
    let scm = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let found = observe(&scm, Some(&request.config))?;
    execute(
        &scm,
        &install_plan(&found, &request),
        &request.exe,
        Some(&request),
    )?;
    match found.service {
        Some(FoundService { running: true }) => println!(
            "DanteSync updated; the running service takes the new settings at its next start \
             (Restart-Service DanteSync)"
        ),
        _ => println!("DanteSync installed; start it with: Start-Service DanteSync"),
    }
    Ok(())
}

fn uninstall(purge: bool) -> Result<(), String> {
    let scm = manager(ServiceManagerAccess::CONNECT)?;
    let found = observe(&scm, None)?;
    let exe = std::env::current_exe().unwrap_or_default();
    execute(&scm, &uninstall_plan(&found, purge), &exe, None)?;
    println!("DanteSync uninstalled");
    Ok(())
}

fn show_status() -> ExitCode {
    let found = match manager(ServiceManagerAccess::CONNECT).and_then(|scm| query(&scm)) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("dantesync service status: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, code) = status::render(found.as_ref());
    print!("{text}");
    ExitCode::from(code)
}

fn query(scm: &ServiceManager) -> Result<Option<Found>, String> {
    let service = match scm.open_service(
        SERVICE_NAME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
    ) {
        Ok(s) => s,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(explain("opening service DanteSync", e)),
    };
    let st = service
        .query_status()
        .map_err(|e| explain("querying DanteSync", e))?;
    let cfg = service
        .query_config()
        .map_err(|e| explain("reading DanteSync's configuration", e))?;
    let (win32_exit_code, service_exit_code) = match st.exit_code {
        ServiceExitCode::Win32(c) => (c, 0),
        ServiceExitCode::ServiceSpecific(c) => (1066, c),
    };
    Ok(Some(Found {
        state: state_name(st.current_state),
        start_type: start_type(cfg.start_type),
        pid: st.process_id,
        win32_exit_code,
        service_exit_code,
        command_line: cfg.executable_path.display().to_string(),
    }))
}

fn state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "start pending",
        ServiceState::StopPending => "stop pending",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continue pending",
        ServiceState::PausePending => "pause pending",
        ServiceState::Paused => "paused",
    }
}

fn start_type(t: ServiceStartType) -> StartType {
    match t {
        ServiceStartType::AutoStart => StartType::Auto,
        ServiceStartType::OnDemand => StartType::Demand,
        ServiceStartType::Disabled => StartType::Disabled,
        ServiceStartType::SystemStart => StartType::System,
        ServiceStartType::BootStart => StartType::Boot,
    }
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, String> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| explain("opening the service control manager", e))
}

fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn is_missing(e: &windows_service::Error) -> bool {
    os_code(e) == Some(ERROR_SERVICE_DOES_NOT_EXIST)
}

fn explain(what: &str, e: windows_service::Error) -> String {
    match e {
        _ if os_code(&e) == Some(ERROR_ACCESS_DENIED) => format!(
            "{what}: access denied; run this from an elevated prompt (Run as administrator)"
        ),
        // Its own text says only "IO error in winapi call".
        windows_service::Error::Winapi(io) => format!("{what}: {io}"),
        e => format!("{what}: {e}"),
    }
}

fn data_dir() -> PathBuf {
    PathBuf::from(DATA_DIR)
}

/// What is there now: the service, W32Time and our record of it, the data folder, and (for an
/// install) whether the config file the service will start with already exists.
fn observe(scm: &ServiceManager, config: Option<&Path>) -> Result<Observed, String> {
    let service = match scm.open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS) {
        Ok(s) => Some(FoundService {
            running: is_running(&s),
        }),
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(explain("opening service DanteSync", e)),
    };
    let w32time = match scm.open_service(
        W32TIME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
    ) {
        Ok(s) => {
            let mut start = start_type(
                s.query_config()
                    .map_err(|e| explain("reading W32Time's configuration", e))?
                    .start_type,
            );
            if start == StartType::Auto
                && crate::sys::service_config::delayed_auto_start(s.raw_handle())
                    .map_err(|e| format!("reading W32Time's delayed start: {e}"))?
            {
                start = StartType::DelayedAuto;
            }
            Some(W32TimeRecord {
                start_type: start,
                running: is_running(&s),
            })
        }
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(explain("opening W32Time", e)),
    };
    let record_path = data_dir().join(W32TIME_RECORD);
    let w32time_record = match fs::read_to_string(&record_path) {
        Ok(text) => Some(W32TimeRecord::from_json(&text)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", record_path.display())),
    };
    Ok(Observed {
        service,
        w32time,
        w32time_record,
        data_dir_exists: data_dir().is_dir(),
        config_exists: config.is_some_and(Path::exists),
    })
}

fn is_running(s: &Service) -> bool {
    s.query_status()
        .is_ok_and(|st| st.current_state != ServiceState::Stopped)
}

fn execute(
    scm: &ServiceManager,
    plan: &[Action],
    exe: &Path,
    request: Option<&InstallRequest>,
) -> Result<(), String> {
    let mut warnings = 0;
    for action in plan {
        match perform(scm, action, exe, request) {
            Ok(()) if matches!(action, Action::DeleteFirewallRule(_)) => {}
            Ok(()) => println!("  {}", action.describe()),
            // The service runs without restarts on failure (Wine has no failure actions):
            // say so and go on rather than leave a half-installed service.
            Err(e) if action.is_optional() => {
                warnings += 1;
                eprintln!(
                    "dantesync service: warning: not done: {}: {e}",
                    action.describe()
                );
            }
            Err(e) => return Err(format!("failed: {}: {e}", action.describe())),
        }
    }
    if warnings > 0 {
        eprintln!("dantesync service: {warnings} step(s) not done, see above");
    }
    Ok(())
}

fn perform(
    scm: &ServiceManager,
    action: &Action,
    exe: &Path,
    request: Option<&InstallRequest>,
) -> Result<(), String> {
    let svc = |e: windows_service::Error| explain("the service control manager", e);
    match action {
        Action::PrepareDataDir => {
            let logs = data_dir().join("logs");
            fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
            run_tool("icacls", &icacls_args(&data_dir()))
        }
        Action::CreateConfig => {
            let request = request.ok_or("no install request")?;
            // create_new: never over a file that appeared meanwhile.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&request.config)
                .and_then(|mut f| io::Write::write_all(&mut f, STARTER_CONFIG.as_bytes()))
                .map_err(|e| format!("{}: {e}", request.config.display()))
        }
        Action::RegisterEventSource => {
            run_tool(
                "reg",
                &[
                    "add",
                    EVENT_SOURCE_KEY,
                    "/v",
                    "EventMessageFile",
                    "/t",
                    "REG_EXPAND_SZ",
                    "/d",
                    EVENT_MESSAGE_FILE,
                    "/f",
                ],
            )?;
            run_tool(
                "reg",
                &[
                    "add",
                    EVENT_SOURCE_KEY,
                    "/v",
                    "TypesSupported",
                    "/t",
                    "REG_DWORD",
                    "/d",
                    "7",
                    "/f",
                ],
            )
        }
        Action::CreateService | Action::UpdateService => {
            let request = request.ok_or("no install request")?;
            let info = service_info(request);
            let service = if matches!(action, Action::CreateService) {
                scm.create_service(&info, ServiceAccess::CHANGE_CONFIG)
            } else {
                scm.open_service(SERVICE_NAME, ServiceAccess::CHANGE_CONFIG)
                    .and_then(|s| s.change_config(&info).map(|()| s))
            }
            .map_err(svc)?;
            service
                .set_description(
                    "Keeps this PC's clock in step with the Dante network: PTPv1 for rate, NTP \
                     for time.",
                )
                .map_err(svc)
        }
        Action::SetRecovery => {
            let service = scm
                .open_service(
                    SERVICE_NAME,
                    ServiceAccess::CHANGE_CONFIG | ServiceAccess::START,
                )
                .map_err(svc)?;
            let restart = |s| ServiceAction {
                action_type: ServiceActionType::Restart,
                delay: Duration::from_secs(s),
            };
            service
                .update_failure_actions(ServiceFailureActions {
                    reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
                    reboot_msg: None,
                    command: None,
                    actions: Some(vec![restart(10), restart(30), restart(60)]),
                })
                .map_err(svc)?;
            // A start that fails exits with a service-specific code, not a crash: count it.
            service
                .set_failure_actions_on_non_crash_failures(true)
                .map_err(svc)
        }
        Action::RecordW32Time(record) => {
            let path = data_dir().join(W32TIME_RECORD);
            fs::write(&path, record.to_json()).map_err(|e| format!("{}: {e}", path.display()))
        }
        Action::StopW32Time => stop_and_wait(scm, W32TIME),
        Action::DisableW32Time => run_tool("sc.exe", &["config", W32TIME, "start=", "disabled"]),
        Action::DeleteFirewallRule(name) => {
            // netsh fails when no rule has the name: nothing to delete is fine.
            let _ = run_tool("netsh", &netsh_delete(name));
            Ok(())
        }
        Action::AddFirewallRule(rule) => run_tool("netsh", &rule.netsh_add(exe)),
        Action::StopService => stop_and_wait(scm, SERVICE_NAME),
        Action::DeleteService => scm
            .open_service(SERVICE_NAME, ServiceAccess::DELETE)
            .and_then(|s| s.delete())
            .map_err(svc),
        Action::RestoreW32Time(record) => {
            run_tool(
                "sc.exe",
                &["config", W32TIME, "start=", record.start_type.sc_name()],
            )?;
            if record.running {
                scm.open_service(W32TIME, ServiceAccess::START)
                    .and_then(|s| s.start::<&OsStr>(&[]))
                    .map_err(|e| explain("starting W32Time", e))?;
            }
            Ok(())
        }
        Action::ForgetW32Time => match fs::remove_file(data_dir().join(W32TIME_RECORD)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        },
        Action::DeregisterEventSource => {
            // reg fails when the key is not there: nothing to remove is fine.
            let _ = run_tool("reg", &["delete", EVENT_SOURCE_KEY, "/f"]);
            Ok(())
        }
        Action::PurgeDataDir => {
            fs::remove_dir_all(data_dir()).map_err(|e| format!("{DATA_DIR}: {e}"))
        }
    }
}

fn service_info(request: &InstallRequest) -> ServiceInfo {
    ServiceInfo {
        name: OsString::from(SERVICE_NAME),
        display_name: OsString::from("DanteSync"),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: request.exe.clone(),
        launch_arguments: request
            .launch_arguments()
            .into_iter()
            .map(OsString::from)
            .collect(),
        dependencies: Vec::new(),
        // LocalSystem: it holds SeSystemtimePrivilege and may bind ports below 1024.
        account_name: None,
        account_password: None,
    }
}

/// Stops a service and waits (at most 30 s) until it has stopped.
fn stop_and_wait(scm: &ServiceManager, name: &str) -> Result<(), String> {
    let service = scm
        .open_service(name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)
        .map_err(|e| explain(&format!("opening {name}"), e))?;
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
        Err(e) => return Err(explain(&format!("stopping {name}"), e)),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !is_running(&service) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!("{name} did not stop within 30 s"))
}

/// Runs a Windows tool; its output is shown only when it fails.
fn run_tool<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned()
        + String::from_utf8_lossy(&out.stderr).trim();
    Err(format!("{program} exited with {}: {text}", out.status))
}
