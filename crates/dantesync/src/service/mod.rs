//! `dantesync service install | uninstall | status`: the Windows service's registration.
//!
//! The decisions ([`plan`], [`status`]) are plain Rust, tested on every platform; the Windows
//! calls that observe the machine and carry them out are in `windows.rs`. Elsewhere each
//! subcommand says how Linux does the same.

mod plan;
mod status;
#[cfg(windows)]
mod windows;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register the DanteSync service (run elevated): automatic start, restart on failure,
    /// W32Time stopped and disabled (its state recorded for uninstall), firewall rules for
    /// the configured ports, the data folder C:\ProgramData\DanteSync locked to
    /// Administrators and SYSTEM. Run again to update; nothing is duplicated.
    Install {
        /// The configuration the service runs with [default: C:\ProgramData\DanteSync\config.json]
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Stop and remove the service and its firewall rules, and put W32Time back as it was.
    /// Keeps the configuration, state and logs unless --purge.
    Uninstall {
        /// Also remove C:\ProgramData\DanteSync (configuration, state, logs)
        #[arg(long)]
        purge: bool,
    },
    /// Show whether the service is installed, its state, start type, pid and last exit code.
    ///
    /// Exit status: 0 running, 3 installed but not running, 4 not installed.
    Status,
}

/// What each subcommand says where there is no Windows service control manager.
#[cfg(any(not(windows), test))]
pub fn linux_way(command: &ServiceCommand) -> &'static str {
    match command {
        ServiceCommand::Install { .. } => {
            "`dantesync service install` is for Windows; on Linux install the .deb \
             (dpkg -i dantesync_*.deb) or run packaging/linux/install.sh, then \
             `systemctl enable --now dantesync`"
        }
        ServiceCommand::Uninstall { .. } => {
            "`dantesync service uninstall` is for Windows; on Linux `apt remove dantesync` \
             (or `apt purge`), or packaging/linux/uninstall.sh"
        }
        ServiceCommand::Status => {
            "`dantesync service status` is for Windows; on Linux `systemctl status dantesync` \
             (and `dantesync status` for what it is doing)"
        }
    }
}

pub fn run(command: &ServiceCommand) -> ExitCode {
    #[cfg(windows)]
    {
        windows::run(command)
    }
    #[cfg(not(windows))]
    {
        eprintln!("dantesync: {}", linux_way(command));
        ExitCode::from(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_windows_each_subcommand_names_the_linux_way() {
        let install = linux_way(&ServiceCommand::Install { config: None });
        assert!(install.contains("packaging/linux/install.sh"), "{install}");
        assert!(install.contains("systemctl enable --now dantesync"));
        assert!(install.contains(".deb"));
        let uninstall = linux_way(&ServiceCommand::Uninstall { purge: true });
        assert!(
            uninstall.contains("packaging/linux/uninstall.sh"),
            "{uninstall}"
        );
        let status = linux_way(&ServiceCommand::Status);
        assert!(status.contains("systemctl status dantesync"), "{status}");
    }
}
