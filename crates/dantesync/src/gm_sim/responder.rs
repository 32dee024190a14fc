//! The Delay_Req responder: answers each Delay_Req with a Delay_Resp from the general socket,
//! on a thread of its own beside the Sync schedule.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};

use dantesync_core::wire::ptpv1::{Message, Subdomain, Timestamp};

use super::plan::Plan;
use super::report::ErrorReport;
use super::sockets;
use super::stop;
use super::uptime::Uptime;

/// Answers every Delay_Req until `done`; returns how many.
pub(super) fn answer_delay_reqs(
    plan: &Plan,
    listener: &UdpSocket,
    general: &UdpSocket,
    uptime: &Uptime,
    done: &AtomicBool,
) -> u64 {
    let mut answered = 0u64;
    let mut sequence_id = 0u16;
    let mut buf = [0u8; 1500];
    let mut errors = ErrorReport::default();
    while !done.load(Ordering::SeqCst) && !stop::requested() {
        let (len, from) = match listener.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) => {
                use std::io::ErrorKind::{ConnectionReset, Interrupted, TimedOut, WouldBlock};
                // Timeouts are the poll; Windows reports an earlier ICMP port unreachable
                // as a reset on the next receive.
                if !matches!(
                    e.kind(),
                    WouldBlock | TimedOut | Interrupted | ConnectionReset
                ) {
                    errors.show(format!("cannot receive Delay_Req: {e}"));
                    std::thread::sleep(sockets::LISTEN_POLL);
                }
                continue;
            }
        };
        let receipt = uptime.now();
        let Ok(Message::DelayReq(request, _)) = Message::parse(&buf[..len]) else {
            continue;
        };
        if request.subdomain != Subdomain::DEFAULT {
            continue;
        }
        let std::net::SocketAddr::V4(from) = from else {
            continue;
        };
        let response = plan
            .identity
            .delay_resp(sequence_id, &request, Timestamp::from_nanos(receipt))
            .to_bytes();
        sequence_id = sequence_id.wrapping_add(1);
        let mut sent = false;
        for to in plan.delay_resp_dests(*from.ip()) {
            match general.send_to(&response, to) {
                Ok(_) => sent = true,
                Err(e) => errors.show(format!("cannot send Delay_Resp to {to}: {e}")),
            }
        }
        answered += u64::from(sent);
    }
    answered
}
