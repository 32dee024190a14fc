//! Ctrl-C and SIGTERM end a run cleanly, so the summary is still printed.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM has arrived since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

#[cfg(unix)]
extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to [`requested`]. On Windows Ctrl-C keeps its default action
/// (the process ends without a summary).
pub fn install() {
    #[cfg(unix)]
    {
        let handler = on_signal as extern "C" fn(libc::c_int);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and
            // `signal` has no other precondition.
            unsafe {
                libc::signal(signal, handler as *const () as libc::sighandler_t);
            }
        }
    }
}
