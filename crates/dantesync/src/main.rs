//! The dantesync binary: parses the command line and hands over to the daemon or a tool.

mod clock_exercise;
mod config;
mod daemon;
mod demo;
mod fleet_cli;
mod gm_sim;
mod replay;
mod service;
mod status;
mod sys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Keeps the clocks of PCs on a Dante network in step: PTPv1 for rate, NTP for time.
///
/// Without a subcommand it runs the sync daemon.
#[derive(Debug, Parser)]
#[command(name = "dantesync", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The daemon's flags. Their names are a fixed interface: service definitions and the
/// earlier DanteSync's users pass them.
#[derive(Debug, Args)]
struct DaemonArgs {
    /// Configuration file [default: /etc/dantesync/config.json, or
    /// C:\ProgramData\DanteSync\config.json on Windows]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Network interface to receive PTP on (e.g. eth0 or "Ethernet 2")
    #[arg(long, value_name = "NAME")]
    interface: Option<String>,
    /// Upstream NTP server that sets the time
    #[arg(long, value_name = "HOST")]
    ntp_server: Option<String>,
    /// Discipline the rate from PTP only; never check or correct the time with NTP
    #[arg(long)]
    skip_ntp: bool,
    /// Run as a Windows service (started by the service control manager)
    #[arg(long)]
    service: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a packet capture through the sync engine and report what it measured: the leader,
    /// this host's clock rate against it, the timestamp jitter and the modes it went through.
    ///
    /// Only PTP (UDP ports 319 and 320) is replayed, with NTP off. Exits 1 when the capture
    /// cannot be read or yields no rate (no PTPv1 Sync/Follow_Up samples); the report is
    /// still printed in the second case.
    Replay(ReplayArgs),
    /// Validate configuration without running anything.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Emulate a Dante leader: two-step PTPv1 Sync + Follow_Up on an uptime timescale, as
    /// real Dante gear sends them (for tests, demos and lab benches).
    GmSim(gm_sim::GmSimArgs),
    /// Measure that frequency adjustments and steps reach the system clock with the right
    /// sign and scale. It changes the system clock: run it only on a machine you may disturb.
    ClockTest(clock_exercise::ClockTestArgs),
    /// The main job in one command, without root and without touching this host's clock: a
    /// simulated leader and three nodes on loopback (one NTP master serving the others) on
    /// simulated clocks, shown live until they converge.
    Demo(demo::DemoArgs),
    /// Show what a node is doing (like `chronyc tracking`), read from its query API: mode,
    /// leader, drift and its uncertainty, applied frequency, NTP state, uptime, timestamping,
    /// and this host's offset to it.
    ///
    /// Exit status: 0 when the node is locked (LOCK or NANO), 1 when it answered but is not
    /// locked, 3 when it did not answer (2 is a usage error).
    Status(status::StatusArgs),
    /// Install, remove or inspect the Windows service (DanteSync). On Linux: the .deb or
    /// packaging/linux/install.sh, and systemctl.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Fleet mode: the NTP master's announcement of D (UTC − leader time), and a coordinated
    /// correction of D asked on the master itself.
    #[command(subcommand)]
    Fleet(fleet_cli::FleetCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and print what it means; exit non-zero on any error.
    Check {
        /// The file [default: the platform's configuration path]
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// A pcap or pcapng capture
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Replay(args)) => run_replay(&args),
        Some(Command::Config(ConfigCommand::Check { path })) => {
            config::check_command(path.as_deref())
        }
        Some(Command::GmSim(args)) => gm_sim::run(&args),
        Some(Command::ClockTest(args)) => clock_exercise::run(&args),
        Some(Command::Demo(args)) => demo::run(&args),
        Some(Command::Status(args)) => status::run(&args),
        Some(Command::Service(command)) => service::run(&command),
        Some(Command::Fleet(command)) => fleet_cli::run(&command),
        None => run_daemon(&cli.daemon),
    }
}

fn run_daemon(args: &DaemonArgs) -> ExitCode {
    let overrides = config::Overrides {
        interface: args.interface.clone(),
        ntp_server: args.ntp_server.clone(),
        skip_ntp: args.skip_ntp,
    };
    if args.service {
        // Windows: under the service control manager; elsewhere an error naming the way.
        return daemon::run_service(args.config.clone(), overrides);
    }
    daemon::run(&daemon::Flags {
        config: args.config.as_deref(),
        overrides,
    })
}

fn run_replay(args: &ReplayArgs) -> ExitCode {
    let report = match replay::replay_file(&args.file) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("dantesync replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", replay::print::json(&report));
    } else {
        print!("{}", replay::print::text(&report));
    }
    match report.problem() {
        Some(problem) => {
            eprintln!("dantesync replay: {}: {problem}", args.file.display());
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
