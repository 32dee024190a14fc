//! The Win32 calls behind a safe API: time adjustment (precise and legacy), QPC, the precise
//! system time, setting the time with 100 ns resolution, and the SE_SYSTEMTIME privilege. All of
//! the Windows backend's unsafe code is here.

use std::io;
use std::ptr;

use windows_sys::core::PCSTR;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, BOOL, ERROR_ACCESS_DENIED, ERROR_NOT_ALL_ASSIGNED,
    ERROR_PRIVILEGE_NOT_HELD, FILETIME, HANDLE, HMODULE, LUID, SYSTEMTIME,
};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LookupPrivilegeValueW, LUID_AND_ATTRIBUTES, SE_PRIVILEGE_ENABLED,
    SE_SYSTEMTIME_NAME, TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::{
    GetSystemTimeAdjustment, GetSystemTimePreciseAsFileTime, SetSystemTime, SetSystemTimeAdjustment,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use windows_sys::Win32::System::Time::FileTimeToSystemTime;

/// A time adjustment as Get/SetSystemTimeAdjustment[Precise] describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjustment {
    pub adjustment: u64,
    pub increment: u64,
    /// TRUE: the system runs the clock itself and ignores the adjustment.
    pub disabled: bool,
}

type GetPreciseFn = unsafe extern "system" fn(*mut u64, *mut u64, *mut BOOL) -> BOOL;
type SetPreciseFn = unsafe extern "system" fn(u64, BOOL) -> BOOL;
type NtSetSystemTimeFn = unsafe extern "system" fn(*const i64, *mut i64) -> i32;

/// Get/SetSystemTimeAdjustmentPrecise, resolved at run time: they exist from Windows 10 on,
/// live in kernelbase.dll (not every kernel32.dll forwards them), and Wine 8 lacks them. A
/// static import would stop the program from loading at all where they are missing.
#[derive(Clone, Copy, Debug)]
pub struct PreciseApi {
    get: GetPreciseFn,
    set: SetPreciseFn,
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn module(name: &str) -> HMODULE {
    let name = wide(name);
    // SAFETY: `name` is a NUL-terminated UTF-16 string that outlives the call; the call only
    // looks up an already loaded module and takes no reference.
    unsafe { GetModuleHandleW(name.as_ptr()) }
}

/// The address of `name` (NUL-terminated) in the first of `modules` that exports it.
fn resolve(modules: &[&str], name: &[u8]) -> Option<unsafe extern "system" fn() -> isize> {
    debug_assert_eq!(name.last(), Some(&0));
    for m in modules {
        let h = module(m);
        if h.is_null() {
            continue;
        }
        // SAFETY: `h` is a module handle from GetModuleHandleW and `name` a NUL-terminated ASCII
        // string that outlives the call.
        let f = unsafe { GetProcAddress(h, name.as_ptr() as PCSTR) };
        if f.is_some() {
            return f;
        }
    }
    None
}

/// The precise API, if this Windows has it.
pub fn precise_api() -> Option<PreciseApi> {
    let modules = ["kernelbase.dll", "kernel32.dll"];
    let get = resolve(&modules, b"GetSystemTimeAdjustmentPrecise\0")?;
    let set = resolve(&modules, b"SetSystemTimeAdjustmentPrecise\0")?;
    // SAFETY: the exported functions have these signatures (sysinfoapi.h:
    // BOOL GetSystemTimeAdjustmentPrecise(PDWORD64, PDWORD64, PBOOL) and
    // BOOL SetSystemTimeAdjustmentPrecise(DWORD64, BOOL), WINAPI = "system").
    unsafe {
        Some(PreciseApi {
            get: std::mem::transmute::<unsafe extern "system" fn() -> isize, GetPreciseFn>(get),
            set: std::mem::transmute::<unsafe extern "system" fn() -> isize, SetPreciseFn>(set),
        })
    }
}

impl PreciseApi {
    pub fn get(&self) -> io::Result<Adjustment> {
        let (mut adjustment, mut increment, mut disabled) = (0u64, 0u64, 0 as BOOL);
        // SAFETY: three valid, exclusively borrowed out-parameters.
        let ok = unsafe { (self.get)(&mut adjustment, &mut increment, &mut disabled) };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(Adjustment {
            adjustment,
            increment,
            disabled: disabled != 0,
        })
    }

    pub fn set(&self, adjustment: u64, disabled: bool) -> io::Result<()> {
        crate::guard::check_writes_allowed()?;
        // SAFETY: plain values; needs SE_SYSTEMTIME_NAME, which failure reports.
        let ok = unsafe { (self.set)(adjustment, BOOL::from(disabled)) };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(())
    }
}

/// GetSystemTimeAdjustment (100 ns units).
pub fn legacy_get() -> io::Result<Adjustment> {
    let (mut adjustment, mut increment, mut disabled) = (0u32, 0u32, 0 as BOOL);
    // SAFETY: three valid, exclusively borrowed out-parameters.
    let ok = unsafe { GetSystemTimeAdjustment(&mut adjustment, &mut increment, &mut disabled) };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(Adjustment {
        adjustment: u64::from(adjustment),
        increment: u64::from(increment),
        disabled: disabled != 0,
    })
}

/// SetSystemTimeAdjustment (100 ns units).
pub fn legacy_set(adjustment: u32, disabled: bool) -> io::Result<()> {
    crate::guard::check_writes_allowed()?;
    // SAFETY: plain values; needs SE_SYSTEMTIME_NAME, which failure reports.
    let ok = unsafe { SetSystemTimeAdjustment(adjustment, BOOL::from(disabled)) };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// QueryPerformanceCounter: the monotonic hardware counter that time adjustments do not touch.
pub fn qpc() -> i64 {
    let mut v = 0i64;
    // SAFETY: a valid out-parameter; documented never to fail on Windows XP and later.
    unsafe { QueryPerformanceCounter(&mut v) };
    v
}

/// QueryPerformanceFrequency, counts per second (10 MHz on Windows 10 and later).
pub fn qpc_frequency() -> i64 {
    let mut v = 0i64;
    // SAFETY: a valid out-parameter; documented never to fail on Windows XP and later.
    unsafe { QueryPerformanceFrequency(&mut v) };
    v
}

/// The system time as a FILETIME count (100 ns since 1601), read precisely.
pub fn system_time_filetime() -> u64 {
    let mut ft = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    // SAFETY: a valid out-parameter.
    unsafe { GetSystemTimePreciseAsFileTime(&mut ft) };
    (u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime)
}

/// How the time was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTimeMethod {
    /// ntdll's NtSetSystemTime: 100 ns resolution.
    NtSetSystemTime,
    /// SetSystemTime's SYSTEMTIME: whole milliseconds only.
    SetSystemTimeMillis,
}

/// STATUS_PRIVILEGE_NOT_HELD.
const STATUS_PRIVILEGE_NOT_HELD: i32 = 0xC000_0061_u32 as i32;

/// Sets the system time to a FILETIME count. NtSetSystemTime takes the 100 ns count itself
/// (the documented Win32 SetSystemTime only takes milliseconds); it is ntdll's, resolved at run
/// time, and the millisecond call is the fallback where it is missing.
pub fn set_system_time_filetime(filetime: u64) -> io::Result<SetTimeMethod> {
    crate::guard::check_writes_allowed()?;
    if let Some(f) = resolve(&["ntdll.dll"], b"NtSetSystemTime\0") {
        // SAFETY: ntdll exports NtSetSystemTime(PLARGE_INTEGER NewTime, PLARGE_INTEGER
        // OldTime OPTIONAL) with the "system" ABI.
        let set = unsafe {
            std::mem::transmute::<unsafe extern "system" fn() -> isize, NtSetSystemTimeFn>(f)
        };
        let value = filetime as i64;
        // SAFETY: `value` lives across the call; the previous-time pointer is optional (null).
        let status = unsafe { set(&value, ptr::null_mut()) };
        return match status {
            0 => Ok(SetTimeMethod::NtSetSystemTime),
            STATUS_PRIVILEGE_NOT_HELD => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "NtSetSystemTime: STATUS_PRIVILEGE_NOT_HELD",
            )),
            s => Err(io::Error::other(format!(
                "NtSetSystemTime: NTSTATUS 0x{:08X}",
                s as u32
            ))),
        };
    }
    let ft = FILETIME {
        dwLowDateTime: filetime as u32,
        dwHighDateTime: (filetime >> 32) as u32,
    };
    // SAFETY: SYSTEMTIME is plain integers; zero is a valid value to overwrite.
    let mut st: SYSTEMTIME = unsafe { std::mem::zeroed() };
    // SAFETY: valid in and out pointers.
    if unsafe { FileTimeToSystemTime(&ft, &mut st) } == 0 {
        return Err(last_error());
    }
    // SAFETY: a valid SYSTEMTIME; needs SE_SYSTEMTIME_NAME, which failure reports.
    if unsafe { SetSystemTime(&st) } == 0 {
        return Err(last_error());
    }
    Ok(SetTimeMethod::SetSystemTimeMillis)
}

/// Enables SeSystemtimePrivilege in this process's token. It is disabled by default even for
/// accounts that hold it (Microsoft, SetSystemTimeAdjustmentPrecise remarks); an account that
/// does not hold it gets ERROR_NOT_ALL_ASSIGNED, reported as PermissionDenied.
pub fn enable_systemtime_privilege() -> io::Result<()> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` is a valid out-parameter.
    let ok = unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY,
            &mut token,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    let result = enable_in_token(token);
    // SAFETY: `token` is the handle OpenProcessToken opened; closed once.
    unsafe { CloseHandle(token) };
    result
}

fn enable_in_token(token: HANDLE) -> io::Result<()> {
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    // SAFETY: a null system name means the local system; the privilege name is a static
    // NUL-terminated wide string; `luid` is a valid out-parameter.
    if unsafe { LookupPrivilegeValueW(ptr::null(), SE_SYSTEMTIME_NAME, &mut luid) } == 0 {
        return Err(last_error());
    }
    let privileges = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: SE_PRIVILEGE_ENABLED,
        }],
    };
    // SAFETY: `token` was opened with TOKEN_ADJUST_PRIVILEGES; `privileges` is a valid
    // TOKEN_PRIVILEGES with one entry; no previous state is requested.
    let ok = unsafe {
        AdjustTokenPrivileges(token, 0, &privileges, 0, ptr::null_mut(), ptr::null_mut())
    };
    // AdjustTokenPrivileges "succeeds" when the account lacks the privilege and says so only
    // through the last error, which must be read right away.
    // SAFETY: no preconditions.
    let err = unsafe { GetLastError() };
    if ok == 0 {
        return Err(from_code(err));
    }
    if err == ERROR_NOT_ALL_ASSIGNED {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the account does not hold SeSystemtimePrivilege (\"Change the system time\")",
        ));
    }
    Ok(())
}

fn last_error() -> io::Error {
    // SAFETY: no preconditions.
    from_code(unsafe { GetLastError() })
}

/// A Win32 error, with the privilege failures classified as PermissionDenied (std maps only
/// ERROR_ACCESS_DENIED that way).
fn from_code(code: u32) -> io::Error {
    let e = io::Error::from_raw_os_error(code as i32);
    if code == ERROR_PRIVILEGE_NOT_HELD || code == ERROR_ACCESS_DENIED {
        io::Error::new(io::ErrorKind::PermissionDenied, e)
    } else {
        e
    }
}
