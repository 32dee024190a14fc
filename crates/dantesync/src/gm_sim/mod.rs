//! `dantesync gm-sim`: a Dante leader on real UDP sockets, for tests, demos and lab benches.
//!
//! What it sends is what the Focusrite RedNet AM2 in the shared capture sends, built by
//! [`dantesync_core::wire::ptpv1::LeaderIdentity`]: a two-step Sync to the event port (IP TOS 0xE0)
//! followed by a Follow_Up to the general port (TOS 0xB8), TTL 1, flags 0x000c, stratum 153,
//! variance 28768, `DFLT`, syncInterval −2 written sign-extended (byte 82 = 0xFF), and
//! timestamps on the leader's *uptime* timescale.
//!
//! # Timestamps
//!
//! The uptime runs from this host's monotonic clock at `1 + drift·1e-6` times its rate
//! ([`uptime::Uptime`]). With `--timebase raw` (Linux) it runs from CLOCK_MONOTONIC_RAW
//! instead, which no rate correction touches: a leader with a known drift for a follower that
//! disciplines this same host's clock (scripts/qemu-clock-test.sh), where CLOCK_MONOTONIC would
//! follow the follower's corrections and any servo would "lock" to it. The Sync schedule stays
//! on the monotonic clock either way. For each Sync:
//! - the Sync's own originTimestamp is read first, before the message is encoded: it is
//!   early against the precise one, as on Dante gear (there by tens of µs, here by a few);
//! - the Follow_Up's preciseOriginTimestamp is when the Sync left: on Linux (and by default,
//!   `--tx-timestamps auto`) the kernel's software transmit stamp of the datagram
//!   (SO_TIMESTAMPING, [`crate::sys::txstamp`]), taken when the driver hands it to the device, as a
//!   two-step leader stamps in hardware; the stamp is realtime and is carried to the uptime by
//!   the time elapsed since it. Elsewhere, with `--tx-timestamps user`, or when a stamp does
//!   not come within 20 ms (counted in the final report), it is a reading taken **immediately
//!   before** the Sync is handed to the socket (`send_to`), so it never comes after the
//!   datagram has left; a follower's one-way delay comes out slightly positive, never
//!   negative. A user-space reading is early by the system call and by any preemption in it
//!   (tens of µs, thousands on a loaded machine or under qemu's emulation), in steps: noise on
//!   T1 that real leaders do not have;
//! - with `--jitter-us`, T1 is made early by a random amount (uniform in 0..=jitter): with
//!   user-space readings, a wait of that length between the reading and the send; with kernel
//!   stamps, the same wait before the send and its length subtracted from the stamp. Either way it is the noise a follower sees
//!   from a leader with poor timestamping.
//!
//! Syncs go out on absolute deadlines (start + k × interval on the monotonic clock), so
//! oversleeping once delays one Sync but never the ones after it.
//!
//! # Where things are
//!
//! [`args`] is the command line, [`plan`] what a run will do (checked), [`sockets`] the
//! leader's sockets, [`schedule`] the Syncs and Follow_Ups, [`responder`] the Delay_Req
//! answers, [`report`] the banner, summary and errors; [`stop`] catches Ctrl-C and SIGTERM.
//!
//! # Delay_Req
//!
//! A Delay_Req arriving on the Delay_Req port (the event port unless `--delay-req-port` says
//! otherwise) is answered with a Delay_Resp from the general socket: delayReceiptTimestamp is
//! the uptime at the kernel's receive stamp on Linux (SO_TIMESTAMPNS, as a leader stamps in
//! hardware; elsewhere the uptime read when the receive returns), the requesting fields
//! are copied from the request, and it goes to the group's general port when sending to the
//! group (as PTPv1 does), else to the requester's address at the general port. The
//! Delay_Resp header carries the leader's UUID, flags 0x000c like its other messages (the
//! shared capture holds no Delay_Resp to check this against) and a sequence id of its own
//! that counts Delay_Resps, as ptpd does.
//!
//! On a unicast destination that is this host (loopback tests), a follower already holds the
//! event port, so the Delay_Req listener needs a port of its own: `--delay-req-port`.
//!
//! # Several destinations
//!
//! `--dest` may be given several times (or as a comma list), each `ADDR` or
//! `ADDR:EVENT_PORT:GENERAL_PORT`: one leader timescale reaches several followers, e.g. the
//! nodes of `dantesync demo` on loopback, each on its own ports. Every Sync (one sequence id,
//! one originTimestamp) goes to each destination in turn, and each destination's Follow_Up
//! carries the precise time *its* Sync was sent, so the rule above holds per follower. A Delay_Resp goes to every destination that is a group or has the
//! requester's address (followers pick theirs by the requesting UUID, as on the group), else
//! to the requester's address at the first destination's general port.

mod args;
mod dest;
mod plan;
mod report;
mod responder;
mod schedule;
mod sockets;
pub(crate) mod stop;
#[cfg(test)]
mod tests;
mod uptime;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use args::GmSimArgs;
use plan::Plan;
use report::{say, say_err, summary};
use sockets::Sockets;
use uptime::Uptime;

pub fn run(args: &GmSimArgs) -> ExitCode {
    match Plan::from_args(args).and_then(|plan| run_plan(&plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say_err(&message);
            ExitCode::FAILURE
        }
    }
}

fn run_plan(plan: &Plan) -> Result<(), String> {
    let sockets = Sockets::open(&plan.endpoints)?;
    let kernel_tx = schedule::kernel_tx_stamps(plan.tx_stamps, &sockets)?;
    stop::install();
    say(&plan.banner(&sockets, kernel_tx));
    let mut uptime = Uptime::starting_now(plan.timebase, plan.uptime_start_ns, plan.drift_ppm);
    if let Some((after_s, ppm)) = plan.rate_step {
        uptime = uptime.with_rate_step(after_s, ppm);
    }
    let done = AtomicBool::new(false);
    let (sent, answered) = std::thread::scope(|scope| {
        let responder = sockets.delay_req.as_ref().map(|listener| {
            let (general, done, uptime) = (&sockets.general, &done, &uptime);
            scope.spawn(move || responder::answer_delay_reqs(plan, listener, general, uptime, done))
        });
        let sent = schedule::send_loop(plan, &sockets, &uptime, kernel_tx);
        let ended = (Instant::now(), uptime.now());
        done.store(true, Ordering::SeqCst);
        let answered = responder.map_or(0, |handle| handle.join().unwrap_or(0));
        (sent.map(|sent| (sent, ended)), answered)
    });
    let (sent, (ended, ended_uptime)) = sent?;
    let elapsed = ended.duration_since(uptime.origin()).as_secs_f64();
    say(&summary(plan, &sent, answered, elapsed, ended_uptime));
    Ok(())
}
