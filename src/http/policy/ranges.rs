//! The special-purpose address ranges an `http` step may not reach unless `http.allow` lists
//! them: everything that is "inside" the machine or its network rather than the public
//! internet — the worker's own loopback services, a cloud's metadata endpoint
//! (169.254.169.254), the LAN, the tailnet (100.64.0.0/10), and addresses that are not a
//! single host at all (unspecified, multicast, broadcast). Sources: the IANA IPv4 and IPv6
//! Special-Purpose Address Registries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    len: u8,
}

impl Net {
    /// `None` when `len` is longer than the address or `addr` has bits set past it.
    pub fn new(addr: IpAddr, len: u8) -> Option<Net> {
        let net = Net { addr, len };
        (len <= max_len(addr) && mask(addr, len) == bits(addr)).then_some(net)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == bits(self.addr)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// `10.0.0.0/8`, `fd00::/8`.
impl std::str::FromStr for Net {
    type Err = String;

    fn from_str(text: &str) -> Result<Net, String> {
        let (addr, len) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a network (address/length)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?}: {addr:?} is not an IP address"))?;
        let len: u8 = len
            .parse()
            .ok()
            .filter(|len| *len <= max_len(addr))
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {}", max_len(addr)))?;
        Net::new(addr, len).ok_or_else(|| {
            let network = network_of(addr, len);
            format!("{text:?} has bits set past the prefix length; did you mean {network}/{len}?")
        })
    }
}

/// `addr` with the bits past `len` cleared.
fn network_of(addr: IpAddr, len: u8) -> IpAddr {
    let masked = mask(addr, len);
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from_bits(masked as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from_bits(masked)),
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

fn mask(addr: IpAddr, len: u8) -> u128 {
    let width = u32::from(max_len(addr));
    let host_bits = width - u32::from(len);
    let kept = if host_bits >= 128 {
        0
    } else {
        u128::MAX << host_bits
    };
    bits(addr) & kept
}

/// A range the policy refuses by default, and what it is called in a refusal.
#[derive(Debug, PartialEq, Eq)]
pub struct Range {
    pub net: Net,
    pub name: &'static str,
}

/// Every range and its name, most specific first where they overlap (`::/128` before `::/96`).
const RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified (\"this network\")"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (CGNAT, tailnets)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (incl. broadcast)"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "NAT64 (local use)"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (ULA)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

fn table() -> &'static [Range] {
    static TABLE: std::sync::OnceLock<Vec<Range>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        RANGES
            .iter()
            .map(|(net, name)| Range {
                net: net.parse().expect("the range table holds networks"),
                name,
            })
            .collect()
    })
}

/// The special-purpose range `ip` is in, if any. An IPv6 address that carries an IPv4
/// address to another network (IPv4-mapped, NAT64's 64:ff9b::/96, 6to4's 2002::/16) is judged
/// by that IPv4 address too: `::ffff:127.0.0.1` is loopback.
pub fn special(ip: IpAddr) -> Option<&'static Range> {
    let ip = ip.to_canonical();
    if let Some(range) = table().iter().find(|range| range.net.contains(ip)) {
        return Some(range);
    }
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).and_then(|v4| special(v4.into())),
        IpAddr::V4(_) => None,
    }
}

/// The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address leads to.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(ip: &str) -> Option<&'static str> {
        special(ip.parse().unwrap()).map(|range| range.name)
    }

    #[test]
    fn inside_addresses_are_special_and_public_ones_are_not() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:7f00:1::", "loopback"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("fe80::1", "link-local"),
            ("10.1.2.3", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("100.100.100.100", "shared address space (CGNAT, tailnets)"),
            ("fd7a:115c:a1e0::1", "unique local (ULA)"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("::", "unspecified"),
            ("255.255.255.255", "reserved (incl. broadcast)"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(name(ip), Some(expected), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(name(ip), None, "{ip}");
        }
    }

    #[test]
    fn networks_parse_strictly() {
        let net: Net = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(!net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(net.to_string(), "10.0.0.0/8");
        let all: Net = "::/0".parse().unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
        let err = "10.0.0.1/8".parse::<Net>().unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8"), "{err}");
        assert!("10.0.0.0/33".parse::<Net>().is_err());
        assert!("ten/8".parse::<Net>().is_err());
    }
}
