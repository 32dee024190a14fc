//! Ctrl-C and SIGTERM end a run cleanly, so the summary is still printed.
//!
//! gm-sim and the demo are plain threads, not async code, so the signals are received the
//! daemon's way (tokio's signal streams) on a small thread of their own that turns the first
//! one into a flag the loops poll.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM has arrived since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Routes SIGINT and SIGTERM to [`requested`]. The handlers are in place when this returns,
/// so a signal sent right after the start banner never kills the process unreported. On
/// Windows Ctrl-C keeps its default action (the process ends without a summary).
pub fn install() {
    #[cfg(unix)]
    if let Err(e) = listen() {
        // Without handlers the default action stays: the process ends without a summary.
        eprintln!("cannot catch SIGINT and SIGTERM ({e}); they will end the run unreported");
    }
}

#[cfg(unix)]
fn listen() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registering needs the runtime's context, not a running runtime.
    let (mut interrupt, mut terminate) = {
        let _context = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("stop-signals".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            REQUESTED.store(true, Ordering::SeqCst);
        })?;
    Ok(())
}
