//! A minimal NTP client for the controller's `StartNtpCheck` (the full client, with several
//! servers and a filter, is a later issue).
//!
//! One check is a burst of 4 mode-3 NTPv4 requests 50 ms apart to the first configured
//! server, resolved afresh each check (a DHCP'd NTP master may move), each waiting at most
//! 500 ms; the sample with the lowest delay is reported, since the least-queued exchange has
//! the least asymmetric error. It runs in a task of its own: a server that never answers costs
//! this task 2 s, never the PTP path.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dantesync_core::ntp_server::UpstreamInfo;
use dantesync_core::wire::ntp::{Leap, Mode, NtpHeader, NtpTimestamp};
use dantesync_core::{LocalTime, NtpMeasurement};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::shared::{Event, Shared};
use crate::config::ServerAddr;

const BURST: usize = 4;
const SPACING: Duration = Duration::from_millis(50);
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The upstream server of the last good sample, as its reply described itself: what the
/// built-in NTP server derives its stratum, reference id and root distance from. One daemon
/// runs per process and has one NTP client, so this lives here rather than in every caller.
static UPSTREAM: Mutex<Option<UpstreamInfo>> = Mutex::new(None);

/// The upstream server that gave the last good sample, if any did.
pub fn last_upstream() -> Option<UpstreamInfo> {
    *UPSTREAM.lock().unwrap_or_else(PoisonError::into_inner)
}

fn note_upstream(reply: &[u8], from: SocketAddr) {
    if let Ok((h, _)) = NtpHeader::parse(reply) {
        let info = UpstreamInfo {
            stratum: h.stratum,
            addr: from.ip(),
            root_delay_s: h.root_delay.to_seconds_f64(),
            root_dispersion_s: h.root_dispersion.to_seconds_f64(),
        };
        *UPSTREAM.lock().unwrap_or_else(PoisonError::into_inner) = Some(info);
    }
}

/// Runs one check per request from the engine and reports each outcome.
pub async fn run(
    server: ServerAddr,
    shared: Arc<Shared>,
    mut requests: mpsc::UnboundedReceiver<()>,
    events: mpsc::Sender<Event>,
) {
    while requests.recv().await.is_some() {
        let outcome = check(&server, &shared).await;
        if events.send(Event::Ntp(outcome)).await.is_err() {
            return;
        }
    }
}

/// One burst against `server`.
pub async fn check(server: &ServerAddr, shared: &Shared) -> Result<NtpMeasurement, String> {
    let target = resolve(server).await?;
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("NTP: cannot open a socket: {e}"))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = super::sys::enable_rx_timestamps(socket.as_raw_fd());
    }
    socket
        .connect(target)
        .await
        .map_err(|e| format!("NTP {server}: {e}"))?;
    let mut best: Option<NtpMeasurement> = None;
    let mut last_error = String::from("no reply");
    for i in 0..BURST {
        let started = Instant::now();
        match exchange(&socket, shared).await {
            Ok(m) => {
                if best.is_none_or(|b| m.delay_ns < b.delay_ns) {
                    best = Some(m);
                }
            }
            Err(Refusal::Stop(e)) => return Err(format!("NTP {server} ({target}): {e}")),
            Err(Refusal::Skip(e)) => last_error = e,
        }
        if i + 1 < BURST {
            tokio::time::sleep_until(started + SPACING).await;
        }
    }
    best.ok_or_else(|| format!("NTP {server} ({target}): {last_error}"))
}

async fn resolve(server: &ServerAddr) -> Result<SocketAddr, String> {
    let lookup = tokio::net::lookup_host((server.host.as_str(), server.port));
    let addrs = timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| format!("NTP {server}: name resolution timed out"))?
        .map_err(|e| format!("NTP {server}: cannot resolve: {e}"))?;
    let addrs: Vec<SocketAddr> = addrs.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("NTP {server}: the name has no address"))
}

/// Why an exchange gave no sample: skip it, or stop the whole check (the server said so).
#[derive(Debug)]
enum Refusal {
    Skip(String),
    Stop(String),
}

/// One request and its reply.
async fn exchange(socket: &UdpSocket, shared: &Shared) -> Result<NtpMeasurement, Refusal> {
    let t1 = shared.now();
    let transmit = NtpTimestamp::from_unix_nanos(t1.nanos());
    let request = request(transmit);
    socket
        .send(&request.to_bytes())
        .await
        .map_err(|e| Refusal::Skip(format!("send failed: {e}")))?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut buf = [0u8; 1024];
    loop {
        let received = tokio::time::timeout_at(deadline, recv(socket, &mut buf, shared))
            .await
            .map_err(|_| Refusal::Skip("no reply within 500 ms".to_owned()))?
            .map_err(|e| Refusal::Skip(format!("receive failed: {e}")))?;
        let (len, t4) = received;
        match evaluate(&buf[..len], transmit, t1, t4) {
            Ok(m) => {
                if let Ok(peer) = socket.peer_addr() {
                    note_upstream(&buf[..len], peer);
                }
                return Ok(m);
            }
            // A stale or foreign reply: keep waiting for ours.
            Err(Verdict::NotOurs) => {}
            Err(Verdict::Refused(e)) => return Err(Refusal::Skip(e)),
            Err(Verdict::Stop(e)) => return Err(Refusal::Stop(e)),
        }
    }
}

/// A datagram and its arrival time on the disciplined clock (the kernel's stamp on Linux).
async fn recv(
    socket: &UdpSocket,
    buf: &mut [u8],
    shared: &Shared,
) -> std::io::Result<(usize, LocalTime)> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        loop {
            socket.readable().await?;
            let got = socket.try_io(tokio::io::Interest::READABLE, || {
                super::sys::recv_with_timestamp(socket.as_raw_fd(), buf)
            });
            match got {
                Ok(r) => {
                    let clock = shared.clock();
                    let t4 = match r.kernel_ns {
                        Some(ns) => clock.map_kernel_timestamp(LocalTime::from_nanos(ns)),
                        None => clock.now(),
                    };
                    return Ok((r.len.min(buf.len()), t4));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let len = socket.recv(buf).await?;
        Ok((len, shared.now()))
    }
}

/// A client request carrying `transmit` as T1.
pub fn request(transmit: NtpTimestamp) -> NtpHeader {
    NtpHeader::client_request(transmit)
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Not a reply to the request in flight.
    NotOurs,
    /// Our reply, but unusable as a sample.
    Refused(String),
    /// The server asks us to stop (Kiss-o'-Death).
    Stop(String),
}

/// Checks a reply to the request sent with `transmit` at `t1`, received at `t4`, and computes
/// θ = ((T2 − T1) + (T3 − T4)) / 2 and δ = (T4 − T1) − (T3 − T2).
pub fn evaluate(
    datagram: &[u8],
    transmit: NtpTimestamp,
    t1: LocalTime,
    t4: LocalTime,
) -> Result<NtpMeasurement, Verdict> {
    let Ok((h, _)) = NtpHeader::parse(datagram) else {
        return Err(Verdict::NotOurs);
    };
    if h.mode != Mode::Server || h.origin_ts != transmit {
        return Err(Verdict::NotOurs);
    }
    if let Some(code) = h.kiss_code() {
        return Err(Verdict::Stop(format!(
            "Kiss-o'-Death {}",
            String::from_utf8_lossy(&code)
        )));
    }
    if h.leap == Leap::Unsynchronized || h.stratum >= 16 {
        return Err(Verdict::Refused(format!(
            "the server is not synchronised (leap {:?}, stratum {})",
            h.leap, h.stratum
        )));
    }
    if h.receive_ts.is_zero() || h.transmit_ts.is_zero() {
        return Err(Verdict::Refused(
            "the reply carries no timestamps".to_owned(),
        ));
    }
    let t1 = i128::from(t1.nanos());
    let t4 = i128::from(t4.nanos());
    let pivot = t1 as i64;
    let t2 = h.receive_ts.to_unix_nanos_wide(pivot);
    let t3 = h.transmit_ts.to_unix_nanos_wide(pivot);
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let delay = (t4 - t1) - (t3 - t2);
    if delay < 0 {
        return Err(Verdict::Refused(format!("negative delay {delay} ns")));
    }
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Ok(NtpMeasurement {
        offset_ns: clamp(offset),
        delay_ns: clamp(delay),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dantesync_core::wire::ntp::ReferenceId;

    const T1: i64 = 1_785_427_891_000_000_000;

    fn reply(origin: NtpTimestamp, t2: i64, t3: i64) -> NtpHeader {
        NtpHeader {
            leap: Leap::NoWarning,
            mode: Mode::Server,
            stratum: 2,
            reference_id: ReferenceId::from_bytes([10, 0, 0, 1]),
            origin_ts: origin,
            receive_ts: NtpTimestamp::from_unix_nanos(t2),
            transmit_ts: NtpTimestamp::from_unix_nanos(t3),
            ..request(NtpTimestamp::ZERO)
        }
    }

    #[test]
    fn offset_and_delay_follow_rfc5905() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        // The server is 3 ms ahead; 1 ms each way; it holds the request for 0.2 ms.
        let t2 = T1 + 1_000_000 + 3_000_000;
        let t3 = t2 + 200_000;
        let t4 = T1 + 2_200_000;
        let bytes = reply(tx, t2, t3).to_bytes();
        let m = evaluate(
            &bytes,
            tx,
            LocalTime::from_nanos(T1),
            LocalTime::from_nanos(t4),
        )
        .unwrap();
        assert_eq!(m.offset_ns, 3_000_000);
        assert_eq!(m.delay_ns, 2_000_000);
    }

    #[test]
    fn replies_to_other_requests_are_not_ours() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let other = NtpTimestamp::from_unix_nanos(T1 - 1_000);
        let bytes = reply(other, T1, T1).to_bytes();
        let v = evaluate(
            &bytes,
            tx,
            LocalTime::from_nanos(T1),
            LocalTime::from_nanos(T1 + 10),
        );
        assert_eq!(v, Err(Verdict::NotOurs));
        // Our own request echoed back (mode 3) is not a reply either.
        let echoed = request(tx).to_bytes();
        let v = evaluate(
            &echoed,
            tx,
            LocalTime::from_nanos(T1),
            LocalTime::from_nanos(T1),
        );
        assert_eq!(v, Err(Verdict::NotOurs));
    }

    #[test]
    fn kiss_of_death_stops_and_unsynchronised_servers_are_refused() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let at = (LocalTime::from_nanos(T1), LocalTime::from_nanos(T1 + 1_000));
        let mut kod = reply(tx, T1, T1);
        kod.stratum = 0;
        kod.reference_id = ReferenceId::RATE;
        assert_eq!(
            evaluate(&kod.to_bytes(), tx, at.0, at.1),
            Err(Verdict::Stop("Kiss-o'-Death RATE".to_owned()))
        );
        let mut unsync = reply(tx, T1, T1);
        unsync.leap = Leap::Unsynchronized;
        assert!(matches!(
            evaluate(&unsync.to_bytes(), tx, at.0, at.1),
            Err(Verdict::Refused(_))
        ));
        let mut s16 = reply(tx, T1, T1);
        s16.stratum = 16;
        assert!(matches!(
            evaluate(&s16.to_bytes(), tx, at.0, at.1),
            Err(Verdict::Refused(_))
        ));
    }

    #[test]
    fn the_request_is_a_version_4_client_packet_carrying_t1() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let bytes = request(tx).to_bytes();
        assert_eq!(bytes[0] & 0b111, 3, "mode 3");
        assert_eq!((bytes[0] >> 3) & 0b111, 4, "version 4");
        assert_eq!(
            u64::from_be_bytes(bytes[40..48].try_into().unwrap()),
            tx.to_bits()
        );
    }
}
