//! The Linux system calls behind a safe API: `clock_adjtime(CLOCK_REALTIME)`, `clock_gettime`
//! and `sysconf`. All of the Linux backend's unsafe code is here.

use std::io;

/// The kernel's clock discipline state, as `clock_adjtime` reports it (modes = 0 reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelState {
    /// Frequency offset, 2^-16 ppm.
    pub freq: i64,
    /// µs added per tick (nominal 1e6 / USER_HZ).
    pub tick: i64,
    /// STA_* flags.
    pub status: i32,
    /// Maximum error, µs.
    pub maxerror: i64,
    /// Estimated error, µs.
    pub esterror: i64,
    /// Remaining phase offset the kernel PLL is slewing (ns with STA_NANO, else µs).
    pub offset: i64,
    /// The call's return value: TIME_OK, TIME_INS, ..., TIME_ERROR (5, clock unsynchronised).
    pub clock_state: i32,
}

/// What a write changes; each variant sets only the fields it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelWrite {
    /// ADJ_FREQUENCY | ADJ_TICK: the whole rate, absolutely.
    Frequency { freq: i64, tick: i64 },
    /// ADJ_SETOFFSET | ADJ_NANO: add (sec, nsec) to the clock atomically; nsec in [0, 1e9).
    SetOffset { sec: i64, nsec: i64 },
    /// ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR.
    Status {
        status: i32,
        maxerror: i64,
        esterror: i64,
    },
}

/// Reads the kernel's discipline state without changing anything (modes = 0).
pub fn read() -> io::Result<KernelState> {
    // SAFETY: an all-zero timex is a valid value of this plain C struct (integers and a timeval),
    // and modes = 0 asks for a read only.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    adjtime(&mut tx)
}

/// Changes the kernel clock. Unit tests of this crate must never reach this on the host: in a
/// test build it panics instead of calling the kernel.
pub fn write(change: KernelWrite) -> io::Result<KernelState> {
    if cfg!(test) {
        panic!("unit tests must never write the host's clock (clock_adjtime {change:?})");
    }
    crate::guard::check_writes_allowed()?;
    // SAFETY: as in `read`; the fields set below are the ones the modes name.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    match change {
        KernelWrite::Frequency { freq, tick } => {
            tx.modes = libc::ADJ_FREQUENCY | libc::ADJ_TICK;
            tx.freq = freq as libc::c_long;
            tx.tick = tick as libc::c_long;
        }
        KernelWrite::SetOffset { sec, nsec } => {
            tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
            tx.time.tv_sec = sec as _;
            // With ADJ_NANO the kernel reads tv_usec as nanoseconds (adjtimex(2)).
            tx.time.tv_usec = nsec as _;
        }
        KernelWrite::Status {
            status,
            maxerror,
            esterror,
        } => {
            tx.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR;
            tx.status = status;
            tx.maxerror = maxerror as libc::c_long;
            tx.esterror = esterror as libc::c_long;
        }
    }
    adjtime(&mut tx)
}

// c_long and time_t are i32 on 32-bit targets (a Raspberry Pi's armv7), so the conversions are
// not useless everywhere.
#[allow(clippy::useless_conversion)]
fn adjtime(tx: &mut libc::timex) -> io::Result<KernelState> {
    // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call, which
    // reads and writes only within it.
    let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelState {
        freq: i64::from(tx.freq),
        tick: i64::from(tx.tick),
        status: tx.status,
        maxerror: i64::from(tx.maxerror),
        esterror: i64::from(tx.esterror),
        offset: i64::from(tx.offset),
        clock_state: rc,
    })
}

/// CLOCK_REALTIME, ns since the Unix epoch.
pub fn realtime_ns() -> i64 {
    gettime(libc::CLOCK_REALTIME)
}

/// CLOCK_MONOTONIC_RAW, ns: the hardware clock source without any frequency adjustment, the
/// reference a frequency change is measured against.
pub fn monotonic_raw_ns() -> i64 {
    gettime(libc::CLOCK_MONOTONIC_RAW)
}

#[allow(clippy::useless_conversion)]
fn gettime(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes; both clock ids exist on every Linux
    // since 2.6.28, so the call cannot fail (it would leave ts at zero).
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0);
    i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_nsec)
}

/// USER_HZ, the unit of `timex.tick` (100 on every Linux ABI).
#[allow(clippy::useless_conversion)]
pub fn user_hz() -> i64 {
    // SAFETY: sysconf takes a plain integer and has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        i64::from(hz)
    } else {
        100
    }
}
