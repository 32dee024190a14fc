//! The link emulator's precision measured from outside the relay: a capture socket on the
//! host's `eth0` (in the host's namespace) and one on its switch port `p-<host>` (in the
//! switch's namespace), both with kernel receive stamps (CLOCK_REALTIME, taken as the frame
//! enters or leaves the device). A frame seen on both gives its real path delay from one end
//! of the link to the other, veths and all; minus what the link was set to add (its own
//! latency and delay) it is the emulator's error, which is what a node's own receive stamp
//! sees. Frames of a direction with jitter are left out: their intended delay is random.
//!
//! A frame is recognised on both sides by a hash of its IPv4 packet without the UDP checksum
//! (which the relay fills in on the way); other frames (ARP) are not counted.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::link::Impairment;
use crate::packet::{packet_socket, recv_frame};
use crate::sys;

/// What a direction is set to add now (`true`: up).
pub(crate) type Settings = Arc<dyn Fn(bool) -> Impairment + Send + Sync>;

/// Reads the errors measured so far, ns.
pub(crate) type Reader = Box<dyn Fn() -> Vec<i64> + Send + Sync>;

/// A sighting waiting for its other side: (stamp ns, seen on the host side, outgoing there).
type Pending = HashMap<u64, (i64, bool, bool)>;

/// What the two capture threads share.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Path delay minus the set latency and delay, ns, per matched frame.
    errors_ns: Mutex<Vec<i64>>,
}

/// The frame's identity across the link, or `None` for frames that are not IPv4.
pub(crate) fn frame_key(f: &[u8]) -> Option<u64> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
    if ihl < 20 || total < ihl {
        return None;
    }
    let mut h = DefaultHasher::new();
    // Addresses, id, protocol and the payload; not the checksums (the relay writes the UDP
    // one) nor anything a bridge could touch.
    ip[4..6].hash(&mut h);
    ip[9].hash(&mut h);
    ip[12..20].hash(&mut h);
    let payload = &ip[ihl..total];
    if ip[9] == 17 && payload.len() >= 8 {
        payload[..6].hash(&mut h);
        payload[8..].hash(&mut h);
    } else {
        payload.hash(&mut h);
    }
    Some(h.finish())
}

/// Starts the two captures; they stop when `stop` is set. `imp(up)` tells what a direction
/// is set to add now. Returns the threads and a reader of the errors so far.
pub(crate) fn start(
    name: &str,
    host_ns: &str,
    switch_ns: &str,
    port: &str,
    imp: Settings,
    latency_us: f64,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<JoinHandle<()>>, Reader), String> {
    let host = sys::in_netns(host_ns, || packet_socket("eth0", true))
        .map_err(|e| format!("link {name}: capture on eth0 in {host_ns}: {e}"))?;
    let port_name = port.to_owned();
    let sw = sys::in_netns(switch_ns, move || packet_socket(&port_name, true))
        .map_err(|e| format!("link {name}: capture on {port} in {switch_ns}: {e}"))?;
    let shared = Arc::new(Shared::default());
    let threads = vec![
        spawn(
            host,
            true,
            shared.clone(),
            imp.clone(),
            latency_us,
            stop.clone(),
        ),
        spawn(sw, false, shared.clone(), imp, latency_us, stop),
    ];
    let read: Reader = Box::new(move || shared.errors_ns.lock().unwrap().clone());
    Ok((threads, read))
}

fn spawn(
    fd: OwnedFd,
    host_side: bool,
    shared: Arc<Shared>,
    imp: Settings,
    latency_us: f64,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_600];
        let mut last_sweep = 0i64;
        while !stop.load(Ordering::Relaxed) {
            let Some((n, stamp, outgoing)) = recv_frame(&fd, &mut buf) else {
                continue;
            };
            let Some(key) = frame_key(&buf[..n]) else {
                continue;
            };
            let mut pending = shared.pending.lock().unwrap();
            if stamp - last_sweep > 1_000_000_000 {
                // Frames the link dropped, or seen once only: forget them after 2 s.
                pending.retain(|_, (t, _, _)| stamp - *t < 2_000_000_000);
                last_sweep = stamp;
            }
            match pending.remove(&key) {
                Some((t, other_host_side, _)) if other_host_side != host_side => {
                    let ((t_host, out_host), t_switch) = if host_side {
                        ((stamp, outgoing), t)
                    } else {
                        ((t, !outgoing), stamp)
                    };
                    // Upward frames leave the host's eth0 and arrive at the switch port.
                    let up = out_host;
                    // A frame another relay released into the switch is due from that
                    // release, not from its crossing of the bridge (crate::handoff).
                    let (start, end) = if up {
                        (t_host, t_switch)
                    } else {
                        let released = crate::handoff::released_at(key, t_switch);
                        (released.unwrap_or(t_switch), t_host)
                    };
                    let set = imp(up);
                    if set.jitter_us == 0.0 {
                        let due = ((latency_us + set.delay_us) * 1e3) as i64;
                        let mut errors = shared.errors_ns.lock().unwrap();
                        if errors.len() < 200_000 {
                            errors.push(end - start - due);
                        }
                    }
                }
                // Not seen yet, or the same frame twice on one side: keep the newer.
                _ => {
                    pending.insert(key, (stamp, host_side, outgoing));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_same_frame_whatever_its_udp_checksum() {
        let mut f = vec![0u8; 14 + 20 + 12];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&32u16.to_be_bytes());
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[224, 0, 1, 129]);
        f[38..40].copy_from_slice(&12u16.to_be_bytes());
        f[42..46].copy_from_slice(b"sync");
        let a = frame_key(&f).unwrap();
        f[40] = 0x12; // the checksum the relay fills in
        assert_eq!(frame_key(&f), Some(a));
        f[45] = b'X'; // another payload
        assert_ne!(frame_key(&f), Some(a));
        f[12] = 0x08;
        f[13] = 0x06; // ARP
        assert_eq!(frame_key(&f), None);
    }
}
