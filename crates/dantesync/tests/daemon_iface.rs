//! The automatic interface choice on real multicast: a "node" network namespace with two
//! interfaces on two separate segments (eth0 10.201.0.2 on one bridge, eth1 10.202.0.2 on the
//! other), and `dantesync gm-sim` in a "gm" namespace on the second segment only, sending PTPv1
//! to 224.0.1.129:319/320. The daemon (simulated clock drifting +50 ppm; the host's clock is
//! never touched) has no interface configured: it must listen on both, find PTP on eth1, leave
//! the group on eth0, and lock.
//!
//! Needs root (network namespaces); CI runs as root. Only namespaces this test creates are
//! touched (their names carry the PID) and they are deleted when it ends, also on failure.
// Needs network namespaces, veth pairs and setns: Linux only.
// The Windows cross-build (clippy for x86_64-pc-windows-gnu) leaves this file out.
#![cfg(unix)]

mod support;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dantesync_core::Mode;
use support::query::compact;
use support::Proc;

/// The daemon's query API inside the node namespace.
const QUERY: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 31900);

const BIN: &str = env!("CARGO_BIN_EXE_dantesync");

/// Runs `ip` with `args`; panics with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespaces of one test bed, deleted on drop (which also removes every veth and bridge
/// in them).
struct Bed {
    sw: String,
    node: String,
    gm: String,
    dir: PathBuf,
}

impl Bed {
    fn build() -> Self {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("dantesync-iface-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bed = Bed {
            sw: format!("dsi-sw-{pid}"),
            node: format!("dsi-node-{pid}"),
            gm: format!("dsi-gm-{pid}"),
            dir,
        };
        for ns in [&bed.sw, &bed.node, &bed.gm] {
            ip(&["netns", "add", ns]);
        }
        let (sw, node, gm) = (bed.sw.as_str(), bed.node.as_str(), bed.gm.as_str());
        for br in ["br1", "br2"] {
            ip(&["-n", sw, "link", "add", br, "type", "bridge"]);
            ip(&["-n", sw, "link", "set", br, "up"]);
        }
        // Every veth is created inside the switch namespace, its peer moved straight into the
        // host namespace it belongs to: nothing ever appears in this machine's own namespace.
        for (port, br, peer_ns, peer) in [
            ("n1", "br1", node, "eth0"),
            ("n2", "br2", node, "eth1"),
            ("g2", "br2", gm, "eth0"),
        ] {
            ip(&[
                "-n", sw, "link", "add", port, "type", "veth", "peer", "name", peer, "netns",
                peer_ns,
            ]);
            ip(&["-n", sw, "link", "set", port, "master", br]);
            ip(&["-n", sw, "link", "set", port, "up"]);
        }
        for (ns, dev, addr) in [
            (node, "eth0", "10.201.0.2/24"),
            (node, "eth1", "10.202.0.2/24"),
            (gm, "eth0", "10.202.0.1/24"),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
        }
        bed
    }

    /// `program args...` inside namespace `ns`, output to `log`, killed on drop.
    fn spawn(&self, ns: &str, args: &[&str], log: &str) -> Proc {
        Proc::spawn(
            Command::new("ip")
                .args(["netns", "exec", ns, BIN])
                .args(args)
                .env("RUST_LOG", "dantesync=debug"),
            &self.dir.join(log),
        )
    }

    /// Group memberships of `dev` in the node namespace, as the kernel lists them.
    fn memberships(&self, dev: &str) -> String {
        ip_output(&["-n", &self.node, "maddr", "show", "dev", dev])
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for ns in [&self.gm, &self.node, &self.sw] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A UDP socket on 127.0.0.1 of network namespace `ns`: made by a thread that entered the
/// namespace (a thread's network namespace is its own), usable from any thread afterwards.
fn socket_in(ns: &str) -> UdpSocket {
    support::netns::udp_socket_in(ns, "127.0.0.1:0", Duration::from_millis(200))
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn chooses_the_interface_ptp_arrives_on_and_locks() {
    assert!(
        is_root(),
        "daemon_iface needs root: it builds network namespaces (run the tests as root, as CI does)"
    );
    let bed = Bed::build();
    let state = bed.dir.join("state.json");
    let config = bed.dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{
  "clock": {{"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0}},
  "ptp": {{"event_port": 319, "general_port": 320}},
  "query_api": {{"enabled": true, "port": 31900, "bind": "127.0.0.1"}},
  "http_status": {{"enabled": false}},
  "state_file": "{}"
}}
"#,
            state.display()
        ),
    )
    .unwrap();
    let daemon = bed.spawn(
        &bed.node,
        &["--config", config.to_str().unwrap(), "--skip-ntp"],
        "daemon.log",
    );
    let joined_both = wait_for(Duration::from_secs(5), || {
        daemon
            .log()
            .contains("PTP joined 224.0.1.129 on eth0 (10.201.0.2), eth1 (10.202.0.2)")
    });
    assert!(
        joined_both.is_some(),
        "the daemon did not join on both interfaces:\n{}",
        daemon.log()
    );
    assert!(bed.memberships("eth0").contains("224.0.1.129"));
    assert!(bed.memberships("eth1").contains("224.0.1.129"));

    let t0 = Instant::now();
    let gm = bed.spawn(
        &bed.gm,
        &[
            "gm-sim",
            "--dest",
            "224.0.1.129",
            "--interface",
            "10.202.0.1",
            "--event-port",
            "319",
            "--general-port",
            "320",
            "--duration-s",
            "30",
        ],
        "gm.log",
    );
    let chosen = wait_for(Duration::from_secs(10), || {
        daemon
            .log()
            .contains("PTP arrives on eth1 (chosen from eth0, eth1)")
    })
    .map(|_| t0.elapsed());
    let chosen = chosen.unwrap_or_else(|| {
        panic!(
            "no choice within 10 s:\n{}\ngm-sim:\n{}",
            daemon.log(),
            gm.log()
        )
    });
    // Both sockets leave eth0's group; eth1 keeps it.
    let left = wait_for(Duration::from_secs(3), || {
        !bed.memberships("eth0").contains("224.0.1.129")
    });
    assert!(
        left.is_some(),
        "eth0 still a member:\n{}\n{}",
        bed.memberships("eth0"),
        daemon.log()
    );
    assert!(bed.memberships("eth1").contains("224.0.1.129"));
    assert_eq!(
        daemon.log().matches("(chosen from").count(),
        1,
        "the choice is said once:\n{}",
        daemon.log()
    );

    let q = socket_in(&bed.node);
    let mut last = None;
    let locked = wait_for(Duration::from_secs(20), || {
        last = compact(&q, QUERY);
        last.as_ref()
            .is_some_and(|r| matches!(r.mode, Mode::Lock | Mode::Nano))
    })
    .map(|_| t0.elapsed());
    let locked = locked.unwrap_or_else(|| {
        panic!(
            "no LOCK within 20 s of the first Sync (last reply {last:?}):\n{}",
            daemon.log()
        )
    });
    let r = last.unwrap();
    assert_eq!(r.grandmaster_uuid, [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
    let ppm_at_lock = f64::from(r.frequency_adjustment_ppb) / 1000.0;
    // The simulated clock runs 50 ppm fast: the servo settles at about -50 ppm (at the moment
    // of LOCK it may still be a few ppm away), staying locked on PTP from eth1.
    let mut settled = None;
    let settle = wait_for(Duration::from_secs(20), || {
        settled = compact(&q, QUERY);
        settled.as_ref().is_some_and(|r| {
            matches!(r.mode, Mode::Lock | Mode::Nano)
                && (r.frequency_adjustment_ppb + 50_000).abs() < 1_000
        })
    })
    .map(|_| t0.elapsed());
    let settle = settle.unwrap_or_else(|| {
        panic!(
            "not within 1 ppm of -50 ppm 20 s after LOCK (last reply {settled:?}):\n{}",
            daemon.log()
        )
    });
    let s = settled.unwrap();
    let ppm = f64::from(s.frequency_adjustment_ppb) / 1000.0;
    eprintln!(
        "daemon_iface: joined both in {:.2} s; eth1 chosen {:.2} s after gm-sim started; \
         {} at {:.2} s ({ppm_at_lock:+.3} ppm); {} at {ppm:+.3} ppm after {:.2} s",
        joined_both.unwrap().as_secs_f64(),
        chosen.as_secs_f64(),
        r.mode,
        locked.as_secs_f64(),
        s.mode,
        settle.as_secs_f64()
    );
    drop(gm);
    drop(daemon);
}

/// `--service` belongs to Windows' service control manager; elsewhere it is refused with the
/// way to run as a service there (no root needed).
#[cfg(not(windows))]
#[test]
fn service_flag_outside_windows_exits_2_naming_the_systemd_unit() {
    let out = Command::new(BIN)
        .args(["--service", "--config", "/nonexistent/config.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "dantesync: --service is for Windows; on Linux use the systemd unit \
         packaging/systemd/dantesync.service"
    );
    assert!(out.stdout.is_empty());
}
