//! `dantesync demo`: the main job in one command, on any machine, without root and without
//! touching the host's clock.
//!
//! It runs, as child processes of this same binary on 127.0.0.1 and unprivileged ports:
//! - a Dante leader (`gm-sim`), sending one timescale to every node by unicast (receiving the
//!   PTP group on loopback would need root);
//! - three daemons on simulated clocks that start tens of ppm and several ms apart
//!   ([`nodes::NODES`]): A serves NTP from its own clock (`ntp_server_mode` with
//!   `local_stratum`, no upstream), B and C take their time from A.
//!
//! Each second it asks every node's query API for its state and measures each clock against
//! A's ([`probe`]), and shows a table ([`table`]) — redrawn in place on a terminal, one line
//! per second otherwise — until all nodes are locked to the leader's rate and within 1 ms of
//! each other for [`table::HOLD`], or `--duration` runs out. Exit 0 on convergence, 1 when it
//! did not converge or could not run, 130 when interrupted. Every child is killed and the
//! scratch directory removed on every way out.
//!
//! `--rate-only` leaves NTP out: the clocks then run at the leader's rate but keep the
//! milliseconds they started apart, which is what PTP alone can do for a PC. A master whose
//! NTP port never answers is an error, never a quiet fallback to rate sync.

mod nodes;
mod probe;
mod table;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use crate::gm_sim::stop;
use nodes::{free_ports, free_tcp_port, Kid, NodeSpec, NtpRole, Ports, ScratchDir, NODES};
use probe::Prober;
use table::{Frame, Hold, Role, Row};

/// How long a node may take to answer its first query.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the master's NTP port is given to answer before time sync is declared missing.
const NTP_START_TIMEOUT: Duration = Duration::from_secs(3);
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Give up after this many seconds without convergence
    #[arg(long, value_name = "S", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub duration: u64,
    /// Rate sync only: no NTP master, even if this build has one
    #[arg(long)]
    pub rate_only: bool,
}

/// How the run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Converged,
    NotConverged,
    Interrupted,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    stop::install();
    match demo(args) {
        Ok(End::Converged) => ExitCode::SUCCESS,
        Ok(End::NotConverged) => ExitCode::FAILURE,
        Ok(End::Interrupted) => {
            say("dantesync demo: interrupted; the nodes are stopped");
            ExitCode::from(130)
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "dantesync demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether time sync is part of this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeSync {
    /// A serves NTP on this port.
    Master { port: u16 },
    /// Rate only, as `--rate-only` asked.
    RateOnly,
}

fn demo(args: &DemoArgs) -> Result<End, String> {
    let started = Instant::now();
    let limit = Duration::from_secs(args.duration);
    // Dropped last: the children below are stopped before their files go.
    let dir = ScratchDir::create()?;
    let ports = free_ports(3 * NODES.len() + 1)?;
    let mut node_ports: Vec<Ports> = ports
        .chunks_exact(3)
        .map(|p| Ports {
            event: p[0],
            general: p[1],
            query: p[2],
            http: None,
        })
        .collect();
    // A, the master, shows its live status page to whoever watches the demo.
    node_ports[0].http = Some(free_tcp_port()?);
    let ntp_port = ports[3 * NODES.len()];

    say(&format!(
        "dantesync demo: a simulated Dante leader and {} nodes on 127.0.0.1, simulated clocks \
         (the host's clock is not touched); up to {} s",
        NODES.len(),
        limit.as_secs()
    ));
    let time = if args.rate_only {
        say("--rate-only: no NTP master, so nothing corrects the clocks' time; rate sync only");
        TimeSync::RateOnly
    } else {
        TimeSync::Master { port: ntp_port }
    };

    let mut kids: Vec<Kid> = Vec::new();
    kids.push(Kid::spawn(
        "leader",
        &leader_args(&node_ports, limit + Duration::from_secs(30)),
        dir.path(),
    )?);
    let mut prober = Prober::new()?;

    // A first: B and C ask its NTP server from their start.
    let a_role = match time {
        TimeSync::Master { port } => NtpRole::Master { port },
        TimeSync::RateOnly => NtpRole::None,
    };
    kids.push(start_node(&NODES[0], node_ports[0], a_role, &dir)?);
    wait_answer(&mut prober, &mut kids, node_ports[0].query)?;
    if let Some(http) = node_ports[0].http {
        say(&format!(
            "node A's live status page: http://127.0.0.1:{http}/ (while the demo runs)"
        ));
    }
    if let TimeSync::Master { port } = time {
        // A master that does not serve would leave B and C unsynchronised: no demo of the
        // main job, so an error, never a quiet fallback.
        let answer = wait_ntp(port, &mut kids)?.ok_or_else(|| {
            format!(
                "the NTP master A never answered on 127.0.0.1:{port}; its last output:\n{}",
                kids.last().map_or(String::new(), |k| k.log_tail(15))
            )
        })?;
        say(&format!(
            "NTP master A serves 127.0.0.1:{port} ({}); B and C take their time from it",
            answer.describe()
        ));
    }
    for (spec, ports) in NODES.iter().zip(&node_ports).skip(1) {
        let role = match time {
            TimeSync::Master { port } => NtpRole::Client { master_port: port },
            TimeSync::RateOnly => NtpRole::None,
        };
        kids.push(start_node(spec, *ports, role, &dir)?);
    }
    for ports in &node_ports[1..] {
        wait_answer(&mut prober, &mut kids, ports.query)?;
    }

    let roles: Vec<Role> = (0..NODES.len())
        .map(|i| match (&time, i) {
            (TimeSync::RateOnly, _) => Role::RateOnly,
            (TimeSync::Master { .. }, 0) => Role::Master,
            (TimeSync::Master { .. }, _) => Role::Client,
        })
        .collect();
    let mut screen = Screen::new();
    let mut hold = Hold::default();
    let mut next = Instant::now();
    loop {
        if stop::requested() {
            return Ok(End::Interrupted);
        }
        check_alive(&mut kids)?;
        let frame = sample(
            &mut prober,
            &node_ports,
            &roles,
            &time,
            started.elapsed(),
            limit,
        );
        screen.show(&frame);
        let converged = frame.missing().is_empty();
        if let Some(at) = hold.update(frame.elapsed, converged) {
            screen.end(&frame);
            say(&frame.verdict(Some(at)));
            return Ok(End::Converged);
        }
        if frame.elapsed >= limit {
            screen.end(&frame);
            say(&frame.verdict(None));
            return Ok(End::NotConverged);
        }
        next += TICK;
        if !sleep_until(next) {
            return Ok(End::Interrupted);
        }
    }
}

fn write_config(
    spec: &NodeSpec,
    ports: Ports,
    role: NtpRole,
    dir: &ScratchDir,
) -> Result<std::path::PathBuf, String> {
    let path = dir.path().join(format!("{}.json", spec.name));
    std::fs::write(&path, nodes::config_text(spec, ports, role, dir.path()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn start_node(
    spec: &NodeSpec,
    ports: Ports,
    role: NtpRole,
    dir: &ScratchDir,
) -> Result<Kid, String> {
    let path = write_config(spec, ports, role, dir)?;
    Kid::spawn(
        &format!("node {}", spec.name),
        &["--config".to_owned(), path_arg(&path)],
        dir.path(),
    )
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The leader: one timescale to every node's PTP ports, for at most `bound`.
fn leader_args(nodes: &[Ports], bound: Duration) -> Vec<String> {
    let dests: Vec<String> = nodes
        .iter()
        .map(|p| format!("127.0.0.1:{}:{}", p.event, p.general))
        .collect();
    [
        "gm-sim",
        "--bind",
        "127.0.0.1",
        "--delay-req-port",
        "0",
        "--dest",
        &dests.join(","),
        "--duration-s",
        &bound.as_secs().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Waits for a node's query API to answer; a child that stops meanwhile is an error.
fn wait_answer(prober: &mut Prober, kids: &mut [Kid], port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        check_alive(kids)?;
        if prober.query(port).is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline || stop::requested() {
            return Err(format!(
                "a node did not answer its query port 127.0.0.1:{port} within {} s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the master's NTP port to answer; `None` if it never does.
fn wait_ntp(port: u16, kids: &mut [Kid]) -> Result<Option<probe::NtpAnswer>, String> {
    let deadline = Instant::now() + NTP_START_TIMEOUT;
    while Instant::now() < deadline && !stop::requested() {
        check_alive(kids)?;
        if let Some(answer) = probe::ntp_probe(port) {
            return Ok(Some(answer));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(None)
}

/// An error naming the first child that has stopped, with the end of its output.
fn check_alive(kids: &mut [Kid]) -> Result<(), String> {
    for kid in kids.iter_mut() {
        if let Some(status) = kid.exited() {
            return Err(format!(
                "{} stopped ({status}); its last output:\n{}",
                kid.name,
                kid.log_tail(15)
            ));
        }
    }
    Ok(())
}

/// Every node's state and phase now.
fn sample(
    prober: &mut Prober,
    ports: &[Ports],
    roles: &[Role],
    time: &TimeSync,
    elapsed: Duration,
    limit: Duration,
) -> Frame {
    let a = ports[0].query;
    let rows = NODES
        .iter()
        .zip(ports)
        .zip(roles)
        .enumerate()
        .map(|(i, ((spec, p), role))| Row {
            spec: *spec,
            role: *role,
            reply: prober.query(p.query).map(|t| t.reply),
            phase_ns: if i == 0 {
                Some(0.0)
            } else {
                prober.phase(a, p.query)
            },
        })
        .collect();
    let master_ntp = match time {
        TimeSync::Master { port } => probe::ntp_probe(*port).map(|a| a.describe()),
        TimeSync::RateOnly => None,
    };
    Frame {
        elapsed,
        limit,
        rows,
        time_sync: matches!(time, TimeSync::Master { .. }),
        master_ntp,
    }
}

/// Sleeps until `deadline`; false if a stop was requested first.
fn sleep_until(deadline: Instant) -> bool {
    loop {
        if stop::requested() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The live view: the table redrawn in place on a terminal, a line per second otherwise.
struct Screen {
    ansi: bool,
    drawn: usize,
}

impl Screen {
    fn new() -> Screen {
        Screen {
            ansi: std::io::stdout().is_terminal(),
            drawn: 0,
        }
    }

    fn show(&mut self, frame: &Frame) {
        let mut out = std::io::stdout().lock();
        if self.ansi {
            if self.drawn > 0 {
                // Up over the last table, then clear to the end of the screen.
                let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
            }
            let lines = frame.table();
            for line in &lines {
                let _ = writeln!(out, "{line}");
            }
            self.drawn = lines.len();
        } else {
            let _ = writeln!(out, "{}", frame.line());
        }
        let _ = out.flush();
    }

    /// Before the verdict: the last table stays on a terminal; elsewhere it is printed once.
    fn end(&mut self, frame: &Frame) {
        if !self.ansi {
            for line in frame.table() {
                say(&line);
            }
        }
        self.drawn = 0;
    }
}

/// One line on stdout; a closed stdout is no reason to stop.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_reaches_every_node() {
        let ports = [
            Ports {
                event: 1001,
                general: 1002,
                query: 1003,
                http: None,
            },
            Ports {
                event: 2001,
                general: 2002,
                query: 2003,
                http: None,
            },
        ];
        let args = leader_args(&ports, Duration::from_secs(150));
        assert_eq!(
            args,
            [
                "gm-sim",
                "--bind",
                "127.0.0.1",
                "--delay-req-port",
                "0",
                "--dest",
                "127.0.0.1:1001:1002,127.0.0.1:2001:2002",
                "--duration-s",
                "150"
            ]
        );
    }
}
