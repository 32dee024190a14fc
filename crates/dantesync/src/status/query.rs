//! One exchange with a node's query API: an extended request stamped with this host's time,
//! retried a few times, and the reply with the time it arrived.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::num::NonZeroU8;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dantesync_core::wire::query::{
    extended_reply_len, Exchange, ExtendedReply, QueryError, QueryReply, QueryRequest,
    EXTENDED_VERSION, REQUEST_CLIENT_TX_AT,
};

const ATTEMPTS: u32 = 3;
/// Exchanges made once the node answers; the lowest-delay one is reported.
const EXCHANGES: u32 = 4;

/// What a node said.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The extended reply and the exchange's offset and delay.
    Extended {
        reply: Box<ExtendedReply>,
        exchange: Exchange,
        addr: SocketAddr,
    },
    /// Only the 64-byte compact reply (an older dantesync or the earlier DanteSync, which
    /// answer any request of 8 bytes or more with it).
    Compact { reply: QueryReply, addr: SocketAddr },
}

impl Answer {
    pub fn base(&self) -> &QueryReply {
        match self {
            Answer::Extended { reply, .. } => &reply.base,
            Answer::Compact { reply, .. } => reply,
        }
    }

    /// The exchange's round-trip delay (unknown, so the largest, for a compact reply).
    fn delay_ns(&self) -> i64 {
        match self {
            Answer::Extended { exchange, .. } => exchange.delay_ns,
            Answer::Compact { .. } => i64::MAX,
        }
    }

    pub fn locked(&self) -> bool {
        self.base().mode.is_locked()
    }
}

/// Why there is no answer.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryFailure {
    Resolve(String),
    Socket(String),
    NoAnswer {
        addr: SocketAddr,
        waited: Duration,
        /// ICMP port unreachable came back: nothing listens on that port.
        refused: bool,
    },
    Unreadable {
        addr: SocketAddr,
        error: QueryError,
    },
}

impl QueryFailure {
    /// What went wrong and what to check, naming the host and port.
    pub fn message(&self, host: &str, port: u16) -> String {
        match self {
            QueryFailure::Resolve(e) => format!("cannot resolve {host} (port {port}): {e}"),
            QueryFailure::Socket(e) => format!("cannot query {host}:{port}: {e}"),
            QueryFailure::NoAnswer {
                addr,
                refused: true,
                ..
            } => format!(
                "no answer from {host} ({addr}): nothing listens on UDP port {port} there \
                 (ICMP port unreachable). Is the dantesync daemon running, with the query API \
                 enabled on that port (query_api.enabled, query_api.port)?"
            ),
            QueryFailure::NoAnswer { addr, waited, .. } => format!(
                "no answer from {host} ({addr}) on UDP port {port} after {ATTEMPTS} attempts \
                 ({:.1} s). Is the dantesync daemon running there with the query API enabled \
                 (query_api.enabled, query_api.port = {port})? Is this host's address in its \
                 query_api.allow? Is a firewall dropping UDP {port}?",
                waited.as_secs_f64()
            ),
            QueryFailure::Unreadable { addr, error } => format!(
                "{host} ({addr}) answered on port {port}, but not with a query API reply: \
                 {error}. Is that port the dantesync query API?"
            ),
        }
    }
}

/// This host's time, ns since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Asks `host:port` with an extended request, up to three times `wait` apart; once it
/// answers, a few more exchanges follow and the one with the lowest delay is kept (the least
/// queued exchange has the least asymmetric path, so the truest offset).
pub fn ask(host: &str, port: u16, wait: Duration) -> Result<Answer, QueryFailure> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| QueryFailure::Resolve(e.to_string()))?
        .next()
        .ok_or_else(|| QueryFailure::Resolve("no address".to_owned()))?;
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|e| QueryFailure::Socket(e.to_string()))?;
    socket
        .connect(addr)
        .map_err(|e| QueryFailure::Socket(e.to_string()))?;
    socket
        .set_read_timeout(Some(wait))
        .map_err(|e| QueryFailure::Socket(e.to_string()))?;
    let first = exchange(&socket, addr, wait, ATTEMPTS)?;
    let Answer::Extended { .. } = first else {
        return Ok(first);
    };
    let mut best = first;
    for _ in 1..EXCHANGES {
        match exchange(&socket, addr, wait, 1) {
            Ok(answer) if answer.delay_ns() < best.delay_ns() => best = answer,
            _ => {}
        }
    }
    Ok(best)
}

/// One exchange, in up to `attempts` requests `wait` apart.
fn exchange(
    socket: &UdpSocket,
    addr: SocketAddr,
    wait: Duration,
    attempts: u32,
) -> Result<Answer, QueryFailure> {
    let version = NonZeroU8::new(EXTENDED_VERSION).expect("non-zero");
    let request_id: u32 = rand::random();
    let mut buf = [0u8; 2048];
    let mut last_error = None;
    let mut refused = false;
    let started = std::time::Instant::now();
    for _ in 0..attempts {
        let _ = socket.set_read_timeout(Some(wait));
        // Padded to the reply of the version asked for (448 bytes for version 3), the least a
        // node answers that version to; an older node answers its own, shorter version.
        let mut bytes = QueryRequest::Extended {
            version,
            request_id,
            client_tx: 0,
            len: extended_reply_len(version.get()),
        }
        .to_bytes();
        // T1 read last before the send, written into the encoded request.
        let t1 = now_ns();
        bytes[REQUEST_CLIENT_TX_AT..REQUEST_CLIENT_TX_AT + 8].copy_from_slice(&t1.to_be_bytes());
        // A refused send (ICMP unreachable from an earlier attempt) is retried like a loss.
        let _ = socket.send(&bytes);
        let deadline = std::time::Instant::now() + wait;
        loop {
            let len = match socket.recv(&mut buf) {
                Ok(len) => len,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::ConnectionRefused {
                        refused = true;
                        // Give a daemon that is starting a moment before the next attempt.
                        std::thread::sleep(wait.min(Duration::from_millis(200)));
                    }
                    break;
                }
            };
            // T4 read first after the receive.
            let t4 = now_ns();
            let datagram = &buf[..len];
            match ExtendedReply::parse(datagram) {
                // Any attempt's reply will do: it echoes its own request's T1.
                Ok(reply) if reply.base.request_id == request_id => {
                    let exchange = reply.exchange(t4);
                    return Ok(Answer::Extended {
                        reply: Box::new(reply),
                        exchange,
                        addr,
                    });
                }
                Ok(_) => {}
                Err(e) => match QueryReply::parse(datagram) {
                    Ok(reply) if reply.request_id == request_id => {
                        return Ok(Answer::Compact { reply, addr });
                    }
                    Ok(_) => {}
                    Err(_) => last_error = Some(e),
                },
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                break;
            }
        }
    }
    match last_error {
        Some(error) => Err(QueryFailure::Unreadable { addr, error }),
        None => Err(QueryFailure::NoAnswer {
            addr,
            waited: started.elapsed(),
            refused,
        }),
    }
}
