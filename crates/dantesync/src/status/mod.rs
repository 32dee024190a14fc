//! `dantesync status [HOST]`: what a node is doing, like `chronyc tracking`, read with the
//! extended query of the UDP query API (`docs/query-api.md`).
//!
//! Exit codes (a fixed interface for scripts and monitoring):
//! - 0: the node answered and is locked (LOCK or NANO);
//! - 1: the node answered and is not locked;
//! - 2: the command line is wrong (clap's usage error);
//! - 3: no answer (nothing listens, the address is not in the node's `query_api.allow`, the
//!   host cannot be resolved) or the answer could not be read.

mod health;
mod print;
mod query;
mod sync_mode;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// Node answered, locked.
pub const EXIT_LOCKED: u8 = 0;
/// Node answered, not locked.
pub const EXIT_NOT_LOCKED: u8 = 1;
/// No usable answer.
pub const EXIT_UNREACHABLE: u8 = 3;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node to ask: a host name or an IP address
    #[arg(value_name = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// The node's query API port (query_api.port)
    #[arg(long, value_name = "PORT", default_value_t = 31900)]
    pub port: u16,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each of the three attempts, ms
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,
}

pub fn run(args: &StatusArgs) -> ExitCode {
    let wait = Duration::from_millis(args.timeout_ms.max(1));
    match query::ask(&args.host, args.port, wait) {
        Ok(answer) => {
            if args.json {
                println!("{}", print::json(&args.host, args.port, &answer));
            } else {
                print!("{}", print::text(&args.host, &answer));
            }
            ExitCode::from(if answer.locked() {
                EXIT_LOCKED
            } else {
                EXIT_NOT_LOCKED
            })
        }
        Err(failure) => {
            let message = failure.message(&args.host, args.port);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "host": args.host,
                        "port": args.port,
                        "reachable": false,
                        "error": message,
                    })
                );
            }
            eprintln!("dantesync status: {message}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
    }
}
