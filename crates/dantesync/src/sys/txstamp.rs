//! Kernel transmit timestamps for the Sync (Linux): what a two-step leader puts in the
//! Follow_Up is the time its Sync actually left, not a guess read before the system call.
//!
//! With SO_TIMESTAMPING (SOF_TIMESTAMPING_TX_SOFTWARE) the kernel stamps each datagram with
//! CLOCK_REALTIME when the driver hands it to the device (on loopback: just before the
//! follower's receive stamp is taken) and queues the stamp on the socket's error queue. A
//! user-space reading before `send_to` is early by the system call, and by any preemption
//! there: on a busy 2-core machine or under qemu's software emulation that is tens to
//! thousands of µs, varying in steps, which is noise no real Dante leader (hardware stamps)
//! puts on T1.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Asks the kernel to stamp every datagram sent on `socket` in software, returning the stamp
/// alone (not the datagram) on the error queue.
pub fn enable(socket: &UdpSocket) -> io::Result<()> {
    let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE
        | libc::SOF_TIMESTAMPING_SOFTWARE
        | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    super::socket::set_int_option(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPING,
        flags as libc::c_int,
    )
}

/// Throws away stamps still queued (of a datagram whose stamp came too late to be used), so
/// the next one read belongs to the next send.
pub fn drain(socket: &UdpSocket) {
    while let Ok(Some(_)) = read_one(socket.as_raw_fd()) {}
}

/// Waits up to `limit` for the stamp of the datagram just sent: realtime ns since the Unix
/// epoch, or `None` when none arrived in time.
pub fn wait(socket: &UdpSocket, limit: Duration) -> io::Result<Option<i64>> {
    let fd = socket.as_raw_fd();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(ns) = read_one(fd)? {
            return Ok(Some(ns));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd,
            // POLLERR (a queued stamp) is reported whatever is asked for.
            events: 0,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, its count passed.
        let rc = unsafe { libc::poll(&raw mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// One stamp from the error queue, if one is queued.
fn read_one(fd: RawFd) -> io::Result<Option<i64>> {
    // A queued message without a software stamp (another kind of error report) is skipped.
    loop {
        match read_message(fd)? {
            None => return Ok(None),
            Some(Some(ns)) => return Ok(Some(ns)),
            Some(None) => {}
        }
    }
}

/// One message of the error queue: `None` when the queue is empty, else its software transmit
/// stamp if it carries one.
fn read_message(fd: RawFd) -> io::Result<Option<Option<i64>>> {
    // u64 alignment is what cmsghdr needs: room for SCM_TIMESTAMPING (3 timespecs) and the
    // IP_RECVERR extended error that comes with it.
    let mut control = [0u64; 32];
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 32]>() as _;
    // SAFETY: `msg` points at `iov`, `data` and `control`, all alive and of the sizes given.
    let rc = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    let mut found = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; the timestamp payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPING {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if ts.tv_sec != 0 || ts.tv_nsec != 0 {
                    found = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
                }
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok(Some(found))
}

/// CLOCK_REALTIME now, ns since the Unix epoch: the clock the kernel stamps with.
pub fn realtime_ns() -> i64 {
    use dantesync_clock::simulated::{HostClock, SystemHost};
    SystemHost.realtime_ns()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_send_is_stamped_between_the_calls_around_it() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(&tx).unwrap();
        for _ in 0..3 {
            let before = realtime_ns();
            tx.send_to(b"sync", rx.local_addr().unwrap()).unwrap();
            let after = realtime_ns();
            let stamp = wait(&tx, Duration::from_millis(500))
                .unwrap()
                .expect("loopback gives software transmit stamps");
            assert!(
                before <= stamp && stamp <= after,
                "stamp {stamp} outside the send call [{before}, {after}]"
            );
        }
        // Nothing left behind: the next wait finds no stale stamp.
        drain(&tx);
        assert_eq!(wait(&tx, Duration::from_millis(20)).unwrap(), None);
    }
}
