//! The few OS calls the bed needs, behind safe functions: clocks, entering a network namespace
//! on a thread, the Ctrl-C flag, timer slack, and a small random generator.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn read_clock(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// CLOCK_MONOTONIC_RAW, ns: the counter every namespace shares and nothing disciplines, the
/// common axis of every truth measurement.
pub fn raw_ns() -> i64 {
    read_clock(libc::CLOCK_MONOTONIC_RAW)
}

/// CLOCK_REALTIME, ns: the clock of the kernel's packet receive stamps.
pub fn realtime_ns() -> i64 {
    read_clock(libc::CLOCK_REALTIME)
}

/// The rate of CLOCK_REALTIME against CLOCK_MONOTONIC_RAW, ppm, over about 1 s: how fast
/// this host's time (what the upstream `chronyd` serves and the simulated clocks run over)
/// goes by the raw counter. Each pair is the tightest of raw/real/raw sandwiches.
pub fn realtime_rate_ppm() -> f64 {
    let pair = || {
        (0..20)
            .map(|_| {
                let a = raw_ns();
                let r = realtime_ns();
                let b = raw_ns();
                (b - a, a + (b - a) / 2, r)
            })
            .min()
            .map(|(_, raw, real)| (raw, real))
            .unwrap()
    };
    let (raw0, real0) = pair();
    std::thread::sleep(Duration::from_millis(1000));
    let (raw1, real1) = pair();
    ((real1 - real0) as f64 / (raw1 - raw0) as f64 - 1.0) * 1e6
}

/// Runs `f` on a fresh thread that has entered the network namespace `ns` (a name under
/// /var/run/netns). Sockets opened there stay in that namespace for their whole life, so the
/// bed can hold sockets in many namespaces from one process.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path)?;
        // SAFETY: setns on an open namespace file; it changes only this thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("netns thread panicked"))?
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set a flag that every wait of the bed checks: the run then unwinds
/// through its guards, which remove everything it created.
pub fn install_stop_handler() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

/// Whether Ctrl-C (or SIGTERM) was received.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps `d` in short steps, returning `Err` as soon as a stop was asked for.
pub fn sleep(d: Duration) -> Result<(), String> {
    let end = std::time::Instant::now() + d;
    loop {
        if stopping() {
            return Err("interrupted".into());
        }
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// Asks the kernel to wake this thread within 1 µs of its timers instead of the default
/// 50 µs slack: the link emulator's release times depend on it.
pub fn tight_timer_slack() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer and affects only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Puts the calling thread in the SCHED_FIFO class at `priority` (the relays' 50, their
/// release thread's 60): the link emulator's
/// threads then run as soon as a frame is due even when builds load the machine, instead of
/// waiting for a time slice (milliseconds). They block on sockets and timers, so they never
/// hold a core; the kernel's real-time throttling bounds them anyway. Best effort: without the
/// privilege the thread stays as it was, and the emulator's measured error says so.
pub fn realtime_priority(priority: i32) {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pthread_setschedparam on the calling thread with a valid parameter block.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
}

/// The CPU the link emulator's release thread has to itself (see [`crate::link`]): CPU 0,
/// because on these VMs the disk's interrupts go to CPU 1, where a build's I/O would cut
/// into the release thread's spins.
pub const RELEASE_CPU: usize = 0;

/// How many CPUs the machine has online (not how many this thread may use: that shrinks
/// once the bed is pinned).
pub fn cpu_count() -> usize {
    // SAFETY: sysconf takes a constant and has no other effect.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Restricts the calling thread (and every thread and process it starts afterwards, which
/// inherit the mask) to the CPUs `cpus`. Returns whether the kernel accepted it.
pub fn pin_to_cpus(cpus: &[usize]) -> bool {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: c is below the set's capacity (checked by the caller's small CPU count).
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: sched_setaffinity(0 = this thread) with a set of the size we pass.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Every bed process but the release thread goes to the CPUs other than [`RELEASE_CPU`]:
/// the daemons, gm-sim, chronyd, tshark, the pollers and the relays' receiving threads are
/// all light, and none of them then delays a release. Called on the main thread before
/// anything starts. Returns whether the machine has a CPU to spare for it (one CPU: no).
pub fn pin_bed_off_release_cpu() -> bool {
    let n = cpu_count();
    if n < 2 {
        return false;
    }
    let others: Vec<usize> = (0..n).filter(|&c| c != RELEASE_CPU).collect();
    pin_to_cpus(&others)
}

/// Locks the bed's memory (current and future) so that no page fault delays a release.
/// Best effort: returns whether the kernel agreed.
pub fn lock_memory() -> bool {
    // SAFETY: mlockall takes flags only.
    unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) == 0 }
}

/// Asks the kernel's power management for idle CPUs that wake at once (a PM QoS request of
/// 0 µs on `/dev/cpu_dma_latency`): on these VMs an idle CPU halts (the haltpoll driver), and
/// a halted virtual CPU can take from tens of µs to milliseconds to run again, longer than the
/// release thread's spin. The request holds while the returned file is open and ends with
/// it (also when the process dies), so nothing of it outlives the run.
pub fn low_latency_idle() -> Option<File> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .ok()?;
    f.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(f)
}

/// The kernel's receive stamp (SO_TIMESTAMPNS, CLOCK_REALTIME ns) in the control messages
/// `recvmsg` filled into `msg`, if it sent one.
pub fn kernel_stamp(msg: &libc::msghdr) -> Option<i64> {
    let mut stamp = None;
    // SAFETY: walking the control buffer the kernel filled (msg points at it and its length),
    // with the CMSG macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                stamp = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    stamp
}

/// xorshift64*: enough randomness for loss and jitter, without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn from_time() -> Rng {
        Rng::new(raw_ns() as u64 ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where the run lock lives: one bed at a time on a machine (two remove each other's
/// namespaces at start and share the release CPU).
pub const RUN_LOCK: &str = "/run/dantesync-bed.lock";

/// Takes the machine-wide run lock for as long as the returned file is open; `Err` names
/// the holder's pid when another run has it.
pub fn run_lock() -> Result<File, String> {
    use std::io::{Read, Seek, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(RUN_LOCK)
        .map_err(|e| format!("cannot open the run lock {RUN_LOCK}: {e}"))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        return Err(format!(
            "another dantesync-bed run holds {RUN_LOCK} (pid {}): two beds remove each other's \
             namespaces and share the emulator's CPU; wait for it to end, or stop it",
            holder.trim()
        ));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = write!(f, "{}", std::process::id());
    Ok(f)
}
