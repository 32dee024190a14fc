//! Entering a network namespace the test made, for the thread that asks (a thread's network
//! namespace is its own; what it starts inherits it).

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// Moves the calling thread into the namespace whose file is `ns_file` (`/run/netns/NAME` or
/// `/proc/PID/ns/net`).
pub fn enter(ns_file: &Path) {
    let f =
        std::fs::File::open(ns_file).unwrap_or_else(|e| panic!("open {}: {e}", ns_file.display()));
    // SAFETY: setns on an open namespace file; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// A UDP socket bound to `bind` inside the named namespace (`ip netns add NAME`), made by a
/// thread that entered it, usable from any thread afterwards; reads wait at most `wait`.
pub fn udp_socket_in(name: &str, bind: &str, wait: Duration) -> UdpSocket {
    let path = Path::new("/run/netns").join(name);
    let bind = bind.to_owned();
    std::thread::spawn(move || {
        enter(&path);
        let s = UdpSocket::bind(bind.as_str()).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        s
    })
    .join()
    .unwrap()
}
