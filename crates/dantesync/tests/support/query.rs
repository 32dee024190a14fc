//! A client of the daemon's UDP query API, for the tests that read it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::num::NonZeroU8;
use std::time::Duration;

use dantesync_core::wire::query::{
    Exchange, ExtendedReply, QueryReply, QueryRequest, EXTENDED_REPLY_LEN,
};

use super::unix_nanos_now;

/// A UDP socket bound to `source` (any port), reads waiting at most `wait`.
pub fn socket_on(source: Ipv4Addr, wait: Duration) -> UdpSocket {
    let s = UdpSocket::bind((source, 0)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s
}

/// One compact (8-byte DSYN) exchange from `s` to `to`: the 64-byte reply, if it came.
pub fn compact(s: &UdpSocket, to: SocketAddr) -> Option<QueryReply> {
    let id = rand::random::<u32>();
    s.send_to(&QueryRequest::Compact { request_id: id }.to_bytes(), to)
        .ok()?;
    let mut buf = [0u8; 1024];
    let len = s.recv(&mut buf).ok()?;
    QueryReply::parse(&buf[..len])
        .ok()
        .filter(|r| r.request_id == id)
}

/// One compact exchange with 127.0.0.1:`port` from a fresh socket waiting at most 200 ms.
pub fn compact_local(port: u16) -> Option<QueryReply> {
    let s = socket_on(Ipv4Addr::LOCALHOST, Duration::from_millis(200));
    compact(&s, (Ipv4Addr::LOCALHOST, port).into())
}

/// One extended exchange from `s` to `to`: the reply and the exchange's offset and delay.
/// Replies to other requests are skipped; the request's T1 must come back echoed.
pub fn extended(s: &UdpSocket, to: SocketAddr) -> Option<(ExtendedReply, Exchange)> {
    let id = rand::random::<u32>();
    let mut bytes = QueryRequest::Extended {
        version: NonZeroU8::new(1).unwrap(),
        request_id: id,
        client_tx: 0,
        len: EXTENDED_REPLY_LEN,
    }
    .to_bytes();
    let t1 = unix_nanos_now() as u64;
    bytes[16..24].copy_from_slice(&t1.to_be_bytes());
    s.send_to(&bytes, to).ok()?;
    let mut buf = [0u8; 1024];
    loop {
        let len = s.recv(&mut buf).ok()?;
        let t4 = unix_nanos_now() as u64;
        let r = ExtendedReply::parse(&buf[..len]).ok()?;
        if r.base.request_id == id {
            assert_eq!(r.client_tx, t1, "T1 not echoed");
            let x = r.exchange(t4);
            return Some((r, x));
        }
    }
}
