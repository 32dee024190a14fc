//! `dantesync-tray`: see the crate documentation (src/lib.rs) and docs/tray.md.

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match dantesync_tray::app::Options::parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{}", dantesync_tray::app::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("dantesync-tray: {e}\n\n{}", dantesync_tray::app::USAGE);
            return ExitCode::from(2);
        }
    };
    match dantesync_tray::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dantesync-tray: {e}");
            ExitCode::FAILURE
        }
    }
}
