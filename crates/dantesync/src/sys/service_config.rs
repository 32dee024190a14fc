//! What `windows-service` does not read: whether an automatic service starts delayed
//! (QueryServiceConfig2W, SERVICE_CONFIG_DELAYED_AUTO_START_INFO), so that uninstall puts
//! W32Time back exactly as "automatic (delayed start)" when it was.

use std::ffi::c_void;
use std::io;
use std::mem::size_of;

use windows_sys::Win32::System::Services::{
    QueryServiceConfig2W, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, SERVICE_DELAYED_AUTO_START_INFO,
};

/// Whether the service behind `handle` (opened with SERVICE_QUERY_CONFIG) is a delayed
/// automatic start.
pub fn delayed_auto_start(handle: *mut c_void) -> io::Result<bool> {
    let mut info = SERVICE_DELAYED_AUTO_START_INFO {
        fDelayedAutostart: 0,
    };
    let mut needed = 0u32;
    // SAFETY: `handle` is a live service handle the caller holds; `info` is a writable buffer of
    // exactly the size given, the layout this info level fills; `needed` is a valid
    // out-parameter.
    let ok = unsafe {
        QueryServiceConfig2W(
            handle,
            SERVICE_CONFIG_DELAYED_AUTO_START_INFO,
            (&mut info as *mut SERVICE_DELAYED_AUTO_START_INFO).cast::<u8>(),
            size_of::<SERVICE_DELAYED_AUTO_START_INFO>() as u32,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.fDelayedAutostart != 0)
}
