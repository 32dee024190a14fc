//! Where the leader sends: one or more `HOST[:EVENT_PORT:GENERAL_PORT]` destinations.
//!
//! Several destinations let one leader timescale reach several followers on one host: on
//! loopback each follower holds its own pair of unprivileged ports, and unicast is the only
//! way to reach them all (receiving the PTP group on loopback needs root on most systems).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

/// One `--dest` value: an IPv4 address, with its own ports or the command's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub addr: Ipv4Addr,
    /// (event, general); `None` takes `--event-port` and `--general-port`.
    pub ports: Option<(u16, u16)>,
}

impl Dest {
    /// The Sync and Follow_Up addresses, with the defaults for ports not given.
    pub fn resolve(&self, event_port: u16, general_port: u16) -> Target {
        let (event, general) = self.ports.unwrap_or((event_port, general_port));
        Target {
            event: SocketAddrV4::new(self.addr, event),
            general: SocketAddrV4::new(self.addr, general),
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ports {
            Some((event, general)) => write!(f, "{}:{event}:{general}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl FromStr for Dest {
    type Err = String;

    fn from_str(text: &str) -> Result<Dest, String> {
        let mut parts = text.trim().split(':');
        let host = parts.next().unwrap_or_default();
        let addr: Ipv4Addr = host
            .parse()
            .map_err(|_| format!("{host:?} is not an IPv4 address"))?;
        let rest: Vec<&str> = parts.collect();
        let ports = match rest.as_slice() {
            [] => None,
            [event, general] => Some((port(event, "event")?, port(general, "general")?)),
            _ => {
                return Err(format!(
                    "{text:?}: write ADDR or ADDR:EVENT_PORT:GENERAL_PORT (both ports or neither)"
                ))
            }
        };
        Ok(Dest { addr, ports })
    }
}

fn port(text: &str, which: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err(format!("{which} port 0 is not a destination")),
        Ok(p) => Ok(p),
        Err(_) => Err(format!(
            "{which} port {text:?} is not a number in 1..=65535"
        )),
    }
}

/// One follower's pair of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Sync goes here.
    pub event: SocketAddrV4,
    /// Follow_Up (and Delay_Resp) go here.
    pub general: SocketAddrV4,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_alone_takes_the_default_ports() {
        let d: Dest = "127.0.0.1".parse().unwrap();
        assert_eq!(
            d,
            Dest {
                addr: Ipv4Addr::LOCALHOST,
                ports: None
            }
        );
        let t = d.resolve(319, 320);
        assert_eq!(t.event, "127.0.0.1:319".parse().unwrap());
        assert_eq!(t.general, "127.0.0.1:320".parse().unwrap());
    }

    #[test]
    fn ports_given_win() {
        let d: Dest = "127.0.0.1:40319:40320".parse().unwrap();
        assert_eq!(d.ports, Some((40319, 40320)));
        let t = d.resolve(319, 320);
        assert_eq!(t.event, "127.0.0.1:40319".parse().unwrap());
        assert_eq!(t.general, "127.0.0.1:40320".parse().unwrap());
        assert_eq!(d.to_string(), "127.0.0.1:40319:40320");
    }

    #[test]
    fn malformed_destinations_are_refused() {
        for bad in [
            "",
            "ptp.example",
            "300.1.2.3",
            "127.0.0.1:319",
            "127.0.0.1:319:320:321",
            "127.0.0.1:0:320",
            "127.0.0.1:319:x",
            "127.0.0.1:70000:320",
        ] {
            assert!(bad.parse::<Dest>().is_err(), "{bad:?} accepted");
        }
    }
}
