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

/// One Delay_Req: its length, sender and delayReceiptTimestamp (T4). With kernel stamps
/// (Linux), T4 is the uptime at the kernel's receive stamp, as a leader stamps in hardware;
/// else the uptime read when the datagram is handed over, late by the wake-up (tens of µs,
/// far more on a loaded machine), which every follower's path delay would carry as half.
fn receive(
    listener: &UdpSocket,
    buf: &mut [u8],
    uptime: &Uptime,
    kernel_stamps: bool,
) -> std::io::Result<(usize, std::net::SocketAddr, i128)> {
    #[cfg(target_os = "linux")]
    if kernel_stamps {
        return rx_stamps::receive(listener, buf, uptime);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = kernel_stamps;
    let (len, from) = listener.recv_from(buf)?;
    Ok((len, from, uptime.now()))
}

#[cfg(target_os = "linux")]
mod rx_stamps {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::Uptime;
    use crate::sys;

    pub(super) fn enable(listener: &UdpSocket) -> bool {
        sys::enable_rx_timestamps(listener.as_raw_fd()).is_ok()
    }

    /// Waits (the socket's read timeout) with a peek, then takes the datagram with its stamp.
    pub(super) fn receive(
        listener: &UdpSocket,
        buf: &mut [u8],
        uptime: &Uptime,
    ) -> std::io::Result<(usize, std::net::SocketAddr, i128)> {
        listener.peek_from(buf)?;
        let got = sys::recv_with_timestamp(listener.as_raw_fd(), buf)?;
        let from = got
            .from
            .ok_or_else(|| std::io::Error::other("a datagram without a sender"))?;
        let receipt = got
            .kernel_ns
            .map_or_else(|| uptime.now(), |k| uptime.at_realtime_stamp(k));
        Ok((got.len, from, receipt))
    }
}

#[cfg(not(target_os = "linux"))]
mod rx_stamps {
    pub(super) fn enable(_: &std::net::UdpSocket) -> bool {
        false
    }
}

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
    let kernel_stamps = rx_stamps::enable(listener);
    while !done.load(Ordering::SeqCst) && !stop::requested() {
        let (len, from, receipt) = match receive(listener, &mut buf, uptime, kernel_stamps) {
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
