//! `dantesync gm-sim` run as a user runs it, on loopback: its packets are received on real
//! UDP sockets, parsed with the project's codec, compared byte for byte and through tshark
//! with the first Sync and Follow_Up of a real Dante leader (a Focusrite RedNet AM2), and
//! timed against this process's own monotonic clock.
//!
//! Every run has a hard time limit and the child is killed if a test fails; all traffic is
//! to 127.0.0.1.

#[path = "../../dantesync-core/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dantesync_core::wire::ptpv1::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
};
use support::tshark::{self, UdpPacket};

const DANTE_CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/captures/inferno-fpga/dante_ptpv1.pcap"
);
/// gm-sim's default UUID.
const DEFAULT_UUID: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
/// A follower's identity in the Delay_Req the tests send (ptpd's slave in the fixtures).
const FOLLOWER: Uuid = Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f]);
/// No run may take longer than this, whatever goes wrong.
const HARD_TIMEOUT: Duration = Duration::from_secs(30);
const NS_PER_S: i128 = 1_000_000_000;

// ---------------------------------------------------------------------------------------
// Receiving

/// One datagram as a test socket received it.
#[derive(Debug, Clone)]
struct Datagram {
    /// When `recvmsg` returned, on this process's monotonic clock.
    at: Instant,
    from: SocketAddr,
    bytes: Vec<u8>,
    /// IP TOS and TTL of the packet (IP_RECVTOS / IP_RECVTTL), where the platform says.
    tos: Option<u8>,
    ttl: Option<u8>,
    /// The kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME ns), where the platform
    /// gives one. On loopback it is taken as the sender hands the packet over, so scheduling
    /// of the receiving thread does not show in it.
    kernel_ns: Option<i128>,
}

/// Received data as [`ip::recv`] returns it.
#[derive(Debug)]
struct Received {
    len: usize,
    from: SocketAddr,
    tos: Option<u8>,
    ttl: Option<u8>,
    kernel_ns: Option<i128>,
}

#[cfg(target_os = "linux")]
mod ip {
    //! recvmsg with IP_RECVTOS and IP_RECVTTL, to see the header fields a sender set, and
    //! SO_TIMESTAMPNS for the kernel's receive time.

    use super::Received;
    use std::io;
    use std::mem::{size_of, size_of_val, zeroed};
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
    use std::os::fd::AsRawFd;

    pub fn enable(socket: &UdpSocket) {
        for (level, option) in [
            (libc::IPPROTO_IP, libc::IP_RECVTOS),
            (libc::IPPROTO_IP, libc::IP_RECVTTL),
            (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
        ] {
            let one: libc::c_int = 1;
            // SAFETY: a valid socket, and a pointer to an int with its size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    level,
                    option,
                    (&one as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
        }
    }

    pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        let (mut tos, mut ttl, mut kernel_ns) = (None, None, None);
        // SAFETY: every pointer in `msg` points at a live local buffer of the size given, and
        // the control messages are walked with the libc macros within `msg_controllen`.
        unsafe {
            let mut name: libc::sockaddr_in = zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut control = [0u64; 32];
            let mut msg: libc::msghdr = zeroed();
            msg.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&control) as _;
            let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                if header.cmsg_level == libc::IPPROTO_IP {
                    let data = libc::CMSG_DATA(cmsg);
                    if header.cmsg_type == libc::IP_TOS {
                        tos = Some(*data);
                    } else if header.cmsg_type == libc::IP_TTL {
                        let value = data.cast::<libc::c_int>().read_unaligned();
                        ttl = u8::try_from(value).ok();
                    }
                } else if header.cmsg_level == libc::SOL_SOCKET
                    && header.cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let time = libc::CMSG_DATA(cmsg)
                        .cast::<libc::timespec>()
                        .read_unaligned();
                    kernel_ns =
                        Some(i128::from(time.tv_sec) * 1_000_000_000 + i128::from(time.tv_nsec));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            let from = SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
                u16::from_be(name.sin_port),
            );
            Ok(Received {
                len: n as usize,
                from: SocketAddr::V4(from),
                tos,
                ttl,
                kernel_ns,
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod ip {
    use super::Received;
    use std::io;
    use std::net::UdpSocket;

    pub fn enable(_socket: &UdpSocket) {}

    pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        socket.recv_from(buf).map(|(len, from)| Received {
            len,
            from,
            tos: None,
            ttl: None,
            kernel_ns: None,
        })
    }
}

/// A socket on 127.0.0.1 whose thread records every datagram until it is finished.
struct Collector {
    port: u16,
    got: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn bind() -> Collector {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a test socket on 127.0.0.1");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        ip::enable(&socket);
        let port = socket.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, stop) = (Arc::clone(&got), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(r) = ip::recv(&socket, &mut buf) {
                        let at = Instant::now();
                        got.lock().unwrap().push(Datagram {
                            at,
                            from: r.from,
                            bytes: buf[..r.len].to_vec(),
                            tos: r.tos,
                            ttl: r.ttl,
                            kernel_ns: r.kernel_ns,
                        });
                    }
                }
            })
        };
        Collector {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> Vec<Datagram> {
        self.got.lock().unwrap().clone()
    }

    fn finish(&mut self) -> Vec<Datagram> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// Running gm-sim

/// A running `dantesync gm-sim` sending to two collectors on 127.0.0.1; killed on drop.
struct Sim {
    child: Child,
    started: Instant,
    event: Collector,
    general: Collector,
}

/// What a finished run printed and sent.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    event: Vec<Datagram>,
    general: Vec<Datagram>,
}

impl Sim {
    /// Starts gm-sim on loopback with `args` added. Unless the test names a Delay_Req port,
    /// it gets `--delay-req-port 0`: the event port is the test's.
    fn start(args: &[&str]) -> Sim {
        let event = Collector::bind();
        let general = Collector::bind();
        let mut command = Command::new(env!("CARGO_BIN_EXE_dantesync"));
        command
            .args(["gm-sim", "--dest", "127.0.0.1", "--bind", "127.0.0.1"])
            .args(["--event-port", &event.port.to_string()])
            .args(["--general-port", &general.port.to_string()]);
        if !args.contains(&"--delay-req-port") {
            command.args(["--delay-req-port", "0"]);
        }
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the dantesync binary runs");
        Sim {
            child,
            started: Instant::now(),
            event,
            general,
        }
    }

    /// Waits (at most 5 s) until the general port has received `n` datagrams.
    fn wait_for_general(&self, n: usize) -> Vec<Datagram> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.general.snapshot();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "gm-sim sent {} datagrams to the general port, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for gm-sim to exit (killing it past [`HARD_TIMEOUT`]), lets the last datagrams
    /// arrive and returns everything.
    fn finish(mut self) -> Outcome {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for gm-sim") {
                break status;
            }
            if self.started.elapsed() > HARD_TIMEOUT {
                let _ = self.child.kill();
                panic!("gm-sim still running after {HARD_TIMEOUT:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        std::thread::sleep(Duration::from_millis(100));
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut stdout).unwrap();
        }
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        Outcome {
            status,
            stdout,
            stderr,
            event: self.event.finish(),
            general: self.general.finish(),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Harmless once it has exited; stops it if a test failed while it ran.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Outcome {
    /// Asserts a clean exit with the start line and the summary, and returns the summary.
    fn summary(&self) -> &str {
        assert!(
            self.status.success(),
            "gm-sim failed ({}): {}",
            self.status,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "a start line and a summary: {}",
            self.stdout
        );
        lines[1]
    }

    fn banner(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }
}

/// Runs dantesync to the end with `args` (no collectors), for the error cases.
fn run_plain(args: &[&str]) -> (ExitStatus, String, String) {
    run_program(env!("CARGO_BIN_EXE_dantesync"), args)
}

/// Runs `program` to the end, killing it past [`HARD_TIMEOUT`].
fn run_program(program: &str, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HARD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} still running after {HARD_TIMEOUT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status, stdout, stderr)
}

// ---------------------------------------------------------------------------------------
// Reading what was sent

#[derive(Debug, Clone)]
struct SyncPacket {
    datagram: Datagram,
    header: Header,
    body: SyncBody,
}

#[derive(Debug, Clone)]
struct FollowUpPacket {
    datagram: Datagram,
    header: Header,
    body: FollowUpBody,
}

/// A Sync and the Follow_Up that names it.
#[derive(Debug, Clone)]
struct Pair {
    sync: SyncPacket,
    follow_up: FollowUpPacket,
}

impl Pair {
    fn sequence_id(&self) -> u16 {
        self.sync.header.sequence_id
    }

    /// The precise T1 of the Follow_Up, ns of leader uptime.
    fn t1(&self) -> i128 {
        self.follow_up.body.precise_origin_timestamp.to_nanos()
    }

    /// When the Sync arrived.
    fn arrival(&self) -> Instant {
        self.sync.datagram.at
    }
}

fn parse_syncs(datagrams: &[Datagram]) -> Vec<SyncPacket> {
    datagrams
        .iter()
        .map(|d| match Message::parse(&d.bytes) {
            Ok(Message::Sync(header, body)) => SyncPacket {
                datagram: d.clone(),
                header,
                body,
            },
            other => panic!("the event port got something other than a Sync: {other:?}"),
        })
        .collect()
}

fn parse_follow_ups(datagrams: &[Datagram]) -> Vec<FollowUpPacket> {
    datagrams
        .iter()
        .filter_map(|d| match Message::parse(&d.bytes) {
            Ok(Message::FollowUp(header, body)) => Some(FollowUpPacket {
                datagram: d.clone(),
                header,
                body,
            }),
            Ok(Message::DelayResp(..)) => None,
            other => panic!("the general port got an unexpected message: {other:?}"),
        })
        .collect()
}

fn parse_delay_resps(datagrams: &[Datagram]) -> Vec<(Datagram, Header, DelayRespBody)> {
    datagrams
        .iter()
        .filter_map(|d| match Message::parse(&d.bytes) {
            Ok(Message::DelayResp(header, body)) => Some((d.clone(), header, body)),
            _ => None,
        })
        .collect()
}

/// Every Sync with its Follow_Up, in order; asserts that each Follow_Up has its Sync and
/// that no Sync lacks a Follow_Up (loopback loses nothing).
fn pairs(outcome: &Outcome) -> Vec<Pair> {
    let syncs = parse_syncs(&outcome.event);
    let follow_ups = parse_follow_ups(&outcome.general);
    let by_sequence: HashMap<u16, &SyncPacket> =
        syncs.iter().map(|s| (s.header.sequence_id, s)).collect();
    assert_eq!(by_sequence.len(), syncs.len(), "a sequence id came twice");
    let pairs: Vec<Pair> = follow_ups
        .iter()
        .map(|f| {
            assert_eq!(
                f.header.sequence_id, f.body.associated_sequence_id,
                "a Follow_Up's header and associatedSequenceId differ"
            );
            let sync = by_sequence
                .get(&f.body.associated_sequence_id)
                .unwrap_or_else(|| {
                    panic!(
                        "Follow_Up {} matches no Sync",
                        f.body.associated_sequence_id
                    )
                });
            Pair {
                sync: (*sync).clone(),
                follow_up: f.clone(),
            }
        })
        .collect();
    assert_eq!(pairs.len(), syncs.len(), "every Sync has its Follow_Up");
    pairs
}

/// The first Sync and its Follow_Up in the real Dante capture, with their UDP source ports.
fn real_first_pair() -> (UdpPacket, UdpPacket) {
    let datagrams = dantesync_pcap::read_udp(DANTE_CAPTURE).expect("read the Dante capture");
    let sync = datagrams
        .iter()
        .find(|d| matches!(Message::parse(&d.payload), Ok(Message::Sync(..))))
        .expect("a Sync in the capture");
    let Ok(Message::Sync(sync_header, _)) = Message::parse(&sync.payload) else {
        unreachable!()
    };
    let follow_up = datagrams
        .iter()
        .find(|d| match Message::parse(&d.payload) {
            Ok(Message::FollowUp(_, body)) => {
                body.associated_sequence_id == sync_header.sequence_id
            }
            _ => false,
        })
        .expect("the first Sync's Follow_Up in the capture");
    let packet = |d: &dantesync_pcap::Datagram| UdpPacket {
        src_port: d.src.port(),
        dst_port: d.dst.port(),
        payload: d.payload.clone(),
    };
    (packet(sync), packet(follow_up))
}

/// The real leader's Sync as it would be with another sequence id, timestamp and UUID.
fn real_sync_as(real: &[u8], sequence_id: u16, origin: Timestamp, uuid: Uuid) -> Vec<u8> {
    let Ok(Message::Sync(mut header, mut body)) = Message::parse(real) else {
        panic!("not a Sync")
    };
    header.sequence_id = sequence_id;
    header.source_uuid = uuid;
    body.grandmaster_sequence_id = sequence_id;
    body.origin_timestamp = origin;
    body.grandmaster_clock_uuid = uuid;
    body.parent_uuid = uuid;
    Message::Sync(header, body).to_bytes()
}

/// The real leader's Follow_Up as it would be with another sequence id, T1 and UUID.
fn real_follow_up_as(real: &[u8], sequence_id: u16, t1: Timestamp, uuid: Uuid) -> Vec<u8> {
    let Ok(Message::FollowUp(mut header, mut body)) = Message::parse(real) else {
        panic!("not a Follow_Up")
    };
    header.sequence_id = sequence_id;
    header.source_uuid = uuid;
    body.associated_sequence_id = sequence_id;
    body.precise_origin_timestamp = t1;
    Message::FollowUp(header, body).to_bytes()
}

/// Signed ns from `a` to `b`.
fn ns_between(a: Instant, b: Instant) -> i128 {
    if b >= a {
        b.duration_since(a).as_nanos() as i128
    } else {
        -(a.duration_since(b).as_nanos() as i128)
    }
}

/// When each Sync arrived, ns from the first: the kernel's receive timestamps when the
/// platform gives them (CLOCK_REALTIME, which runs at CLOCK_MONOTONIC's rate: only steps
/// differ, and nothing steps the clock in these tests), else when recvmsg returned.
fn arrivals_ns(pairs: &[Pair]) -> Vec<i128> {
    let kernel: Option<Vec<i128>> = pairs.iter().map(|p| p.sync.datagram.kernel_ns).collect();
    match kernel {
        Some(times) => times.iter().map(|t| t - times[0]).collect(),
        None => pairs
            .iter()
            .map(|p| ns_between(pairs[0].arrival(), p.arrival()))
            .collect(),
    }
}

/// Tests whose numbers are times hold this, so that they do not run at the same time as
/// each other or as the tshark runs, which take the CPU for a second.
static TIMING: Mutex<()> = Mutex::new(());

fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    TIMING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Rate of the leader's T1 against this host's clock at the Syncs' arrival, ppm.
///
/// Arrival = send time + a delay that is never below its floor but sometimes far above it
/// (scheduling on a shared machine), so the fit is taken over the lower envelope: of each run
/// of `chunk` Syncs, the one that arrived soonest after its T1 (largest T1 − arrival).
fn rate_ppm(pairs: &[Pair], chunk: usize) -> f64 {
    let arrivals = arrivals_ns(pairs);
    let t0 = pairs[0].t1();
    let points: Vec<(f64, f64)> = pairs
        .iter()
        .zip(&arrivals)
        .collect::<Vec<_>>()
        .chunks(chunk)
        .filter(|c| c.len() == chunk)
        .map(|c| {
            c.iter()
                .map(|&(p, &x)| (x as f64, (p.t1() - t0 - x) as f64))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap()
        })
        .collect();
    assert!(points.len() >= 4, "too few points to fit: {}", points.len());
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx * 1e6
}

fn percentile(values: &mut [i128], p: f64) -> i128 {
    values.sort_unstable();
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}

/// Sends a Delay_Req as a ptpd follower does to `port` on 127.0.0.1, from `socket`.
fn send_delay_req(socket: &UdpSocket, port: u16, sequence_id: u16) -> Instant {
    let mut header = Header::new(Control::DelayReq, FOLLOWER, sequence_id);
    header.source_port_id = 1;
    header.flags = Flags::ASSIST;
    let mut body = SyncBody {
        origin_timestamp: Timestamp::new(1_795_250_992, 12_345),
        grandmaster_communication_technology: 1,
        grandmaster_clock_uuid: DEFAULT_UUID,
        local_clock_stratum: 255,
        local_clock_identifier: *b"DFLT",
        parent_communication_technology: 1,
        parent_uuid: DEFAULT_UUID,
        ..SyncBody::default()
    };
    body.set_sync_interval(-2);
    let bytes = Message::DelayReq(header, body).to_bytes();
    let at = Instant::now();
    socket
        .send_to(&bytes, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
        .unwrap();
    at
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn sends_the_real_leaders_sync_and_follow_up_but_for_ids_and_times() {
    let sim = Sim::start(&["--count", "8"]);
    let (event_port, general_port) = (sim.event.port, sim.general.port);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(
        outcome.banner().contains(&format!(
            "sends Sync to 127.0.0.1:{event_port} (TOS 0xe0) and Follow_Up to \
             127.0.0.1:{general_port} (TOS 0xb8)"
        )),
        "{}",
        outcome.banner()
    );
    assert!(
        summary.contains("sent 8 Syncs and 8 Follow_Ups (sequence ids 2796..=2803)"),
        "{summary}"
    );
    assert!(summary.contains("stopped by --count"), "{summary}");

    let pairs = pairs(&outcome);
    let sequence_ids: Vec<u16> = pairs.iter().map(Pair::sequence_id).collect();
    assert_eq!(sequence_ids, (2796..=2803).collect::<Vec<u16>>());

    let (real_sync, real_follow_up) = real_first_pair();
    for pair in &pairs {
        let (sync, follow_up) = (&pair.sync, &pair.follow_up);
        // Byte for byte the AM2's messages, once its ids and times are swapped in.
        assert_eq!(
            sync.datagram.bytes,
            real_sync_as(
                &real_sync.payload,
                pair.sequence_id(),
                sync.body.origin_timestamp,
                DEFAULT_UUID
            ),
            "Sync {}",
            pair.sequence_id()
        );
        assert_eq!(
            follow_up.datagram.bytes,
            real_follow_up_as(
                &real_follow_up.payload,
                pair.sequence_id(),
                follow_up.body.precise_origin_timestamp,
                DEFAULT_UUID
            ),
            "Follow_Up {}",
            pair.sequence_id()
        );
        // The same, said field by field.
        assert_eq!(sync.datagram.bytes.len(), 124);
        assert_eq!(follow_up.datagram.bytes.len(), 52);
        assert_eq!(sync.header.flags, Flags(0x000c));
        assert_eq!(follow_up.header.flags, Flags(0x000c));
        assert_eq!(sync.header.source_uuid, DEFAULT_UUID);
        assert_eq!(sync.body.grandmaster_clock_stratum, 153);
        assert_eq!(sync.body.grandmaster_clock_variance, 28768);
        assert_eq!(&sync.body.grandmaster_clock_identifier, b"DFLT");
        assert!(!sync.body.grandmaster_preferred);
        assert_eq!(sync.body.sync_interval, -2);
        assert_eq!(sync.datagram.bytes[82..84], [0xff, 0xfe]);
        assert_eq!(
            (sync.body.epoch_number, sync.body.current_utc_offset),
            (0, 0)
        );
        assert!(!sync.body.utc_reasonable);
        // Ephemeral source ports, one socket per class; TOS and TTL as Dante sends them.
        assert_eq!(sync.datagram.from.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(sync.datagram.from.port(), event_port);
        assert_ne!(sync.datagram.from.port(), follow_up.datagram.from.port());
        if cfg!(target_os = "linux") {
            assert_eq!(sync.datagram.tos, Some(0xe0), "Sync TOS");
            assert_eq!(follow_up.datagram.tos, Some(0xb8), "Follow_Up TOS");
            assert_eq!(sync.datagram.ttl, Some(1), "Sync TTL");
            assert_eq!(follow_up.datagram.ttl, Some(1), "Follow_Up TTL");
        }
        // The Sync's own time is read before the precise one, and not long before.
        let early = pair.t1() - sync.body.origin_timestamp.to_nanos();
        assert!(
            (0..2_000_000).contains(&early),
            "Sync {} origin is {early} ns before its T1",
            pair.sequence_id()
        );
    }
    // Uptime from 699 s, Sync k due k × 250 ms later: never early, and late only by the
    // scheduling of this machine (a wrong interval would be off by 125 ms or more).
    for (k, pair) in pairs.iter().enumerate() {
        let late = pair.t1() - 699 * NS_PER_S - k as i128 * 250_000_000;
        assert!(
            (0..100_000_000).contains(&late),
            "Sync {k} is {late} ns late for its 250 ms slot"
        );
        if cfg!(target_os = "linux") {
            assert!(pair.sync.datagram.kernel_ns.is_some(), "no SO_TIMESTAMPNS");
        }
    }
}

#[test]
fn options_set_identity_quality_interval_and_wrapping_sequence_ids() {
    let uuid = Uuid([0x02, 0x00, 0x5e, 0x10, 0x00, 0x2a]);
    let sim = Sim::start(&[
        "--uuid",
        "02:00:5e:10:00:2a",
        "--stratum",
        "99",
        "--variance",
        "-4000",
        "--preferred",
        "--sync-interval-log2",
        "-4",
        "--uptime-start-s",
        "12345.5",
        "--first-sequence-id",
        "65534",
        "--count",
        "4",
    ]);
    // A positive interval at the same time: byte 82 is then 0.
    let slow = Sim::start(&["--sync-interval-log2", "0", "--count", "2"]);
    let outcome = sim.finish();
    outcome.summary();
    let pairs = pairs(&outcome);
    let sequence_ids: Vec<u16> = pairs.iter().map(Pair::sequence_id).collect();
    assert_eq!(sequence_ids, [65534, 65535, 0, 1]);
    for pair in &pairs {
        let (header, body) = (&pair.sync.header, &pair.sync.body);
        assert_eq!(header.source_uuid, uuid);
        assert_eq!(pair.follow_up.header.source_uuid, uuid);
        assert_eq!(body.grandmaster_clock_uuid, uuid);
        assert_eq!(body.parent_uuid, uuid);
        assert_eq!(
            (body.grandmaster_clock_stratum, body.local_clock_stratum),
            (99, 99)
        );
        assert_eq!(
            (body.grandmaster_clock_variance, body.local_clock_variance),
            (-4000, -4000)
        );
        assert!(body.grandmaster_preferred);
        assert_eq!(body.sync_interval, -4);
        assert_eq!(pair.sync.datagram.bytes[82..84], [0xff, 0xfc]);
        assert_eq!(header.flags, Flags(0x000c));
    }
    let first = pairs[0].t1();
    assert!(
        (12_345_500_000_000..12_345_550_000_000).contains(&first),
        "first T1 {first} ns"
    );
    // Sync k is due k × 62.5 ms after the uptime read 12345.5 s.
    let late = pairs[3].t1() - 12_345_500_000_000 - 3 * 62_500_000;
    assert!(
        (0..50_000_000).contains(&late),
        "the 4th Sync is {late} ns late"
    );

    let slow = slow.finish();
    slow.summary();
    let pairs = self::pairs(&slow);
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].sync.body.sync_interval, 0);
    assert_eq!(pairs[0].sync.datagram.bytes[82..84], [0, 0]);
    let late = pairs[1].t1() - 699 * NS_PER_S - NS_PER_S;
    assert!(
        (0..200_000_000).contains(&late),
        "the 2nd Sync is {late} ns late"
    );
}

#[test]
fn drift_shows_as_the_t1_rate_against_the_receivers_clock() {
    let _timing = timing_lock();
    // 3 s of Syncs every 31.25 ms: 96 Syncs, 12 envelope points.
    let fast = Sim::start(&[
        "--drift-ppm",
        "100",
        "--sync-interval-log2",
        "-5",
        "--duration-s",
        "3",
    ]);
    let slow = Sim::start(&[
        "--drift-ppm=-250",
        "--sync-interval-log2",
        "-5",
        "--duration-s",
        "3",
    ]);
    for (outcome, want) in [(fast.finish(), 100.0), (slow.finish(), -250.0)] {
        let summary = outcome.summary();
        assert!(summary.contains("stopped by --duration-s"), "{summary}");
        let pairs = pairs(&outcome);
        assert_eq!(pairs.len(), 96, "{summary}");
        let ppm = rate_ppm(&pairs, 8);
        eprintln!("drift {want:+} ppm: measured {ppm:+.2} ppm");
        assert!(
            (ppm - want).abs() < 25.0,
            "drift {want} ppm measured as {ppm:.2} ppm"
        );
    }
}

#[test]
fn syncs_keep_to_absolute_deadlines() {
    let _timing = timing_lock();
    let sim = Sim::start(&["--sync-interval-log2", "-6", "--count", "128"]);
    let outcome = sim.finish();
    outcome.summary();
    let pairs = pairs(&outcome);
    assert_eq!(pairs.len(), 128);
    // Sync k is due k × 15.625 ms after the uptime read 699 s. It is never early; it is late
    // by however long this machine took to wake the sender, but that does not pile up: among
    // the last 32 some went out on time. A sleep of one interval after each send would have
    // them all late by the sum of ~100 sends' costs and oversleeps, milliseconds.
    let lateness: Vec<i128> = pairs
        .iter()
        .enumerate()
        .map(|(k, p)| p.t1() - 699 * NS_PER_S - k as i128 * 15_625_000)
        .collect();
    assert!(
        lateness.iter().all(|&late| late >= 0),
        "a Sync went out before its deadline: {lateness:?}"
    );
    let best_late = lateness[96..].iter().min().unwrap();
    assert!(
        *best_late < 1_000_000,
        "the last 32 Syncs are all at least {best_late} ns late: {lateness:?}"
    );
    let ppm = rate_ppm(&pairs, 16);
    assert!(ppm.abs() < 50.0, "no drift asked, measured {ppm:.2} ppm");
}

#[test]
fn jitter_spreads_t1_against_arrival() {
    let _timing = timing_lock();
    let sim = Sim::start(&[
        "--jitter-us",
        "8000",
        "--sync-interval-log2",
        "-4",
        "--count",
        "32",
    ]);
    let outcome = sim.finish();
    assert!(outcome.banner().contains("jitter 8000 µs"));
    outcome.summary();
    let pairs = pairs(&outcome);
    assert_eq!(pairs.len(), 32);
    // Arrival − T1 = the random delay (uniform in 0..=8 ms) + the loopback delay + however
    // late this machine woke the sender after the random delay (only ever more).
    let t0 = pairs[0].t1();
    let mut offsets: Vec<i128> = pairs
        .iter()
        .zip(arrivals_ns(&pairs))
        .map(|(p, arrival)| arrival - (p.t1() - t0))
        .collect();
    let floor = percentile(&mut offsets, 0.0);
    let spread = percentile(&mut offsets, 0.9) - percentile(&mut offsets, 0.1);
    // Uniform 0..8 ms spreads 6.4 ms from its 10th to its 90th percentile.
    assert!(
        spread > 3_000_000,
        "10–90 % spread of arrival − T1 is only {spread} ns with 8 ms of jitter: {offsets:?}"
    );
    // And no more than 8 ms, but for the wake-up delays: most arrive within 8.5 ms of the
    // soonest (a jitter 10 times too large would leave a tenth there).
    let within = offsets.iter().filter(|&&o| o - floor <= 8_500_000).count();
    assert!(
        within >= 20,
        "only {within} of 32 Syncs within 8.5 ms of the soonest: {offsets:?}"
    );
    for pair in &pairs {
        assert!(pair.sync.body.origin_timestamp.to_nanos() <= pair.t1());
    }
}

#[test]
fn answers_delay_req_with_the_requesting_fields() {
    let delay_req_port = free_port();
    let port_text = delay_req_port.to_string();
    let sim = Sim::start(&[
        "--duration-s",
        "2",
        "--delay-req-port",
        &port_text,
        "--uptime-start-s",
        "5000",
    ]);
    let first = sim.wait_for_general(1);
    let follower = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent_at = send_delay_req(&follower, delay_req_port, 4242);
    sim.wait_for_general(2);
    // Not a Delay_Req: ignored (a PTPv2 header, and a Follow_Up).
    let mut ptpv2 = vec![0u8; 44];
    ptpv2[1] = 2;
    follower
        .send_to(&ptpv2, ("127.0.0.1", delay_req_port))
        .unwrap();
    follower
        .send_to(&first[0].bytes, ("127.0.0.1", delay_req_port))
        .unwrap();
    send_delay_req(&follower, delay_req_port, 4243);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(
        outcome
            .banner()
            .contains(&format!("answers Delay_Req on 127.0.0.1:{delay_req_port}")),
        "{}",
        outcome.banner()
    );
    assert!(summary.contains("answered 2 Delay_Reqs in"), "{summary}");

    let responses = parse_delay_resps(&outcome.general);
    assert_eq!(responses.len(), 2, "{responses:?}");
    let follow_up_source = parse_follow_ups(&outcome.general)[0].datagram.from;
    for ((datagram, header, body), (own, requested)) in responses.iter().zip([(0, 4242), (1, 4243)])
    {
        assert_eq!(datagram.bytes.len(), 60);
        assert_eq!(header.source_uuid, DEFAULT_UUID);
        assert_eq!(header.sequence_id, own);
        assert_eq!(header.flags, Flags(0x000c));
        assert_eq!(body.requesting_source_communication_technology, 1);
        assert_eq!(body.requesting_source_uuid, FOLLOWER);
        assert_eq!(body.requesting_source_port_id, 1);
        assert_eq!(body.requesting_source_sequence_id, requested);
        // From the general socket, to the requester's general port.
        assert_eq!(datagram.from, follow_up_source);
        if cfg!(target_os = "linux") {
            assert_eq!(datagram.tos, Some(0xb8), "Delay_Resp TOS");
        }
    }
    // T4 is the leader's uptime when the request arrived: predicted from the first Sync's T1
    // and this clock (no drift asked), it lands within a few ms after the send.
    let pairs = pairs(&outcome);
    let predicted = pairs[0].t1() + ns_between(pairs[0].arrival(), sent_at);
    let t4 = responses[0].2.delay_receipt_timestamp.to_nanos();
    assert!(
        (-2_000_000..50_000_000).contains(&(t4 - predicted)),
        "T4 {t4} is {} ns from the predicted {predicted}",
        t4 - predicted
    );
    assert!(
        (5000 * NS_PER_S..5002 * NS_PER_S).contains(&t4),
        "T4 {t4} is not on the 5000 s uptime scale"
    );
}

#[test]
fn tshark_decodes_gm_sim_like_the_real_leader() {
    let _timing = timing_lock();
    let delay_req_port = free_port();
    let port_text = delay_req_port.to_string();
    let sim = Sim::start(&["--duration-s", "1", "--delay-req-port", &port_text]);
    sim.wait_for_general(1);
    let follower = UdpSocket::bind("127.0.0.1:0").unwrap();
    send_delay_req(&follower, delay_req_port, 4242);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(summary.contains("answered 1 Delay_Req in"), "{summary}");
    let pairs = pairs(&outcome);
    let (sync, follow_up) = (&pairs[0].sync, &pairs[0].follow_up);
    let (delay_resp, _, _) = parse_delay_resps(&outcome.general)
        .into_iter()
        .next()
        .expect("a Delay_Resp");
    let (real_sync, real_follow_up) = real_first_pair();
    // The same UDP ports as the real leader's, so only the payloads differ.
    let as_real = |real: &UdpPacket, payload: &[u8]| UdpPacket {
        src_port: real.src_port,
        dst_port: real.dst_port,
        payload: payload.to_vec(),
    };
    let ours = [
        as_real(&real_sync, &sync.datagram.bytes),
        as_real(&real_follow_up, &follow_up.datagram.bytes),
        as_real(&real_follow_up, &delay_resp.bytes),
    ];
    let Some(malformed) = tshark::malformed_count(&ours) else {
        return; // DANTESYNC_SKIP_TSHARK=1 and no tshark: the harness said so.
    };
    assert_eq!(malformed, 0);
    assert_eq!(tshark::problems(&ours), Some(Vec::new()));

    // Every PTPv1 field Wireshark knows, but the ones that must differ.
    let listing = Command::new("tshark")
        .args(["-G", "fields"])
        .output()
        .expect("tshark -G fields");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let all: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split('\t').nth(2))
        .filter(|name| name.starts_with("ptp.") && !name.starts_with("ptp.v2."))
        .collect();
    let compared: Vec<&str> = all
        .iter()
        .copied()
        .filter(|f| !f.contains("sequenceid") && !f.contains("timestamp") && !f.contains("uuid"))
        .collect();
    assert!(compared.len() > 40, "{compared:?}");
    let packets = [
        real_sync.clone(),
        real_follow_up.clone(),
        ours[0].clone(),
        ours[1].clone(),
    ];
    let rows = tshark::decode(&packets, "ptp", &compared).unwrap();
    assert_eq!(rows.len(), 4);
    let differing = |real: &[String], sim: &[String]| -> Vec<String> {
        compared
            .iter()
            .zip(real.iter().zip(sim))
            .filter(|(_, (r, s))| r != s)
            .map(|(f, (r, s))| format!("{f}: real {r:?}, gm-sim {s:?}"))
            .collect()
    };
    assert_eq!(differing(&rows[0], &rows[2]), Vec::<String>::new(), "Sync");
    assert_eq!(
        differing(&rows[1], &rows[3]),
        Vec::<String>::new(),
        "Follow_Up"
    );
    // And the comparison was about something: the values Dante is known by.
    let sync_fields: HashMap<&str, &str> = compared
        .iter()
        .copied()
        .zip(rows[2].iter().map(String::as_str))
        .collect();
    for (field, want) in [
        ("ptp.versionptp", "1"),
        ("ptp.subdomain", "_DFLT"),
        ("ptp.controlfield", "0"),
        ("ptp.flags", "0x000c"),
        ("ptp.flags.assist", "1"),
        ("ptp.flags.boundary_clock", "1"),
        ("ptp.sdr.grandmasterclockstratum", "153"),
        ("ptp.sdr.grandmasterclockidentifier", "DFLT"),
        ("ptp.sdr.grandmasterclockvariance", "28768"),
        ("ptp.sdr.syncinterval", "-2"),
        ("ptp.sdr.utcreasonable", "0"),
    ] {
        assert_eq!(sync_fields[field], want, "{field}");
    }

    // The fields that differ say what gm-sim put there.
    let varying = [
        "ptp.sequenceid",
        "ptp.sourceuuid",
        "ptp.sdr.origintimestamp",
        "ptp.sdr.grandmasterclockuuid",
        "ptp.sdr.grandmastersequenceid",
        "ptp.sdr.parentuuid",
        "ptp.fu.associatedsequenceid",
        "ptp.fu.preciseorigintimestamp",
        "ptp.dr.delayreceipttimestamp",
        "ptp.dr.requestingsourceuuid",
        "ptp.dr.requestingsourceportid",
        "ptp.dr.requestingsourcesequenceid",
    ];
    let rows = tshark::decode(&ours, "ptp", &varying).unwrap();
    let seq = pairs[0].sequence_id().to_string();
    let t1 = follow_up.body.precise_origin_timestamp.to_string();
    let origin = sync.body.origin_timestamp.to_string();
    let Ok(Message::DelayResp(_, response)) = Message::parse(&delay_resp.bytes) else {
        unreachable!()
    };
    let t4 = response.delay_receipt_timestamp.to_string();
    let uuid = DEFAULT_UUID.to_string();
    let follower = FOLLOWER.to_string();
    let want: [[&str; 12]; 3] = [
        [
            &seq, &uuid, &origin, &uuid, &seq, &uuid, "", "", "", "", "", "",
        ],
        [&seq, &uuid, "", "", "", "", &seq, &t1, "", "", "", ""],
        [
            "0", &uuid, "", "", "", "", "", "", &t4, &follower, "1", "4242",
        ],
    ];
    for (row, want) in rows.iter().zip(want) {
        assert_eq!(row, &want.map(str::to_owned).to_vec());
    }
}

#[test]
fn runs_until_sigterm_and_still_prints_the_summary() {
    let sim = Sim::start(&["--sync-interval-log2", "-5"]);
    sim.wait_for_general(3);
    let pid = libc::pid_t::try_from(sim.child.id()).unwrap();
    // SAFETY: kill has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let stopped_at = Instant::now();
    let outcome = sim.finish();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        stopped_at.elapsed()
    );
    let summary = outcome.summary();
    assert!(outcome.banner().contains("until Ctrl-C"));
    assert!(summary.contains("stopped by a signal"), "{summary}");
    let sent = pairs(&outcome).len();
    assert!(
        summary.contains(&format!("sent {sent} Syncs and {sent} Follow_Ups")),
        "received {sent} pairs: {summary}"
    );
}

#[test]
fn a_busy_delay_req_port_is_a_clear_error_and_nothing_is_sent() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let outcome = Sim::start(&["--delay-req-port", &port, "--count", "2"]).finish();
    assert_eq!(outcome.status.code(), Some(1), "{outcome:?}");
    assert!(
        outcome.stderr.starts_with(&format!(
            "dantesync gm-sim: the Delay_Req listener: cannot bind 127.0.0.1:{port}: "
        )),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("--delay-req-port"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert!(outcome.event.is_empty() && outcome.general.is_empty());
}

#[test]
fn bad_arguments_are_clear_errors() {
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--dest", "300.1.2.3"], 2, "--dest"),
        (&["--sync-interval-log2", "5"], 2, "--sync-interval-log2"),
        (&["--drift-ppm", "nan"], 2, "must be a finite number"),
        (
            &["--dest", "127.0.0.1", "--jitter-us", "250000"],
            1,
            "--jitter-us 250000 is not below the Sync interval (250000 µs)",
        ),
        (
            &["--dest", "127.0.0.1", "--interface", "no-such-if0"],
            1,
            "no interface named \"no-such-if0\"",
        ),
        (
            // TEST-NET-1: on no interface of this host, so the bind fails and nothing is sent.
            &[
                "--dest",
                "127.0.0.1",
                "--bind",
                "192.0.2.77",
                "--count",
                "1",
            ],
            1,
            "no interface of this host has that address",
        ),
    ];
    for (args, code, message) in cases {
        let mut full = vec!["gm-sim"];
        full.extend_from_slice(args);
        let (status, stdout, stderr) = run_plain(&full);
        assert_eq!(status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
    }
}

#[test]
fn port_319_without_root_says_what_to_do() {
    // Needs an unprivileged user to be meaningful: drop to nobody with setpriv when root.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    let args = [
        "gm-sim",
        "--dest",
        "127.0.0.1",
        "--event-port",
        "319",
        "--general-port",
        "320",
        "--count",
        "1",
    ];
    let (status, stdout, stderr) = match (root, unprivileged_start) {
        (_, Some(start)) if start <= 319 => {
            eprintln!(
                "SKIPPED: ip_unprivileged_port_start is {start}: port 319 is not privileged here"
            );
            return;
        }
        (false, _) => run_plain(&args),
        (true, _) if setpriv => {
            let mut full = vec![
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_dantesync"),
            ];
            full.extend_from_slice(&args);
            run_program("setpriv", &full)
        }
        (true, _) => {
            eprintln!(
                "SKIPPED: running as root without setpriv: cannot test port 319 unprivileged"
            );
            return;
        }
    };
    if status.code() == Some(126) || status.code() == Some(127) {
        eprintln!("SKIPPED: the unprivileged user cannot run the binary: {stderr}");
        return;
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("dantesync gm-sim: the Delay_Req listener: cannot bind 0.0.0.0:319: "),
        "{stderr}"
    );
    assert!(stderr.contains("run as root"), "{stderr}");
    assert!(stderr.contains("--event-port"), "{stderr}");
    assert_eq!(stdout, "");
}
