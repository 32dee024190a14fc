//! `dantesync clock-test`: checks that frequency and steps reach the system clock correctly.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ClockTestArgs {
    /// Required: this command changes the system clock's frequency and value
    #[arg(long = "i-understand-this-adjusts-the-clock")]
    pub i_understand: bool,
}

pub fn run(args: &ClockTestArgs) -> ExitCode {
    let _ = args;
    eprintln!("dantesync clock-test: not built yet");
    ExitCode::from(2)
}
