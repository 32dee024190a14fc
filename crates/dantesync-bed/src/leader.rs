//! The leaders' timescales, measured from outside: a probe host on the bridge (no emulated
//! link) listens to every Sync and Follow_Up and pairs each Follow_Up's precise origin
//! timestamp (the leader's uptime when its Sync left) with the kernel's receive stamp of that
//! Sync, turned into CLOCK_MONOTONIC_RAW. A leader's timescale is then known against the
//! common raw counter like every node's clock: its true rate (which the nodes' rates are
//! compared with, rather than gm-sim's nominal setting), and, for the fleet timescale, a
//! node's time against `leader time + D` at any raw instant. The bridge adds a few µs of
//! constant delay between the Sync's departure and its arrival at the probe.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sys;

/// One Sync paired with its Follow_Up: (raw ns at arrival, leader time ns).
pub type Point = (i64, i64);

/// Sync arrivals waiting for their Follow_Up: (leader UUID, sequence id) → raw ns.
type PendingSyncs = Arc<Mutex<HashMap<([u8; 6], u16), i64>>>;

#[derive(Debug)]
pub struct LeaderProbe {
    points: Arc<Mutex<HashMap<[u8; 6], Vec<Point>>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC_RAW now, from the tightest of a few sandwiches.
fn real_minus_raw() -> i64 {
    (0..5)
        .map(|_| {
            let a = sys::raw_ns();
            let r = sys::realtime_ns();
            let b = sys::raw_ns();
            (b - a, r - (a + (b - a) / 2))
        })
        .min()
        .map(|(_, d)| d)
        .unwrap()
}

fn socket(port: u16, on: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
    s.join_multicast_v4(&Ipv4Addr::new(224, 0, 1, 129), &on)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let one: libc::c_int = 1;
    // SAFETY: an int option on our socket.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &one as *const _ as *const libc::c_void,
            4,
        )
    };
    Ok(s)
}

/// Receives one datagram with its kernel stamp (CLOCK_REALTIME ns).
fn recv_stamped(s: &UdpSocket, buf: &mut [u8]) -> Option<(usize, i64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut ctrl = [0u64; 16];
    // SAFETY: a zeroed msghdr is valid; we point it at buffers alive for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&ctrl);
    // SAFETY: recvmsg into our buffers.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    if n <= 0 {
        return None;
    }
    Some((n as usize, crate::sys::kernel_stamp(&msg)?))
}

/// A PTPv1 message's (control, source UUID, sequence id), if it is one.
fn header(b: &[u8]) -> Option<(u8, [u8; 6], u16)> {
    if b.len() < 40 || b[0..2] != [0, 1] {
        return None;
    }
    Some((
        b[32],
        b[22..28].try_into().unwrap(),
        u16::from_be_bytes([b[30], b[31]]),
    ))
}

impl LeaderProbe {
    /// Listens in namespace `ns`, whose eth0 has address `on`.
    pub fn start(ns: &str, on: Ipv4Addr) -> Result<LeaderProbe, String> {
        let (event, general) = sys::in_netns(ns, move || Ok((socket(319, on)?, socket(320, on)?)))
            .map_err(|e| format!("leader probe in {ns}: {e}"))?;
        let points: Arc<Mutex<HashMap<[u8; 6], Vec<Point>>>> = Arc::default();
        let syncs: PendingSyncs = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s1, st1) = (syncs.clone(), stop.clone());
        let t_event = std::thread::spawn(move || {
            sys::realtime_priority(50);
            let mut buf = [0u8; 512];
            while !st1.load(Ordering::Relaxed) {
                let Some((n, stamp)) = recv_stamped(&event, &mut buf) else {
                    continue;
                };
                if let Some((0, uuid, seq)) = header(&buf[..n]) {
                    let raw = stamp - real_minus_raw();
                    let mut m = s1.lock().unwrap();
                    if m.len() > 1000 {
                        m.clear();
                    }
                    m.insert((uuid, seq), raw);
                }
            }
        });
        let (p2, st2) = (points.clone(), stop.clone());
        let t_general = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st2.load(Ordering::Relaxed) {
                let Ok(n) = general.recv(&mut buf) else {
                    continue;
                };
                let b = &buf[..n];
                let Some((2, uuid, _)) = header(b) else {
                    continue;
                };
                if b.len() < 52 {
                    continue;
                }
                let seq = u16::from_be_bytes([b[42], b[43]]);
                let secs = i64::from(u32::from_be_bytes(b[44..48].try_into().unwrap()));
                let nanos = i64::from(i32::from_be_bytes(b[48..52].try_into().unwrap()));
                // The Follow_Up may beat the probe's own handling of its Sync by a moment.
                let mut raw = None;
                for _ in 0..20 {
                    raw = syncs.lock().unwrap().remove(&(uuid, seq));
                    if raw.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                if let Some(raw) = raw {
                    p2.lock()
                        .unwrap()
                        .entry(uuid)
                        .or_default()
                        .push((raw, secs * 1_000_000_000 + nanos));
                }
            }
        });
        Ok(LeaderProbe {
            points,
            stop,
            threads: vec![t_event, t_general],
        })
    }

    /// Every (raw, leader time) point of the leader `uuid` so far.
    pub fn points(&self, uuid: [u8; 6]) -> Vec<Point> {
        self.points
            .lock()
            .unwrap()
            .get(&uuid)
            .cloned()
            .unwrap_or_default()
    }

    /// The leader's true rate against raw, ppm, over [from, to], with the number of points
    /// used; `None` with fewer than 10. A Sync's way to the probe is sometimes late (a busy
    /// machine delays the bridge's softirq), never early: of each 2 s the least-delayed pair
    /// (smallest raw − leader) is kept, and the rate is the least-squares slope through those.
    pub fn rate_ppm(&self, uuid: [u8; 6], from: i64, to: i64) -> Option<(f64, usize)> {
        let mut best: std::collections::BTreeMap<i64, Point> = std::collections::BTreeMap::new();
        for (r, l) in self.points(uuid) {
            if r < from || r > to {
                continue;
            }
            let slot = best.entry((r - from) / 2_000_000_000).or_insert((r, l));
            if r - l < slot.0 - slot.1 {
                *slot = (r, l);
            }
        }
        let p: Vec<Point> = best.into_values().collect();
        if p.len() < 10 {
            return None;
        }
        let (r0, l0) = p[0];
        let n = p.len() as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for (r, l) in &p {
            let x = (r - r0) as f64;
            let y = ((l - l0) - (r - r0)) as f64;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let d = n * sxx - sx * sx;
        (d > 0.0).then(|| ((n * sxy - sx * sy) / d * 1e6, p.len()))
    }
}

impl Drop for LeaderProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
