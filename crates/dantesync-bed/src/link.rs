//! The link emulator: this kernel has no netem (nor `fq` or `etf`, the qdiscs that release a
//! packet at a departure time a tc BPF program could set), so each emulated link is a
//! user-space relay of our own between the two veths of the link's namespace ([`crate::net`]).
//! Per direction it adds a fixed delay, a random jitter (uniform in 0..=jitter) and random
//! loss; the settings can change while it runs (a scenario turns trouble on and off).
//!
//! Why AF_PACKET and not NFQUEUE: it needs no iptables, no br_netfilter and no extra package,
//! it sees every frame of the link (ARP too) and it adds delay in both directions the same way.
//!
//! Timing: each frame is stamped by the kernel when it arrives (SO_TIMESTAMPNS,
//! CLOCK_REALTIME), and leaves at that stamp plus the link's own latency ([`LATENCY_US`]
//! and a per-link stagger, [`STAGGER_US`]),
//! delay and jitter. The latency is what makes the relay precise on a loaded machine: how
//! late the relay's threads wake up (tens of µs usually, a millisecond or more while builds
//! load both cores) is absorbed in it instead of being added to the frame, as a switch's
//! constant latency would be; being constant and the same both ways, it changes no rate and
//! no NTP offset. One release thread for all links (SCHED_FIFO, above the receiving
//! threads) sleeps until [`SPIN_NS`] before the next release time and then spins to it, so
//! the frame leaves within a microsecond or two of when it is due. It has a CPU to itself
//! ([`sys::RELEASE_CPU`]; every other bed thread and process is kept off it, see
//! [`sys::pin_bed_off_release_cpu`]), the bed's memory is locked and idle CPUs are asked to
//! wake at once ([`sys::low_latency_idle`]): without these, the relay's 99th percentile
//! error was 0.2 to 2.7 ms and a receiving node's PTP stamps (the kernel's, taken when the
//! relay hands the frame on) carried it. The relay measures its own error on every frame:
//! the time it hands the frame to the kernel minus the release time, i.e. what it added
//! beyond what it was asked to add. [`LinkStats`] reports it; the bed's report shows it next to every scenario's
//! figures, with the error measured from outside ([`crate::linkwatch`]).
//!
//! Frames from a veth carry a UDP checksum the sender's stack left to the "hardware"
//! (CHECKSUM_PARTIAL); the relay fills in the real checksum before passing a frame on, as the
//! NIC would have, so receivers and captures see valid packets.

use std::collections::BinaryHeap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checksum::fix_udp_checksum;
use crate::packet::{packet_socket, recv_frame, send_frame};
use crate::sys::{self, Rng};

/// Every emulated link's own one-way latency, µs: the budget for the relay's wake-ups.
pub const LATENCY_US: f64 = 2000.0;

/// On top of [`LATENCY_US`], each link has `STAGGER_US` × its slot (links take the slots
/// 0..[`STAGGER_SLOTS`] in turn as they start). Why: a Sync reaches every link's relay at
/// the same instant, and one thread sends the copies one after the other, each send carrying
/// the receiving stack's work (about 30 µs, 100 to 250 µs under load): the second and third
/// copies left a varying 30 to 240 µs late, while a frame the thread had spun for left within
/// 13 µs (99th percentile). Staggered, every copy is due on its own and spun for. A constant,
/// symmetric latency per link changes no rate and no NTP offset.
pub const STAGGER_US: f64 = 250.0;
pub const STAGGER_SLOTS: u32 = 8;

/// A frame other than a PTP event frame is held back (until just after it) when an event
/// frame is due less than this after it, ns: one send takes a few µs even with the receiving
/// stack's work steered to another CPU ([`crate::net`]), tens of µs under load, and a Sync
/// due right after another link's Follow_Up left that much late. Only event frames are
/// stamped by their receivers; a Follow_Up, a Delay_Resp or an NTP packet a few tens of µs
/// late changes no measurement (an NTP packet's own delay is measured from its stamps).
pub const HOLD_NS: i64 = 60_000;

/// How long before a frame's release time the sender stops sleeping and spins, ns: longer
/// than a SCHED_FIFO thread's wake-up latency on these VMs (a halted virtual CPU's wake-up
/// included), short enough to cost little CPU: with a Sync and a Follow_Up fanned out to
/// every link 4 times a second, about 2 % of the release thread's CPU.
pub const SPIN_NS: i64 = 1_000_000;

/// At most this much spinning per [`SPIN_PERIOD_NS`] (under a third of its CPU): under a
/// flood the release thread then sleeps to each release time instead of holding the CPU, so
/// the kernel's fair server (which stalls a real-time thread that keeps normal tasks from a
/// CPU for tens of ms) never has a reason to step in.
const SPIN_BUDGET_NS: i64 = 30_000_000;
const SPIN_PERIOD_NS: i64 = 100_000_000;

/// What one direction of a link does to frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    pub delay_us: f64,
    /// Extra delay, uniform in 0..=jitter_us.
    pub jitter_us: f64,
    /// Probability of dropping a frame, 0..1.
    pub loss: f64,
}

/// The relay's own error for one direction: the time each frame left minus the time it was
/// due (kernel arrival + delay + jitter), ns.
#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    pub frames: u64,
    pub dropped: u64,
    /// Other frames held back because a PTP event frame was due right after them.
    pub held: u64,
    errors_ns: Vec<i64>,
    /// The errors of the PTP event frames alone (Sync, Delay_Req), the ones their receivers
    /// stamp: (CLOCK_MONOTONIC_RAW when sent, error), ns.
    event_errors_ns: Vec<(i64, i64)>,
    /// The same error measured from outside ([`crate::linkwatch`]), ns.
    outside_ns: Vec<i64>,
}

impl LinkStats {
    fn record(&mut self, err_ns: i64, event: bool) {
        self.frames += 1;
        if self.errors_ns.len() < 200_000 {
            self.errors_ns.push(err_ns);
        }
        if event && self.event_errors_ns.len() < 200_000 {
            self.event_errors_ns.push((sys::raw_ns(), err_ns));
        }
    }

    pub fn merge(&mut self, o: &LinkStats) {
        self.frames += o.frames;
        self.dropped += o.dropped;
        self.held += o.held;
        self.errors_ns.extend_from_slice(&o.errors_ns);
        self.event_errors_ns.extend_from_slice(&o.event_errors_ns);
        self.outside_ns.extend_from_slice(&o.outside_ns);
    }

    /// (median, 99th percentile, max) of the added error as the relay saw it, µs; `None`
    /// without frames.
    pub fn error_us(&self) -> Option<(f64, f64, f64)> {
        quantiles_us(&self.errors_ns)
    }

    /// (frames, median, 99th percentile, max) of the PTP event frames' error, µs, over the
    /// frames sent between `from` and `to` (CLOCK_MONOTONIC_RAW ns).
    pub fn event_error_us(&self, from: i64, to: i64) -> Option<(usize, f64, f64, f64)> {
        let v = self.event_errors_between(from, to);
        quantiles_us(&v).map(|(a, b, c)| (v.len(), a, b, c))
    }

    /// The mean lateness of the PTP event frames sent between `from` and `to`, µs, and how
    /// many there were: a bias a node's path delay and phase take up, where the percentiles
    /// above show the noise.
    pub fn event_mean_us(&self, from: i64, to: i64) -> Option<(usize, f64)> {
        let v = self.event_errors_between(from, to);
        (!v.is_empty()).then(|| (v.len(), v.iter().sum::<i64>() as f64 / v.len() as f64 / 1e3))
    }

    /// The PTP event frames' errors (ns) of those sent between `from` and `to`.
    fn event_errors_between(&self, from: i64, to: i64) -> Vec<i64> {
        self.event_errors_ns
            .iter()
            .filter(|(at, _)| (from..=to).contains(at))
            .map(|&(_, e)| e)
            .collect()
    }

    /// (frames, median, 99th percentile, max) of the added error measured from outside the
    /// relay, µs; `None` without frames.
    pub fn outside_error_us(&self) -> Option<(usize, f64, f64, f64)> {
        quantiles_us(&self.outside_ns).map(|(a, b, c)| (self.outside_ns.len(), a, b, c))
    }
}

fn quantiles_us(v: &[i64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    Some((at(0.5), at(0.99), *v.last().unwrap() as f64 / 1e3))
}

/// One direction's shared state.
#[derive(Debug, Default)]
pub(crate) struct Direction {
    imp: Mutex<Impairment>,
    stats: Mutex<LinkStats>,
}

/// A running link: two relay directions ("up" = host → switch, "down" = switch → host).
/// Stopped and joined on drop.
#[derive(Debug)]
pub struct Link {
    pub name: String,
    /// This link's constant one-way latency, µs: [`LATENCY_US`] plus its stagger.
    pub latency_us: f64,
    up: Arc<Direction>,
    down: Arc<Direction>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    outside: Outside,
}

/// Reads the errors measured from outside so far.
struct Outside(crate::linkwatch::Reader);

impl std::fmt::Debug for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outside")
    }
}

/// A frame waiting for its release time (earliest first), with where it goes and whose
/// error it adds to.
struct Due {
    /// When it leaves.
    at: i64,
    /// When it was due: `at`, unless it was held back for an event frame.
    due: i64,
    /// A PTP event frame (to UDP port 319: Sync, Delay_Req), whose arrival is stamped.
    event: bool,
    frame: Vec<u8>,
    to: Arc<OwnedFd>,
    dir: Arc<Direction>,
    /// The frame's key when it goes up into the switch: its release is recorded for the
    /// relays it reaches there ([`crate::handoff`]).
    up_key: Option<u64>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.at.cmp(&self.at)
    }
}

/// The one thread that releases every link's frames, in order of their release times. One
/// thread rather than one per link direction: a multicast Sync reaches every link at once,
/// and several spinning SCHED_FIFO senders on two cores would delay one another by a varying
/// amount; one thread sends them one after the other in the same order every time. Lives as
/// long as the process.
fn releaser() -> mpsc::Sender<Due> {
    static TX: Mutex<Option<mpsc::Sender<Due>>> = Mutex::new(None);
    let mut tx = TX.lock().unwrap();
    tx.get_or_insert_with(|| {
        let (tx, rx) = mpsc::channel::<Due>();
        std::thread::spawn(move || release(&rx));
        tx
    })
    .clone()
}

fn release(rx: &mpsc::Receiver<Due>) {
    if sys::cpu_count() >= 2 && !sys::pin_to_cpus(&[sys::RELEASE_CPU]) {
        eprintln!(
            "dantesync-bed: the link emulator's release thread could not move to CPU {}: {}",
            sys::RELEASE_CPU,
            std::io::Error::last_os_error()
        );
    }
    sys::tight_timer_slack();
    sys::realtime_priority(60);
    let mut heap = BinaryHeap::new();
    // Spinning time in the present budget period: (period start, ns spent).
    let mut spent = (0i64, 0i64);
    loop {
        let now = sys::realtime_ns();
        if now - spent.0 >= SPIN_PERIOD_NS {
            spent = (now, 0);
        }
        // Sleep (taking in new frames) until SPIN_NS before the first release time, or until
        // the release time itself once the spin budget is spent (a flood).
        let spin = if spent.1 < SPIN_BUDGET_NS { SPIN_NS } else { 0 };
        let wait = match heap.peek() {
            Some(Due { at, .. }) => (at - spin - now).max(0),
            None => 200_000_000,
        };
        if wait > 0 {
            match rx.recv_timeout(Duration::from_nanos(wait as u64)) {
                Ok(d) => heap.push(d),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            continue;
        }
        // Less than SPIN_NS to go: frames arriving now are due at least LATENCY_US later,
        // so nothing can overtake this one.
        let Some(Due {
            at,
            due,
            event,
            mut frame,
            to,
            dir,
            up_key,
        }) = heap.pop()
        else {
            continue;
        };
        if let Some(next) = heap
            .peek()
            .filter(|n| n.event && !event && n.at - at < HOLD_NS)
        {
            // An event frame is due before this one's send would be over: this one waits
            // until just after it (every frame due that soon is in the heap already).
            let at = next.at + 1;
            dir.stats.lock().unwrap().held += 1;
            heap.push(Due {
                at,
                due,
                event,
                frame,
                to,
                dir,
                up_key,
            });
            continue;
        }
        fix_udp_checksum(&mut frame);
        let mut now = sys::realtime_ns();
        let spin_from = now;
        while now < at {
            std::hint::spin_loop();
            now = sys::realtime_ns();
        }
        spent.1 += now - spin_from;
        if let Some(key) = up_key {
            crate::handoff::record(key, now);
        }
        send_frame(&to, &frame);
        dir.stats.lock().unwrap().record(now - due, event);
    }
}

/// Whether `f` is an IPv4 UDP datagram to port 319, PTP's event port (Sync, Delay_Req).
fn is_ptp_event(f: &[u8]) -> bool {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] || f[14 + 9] != 17 {
        return false;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    f.get(14 + ihl + 2..14 + ihl + 4) == Some(&319u16.to_be_bytes()[..])
}

/// Receives on `from`, impairs, and hands frames to the release thread, which writes them to
/// `to`. `up`: from the host into the switch. A frame coming down from the switch that
/// another relay released there starts its delay at that release ([`crate::handoff`]).
fn relay(
    from: Arc<OwnedFd>,
    to: Arc<OwnedFd>,
    dir: Arc<Direction>,
    stop: Arc<AtomicBool>,
    seed: u64,
    latency_us: f64,
    up: bool,
) -> Vec<JoinHandle<()>> {
    let tx = releaser();
    let receiver = std::thread::spawn(move || {
        sys::realtime_priority(50);
        let mut rng = Rng::new(seed);
        let mut buf = vec![0u8; 65_600];
        while !stop.load(Ordering::Relaxed) {
            let Some((n, stamp, outgoing)) = recv_frame(&from, &mut buf) else {
                continue;
            };
            if outgoing {
                continue;
            }
            let imp = *dir.imp.lock().unwrap();
            if imp.loss > 0.0 && rng.unit() < imp.loss {
                dir.stats.lock().unwrap().dropped += 1;
                continue;
            }
            let add_us = latency_us + imp.delay_us + imp.jitter_us * rng.unit();
            let key = crate::linkwatch::frame_key(&buf[..n]);
            let start = match key {
                Some(k) if !up => crate::handoff::released_at(k, stamp).unwrap_or(stamp),
                _ => stamp,
            };
            let due = start + (add_us * 1e3) as i64;
            let event = is_ptp_event(&buf[..n]);
            let frame = buf[..n].to_vec();
            let (to, dir) = (to.clone(), dir.clone());
            if tx
                .send(Due {
                    at: due,
                    due,
                    event,
                    frame,
                    to,
                    dir,
                    up_key: key.filter(|_| up),
                })
                .is_err()
            {
                return;
            }
        }
    });
    vec![receiver]
}

impl Link {
    /// Starts relaying between `n` (host side) and `s` (switch side) in namespace `ns`, and
    /// watching the link from outside: the host's `eth0` in `host_ns` and its switch port
    /// `port` in `switch_ns`.
    pub fn start(
        name: &str,
        ns: &str,
        host_ns: &str,
        switch_ns: &str,
        port: &str,
    ) -> Result<Link, String> {
        let (host_side, switch_side) = sys::in_netns(ns, || {
            Ok((packet_socket("n", false)?, packet_socket("s", false)?))
        })
        .map_err(|e| format!("link {name}: packet sockets in {ns}: {e}"))?;
        let (host_side, switch_side) = (Arc::new(host_side), Arc::new(switch_side));
        let up = Arc::new(Direction::default());
        let down = Arc::new(Direction::default());
        let stop = Arc::new(AtomicBool::new(false));
        let seed = sys::raw_ns() as u64;
        static NEXT_SLOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % STAGGER_SLOTS;
        let latency_us = LATENCY_US + STAGGER_US * f64::from(slot);
        let mut threads = relay(
            host_side.clone(),
            switch_side.clone(),
            up.clone(),
            stop.clone(),
            seed,
            latency_us,
            true,
        );
        threads.extend(relay(
            switch_side,
            host_side,
            down.clone(),
            stop.clone(),
            seed ^ 0x5555,
            latency_us,
            false,
        ));
        let (u, d) = (up.clone(), down.clone());
        let imp = Arc::new(move |is_up: bool| *if is_up { &u } else { &d }.imp.lock().unwrap());
        let (watchers, read) = crate::linkwatch::start(
            name,
            host_ns,
            switch_ns,
            port,
            imp,
            latency_us,
            stop.clone(),
        )?;
        threads.extend(watchers);
        Ok(Link {
            name: name.to_owned(),
            latency_us,
            up,
            down,
            stop,
            threads,
            outside: Outside(read),
        })
    }

    /// The link of host `name`, added to `net` with an emulated link: between its namespace
    /// and the switch.
    pub fn for_host(
        net: &crate::net::Net,
        name: &str,
        h: &crate::net::Host,
    ) -> Result<Link, String> {
        let l = h
            .link_ns
            .as_ref()
            .ok_or_else(|| format!("{name} has no emulated link"))?;
        Link::start(name, l, &h.ns, &net.switch_ns(), &format!("p-{name}"))
    }

    /// Sets both directions' impairment.
    pub fn set(&self, up: Impairment, down: Impairment) {
        *self.up.imp.lock().unwrap() = up;
        *self.down.imp.lock().unwrap() = down;
    }

    /// Both directions alike.
    pub fn set_both(&self, imp: Impairment) {
        self.set(imp, imp);
    }

    /// The relay's own error so far over both directions, and its loss counts (up, down).
    pub fn stats(&self) -> LinkStats {
        let mut s = self.up.stats.lock().unwrap().clone();
        s.merge(&self.down.stats.lock().unwrap());
        s.outside_ns = (self.outside.0)();
        s
    }

    /// What each direction is set to add now (up, down).
    pub fn impairment(&self) -> (Impairment, Impairment) {
        (*self.up.imp.lock().unwrap(), *self.down.imp.lock().unwrap())
    }

    /// The relay's own error per direction so far (up, down), without the outside figures.
    pub fn direction_stats(&self) -> (LinkStats, LinkStats) {
        (
            self.up.stats.lock().unwrap().clone(),
            self.down.stats.lock().unwrap().clone(),
        )
    }

    /// The mean one-way time this link is set to add in each direction (up, down), µs:
    /// its latency, delay and half its jitter (uniform from 0).
    pub fn set_mean_us(&self) -> (f64, f64) {
        let (up, down) = self.impairment();
        let mean = |i: Impairment| self.latency_us + i.delay_us + i.jitter_us / 2.0;
        (mean(up), mean(down))
    }

    /// Frames dropped on purpose (up, down).
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.up.stats.lock().unwrap().dropped,
            self.down.stats.lock().unwrap().dropped,
        )
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
