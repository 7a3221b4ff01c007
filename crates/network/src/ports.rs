//! `-p/--publish`: parsing docker's `[IP:][HOSTPORT:]CPORT[/tcp|/udp]` (ports or equal-length ranges `A-B`), and
//! the host ports held bound while a container runs, as docker's proxy and podman's conmon hold them: a port that a
//! host process or another container already has fails the run with docker's message, and nothing else can take
//! it while the container publishes it. TCP ports are held by a listening socket, UDP ports by a bound one; the
//! firewall's DNAT (see [`crate::nat`]) sends the traffic to the container before it reaches them.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortBinding {
    /// The host address (`0.0.0.0`: every address).
    pub host_ip: Ipv4Addr,
    /// The host port; 0 until [`reserve`] picked one when none was asked for.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub proto: Proto,
}

impl PortBinding {
    /// `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto.as_str())
    }

    /// `0.0.0.0:8080`.
    pub fn host_addr(&self) -> String {
        format!("{}:{}", self.host_ip, self.host_port)
    }
}

fn parse_range(s: &str, bad: &dyn Fn(&str) -> Error) -> Result<(u16, u16)> {
    let num = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(&format!("invalid port '{p}'")))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad(&format!("invalid range '{s}'")));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

/// Parses one `-p` value into its bindings (one per port of a range). Errors name the value.
pub fn parse_publish(value: &str) -> Result<Vec<PortBinding>> {
    let bad = |why: &str| Error::BadPublish {
        value: value.to_string(),
        why: why.to_string(),
    };
    let (spec, proto) = match value.rsplit_once('/') {
        Some((s, "tcp")) => (s, Proto::Tcp),
        Some((s, "udp")) => (s, Proto::Udp),
        Some((_, p)) => return Err(bad(&format!("unsupported protocol '{p}' (tcp or udp)"))),
        None => (value, Proto::Tcp),
    };
    if spec.starts_with('[') {
        return Err(bad("IPv6 host addresses are not supported"));
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(bad("expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]")),
    };
    let host_ip = if ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip.parse()
            .map_err(|_| bad(&format!("invalid IP address '{ip}'")))?
    };
    let (c0, c1) = parse_range(ctr, &bad)?;
    // No host port, or docker's `0`: one picked by [`reserve`] for each container port.
    let (h0, h1) = if host.is_empty() || host == "0" {
        (0, 0)
    } else {
        parse_range(host, &bad)?
    };
    if h1 == 0 || (h0 == h1 && c0 == c1) {
        return Ok((c0..=c1)
            .map(|c| PortBinding {
                host_ip,
                host_port: h0,
                container_port: c,
                proto,
            })
            .collect());
    }
    if h1 - h0 != c1 - c0 {
        return Err(bad("the host and container port ranges differ in length"));
    }
    Ok((c0..=c1)
        .zip(h0..=h1)
        .map(|(c, h)| PortBinding {
            host_ip,
            host_port: h,
            container_port: c,
            proto,
        })
        .collect())
}

/// Binds every host port of `bindings` (picking a free one where the host port is 0) and returns the bindings
/// with their host ports and the sockets holding them. On failure nothing stays bound.
///
/// Errors: [`Error::PortAllocated`] (`Bind for 0.0.0.0:8080 failed: port is already allocated`) when a port is
/// taken, [`Error::Bind`] otherwise.
pub fn reserve(bindings: &[PortBinding]) -> Result<Vec<(PortBinding, OwnedFd)>> {
    let mut out = Vec::with_capacity(bindings.len());
    for b in bindings {
        let addr = SocketAddrV4::new(b.host_ip, b.host_port);
        let fail = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Error::PortAllocated {
                    addr: b.host_addr(),
                }
            } else {
                Error::Bind {
                    addr: b.host_addr(),
                    source: e,
                }
            }
        };
        let (fd, port) = match b.proto {
            Proto::Tcp => {
                let l = TcpListener::bind(addr).map_err(fail)?;
                let port = l.local_addr().map_err(fail)?.port();
                (OwnedFd::from(l), port)
            }
            Proto::Udp => {
                let s = UdpSocket::bind(addr).map_err(fail)?;
                let port = s.local_addr().map_err(fail)?.port();
                (OwnedFd::from(s), port)
            }
        };
        out.push((
            PortBinding {
                host_port: port,
                ..*b
            },
            fd,
        ));
    }
    Ok(out)
}

/// True if `a` and `b` claim the same host port: same protocol and port, on the same address or with either on
/// every address (`0.0.0.0`).
pub fn overlaps(a: &PortBinding, b: &PortBinding) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

/// [`reserve`], also refusing host ports that `recorded` (the ports other live containers publish, whose holding
/// sockets may be gone with their monitor while their DNAT rules still send the traffic to them) claims. A binding
/// with no host port asked for gets another free one instead (the clashing socket is held while the next is
/// picked, so the kernel does not hand out the same port again).
///
/// Errors: as [`reserve`]; [`Error::PortAllocated`] also for a port in `recorded`.
pub fn reserve_avoiding(
    bindings: &[PortBinding],
    recorded: &[PortBinding],
) -> Result<Vec<(PortBinding, OwnedFd)>> {
    let mut out = Vec::with_capacity(bindings.len());
    for b in bindings {
        let mut skipped = Vec::new();
        loop {
            let (got, fd) = reserve(std::slice::from_ref(b))?
                .pop()
                .expect("one binding reserved");
            if !recorded.iter().any(|r| overlaps(r, &got)) {
                out.push((got, fd));
                break;
            }
            if b.host_port != 0 || skipped.len() >= 64 {
                return Err(Error::PortAllocated {
                    addr: got.host_addr(),
                });
            }
            skipped.push(fd);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let b = parse_publish("8080:80").unwrap();
        assert_eq!(
            b,
            vec![PortBinding {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp
            }]
        );
        let b = parse_publish("127.0.0.1::53/udp").unwrap();
        assert_eq!(b[0].host_ip, Ipv4Addr::LOCALHOST);
        assert_eq!(b[0].host_port, 0);
        assert_eq!(b[0].proto, Proto::Udp);
        assert_eq!(b[0].key(), "53/udp");
        let b = parse_publish("9000-9002:80-82").unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b[2].host_port, b[2].container_port), (9002, 82));
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
        for bad in [
            "x",
            "0",
            "70000",
            "80/sctp",
            "1:2:3:4",
            "a.b:80:80",
            "9000-9001:80",
            "[::1]:80:80",
            "90-80",
        ] {
            let e = parse_publish(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("\"{bad}\"")), "{bad}: {e}");
        }
    }

    #[test]
    fn reserve_holds_and_conflicts() {
        let r = reserve(&parse_publish("127.0.0.1::80").unwrap()).unwrap();
        let port = r[0].0.host_port;
        assert_ne!(port, 0);
        let again = PortBinding {
            host_port: port,
            ..r[0].0
        };
        let e = reserve(&[again]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        drop(r);
        assert!(reserve(&[again]).is_ok());
    }

    #[test]
    fn reserve_avoiding_refuses_recorded_ports() {
        let free = reserve(&parse_publish("127.0.0.1::80").unwrap()).unwrap();
        let port = free[0].0.host_port;
        drop(free);
        // Recorded on every address by a container whose monitor is gone: nothing holds the port bound.
        let recorded = PortBinding {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: port,
            container_port: 80,
            proto: Proto::Tcp,
        };
        let want = PortBinding {
            host_ip: Ipv4Addr::LOCALHOST,
            ..recorded
        };
        let e = reserve_avoiding(&[want], &[recorded])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        // Another protocol is another port.
        let udp = PortBinding {
            proto: Proto::Udp,
            ..want
        };
        assert!(reserve_avoiding(&[udp], &[recorded]).is_ok());
        assert!(reserve_avoiding(&[want], &[]).is_ok());
        assert!(!overlaps(
            &want,
            &PortBinding {
                host_ip: Ipv4Addr::new(10, 0, 0, 1),
                ..want
            }
        ));
    }
}
