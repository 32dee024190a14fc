//! Test sockets on 127.0.0.1 that record every datagram, with its IP TOS and TTL and the
//! kernel's receive timestamp where the platform gives them.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One datagram as a test socket received it.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When `recvmsg` returned, on this process's monotonic clock.
    pub at: Instant,
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
    /// IP TOS and TTL of the packet (IP_RECVTOS / IP_RECVTTL), where the platform says.
    pub tos: Option<u8>,
    pub ttl: Option<u8>,
    /// The kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME ns), where the platform
    /// gives one. On loopback it is taken as the sender hands the packet over, so scheduling
    /// of the receiving thread does not show in it.
    pub kernel_ns: Option<i128>,
}

/// Received data as [`ip::recv`] returns it.
#[derive(Debug)]
pub struct Received {
    pub len: usize,
    pub from: SocketAddr,
    pub tos: Option<u8>,
    pub ttl: Option<u8>,
    pub kernel_ns: Option<i128>,
}

#[cfg(target_os = "linux")]
mod ip {
    //! recvmsg with IP_RECVTOS and IP_RECVTTL, to see the header fields a sender set, and
    //! SO_TIMESTAMPNS for the kernel's receive time.

    use super::Received;
    use std::io;
    use std::mem::{size_of, size_of_val, zeroed};
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
    use std::os::fd::AsRawFd;

    pub fn enable(socket: &UdpSocket) {
        for (level, option) in [
            (libc::IPPROTO_IP, libc::IP_RECVTOS),
            (libc::IPPROTO_IP, libc::IP_RECVTTL),
            (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
        ] {
            let one: libc::c_int = 1;
            // SAFETY: a valid socket, and a pointer to an int with its size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    level,
                    option,
                    (&one as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
        }
    }

    pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        let (mut tos, mut ttl, mut kernel_ns) = (None, None, None);
        // SAFETY: every pointer in `msg` points at a live local buffer of the size given, and
        // the control messages are walked with the libc macros within `msg_controllen`.
        unsafe {
            let mut name: libc::sockaddr_in = zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut control = [0u64; 32];
            let mut msg: libc::msghdr = zeroed();
            msg.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&control) as _;
            let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                if header.cmsg_level == libc::IPPROTO_IP {
                    let data = libc::CMSG_DATA(cmsg);
                    if header.cmsg_type == libc::IP_TOS {
                        tos = Some(*data);
                    } else if header.cmsg_type == libc::IP_TTL {
                        let value = data.cast::<libc::c_int>().read_unaligned();
                        ttl = u8::try_from(value).ok();
                    }
                } else if header.cmsg_level == libc::SOL_SOCKET
                    && header.cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let time = libc::CMSG_DATA(cmsg)
                        .cast::<libc::timespec>()
                        .read_unaligned();
                    kernel_ns =
                        Some(i128::from(time.tv_sec) * 1_000_000_000 + i128::from(time.tv_nsec));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            let from = SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
                u16::from_be(name.sin_port),
            );
            Ok(Received {
                len: n as usize,
                from: SocketAddr::V4(from),
                tos,
                ttl,
                kernel_ns,
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod ip {
    use super::Received;
    use std::io;
    use std::net::UdpSocket;

    pub fn enable(_socket: &UdpSocket) {}

    pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        socket.recv_from(buf).map(|(len, from)| Received {
            len,
            from,
            tos: None,
            ttl: None,
            kernel_ns: None,
        })
    }
}

/// A socket on 127.0.0.1 whose thread records every datagram until it is finished.
pub struct Collector {
    pub port: u16,
    pub got: Arc<Mutex<Vec<Datagram>>>,
    pub stop: Arc<AtomicBool>,
    pub thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub fn bind() -> Collector {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a test socket on 127.0.0.1");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        ip::enable(&socket);
        let port = socket.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, stop) = (Arc::clone(&got), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(r) = ip::recv(&socket, &mut buf) {
                        let at = Instant::now();
                        got.lock().unwrap().push(Datagram {
                            at,
                            from: r.from,
                            bytes: buf[..r.len].to_vec(),
                            tos: r.tos,
                            ttl: r.ttl,
                            kernel_ns: r.kernel_ns,
                        });
                    }
                }
            })
        };
        Collector {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    pub fn snapshot(&self) -> Vec<Datagram> {
        self.got.lock().unwrap().clone()
    }

    pub fn finish(&mut self) -> Vec<Datagram> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}
