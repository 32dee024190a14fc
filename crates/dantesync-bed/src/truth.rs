//! Truth from outside: every node is polled ten times a second with the extended query, from
//! a socket inside the node's own namespace (over its loopback, so the link emulator's loss and
//! a pulled cable never hide a node from the measurement). Each reply pairs the node's clock
//! with the host's CLOCK_MONOTONIC_RAW, read together, and every namespace shares that
//! counter: node X minus node Y at a common raw instant needs no guess about network delays,
//! and a node's true rate is the slope of (node clock − raw) over raw, compared with the
//! leader's, whose uptime `gm-sim --timebase raw --drift-ppm D` advances at (1 + D·1e-6) × raw.
//! The rest of the reply is what the node says about itself (mode, corrections, slew...).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sys;

/// Mode byte of the query reply.
pub const MODE_NAMES: [&str; 6] = ["INIT", "ACQ", "PROD", "LOCK", "NANO", "NTP-ONLY"];
pub const LOCK: u8 = 3;
pub const NANO: u8 = 4;
pub const NTP_ONLY: u8 = 5;

/// One reply.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// CLOCK_MONOTONIC_RAW ns, as the node read it with its clock.
    pub raw: i64,
    /// The node's clock, ns since the Unix epoch.
    pub clock: i64,
    pub mode: u8,
    pub gm: [u8; 6],
    /// NTP corrections so far.
    pub corrections: u64,
    /// Extra frequency of an NTP slew in progress, ppt (0: none).
    pub slew_ppt: i64,
    /// Frequency the servo applies, ppt.
    pub applied_ppt: i64,
    pub flags: u32,
    pub leader_changes: u64,
    pub ptp_received: u64,
    pub query_dropped: u64,
    /// When the last NTP check completed, node clock ns (0: never).
    pub last_check: u64,
}

impl Sample {
    /// Node clock minus raw counter, ns.
    pub fn phase(&self) -> i64 {
        self.clock - self.raw
    }

    pub fn locked(&self) -> bool {
        self.mode == LOCK || self.mode == NANO
    }
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().unwrap())
}

/// Parses a version-1 extended reply (384 bytes).
pub fn parse_reply(b: &[u8], id: u32) -> Option<Sample> {
    if b.len() < 384 || b[0..4] != *b"DSYR" || b[4..8] != id.to_be_bytes() || b[64] == 0 {
        return None;
    }
    Some(Sample {
        clock: u64_at(b, 8) as i64,
        raw: u64_at(b, 16) as i64,
        mode: b[40],
        gm: b[42..48].try_into().unwrap(),
        corrections: u64_at(b, 208),
        slew_ppt: u64_at(b, 136) as i64,
        applied_ppt: u64_at(b, 128) as i64,
        flags: u32::from_be_bytes(b[68..72].try_into().unwrap()),
        leader_changes: u64_at(b, 256),
        ptp_received: u64_at(b, 240),
        query_dropped: u64_at(b, 272),
        last_check: u64_at(b, 192),
    })
}

/// The extended request, version 1, padded to its reply's 384 bytes.
pub fn request(id: u32) -> [u8; 384] {
    let mut r = [0u8; 384];
    r[0..4].copy_from_slice(b"DSYN");
    r[4..8].copy_from_slice(&id.to_be_bytes());
    r[8] = 1;
    r
}

/// The samples of one node, in arrival order.
pub type Series = Arc<Mutex<Vec<Sample>>>;

/// Polls one node until dropped.
#[derive(Debug)]
pub struct Poller {
    pub node: String,
    pub series: Series,
    /// The pause between polls, ms.
    pause_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Polls 127.0.0.1:`port` inside namespace `ns` about ten times a second (well inside the
    /// query API's 50 per second per source).
    pub fn start(node: &str, ns: &str, port: u16) -> Result<Poller, String> {
        let sock = sys::in_netns(ns, || {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            s.set_read_timeout(Some(Duration::from_millis(150)))?;
            Ok(s)
        })
        .map_err(|e| format!("poller socket in {ns}: {e}"))?;
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let series: Series = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let pause_ms = Arc::new(AtomicU64::new(100));
        let (s2, stop2, pause2) = (series.clone(), stop.clone(), pause_ms.clone());
        let thread = std::thread::spawn(move || {
            let mut id = 1u32;
            let mut buf = [0u8; 1024];
            while !stop2.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let _ = sock.send_to(&request(id), to);
                let deadline = sys::raw_ns() + 150_000_000;
                while sys::raw_ns() < deadline {
                    match sock.recv(&mut buf) {
                        Ok(n) => {
                            if let Some(smp) = parse_reply(&buf[..n], id) {
                                s2.lock().unwrap().push(smp);
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(pause2.load(Ordering::Relaxed)));
            }
        });
        Ok(Poller {
            node: node.to_owned(),
            series,
            pause_ms,
            stop,
            thread: Some(thread),
        })
    }

    /// Polls every `ms` from now on (100 by default; 20 at the fastest stays inside the query
    /// API's 50 a second): a finer view of a moment a scenario expects.
    pub fn set_pause_ms(&self, ms: u64) {
        self.pause_ms.store(ms.max(20), Ordering::Relaxed);
    }

    /// A copy of the samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.series.lock().unwrap().clone()
    }

    /// The latest sample, if any came within the last `max_age_s`.
    pub fn latest(&self, max_age_s: f64) -> Option<Sample> {
        let s = *self.series.lock().unwrap().last()?;
        (sys::raw_ns() - s.raw < (max_age_s * 1e9) as i64).then_some(s)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The node's phase (clock − raw) at raw instant `t`, interpolated between the two samples
/// around it when they are at most 1 s apart and no NTP correction happened between them.
pub fn phase_at(s: &[Sample], t: i64) -> Option<f64> {
    let i = s.partition_point(|x| x.raw <= t);
    if i == 0 || i >= s.len() {
        return None;
    }
    let (a, b) = (&s[i - 1], &s[i]);
    if b.raw - a.raw > 1_000_000_000 || a.corrections != b.corrections {
        return None;
    }
    let f = (t - a.raw) as f64 / (b.raw - a.raw) as f64;
    Some(a.phase() as f64 + f * (b.phase() - a.phase()) as f64)
}

/// Node `a` minus node `b`, ns, at every sample of `a` in [from, to] where `b` has a value.
pub fn differences(a: &[Sample], b: &[Sample], from: i64, to: i64) -> Vec<f64> {
    a.iter()
        .filter(|x| x.raw >= from && x.raw <= to)
        .filter_map(|x| phase_at(b, x.raw).map(|pb| x.phase() as f64 - pb))
        .collect()
}

/// Least-squares slope of phase over raw, ppm, of samples `s`.
pub fn slope_ppm(s: &[Sample]) -> Option<f64> {
    if s.len() < 5 {
        return None;
    }
    let t0 = s[0].raw;
    let p0 = s[0].phase();
    let n = s.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for x in s {
        let (t, p) = ((x.raw - t0) as f64, (x.phase() - p0) as f64);
        sx += t;
        sy += p;
        sxx += t * t;
        sxy += t * p;
    }
    let d = n * sxx - sx * sx;
    (d > 0.0).then(|| (n * sxy - sx * sy) / d * 1e6)
}

/// The node's true rate against raw, ppm, over consecutive windows of `window_s` inside
/// [from, to]. NTP corrections move the time on purpose, which is not a rate error: the rate
/// is taken over the stretches between two samples in which no correction or slew touched the
/// clock (the node's reply says when one runs; the amount is not taken from it), as the sum of
/// their phase changes over the sum of their lengths. A window counts when such stretches
/// cover at least a quarter of it. Returns (window end, ppm).
pub fn rates(s: &[Sample], from: i64, to: i64, window_s: f64) -> Vec<(i64, f64)> {
    let w = (window_s * 1e9) as i64;
    let mut out = Vec::new();
    let mut start = from;
    while start + w <= to {
        let win: Vec<&Sample> = s
            .iter()
            .filter(|x| x.raw >= start && x.raw < start + w)
            .collect();
        let (mut dp, mut dt) = (0i64, 0i64);
        for p in win.windows(2) {
            let (a, b) = (p[0], p[1]);
            let clean = a.slew_ppt == 0
                && b.slew_ppt == 0
                && a.corrections == b.corrections
                && b.raw - a.raw < 1_000_000_000;
            if clean {
                dp += b.phase() - a.phase();
                dt += b.raw - a.raw;
            }
        }
        if dt >= w / 4 {
            out.push((start + w, dp as f64 / dt as f64 * 1e6));
        }
        start += w / 2;
    }
    out
}

/// Largest absolute value.
pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Root mean square.
pub fn rms(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// The first sample at or after `from` that satisfies `pred`.
pub fn first_after(s: &[Sample], from: i64, pred: impl Fn(&Sample) -> bool) -> Option<Sample> {
    s.iter().find(|x| x.raw >= from && pred(x)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node running +5 ppm against raw, polled every 100 ms for 60 s, that slews +20 ppm
    /// extra from 20 s to 30 s (an NTP correction) and is stepped 1 ms at 40 s.
    fn node() -> Vec<Sample> {
        let mut phase = 3_000_000.0_f64;
        let mut out = Vec::new();
        for i in 0..600i64 {
            let raw = 1_000_000_000_000 + i * 100_000_000;
            let slewing = (200..300).contains(&i);
            let corrections = u64::from(i >= 200) + u64::from(i >= 400);
            if i == 400 {
                phase += 1_000_000.0;
            }
            out.push(Sample {
                raw,
                clock: raw + phase as i64,
                mode: LOCK,
                gm: [0; 6],
                corrections,
                slew_ppt: if slewing { 20_000_000 } else { 0 },
                applied_ppt: 0,
                flags: 0,
                leader_changes: 0,
                ptp_received: 0,
                query_dropped: 0,
                last_check: 0,
            });
            phase += 100_000_000.0 * (5e-6 + if slewing { 20e-6 } else { 0.0 });
        }
        out
    }

    #[test]
    fn rates_see_the_clock_rate_through_slews_and_steps() {
        let s = node();
        let r = rates(&s, s[0].raw, s.last().unwrap().raw, 20.0);
        assert!(r.len() >= 4, "{r:?}");
        for (_, ppm) in &r {
            assert!((ppm - 5.0).abs() < 1e-3, "{ppm} ppm, expected 5");
        }
    }

    #[test]
    fn differences_interpolate_between_samples() {
        let a = node();
        // b: the same node 250 µs behind, sampled 50 ms later.
        let b: Vec<Sample> = a
            .iter()
            .map(|x| Sample {
                raw: x.raw + 50_000_000,
                clock: x.clock + 50_000_000 + 250,
                ..*x
            })
            .collect();
        let d = differences(&a, &b, a[10].raw, a[150].raw);
        assert!(d.len() > 100);
        // b's phase at the same raw instant is a's 50 ms earlier (5 ppm → 250 ns) plus 250 ns.
        for x in &d {
            assert!((x - 0.0).abs() < 1.0, "{x} ns");
        }
        assert_eq!(max_abs(&[-3.0, 2.0]), 3.0);
        assert!((rms(&[3.0, 4.0]) - 12.5f64.sqrt()).abs() < 1e-12);
    }
}
