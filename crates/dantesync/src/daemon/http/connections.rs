//! Accepting HTTP connections with bounds, because the server listens on every interface by
//! default: at most [`MAX_CONNECTIONS`] at once (more are closed at once), request headers
//! within [`HEADER_TIMEOUT`], and a connection lives at most [`LIFETIME`] (then it is closed
//! after the request in flight), so idle or slow clients cannot pile up and take the file
//! descriptors the daemon's own sockets need.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub const MAX_CONNECTIONS: usize = 64;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const LIFETIME: Duration = Duration::from_secs(120);
/// How long a closing connection may take to finish its request.
const DRAIN: Duration = Duration::from_secs(5);
/// Repeated warnings (accept errors, connections refused) at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` forever.
pub async fn serve(listener: TcpListener, router: Router) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut accept_warned: Option<tokio::time::Instant> = None;
    let mut full_warned: Option<tokio::time::Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                // Out of file descriptors, typically: wait instead of spinning.
                if due(&mut accept_warned) {
                    tracing::warn!("HTTP status: cannot accept a connection: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if due(&mut full_warned) {
                tracing::warn!(
                    "HTTP status: {MAX_CONNECTIONS} connections open; closing new ones (this from {peer})"
                );
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = conn.as_mut() => {}
                () = tokio::time::sleep(LIFETIME) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
            drop(permit);
        });
    }
}

/// True when a rate-limited warning may be logged now (and notes that it was).
fn due(last: &mut Option<tokio::time::Instant>) -> bool {
    let now = tokio::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}
