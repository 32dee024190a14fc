//! `dantesync gm-sim`: a Dante leader emulator.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct GmSimArgs {}

pub fn run(args: &GmSimArgs) -> ExitCode {
    let _ = args;
    eprintln!("dantesync gm-sim: not built yet");
    ExitCode::from(2)
}
