//! Which interfaces the PTP group is joined on, and the choice of the one PTP arrives on.
//!
//! A receiver must name the interface it joins a multicast group on (by address): on
//! INADDR_ANY the kernel picks by its routing table, and a Dante PC often has its default route
//! on another network, or no multicast route at all (ENODEV).
//!
//! - Named (`--interface` / `interface`, a name or an IPv4 address): only that interface is
//!   joined, whatever arrives elsewhere.
//! - Automatic: the group is joined on every candidate — up, with IPv4, neither loopback,
//!   virtual (docker, virbr, veth, br-, vnet, tap, tun) nor Wi-Fi, since Dante is wired; Wi-Fi
//!   and virtual interfaces are candidates only when nothing else exists, loopback only when
//!   nothing at all does. Each datagram's arrival interface comes with it (IP_PKTINFO); the
//!   first interface that carries [`CHOOSE_AFTER_SYNCS`] PTPv1 Syncs by multicast is the
//!   choice, and the other memberships are left. Syncs received before the choice are real
//!   Syncs and are used as they come.
//! - Silence: with no Sync for [`SILENCE`], the memberships are dropped and joined again (fresh
//!   IGMP reports for a switch that forgot this port), with a growing pause between attempts;
//!   an automatic choice is then undone and every candidate listened to again, so a leader
//!   that moved to another network is found. Each of these is said once, not every attempt.
//!
//! [`Selector`] is the decision, pure and driven by the caller's clock; `ptp` executes it.
#![cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "the interface list and arrival interfaces are Linux-only"
    )
)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Syncs by multicast on one interface before it is chosen: more than one, so a stray
/// datagram does not decide; few, so the choice takes under a second at Dante's 4 Syncs/s.
pub const CHOOSE_AFTER_SYNCS: u32 = 3;
/// No Sync for this long: re-join, and undo an automatic choice.
pub const SILENCE: Duration = Duration::from_secs(10);
/// Longest pause between re-joins while nothing arrives.
pub const REJOIN_MAX: Duration = Duration::from_secs(160);

/// An interface to join on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub addr: Ipv4Addr,
    /// The kernel's interface index; 0 where the system does not say.
    pub index: u32,
}

/// Name prefixes of virtual interfaces that never carry Dante.
const VIRTUAL_PREFIXES: [&str; 7] = ["docker", "virbr", "veth", "br-", "vnet", "tap", "tun"];
/// Name prefixes of Wi-Fi devices: systemd's `wl*`, Atheros' `ath*`, Ralink's `ra*`.
const WIFI_PREFIXES: [&str; 3] = ["wl", "ath", "ra"];

/// Whether an interface name looks virtual.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether an interface is Wi-Fi: by its name, or the kernel lists a `wireless` or `phy80211`
/// entry for it.
pub fn is_wifi(name: &str) -> bool {
    let sys = std::path::Path::new("/sys/class/net").join(name);
    WIFI_PREFIXES.iter().any(|p| name.starts_with(p))
        || sys.join("wireless").exists()
        || sys.join("phy80211").exists()
}

/// An interface as the system lists it, in the form the choice decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub addr: Ipv4Addr,
    pub index: u32,
    pub loopback: bool,
    pub up: bool,
    pub wifi: bool,
}

impl Candidate {
    fn target(&self) -> Target {
        Target {
            name: self.name.clone(),
            addr: self.addr,
            index: self.index,
        }
    }
}

/// The named interface, by name or by one of its IPv4 addresses.
pub fn find_named(want: &str, all: &[Candidate]) -> Result<Target, String> {
    let by_addr = want.parse::<Ipv4Addr>().ok();
    all.iter()
        .find(|c| c.name == want || Some(c.addr) == by_addr)
        .map(Candidate::target)
        .ok_or_else(|| format!("interface {want} does not exist or has no IPv4 address"))
}

/// The interfaces an automatic choice listens on: the wired ones; else Wi-Fi and virtual
/// ones; else loopback. Each interface once (its first IPv4 address).
pub fn candidates(all: &[Candidate]) -> Result<Vec<Target>, String> {
    let tiers: [&dyn Fn(&Candidate) -> bool; 3] = [
        &|c| !c.loopback && !c.wifi && !is_virtual(&c.name),
        &|c| !c.loopback,
        &|c| c.loopback,
    ];
    for tier in tiers {
        let mut out: Vec<Target> = Vec::new();
        for c in all.iter().filter(|c| c.up && tier(c)) {
            if !out.iter().any(|t| t.name == c.name) {
                out.push(c.target());
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
    }
    Err(
        "no interface that is up with an IPv4 address to join the PTP group on \
         (set \"interface\")"
            .to_owned(),
    )
}

/// What the sockets should be members on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub targets: Vec<Target>,
    /// Why, for the log: "as configured", "PTP arrives here", "listening on every candidate".
    pub why: &'static str,
}

/// Where the automatic choice stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Listening on every candidate; Syncs counted by arrival interface index.
    Searching(HashMap<u32, u32>),
    Chosen(Target),
}

/// The choice of interface and the silence watch. Time is the caller's `now`.
#[derive(Debug)]
pub struct Selector {
    named: Option<String>,
    phase: Phase,
    /// The candidates of the last plan made while searching.
    searched: Vec<Target>,
    /// The last Sync (any path), or the start / the last re-join.
    heard: Instant,
    quiet: bool,
    rejoins: u32,
    next_rejoin: Instant,
    /// Bumped each time every membership must be dropped and made again.
    rejoin_epoch: u64,
    /// Bumped each time the plan changes without a re-join (a choice made).
    plan_epoch: u64,
}

impl Selector {
    pub fn new(named: Option<String>, now: Instant) -> Self {
        Self {
            named,
            phase: Phase::Searching(HashMap::new()),
            searched: Vec::new(),
            heard: now,
            quiet: false,
            rejoins: 0,
            next_rejoin: now + SILENCE,
            rejoin_epoch: 0,
            plan_epoch: 0,
        }
    }

    /// A value that changes whenever the sockets must look at the plan again.
    pub fn epoch(&self) -> (u64, u64) {
        (self.rejoin_epoch, self.plan_epoch)
    }

    pub fn rejoin_epoch(&self) -> u64 {
        self.rejoin_epoch
    }

    /// The chosen interface, when an automatic choice was made.
    pub fn chosen(&self) -> Option<&Target> {
        match &self.phase {
            Phase::Chosen(t) => Some(t),
            Phase::Searching(_) => None,
        }
    }

    /// The memberships wanted now, given the interfaces as listed (`None`: this system cannot
    /// list them, so only an address names one and the system's default is used otherwise).
    pub fn plan(&mut self, listed: Option<&[Candidate]>) -> Result<Plan, String> {
        let Some(all) = listed else {
            return unlisted(self.named.as_deref());
        };
        if let Some(want) = &self.named {
            return find_named(want, all).map(|t| Plan {
                targets: vec![t],
                why: "as configured",
            });
        }
        match &self.phase {
            Phase::Chosen(t) => {
                // The chosen interface as it is now (its address may have changed).
                let now = all
                    .iter()
                    .find(|c| c.name == t.name && c.up)
                    .ok_or_else(|| {
                        format!("interface {}, where PTP arrived, is gone or down", t.name)
                    })?;
                Ok(Plan {
                    targets: vec![now.target()],
                    why: "PTP arrives here",
                })
            }
            Phase::Searching(_) => {
                let targets = candidates(all)?;
                self.searched.clone_from(&targets);
                Ok(Plan {
                    targets,
                    why: "listening on every candidate until PTP arrives on one",
                })
            }
        }
    }

    /// A PTPv1 Sync arrived; `multicast_on` is the arrival interface's index when it came to
    /// the group. Returns the message to log when this Sync made the choice or ended a
    /// silence.
    pub fn note_sync(&mut self, multicast_on: Option<u32>, now: Instant) -> Option<String> {
        self.heard = now;
        self.rejoins = 0;
        self.next_rejoin = now + SILENCE;
        let mut said = None;
        if self.quiet {
            self.quiet = false;
            if self.named.is_some() || matches!(self.phase, Phase::Chosen(_)) {
                said = Some("PTP Syncs arrive again".to_owned());
            }
        }
        if self.named.is_some() {
            return said;
        }
        let (Phase::Searching(counts), Some(index)) = (&mut self.phase, multicast_on) else {
            return said;
        };
        let Some(target) = self.searched.iter().find(|t| t.index == index) else {
            return said;
        };
        let n = counts.entry(index).or_insert(0);
        *n += 1;
        if *n < CHOOSE_AFTER_SYNCS {
            return said;
        }
        let names: Vec<&str> = self.searched.iter().map(|t| t.name.as_str()).collect();
        let message = format!(
            "PTP arrives on {} (chosen from {}); the other memberships are left \
             (set \"interface\" to name one instead)",
            target.name,
            names.join(", ")
        );
        self.phase = Phase::Chosen(target.clone());
        self.plan_epoch += 1;
        Some(message)
    }

    /// Called about once a second: after [`SILENCE`] without a Sync, asks for a re-join (and
    /// undoes an automatic choice), then again after growing pauses. Returns the message to
    /// log: only for the first re-join of a silence.
    pub fn tick(&mut self, now: Instant) -> Option<String> {
        if now < self.next_rejoin {
            return None;
        }
        self.rejoins = self.rejoins.saturating_add(1);
        let pause = SILENCE
            .saturating_mul(1u32 << self.rejoins.min(5))
            .min(REJOIN_MAX);
        self.next_rejoin = now + pause;
        self.rejoin_epoch += 1;
        let undone = match std::mem::replace(&mut self.phase, Phase::Searching(HashMap::new())) {
            Phase::Chosen(t) if self.named.is_none() => Some(t),
            Phase::Chosen(t) => {
                self.phase = Phase::Chosen(t);
                None
            }
            Phase::Searching(_) => None,
        };
        if self.quiet {
            return None;
        }
        self.quiet = true;
        let silent_s = now.saturating_duration_since(self.heard).as_secs();
        Some(match undone {
            Some(t) => format!(
                "no PTP Sync for {silent_s} s: leaving {} and listening on every candidate \
                 interface again; re-joining quietly with a growing pause",
                t.name
            ),
            None => format!(
                "no PTP Sync for {silent_s} s: re-joining the PTP group, then again quietly \
                 with a growing pause"
            ),
        })
    }
}

/// Where interfaces cannot be listed: an address names one; without one the system's default
/// is used (Windows accepts a join on INADDR_ANY and picks its best interface).
fn unlisted(named: Option<&str>) -> Result<Plan, String> {
    match named {
        Some(want) => want
            .parse::<Ipv4Addr>()
            .map(|addr| Plan {
                targets: vec![Target {
                    name: want.to_owned(),
                    addr,
                    index: 0,
                }],
                why: "as configured",
            })
            .map_err(|_| {
                format!("interface {want}: on this system give the interface's IPv4 address")
            }),
        None => Ok(Plan {
            targets: vec![Target {
                name: "the system's default interface".to_owned(),
                addr: Ipv4Addr::UNSPECIFIED,
                index: 0,
            }],
            why: "chosen by the system",
        }),
    }
}

/// The interfaces as the system lists them now.
#[cfg(target_os = "linux")]
pub fn list() -> Result<Option<Vec<Candidate>>, String> {
    let all = super::sys::interfaces().map_err(|e| format!("cannot list interfaces: {e}"))?;
    Ok(Some(
        all.into_iter()
            .map(|i| Candidate {
                wifi: is_wifi(&i.name),
                index: super::sys::interface_index(&i.name).unwrap_or(0),
                name: i.name,
                addr: i.addr,
                loopback: i.loopback,
                up: i.up,
            })
            .collect(),
    ))
}

/// Elsewhere the interfaces are not listed (see [`Selector::plan`]).
#[cfg(not(target_os = "linux"))]
pub fn list() -> Result<Option<Vec<Candidate>>, String> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, index: u32, addr: [u8; 4], loopback: bool, wifi: bool) -> Candidate {
        Candidate {
            name: name.into(),
            addr: Ipv4Addr::from(addr),
            index,
            loopback,
            up: true,
            wifi,
        }
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.targets.iter().map(|t| t.name.as_str()).collect()
    }

    fn host() -> Vec<Candidate> {
        vec![
            cand("lo", 1, [127, 0, 0, 1], true, false),
            cand("docker0", 2, [172, 17, 0, 1], false, false),
            cand("br-1a2b", 3, [172, 18, 0, 1], false, false),
            cand("veth9", 4, [169, 254, 1, 1], false, false),
            cand("wlp2s0", 5, [192, 168, 1, 20], false, true),
            cand("enp3s0", 6, [10, 77, 9, 184], false, false),
            cand("enp4s0", 7, [10, 78, 0, 2], false, false),
            cand("tap0", 8, [10, 9, 0, 1], false, false),
        ]
    }

    #[test]
    fn automatic_listens_on_wired_interfaces_only() {
        let mut s = Selector::new(None, Instant::now());
        let p = s.plan(Some(&host())).unwrap();
        assert_eq!(names(&p), ["enp3s0", "enp4s0"]);
        assert_eq!(p.targets[0].addr, Ipv4Addr::new(10, 77, 9, 184));
    }

    #[test]
    fn wifi_and_virtual_only_when_nothing_else_then_loopback() {
        let all: Vec<_> = host()
            .into_iter()
            .filter(|c| !c.name.starts_with("enp"))
            .collect();
        assert_eq!(
            names(
                &Selector::new(None, Instant::now())
                    .plan(Some(&all))
                    .unwrap()
            ),
            ["docker0", "br-1a2b", "veth9", "wlp2s0", "tap0"]
        );
        let lo = [cand("lo", 1, [127, 0, 0, 1], true, false)];
        assert_eq!(
            names(&Selector::new(None, Instant::now()).plan(Some(&lo)).unwrap()),
            ["lo"]
        );
        let e = Selector::new(None, Instant::now())
            .plan(Some(&[]))
            .unwrap_err();
        assert!(e.contains("set \"interface\""), "{e}");
    }

    #[test]
    fn wifi_is_known_by_its_name() {
        assert!(is_wifi("wlan0") && is_wifi("ath0") && is_wifi("ra0"));
        assert!(!is_wifi("eth0") && !is_wifi("enp3s0"));
        assert!(is_virtual("tap3") && is_virtual("vnet0") && !is_virtual("eth1"));
    }

    #[test]
    fn a_named_interface_is_found_by_name_or_address_and_never_replaced() {
        let all = [
            cand("eth0", 2, [10, 0, 0, 2], false, false),
            cand("eth1", 3, [10, 1, 0, 2], false, false),
        ];
        let mut s = Selector::new(Some("eth1".into()), Instant::now());
        let p = s.plan(Some(&all)).unwrap();
        assert_eq!(p.targets[0].addr, Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(p.why, "as configured");
        // Syncs on eth0 do not move a named interface.
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(s.note_sync(Some(2), t), None);
        }
        assert_eq!(names(&s.plan(Some(&all)).unwrap()), ["eth1"]);
        let mut by_addr = Selector::new(Some("10.0.0.2".into()), t);
        assert_eq!(names(&by_addr.plan(Some(&all)).unwrap()), ["eth0"]);
        let e = Selector::new(Some("eth7".into()), t)
            .plan(Some(&all))
            .unwrap_err();
        assert_eq!(e, "interface eth7 does not exist or has no IPv4 address");
    }

    #[test]
    fn three_multicast_syncs_on_one_interface_choose_it() {
        let all = [
            cand("eth0", 2, [10, 201, 0, 2], false, false),
            cand("eth1", 3, [10, 202, 0, 2], false, false),
        ];
        let t0 = Instant::now();
        let mut s = Selector::new(None, t0);
        assert_eq!(names(&s.plan(Some(&all)).unwrap()), ["eth0", "eth1"]);
        let before = s.epoch();
        // Unicast Syncs (no group arrival) and Syncs on unknown interfaces do not count.
        assert_eq!(s.note_sync(None, t0), None);
        assert_eq!(s.note_sync(Some(99), t0), None);
        assert_eq!(s.note_sync(Some(2), t0), None);
        assert_eq!(s.note_sync(Some(3), t0), None);
        assert_eq!(s.note_sync(Some(3), t0), None);
        assert_eq!(s.epoch(), before);
        let said = s.note_sync(Some(3), t0).unwrap();
        assert!(
            said.starts_with("PTP arrives on eth1 (chosen from eth0, eth1)"),
            "{said}"
        );
        assert_ne!(s.epoch(), before);
        assert_eq!(s.chosen().unwrap().name, "eth1");
        let p = s.plan(Some(&all)).unwrap();
        assert_eq!(names(&p), ["eth1"]);
        assert_eq!(p.targets[0].addr, Ipv4Addr::new(10, 202, 0, 2));
        // Said once: further Syncs say nothing.
        assert_eq!(s.note_sync(Some(3), t0), None);
    }

    #[test]
    fn silence_undoes_the_choice_once_and_rejoins_with_a_growing_pause() {
        let all = [
            cand("eth0", 2, [10, 201, 0, 2], false, false),
            cand("eth1", 3, [10, 202, 0, 2], false, false),
        ];
        let t0 = Instant::now();
        let mut s = Selector::new(None, t0);
        s.plan(Some(&all)).unwrap();
        for _ in 0..3 {
            s.note_sync(Some(3), t0);
        }
        assert!(s.chosen().is_some());
        let epoch = s.rejoin_epoch();
        assert_eq!(s.tick(t0 + Duration::from_secs(9)), None);
        let said = s.tick(t0 + SILENCE).unwrap();
        assert!(said.contains("leaving eth1"), "{said}");
        assert_eq!(s.rejoin_epoch(), epoch + 1);
        assert!(s.chosen().is_none());
        assert_eq!(names(&s.plan(Some(&all)).unwrap()), ["eth0", "eth1"]);
        // Re-joins after 20 s, then 40 s more..., never said again, never faster.
        let mut at = t0 + SILENCE;
        let mut rejoin_times = Vec::new();
        for _ in 0..400 {
            at += Duration::from_secs(1);
            assert_eq!(s.tick(at), None);
            if s.rejoin_epoch() != epoch + 1 + rejoin_times.len() as u64 {
                rejoin_times.push((at - t0).as_secs());
            }
        }
        assert_eq!(rejoin_times, [30, 70, 150, 310]);
        // The leader comes back on eth0: said once, chosen there.
        for _ in 0..2 {
            let said = s.note_sync(Some(2), at);
            assert_eq!(said, None);
        }
        let said = s.note_sync(Some(2), at).unwrap();
        assert!(said.starts_with("PTP arrives on eth0"), "{said}");
    }

    #[test]
    fn a_named_interface_rejoins_on_silence_and_says_when_ptp_returns() {
        let all = [cand("eth1", 3, [10, 1, 0, 2], false, false)];
        let t0 = Instant::now();
        let mut s = Selector::new(Some("eth1".into()), t0);
        s.plan(Some(&all)).unwrap();
        let said = s.tick(t0 + SILENCE).unwrap();
        assert!(
            said.starts_with("no PTP Sync for 10 s: re-joining"),
            "{said}"
        );
        assert_eq!(s.tick(t0 + SILENCE * 3), None);
        assert_eq!(
            s.note_sync(Some(3), t0 + SILENCE * 4).as_deref(),
            Some("PTP Syncs arrive again")
        );
        assert_eq!(s.note_sync(Some(3), t0 + SILENCE * 4), None);
    }

    #[test]
    fn without_an_interface_list_an_address_or_the_default_is_used() {
        let t = Instant::now();
        let p = Selector::new(Some("10.0.0.5".into()), t)
            .plan(None)
            .unwrap();
        assert_eq!(p.targets[0].addr, Ipv4Addr::new(10, 0, 0, 5));
        let p = Selector::new(None, t).plan(None).unwrap();
        assert_eq!(p.targets[0].addr, Ipv4Addr::UNSPECIFIED);
        assert!(Selector::new(Some("Ethernet 2".into()), t)
            .plan(None)
            .is_err());
    }
}
