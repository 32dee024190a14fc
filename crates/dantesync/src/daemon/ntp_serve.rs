//! The built-in NTP server: the socket, its receive timestamps, and the core's
//! [`Responder`](dantesync_core::ntp_server::Responder) in between.
//!
//! Each request is stamped on arrival (`rx`: on Linux the kernel's SO_TIMESTAMPNS stamp, IPv4
//! and IPv6 alike, mapped onto the disciplined clock; elsewhere the clock read right after
//! `recv` returns, later by the scheduling latency), judged by the responder against the state
//! built from the latest published status, and the reply's transmit time is read once more and
//! patched in just before `send`, so the reply carries as little of this host's latency as it
//! can. On Linux one `recvmmsg` takes up to 16 queued requests (each with its own stamp) and
//! the header is built once for them: under load, one system call per request is saved.
//!
//! It runs in a task of its own and never waits on anything but its socket: PTP datagrams are
//! stamped by the kernel and have their own tasks, and a request costs microseconds, so even a
//! flood (which the responder answers with a few KoD RATE packets, then silence) delays the PTP
//! path by no more than tokio's cooperative budget allows.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dantesync_core::ntp_server::{
    patch_transmit, AccessList, Counters, DropReason, RateLimit, Responder, ResponderConfig,
    Response, ServerConfig, ServerState, Subnet,
};
use dantesync_core::LocalTime;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

#[cfg(target_os = "linux")]
use super::shared::arrival;
use super::shared::Shared;
use crate::config::Config;

/// Requests longer than this are cut (and then refused by the parser if the cut broke them);
/// NTP requests with extension fields stay well below it.
const MAX_DATAGRAM: usize = 1024;
/// How often the counters are logged when they changed: at info when requests were refused
/// (rate limited or not allowed) since the last report, else at debug.
const REPORT_EVERY: Duration = Duration::from_secs(600);

/// The server's bound socket and how its datagrams are stamped.
#[derive(Debug)]
pub struct NtpServeSocket {
    socket: UdpSocket,
    kernel_timestamps: bool,
}

/// What the server task needs from the configuration.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    pub addr: SocketAddr,
    pub header: ServerConfig,
    pub access: AccessList,
    pub rate_limit: bool,
}

impl ServeSettings {
    pub fn from_config(cfg: &Config) -> Self {
        let s = &cfg.ntp_server_mode;
        ServeSettings {
            addr: SocketAddr::new(s.bind, s.port),
            header: ServerConfig {
                stratum: s.stratum,
                local_stratum: cfg.served_local_stratum(),
                ..ServerConfig::default()
            },
            access: AccessList {
                allow: s.allow.iter().copied().map(Subnet::from).collect(),
                deny: s.deny.iter().copied().map(Subnet::from).collect(),
            },
            rate_limit: s.rate_limit,
        }
    }
}

/// Binds the server's socket; a failure stops the daemon (an operator who enabled the server
/// wants to know now, not when the clients complain).
pub fn bind(settings: &ServeSettings) -> Result<NtpServeSocket, String> {
    let addr = settings.addr;
    let fail = |e: io::Error| {
        let hint = match e.kind() {
            io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            }
            io::ErrorKind::AddrInUse => " (another NTP server, e.g. chronyd or ntpd, holds it)",
            _ => "",
        };
        format!("NTP server: cannot bind {addr}: {e}{hint}")
    };
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    if addr.is_ipv6() {
        // `::` serves IPv4 clients too, as IPv4-mapped addresses.
        let _ = s.set_only_v6(false);
    }
    s.bind(&addr.into()).map_err(fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    #[cfg(target_os = "linux")]
    let kernel_timestamps = {
        use std::os::fd::AsRawFd;
        match super::sys::enable_rx_timestamps(s.as_raw_fd()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "NTP server: no kernel receive timestamps ({e}); using user-space timestamps"
                );
                false
            }
        }
    };
    #[cfg(not(target_os = "linux"))]
    let kernel_timestamps = false;
    let std_socket: std::net::UdpSocket = s.into();
    let socket = UdpSocket::from_std(std_socket).map_err(fail)?;
    Ok(NtpServeSocket {
        socket,
        kernel_timestamps,
    })
}

/// Answers requests forever.
pub async fn serve(sock: NtpServeSocket, settings: ServeSettings, shared: Arc<Shared>) {
    log_start(&sock, &settings, &shared);
    let mut responder = Responder::new(ResponderConfig {
        access: settings.access.clone(),
        rate_limit: settings.rate_limit.then(|| RateLimit {
            seed: rand::random(),
            ..RateLimit::default()
        }),
    });
    let mut inbox = Inbox::default();
    let mut reported = Counters::default();
    let mut next_report = tokio::time::Instant::now() + REPORT_EVERY;
    let mut published = Counters::default();
    shared.publish_ntp_server(published);
    loop {
        if let Err(e) = sock.socket.readable().await {
            tracing::debug!("NTP server: socket not readable: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        match inbox.receive(&sock, &shared) {
            Ok(0) => {
                // The queue is empty: a moment to publish the counters (not once per request).
                if *responder.counters() != published {
                    published = *responder.counters();
                    shared.publish_ntp_server(published);
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("NTP server: receive failed: {e}");
                continue;
            }
        }
        // One header for the whole batch: its datagrams arrived microseconds apart.
        let mut state = None;
        for (bytes, from, rx) in inbox.datagrams() {
            let state = state.get_or_insert_with(|| current_state(&shared, &settings.header, rx));
            // The transmit time is read after the responder, right before `send` (below);
            // `rx` only holds its place.
            match responder.respond(bytes, from.ip(), shared.rx_moment(rx), state, rx) {
                Response::Reply(mut reply) => {
                    patch_transmit(&mut reply, shared.now());
                    send(&sock.socket, &reply, from);
                }
                Response::KissOfDeath(kod) => send(&sock.socket, &kod, from),
                Response::Drop(_) => {}
            }
        }
        let now = tokio::time::Instant::now();
        if now >= next_report {
            next_report = now + REPORT_EVERY;
            let c = *responder.counters();
            if c != reported {
                report(&reported, &c);
                reported = c;
            }
        }
    }
}

/// The header the server sends now.
fn current_state(shared: &Shared, cfg: &ServerConfig, now: LocalTime) -> ServerState {
    let status = shared.status();
    ServerState::from_status(&status, shared.upstream(), now, cfg)
}

/// UDP sends do not block in practice; a full socket buffer drops the reply, as the network
/// might have.
fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.try_send_to(bytes, to) {
        tracing::debug!("NTP server: reply to {to} not sent: {e}");
    }
}

/// The datagrams of one receive, with their senders and arrival times on the disciplined
/// clock. With kernel timestamps (Linux, IPv4) one `recvmmsg` takes up to
/// [`sys::BATCH`](super::sys::BATCH) of them; otherwise one `recv` takes one.
#[derive(Debug)]
struct Inbox {
    #[cfg(target_os = "linux")]
    batch: super::sys::RecvBatch,
    /// (where, sender, arrival) of each datagram taken; a sender the kernel could not name
    /// is left out (it cannot be answered).
    meta: Vec<(Slot, SocketAddr, LocalTime)>,
    buf: Box<[u8; MAX_DATAGRAM]>,
}

/// Where a received datagram's bytes are.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// The first `n` bytes of `buf`.
    Buf(usize),
    /// Datagram `i` of the batch.
    #[cfg(target_os = "linux")]
    Batch(usize),
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            #[cfg(target_os = "linux")]
            batch: Default::default(),
            meta: Vec::with_capacity(16),
            buf: Box::new([0; MAX_DATAGRAM]),
        }
    }
}

impl Inbox {
    /// Takes what is queued: the number of datagrams (0 when none was).
    fn receive(&mut self, sock: &NtpServeSocket, shared: &Shared) -> io::Result<usize> {
        self.meta.clear();
        #[cfg(target_os = "linux")]
        if sock.kernel_timestamps {
            use std::os::fd::AsRawFd;
            let got = sock.socket.try_io(tokio::io::Interest::READABLE, || {
                self.batch.recv(sock.socket.as_raw_fd())
            });
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            };
            // One clock lock maps the whole batch.
            let clock = shared.clock();
            for i in 0..n {
                let Some((_, r)) = self.batch.get(i) else {
                    break;
                };
                let rx = arrival(clock.as_ref(), r.kernel_ns);
                if let Some(from) = r.from {
                    self.meta.push((Slot::Batch(i), from, rx));
                }
            }
            return Ok(n);
        }
        match sock.socket.try_recv_from(&mut self.buf[..]) {
            Ok((len, from)) => {
                self.meta
                    .push((Slot::Buf(len.min(MAX_DATAGRAM)), from, shared.now()));
                Ok(1)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Each datagram taken by the last [`Inbox::receive`]: bytes, sender, arrival time.
    fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr, LocalTime)> + '_ {
        self.meta
            .iter()
            .map(move |&(slot, from, rx)| (self.bytes(slot), from, rx))
    }

    fn bytes(&self, slot: Slot) -> &[u8] {
        match slot {
            Slot::Buf(n) => &self.buf[..n],
            #[cfg(target_os = "linux")]
            Slot::Batch(i) => self.batch.get(i).map_or(&[][..], |(b, _)| b),
        }
    }
}
fn log_start(sock: &NtpServeSocket, settings: &ServeSettings, shared: &Shared) {
    let addr = sock.socket.local_addr().unwrap_or(settings.addr);
    let state = current_state(shared, &settings.header, shared.now());
    let what = match (settings.header.local_stratum, state.synchronised) {
        (Some(n), _) => format!("as stratum {n} (this clock as its own reference, refid LOCL)"),
        (None, true) => format!("as stratum {}", state.stratum),
        (None, false) => format!(
            "unsynchronised (leap 3, stratum 16) until NTP confirms the time, then as stratum {}",
            settings
                .header
                .stratum
                .map_or("upstream + 1".to_owned(), |n| n.to_string())
        ),
    };
    let stamps = if sock.kernel_timestamps {
        "kernel receive timestamps"
    } else {
        "user-space receive timestamps"
    };
    tracing::info!("serving NTP on {addr} {what}; {stamps}");
}

fn report(before: &Counters, c: &Counters) {
    let dropped: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| c.dropped(**r) > 0)
        .map(|r| format!("{r:?} {}", c.dropped(*r)))
        .collect();
    let line = format!(
        "NTP server: {} received, {} answered, {} rate limited ({} KoD RATE), dropped: {}",
        c.received,
        c.answered,
        c.rate_limited,
        c.kiss_of_death,
        if dropped.is_empty() {
            "none".to_owned()
        } else {
            dropped.join(", ")
        }
    );
    let refused = |k: &Counters| k.rate_limited + k.dropped(DropReason::NotAllowed);
    if refused(c) > refused(before) {
        tracing::info!("{line}");
    } else {
        tracing::debug!("{line}");
    }
}
