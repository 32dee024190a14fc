//! The HTTP status server (port 8898): `/api/status` (JSON), `/api/history` (the last hour for
//! the charts), `/metrics` (Prometheus) and `/`, a live page for people, all read-only.
//!
//! It runs as tasks on the daemon's one tokio thread (axum over hyper): a request is a copy of
//! the published status turned into text, microseconds, and never touches the clock's rate.
//! Nothing here can change the daemon's state; an endpoint that could would have to listen on
//! loopback only (docs/http-api.md). The page and its script are compiled into the binary, so a
//! node needs no internet access to show it.

mod connections;
mod fields;
mod history;
mod metrics;
mod page;
mod status_json;

pub(crate) use fields::ptp_packets_per_s_at;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use dantesync_core::ntp_server::Counters;
use dantesync_core::{LocalTime, Status};
use tokio::net::TcpListener;

use super::shared::Shared;
use crate::config::{ClockKind, Config};
use history::History;

/// What the status surfaces show about this node besides the status.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub hostname: String,
    pub clock: String,
    pub interface: Option<String>,
    /// The NTP server asked (`None` when PTP-only).
    pub ntp_upstream: Option<String>,
    /// Windows: the interface that sets the system clock's frequency ([`clock_adjustment`]).
    pub clock_adjustment: Option<&'static str>,
}

/// Windows only: how this Windows sets the system clock's frequency. Said on a simulated clock
/// too, so a machine without the precise interface (before Windows 10, or Wine) shows it.
pub fn clock_adjustment() -> Option<&'static str> {
    #[cfg(windows)]
    return Some(if dantesync_clock::windows::has_precise_adjustment() {
        "SetSystemTimeAdjustmentPrecise"
    } else {
        "SetSystemTimeAdjustment (legacy: this Windows lacks GetSystemTimeAdjustmentPrecise)"
    });
    #[cfg(not(windows))]
    None
}

impl NodeInfo {
    pub fn from_config(cfg: &Config) -> Self {
        NodeInfo {
            hostname: hostname(),
            clock: match cfg.clock {
                ClockKind::System => "system".to_owned(),
                ClockKind::Simulated { .. } => "simulated".to_owned(),
            },
            interface: cfg.interface.clone(),
            ntp_upstream: if cfg.ptp_only() {
                None
            } else {
                cfg.ntp_servers.first().map(ToString::to_string)
            },
            clock_adjustment: clock_adjustment(),
        }
    }
}

/// One consistent reading of everything a response shows.
#[derive(Debug)]
pub struct View {
    /// The snapshot, its `host` part (uptime, PTP timestamping, query counters) filled in.
    pub status: Status,
    pub now: LocalTime,
    pub node: NodeInfo,
    pub ntp_server: Option<Counters>,
    pub ptp_dropped_source: u64,
    /// Whether the kernel was last told the clock is synchronised; `None` when not applicable.
    pub kernel_synchronised: Option<bool>,
    /// Frequency changes by another program seen since start.
    pub clock_interference: u64,
    /// The leap second announced for the end of this month.
    pub leap_pending: dantesync_clock::LeapSecond,
}

impl View {
    fn read(app: &App) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let sh = &app.shared;
        View {
            status: sh.status(),
            now: sh.now(),
            node: app.node.clone(),
            ntp_server: sh.ntp_server_counters(),
            ptp_dropped_source: sh.ptp_dropped_source.load(Relaxed),
            kernel_synchronised: sh.kernel.synchronised(),
            clock_interference: sh.kernel.interference(),
            leap_pending: sh.kernel.leap_pending(),
        }
    }
}

#[derive(Debug)]
struct App {
    shared: Arc<Shared>,
    node: NodeInfo,
    history: Mutex<History>,
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program, or another dantesync, holds it: choose http_status.port, or set http_status.enabled to false)"
        } else {
            ""
        };
        format!("HTTP status: cannot bind {addr}: {e}{hint}")
    })
}

/// Serves forever, and samples the status into the history the charts show.
pub async fn serve(listener: TcpListener, node: NodeInfo, shared: Arc<Shared>) {
    let app = Arc::new(App {
        shared,
        node,
        history: Mutex::new(History::new(history::CAPACITY)),
    });
    tokio::spawn(sample(app.clone()));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("HTTP status on http://{addr}/ (/api/status, /metrics)");
    }
    let router = Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/status", get(api_status))
        // Where scripts of the earlier DanteSync may look for the same document.
        .route("/status", get(api_status))
        .route("/api/history", get(api_history))
        .route("/metrics", get(api_metrics))
        .with_state(app);
    connections::serve(listener, router).await;
}

async fn sample(app: Arc<App>) {
    let mut tick = tokio::time::interval(history::STEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (status, now) = (app.shared.status(), app.shared.now());
        app.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&status, now);
    }
}

const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

async fn api_status(State(app): State<Arc<App>>) -> impl IntoResponse {
    let body = status_json::document(&View::read(&app)).to_string();
    ([(header::CONTENT_TYPE, "application/json"), NO_STORE], body)
}

async fn api_history(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> impl IntoResponse {
    let since = q.as_deref().and_then(since_param);
    let body = app
        .history
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .to_json(since)
        .to_string();
    ([(header::CONTENT_TYPE, "application/json"), NO_STORE], body)
}

async fn api_metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let body = metrics::render(&View::read(&app));
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            NO_STORE,
        ],
        body,
    )
}

/// `since=<ms>` from a query string; anything else is ignored (the whole history is sent).
fn since_param(query: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse().ok())
}

/// The host's name, for the page's title; empty when the system does not say.
fn hostname() -> String {
    #[cfg(windows)]
    let name = std::env::var("COMPUTERNAME").unwrap_or_default();
    #[cfg(not(windows))]
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    name.trim().to_owned()
}

#[cfg(test)]
mod tests;
