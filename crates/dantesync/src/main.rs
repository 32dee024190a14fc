//! The dantesync binary.
fn main() {
    eprintln!("dantesync: the daemon is not built yet");
    std::process::exit(2);
}
