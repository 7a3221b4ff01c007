//! The container's `/etc/resolv.conf`, `/etc/hosts` and `/etc/hostname`, as docker writes them (the engine
//! bind-mounts them from the container's directory).
//!
//! `resolv.conf`: the host's, with `--dns` replacing its nameservers. In a network namespace of its own a
//! container cannot reach the host's loopback, so `127.0.0.0/8` and `::1` nameservers (systemd-resolved's stub,
//! dnsmasq) are dropped; if none is left, docker's fallback, Google's public `8.8.8.8` and `8.8.4.4`, is used
//! (on a user network the engine names the network's own name server instead, see `crate::dns`). With `--network host` the host's file is used as it
//! is.

use crate::{Error, Mode, Result, GATEWAY};
use std::net::{IpAddr, Ipv4Addr};

/// docker's fallback nameservers when the host has only loopback ones.
pub const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

fn is_loopback(ns: &str) -> bool {
    ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The container's `resolv.conf` from the host's `host` content, `--dns` servers and the network mode.
pub fn resolv_conf(host: &str, dns: &[String], mode: Mode) -> String {
    if mode == Mode::Host && dns.is_empty() {
        return host.to_string();
    }
    let mut out = String::new();
    let mut servers = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next() {
                    if mode == Mode::Host || !is_loopback(ns) {
                        servers.push(ns.to_string());
                    }
                }
            }
            Some(w) if w.starts_with('#') || w.starts_with(';') => {}
            Some(_) => {
                out.push_str(line.trim());
                out.push('\n');
            }
            None => {}
        }
    }
    if !dns.is_empty() {
        servers = dns.to_vec();
    } else if servers.is_empty() {
        servers = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    let mut ns: String = servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect();
    ns.push_str(&out);
    ns
}

/// Checks a `--dns` value (an IP address).
pub fn parse_dns(s: &str) -> Result<String> {
    s.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| Error::BadFlag {
            flag: "--dns",
            value: s.to_string(),
            why: "not an IP address".into(),
        })
}

/// Parses `--add-host NAME:IP` (`host-gateway` as IP: the bridge's gateway).
pub fn parse_add_host(s: &str) -> Result<(String, IpAddr)> {
    let bad = |why: &str| Error::BadFlag {
        flag: "--add-host",
        value: s.to_string(),
        why: why.to_string(),
    };
    let (name, ip) = s
        .split_once(':')
        .or_else(|| s.split_once('='))
        .ok_or_else(|| bad("expected HOST:IP"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("invalid host name"));
    }
    let ip = if ip == "host-gateway" {
        IpAddr::V4(GATEWAY)
    } else {
        ip.trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| bad(&format!("invalid IP address '{ip}'")))?
    };
    Ok((name.to_string(), ip))
}

/// The container's `/etc/hosts`: docker's localhost lines, `--add-host` entries, and its hostname on its address.
pub fn hosts(hostname: &str, ip: Option<Ipv4Addr>, extra: &[(String, IpAddr)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, addr) in extra {
        s.push_str(&format!("{addr}\t{name}\n"));
    }
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch example.com\noptions ndots:2\n";
        let r = resolv_conf(host, &[], Mode::Bridge);
        assert_eq!(
            r,
            "nameserver 10.0.0.1\nsearch example.com\noptions ndots:2\n"
        );
        let only_local = "nameserver 127.0.0.53\nnameserver ::1\n";
        assert_eq!(
            resolv_conf(only_local, &[], Mode::Bridge),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf(only_local, &[], Mode::Host), only_local);
        assert_eq!(
            resolv_conf(host, &["1.1.1.1".into()], Mode::Bridge),
            "nameserver 1.1.1.1\nsearch example.com\noptions ndots:2\n"
        );
        assert!(parse_dns("x").is_err());
    }

    #[test]
    fn hosts_file() {
        let extra = vec![parse_add_host("db:10.0.0.9").unwrap()];
        let h = hosts("abc", Some(Ipv4Addr::new(10, 77, 0, 2)), &extra);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.9\tdb\n"));
        assert!(h.ends_with("10.77.0.2\tabc\n"));
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap().1,
            IpAddr::V4(GATEWAY)
        );
        assert!(parse_add_host("nocolon").is_err());
        assert!(parse_add_host("a:notanip").is_err());
    }
}
