//! Where an `http` step may make the worker go: the `[http]` policy.
//!
//! Anyone who can start a workflow (the UI is published on the tailnet) chooses an `http`
//! step's URL, and the worker sends it from inside the network: to its own loopback services,
//! a cloud's metadata endpoint (169.254.169.254), the LAN, the tailnet. So a destination in a
//! special-purpose range ([`ranges`]) is refused unless `http.allow` lists it; a public address
//! is allowed unless `http.allow_public = false` (then only what `http.allow` lists).
//!
//! Why public addresses are allowed by default: the reference allowed every URL, existing
//! definitions call public APIs and webhooks, and a public address is one the person starting
//! the workflow can reach without the worker; what the worker adds is its position inside the
//! network, and that is what the default refuses.
//!
//! The check is on the address the worker connects to, for the first URL and every redirect:
//! [`guarded`] resolves each host itself, checks every address, and connects only to those
//! (no second lookup a DNS answer could change in between).
//!
//! This is the bottom of the stack (config reads [`AllowRule`]s); only [`guarded`] does I/O.

pub mod guarded;
pub mod ranges;

use ranges::{Net, Range};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// One `http.allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// `http://10.0.0.5:8080/hooks/`: URLs with this scheme, host and port whose path starts
    /// with this path, whatever the host resolves to.
    Prefix(Url),
    /// `localhost:8080`, `printer.lan`, `10.0.0.5`: URLs whose host is written exactly so (a
    /// name matches that name, an address that address), on this port or, without one, any.
    Host { host: String, port: Option<u16> },
    /// `10.0.0.0/8`, `fd00::/8`: any URL whose host is or resolves to an address in it.
    Network(Net),
}

impl AllowRule {
    /// Whether the entry lists `url` by its text (prefix or host), before any resolving.
    fn lists(&self, url: &Url) -> bool {
        match self {
            AllowRule::Prefix(prefix) => {
                url.scheme() == prefix.scheme()
                    && url.host_str() == prefix.host_str()
                    && url.port_or_known_default() == prefix.port_or_known_default()
                    && url.path().starts_with(prefix.path())
            }
            AllowRule::Host { host, port } => {
                url.host_str() == Some(host.as_str())
                    && port.is_none_or(|port| url.port_or_known_default() == Some(port))
            }
            AllowRule::Network(_) => false,
        }
    }

    fn contains(&self, address: IpAddr) -> bool {
        matches!(self, AllowRule::Network(net) if net.contains(address))
    }
}

impl std::str::FromStr for AllowRule {
    type Err = String;

    fn from_str(text: &str) -> Result<AllowRule, String> {
        let text = text.trim();
        if text.contains('*') {
            return Err(format!(
                "{text:?}: wildcards are not supported; list a network (10.0.0.0/8) or each host"
            ));
        }
        if text.contains("://") {
            parse_prefix(text)
        } else if text.contains('/') {
            text.parse()
                .map(AllowRule::Network)
                .map_err(|err| format!("{err} (a path needs a URL prefix: http://host:port/path)"))
        } else {
            parse_host(text)
        }
    }
}

fn parse_prefix(text: &str) -> Result<AllowRule, String> {
    let url = Url::parse(text).map_err(|err| format!("{text:?} is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?}: a URL prefix must be http(s) with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?}: a URL prefix has no user or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?}: a URL prefix is scheme, host, port and path; no query or fragment"
        ));
    }
    Ok(AllowRule::Prefix(url))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 address has no port.
fn parse_host(text: &str) -> Result<AllowRule, String> {
    let bad_port = |port: &str| format!("{text:?}: {port:?} is not a port");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{text:?}: no closing ']'"))?;
        match after {
            "" => (host, None),
            _ => {
                let port = after.strip_prefix(':').ok_or_else(|| bad_port(after))?;
                (host, Some(port.parse::<u16>().map_err(|_| bad_port(port))?))
            }
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => {
                (host, Some(port.parse::<u16>().map_err(|_| bad_port(port))?))
            }
            _ => (text, None),
        }
    };
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    // The URL parser normalizes the host exactly as it does a step's URL (case, IDNA, IPv4
    // forms such as 0x7f.1), so the comparison in `lists` compares like with like.
    let url = Url::parse(&format!("http://{bracketed}/"))
        .map_err(|err| format!("{text:?} is not a host ({err})"))?;
    let plain = url.path() == "/"
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.port().is_none();
    match url.host_str() {
        Some(host) if plain && !host.is_empty() => Ok(AllowRule::Host {
            host: host.to_owned(),
            port,
        }),
        _ => Err(format!(
            "{text:?}: expected a host, host:port, a network (10.0.0.0/8) or a URL prefix \
             (http://host:port/path)"
        )),
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Prefix(url) => f.write_str(url.as_str()),
            AllowRule::Host { host, port: None } => f.write_str(host),
            AllowRule::Host {
                host,
                port: Some(port),
            } => write!(f, "{host}:{port}"),
            AllowRule::Network(net) => write!(f, "{net}"),
        }
    }
}

impl Serialize for AllowRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AllowRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The policy: what `http.allow` lists, and whether unlisted public addresses are allowed.
#[derive(Debug, Clone)]
pub struct Policy {
    allow: Vec<AllowRule>,
    allow_public: bool,
}

/// Why an address may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The URL's host as written.
    pub host: String,
    pub address: IpAddr,
    /// The special-purpose range the address is in; `None`: a public address that
    /// `http.allow` does not list, with `http.allow_public = false`.
    pub range: Option<&'static Range>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refusal {
            host,
            address,
            range,
        } = self;
        match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(literal) if literal == *address => write!(f, "{address}, ")?,
            Ok(_) => write!(f, "{host} is {address}, ")?,
            Err(_) => write!(f, "{host} resolves to {address}, ")?,
        }
        match range {
            Some(range) => write!(
                f,
                "which is {} ({}): http steps reach such addresses only when http.allow lists them",
                range.name, range.net
            ),
            None => write!(
                f,
                "which http.allow does not list (http.allow_public = false)"
            ),
        }
    }
}

impl Policy {
    pub fn new(allow: Vec<AllowRule>, allow_public: bool) -> Policy {
        Policy {
            allow,
            allow_public,
        }
    }

    /// Whether the worker may connect to `address` to fetch `url` (whose host is `address`
    /// or resolved to it).
    pub fn check(&self, url: &Url, address: IpAddr) -> Result<(), Refusal> {
        if self.allow.iter().any(|rule| rule.lists(url)) {
            return Ok(());
        }
        let address = address.to_canonical();
        if self.allow.iter().any(|rule| rule.contains(address)) {
            return Ok(());
        }
        let refusal = |range| Refusal {
            host: url.host_str().unwrap_or_default().to_owned(),
            address,
            range,
        };
        match ranges::special(address) {
            Some(range) => Err(refusal(Some(range))),
            None if self.allow_public => Ok(()),
            None => Err(refusal(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(entries: &[&str]) -> Vec<AllowRule> {
        entries.iter().map(|e| e.parse().unwrap()).collect()
    }

    fn verdict(policy: &Policy, url: &str, address: &str) -> Result<(), String> {
        let url = Url::parse(url).unwrap();
        policy
            .check(&url, address.parse().unwrap())
            .map_err(|refusal| refusal.to_string())
    }

    #[test]
    fn by_default_public_addresses_pass_and_inside_ones_are_refused_naming_the_range() {
        let policy = Policy::new(vec![], true);
        assert_eq!(
            verdict(&policy, "https://example.com/x", "93.184.216.34"),
            Ok(())
        );
        let err = verdict(&policy, "http://127.0.0.1:9/", "127.0.0.1").unwrap_err();
        assert_eq!(
            err,
            "127.0.0.1, which is loopback (127.0.0.0/8): http steps reach such addresses only \
             when http.allow lists them"
        );
        let err = verdict(&policy, "http://metadata.internal/", "169.254.169.254").unwrap_err();
        assert!(
            err.starts_with("metadata.internal resolves to 169.254.169.254, which is link-local"),
            "{err}"
        );
        let err = verdict(&policy, "http://[::1]:9/", "::1").unwrap_err();
        assert!(err.starts_with("::1, which is loopback (::1/128)"), "{err}");
        let err = verdict(&policy, "http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1").unwrap_err();
        assert!(
            err.starts_with("[::ffff:a00:1] is 10.0.0.1, which is private"),
            "{err}"
        );
    }

    #[test]
    fn allow_list_only_refuses_unlisted_public_addresses() {
        let policy = Policy::new(rules(&["api.example.com"]), false);
        assert_eq!(
            verdict(&policy, "https://api.example.com/v1", "93.184.216.34"),
            Ok(())
        );
        let err = verdict(&policy, "https://example.org/", "93.184.216.34").unwrap_err();
        assert!(
            err.contains("example.org resolves to 93.184.216.34, which http.allow does not list"),
            "{err}"
        );
    }

    #[test]
    fn host_rules_match_the_host_as_written_and_the_port_if_given() {
        let policy = Policy::new(
            rules(&["127.0.0.1:8080", "Printer.LAN", "[::1]:9000"]),
            true,
        );
        let allowed = [
            ("http://127.0.0.1:8080/any/path", "127.0.0.1"),
            ("http://printer.lan/", "192.168.1.20"),
            ("https://printer.lan:8443/", "192.168.1.20"),
            ("http://[::1]:9000/", "::1"),
        ];
        for (url, address) in allowed {
            assert_eq!(verdict(&policy, url, address), Ok(()), "{url}");
        }
        let refused = [
            ("http://127.0.0.1:8081/", "127.0.0.1"),
            ("http://localhost:8080/", "127.0.0.1"),
            ("http://[::1]:9001/", "::1"),
            ("http://127.0.0.2:8080/", "127.0.0.2"),
        ];
        for (url, address) in refused {
            assert!(verdict(&policy, url, address).is_err(), "{url}");
        }
        // Port 80 written out is the same as http's default.
        let policy = Policy::new(rules(&["localhost:80"]), true);
        assert_eq!(verdict(&policy, "http://localhost/", "127.0.0.1"), Ok(()));
        assert!(verdict(&policy, "https://localhost/", "127.0.0.1").is_err());
    }

    #[test]
    fn prefix_rules_match_scheme_host_port_and_path_start() {
        let policy = Policy::new(rules(&["http://127.0.0.1:8080/api/"]), true);
        assert_eq!(
            verdict(&policy, "http://127.0.0.1:8080/api/x?q=1", "127.0.0.1"),
            Ok(())
        );
        for url in [
            "http://127.0.0.1:8080/admin",
            "http://127.0.0.1:8080/api",
            "https://127.0.0.1:8080/api/x",
            "http://127.0.0.1:8081/api/x",
            "http://127.0.0.1:8080/api/../admin",
            "http://localhost:8080/api/x",
        ] {
            assert!(verdict(&policy, url, "127.0.0.1").is_err(), "{url}");
        }
    }

    #[test]
    fn network_rules_match_the_resolved_address() {
        let policy = Policy::new(rules(&["10.0.0.0/8", "127.0.0.1/32"]), true);
        assert_eq!(verdict(&policy, "http://nas.lan/", "10.1.2.3"), Ok(()));
        assert_eq!(verdict(&policy, "http://localhost:1/", "127.0.0.1"), Ok(()));
        assert_eq!(verdict(&policy, "http://x/", "::ffff:10.1.2.3"), Ok(()));
        assert!(verdict(&policy, "http://nas.lan/", "192.168.0.1").is_err());
    }

    #[test]
    fn entries_parse_to_their_normal_form_or_say_what_is_wrong() {
        for (entry, normal) in [
            ("LOCALHOST:8080", "localhost:8080"),
            ("0x7f.1", "127.0.0.1"),
            ("[::1]:9000", "[::1]:9000"),
            ("::1", "[::1]"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://h:80/api/", "http://h/api/"),
            ("fd00::/8", "fd00::/8"),
        ] {
            let rule: AllowRule = entry.parse().unwrap();
            assert_eq!(rule.to_string(), normal, "{entry}");
            assert_eq!(rule, normal.parse().unwrap(), "{entry} round-trips");
        }
        for (entry, expected) in [
            ("*.lan", "wildcards are not supported"),
            ("host:http", "is not a port"),
            ("host/path", "is not an IP address"),
            ("user@host", "expected a host"),
            ("ftp://host/", "must be http(s)"),
            ("http://host/?q=1", "no query"),
            ("http://u:p@host/", "no user"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("[::1", "no closing"),
        ] {
            let err = entry.parse::<AllowRule>().unwrap_err();
            assert!(err.contains(expected), "{entry}: {err}");
        }
    }
}
