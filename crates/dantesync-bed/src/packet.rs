//! Raw packet sockets (AF_PACKET) on a veth: what the link emulator ([`crate::link`]) relays
//! with and the link watcher ([`crate::linkwatch`]) captures with, with the kernel's receive
//! stamps.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys;

/// A raw packet socket bound to `dev` with kernel receive stamps; with `outgoing` it also
/// sees the frames the device sends (a capture), else only what arrives (a relay).
pub(crate) fn packet_socket(dev: &str, outgoing: bool) -> std::io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let cname = std::ffi::CString::new(dev).unwrap();
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: zeroed sockaddr_ll is valid; we fill the fields bind reads.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index as i32;
    // SAFETY: bind with a sockaddr_ll of the right size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let one: libc::c_int = 1;
    let setopt = |level, name, val: &libc::c_int| {
        // SAFETY: an int option on our socket.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                val as *const _ as *const libc::c_void,
                4,
            )
        }
    };
    // Our own transmissions on this device are not input (PACKET_IGNORE_OUTGOING = 23).
    if !outgoing {
        setopt(libc::SOL_PACKET, 23, &one);
    }
    setopt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one);
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: a timeval option on our socket.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    Ok(fd)
}

/// Receives one frame: its length, the kernel's arrival stamp (CLOCK_REALTIME ns) and whether
/// it was our own transmission (skipped).
pub(crate) fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> Option<(usize, i64, bool)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut ctrl = [0u64; 16];
    // SAFETY: zeroed sockaddr_ll and msghdr are valid; we point the msghdr at our buffers.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&ctrl);
    // SAFETY: recvmsg into the buffers msg points at, all alive for the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n <= 0 {
        return None;
    }
    let stamp = sys::kernel_stamp(&msg).unwrap_or_else(sys::realtime_ns);
    let outgoing = from.sll_pkttype == libc::PACKET_OUTGOING;
    Some((n as usize, stamp, outgoing))
}

pub(crate) fn send_frame(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: send(2) of a buffer we own on our bound packet socket.
    unsafe {
        libc::send(
            fd.as_raw_fd(),
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            0,
        )
    };
}
