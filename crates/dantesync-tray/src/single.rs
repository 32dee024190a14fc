//! One tray per user session: a second one (autostart plus a manual start) would show two
//! icons and notify twice. Linux: a well-known name on the session bus, which the bus frees
//! when the process dies however it dies; Windows: a named mutex in the session's `Local\`
//! namespace, freed by the OS likewise.

/// Held for the life of the process; dropping it lets another tray start.
#[derive(Debug)]
pub struct Instance {
    #[cfg(target_os = "linux")]
    _bus: zbus::blocking::Connection,
}

/// The session bus name the running tray owns.
#[cfg(target_os = "linux")]
pub const BUS_NAME: &str = "io.github.dantesync.Tray";

/// `Ok(None)` when another tray runs in this session.
#[cfg(target_os = "linux")]
pub fn claim() -> Result<Option<Instance>, String> {
    use zbus::fdo::{RequestNameFlags, RequestNameReply};
    let bus = zbus::blocking::Connection::session()
        .map_err(|e| format!("no D-Bus session bus (is this a desktop session?): {e}"))?;
    // zbus turns the bus's "exists" reply into an error of its own.
    match bus.request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into()) {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {
            Ok(Some(Instance { _bus: bus }))
        }
        Ok(RequestNameReply::InQueue | RequestNameReply::Exists) | Err(zbus::Error::NameTaken) => {
            Ok(None)
        }
        Err(e) => Err(format!("asking the session bus for {BUS_NAME}: {e}")),
    }
}

#[cfg(windows)]
pub fn claim() -> Result<Option<Instance>, String> {
    if crate::windows_sys_calls::session_mutex("Local\\DanteSyncTray")? {
        Ok(Some(Instance {}))
    } else {
        Ok(None)
    }
}
