//! Sending the controller's Delay_Reqs, with the time each one left.
//!
//! Where they go: by default the subdomain's group (224.0.1.129 for `_DFLT`) at the event
//! port, as every PTPv1 end-to-end slave sends them and as Dante leaders expect; the leader
//! answers on the group too. A unicast request to the leader's address would spare the other
//! devices one 124-byte datagram every few seconds, but whether every Dante leader answers a
//! unicast Delay_Req is not known, and the other followers on the group already send theirs
//! by multicast. `ptp.delay_request_to` sends them to one address instead (loopback tests, a
//! leader behind a router).
//!
//! From where: a socket of its own on an ephemeral port (as Dante gear sends from), TTL 1 like
//! the leader's Syncs, on the interface named in the configuration or, failing that, the one
//! the leader's multicast Syncs were found on; until one of those is known no request goes to
//! the group (none leaves by whatever interface the routing table prefers, and a daemon fed
//! Syncs by unicast on loopback sends nothing to the LAN). Its identity in the
//! requests is that interface's MAC address where it can be read (Linux, named interface),
//! else a random locally administered one: the UUID only has to tell this node's answers from
//! the others' on the group.
//!
//! When: on Linux, the kernel's transmit stamp (SO_TIMESTAMPING, [`crate::sys::txstamp`]),
//! taken when the driver hands the datagram to the device; elsewhere, or when the stamp does
//! not come within [`STAMP_WAIT`], the clock read just before the send, which is early by the
//! system call (the status counts these as user-space stamps).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
#[cfg(target_os = "linux")]
use std::time::Duration;

use dantesync_core::path_delay::PathDelayConfig;
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::{Action, Moment};

use super::engine::Engine;
use super::ptp::Interfaces;
use super::shared::Shared;
use crate::config::Config;

/// How long the engine waits for the kernel's transmit stamp (it comes within µs).
#[cfg(target_os = "linux")]
const STAMP_WAIT: Duration = Duration::from_millis(5);

#[derive(Debug)]
pub struct DelayReqSender {
    socket: UdpSocket,
    dest: SocketAddrV4,
    kernel_tx: bool,
    /// For a group destination: the configured interface's address, or where the leader's
    /// multicast was found.
    named_if: Option<Ipv4Addr>,
    interfaces: Arc<Interfaces>,
    /// The interface the socket sends multicast on now.
    multicast_if: Option<Ipv4Addr>,
    /// The last send error, logged once until a send works again.
    failing: Option<String>,
}

impl DelayReqSender {
    /// Opens the sending socket for `cfg`'s destination, or says why it cannot.
    pub fn open(
        cfg: &Config,
        group: Ipv4Addr,
        interfaces: Arc<Interfaces>,
    ) -> Result<Self, String> {
        let dest = cfg
            .ptp
            .delay_request_to
            .unwrap_or(SocketAddrV4::new(group, cfg.ptp.event_port));
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(|e| format!("Delay_Req socket: cannot bind: {e}"))?;
        if dest.ip().is_multicast() {
            socket
                .set_multicast_ttl_v4(1)
                .map_err(|e| format!("Delay_Req socket: multicast TTL: {e}"))?;
        }
        let named_if = cfg.interface.as_deref().and_then(interface_addr);
        #[cfg(target_os = "linux")]
        let kernel_tx = match crate::sys::txstamp::enable(&socket) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("Delay_Req socket: no kernel transmit timestamps ({e}); using user-space timestamps");
                false
            }
        };
        #[cfg(not(target_os = "linux"))]
        let kernel_tx = false;
        Ok(Self {
            socket,
            dest,
            kernel_tx,
            named_if,
            interfaces,
            multicast_if: None,
            failing: None,
        })
    }

    pub fn dest(&self) -> SocketAddrV4 {
        self.dest
    }

    /// Sends `bytes`; returns when they left and whether the kernel said so.
    fn send(&mut self, bytes: &[u8], shared: &Shared) -> std::io::Result<(Moment, bool)> {
        if self.dest.ip().is_multicast() {
            let Some(want) = self.named_if.or_else(|| self.interfaces.chosen_addr()) else {
                return Err(std::io::Error::other(
                    "no interface is known to carry the leader's multicast yet",
                ));
            };
            if self.multicast_if != Some(want) {
                socket2::SockRef::from(&self.socket).set_multicast_if_v4(&want)?;
                self.multicast_if = Some(want);
            }
        }
        #[cfg(target_os = "linux")]
        if self.kernel_tx {
            use crate::sys::txstamp;
            txstamp::drain(&self.socket);
            let before = shared.moment();
            self.socket.send_to(bytes, self.dest)?;
            if let Ok(Some(sent_rt)) = txstamp::wait(&self.socket, STAMP_WAIT) {
                let local = shared.rx_time(Some(sent_rt));
                return Ok((shared.rx_moment(local), true));
            }
            return Ok((before, false));
        }
        let before = shared.moment();
        self.socket.send_to(bytes, self.dest)?;
        Ok((before, false))
    }
}

/// Fills in the identity and seed of the controller's path-delay configuration, when it has
/// one.
pub fn identify(cfg: &Config, path_delay: &mut Option<PathDelayConfig>) {
    let Some(pd) = path_delay.as_mut() else {
        return;
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    pd.seed = seed;
    pd.identity = cfg
        .interface
        .as_deref()
        .and_then(interface_mac)
        .unwrap_or_else(|| local_identity(seed));
}

/// Opens the socket the requests of `pd` go from. One that cannot be opened leaves the
/// measurement on: each request is then reported unsent, and the status stays "measuring".
pub fn open(
    cfg: &Config,
    group: Ipv4Addr,
    interfaces: Arc<Interfaces>,
    pd: Option<&PathDelayConfig>,
) -> Option<DelayReqSender> {
    let pd = pd?;
    match DelayReqSender::open(cfg, group, interfaces) {
        Ok(sender) => {
            tracing::info!(
                "path delay: a Delay_Req every {} s on average to {}, as {}, {} transmit stamps",
                pd.interval_s,
                sender.dest(),
                pd.identity,
                if sender.kernel_tx {
                    "kernel"
                } else {
                    "user-space"
                }
            );
            Some(sender)
        }
        Err(e) => {
            tracing::warn!("path delay not measured: {e}");
            None
        }
    }
}

/// A locally administered, unicast MAC-like identity from `seed`.
fn local_identity(seed: u64) -> Uuid {
    let b = seed.to_be_bytes();
    Uuid([0x02, b[3] ^ b[7], b[4], b[5], b[6], b[2] ^ b[7]])
}

#[cfg(target_os = "linux")]
fn interface_mac(name: &str) -> Option<Uuid> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    let uuid: Uuid = text.trim().parse().ok()?;
    (uuid.0 != [0; 6]).then_some(uuid)
}

#[cfg(not(target_os = "linux"))]
fn interface_mac(_name: &str) -> Option<Uuid> {
    None
}

fn interface_addr(name: &str) -> Option<Ipv4Addr> {
    let listed = super::iface::list().ok()??;
    super::iface::find_named(name, &listed).ok().map(|t| t.addr)
}

impl Engine {
    /// Carries out [`Action::SendDelayReq`]: sends, then tells the controller when it left.
    pub(super) fn send_delay_req(&mut self, sequence_id: u16, bytes: &[u8]) -> Vec<Action> {
        let Some(sender) = self.delay_req.as_mut() else {
            self.controller.delay_req_not_sent(sequence_id);
            return Vec::new();
        };
        match sender.send(bytes, &self.shared) {
            Ok((tx, kernel)) => {
                sender.failing = None;
                self.controller.delay_req_sent(sequence_id, tx, kernel)
            }
            Err(e) => {
                let text = e.to_string();
                if sender.failing.as_deref() != Some(&text) {
                    tracing::warn!("cannot send Delay_Req to {}: {text}", sender.dest);
                    sender.failing = Some(text);
                }
                self.controller.delay_req_not_sent(sequence_id);
                Vec::new()
            }
        }
    }
}
