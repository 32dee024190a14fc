//! `dantesync-tray`: the state of dantesync's sync in the corner of the screen, one instance
//! per user session. It polls the local daemon's HTTP status (`/api/status`, once a second) and
//! shows a round icon in the state's colour (green LOCK, cyan NANO, yellow ACQ/PROD, orange
//! NTP-only, red unreachable or stale, grey starting) inside a ring showing how close the
//! drift is to the lock threshold; a tooltip and menu with the values; desktop notifications
//! when the state changes, rate-limited. docs/tray.md is the user's and tester's guide.
//!
//! # Shape
//!
//! Everything that decides is pure and platform-free, and tested with exact numbers:
//! [`status`] (the document), [`health`] (fresh, stale or unreachable, from the daemon's own
//! uptime counter), [`icon`] (the RGBA picture), [`text`] (tooltip and menu lines),
//! [`alerts`] (which changes notify, and how often), [`app`] (one poll → one [`app::Frame`]).
//! The platform layers only draw a frame and run the menu's commands.
//!
//! # Why these tray libraries
//!
//! - **Linux: `ksni`**, a StatusNotifierItem over D-Bus in pure Rust (zbus). SNI is what the
//!   desktops show today: KDE Plasma natively, GNOME with the AppIndicator extension (Ubuntu's
//!   default, Debian's `gnome-shell-extension-appindicator`), XFCE, MATE and Budgie with their
//!   SNI plugins, and Wayland sessions, where XEmbed trays do not exist. `tray-icon` on Linux
//!   goes through GTK 3 and libayatana-appindicator: a C toolchain and `-dev` packages to
//!   build, a GTK main loop to run, and the same SNI protocol underneath. `ksni` builds with
//!   cargo alone and sends the icon as pixmaps (no icon files or theme to install).
//! - **Windows: `tray-icon`** (the notification area, Shell_NotifyIcon, and its menu through
//!   `muda`), which on Windows needs no GTK; the message loop and `ShellExecuteW` come from
//!   `windows-sys`. One library for both would have meant GTK on Linux.
//! - Notifications: `notify-rust` on both (freedesktop notifications over the same zbus on
//!   Linux, toast notifications on Windows).
//!
//! The HTTP client is a bounded GET over `std::net` ([`poll`]): the daemon is on loopback and
//! speaks HTTP/1.1, and a client library would only add build time.

pub mod alerts;
pub mod app;
pub mod health;
pub mod icon;
pub mod poll;
pub mod status;
pub mod text;

#[cfg(any(target_os = "linux", windows))]
mod notify;
#[cfg(any(target_os = "linux", windows))]
mod open;

#[cfg(any(target_os = "linux", windows))]
mod single;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
mod windows_sys_calls;

/// Runs the tray until the user quits it; returns at once when another tray runs in this
/// session.
pub fn run(options: app::Options) -> Result<(), String> {
    #[cfg(any(target_os = "linux", windows))]
    let Some(_instance) = single::claim()?
    else {
        eprintln!("dantesync-tray: another dantesync-tray runs in this session: leaving it be");
        return Ok(());
    };
    #[cfg(target_os = "linux")]
    return linux::run(options);
    #[cfg(windows)]
    return windows::run(options);
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = options;
        Err("the tray runs on Linux and Windows desktops only".into())
    }
}
