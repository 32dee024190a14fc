//! The NTP client's I/O: for each `StartNtpCheck`, one burst to every configured server that
//! is due (not backing off, and for a server outside the LAN, not resting between its 64 s
//! polls), all at once; what they answered goes to the sans-IO
//! [`NtpClient`](dantesync_core::ntp_client::NtpClient), which picks the truechimers and
//! combines their offsets for the controller's gate. A check in which no server is due but
//! some rest is reported as such ([`NtpCheck::NothingDue`]), not as a failure.
//!
//! A burst to a server on the LAN is 4 mode-3 NTPv4 requests 50 ms apart; to a server outside
//! it, 4 requests 2 s apart in its first two checks, then one request per check (one also to a
//! server that sent KoD RATE). Each request waits at most 300 ms for its reply; two silent
//! requests in a row with nothing heard end the burst early, so a dead LAN server costs a
//! check 0.6 s. The name is resolved afresh for every check (a DHCP'd NTP master may move).
//! The reply's arrival (T4) is the kernel's receive timestamp where the OS gives one
//! (SO_TIMESTAMPNS on Linux), so scheduling latency stays out of the delay and the offset.
//! It runs in a task of its own: a server that never answers costs this task, never the PTP
//! path. Server state changes (falseticker, unreachable, Kiss-o'-Death...) are logged when
//! they happen, not at every check; every check's per-server numbers are at debug level.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dantesync_core::ntp_client::{
    evaluate, reduce, spacing, Change, Locality, NtpClient, Outcome, Sample, SourceState, Verdict,
};
use dantesync_core::wire::ntp::{NtpHeader, NtpTimestamp};
use dantesync_core::LocalTime;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

use super::shared::{Event, NtpCheck, NtpReport, Shared};
use crate::config::ServerAddr;

const REPLY_TIMEOUT: Duration = Duration::from_millis(300);
/// Silent requests in a row, with no reply at all yet, that end a burst early.
const GIVE_UP_AFTER: usize = 2;
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The name a server goes by in logs and status: the port only when it is not 123.
fn display_name(s: &ServerAddr) -> String {
    if s.port == 123 {
        s.host.clone()
    } else {
        s.to_string()
    }
}

/// Runs one check per request from the engine and reports each outcome. Each server comes
/// with where it counts as being (on the LAN or outside it).
pub async fn run(
    servers: Vec<(ServerAddr, Locality)>,
    shared: Arc<Shared>,
    mut requests: mpsc::UnboundedReceiver<()>,
    events: mpsc::Sender<Event>,
) {
    let mut client = NtpClient::with_locality(
        servers
            .iter()
            .map(|(server, locality)| (display_name(server), *locality)),
    );
    let servers: Vec<ServerAddr> = servers.into_iter().map(|(s, _)| s).collect();
    // The poll intervals are on a monotonic axis: a step of the system clock does not make a
    // server due early or late.
    let origin = Instant::now();
    while requests.recv().await.is_some() {
        if client.nothing_due(origin.elapsed()) {
            let event = Event::Ntp(NtpReport {
                result: NtpCheck::NothingDue,
                sources: client.status(),
            });
            if events.send(event).await.is_err() {
                return;
            }
            continue;
        }
        let due = client.due(origin.elapsed());
        let mut bursts = JoinSet::new();
        for i in due {
            let server = servers[i].clone();
            let shared = shared.clone();
            let ask = Ask {
                requests: client.requests(i),
                locality: client.locality(i),
            };
            bursts.spawn(async move { (i, burst(&server, ask, &shared).await) });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = bursts.join_next().await {
            match done {
                Ok((i, outcome)) => {
                    log_outcome(&display_name(&servers[i]), &outcome);
                    outcomes.push((i, outcome));
                }
                Err(e) => tracing::error!("NTP: a burst task failed: {e}"),
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let report = client.complete(origin.elapsed(), outcomes);
        for change in &report.changes {
            log_change(change);
        }
        let result = match report.result {
            Ok(combined) => {
                shared.publish_upstream(combined.upstream);
                NtpCheck::Measured(combined.measurement)
            }
            Err(e) => NtpCheck::Failed(e),
        };
        let event = Event::Ntp(NtpReport {
            result,
            sources: client.status(),
        });
        if events.send(event).await.is_err() {
            return;
        }
    }
}

fn log_outcome(name: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Answered { address, burst } => tracing::debug!(
            "NTP {name} ({address}): offset {:+.3} ms, delay {:.3} ms, spread {:.3} ms, \
             {} answered, {} kept, stratum {}",
            burst.offset_ns as f64 * 1e-6,
            burst.delay_ns as f64 * 1e-6,
            burst.spread_ns as f64 * 1e-6,
            burst.samples,
            burst.kept,
            burst.stratum
        ),
        Outcome::Unsynchronised { address, why } => {
            tracing::debug!("NTP {name} ({address}): {why}")
        }
        Outcome::Kissed { address, kiss } => {
            tracing::debug!("NTP {name} ({address}): Kiss-o'-Death {}", kiss.code())
        }
        Outcome::NoReply { why, .. } => tracing::debug!("NTP {name}: {why}"),
    }
}

/// One line per server state change, at a level that says how much it matters.
fn log_change(c: &Change) {
    // The address only when the name does not already say it.
    let named_ip = c
        .name
        .parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| c.name.parse::<SocketAddr>().ok().map(|s| s.ip()));
    let who = match c.address {
        Some(a) if named_ip != Some(a) => format!("{} ({a})", c.name),
        _ => c.name.clone(),
    };
    let line = format!("NTP server {who}: {} -> {}: {}", c.from, c.to, c.message);
    match c.to {
        SourceState::Denied => tracing::error!("{line}"),
        SourceState::Falseticker
        | SourceState::Undecided
        | SourceState::Unreachable
        | SourceState::RateLimited
        | SourceState::Unsynchronised => tracing::warn!("{line}"),
        SourceState::Truechimer | SourceState::Pending => tracing::info!("{line}"),
    }
}

/// How a check asks one server.
struct Ask {
    requests: usize,
    /// With the address the name resolves to, this says how far apart the requests go.
    locality: Locality,
}

/// One burst of `ask.requests` requests against `server`.
async fn burst(server: &ServerAddr, ask: Ask, shared: &Shared) -> Outcome {
    let requests = ask.requests;
    let target = match resolve(server).await {
        Ok(t) => t,
        Err(why) => return Outcome::NoReply { address: None, why },
    };
    let address = target.ip();
    let spacing = spacing(ask.locality, address);
    let socket = match open(target).await {
        Ok(s) => s,
        Err(why) => {
            return Outcome::NoReply {
                address: Some(address),
                why,
            }
        }
    };
    let mut samples: Vec<Sample> = Vec::with_capacity(requests);
    let mut refusal: Option<String> = None;
    let mut silent_in_a_row = 0;
    let mut last_error = format!("no reply within {} ms", REPLY_TIMEOUT.as_millis());
    for i in 0..requests {
        let started = Instant::now();
        match exchange(&socket, shared).await {
            Ok(s) => {
                silent_in_a_row = 0;
                samples.push(s);
            }
            Err(Failure::Kiss(kiss)) => return Outcome::Kissed { address, kiss },
            Err(Failure::Refused(why)) => {
                silent_in_a_row = 0;
                refusal = Some(why);
            }
            Err(Failure::Silent(why)) => {
                silent_in_a_row += 1;
                last_error = why;
                if silent_in_a_row >= GIVE_UP_AFTER && samples.is_empty() && refusal.is_none() {
                    break;
                }
            }
        }
        if i + 1 < requests {
            tokio::time::sleep_until(started + spacing).await;
        }
    }
    if let Some(burst) = reduce(&samples) {
        Outcome::Answered { address, burst }
    } else if let Some(why) = refusal {
        Outcome::Unsynchronised { address, why }
    } else {
        Outcome::NoReply {
            address: Some(address),
            why: last_error,
        }
    }
}

async fn resolve(server: &ServerAddr) -> Result<SocketAddr, String> {
    let lookup = tokio::net::lookup_host((server.host.as_str(), server.port));
    let addrs = timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| "name resolution timed out".to_owned())?
        .map_err(|e| format!("cannot resolve the name: {e}"))?;
    let addrs: Vec<SocketAddr> = addrs.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "the name has no address".to_owned())
}

/// A socket connected to `target`, with kernel receive timestamps where there are any.
async fn open(target: SocketAddr) -> Result<UdpSocket, String> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a socket: {e}"))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Err(e) = super::sys::enable_rx_timestamps(socket.as_raw_fd()) {
            tracing::debug!("NTP: no kernel receive timestamps ({e}); reading the clock instead");
        }
    }
    socket
        .connect(target)
        .await
        .map_err(|e| format!("cannot reach {target}: {e}"))?;
    Ok(socket)
}

/// Why an exchange gave no sample.
#[derive(Debug)]
enum Failure {
    /// No reply in time, or the socket failed.
    Silent(String),
    /// A reply, but no usable sample.
    Refused(String),
    Kiss(dantesync_core::ntp_client::Kiss),
}

/// One request and its reply.
async fn exchange(socket: &UdpSocket, shared: &Shared) -> Result<Sample, Failure> {
    let t1 = shared.now();
    let transmit = NtpTimestamp::from_unix_nanos(t1.nanos());
    socket
        .send(&NtpHeader::client_request(transmit).to_bytes())
        .await
        .map_err(|e| Failure::Silent(format!("send failed: {e}")))?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut buf = [0u8; 1024];
    loop {
        let (len, t4) = tokio::time::timeout_at(deadline, recv(socket, &mut buf, shared))
            .await
            .map_err(|_| {
                Failure::Silent(format!("no reply within {} ms", REPLY_TIMEOUT.as_millis()))
            })?
            .map_err(|e| Failure::Silent(format!("receive failed: {e}")))?;
        match evaluate(&buf[..len], transmit, t1, t4) {
            Ok(sample) => return Ok(sample),
            // A stale or foreign reply: keep waiting for ours.
            Err(Verdict::NotOurs) => {}
            Err(Verdict::Refused(why)) => return Err(Failure::Refused(why)),
            Err(Verdict::Kiss(k)) => return Err(Failure::Kiss(k)),
        }
    }
}

/// Whether the first reply's timestamp source has been logged.
static T4_SOURCE_LOGGED: AtomicBool = AtomicBool::new(false);

fn note_t4_source(kernel: bool) {
    if !T4_SOURCE_LOGGED.swap(true, Ordering::Relaxed) {
        if kernel {
            tracing::info!("NTP client: reply arrival times from the kernel (SO_TIMESTAMPNS)");
        } else {
            tracing::info!(
                "NTP client: no kernel receive timestamp on replies; arrival read from the \
                 clock after recv (scheduling latency adds to the delay)"
            );
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
                    note_t4_source(r.kernel_ns.is_some());
                    let t4 = shared.rx_time(r.kernel_ns);
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
        note_t4_source(false);
        Ok((len, shared.now()))
    }
}
