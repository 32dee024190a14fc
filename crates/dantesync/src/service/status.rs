//! `dantesync service status`: what the SCM says about the service, and the exit status
//! scripts test (0 running, 3 not running, 4 not installed: the LSB status codes).

#![cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "the report is the Windows service status; tested everywhere"
    )
)]

use super::plan::StartType;

/// The SCM's view of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// As the SCM names it: "running", "stopped", "start pending"...
    pub state: &'static str,
    pub start_type: StartType,
    pub pid: Option<u32>,
    /// The Win32 exit code; ERROR_SERVICE_SPECIFIC_ERROR (1066) means "see the next one".
    pub win32_exit_code: u32,
    pub service_exit_code: u32,
    /// The program and arguments the SCM starts.
    pub command_line: String,
}

pub const RUNNING: u8 = 0;
pub const NOT_RUNNING: u8 = 3;
pub const NOT_INSTALLED: u8 = 4;

const ERROR_SERVICE_SPECIFIC_ERROR: u32 = 1066;
const ERROR_SERVICE_NEVER_STARTED: u32 = 1077;

/// The text to print and the exit status.
pub fn render(found: Option<&Found>) -> (String, u8) {
    let Some(f) = found else {
        return (
            "DanteSync service: not installed (dantesync service install)\n".into(),
            NOT_INSTALLED,
        );
    };
    let mut out = format!(
        "DanteSync service: installed\n  state:      {}\n  start type: {}\n",
        f.state,
        f.start_type.label()
    );
    if let Some(pid) = f.pid.filter(|&p| p != 0) {
        out += &format!("  pid:        {pid}\n");
    }
    let exit = if f.win32_exit_code == ERROR_SERVICE_SPECIFIC_ERROR {
        format!(
            "{} ({})",
            f.service_exit_code,
            crate::daemon::exit_code_meaning(f.service_exit_code)
        )
    } else if f.win32_exit_code == 0 {
        "0".to_owned()
    } else if f.win32_exit_code == ERROR_SERVICE_NEVER_STARTED {
        "none (never started)".to_owned()
    } else {
        format!("Win32 error {}", f.win32_exit_code)
    };
    out += &format!("  exit code:  {exit}\n  command:    {}\n", f.command_line);
    let code = if f.state == "running" {
        RUNNING
    } else {
        NOT_RUNNING
    };
    (out, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(state: &'static str) -> Found {
        Found {
            state,
            start_type: StartType::Auto,
            pid: Some(4242),
            win32_exit_code: 0,
            service_exit_code: 0,
            command_line: r#""C:\Program Files\DanteSync\dantesync.exe" --service"#.into(),
        }
    }

    #[test]
    fn running_is_0_and_shows_the_pid() {
        let (text, code) = render(Some(&found("running")));
        assert_eq!(code, 0);
        assert_eq!(
            text,
            "DanteSync service: installed\n  state:      running\n  start type: automatic\n  \
             pid:        4242\n  exit code:  0\n  command:    \"C:\\Program Files\\DanteSync\\\
             dantesync.exe\" --service\n"
        );
    }

    #[test]
    fn stopped_after_a_failed_start_is_3_and_names_the_stage() {
        let f = Found {
            pid: Some(0),
            win32_exit_code: 1066,
            service_exit_code: 6,
            ..found("stopped")
        };
        let (text, code) = render(Some(&f));
        assert_eq!(code, 3);
        assert!(!text.contains("pid:"), "{text}");
        assert!(
            text.contains("exit code:  6 (start failed: binding the sockets)"),
            "{text}"
        );
        let f = Found {
            win32_exit_code: 1067,
            ..found("start pending")
        };
        let (text, code) = render(Some(&f));
        assert_eq!(code, 3);
        assert!(text.contains("exit code:  Win32 error 1067"), "{text}");
        let f = Found {
            win32_exit_code: 1077,
            ..found("stopped")
        };
        assert!(render(Some(&f))
            .0
            .contains("exit code:  none (never started)"));
    }

    #[test]
    fn not_installed_is_4() {
        let (text, code) = render(None);
        assert_eq!(code, 4);
        assert_eq!(
            text,
            "DanteSync service: not installed (dantesync service install)\n"
        );
    }
}
