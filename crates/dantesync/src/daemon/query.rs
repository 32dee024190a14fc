//! The UDP query API (port 31900): the 8-byte `DSYN` request answered by the 64-byte `DSYR`
//! reply, and the extended request answered by the extended reply (`docs/query-api.md`).
//!
//! The gate ([`QueryGate`], sans-IO) decides: only allowed sources (`query_api.allow`), each
//! within its rate limit, with a well-formed request, get an answer; everything else is dropped
//! silently and counted. The request's receive time is the kernel's (SO_TIMESTAMPNS) on Linux,
//! else the clock read right after the receive; the reply is encoded completely and only then
//! is the clock read for its transmit time, right before the send.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use dantesync_core::query_server::{Decision, QueryCounters, QueryGate, QueryRateLimit};
use dantesync_core::wire::query::{
    micros_to_i32_saturating, ppm_to_ppb_saturating, ppm_to_ppt, text_field, AccumulatedPhase,
    Coded, ExtendedFlags, ExtendedHealth, ExtendedLeader, ExtendedReply, ExtendedSyncMode,
    KernelSync, LeapPending, QueryReply, ReplyFlags, EXTENDED_REPLY_MAX_LEN, REPLY_LEN,
    SYNC_MODE_VERSION,
};
use dantesync_core::{LocalTime, Status};
use tokio::net::UdpSocket;

use super::shared::{Shared, Timestamping};
use crate::config::QueryApi;

/// The monotonic counter's unit: ns on every platform (CLOCK_MONOTONIC_RAW on Linux, QPC
/// scaled to ns on Windows), so its frequency is always 1 GHz.
const MONOTONIC_HZ: u64 = 1_000_000_000;
/// Largest datagram read; longer requests are cut (their tail is padding) and still answered.
const MAX_DATAGRAM: usize = 2048;
/// The shortest time between two log lines about dropped datagrams.
const DROP_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What the extended reply tells that neither the status nor the clock knows.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// The configured NTP server, empty when PTP-only.
    pub ntp_server: String,
    pub ptp_only: bool,
    /// The engine's events, for a fleet correction asked on loopback.
    pub events: Option<tokio::sync::mpsc::Sender<super::shared::Event>>,
}

pub async fn bind(cfg: &QueryApi) -> Result<UdpSocket, String> {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|e| format!("query API: cannot bind {addr}: {e}"))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Err(e) = super::sys::enable_rx_timestamps(socket.as_raw_fd()) {
            tracing::warn!(
                "query API: no kernel receive timestamps ({e}); extended replies carry the \
                 receive time read in user space"
            );
        }
    }
    Ok(socket)
}

/// One received request.
struct Received {
    len: usize,
    from: SocketAddr,
    /// Its receive time on the disciplined clock.
    rx: LocalTime,
    kernel: bool,
}

/// Answers requests forever.
pub async fn serve(socket: UdpSocket, cfg: QueryApi, shared: Arc<Shared>, info: NodeInfo) {
    let mut gate = QueryGate::new(QueryRateLimit {
        seed: rand::random(),
        ..QueryRateLimit::default()
    });
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut errors = 0u64;
    let mut said = QueryCounters::default();
    let mut last_said: Option<std::time::Instant> = None;
    loop {
        let got = match receive(&socket, &mut buf, &shared).await {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(e) => {
                errors += 1;
                if errors.is_power_of_two() {
                    tracing::debug!("query API: receive failed ({errors} so far): {e}");
                }
                continue;
            }
        };
        let src = got.from.ip().to_canonical();
        let now = LocalTime::from_nanos(
            i64::try_from(shared.started.elapsed().as_nanos()).unwrap_or(i64::MAX),
        );
        let decision = gate.check(&buf[..got.len], src, cfg.allows(src), now);
        let counters = gate.counters();
        shared.publish_query_counters(counters);
        match decision {
            Decision::Compact { request_id } => {
                let mut bytes = reply_from(request_id, &shared.status(), info.ptp_only).to_bytes();
                // Read last, as one pair, so a client can relate this clock to the host's
                // monotonic counter.
                let (mono, now) = paired_reading(&shared);
                QueryReply::stamp_transmit(&mut bytes, now, mono);
                send(&socket, &bytes, got.from).await;
            }
            Decision::Extended {
                request_id,
                version,
                client_tx,
            } => {
                let status = shared.status();
                let mut reply = extended_from(&status, request_id, client_tx, &got, &info);
                reply.version = version.get();
                if reply.version >= dantesync_core::wire::query::HEALTH_VERSION {
                    reply.health = Some(health_from(
                        &status,
                        shared.now(),
                        shared.kernel.synchronised(),
                        shared.kernel.interference(),
                        shared.kernel.leap_pending(),
                    ));
                }
                if reply.version >= SYNC_MODE_VERSION {
                    reply.sync_mode = Some(sync_mode_from(&status));
                }
                let mut bytes = reply.to_bytes();
                let (mono, now) = paired_reading(&shared);
                ExtendedReply::stamp_transmit(&mut bytes, now, mono);
                send(&socket, &bytes, got.from).await;
            }
            Decision::Fleet(fleet) => {
                let reply = super::fleet::answer(fleet, &shared, info.events.as_ref()).await;
                send(&socket, &reply.to_bytes(), got.from).await;
            }
            Decision::Drop(why) => {
                // At most one line a minute, with what was dropped since the last one.
                if last_said.is_none_or(|t: std::time::Instant| t.elapsed() >= DROP_LOG_EVERY) {
                    tracing::info!(
                        "query API: dropped {} datagram(s) since {} ({} from outside \
                         query_api.allow, {} over the per-source rate limit, {} compact over \
                         the cap for all sources, {} malformed, {} extended requests not \
                         padded); the latest from {} ({})",
                        counters.dropped() - said.dropped(),
                        if last_said.is_some() {
                            "the last report"
                        } else {
                            "the start"
                        },
                        counters.not_allowed - said.not_allowed,
                        counters.rate_limited - said.rate_limited,
                        counters.over_global_cap - said.over_global_cap,
                        counters.malformed - said.malformed,
                        counters.not_padded - said.not_padded,
                        got.from,
                        why.describe()
                    );
                    said = counters;
                    last_said = Some(std::time::Instant::now());
                }
            }
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, to).await {
        tracing::debug!("query API: reply to {to} not sent: {e}");
    }
}

/// The host's monotonic counter and the clock (ns since the Unix epoch, 0 before it), read
/// as one pair: the clock's lock taken first, so waiting for it (the engine may hold it) falls
/// outside the pair, then the tightest of three counter/clock/counter sandwiches, the counter
/// taken at its middle. Read one after the other, a preemption or a lock wait between the two
/// reads (hundreds of µs on a loaded machine) would show to the client as that much error in
/// this clock.
fn paired_reading(shared: &Shared) -> (u64, u64) {
    paired(&**shared.clock(), monotonic_ns)
}

fn paired(clock: &dyn dantesync_clock::Clock, counter: impl Fn() -> u64) -> (u64, u64) {
    (0..3)
        .map(|_| {
            let a = counter();
            let c = clock.now().nanos().max(0) as u64;
            let b = counter();
            (b.saturating_sub(a), a + b.saturating_sub(a) / 2, c)
        })
        .min_by_key(|&(width, _, _)| width)
        .map(|(_, mono, clock)| (mono, clock))
        .unwrap_or_default()
}

/// One datagram with its receive time; `None` when a readiness was spurious.
#[cfg(target_os = "linux")]
async fn receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    shared: &Shared,
) -> io::Result<Option<Received>> {
    use std::os::fd::AsRawFd;
    socket.readable().await?;
    let r = match socket.try_io(tokio::io::Interest::READABLE, || {
        super::sys::recv_with_timestamp(socket.as_raw_fd(), buf)
    }) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    let rx = shared.rx_time(r.kernel_ns);
    let Some(from) = r.from else {
        return Ok(None);
    };
    Ok(Some(Received {
        len: r.len.min(buf.len()),
        from,
        rx,
        kernel: r.kernel_ns.is_some(),
    }))
}

/// One datagram, stamped with the clock read right after the receive returned.
#[cfg(not(target_os = "linux"))]
async fn receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    shared: &Shared,
) -> io::Result<Option<Received>> {
    let (len, from) = socket.recv_from(buf).await?;
    let rx = shared.now();
    Ok(Some(Received {
        len,
        from,
        rx,
        kernel: false,
    }))
}

/// The compact reply's status fields; the two times are stamped by the caller. `ptp_only`
/// (no NTP server configured) sets flag bit 2, which the earlier layout kept reserved.
pub fn reply_from(request_id: u32, s: &Status, ptp_only: bool) -> QueryReply {
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
        flags: ReplyFlags::new(s.ntp_failing, s.mode.is_locked()).with_no_ntp_server(ptp_only),
    }
}

/// ns since the Unix epoch of a time on the disciplined clock (0 for none or before 1970).
fn epoch_ns(t: Option<LocalTime>) -> u64 {
    t.map_or(0, |t| t.nanos().max(0) as u64)
}

/// The extended reply's fields, from the snapshot (whose `host` part carries the query
/// counters and the PTP timestamping); the transmit time is stamped by the caller.
fn extended_from(
    s: &Status,
    request_id: u32,
    client_tx: u64,
    got: &Received,
    info: &NodeInfo,
) -> ExtendedReply {
    let (counters, ptp_timestamping) = (&s.host.query, s.host.ptp_timestamping);
    let mut flags = ExtendedFlags::default();
    flags.set(ExtendedFlags::RX_KERNEL, got.kernel);
    flags.set(ExtendedFlags::TIME_SYNCHRONISED, s.time_synchronised);
    flags.set(ExtendedFlags::NTP_FAILING, s.ntp_failing);
    flags.set(ExtendedFlags::LEARNED_PRIOR, s.learned_prior);
    flags.set(
        ExtendedFlags::PTP_RX_KERNEL,
        ptp_timestamping == Timestamping::Kernel,
    );
    flags.set(
        ExtendedFlags::PTP_RX_USER,
        ptp_timestamping == Timestamping::UserSpace,
    );
    flags.set(ExtendedFlags::LEADER, s.leader.is_some());
    flags.set(ExtendedFlags::PTP_ONLY, info.ptp_only);
    let mut leader = ExtendedLeader {
        sync_interval_log2: i8::MIN,
        ..ExtendedLeader::default()
    };
    if let Some(l) = s.leader {
        leader.sender_uuid = l.id.sender.0;
        leader.sender_port = l.id.sender_port;
        leader.grandmaster_uuid = l.id.grandmaster.0;
        leader.sync_interval_log2 = l.sync_interval_log2.unwrap_or(i8::MIN);
        if let Some(q) = l.quality {
            flags.set(ExtendedFlags::LEADER_QUALITY, true);
            flags.set(ExtendedFlags::LEADER_PREFERRED, q.preferred);
            leader.stratum = q.stratum;
            leader.variance = q.variance;
            leader.identifier = q.identifier;
        }
    }
    let ppt = |v: Option<f64>| v.and_then(ppm_to_ppt);
    let rounded = |v: f64| v.round() as i64;
    ExtendedReply {
        base: reply_from(request_id, s, info.ptp_only),
        version: 1,
        flags,
        request_rx_ns: epoch_ns(Some(got.rx)),
        client_tx,
        reply_tx_ns: 0,
        drift_ppt: ppt(s.drift_ppm),
        drift_sigma_ppt: ppt(s.drift_sigma_ppm),
        error_bound_ppt: ppt(s.error_bound_ppm),
        natural_rate_ppt: ppt(s.natural_rate_ppm),
        applied_ppt: ppm_to_ppt(s.applied_ppm).unwrap_or(0),
        slew_ppt: ppm_to_ppt(s.slew_ppm).unwrap_or(0),
        noise_ns: s.noise_us.map(|us| rounded(us * 1e3)),
        leader,
        ntp_offset_ns: s.ntp.map(|n| n.offset_ns),
        ntp_delay_ns: s.ntp.map(|n| n.delay_ns),
        ntp_at_ns: epoch_ns(s.ntp.map(|n| n.at)),
        last_correction_ns: epoch_ns(s.last_correction),
        ntp_corrections: s.ntp_corrections,
        accumulated_phase_ns: rounded(s.accumulated_phase_us * 1e3),
        ntp_interval_ms: (s.ntp_interval_s * 1e3).clamp(0.0, f64::from(u32::MAX)) as u32,
        window_samples: u32::try_from(s.window_samples).unwrap_or(u32::MAX),
        uptime_ns: (s.host.uptime_s * 1e9) as u64,
        ptp_received: s.ptp.received,
        ptp_samples: s.ptp.samples,
        leader_changes: s.ptp.leader_changes,
        query_answered: counters.answered(),
        query_dropped: counters.dropped(),
        query_rate_limited: counters.rate_limited,
        software_version: text_field(env!("CARGO_PKG_VERSION")),
        ntp_server: text_field(&info.ntp_server),
        health: None,
        sync_mode: None,
    }
}

/// Version 2's fields: what says whether the node can be trusted right now, as `/api/status`
/// shows it (`status.last_ptp_packet`, `status.ptp_packets_per_s`, `status.external_steps`,
/// `counters.clock_interference`, `node.leap_pending`, `node.kernel_synchronised`).
fn health_from(
    s: &Status,
    now: LocalTime,
    kernel_synchronised: Option<bool>,
    clock_interference: u64,
    leap: dantesync_clock::LeapSecond,
) -> ExtendedHealth {
    ExtendedHealth {
        since_last_ptp_ns: s
            .last_ptp_packet
            .map(|t| now.nanos_since(t).clamp(0, i64::MAX)),
        ptp_packets_per_s_milli: super::http::ptp_packets_per_s_at(s, now)
            .map(|r| (r * 1e3).round() as i64),
        external_steps: s.external_steps,
        clock_interference,
        leap_pending: match leap {
            dantesync_clock::LeapSecond::None => LeapPending::None,
            dantesync_clock::LeapSecond::Insert => LeapPending::Insert,
            dantesync_clock::LeapSecond::Delete => LeapPending::Delete,
        },
        kernel_sync: KernelSync::from_bool(kernel_synchronised),
    }
}

/// Version 3's fields: the sync mode and fleet mode's state against the fleet's timescale,
/// read from the same status fields `/api/status` shows (`status.sync_mode`,
/// `status.fleet_state`, `status.path_delay_state`, `status.fleet_d_source`,
/// `status.fleet_epoch`, `status.fleet_d_ns`, `status.fleet_d_age_s`, `status.path_delay_ns`,
/// `status.phase_error_ns`), in ns where those show seconds or fractions.
fn sync_mode_from(s: &Status) -> ExtendedSyncMode {
    let f = &s.fleet;
    ExtendedSyncMode {
        sync_mode: Coded::Known(s.sync_mode),
        fleet_state: Coded::Known(f.state),
        path_delay_state: Coded::Known(s.path_delay.state),
        d_source: Coded::Known(s.fleet_authority.and_then(|a| a.source)),
        d_epoch: f.epoch,
        d_ns: f.d_ns,
        // `as` saturates; the encoder keeps a value off the absent marker.
        d_age_ns: f.d_age_s.map(|s| (s * 1e9).round() as i64),
        path_delay_ns: s.path_delay.delay_ns,
        phase_error_ns: f.phase_error_ns.map(|e| e.round() as i64),
    }
}

/// The host's monotonic counter in ns (the clock crate's reference for this platform).
fn monotonic_ns() -> u64 {
    dantesync_clock::system_reference().map_or(0, |m| m.now_ns().max(0) as u64)
}

// Every reply fits the receive buffer of any client that reads the longest one.
const _: () = assert!(REPLY_LEN < EXTENDED_REPLY_MAX_LEN && EXTENDED_REPLY_MAX_LEN < MAX_DATAGRAM);

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
