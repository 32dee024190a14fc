//! Receiving with the kernel's receive timestamp (SO_TIMESTAMPNS) and arrival interface
//! (IP_PKTINFO), one datagram (`recvmsg`) or a batch (`recvmmsg`): what the daemon's PTP, NTP
//! and query sockets need and neither the standard library nor socket2 offers.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Asks the kernel to stamp every datagram received on `fd` with CLOCK_REALTIME (ns).
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    set_flag(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS)
}

/// Asks the kernel to tell, for every datagram received on `fd`, the interface it arrived on
/// and its destination address (IP_PKTINFO): how the daemon learns where PTP arrives.
pub fn enable_arrival_info(fd: RawFd) -> io::Result<()> {
    set_flag(fd, libc::IPPROTO_IP, libc::IP_PKTINFO)
}

/// Turns on an integer socket option.
fn set_flag(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    set_int_option(fd, level, name, 1)
}

/// Sets an integer socket option to `value`.
pub(super) fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The index of the interface called `name`, if it exists.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that lives for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// One datagram: its length, sender (IPv4 or IPv6), kernel receive timestamp (realtime ns since the Unix
/// epoch) when the kernel attached one, and the arrival interface's index and the datagram's
/// destination address when IP_PKTINFO is on.
#[derive(Debug)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub kernel_ns: Option<i64>,
    pub arrival: Option<Arrival>,
}

/// Where a datagram arrived: the interface's index and the destination address in its IP
/// header (the group for multicast).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub ifindex: u32,
    pub dest: Ipv4Addr,
}

/// `recvmsg` on a non-blocking socket; `WouldBlock` when nothing is queued.
pub fn recv_with_timestamp(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // u64 alignment is what cmsghdr needs; 128 bytes hold one SCM_TIMESTAMPNS (32) and one
    // IP_PKTINFO (32) with room.
    let mut control = [0u64; 16];
    // SAFETY: an all-zero sockaddr_storage / msghdr / iovec is a valid value of each.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: every pointer in `msg` points at a live local buffer of the length given with
    // it, and they all outlive the call.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let (kernel_ns, arrival) = control_info(&msg);
    Ok(Received {
        len: n as usize,
        from: sender(&addr),
        kernel_ns,
        arrival,
    })
}

/// The kernel receive timestamp and the IP_PKTINFO arrival of a `msghdr` that `recvmsg` or
/// `recvmmsg` filled.
fn control_info(msg: &libc::msghdr) -> (Option<i64>, Option<Arrival>) {
    let mut kernel_ns = None;
    let mut arrival = None;
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG_* macros walk
    // exactly that region, a SCM_TIMESTAMPNS payload is one timespec and an IP_PKTINFO payload
    // one in_pktinfo (both read unaligned).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                kernel_ns = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            } else if (*cmsg).cmsg_level == libc::IPPROTO_IP
                && (*cmsg).cmsg_type == libc::IP_PKTINFO
            {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                arrival = Some(Arrival {
                    ifindex: u32::try_from(info.ipi_ifindex).unwrap_or(0),
                    dest: Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)),
                });
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    (kernel_ns, arrival)
}

/// The sender, IPv4 or IPv6; `None` for any other family.
fn sender(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((addr as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((addr as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// How many datagrams one [`RecvBatch::recv`] takes at most.
pub const BATCH: usize = 16;
/// The longest datagram a [`RecvBatch`] keeps whole (longer ones are cut).
pub const BATCH_DATAGRAM: usize = 1024;

/// Buffers for receiving up to [`BATCH`] datagrams with one `recvmmsg` call, each with what
/// [`recv_with_timestamp`] gives: one system call instead of one per datagram when a server is
/// busy, and the same kernel timestamp per datagram.
pub struct RecvBatch {
    bufs: Box<[[u8; BATCH_DATAGRAM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    controls: [[u64; 16]; BATCH],
    received: Vec<Received>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0; BATCH_DATAGRAM]; BATCH]),
            // SAFETY: an all-zero sockaddr_storage is a valid value.
            addrs: [unsafe { zeroed() }; BATCH],
            controls: [[0; 16]; BATCH],
            received: Vec::with_capacity(BATCH),
        }
    }
}

impl RecvBatch {
    /// `recvmmsg` on a non-blocking socket: the number of datagrams now held (at least 1), or
    /// `WouldBlock` when nothing is queued.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: BATCH_DATAGRAM,
        });
        // SAFETY: an all-zero mmsghdr is a valid value.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &raw mut iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = size_of::<[u64; 16]>() as _;
        }
        // SAFETY: every pointer in `hdrs` points at a buffer of `self` or a local array of the
        // length given with it, all alive for the call; the count is the array's length.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                // glibc declares the flags `int`, musl `unsigned int`.
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.received.clear();
        for (i, h) in hdrs.iter().take(n as usize).enumerate() {
            let (kernel_ns, arrival) = control_info(&h.msg_hdr);
            self.received.push(Received {
                len: (h.msg_len as usize).min(BATCH_DATAGRAM),
                from: sender(&self.addrs[i]),
                kernel_ns,
                arrival,
            });
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`] and what came with it.
    pub fn get(&self, i: usize) -> Option<(&[u8], &Received)> {
        let r = self.received.get(i)?;
        Some((&self.bufs[i][..r.len], r))
    }
}
