//! The topology: one namespace holding a bridge (the switch), one namespace per host, and for
//! each emulated link one more namespace between the host and the switch where the link
//! emulator ([`crate::link`]) relays frames.
//!
//! ```text
//!  host ns "dsb-N-c1"        link ns "dsb-N-l-c1"            switch ns "dsb-N-sw"
//!   eth0 ═══ veth ═══ n  ⇄ relay ⇄  s ═══ veth ═══ p-c1 ── br0 ── p-m ...
//! ```
//!
//! Every name starts with [`PREFIX`], so a crashed earlier run's leftovers are found and
//! removed at start ([`clean_stale`]); the [`Net`] guard removes what it created on drop, also
//! when a scenario fails or Ctrl-C unwinds it. Addresses are `10.231.<set>.<host>/24`, used
//! only inside these namespaces.

use std::net::Ipv4Addr;
use std::process::Command;

/// What every namespace of the bed is called first.
pub const PREFIX: &str = "dsb-";

/// Runs `ip ARGS`, its stderr as the error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

/// Runs a command to completion; a failure names the command and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces that exist now whose names start with `prefix`.
fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Has the frames `dev` (a veth in `ns`) receives processed on the CPUs other than the
/// link emulator's ([`crate::sys::RELEASE_CPU`]), by receive packet steering.
///
/// Why: a veth hands a frame to its peer's receive path in the sender's own context, and
/// without steering the whole receiving stack (bridge, IP, UDP, the socket's wake-up: about
/// 30 µs, more under load) runs inside the release thread's send. A frame due right after
/// another then left that much late. With jitter on the links the frames of different links
/// fall close together, and a node's Syncs came late by a varying amount that depended on how
/// its link's delays fell against the others' (per-node biases of 5 to 10 µs in
/// fleet-steady, where they were 2 µs without jitter). The receive stamp is taken when the
/// frame is queued (`net.core.netdev_tstamp_prequeue`, on by default), i.e. when the relay
/// sends it, so steering moves the work and not the stamp.
fn steer_receive_off_release_cpu(ns: &str, dev: &str) -> Result<(), String> {
    let cpus = crate::sys::cpu_count();
    if cpus < 2 {
        return Ok(());
    }
    let mask: u64 = (0..cpus.min(64))
        .filter(|&c| c != crate::sys::RELEASE_CPU)
        .fold(0, |m, c| m | 1 << c);
    // `ip netns exec` mounts the namespace's own /sys, where its devices are.
    let file = format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus");
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            &format!("echo {mask:x} > {file}"),
        ],
    )
    .map_err(|e| {
        format!("receive packet steering for {dev} in {ns} (the link emulator needs it to release frames on time): {e}")
    })
}

/// Kills every process still inside `ns` and deletes it (its veths go with it).
fn remove_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) of a process found inside the bed's own namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _ = ip(&["netns", "del", ns]);
}

/// Removes what a crashed earlier run of the bed left behind: namespaces named [`PREFIX`]...
/// and the processes in them. Returns their names.
pub fn clean_stale() -> Vec<String> {
    let stale = namespaces_with(PREFIX);
    for ns in &stale {
        remove_namespace(ns);
    }
    stale
}

/// One host on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Its network namespace.
    pub ns: String,
    pub addr: Ipv4Addr,
    /// The namespace of its emulated link, if it has one (else its veth is on the bridge).
    pub link_ns: Option<String>,
}

/// One bed's namespaces; removed on drop.
#[derive(Debug)]
pub struct Net {
    /// `dsb-<set>-`.
    pub prefix: String,
    pub set: u8,
    created: Vec<String>,
}

impl Net {
    /// The switch: a namespace with a bridge that floods multicast to every port (no IGMP
    /// snooping, so a host that has not joined yet is not a special case).
    pub fn new(set: u8) -> Result<Net, String> {
        let prefix = format!("{PREFIX}{set}-");
        for ns in namespaces_with(&prefix) {
            remove_namespace(&ns);
        }
        let mut net = Net {
            prefix,
            set,
            created: Vec::new(),
        };
        let sw = net.ns("sw")?;
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "forward_delay",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        Ok(net)
    }

    /// Creates the namespace `<prefix><name>`, loopback up, IPv6 off (no router solicitations
    /// or DAD chatter on the links).
    fn ns(&mut self, name: &str) -> Result<String, String> {
        let ns = format!("{}{name}", self.prefix);
        ip(&["netns", "add", &ns])?;
        self.created.push(ns.clone());
        run(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The switch's namespace.
    pub fn switch_ns(&self) -> String {
        format!("{}sw", self.prefix)
    }

    /// The address of host number `n` in this set.
    pub fn addr(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.set, n)
    }

    /// Adds host `name` with address `.n`: directly on the bridge, or (with `emulated`)
    /// behind a link namespace whose two veths the link emulator relays between.
    pub fn add_host(&mut self, name: &str, n: u8, emulated: bool) -> Result<Host, String> {
        self.add_host_at(name, self.addr(n), emulated)
    }

    /// Adds host `name` with address `addr`/24, which may be outside the bed's subnet (a
    /// foreign subnet on the same wire).
    pub fn add_host_at(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        emulated: bool,
    ) -> Result<Host, String> {
        let ns = self.ns(name)?;
        let sw = self.switch_ns();
        let port = format!("p-{name}");
        let link_ns = if emulated {
            let l = self.ns(&format!("l-{name}"))?;
            ip(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", "n", "netns", &l,
            ])?;
            ip(&[
                "-n", &l, "link", "add", "s", "type", "veth", "peer", "name", &port, "netns", &sw,
            ])?;
            for dev in ["n", "s"] {
                ip(&["-n", &l, "link", "set", "dev", dev, "promisc", "on", "up"])?;
            }
            // The relay sends into n and s; what comes out of their peers is received on
            // another CPU (see steer_receive_off_release_cpu).
            steer_receive_off_release_cpu(&ns, "eth0")?;
            steer_receive_off_release_cpu(&sw, &port)?;
            Some(l)
        } else {
            ip(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ])?;
            None
        };
        ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        Ok(Host {
            name: name.to_owned(),
            ns,
            addr,
            link_ns,
        })
    }

    /// A cable pull (`false`) or its return: the host's eth0 down or up.
    pub fn set_cable(&self, host: &Host, up: bool) -> Result<(), String> {
        ip(&[
            "-n",
            &host.ns,
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ])?;
        if up {
            // The multicast route goes with the link; a real PC's stays configured.
            let _ = ip(&[
                "-n",
                &host.ns,
                "route",
                "replace",
                "224.0.0.0/4",
                "dev",
                "eth0",
            ]);
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            remove_namespace(ns);
        }
    }
}
