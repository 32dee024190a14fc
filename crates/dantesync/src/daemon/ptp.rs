//! PTP receive: the event and general sockets, the multicast memberships, receive timestamps
//! and arrival interfaces.
//!
//! Each port gets one socket bound to the wildcard address with SO_REUSEADDR, so it takes both
//! the group's multicast (joined on explicit interfaces chosen by [`iface`]: joining on
//! INADDR_ANY fails with ENODEV on a host without a multicast route) and unicast datagrams (how loopback tests and the
//! demo feed it). Each socket has its own task; a datagram is stamped as early as possible (by
//! the kernel with SO_TIMESTAMPNS on Linux; by the stack with SIO_TIMESTAMPING on Windows where
//! it has it, see [`win_timestamps`]; else right after `recv`) and handed to the engine over a
//! channel, so nothing else the daemon does can delay the stamp.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dantesync_core::wire::ptpv1::Message;
use dantesync_core::LocalTime;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::iface;
use super::shared::{Event, Shared, Timestamping};

// Declared here rather than in `daemon/mod.rs`: they serve only this module.
#[cfg(windows)]
#[path = "sys_windows.rs"]
mod sys_windows;
// Platform-neutral so its tests run everywhere; only Windows calls it.
#[cfg_attr(not(windows), allow(dead_code))]
#[path = "win_timestamps.rs"]
mod win_timestamps;

/// Largest datagram kept: PTPv1 messages are at most 124 bytes; anything longer is cut and
/// then refused by the parser.
const MAX_DATAGRAM: usize = 512;
/// First and longest wait between attempts to join the group again.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often working memberships are checked against the interfaces' present addresses.
const MEMBERSHIP_CHECK: Duration = Duration::from_secs(30);
/// How often the silence watch and due membership checks run.
const TICK: Duration = Duration::from_secs(1);

/// A bound PTP socket and what it is for.
#[derive(Debug)]
pub struct PtpSocket {
    pub socket: UdpSocket,
    pub port: u16,
    pub what: &'static str,
    /// Receive timestamping on Windows: how enabling it went and what was said about it.
    #[cfg(windows)]
    win: WinRx,
}

/// A Windows PTP socket's receive timestamping.
#[cfg(windows)]
#[derive(Debug)]
struct WinRx {
    /// How SIO_TIMESTAMPING went (or finding WSARecvMsg, without which no stamp is read).
    setup: Result<(), String>,
    recvmsg: Option<sys_windows::WsaRecvMsg>,
    qpc_frequency: i64,
    report: Mutex<win_timestamps::Report>,
}

#[cfg(windows)]
impl WinRx {
    /// Enables receive timestamps on `s`; a failure only means user-space stamps, said here
    /// once and again with the first datagram.
    fn new(s: &Socket, what: &str) -> Self {
        use std::os::windows::io::AsRawSocket;
        let raw = s.as_raw_socket();
        let recvmsg = sys_windows::wsa_recvmsg(raw);
        let setup = match &recvmsg {
            Ok(_) => sys_windows::enable_rx_timestamps(raw).map_err(|e| e.to_string()),
            Err(e) => Err(format!("no WSARecvMsg: {e}")),
        };
        if let Err(e) = &setup {
            tracing::warn!(
                "PTP {what} socket: no stack receive timestamps (SIO_TIMESTAMPING: {e}); using \
                 user-space timestamps"
            );
        }
        Self {
            setup,
            recvmsg: recvmsg.ok(),
            qpc_frequency: sys_windows::qpc_frequency(),
            report: Mutex::new(win_timestamps::Report::default()),
        }
    }
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
        if let Err(e) = super::sys::enable_arrival_info(s.as_raw_fd()) {
            tracing::warn!("PTP {what} socket: no arrival interfaces (IP_PKTINFO: {e}); name the interface to receive PTP on");
        }
    }
    #[cfg(windows)]
    let win = WinRx::new(&s, what);
    let std_socket: std::net::UdpSocket = s.into();
    let socket = UdpSocket::from_std(std_socket).map_err(fail)?;
    Ok(PtpSocket {
        socket,
        port,
        what,
        #[cfg(windows)]
        win,
    })
}

/// The interface choice both PTP sockets follow (see [`iface`]): one selector, so a choice
/// is made and said once; each socket applies it to its own memberships.
#[derive(Debug)]
pub struct Interfaces {
    selector: Mutex<iface::Selector>,
    epoch: watch::Sender<(u64, u64)>,
}

impl Interfaces {
    pub fn new(named: Option<String>) -> Arc<Self> {
        let selector = iface::Selector::new(named, std::time::Instant::now());
        let (epoch, _) = watch::channel(selector.epoch());
        Arc::new(Self {
            selector: Mutex::new(selector),
            epoch,
        })
    }

    fn selector(&self) -> std::sync::MutexGuard<'_, iface::Selector> {
        self.selector.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn plan(&self) -> Result<iface::Plan, String> {
        let listed = iface::list()?;
        self.selector().plan(listed.as_deref())
    }

    /// Logs what the selector said and wakes the sockets when their memberships must change.
    fn after(&self, said: Option<String>, selector: &iface::Selector) {
        if let Some(message) = said {
            tracing::info!("{message}");
        }
        let new = selector.epoch();
        self.epoch
            .send_if_modified(|e| std::mem::replace(e, new) != new);
    }

    /// The address of the interface the leader's multicast was chosen on, once it was.
    pub fn chosen_addr(&self) -> Option<Ipv4Addr> {
        self.selector().chosen().map(|t| t.addr)
    }

    fn note_sync(&self, multicast_on: Option<u32>) {
        let mut selector = self.selector();
        let said = selector.note_sync(multicast_on, std::time::Instant::now());
        self.after(said, &selector);
    }

    fn tick(&self) {
        let mut selector = self.selector();
        let said = selector.tick(std::time::Instant::now());
        self.after(said, &selector);
    }
}

/// Receives on one PTP socket forever, keeping its multicast memberships as the interface
/// choice wants them.
pub async fn receive(
    sock: PtpSocket,
    group: Ipv4Addr,
    interfaces: Arc<Interfaces>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
) {
    let mut membership = Membership::new(group, sock.what);
    let mut epoch = interfaces.epoch.subscribe();
    membership.refresh(&sock.socket, &interfaces);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut recv_errors = 0u32;
    loop {
        tokio::select! {
            ready = sock.socket.readable() => {
                if let Err(e) = ready {
                    recv_failed(&sock, &mut recv_errors, &e).await;
                    continue;
                }
                match recv_one(&sock, &mut buf, &shared) {
                    Ok(Some(got)) => {
                        if recv_errors > 0 {
                            tracing::info!("PTP {} socket receives again", sock.what);
                            recv_errors = 0;
                        }
                        if !shared.ptp_source_allowed(got.from.ip()) {
                            shared.ptp_dropped_source.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("PTP from {} dropped: not in ptp.source_allowlist", got.from);
                            continue;
                        }
                        // Parsed once, here: the interface choice counts Syncs, and the
                        // engine takes the parsed message.
                        let message = Message::parse(&buf[..got.len]);
                        if matches!(message, Ok(Message::Sync(..))) {
                            let multicast_on = got
                                .arrival
                                .filter(|&(_, dest)| dest == group)
                                .map(|(ifindex, _)| ifindex);
                            interfaces.note_sync(multicast_on);
                        }
                        let event = Event::Ptp { message, rx: got.rx };
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => recv_failed(&sock, &mut recv_errors, &e).await,
                }
            }
            changed = epoch.changed() => {
                if changed.is_err() {
                    return;
                }
                membership.refresh(&sock.socket, &interfaces);
            }
            _ = tick.tick() => {
                interfaces.tick();
                if membership.due() {
                    membership.refresh(&sock.socket, &interfaces);
                }
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

/// One received datagram.
#[derive(Debug)]
struct Got {
    len: usize,
    from: SocketAddr,
    /// Its receive time on the disciplined clock.
    rx: LocalTime,
    /// The arrival interface's index and the destination address, where the system says.
    arrival: Option<(u32, Ipv4Addr)>,
}

/// One datagram if one is queued.
#[cfg(not(windows))]
fn recv_one(sock: &PtpSocket, buf: &mut [u8], shared: &Shared) -> io::Result<Option<Got>> {
    let socket = &sock.socket;
    #[cfg(target_os = "linux")]
    let got = {
        use std::os::fd::AsRawFd;
        socket
            .try_io(tokio::io::Interest::READABLE, || {
                super::sys::recv_with_timestamp(socket.as_raw_fd(), buf)
            })
            .map(|r| {
                let arrival = r.arrival.map(|a| (a.ifindex, a.dest));
                (r.len, r.from, r.kernel_ns, arrival)
            })
    };
    #[cfg(not(target_os = "linux"))]
    let got = socket
        .try_recv_from(buf)
        .map(|(len, from)| (len, Some(from), None::<i64>, None));
    let (len, from, kernel_ns, arrival) = match got {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    let rx = shared.rx_time(kernel_ns);
    shared.note_timestamping(if kernel_ns.is_some() {
        Timestamping::Kernel
    } else {
        Timestamping::UserSpace
    });
    let from = from.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    Ok(Some(Got {
        len: len.min(buf.len()),
        from,
        rx,
        arrival,
    }))
}

/// One datagram if one is queued, with the stack's SIO_TIMESTAMPING stamp where there is one,
/// else the system time read right after the receive; each kind of stamp is said once per
/// socket.
#[cfg(windows)]
fn recv_one(sock: &PtpSocket, buf: &mut [u8], shared: &Shared) -> io::Result<Option<Got>> {
    use std::os::windows::io::AsRawSocket;
    let win = &sock.win;
    let got = match win.recvmsg {
        Some(f) => {
            let raw = sock.socket.as_raw_socket();
            sock.socket.try_io(tokio::io::Interest::READABLE, || {
                sys_windows::recv(f, raw, buf)
            })
        }
        None => sock.socket.try_recv_from(buf).map(|(len, from)| {
            let after = sys_windows::sandwich();
            sys_windows::Received {
                len,
                from: Some(from),
                stamp: None,
                after,
            }
        }),
    };
    let r = match got {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    let stamped = win_timestamps::choose(&win.setup, r.stamp, &r.after, win.qpc_frequency);
    // The system clock maps system time to itself; the simulated clock maps it from its host
    // (SystemTime, the same system time) as it does Linux kernel stamps.
    let rx = shared
        .clock()
        .map_kernel_timestamp(LocalTime::from_nanos(stamped.unix_nanos()));
    let said = win
        .report
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .note(&stamped);
    if let Some(line) = said {
        tracing::info!("PTP {} socket receive timestamps: {line}", sock.what);
        shared.note_timestamping(if stamped.is_kernel() {
            Timestamping::Kernel
        } else {
            Timestamping::UserSpace
        });
    }
    let from = r
        .from
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    Ok(Some(Got {
        len: r.len,
        from,
        rx,
        arrival: None,
    }))
}

/// One socket's memberships of the PTP group, kept as the interface choice wants them.
#[derive(Debug)]
struct Membership {
    group: Ipv4Addr,
    what: &'static str,
    joined: Vec<iface::Target>,
    /// The selector's re-join epoch these memberships were made in.
    rejoin_epoch: u64,
    /// The memberships last logged, so a re-join of the same set says nothing.
    logged: Vec<String>,
    failures: u32,
    next: tokio::time::Instant,
}

impl Membership {
    fn new(group: Ipv4Addr, what: &'static str) -> Self {
        Self {
            group,
            what,
            joined: Vec::new(),
            rejoin_epoch: 0,
            logged: Vec::new(),
            failures: 0,
            next: tokio::time::Instant::now(),
        }
    }

    fn due(&self) -> bool {
        tokio::time::Instant::now() >= self.next
    }

    /// Makes the memberships what the plan says: leaves what it no longer wants, joins what is
    /// missing (everything again after a re-join request). A failure is logged once, the
    /// recovery once; failing joins are retried with a growing pause.
    fn refresh(&mut self, socket: &UdpSocket, interfaces: &Interfaces) {
        let plan = interfaces.plan();
        let rejoin = interfaces.selector().rejoin_epoch();
        let group = self.group;
        if rejoin != self.rejoin_epoch {
            self.rejoin_epoch = rejoin;
            for t in self.joined.drain(..) {
                let _ = socket.leave_multicast_v4(group, t.addr);
            }
        }
        let wanted = match &plan {
            Ok(p) => p.targets.as_slice(),
            Err(_) => &[],
        };
        self.joined.retain(|t| {
            let keep = wanted.contains(t);
            if !keep {
                let _ = socket.leave_multicast_v4(group, t.addr);
            }
            keep
        });
        let mut errors: Vec<String> = plan.as_ref().err().cloned().into_iter().collect();
        for t in wanted {
            if self.joined.contains(t) {
                continue;
            }
            match socket.join_multicast_v4(group, t.addr) {
                Ok(()) => self.joined.push(t.clone()),
                Err(e) => errors.push(format!(
                    "cannot join {group} on {} ({}): {e}",
                    t.name, t.addr
                )),
            }
        }
        let now = tokio::time::Instant::now();
        if errors.is_empty() {
            if self.failures > 0 {
                tracing::info!("PTP {} socket: the group is joined again", self.what);
            }
            self.failures = 0;
            self.next = now + MEMBERSHIP_CHECK;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.failures == 1 {
                tracing::warn!(
                    "PTP {} socket: {}; only unicast PTP reaches it there until the join \
                     succeeds (retrying quietly)",
                    self.what,
                    errors.join("; ")
                );
            }
            self.next = now
                + BACKOFF_MIN
                    .saturating_mul(1u32 << self.failures.min(6))
                    .min(BACKOFF_MAX);
        }
        let joined: Vec<String> = self
            .joined
            .iter()
            .map(|t| format!("{} ({})", t.name, t.addr))
            .collect();
        if self.what == "event" && !joined.is_empty() && joined != self.logged {
            tracing::info!(
                "PTP joined {group} on {}: {}",
                joined.join(", "),
                plan.as_ref().map_or("", |p| p.why)
            );
            self.logged = joined;
        }
    }
}
