//! Readers for the text values of the configuration: hosts, server addresses, address ranges
//! and interface names. Each refusal says what was wrong with the text, so the operator
//! does not have to guess which rule it broke.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dantesync_core::ntp_server::Subnet;

/// Why a text was refused, and how to write it instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: Option<String>,
}

impl Refusal {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// An NTP server to ask: an address or a host name, and the UDP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr {
    /// An IP address or a DNS name, resolved by the daemon when it asks.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

pub const NTP_PORT: u16 = 123;

/// Reads `host`, `host:port`, an IPv6 address, or `[ipv6]:port`. The port defaults to 123.
pub fn parse_server(text: &str) -> Result<ServerAddr, Refusal> {
    let text_trimmed = text.trim();
    if text_trimmed != text {
        return Err(Refusal::new(
            format!("{text:?} has spaces around it"),
            "remove the spaces inside the quotes",
        ));
    }
    if text.is_empty() {
        return Err(Refusal::new(
            "an empty server name",
            "name a server (e.g. \"pool.ntp.org\" or \"10.77.8.2\"), or remove the key to run \
             PTP-only",
        ));
    }
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Ok(ServerAddr {
            host: v6.to_string(),
            port: NTP_PORT,
        });
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, port) = rest.split_once("]:").ok_or_else(|| {
            Refusal::new(
                format!("{text:?} is not an address"),
                "write an IPv6 address with a port as [2001:db8::1]:123",
            )
        })?;
        let v6: Ipv6Addr = addr.parse().map_err(|_| {
            Refusal::new(
                format!("{addr:?} is not an IPv6 address"),
                "write an IPv6 address with a port as [2001:db8::1]:123",
            )
        })?;
        return Ok(ServerAddr {
            host: v6.to_string(),
            port: parse_port_text(port, text)?,
        });
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, parse_port_text(port, text)?),
        None => (text, NTP_PORT),
    };
    check_host(host)?;
    Ok(ServerAddr {
        host: host.to_owned(),
        port,
    })
}

fn parse_port_text(port: &str, whole: &str) -> Result<u16, Refusal> {
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(Refusal::new(
            format!("{port:?} in {whole:?} is not a port 1-65535"),
            "write host:port with a port 1-65535, or leave the port out for 123",
        )),
    }
}

/// Accepts an IPv4 address or an RFC 1123 host name. A dotted name whose last label is all
/// digits is read as a mistyped IPv4 address (no top-level domain is numeric), which is what
/// `10.77.8.256` or `10.77.8` almost always is.
pub fn check_host(host: &str) -> Result<(), Refusal> {
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = name.split('.').collect();
    let numeric = |l: &&str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit());
    if labels.last().is_some_and(numeric) {
        let hint = if labels.iter().all(numeric) && labels.len() != 4 {
            "an IPv4 address has four numbers 0-255, e.g. 10.77.8.2".to_owned()
        } else if let Some(big) = labels
            .iter()
            .find(|l| l.parse::<u32>().is_ok_and(|n| n > 255))
        {
            format!("{big} is above 255: each number of an IPv4 address is 0-255")
        } else {
            "write four numbers 0-255 without leading zeros, e.g. 10.77.8.2".to_owned()
        };
        return Err(Refusal::new(
            format!("{host:?} is not a valid IPv4 address"),
            hint,
        ));
    }
    if name.is_empty() || name.len() > 253 {
        return Err(Refusal::new(
            format!("{host:?} is not a valid host name"),
            "a host name is 1-253 characters",
        ));
    }
    for label in &labels {
        let ok_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty()
            || label.len() > 63
            || !ok_chars
            || label.starts_with('-')
            || label.ends_with('-')
        {
            let bad: String = label
                .chars()
                .filter(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
                .take(1)
                .collect();
            let hint = if !bad.is_empty() {
                format!("`{bad}` cannot be part of a host name: use letters, digits, `-` and `.`")
            } else if label.is_empty() {
                "a host name has no empty parts (`..`, or a leading `.`)".to_owned()
            } else {
                "each part of a host name is 1-63 letters, digits or `-`, not starting or \
                 ending with `-`"
                    .to_owned()
            };
            return Err(Refusal::new(
                format!("{host:?} is not a valid host name or address"),
                hint,
            ));
        }
    }
    Ok(())
}

/// An address range `addr/prefix`; a bare address is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    pub const fn v6(addr: Ipv6Addr, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V6(addr),
            prefix,
        }
    }

    /// Whether `ip` is in the range (the core's [`Subnet`] rule: an IPv4 client reaching an
    /// IPv6 socket, `::ffff:a.b.c.d`, is matched as the IPv4 address it is).
    pub fn contains(&self, ip: IpAddr) -> bool {
        Subnet::from(*self).contains(ip)
    }
}

impl From<Cidr> for Subnet {
    fn from(c: Cidr) -> Subnet {
        Subnet::new(c.addr, c.prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Reads `a.b.c.d/n`, `v6/n`, or a bare address. Bits set below the prefix are refused with
/// the range they probably meant: `10.77.9.5/24` is a typo for one host or for `10.77.9.0/24`,
/// and guessing which would silently open or close the wrong range.
pub fn parse_cidr(text: &str) -> Result<Cidr, Refusal> {
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        Refusal::new(
            format!("{addr_text:?} is not an IP address"),
            "write an address range as 192.168.0.0/16, or a single address as 10.77.8.2",
        )
    })?;
    let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => width,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= width && !(p.starts_with('0') && p.len() > 1) => n,
            _ => {
                return Err(Refusal::new(
                    format!("{p:?} is not a prefix length 0-{width}"),
                    format!("write the prefix as a number 0-{width}, e.g. /24"),
                ))
            }
        },
    };
    let cidr = Cidr { addr, prefix };
    let network = network_of(cidr);
    if network != addr {
        return Err(Refusal::new(
            format!("{text:?} has address bits set beyond the /{prefix} prefix"),
            format!("write {network}/{prefix} for the range, or {addr} alone for one host"),
        ));
    }
    Ok(cidr)
}

fn network_of(c: Cidr) -> IpAddr {
    match c.addr {
        IpAddr::V4(v4) => {
            let bits = v4.to_bits();
            let masked = if c.prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(c.prefix)))
            };
            IpAddr::V4(Ipv4Addr::from_bits(masked))
        }
        IpAddr::V6(v6) => {
            let bits = v6.to_bits();
            let masked = if c.prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(c.prefix)))
            };
            IpAddr::V6(Ipv6Addr::from_bits(masked))
        }
    }
}

/// Reads an address to bind a server to.
pub fn parse_bind(text: &str) -> Result<IpAddr, Refusal> {
    text.parse().map_err(|_| {
        let hint = if text.eq_ignore_ascii_case("localhost") {
            "write 127.0.0.1 (a bind address is an IP address, not a name)"
        } else if text == "*" || text.is_empty() {
            "write 0.0.0.0 for every IPv4 interface, or :: for every interface"
        } else {
            "write an IP address of this machine, 0.0.0.0 for every IPv4 interface, or :: for \
             every interface"
        };
        Refusal::new(format!("{text:?} is not an IP address"), hint)
    })
}

/// Interface names are free text on Windows ("Ethernet 2"), so only what no system allows is
/// refused.
pub fn check_interface(name: &str) -> Result<(), Refusal> {
    if name.trim().is_empty() {
        return Err(Refusal::new(
            "an empty interface name",
            "name the interface (e.g. \"eth0\" or \"Ethernet 2\"), or remove the key to let \
             dantesync choose",
        ));
    }
    if name.trim() != name {
        return Err(Refusal::new(
            format!("{name:?} has spaces around it"),
            "remove the spaces inside the quotes",
        ));
    }
    if name.chars().any(char::is_control) || name.len() > 256 {
        return Err(Refusal::new(
            format!("{name:?} is not an interface name"),
            "use the name `ip link` (Linux) or `Get-NetAdapter` (Windows) shows",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_take_names_addresses_and_ports() {
        let s = |host: &str, port| ServerAddr {
            host: host.to_owned(),
            port,
        };
        assert_eq!(parse_server("10.77.8.2"), Ok(s("10.77.8.2", 123)));
        assert_eq!(parse_server("pool.ntp.org"), Ok(s("pool.ntp.org", 123)));
        assert_eq!(parse_server("ntp-1.lan:1123"), Ok(s("ntp-1.lan", 1123)));
        assert_eq!(parse_server("2001:db8::1"), Ok(s("2001:db8::1", 123)));
        assert_eq!(
            parse_server("[2001:db8::1]:1123"),
            Ok(s("2001:db8::1", 1123))
        );
        assert_eq!(parse_server("time.").map(|a| a.port), Ok(123));
        assert_eq!(s("2001:db8::1", 123).to_string(), "[2001:db8::1]:123");
        assert_eq!(s("10.77.8.2", 123).to_string(), "10.77.8.2:123");
    }

    #[test]
    fn bad_servers_say_what_is_wrong() {
        let refuse = |t: &str| parse_server(t).unwrap_err();
        let r = refuse("10.77.8.256");
        assert_eq!(r.message, "\"10.77.8.256\" is not a valid IPv4 address");
        assert_eq!(
            r.hint.as_deref(),
            Some("256 is above 255: each number of an IPv4 address is 0-255")
        );
        assert_eq!(
            refuse("10.77.8").hint.as_deref(),
            Some("an IPv4 address has four numbers 0-255, e.g. 10.77.8.2")
        );
        assert!(refuse("ntp server.lan")
            .hint
            .unwrap()
            .starts_with("` ` cannot"));
        assert!(refuse("ntp_server.lan")
            .hint
            .unwrap()
            .starts_with("`_` cannot"));
        assert!(refuse("-bad.lan").message.contains("not a valid host name"));
        assert!(refuse("a..b").hint.unwrap().contains("no empty parts"));
        assert!(refuse("host:0").message.contains("not a port 1-65535"));
        assert!(refuse("host:65536").message.contains("not a port 1-65535"));
        assert!(refuse("[::1]").message.contains("not an address"));
        assert!(refuse(" 10.0.0.1").message.contains("spaces"));
        assert!(refuse("").message.contains("empty"));
        assert!(refuse(&"a".repeat(64)).message.contains("host name"));
    }

    #[test]
    fn cidr_ranges_are_exact() {
        let c = parse_cidr("10.77.9.0/24").unwrap();
        assert_eq!(c, Cidr::v4(10, 77, 9, 0, 24));
        assert!(c.contains("10.77.9.184".parse().unwrap()));
        assert!(!c.contains("10.77.10.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.77.9.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let one = parse_cidr("10.77.8.2").unwrap();
        assert_eq!(one.prefix, 32);
        assert!(one.contains("10.77.8.2".parse().unwrap()));
        assert!(!one.contains("10.77.8.3".parse().unwrap()));
        let all = parse_cidr("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let ll6 = parse_cidr("fe80::/10").unwrap();
        assert!(ll6.contains("fe80::1:2".parse().unwrap()));
        assert!(!ll6.contains("fec0::1".parse().unwrap()));
        assert_eq!(parse_cidr("::/0").unwrap().prefix, 0);
        assert_eq!(c.to_string(), "10.77.9.0/24");
    }

    #[test]
    fn cidr_refusals_name_the_intended_range() {
        let r = parse_cidr("10.77.9.5/24").unwrap_err();
        assert_eq!(
            r.hint.as_deref(),
            Some("write 10.77.9.0/24 for the range, or 10.77.9.5 alone for one host")
        );
        assert!(parse_cidr("10.77.9.0/33")
            .unwrap_err()
            .message
            .contains("0-32"));
        assert!(parse_cidr("10.77.9.0/024").is_err());
        assert!(parse_cidr("10.77.9/24")
            .unwrap_err()
            .message
            .contains("not an IP"));
        assert!(parse_cidr("fe80::1/10").is_err());
    }

    #[test]
    fn binds_and_interfaces() {
        assert_eq!(parse_bind("0.0.0.0"), Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(parse_bind("::"), Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert!(parse_bind("localhost")
            .unwrap_err()
            .hint
            .unwrap()
            .contains("127.0.0.1"));
        assert!(parse_bind("10.0.0.300").is_err());
        assert_eq!(check_interface("Ethernet 2"), Ok(()));
        assert_eq!(check_interface("eth0"), Ok(()));
        assert!(check_interface("").is_err());
        assert!(check_interface("eth0 ").is_err());
        assert!(check_interface("eth\n0").is_err());
    }
}
