//! Writing to the Windows Event Log (the Application log), for the service's start, stop and
//! fatal errors (`daemon/win_service.rs` decides which). Each event carries its text as the one
//! insertion string; `dantesync service install` registers the source with .NET's
//! `EventLogMessages.dll`, whose every message is "%1", so Event Viewer shows the text as is
//! (unregistered, the text is still stored, behind a "description cannot be found" note).

use std::ptr;

use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

/// An entry's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Information,
    Warning,
    Error,
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16()
        .map(|c| if c == 0 { u16::from(b' ') } else { c })
        .chain(std::iter::once(0))
        .collect()
}

/// Writes one event from `source`; a failure is ignored (the log file has the same line).
pub fn report(source: &str, kind: EventType, id: u32, text: &str) {
    let source = wide(source);
    // SAFETY: a null server name is the local computer; `source` is NUL-terminated and
    // outlives the call.
    let handle = unsafe { RegisterEventSourceW(ptr::null(), source.as_ptr()) };
    if handle.is_null() {
        return;
    }
    let kind = match kind {
        EventType::Information => EVENTLOG_INFORMATION_TYPE,
        EventType::Warning => EVENTLOG_WARNING_TYPE,
        EventType::Error => EVENTLOG_ERROR_TYPE,
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
            id,
            ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            ptr::null(),
        );
        DeregisterEventSource(handle);
    }
}
