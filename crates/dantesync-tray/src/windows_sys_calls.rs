//! The Windows calls the tray makes itself, each behind a safe function: ShellExecuteW (open a
//! page, file or folder; run a command elevated) and the thread's message loop that tray-icon's
//! hidden window needs.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use windows_sys::Win32::UI::Shell::ShellExecuteW;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    DispatchMessageW, GetMessageW, SetTimer, TranslateMessage, MSG, SW_HIDE, SW_SHOWNORMAL,
};

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// `ShellExecuteW(verb, file, params)`: `"open"` for the default program of a URL or file,
/// `"runas"` for an elevation prompt. `hidden` runs a console command without its window.
pub fn shell_execute(
    verb: &str,
    file: &str,
    params: Option<&str>,
    hidden: bool,
) -> Result<(), String> {
    let verb = wide(verb);
    let file = wide(file);
    let params = params.map(wide);
    let show = if hidden { SW_HIDE } else { SW_SHOWNORMAL };
    // SAFETY: every pointer is a NUL-terminated UTF-16 buffer alive for the call, or null
    // where the API allows it (no owner window, no parameters, no working folder).
    let r = unsafe {
        ShellExecuteW(
            null_mut(),
            verb.as_ptr(),
            file.as_ptr(),
            params.as_ref().map_or(null(), |p| p.as_ptr()),
            null(),
            show,
        )
    };
    // ShellExecuteW's result is a fake HINSTANCE: above 32 means success, else an error code
    // (SE_ERR_ACCESSDENIED also when the user declines the elevation prompt).
    let code = r as isize;
    if code > 32 {
        Ok(())
    } else {
        Err(format!("ShellExecuteW failed with code {code}"))
    }
}

/// Runs this thread's message loop, calling `tick` after every message and at least every
/// `tick_ms` (a thread timer), until `tick` returns false or WM_QUIT arrives.
pub fn message_loop(tick_ms: u32, mut tick: impl FnMut() -> bool) {
    // SAFETY: a thread timer (no window, no callback) only posts WM_TIMER to this thread.
    unsafe { SetTimer(null_mut(), 0, tick_ms, None) };
    // SAFETY: MSG is plain data; all-zero is a valid value that GetMessageW overwrites.
    let mut msg: MSG = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `msg` is a valid, writable MSG; null window = every message of this thread.
        let r = unsafe { GetMessageW(&mut msg, null_mut(), 0, 0) };
        if r <= 0 {
            return;
        }
        // SAFETY: `msg` was filled by GetMessageW just above.
        unsafe {
            TranslateMessage(&msg);
            DispatchMessageW(&msg);
        }
        if !tick() {
            return;
        }
    }
}

/// Creates the named mutex `name` and keeps it for the life of the process; false when it
/// already existed (another process holds it).
pub fn session_mutex(name: &str) -> Result<bool, String> {
    use windows_sys::Win32::Foundation::{GetLastError, ERROR_ALREADY_EXISTS};
    use windows_sys::Win32::System::Threading::CreateMutexW;
    let name = wide(name);
    // SAFETY: `name` is NUL-terminated UTF-16 alive for the call; null attributes are allowed.
    // The handle is deliberately never closed: the OS releases it when the process ends.
    let handle = unsafe { CreateMutexW(null(), 0, name.as_ptr()) };
    // SAFETY: reads this thread's last error, set by CreateMutexW just above.
    let error = unsafe { GetLastError() };
    if handle.is_null() {
        return Err(format!("CreateMutexW failed with error {error}"));
    }
    Ok(error != ERROR_ALREADY_EXISTS)
}
