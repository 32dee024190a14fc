//! A bed: the namespaces, the links, the processes (leaders, upstream NTP servers, dantesync
//! nodes) and the pollers of one scenario, built from a [`Spec`] and torn down on drop in the
//! reverse order (pollers, processes, links, namespaces).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::leader::LeaderProbe;
use crate::link::{Impairment, Link, LinkStats};
use crate::net::{Host, Net};
use crate::procs::Proc;
use crate::truth::{Poller, Sample};

/// A Dante leader (`dantesync gm-sim`), on its own host, sending to the PTPv1 group.
#[derive(Debug, Clone)]
pub struct LeaderSpec {
    pub name: String,
    pub host: u8,
    /// Its rate error against UTC, ppm: against this host's realtime clock, which the upstream
    /// NTP servers serve. (gm-sim runs on CLOCK_MONOTONIC_RAW; the bed adds the measured rate
    /// of realtime against raw, [`Bed::host_clock`].)
    pub drift_ppm: f64,
    pub uptime_s: u64,
    pub uuid: String,
    pub preferred: bool,
    /// Extra gm-sim arguments (`--stratum`...).
    pub args: Vec<String>,
    /// Started with the bed (else by the scenario, [`Bed::start_leader`]).
    pub start: bool,
    /// An address outside the bed's subnet (a foreign leader), else `10.231.<set>.<host>`.
    pub addr: Option<Ipv4Addr>,
}

impl LeaderSpec {
    pub fn new(name: &str, host: u8, drift_ppm: f64, uptime_s: u64, uuid: &str) -> LeaderSpec {
        LeaderSpec {
            name: name.into(),
            host,
            drift_ppm,
            uptime_s,
            uuid: uuid.into(),
            preferred: false,
            args: Vec::new(),
            start: true,
            addr: None,
        }
    }
}

/// What a dantesync node does for NTP.
#[derive(Debug, Clone)]
pub enum Role {
    /// Serves NTP to the clients, its time from these upstream hosts.
    Master { upstreams: Vec<String> },
    /// Takes its time from the master host.
    Client { master: String },
    /// An upstream NTP server of the master with a clock of our choosing (a falseticker): its
    /// simulated clock at stratum 8 (`local_stratum`), asking nobody.
    Server,
}

/// A dantesync node on a simulated clock.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub host: u8,
    pub drift_ppm: f64,
    pub offset_ms: f64,
    pub role: Role,
    /// Merged over the generated config (e.g. `{"ptp": {"source_allowlist": [...]}}`).
    pub extra: Value,
    /// Behind an emulated link (else its veth is on the bridge directly).
    pub emulated: bool,
    /// What its emulated link does from the start, both ways; [`Bed::set_link`] changes it
    /// later. Default: only the link's constant latency ([`crate::link::Link::latency_us`]).
    pub link: Impairment,
}

/// The whole bed.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub leaders: Vec<LeaderSpec>,
    /// `chronyd -x` upstream NTP servers: (name, host number).
    pub upstreams: Vec<(String, u8)>,
    pub nodes: Vec<NodeSpec>,
    /// Hosts with nothing started on them (a scenario uses them, e.g. to send abuse).
    pub extra_hosts: Vec<(String, u8)>,
}

impl Spec {
    /// The standard venue: leader `gm1` (in step with UTC), upstream `ntp`, master `m`
    /// and clients `c1`, `c2`, their simulated clocks milliseconds and tens of ppm apart.
    pub fn venue() -> Spec {
        Spec {
            leaders: vec![LeaderSpec::new("gm1", 1, 0.0, 699, "00:1d:c1:00:53:01")],
            upstreams: vec![("ntp".into(), 5)],
            nodes: vec![
                NodeSpec {
                    name: "m".into(),
                    host: 10,
                    drift_ppm: 20.0,
                    offset_ms: 3.0,
                    role: Role::Master {
                        upstreams: vec!["ntp".into()],
                    },
                    extra: json!({}),
                    emulated: true,
                    link: Impairment::default(),
                },
                NodeSpec {
                    name: "c1".into(),
                    host: 11,
                    drift_ppm: -25.0,
                    offset_ms: -4.0,
                    role: Role::Client { master: "m".into() },
                    extra: json!({}),
                    emulated: true,
                    link: Impairment::default(),
                },
                NodeSpec {
                    name: "c2".into(),
                    host: 12,
                    drift_ppm: 40.0,
                    offset_ms: 7.0,
                    role: Role::Client { master: "m".into() },
                    extra: json!({}),
                    emulated: true,
                    link: Impairment::default(),
                },
            ],
            extra_hosts: Vec::new(),
        }
    }

    pub fn node_mut(&mut self, name: &str) -> &mut NodeSpec {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    /// Adds an NTP server node (see [`Role::Server`]) whose clock is `offset_ms` off.
    pub fn add_server(&mut self, name: &str, host: u8, offset_ms: f64) {
        self.nodes.push(NodeSpec {
            name: name.into(),
            host,
            drift_ppm: 0.0,
            offset_ms,
            role: Role::Server,
            extra: json!({}),
            emulated: true,
            link: Impairment::default(),
        });
    }

    pub fn node(&self, name: &str) -> &NodeSpec {
        self.nodes.iter().find(|n| n.name == name).unwrap()
    }

    pub fn leader(&self, name: &str) -> &LeaderSpec {
        self.leaders.iter().find(|n| n.name == name).unwrap()
    }
}

fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// Query API port of every node (inside its own namespace).
pub const QUERY_PORT: u16 = 31900;
/// HTTP status port of every node.
pub const HTTP_PORT: u16 = 8898;

#[derive(Debug)]
pub struct Bed {
    pub spec: Spec,
    pub dir: PathBuf,
    pub bin: PathBuf,
    /// CLOCK_REALTIME against CLOCK_MONOTONIC_RAW: its rate measured at build, and a watch.
    pub host_clock: crate::hostclock::HostClock,
    pub hosts: BTreeMap<String, Host>,
    // Drop order is field order: pollers, then processes, then links, then namespaces.
    pub pollers: BTreeMap<String, Poller>,
    pub procs: BTreeMap<String, Proc>,
    /// Captures: they end by themselves, so they are not watched like `procs`.
    pub captures: Vec<Proc>,
    /// Measures every leader's timescale from the probe host.
    pub probe: LeaderProbe,
    pub links: BTreeMap<String, Link>,
    pub net: Net,
}

impl Bed {
    /// Builds the namespaces and links and starts everything `spec` says to start.
    pub fn build(spec: Spec, set: u8, bin: &Path, dir: &Path) -> Result<Bed, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Configs name files by full path (the daemon and chronyd require it).
        let dir = &dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut net = Net::new(set)?;
        let mut hosts = BTreeMap::new();
        let mut links = BTreeMap::new();
        // Leaders behind emulated links too, when nodes are: paths the same both ways (handoff.rs).
        let emulated = spec.nodes.iter().any(|n| n.emulated);
        for l in &spec.leaders {
            let addr = l.addr.unwrap_or_else(|| net.addr(l.host));
            let h = net.add_host_at(&l.name, addr, emulated)?;
            if emulated {
                links.insert(l.name.clone(), Link::for_host(&net, &l.name, &h)?);
            }
            hosts.insert(l.name.clone(), h);
        }
        for (name, n) in &spec.upstreams {
            hosts.insert(name.clone(), net.add_host(name, *n, false)?);
        }
        for (name, n) in &spec.extra_hosts {
            hosts.insert(name.clone(), net.add_host(name, *n, false)?);
        }
        let probe_host = net.add_host("probe", 250, false)?;
        let probe = LeaderProbe::start(&probe_host.ns, probe_host.addr)?;
        hosts.insert("probe".into(), probe_host);
        for n in &spec.nodes {
            let h = net.add_host(&n.name, n.host, n.emulated)?;
            if h.link_ns.is_some() {
                let link = Link::for_host(&net, &n.name, &h)?;
                link.set_both(n.link);
                links.insert(n.name.clone(), link);
            }
            hosts.insert(n.name.clone(), h);
        }
        let mut bed = Bed {
            spec,
            dir: dir.to_owned(),
            bin: bin.to_owned(),
            host_clock: crate::hostclock::HostClock::measure(),
            hosts,
            pollers: BTreeMap::new(),
            procs: BTreeMap::new(),
            captures: Vec::new(),
            probe,
            links,
            net,
        };
        for (name, _) in bed.spec.upstreams.clone() {
            bed.start_upstream(&name)?;
        }
        // chronyd needs a moment before it answers; a master asking too early backs off for
        // tens of seconds, which no scenario means to test.
        for (name, _) in bed.spec.upstreams.clone() {
            let t0 = std::time::Instant::now();
            while bed.ntp_query("probe", &name).is_none() {
                if t0.elapsed() > Duration::from_secs(15) {
                    return Err(format!(
                        "upstream {name} does not answer NTP\n{}",
                        bed.diagnose()
                    ));
                }
                crate::sys::sleep(Duration::from_millis(200))?;
            }
        }
        for l in bed.spec.leaders.clone() {
            if l.start {
                bed.start_leader(&l.name)?;
            }
        }
        // NTP servers first, so that the master's first check finds them answering.
        let mut nodes = bed.spec.nodes.clone();
        nodes.sort_by_key(|n| !matches!(n.role, Role::Server));
        for n in nodes {
            bed.start_node(&n.name)?;
        }
        Ok(bed)
    }

    /// Leader `name`'s rate against CLOCK_MONOTONIC_RAW, ppm: nodes' true rates' reference.
    pub fn leader_raw_ppm(&self, name: &str) -> f64 {
        let d = self.spec.leader(name).drift_ppm;
        ((1.0 + d * 1e-6) * (1.0 + self.host_clock.rate_ppm * 1e-6) - 1.0) * 1e6
    }

    /// Leader `name`'s UUID as bytes.
    pub fn leader_uuid(&self, name: &str) -> [u8; 6] {
        let mut u = [0u8; 6];
        for (i, b) in self
            .spec
            .leader(name)
            .uuid
            .split([':', '-'])
            .enumerate()
            .take(6)
        {
            u[i] = u8::from_str_radix(b, 16).unwrap_or(0);
        }
        u
    }

    /// Leader `name`'s rate against raw over [from, to] as the probe measured it (ppm; `None`
    /// with too few points): a check, the true rate being [`Bed::leader_raw_ppm`].
    pub fn leader_probe_ppm(&self, name: &str, from: i64, to: i64) -> Option<f64> {
        let uuid = self.leader_uuid(name);
        self.probe.rate_ppm(uuid, from, to).map(|(ppm, _)| ppm)
    }

    pub fn addr(&self, host: &str) -> Ipv4Addr {
        self.hosts[host].addr
    }

    pub fn ns(&self, host: &str) -> &str {
        &self.hosts[host].ns
    }

    /// A `chronyd -x` serving its host's clock (this machine's, never touched) at stratum 8.
    pub fn start_upstream(&mut self, name: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        // chronyd refuses a command socket in a directory others can read.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        let conf = d.join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port 123\nlocal stratum 8\nallow all\npidfile {d}/chronyd.pid\n\
                 driftfile {d}/chrony.drift\nbindcmdaddress {d}/chronyd.sock\ncmdport 0\n",
                d = d.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let args: Vec<String> = ["-x", "-d", "-u", "root", "-f"]
            .iter()
            .map(|s| s.to_string())
            .chain([conf.display().to_string()])
            .collect();
        let p = Proc::spawn(
            name,
            &self.hosts[name].ns,
            Path::new("chronyd"),
            &args,
            &self.dir.join(format!("{name}.log")),
        )?;
        self.procs.insert(name.to_owned(), p);
        Ok(())
    }

    /// Starts (or restarts) leader `name` as its spec says.
    pub fn start_leader(&mut self, name: &str) -> Result<(), String> {
        let l = self.spec.leader(name).clone();
        let mut args: Vec<String> = vec![
            "gm-sim".into(),
            "--interface".into(),
            "eth0".into(),
            "--timebase".into(),
            "raw".into(),
            "--drift-ppm".into(),
            format!("{:.4}", self.leader_raw_ppm(name)),
            "--uptime-start-s".into(),
            l.uptime_s.to_string(),
            "--uuid".into(),
            l.uuid.clone(),
        ];
        if l.preferred {
            args.push("--preferred".into());
        }
        args.extend(l.args.iter().cloned());
        let p = Proc::spawn(
            name,
            &self.hosts[name].ns,
            &self.bin,
            &args,
            &self.dir.join(format!("{name}.log")),
        )?;
        self.procs.insert(name.to_owned(), p);
        Ok(())
    }

    /// The node's config file, written to the bed's directory.
    fn node_config(&self, n: &NodeSpec) -> Result<PathBuf, String> {
        // A directory per node: the daemon's lock file sits next to its state file.
        let state_dir = self.dir.join(&n.name);
        std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
        let mut cfg = json!({
            "interface": "eth0",
            "clock": {"kind": "simulated", "drift_ppm": n.drift_ppm, "offset_ms": n.offset_ms},
            "query_api": {"enabled": true, "port": QUERY_PORT},
            "http_status": {"enabled": true, "port": HTTP_PORT},
            "state_file": state_dir.join("state.json"),
            "log": {"level": "info"},
        });
        match &n.role {
            Role::Master { upstreams } => {
                let servers: Vec<String> =
                    upstreams.iter().map(|u| self.addr(u).to_string()).collect();
                cfg["ntp_server"] = json!(servers);
                cfg["ntp_server_mode"] = json!({"enabled": true, "port": 123});
            }
            Role::Client { master } => {
                cfg["ntp_server"] = json!(self.addr(master).to_string());
            }
            Role::Server => {
                cfg["ntp_server_mode"] = json!({"enabled": true, "port": 123, "local_stratum": 8});
            }
        }
        merge(&mut cfg, &n.extra);
        let path = self.dir.join(format!("{}.json", n.name));
        std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap())
            .map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// Starts (or restarts) node `name`, and its poller.
    pub fn start_node(&mut self, name: &str) -> Result<(), String> {
        let n = self.spec.node(name).clone();
        let cfg = self.node_config(&n)?;
        let p = Proc::spawn(
            name,
            &self.hosts[name].ns,
            &self.bin,
            &["--config".into(), cfg.display().to_string()],
            &self.dir.join(format!("{name}.log")),
        )?;
        self.procs.insert(name.to_owned(), p);
        if !self.pollers.contains_key(name) {
            let poller = Poller::start(name, &self.hosts[name].ns, QUERY_PORT)?;
            self.pollers.insert(name.to_owned(), poller);
        }
        Ok(())
    }

    /// Stops process `name` (SIGTERM, as a service stop does); returns whether it exited by
    /// itself within 5 s.
    pub fn stop(&mut self, name: &str) -> bool {
        self.procs
            .remove(name)
            .is_none_or(|mut p| p.stop(Duration::from_secs(5)))
    }

    /// Every process that should run and does not: (name, its log's tail).
    pub fn crashed(&mut self) -> Vec<(String, String)> {
        self.procs
            .iter_mut()
            .filter_map(|(n, p)| (!p.running()).then(|| (n.clone(), p.tail(20))))
            .collect()
    }

    /// Node names (dantesync daemons).
    pub fn node_names(&self) -> Vec<String> {
        self.spec.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn samples(&self, node: &str) -> Vec<Sample> {
        self.pollers[node].samples()
    }

    pub fn link(&self, node: &str) -> &Link {
        &self.links[node]
    }

    pub fn set_link(&self, node: &str, up: Impairment, down: Impairment) {
        self.links[node].set(up, down);
    }

    /// The link emulator's own error over every link so far.
    pub fn link_stats(&self) -> LinkStats {
        let mut s = LinkStats::default();
        for l in self.links.values() {
            s.merge(&l.stats());
        }
        s
    }

    /// A cable pull on `node`'s host (or its return).
    pub fn set_cable(&self, node: &str, up: bool) -> Result<(), String> {
        self.net.set_cable(&self.hosts[node], up)
    }

    /// Writes every node's samples to `<dir>/<node>-truth.csv` (raw ns, clock − raw ns, mode,
    /// corrections, slew ppt, applied ppt, leader changes), for a look after the run.
    pub fn write_samples(&self) {
        for (name, p) in &self.pollers {
            let mut text = String::from(
                "raw_ns,phase_ns,mode,corrections,slew_ppt,applied_ppt,leader_changes\n",
            );
            for x in p.samples() {
                text.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    x.raw,
                    x.phase(),
                    x.mode,
                    x.corrections,
                    x.slew_ppt,
                    x.applied_ppt,
                    x.leader_changes
                ));
            }
            let _ = std::fs::write(self.dir.join(format!("{name}-truth.csv")), text);
        }
    }

    /// `GET path` from the node's HTTP status server, over its own loopback: the body.
    pub fn http_get(&self, node: &str, path: &str) -> Result<String, String> {
        use std::io::{Read, Write};
        let path = path.to_owned();
        let raw = crate::sys::in_netns(self.ns(node), move || {
            let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, HTTP_PORT))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )?;
            let mut raw = String::new();
            s.read_to_string(&mut raw)?;
            Ok(raw)
        })
        .map_err(|e| format!("{node}: HTTP: {e}"))?;
        let (head, body) = raw.split_once("\r\n\r\n").ok_or("no HTTP response")?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("{node}: {head}"));
        }
        Ok(body.to_owned())
    }

    /// One NTP client request from `from`'s namespace to `server`:123; the reply's (leap,
    /// stratum, root dispersion s), if it answers within 1 s.
    pub fn ntp_query(&self, from: &str, server: &str) -> Option<(u8, u8, f64)> {
        let to = std::net::SocketAddr::from((self.addr(server), 123));
        let local = self.addr(from);
        crate::sys::in_netns(self.ns(from), move || {
            let s = std::net::UdpSocket::bind((local, 0))?;
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            let mut req = [0u8; 48];
            req[0] = 0x23; // LI 0, version 4, mode 3 (client)
            req[40..48].copy_from_slice(&(crate::sys::realtime_ns() as u64).to_be_bytes());
            s.send_to(&req, to)?;
            let mut buf = [0u8; 512];
            let n = s.recv(&mut buf)?;
            if n < 48 || buf[24..32] != req[40..48] {
                return Err(std::io::Error::other("not our reply"));
            }
            let disp = u32::from_be_bytes(buf[8..12].try_into().unwrap());
            Ok((buf[0] >> 6, buf[1], f64::from(disp) / 65536.0))
        })
        .ok()
    }

    /// Starts a `seconds`-long tshark capture on the switch's bridge into `pcap` (its own
    /// process, stopped on drop if still running). `name` names the process.
    pub fn capture(&mut self, name: &str, pcap: &Path, seconds: u32) -> Result<(), String> {
        let _ = std::fs::File::create(pcap);
        let args: Vec<String> = vec![
            "-q".into(),
            "-i".into(),
            "br0".into(),
            "-a".into(),
            format!("duration:{seconds}"),
            "-w".into(),
            pcap.display().to_string(),
        ];
        let p = Proc::spawn(
            name,
            &self.net.switch_ns(),
            Path::new("tshark"),
            &args,
            &self.dir.join(format!("{name}.log")),
        )?;
        self.captures.push(p);
        Ok(())
    }

    /// The sum of every sample of metric `name` (all labels) on `node`'s /metrics.
    pub fn metric_sum(&self, node: &str, name: &str) -> Result<f64, String> {
        let text = self.http_get(node, "/metrics")?;
        Ok(text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// The log tails of every process, for a failure message.
    pub fn diagnose(&self) -> String {
        self.procs
            .values()
            .map(|p| format!("--- {} ({})\n{}\n", p.name, p.log.display(), p.tail(12)))
            .collect()
    }
}
