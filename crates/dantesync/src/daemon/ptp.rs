//! PTP receive: the event and general sockets, the multicast membership, receive timestamps.
//!
//! Each port gets one socket bound to the wildcard address with SO_REUSEADDR, so it takes both
//! the group's multicast (joined on one explicit interface: joining on INADDR_ANY fails with
//! ENODEV on a host without a multicast route) and unicast datagrams (how loopback tests and the
//! demo feed it). Each socket has its own task; a datagram is stamped as early as possible (by
//! the kernel with SO_TIMESTAMPNS on Linux, else right after `recv`) and handed to the engine
//! over a channel, so nothing else the daemon does can delay the stamp.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dantesync_core::LocalTime;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::iface;
use super::shared::{Event, Shared, Timestamping};

/// Largest datagram kept: PTPv1 messages are at most 124 bytes; anything longer is cut and
/// then refused by the parser.
const MAX_DATAGRAM: usize = 512;
/// First and longest wait between attempts to join the group again.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often a working membership is checked against the interface's present address.
const MEMBERSHIP_CHECK: Duration = Duration::from_secs(30);

/// A bound PTP socket and what it is for.
#[derive(Debug)]
pub struct PtpSocket {
    pub socket: UdpSocket,
    pub port: u16,
    pub what: &'static str,
}

/// Binds the socket of one PTP port. A failure is fatal for the daemon (it cannot follow a
/// leader without it), so the message says what to do.
pub fn bind(port: u16, what: &'static str) -> Result<PtpSocket, String> {
    let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let fail = |e: io::Error| {
        let hint = match e.kind() {
            io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            }
            io::ErrorKind::AddrInUse => " (another program holds it without SO_REUSEADDR)",
            _ => "",
        };
        format!("PTP {what} socket: cannot bind {local}: {e}{hint}")
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    s.set_reuse_address(true).map_err(fail)?;
    s.bind(&local.into()).map_err(fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Err(e) = super::sys::enable_rx_timestamps(s.as_raw_fd()) {
            tracing::warn!("PTP {what} socket: no kernel receive timestamps ({e}); using user-space timestamps");
        }
    }
    let std_socket: std::net::UdpSocket = s.into();
    let socket = UdpSocket::from_std(std_socket).map_err(fail)?;
    Ok(PtpSocket { socket, port, what })
}

/// Receives on one PTP socket forever, keeping its multicast membership alive.
pub async fn receive(
    sock: PtpSocket,
    group: Ipv4Addr,
    interface: Option<String>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
) {
    let mut membership = Membership::new(group, interface, sock.what);
    membership.refresh(&sock.socket);
    let mut check = tokio::time::interval_at(
        tokio::time::Instant::now() + membership.next_check(),
        BACKOFF_MIN,
    );
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut recv_errors = 0u32;
    loop {
        tokio::select! {
            ready = sock.socket.readable() => {
                if let Err(e) = ready {
                    recv_failed(&sock, &mut recv_errors, &e).await;
                    continue;
                }
                match recv_one(&sock.socket, &mut buf, &shared) {
                    Ok(Some((len, from, rx))) => {
                        if recv_errors > 0 {
                            tracing::info!("PTP {} socket receives again", sock.what);
                            recv_errors = 0;
                        }
                        if !shared.ptp_source_allowed(from.ip()) {
                            shared.ptp_dropped_source.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("PTP from {from} dropped: not in ptp.source_allowlist");
                            continue;
                        }
                        let event = Event::Ptp { bytes: buf[..len].to_vec(), rx };
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => recv_failed(&sock, &mut recv_errors, &e).await,
                }
            }
            _ = check.tick() => {
                membership.refresh(&sock.socket);
                check.reset_after(membership.next_check());
            }
        }
    }
}

/// A receive error (an interface that went away, a full buffer): said once, then retried with
/// a growing pause so a dead socket does not spin or flood the log.
async fn recv_failed(sock: &PtpSocket, errors: &mut u32, e: &io::Error) {
    *errors = errors.saturating_add(1);
    if *errors == 1 {
        tracing::warn!(
            "PTP {} socket (port {}): receive failed: {e}; retrying quietly",
            sock.what,
            sock.port
        );
    }
    let pause = BACKOFF_MIN
        .saturating_mul(1u32 << (*errors).min(6))
        .min(BACKOFF_MAX);
    tokio::time::sleep(pause).await;
}

/// One datagram if one is queued, with its sender and its receive time on the disciplined
/// clock.
fn recv_one(
    socket: &UdpSocket,
    buf: &mut [u8],
    shared: &Shared,
) -> io::Result<Option<(usize, SocketAddr, LocalTime)>> {
    #[cfg(target_os = "linux")]
    let got = {
        use std::os::fd::AsRawFd;
        socket.try_io(tokio::io::Interest::READABLE, || {
            super::sys::recv_with_timestamp(socket.as_raw_fd(), buf)
        })
    };
    #[cfg(not(target_os = "linux"))]
    let got = socket
        .try_recv_from(buf)
        .map(|(len, from)| (len, Some(from), None::<i64>));
    #[cfg(target_os = "linux")]
    let got = got.map(|r| (r.len, r.from, r.kernel_ns));
    let (len, from, kernel_ns) = match got {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    let rx = {
        let clock = shared
            .clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match kernel_ns {
            Some(ns) => clock.map_kernel_timestamp(LocalTime::from_nanos(ns)),
            None => clock.now(),
        }
    };
    shared.note_timestamping(if kernel_ns.is_some() {
        Timestamping::Kernel
    } else {
        Timestamping::UserSpace
    });
    let from = from.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    Ok(Some((len.min(buf.len()), from, rx)))
}

/// The socket's membership of the PTP group on the chosen interface.
#[derive(Debug)]
struct Membership {
    group: Ipv4Addr,
    interface: Option<String>,
    what: &'static str,
    joined: Option<iface::Choice>,
    failures: u32,
}

impl Membership {
    fn new(group: Ipv4Addr, interface: Option<String>, what: &'static str) -> Self {
        Self {
            group,
            interface,
            what,
            joined: None,
            failures: 0,
        }
    }

    fn next_check(&self) -> Duration {
        if self.joined.is_some() {
            MEMBERSHIP_CHECK
        } else {
            BACKOFF_MIN
                .saturating_mul(1u32 << self.failures.min(6))
                .min(BACKOFF_MAX)
        }
    }

    /// Joins the group on the interface as it is now; re-joins when its address changed.
    /// A failure is logged once, the recovery once.
    fn refresh(&mut self, socket: &UdpSocket) {
        let choice = iface::choose(self.interface.as_deref());
        match (&self.joined, &choice) {
            (Some(old), Ok(new)) if old == new => return,
            (Some(old), _) => {
                let _ = socket.leave_multicast_v4(self.group, old.addr);
                self.joined = None;
            }
            (None, _) => {}
        }
        let result = choice.and_then(|c| {
            socket
                .join_multicast_v4(self.group, c.addr)
                .map(|()| c.clone())
                .map_err(|e| format!("cannot join {} on {} ({}): {e}", self.group, c.name, c.addr))
        });
        match result {
            Ok(c) => {
                if self.failures > 0 || self.what == "event" {
                    tracing::info!(
                        "PTP {} socket joined {} on {} ({}){}",
                        self.what,
                        self.group,
                        c.name,
                        c.addr,
                        c.why
                    );
                }
                self.failures = 0;
                self.joined = Some(c);
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                if self.failures == 1 {
                    tracing::warn!(
                        "PTP {} socket: {e}; only unicast PTP reaches it until the join succeeds \
                         (retrying quietly)",
                        self.what
                    );
                }
            }
        }
    }
}
