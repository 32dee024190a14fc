//! The Sync schedule: Syncs on absolute deadlines (start + k × interval on the monotonic
//! clock), each followed by its Follow_Up, with T1 from the kernel's transmit stamp or a
//! user-space reading (the gm_sim module's documentation says why and how).

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use dantesync_core::wire::ptpv1::Timestamp;
use rand::Rng;

use super::args::TxStamps;
use super::plan::Plan;
use super::report::ErrorReport;
use super::sockets::Sockets;
use super::stop;
use super::uptime::Uptime;
#[cfg(target_os = "linux")]
use crate::sys::txstamp;

/// How long the send loop sleeps at most before it looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The last part of a wait that is spun rather than slept (sleep overshoots by ~50–100 µs).
const SPIN: Duration = Duration::from_micros(200);

/// What the send loop did.
#[derive(Debug, Default)]
pub(super) struct SendStats {
    pub(super) syncs: u64,
    pub(super) follow_ups: u64,
    pub(super) send_errors: u64,
    /// Syncs whose kernel transmit stamp did not come in time: their T1 was read in
    /// user space instead.
    pub(super) late_stamps: u64,
    pub(super) last_sequence_id: Option<u16>,
    pub(super) stopped_by: &'static str,
}

/// Sleeps until `deadline`; false if a stop was requested first.
fn wait_until(deadline: Instant) -> bool {
    loop {
        if stop::requested() {
            return false;
        }
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            return true;
        };
        if left > SPIN {
            std::thread::sleep((left - SPIN).min(STOP_POLL));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Whether the Sync's kernel transmit stamps are on: turns them on when asked for (or
/// possible, on auto); an explicit `kernel` that cannot be had is an error.
pub(super) fn kernel_tx_stamps(want: TxStamps, sockets: &Sockets) -> Result<bool, String> {
    if want == TxStamps::User {
        return Ok(false);
    }
    #[cfg(target_os = "linux")]
    let enabled = txstamp::enable(&sockets.event).map_err(|e| e.to_string());
    #[cfg(not(target_os = "linux"))]
    let enabled: Result<(), String> = {
        let _ = sockets;
        Err("this system gives no software transmit stamps to dantesync".to_owned())
    };
    match (enabled, want) {
        (Ok(()), _) => Ok(true),
        (Err(e), TxStamps::Kernel) => Err(format!(
            "--tx-timestamps kernel: cannot turn on transmit stamps on the Sync socket ({e}); \
             use --tx-timestamps user"
        )),
        (Err(_), _) => Ok(false),
    }
}

/// How long to wait for a Sync's kernel transmit stamp before reading T1 in user space.
#[cfg(target_os = "linux")]
const STAMP_WAIT: Duration = Duration::from_millis(20);

/// Sends one Sync to `event_dest`; returns the precise T1 for its Follow_Up (the leader's
/// uptime when it left, less `early`) or the send error. With kernel stamps, a stamp that does
/// not come in time falls back to the user-space reading and counts in `late_stamps`.
fn send_sync(
    sockets: &Sockets,
    sync: &[u8],
    event_dest: SocketAddrV4,
    uptime: &Uptime,
    kernel_tx: bool,
    early: Duration,
    late_stamps: &mut u64,
) -> std::io::Result<i128> {
    if !kernel_tx {
        // T1 before the wait and the send: early by the wait, never later than the departure.
        let precise = Instant::now();
        let precise_uptime = uptime.now();
        if !early.is_zero() {
            wait_until(precise + early);
        }
        sockets.event.send_to(sync, event_dest)?;
        return Ok(precise_uptime);
    }
    #[cfg(target_os = "linux")]
    {
        txstamp::drain(&sockets.event);
        // The wait is kept (and taken off the stamp) so T1 stays after the Sync's own
        // originTimestamp, as with user-space readings.
        let started = Instant::now();
        let fallback = uptime.now();
        if !early.is_zero() {
            wait_until(started + early);
        }
        sockets.event.send_to(sync, event_dest)?;
        if let Ok(Some(sent_rt)) = txstamp::wait(&sockets.event, STAMP_WAIT) {
            return Ok(uptime.at_realtime_stamp(sent_rt) - early.as_nanos() as i128);
        }
        *late_stamps += 1;
        Ok(fallback)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = late_stamps;
        unreachable!("kernel_tx_stamps never turns them on off Linux")
    }
}

pub(super) fn send_loop(
    plan: &Plan,
    sockets: &Sockets,
    uptime: &Uptime,
    kernel_tx: bool,
) -> Result<SendStats, String> {
    let mut stats = SendStats::default();
    let start = uptime.origin();
    let end = plan.duration.map(|d| start + d);
    let mut rng = rand::rng();
    let mut errors = ErrorReport::default();
    let mut sequence_id = plan.first_sequence_id;
    let interval_ns = u64::try_from(plan.interval.as_nanos()).unwrap_or(u64::MAX);
    let jitter_ns = u64::try_from(plan.jitter.as_nanos()).unwrap_or(0);
    let mut deadline = start;
    for k in 1u64.. {
        // k − 1 Syncs were attempted (a failed send counts: --count bounds the run).
        if plan.count.is_some_and(|n| k > n) {
            stats.stopped_by = "--count";
            break;
        }
        if let Some(end) = end.filter(|&end| deadline >= end) {
            stats.stopped_by = if wait_until(end) {
                "--duration-s"
            } else {
                "a signal"
            };
            break;
        }
        if !wait_until(deadline) {
            stats.stopped_by = "a signal";
            break;
        }
        let origin = uptime.now();
        let sync = plan
            .identity
            .sync(sequence_id, Timestamp::from_nanos(origin))
            .to_bytes();
        for target in &plan.targets {
            let (event_dest, general_dest) = (target.event, target.general);
            let early = if plan.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(rng.random_range(0..=jitter_ns))
            };
            let sent = send_sync(
                sockets,
                &sync,
                event_dest,
                uptime,
                kernel_tx,
                early,
                &mut stats.late_stamps,
            );
            match sent {
                Ok(precise_uptime) => {
                    stats.syncs += 1;
                    stats.last_sequence_id = Some(sequence_id);
                    let follow_up = plan
                        .identity
                        .follow_up(sequence_id, Timestamp::from_nanos(precise_uptime))
                        .to_bytes();
                    match sockets.general.send_to(&follow_up, general_dest) {
                        Ok(_) => stats.follow_ups += 1,
                        Err(e) => {
                            stats.send_errors += 1;
                            errors.show(format!("cannot send Follow_Up to {general_dest}: {e}"));
                        }
                    }
                }
                Err(e) if stats.syncs == 0 && stats.send_errors == 0 => {
                    let hint = if event_dest.ip().is_multicast() && plan.interface.is_none() {
                        " (no multicast route? name the interface with --interface)"
                    } else {
                        ""
                    };
                    return Err(format!("cannot send Sync to {event_dest}: {e}{hint}"));
                }
                Err(e) => {
                    stats.send_errors += 1;
                    errors.show(format!("cannot send Sync to {event_dest}: {e}"));
                }
            }
        }
        sequence_id = sequence_id.wrapping_add(1);
        deadline = start + Duration::from_nanos(interval_ns.saturating_mul(k));
    }
    Ok(stats)
}
