//! The UDP query API (port 31900): the 8-byte `DSYN` request, the 64-byte `DSYR` reply.
//!
//! Only allowed sources (`query_api.allow`) are answered, and only the compact request: its
//! reply is 8× the request, so it must never be sent to strangers (a reflection amplifier).
//! Everything else is dropped silently and counted. The full API (extended requests, rate
//! limits per source) is a later issue.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dantesync_core::wire::query::{
    micros_to_i32_saturating, ppm_to_ppb_saturating, AccumulatedPhase, QueryReply, QueryRequest,
    ReplyFlags,
};
use dantesync_core::Status;
use tokio::net::UdpSocket;

use super::shared::Shared;
use crate::config::QueryApi;

/// The monotonic counter's unit: ns on every platform (CLOCK_MONOTONIC_RAW on Linux, QPC
/// scaled to ns on Windows), so its frequency is always 1 GHz.
const MONOTONIC_HZ: u64 = 1_000_000_000;

pub async fn bind(cfg: &QueryApi) -> Result<UdpSocket, String> {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    UdpSocket::bind(addr)
        .await
        .map_err(|e| format!("query API: cannot bind {addr}: {e}"))
}

/// Answers requests forever.
pub async fn serve(socket: UdpSocket, cfg: QueryApi, shared: Arc<Shared>) {
    let mut buf = [0u8; 256];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!("query API: receive failed: {e}");
                continue;
            }
        };
        let request = match QueryRequest::parse(&buf[..len]) {
            Ok(QueryRequest::Compact { request_id }) if cfg.allows(from.ip()) => request_id,
            _ => {
                shared.query_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let status = shared.status();
        let mut reply = reply_from(request, &status);
        // The two times are read last and back to back, so a client can relate this clock to
        // the host's monotonic counter.
        reply.monotonic_counter = monotonic_ns();
        reply.system_time_ns = shared.now().nanos().max(0) as u64;
        if socket.send_to(&reply.to_bytes(), from).await.is_ok() {
            shared.query_answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The reply's status fields; the two times are filled by the caller.
pub fn reply_from(request_id: u32, s: &Status) -> QueryReply {
    QueryReply {
        request_id,
        system_time_ns: 0,
        monotonic_counter: 0,
        ptp_offset_ns: s.ptp_offset_ns.map_or(0, |o| {
            o.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        }),
        drift_rate_ppb: ppm_to_ppb_saturating(s.drift_ppm.unwrap_or(0.0)),
        frequency_adjustment_ppb: ppm_to_ppb_saturating(s.applied_ppm),
        mode: s.mode,
        is_locked: s.mode.is_locked(),
        grandmaster_uuid: s.leader.map_or([0; 6], |l| l.id.grandmaster.0),
        monotonic_frequency_hz: MONOTONIC_HZ,
        last_ntp_offset_us: s
            .ntp
            .map_or(0, |n| micros_to_i32_saturating(n.offset_ns / 1000)),
        accumulated_phase: AccumulatedPhase::from_micros_saturating(
            s.accumulated_phase_us.round() as i64
        ),
        flags: ReplyFlags::new(s.ntp_failing, s.mode.is_locked()),
    }
}

/// The host's monotonic counter in ns (the clock crate's reference for this platform).
fn monotonic_ns() -> u64 {
    dantesync_clock::system_reference().map_or(0, |m| m.now_ns().max(0) as u64)
}
