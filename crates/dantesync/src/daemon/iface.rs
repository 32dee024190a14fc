//! Which interface the PTP group is joined on.
#![cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "the automatic choice needs the Linux interface list"
    )
)]
//!
//! A receiver must name the interface it joins a multicast group on (by address): on
//! INADDR_ANY the kernel picks by its routing table, and a Dante PC often has its default route
//! on another network, or no multicast route at all (ENODEV). An operator names it with
//! `--interface` / `interface` (a name or an IPv4 address); otherwise the first interface that is
//! up, has an IPv4 address and is neither loopback, virtual (docker, virbr, veth, br-) nor
//! Wi-Fi (Dante is wired) is taken.
//!
//! TODO: choosing by observed PTPv1 traffic (listen on every candidate, keep the one the
//! leader's Syncs arrive on) is not done; on a PC with several wired networks, name the
//! interface.

use std::net::Ipv4Addr;

/// The interface to join on, and why it was chosen (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    pub addr: Ipv4Addr,
    pub why: &'static str,
}

/// Name prefixes of virtual interfaces that never carry Dante.
const VIRTUAL_PREFIXES: [&str; 6] = ["docker", "virbr", "veth", "br-", "vnet", "tun"];

/// Whether an interface name looks virtual.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether an interface is Wi-Fi: the kernel lists a `wireless` directory for it; `wl*` is the
/// systemd naming of wireless devices.
pub fn is_wifi(name: &str) -> bool {
    name.starts_with("wl")
        || std::path::Path::new("/sys/class/net")
            .join(name)
            .join("wireless")
            .exists()
}

/// A candidate for the automatic choice, in the form [`pick`] decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub addr: Ipv4Addr,
    pub loopback: bool,
    pub up: bool,
    pub wifi: bool,
}

/// The named interface (by name or by one of its IPv4 addresses), or the automatic choice.
pub fn pick(named: Option<&str>, all: &[Candidate]) -> Result<Choice, String> {
    if let Some(want) = named {
        let by_addr = want.parse::<Ipv4Addr>().ok();
        return all
            .iter()
            .find(|c| c.name == want || Some(c.addr) == by_addr)
            .map(|c| Choice {
                name: c.name.clone(),
                addr: c.addr,
                why: " as configured",
            })
            .ok_or_else(|| format!("interface {want} does not exist or has no IPv4 address"));
    }
    all.iter()
        .find(|c| c.up && !c.loopback && !c.wifi && !is_virtual(&c.name))
        .map(|c| Choice {
            name: c.name.clone(),
            addr: c.addr,
            why: " (chosen automatically: the first wired, non-virtual interface with IPv4; \
                  set \"interface\" to choose another)",
        })
        .ok_or_else(|| {
            "no wired interface with an IPv4 address to join the PTP group on (set \"interface\")"
                .to_owned()
        })
}

/// The interface as the system lists it now.
#[cfg(target_os = "linux")]
pub fn choose(named: Option<&str>) -> Result<Choice, String> {
    let all = super::sys::interfaces().map_err(|e| format!("cannot list interfaces: {e}"))?;
    let candidates: Vec<Candidate> = all
        .into_iter()
        .map(|i| Candidate {
            wifi: is_wifi(&i.name),
            name: i.name,
            addr: i.addr,
            loopback: i.loopback,
            up: i.up,
        })
        .collect();
    pick(named, &candidates)
}

/// Elsewhere only an IPv4 address names an interface; without one the system's default is
/// used (Windows accepts a join on INADDR_ANY and picks its best interface).
#[cfg(not(target_os = "linux"))]
pub fn choose(named: Option<&str>) -> Result<Choice, String> {
    match named {
        Some(want) => want
            .parse::<Ipv4Addr>()
            .map(|addr| Choice {
                name: want.to_owned(),
                addr,
                why: " as configured",
            })
            .map_err(|_| {
                format!("interface {want}: on this system give the interface's IPv4 address")
            }),
        None => Ok(Choice {
            name: "the system's default interface".to_owned(),
            addr: Ipv4Addr::UNSPECIFIED,
            why: "",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, addr: [u8; 4], loopback: bool, wifi: bool) -> Candidate {
        Candidate {
            name: name.into(),
            addr: Ipv4Addr::from(addr),
            loopback,
            up: true,
            wifi,
        }
    }

    #[test]
    fn the_automatic_choice_skips_loopback_virtual_and_wifi() {
        let all = [
            cand("lo", [127, 0, 0, 1], true, false),
            cand("docker0", [172, 17, 0, 1], false, false),
            cand("br-1a2b", [172, 18, 0, 1], false, false),
            cand("veth9", [169, 254, 1, 1], false, false),
            cand("wlp2s0", [192, 168, 1, 20], false, true),
            cand("enp3s0", [10, 77, 9, 184], false, false),
        ];
        let c = pick(None, &all).unwrap();
        assert_eq!(c.name, "enp3s0");
        assert_eq!(c.addr, Ipv4Addr::new(10, 77, 9, 184));
    }

    #[test]
    fn a_named_interface_is_found_by_name_or_address_and_never_replaced() {
        let all = [
            cand("eth0", [10, 0, 0, 2], false, false),
            cand("eth1", [10, 1, 0, 2], false, false),
        ];
        assert_eq!(
            pick(Some("eth1"), &all).unwrap().addr,
            Ipv4Addr::new(10, 1, 0, 2)
        );
        assert_eq!(pick(Some("10.0.0.2"), &all).unwrap().name, "eth0");
        let e = pick(Some("eth7"), &all).unwrap_err();
        assert_eq!(e, "interface eth7 does not exist or has no IPv4 address");
    }

    #[test]
    fn nothing_suitable_says_how_to_fix_it() {
        let all = [cand("lo", [127, 0, 0, 1], true, false)];
        assert!(pick(None, &all).unwrap_err().contains("set \"interface\""));
    }
}
