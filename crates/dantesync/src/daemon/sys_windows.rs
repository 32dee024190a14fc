//! The Win32 calls behind Windows receive timestamps (see `win_timestamps.rs` for what they are
//! for): enabling SIO_TIMESTAMPING on a socket, finding WSARecvMsg, receiving a datagram with
//! its control messages, and reading (QPC, system time) pairs. Every `unsafe` block of the
//! daemon's Windows receive path is here, behind safe functions.
//!
//! References (Microsoft Learn):
//! - Winsock timestamping:
//!   <https://learn.microsoft.com/en-us/windows/win32/winsock/winsock-timestamping>
//! - TIMESTAMPING_CONFIG (mstcpip.h; Windows 10 build 20348 and later):
//!   <https://learn.microsoft.com/en-us/windows/win32/api/mstcpip/ns-mstcpip-timestamping_config>
//! - LPFN_WSARECVMSG (mswsock.h):
//!   <https://learn.microsoft.com/en-us/windows/win32/api/mswsock/nc-mswsock-lpfn_wsarecvmsg>
//! - WSAMSG (ws2def.h): <https://learn.microsoft.com/en-us/windows/win32/api/ws2def/ns-ws2def-wsamsg>
//! - Provider-specific extension mechanism (SIO_GET_EXTENSION_FUNCTION_POINTER):
//!   <https://learn.microsoft.com/en-us/windows/win32/winsock/provider-specific-extension-mechanism-2>

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::windows::io::RawSocket;
use std::ptr;

use windows_sys::core::GUID;
use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::Networking::WinSock::{
    WSAGetLastError, WSAIoctl, AF_INET, LPFN_WSARECVMSG, LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    SIO_GET_EXTENSION_FUNCTION_POINTER, SIO_TIMESTAMPING, SOCKADDR_IN, SOCKADDR_STORAGE, SOCKET,
    SOCKET_ERROR, TIMESTAMPING_CONFIG, TIMESTAMPING_FLAG_RX, WSABUF, WSAID_WSARECVMSG, WSAMSG,
};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::GetSystemTimePreciseAsFileTime;
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::win_timestamps::{self, Sandwich};

// The platform-neutral walk uses its own copies of these; they must be the headers' values.
const _: () = assert!(
    win_timestamps::SO_TIMESTAMP as u32 == windows_sys::Win32::Networking::WinSock::SO_TIMESTAMP
);
const _: () =
    assert!(win_timestamps::SOL_SOCKET == windows_sys::Win32::Networking::WinSock::SOL_SOCKET);

fn wsa_error() -> io::Error {
    // SAFETY: no preconditions; reads this thread's last Winsock error.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

/// Asks the stack to stamp every datagram received on `socket` (SIO_TIMESTAMPING with
/// TIMESTAMPING_FLAG_RX, no transmit stamps). Fails on Windows before build 20348 and on Wine.
pub fn enable_rx_timestamps(socket: RawSocket) -> io::Result<()> {
    let config = TIMESTAMPING_CONFIG {
        Flags: TIMESTAMPING_FLAG_RX,
        TxTimestampsBuffered: 0,
    };
    let mut returned = 0u32;
    // SAFETY: the input buffer is `config`, alive for the call, with its size; there is no
    // output buffer; `returned` is a valid out-parameter; no overlapped I/O (null, None).
    let rc = unsafe {
        WSAIoctl(
            socket as SOCKET,
            SIO_TIMESTAMPING,
            (&raw const config).cast(),
            size_of::<TIMESTAMPING_CONFIG>() as u32,
            ptr::null_mut(),
            0,
            &raw mut returned,
            ptr::null_mut(),
            None,
        )
    };
    if rc == SOCKET_ERROR {
        Err(wsa_error())
    } else {
        Ok(())
    }
}

type WsaRecvMsgFn = unsafe extern "system" fn(
    SOCKET,
    *mut WSAMSG,
    *mut u32,
    *mut OVERLAPPED,
    LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;

/// WSARecvMsg, an extension function Winsock hands out per socket provider.
#[derive(Clone, Copy)]
pub struct WsaRecvMsg(WsaRecvMsgFn);

impl std::fmt::Debug for WsaRecvMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsaRecvMsg")
    }
}

/// Finds WSARecvMsg for `socket` with SIO_GET_EXTENSION_FUNCTION_POINTER.
pub fn wsa_recvmsg(socket: RawSocket) -> io::Result<WsaRecvMsg> {
    let guid: GUID = WSAID_WSARECVMSG;
    let mut function: LPFN_WSARECVMSG = None;
    let mut returned = 0u32;
    // SAFETY: the input buffer is the GUID, the output buffer `function`, an
    // Option<extern fn> with the size and layout of the function pointer Winsock writes (null
    // is None); both live for the call with their sizes given; no overlapped I/O.
    let rc = unsafe {
        WSAIoctl(
            socket as SOCKET,
            SIO_GET_EXTENSION_FUNCTION_POINTER,
            (&raw const guid).cast(),
            size_of::<GUID>() as u32,
            (&raw mut function).cast(),
            size_of::<LPFN_WSARECVMSG>() as u32,
            &raw mut returned,
            ptr::null_mut(),
            None,
        )
    };
    if rc == SOCKET_ERROR {
        return Err(wsa_error());
    }
    function
        .map(WsaRecvMsg)
        .ok_or_else(|| io::Error::other("Winsock returned no WSARecvMsg"))
}

/// QueryPerformanceFrequency, counts per second.
pub fn qpc_frequency() -> i64 {
    let mut v = 0i64;
    // SAFETY: a valid out-parameter; documented never to fail on Windows XP and later.
    unsafe { QueryPerformanceFrequency(&raw mut v) };
    v
}

fn qpc() -> i64 {
    let mut v = 0i64;
    // SAFETY: a valid out-parameter; documented never to fail on Windows XP and later.
    unsafe { QueryPerformanceCounter(&raw mut v) };
    v
}

fn filetime() -> u64 {
    let mut ft = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    // SAFETY: a valid out-parameter.
    unsafe { GetSystemTimePreciseAsFileTime(&raw mut ft) };
    (u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime)
}

/// The system time between two QPC reads, the narrowest of three tries.
pub fn sandwich() -> Sandwich {
    let read = || {
        let qpc_before = qpc();
        let filetime = filetime();
        let qpc_after = qpc();
        Sandwich {
            qpc_before,
            filetime,
            qpc_after,
        }
    };
    let pairs = [read(), read(), read()];
    win_timestamps::tightest(pairs).unwrap_or(pairs[0])
}

/// One datagram: its length, sender, SO_TIMESTAMP value if the stack attached one, and the
/// (QPC, system time) pair read right after WSARecvMsg returned.
#[derive(Debug)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub stamp: Option<u64>,
    pub after: Sandwich,
}

/// A control buffer aligned as WSACMSGHDR needs (its SIZE_T); 128 bytes hold an SO_TIMESTAMP
/// message (24 bytes on 64-bit Windows) and an IP_PKTINFO one with room.
#[repr(C, align(8))]
struct Control([u8; 128]);

/// WSARecvMsg on a non-blocking socket; `WouldBlock` (WSAEWOULDBLOCK) when nothing is queued.
pub fn recv(recvmsg: WsaRecvMsg, socket: RawSocket, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = Control([0; 128]);
    // SAFETY: an all-zero SOCKADDR_STORAGE is a valid value.
    let mut addr: SOCKADDR_STORAGE = unsafe { zeroed() };
    let mut data = WSABUF {
        len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        buf: buf.as_mut_ptr(),
    };
    let mut msg = WSAMSG {
        name: (&raw mut addr).cast(),
        namelen: size_of::<SOCKADDR_STORAGE>() as i32,
        lpBuffers: &raw mut data,
        dwBufferCount: 1,
        Control: WSABUF {
            len: size_of::<Control>() as u32,
            buf: control.0.as_mut_ptr(),
        },
        dwFlags: 0,
    };
    let mut received = 0u32;
    // SAFETY: every pointer in `msg` points at a live local buffer of the length given with it
    // (`data` at `buf`), all outliving the call; `received` is a valid out-parameter; the call
    // is not overlapped (null, None), so nothing is written after it returns.
    let rc = unsafe {
        (recvmsg.0)(
            socket as SOCKET,
            &raw mut msg,
            &raw mut received,
            ptr::null_mut(),
            None,
        )
    };
    if rc == SOCKET_ERROR {
        return Err(wsa_error());
    }
    // First thing after the datagram is in hand: the fallback stamp and the mapping's anchor.
    let after = sandwich();
    // Windows sets Control.len to the control data it wrote; never trust it past the buffer.
    let control_len = (msg.Control.len as usize).min(control.0.len());
    let stamp = win_timestamps::find_timestamp(&control.0[..control_len]);
    let from = if addr.ss_family == AF_INET {
        // SAFETY: the family says the storage holds a SOCKADDR_IN, which is smaller.
        let sin: SOCKADDR_IN = unsafe { ptr::read((&raw const addr).cast()) };
        // SAFETY: every variant of IN_ADDR's union is plain bytes of the same 4-byte address.
        let s_addr = unsafe { sin.sin_addr.S_un.S_addr };
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(s_addr)),
            u16::from_be(sin.sin_port),
        )))
    } else {
        None
    };
    Ok(Received {
        len: (received as usize).min(buf.len()),
        from,
        stamp,
        after,
    })
}
