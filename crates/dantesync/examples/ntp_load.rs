//! Load generator for NTP server benchmarks (scripts/ntp-bench.sh): `sockets` threads, each
//! with its own UDP socket, keep `window` mode-3 requests in flight to one server for a fixed
//! time and count the valid replies. A reply counts when it is 48 bytes, mode 4, not a
//! Kiss-o'-Death (stratum ≠ 0), and its origin timestamp is one this socket sent; a request
//! not answered within 20 ms is written off and replaced, so a server that drops under load
//! is measured at what it answers, not stalled.
//!
//! ```text
//! cargo run --release --example ntp_load -- SERVER:PORT [SECONDS] [SOCKETS] [WINDOW] [SRC_BASE]
//! ```
//! `SRC_BASE` (e.g. `127.1.0.1`) binds socket i to that address + i, so each socket is a
//! different client; without it every socket binds 127.0.0.1 (one client address).
//! Prints one line: `sent=… answered=… kod=… invalid=… seconds=… rate=…/s`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOST_AFTER: Duration = Duration::from_millis(20);

#[derive(Default, Clone, Copy)]
struct Tally {
    sent: u64,
    answered: u64,
    kod: u64,
    invalid: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ntp_load SERVER:PORT [SECONDS] [SOCKETS] [WINDOW] [SRC_BASE]";
    let server: SocketAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{usage}"));
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().unwrap_or_else(|_| panic!("{usage}")))
    };
    let seconds = arg(1, 5);
    let sockets = arg(2, 4) as usize;
    let window = arg(3, 16) as u32;
    let src_base: Option<Ipv4Addr> = args.get(4).map(|a| a.parse().expect(usage));

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..sockets)
        .map(|i| {
            let src = src_base.map_or(Ipv4Addr::LOCALHOST, |b| {
                Ipv4Addr::from(u32::from(b) + i as u32)
            });
            let stop = stop.clone();
            std::thread::spawn(move || worker(server, src, i as u16, window, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let mut total = Tally::default();
    for w in workers {
        let t = w.join().unwrap();
        total.sent += t.sent;
        total.answered += t.answered;
        total.kod += t.kod;
        total.invalid += t.invalid;
    }
    println!(
        "sent={} answered={} kod={} invalid={} seconds={:.3} rate={:.0}/s",
        total.sent,
        total.answered,
        total.kod,
        total.invalid,
        elapsed,
        total.answered as f64 / elapsed
    );
}

/// The request's transmit timestamp: this socket's tag in the top 16 bits, a sequence number
/// below. The server copies it into the reply's origin timestamp.
fn stamp(tag: u16, seq: u64) -> u64 {
    (u64::from(tag) << 48) | (seq & 0xffff_ffff_ffff)
}

fn worker(server: SocketAddr, src: Ipv4Addr, tag: u16, window: u32, stop: &AtomicBool) -> Tally {
    let sock = UdpSocket::bind((src, 0)).unwrap_or_else(|e| panic!("bind {src}: {e}"));
    sock.connect(server).unwrap();
    sock.set_read_timeout(Some(LOST_AFTER)).unwrap();
    let mut request = [0u8; 48];
    request[0] = 0x23; // LI 0, VN 4, mode 3
    let mut reply = [0u8; 64];
    let mut t = Tally::default();
    let mut next_seq: u64 = 0;
    let mut in_flight = 0;
    while !stop.load(Ordering::Relaxed) {
        while in_flight < window {
            request[40..48].copy_from_slice(&stamp(tag, next_seq).to_be_bytes());
            next_seq += 1;
            if sock.send(&request).is_ok() {
                t.sent += 1;
                in_flight += 1;
            }
        }
        match sock.recv(&mut reply) {
            Ok(n) => {
                in_flight = in_flight.saturating_sub(1);
                let origin = u64::from_be_bytes(reply[24..32].try_into().unwrap());
                let ours = origin >> 48 == u64::from(tag) && (origin & 0xffff_ffff_ffff) < next_seq;
                if n != 48 || reply[0] & 7 != 4 || !ours {
                    t.invalid += 1;
                } else if reply[1] == 0 {
                    t.kod += 1;
                } else {
                    t.answered += 1;
                }
            }
            // Nothing for 20 ms: what is in flight is lost.
            Err(_) => in_flight = 0,
        }
    }
    t
}
