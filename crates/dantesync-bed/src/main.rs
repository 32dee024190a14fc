//! `dantesync-bed`: the multi-host test bed (see the library's documentation and `list`).

fn main() {
    #[cfg(target_os = "linux")]
    dantesync_bed::cli::main();
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("dantesync-bed runs on Linux only: it builds network namespaces");
        std::process::exit(2);
    }
}
