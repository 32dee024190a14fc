//! Hostile traffic for the abuse scenario, sent from a host of the bed to the bed's own
//! addresses only: garbage, PTPv2, oversized and truncated datagrams on every UDP port a node
//! listens on (unicast and to the PTP group), and a flood of compact queries to port 31900
//! whose source addresses are forged (raw socket, IP_HDRINCL), from inside the bed's subnet
//! so that the allowlist lets them through to the rate limiter.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys::{self, Rng};

/// The ports a node listens on: PTP event and general, NTP, query API.
pub const PORTS: [u16; 4] = [319, 320, 123, 31900];

/// What was sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub malformed: u64,
    pub spoofed: u64,
}

/// One datagram of kind `k` (garbage, PTPv2, oversized, truncated PTPv1/NTP/query).
fn payload(k: u64, rng: &mut Rng) -> Vec<u8> {
    match k % 6 {
        0 => (0..1 + rng.next_u64() % 300)
            .map(|_| rng.next_u64() as u8)
            .collect(),
        1 => {
            // A PTPv2 Sync header: transportSpecific/messageType 0x00, versionPTP 2.
            let mut p = vec![0u8; 44];
            p[1] = 0x02;
            p[2..4].copy_from_slice(&44u16.to_be_bytes());
            p
        }
        2 => vec![0xa5; 1472],
        3 => {
            // The first 20 bytes of a PTPv1 Sync (versionPTP 1), cut short.
            let mut p = vec![0u8; 20];
            p[1] = 0x01;
            p[3] = 0x01;
            p
        }
        4 => vec![0x23; 20], // an NTP client header cut at 20 bytes
        _ => b"DSYN".to_vec(),
    }
}

/// Sends the malformed mix for `secs` from a UDP socket in namespace `ns`, to every target
/// and the PTP group, about 400 datagrams a second.
pub fn malformed(
    ns: &str,
    local: Ipv4Addr,
    targets: Vec<Ipv4Addr>,
    secs: f64,
) -> Result<u64, String> {
    sys::in_netns(ns, move || {
        let s = UdpSocket::bind((local, 0))?;
        s.set_multicast_ttl_v4(1)?;
        let mut rng = Rng::from_time();
        let mut dests: Vec<Ipv4Addr> = targets;
        dests.push(Ipv4Addr::new(224, 0, 1, 129));
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed().as_secs_f64() < secs && !sys::stopping() {
            for d in &dests {
                for p in PORTS {
                    let _ = s.send_to(&payload(n, &mut rng), SocketAddrV4::new(*d, p));
                    n += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(n)
    })
    .map_err(|e| format!("abuse sender: {e}"))
}

fn checksum(data: &[u8]) -> u16 {
    let mut acc: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// An IPv4/UDP datagram from `src` to `dst`:31900 carrying a compact query request.
fn spoofed_query(src: Ipv4Addr, dst: Ipv4Addr, id: u32) -> Vec<u8> {
    let mut p = vec![0u8; 20 + 8 + 8];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&36u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&40_000u16.to_be_bytes());
    p[22..24].copy_from_slice(&31900u16.to_be_bytes());
    p[24..26].copy_from_slice(&16u16.to_be_bytes());
    p[28..32].copy_from_slice(b"DSYN");
    p[32..36].copy_from_slice(&id.to_be_bytes());
    // UDP checksum 0: none (allowed over IPv4).
    p
}

/// Floods every target's port 31900 for `secs` with compact queries from forged sources
/// `subnet.<100..=250>`, about 2000 a second in all.
pub fn spoofed_flood(
    ns: &str,
    subnet: [u8; 3],
    targets: Vec<Ipv4Addr>,
    secs: f64,
) -> Result<u64, String> {
    sys::in_netns(ns, move || {
        // SAFETY: plain socket(2), owned at once.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut rng = Rng::from_time();
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed().as_secs_f64() < secs && !sys::stopping() {
            for _ in 0..20 {
                for d in &targets {
                    let src = Ipv4Addr::new(
                        subnet[0],
                        subnet[1],
                        subnet[2],
                        100 + (rng.next_u64() % 151) as u8,
                    );
                    let pkt = spoofed_query(src, *d, n as u32);
                    // SAFETY: zeroed sockaddr_in is valid; we fill family and address.
                    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                    to.sin_family = libc::AF_INET as u16;
                    to.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
                    // SAFETY: sendto of our buffer to a sockaddr_in of the right size.
                    unsafe {
                        libc::sendto(
                            fd.as_raw_fd(),
                            pkt.as_ptr() as *const libc::c_void,
                            pkt.len(),
                            0,
                            &to as *const _ as *const libc::sockaddr,
                            std::mem::size_of::<libc::sockaddr_in>() as u32,
                        )
                    };
                    n += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        Ok(n)
    })
    .map_err(|e| format!("spoofed flood: {e}"))
}
