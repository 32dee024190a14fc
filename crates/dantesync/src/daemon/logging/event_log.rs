//! The Windows Event Log (Application log, source `DanteSync`): the service's start, stop and
//! fatal errors, where an administrator looks first. Each event carries its text as the one
//! insertion string; `dantesync service install` registers the source with .NET's
//! `EventLogMessages.dll`, whose every message is "%1", so Event Viewer shows the text as is
//! (unregistered, the text is still stored, behind a "description cannot be found" note).

use std::ptr;

use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

use crate::daemon::win_service::{EventLevel, ServiceEvent};

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16()
        .map(|c| if c == 0 { u16::from(b' ') } else { c })
        .chain(std::iter::once(0))
        .collect()
}

/// Writes one event; a failure is ignored (the log file has the same line).
pub fn report(event: ServiceEvent, text: &str) {
    let source = wide(crate::daemon::win_service::SERVICE_NAME);
    // SAFETY: a null server name is the local computer; `source` is NUL-terminated and
    // outlives the call.
    let handle = unsafe { RegisterEventSourceW(ptr::null(), source.as_ptr()) };
    if handle.is_null() {
        return;
    }
    let kind = match event.level() {
        EventLevel::Information => EVENTLOG_INFORMATION_TYPE,
        EventLevel::Warning => EVENTLOG_WARNING_TYPE,
        EventLevel::Error => EVENTLOG_ERROR_TYPE,
    };
    let message = wide(text);
    let strings = [message.as_ptr()];
    // SAFETY: `handle` is the open event source; `strings` holds one NUL-terminated string
    // that outlives the call; no user SID and no raw data.
    unsafe {
        ReportEventW(
            handle,
            kind,
            0,
            event.id(),
            ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            ptr::null(),
        );
        DeregisterEventSource(handle);
    }
}
