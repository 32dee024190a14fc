//! The leader's sockets, set up as a Dante device sends: one socket per DSCP class, so each
//! carries its own IP TOS, TTL 1, and ephemeral source ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// IP TOS of Sync on real Dante gear (DSCP 56, CS7).
pub const SYNC_TOS: u8 = 0xe0;
/// IP TOS of Follow_Up (and so of Delay_Resp) on real Dante gear (DSCP 46, EF).
pub const GENERAL_TOS: u8 = 0xb8;

/// How long the Delay_Req listener blocks before it looks at the stop flag.
pub const LISTEN_POLL: Duration = Duration::from_millis(50);

/// Where and how to send; resolved from the command line.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Every destination address, each once, in the order given.
    pub dests: Vec<Ipv4Addr>,
    /// Local address the sockets bind to (unspecified: any).
    pub bind: Ipv4Addr,
    /// IP_MULTICAST_IF, when an interface or bind address was given.
    pub multicast_if: Option<Ipv4Addr>,
    /// 0: do not listen for Delay_Req.
    pub delay_req_port: u16,
    pub ttl: u8,
}

impl Endpoints {
    /// The multicast groups among the destinations.
    pub fn groups(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.dests.iter().copied().filter(Ipv4Addr::is_multicast)
    }

    pub fn any_multicast(&self) -> bool {
        self.groups().next().is_some()
    }
}

#[derive(Debug)]
pub struct Sockets {
    /// Sends Sync, TOS 0xE0.
    pub event: UdpSocket,
    /// Sends Follow_Up and Delay_Resp, TOS 0xB8.
    pub general: UdpSocket,
    /// Receives Delay_Req, if asked to.
    pub delay_req: Option<UdpSocket>,
}

impl Sockets {
    pub fn open(endpoints: &Endpoints) -> Result<Sockets, String> {
        let event = sender(endpoints, SYNC_TOS, "the Sync socket")?;
        let general = sender(endpoints, GENERAL_TOS, "the Follow_Up socket")?;
        let delay_req = if endpoints.delay_req_port == 0 {
            None
        } else {
            Some(listener(endpoints)?)
        };
        Ok(Sockets {
            event,
            general,
            delay_req,
        })
    }
}

fn sender(endpoints: &Endpoints, tos: u8, what: &str) -> Result<UdpSocket, String> {
    let fail = |step: &str, e: io::Error| format!("{what}: {step}: {e}");
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| fail("cannot create a UDP socket", e))?;
    socket
        .set_tos_v4(u32::from(tos))
        .map_err(|e| fail(&format!("cannot set IP TOS 0x{tos:02x}"), e))?;
    let ttl = u32::from(endpoints.ttl);
    socket
        .set_ttl_v4(ttl)
        .map_err(|e| fail("cannot set the TTL", e))?;
    socket
        .set_multicast_ttl_v4(ttl)
        .map_err(|e| fail("cannot set the multicast TTL", e))?;
    // A follower on this host (a dantesync daemon under test) must hear the leader too.
    socket
        .set_multicast_loop_v4(true)
        .map_err(|e| fail("cannot enable multicast loopback", e))?;
    if let Some(interface) = endpoints.multicast_if {
        socket
            .set_multicast_if_v4(&interface)
            .map_err(|e| fail(&format!("cannot send multicast from {interface}"), e))?;
    }
    if endpoints.dests.iter().any(Ipv4Addr::is_broadcast) {
        socket
            .set_broadcast(true)
            .map_err(|e| fail("cannot allow broadcast", e))?;
    }
    let local = SocketAddrV4::new(endpoints.bind, 0);
    socket
        .bind(&local.into())
        .map_err(|e| bind_error(what, local, &e))?;
    Ok(socket.into())
}

/// The Delay_Req listener. When sending to a multicast group it binds the wildcard address (a
/// unicast address would not receive the group on Linux), shares the port with a follower on
/// the same host (SO_REUSEADDR) and joins every group among the destinations on the chosen
/// interface. For unicast destinations only it binds the bind address, and does not share.
fn listener(endpoints: &Endpoints) -> Result<UdpSocket, String> {
    let what = "the Delay_Req listener";
    let fail = |step: &str, e: io::Error| format!("{what}: {step}: {e}");
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| fail("cannot create a UDP socket", e))?;
    let multicast = endpoints.any_multicast();
    let local = if multicast {
        socket
            .set_reuse_address(true)
            .map_err(|e| fail("cannot set SO_REUSEADDR", e))?;
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, endpoints.delay_req_port)
    } else {
        SocketAddrV4::new(endpoints.bind, endpoints.delay_req_port)
    };
    socket
        .bind(&local.into())
        .map_err(|e| bind_error(what, local, &e))?;
    let interface = endpoints.multicast_if.unwrap_or(Ipv4Addr::UNSPECIFIED);
    for group in endpoints.groups() {
        socket.join_multicast_v4(&group, &interface).map_err(|e| {
            let hint = if interface.is_unspecified() {
                " (no multicast route? name the interface with --interface)"
            } else {
                ""
            };
            fail(&format!("cannot join {group} on {interface}{hint}"), e)
        })?;
    }
    socket
        .set_read_timeout(Some(LISTEN_POLL))
        .map_err(|e| fail("cannot set a receive timeout", e))?;
    Ok(socket.into())
}

/// A bind failure, with what to do about it.
fn bind_error(what: &str, local: SocketAddrV4, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root (or CAP_NET_BIND_SERVICE): run as root, or use \
             --event-port and --general-port above 1024 (Delay_Req is received on the event \
             port unless --delay-req-port names another)"
        }
        io::ErrorKind::AddrInUse => {
            "; another program holds that port (a PTP daemon, or a follower on this host): \
             listen for Delay_Req on another one with --delay-req-port PORT, or not at all \
             with --delay-req-port 0"
        }
        io::ErrorKind::AddrNotAvailable => "; no interface of this host has that address",
        _ => "",
    };
    format!("{what}: cannot bind {local}: {e}{hint}")
}

/// The IPv4 address of interface `name`, or `name` itself if it is an IPv4 address.
pub fn interface_address(name: &str) -> Result<Ipv4Addr, String> {
    if let Ok(address) = name.parse::<Ipv4Addr>() {
        return Ok(address);
    }
    let interfaces = ipv4_interfaces()
        .map_err(|e| format!("cannot list the network interfaces to find {name:?}: {e}"))?;
    interfaces
        .iter()
        .find(|(interface, _)| interface == name)
        .map(|&(_, address)| address)
        .ok_or_else(|| {
            let known: Vec<String> = interfaces
                .iter()
                .map(|(interface, address)| format!("{interface} ({address})"))
                .collect();
            format!(
                "no interface named {name:?} with an IPv4 address; this host has: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// Every (interface name, IPv4 address) pair of this host.
#[cfg(unix)]
fn ipv4_interfaces() -> io::Result<Vec<(String, Ipv4Addr)>> {
    Ok(crate::sys::interfaces()?
        .into_iter()
        .map(|i| (i.name, i.addr))
        .collect())
}

#[cfg(not(unix))]
fn ipv4_interfaces() -> io::Result<Vec<(String, Ipv4Addr)>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "interface names are not resolved on this platform: give the interface's IPv4 address",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_its_own_interface() {
        assert_eq!(
            interface_address("10.200.0.1"),
            Ok(Ipv4Addr::new(10, 200, 0, 1))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn loopback_is_found_by_name() {
        assert_eq!(interface_address("lo"), Ok(Ipv4Addr::LOCALHOST));
        let error = interface_address("no-such-if0").unwrap_err();
        assert!(error.contains("\"no-such-if0\""), "{error}");
        assert!(error.contains("lo (127.0.0.1)"), "{error}");
    }

    #[test]
    fn bind_errors_say_what_to_do() {
        let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 319);
        let denied = bind_error(
            "the Delay_Req listener",
            local,
            &io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(denied.starts_with("the Delay_Req listener: cannot bind 0.0.0.0:319: "));
        assert!(denied.contains("run as root"), "{denied}");
        assert!(denied.contains("--event-port"), "{denied}");
        let in_use = bind_error("x", local, &io::Error::from(io::ErrorKind::AddrInUse));
        assert!(in_use.contains("--delay-req-port"), "{in_use}");
    }
}
