//! A NIC's configuration in [`crate::CreateRequest::networks`]: what the container's interface has in its network
//! namespace on the host (MTU, addresses, the routes through it), for the agent to give the guest's NIC.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// Most addresses one [`NetworkConfig`] may carry.
pub const MAX_ADDRESSES: usize = 64;
/// Most routes one [`NetworkConfig`] may carry.
pub const MAX_ROUTES: usize = 256;

/// One NIC's setup (the container interface's MAC, MTU, addresses and routes, so the host's DNAT rules, the
/// neighbours' caches and the container's view of its network match a process container's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Interface name in the guest (`eth0`, `eth1`…: the container interface's name); the agent renames the NIC
    /// with [`NetworkConfig::mac`] to it.
    pub interface: String,
    /// The NIC's MAC address, `aa:bb:cc:dd:ee:ff` (qemu's `virtio-net-device,mac=`): how the agent finds which
    /// guest NIC this is (the guest kernel names them in its own probe order). `None`: the NIC already named
    /// [`NetworkConfig::interface`].
    #[serde(default)]
    pub mac: Option<String>,
    /// The MAC the guest's NIC has now when it differs from [`NetworkConfig::mac`]: a guest restored from a
    /// snapshot keeps the NICs of the VM that was saved (same order, that VM's MACs). The agent finds the NIC by
    /// this address and gives it [`NetworkConfig::mac`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_mac: Option<String>,
    /// MTU in bytes, if not the default.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// The interface's addresses, IPv4 and IPv6, in the namespace's order (IPv4: the primary address of a subnet
    /// before its secondaries). IPv6 link-local ones are not carried: the guest derives the same from the MAC.
    /// At most [`MAX_ADDRESSES`].
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// The routes whose output device is this interface (main table), except those the kernel derives from the
    /// addresses. Applied after every NIC's addresses, routes without a gateway first ([`apply_order`]). At most
    /// [`MAX_ROUTES`].
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// rtnetlink's scope (`RT_SCOPE_*`) of an address or a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `RT_SCOPE_UNIVERSE` (0): global; every IPv6 route has it.
    #[default]
    Universe,
    /// `RT_SCOPE_SITE` (200).
    Site,
    /// `RT_SCOPE_LINK` (253): e.g. an IPv4 route without a gateway.
    Link,
    /// `RT_SCOPE_HOST` (254).
    Host,
}

impl Scope {
    /// The `RT_SCOPE_*` value.
    pub fn to_raw(self) -> u8 {
        match self {
            Scope::Universe => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
        }
    }
}

/// An interface address, as `ip addr add ADDRESS/PREFIX_LEN [broadcast B] [scope S] [noprefixroute]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// The address.
    pub address: IpAddr,
    /// Prefix length in bits (0–32 for IPv4, 0–128 for IPv6).
    pub prefix_len: u8,
    /// IPv4 broadcast address (`IFA_BROADCAST`), if the namespace's address has one.
    #[serde(default)]
    pub broadcast: Option<Ipv4Addr>,
    /// Its scope (IPv4; IPv6 addresses take the scope their kind implies).
    #[serde(default)]
    pub scope: Scope,
    /// `IFA_F_NOPREFIXROUTE`: the kernel adds no route for the prefix.
    #[serde(default)]
    pub noprefixroute: bool,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "address {}/{}", self.address, self.prefix_len)
    }
}

/// A unicast route out of the NIC, as `ip route add DESTINATION/PREFIX_LEN [via GATEWAY] [src SOURCE] [metric M]
/// [scope S] [onlink] [mtu MTU] dev NIC` (main table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The destination network (`0.0.0.0` or `::` with prefix length 0: the default route). Its family is the
    /// route's.
    pub destination: IpAddr,
    /// The destination's prefix length in bits.
    pub prefix_len: u8,
    /// The next hop (same family; an IPv6 one may be link-local); `None`: the destination is on the link.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Preferred source address (`RTA_PREFSRC`; one of the guest's addresses, same family).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Metric (`RTA_PRIORITY`); `None`: the kernel's default (0 for IPv4, 1024 for IPv6).
    #[serde(default)]
    pub metric: Option<u32>,
    /// The route's scope.
    #[serde(default)]
    pub scope: Scope,
    /// `RTNH_F_ONLINK`: the gateway is on the link even if no prefix says so.
    #[serde(default)]
    pub onlink: bool,
    /// Path MTU (`RTAX_MTU`), if set on the route.
    #[serde(default)]
    pub mtu: Option<u32>,
}

impl std::fmt::Display for Route {
    /// `ip route`'s form: `route 10.1.0.0/16 via 10.0.0.1 src 10.0.0.2 metric 5 onlink`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix_len == 0 {
            write!(f, "route default")?;
            if self.destination.is_ipv6() {
                write!(f, " (IPv6)")?;
            }
        } else {
            write!(f, "route {}/{}", self.destination, self.prefix_len)?;
        }
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(s) = self.source {
            write!(f, " src {s}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        Ok(())
    }
}

/// Why a [`NetworkConfig`] cannot be applied as it is. The message names the interface and the address or route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interface {interface}: {what}: {why}")]
pub struct InvalidNetwork {
    /// The interface.
    pub interface: String,
    /// The address or route (its [`Display`](std::fmt::Display) form), or `addresses`/`routes`.
    pub what: String,
    /// What is wrong.
    pub why: String,
}

fn max_prefix(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// True if `ip` is in `net/len` (same family).
pub fn contains(net: &IpAddr, len: u8, ip: &IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(*n) & mask == u32::from(*i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(*n) & mask == u128::from(*i) & mask
        }
        _ => false,
    }
}

/// True for an IPv6 link-local unicast address (fe80::/10).
pub fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

impl NetworkConfig {
    /// Checks what decoding cannot: list lengths, prefix lengths, families (a route's gateway and source, an
    /// address's broadcast), a destination without host bits, and that each gateway route's gateway is on the
    /// link: `onlink`, IPv6 link-local, or inside one of this NIC's address prefixes (without `noprefixroute`) or
    /// one of its routes without a gateway. The host checks before it sends, the agent again before it applies.
    ///
    /// # Errors
    /// The first problem, naming the interface and the address or route.
    pub fn validate(&self) -> Result<(), InvalidNetwork> {
        let bad = |what: String, why: String| InvalidNetwork {
            interface: self.interface.clone(),
            what,
            why,
        };
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(bad(
                "addresses".into(),
                format!("{} of them, at most {MAX_ADDRESSES}", self.addresses.len()),
            ));
        }
        if self.routes.len() > MAX_ROUTES {
            return Err(bad(
                "routes".into(),
                format!("{} of them, at most {MAX_ROUTES}", self.routes.len()),
            ));
        }
        for a in &self.addresses {
            if a.prefix_len > max_prefix(&a.address) {
                return Err(bad(a.to_string(), "prefix length out of range".into()));
            }
            if a.broadcast.is_some() && a.address.is_ipv6() {
                return Err(bad(a.to_string(), "a broadcast address for IPv6".into()));
            }
            if is_ipv6_link_local(&a.address) {
                return Err(bad(
                    a.to_string(),
                    "IPv6 link-local addresses are the guest's own".into(),
                ));
            }
        }
        for r in &self.routes {
            let v4 = r.destination.is_ipv4();
            if r.prefix_len > max_prefix(&r.destination) {
                return Err(bad(r.to_string(), "prefix length out of range".into()));
            }
            if !is_network(&r.destination, r.prefix_len) {
                return Err(bad(
                    r.to_string(),
                    "the destination has host bits set".into(),
                ));
            }
            for (field, ip) in [("gateway", r.gateway), ("source", r.source)] {
                if ip.is_some_and(|ip| ip.is_ipv4() != v4) {
                    return Err(bad(
                        r.to_string(),
                        format!("the {field} is not of the destination's family"),
                    ));
                }
            }
            if let Some(g) = r.gateway {
                let on_link = r.onlink
                    || is_ipv6_link_local(&g)
                    || self
                        .addresses
                        .iter()
                        .any(|a| !a.noprefixroute && contains(&a.address, a.prefix_len, &g))
                    || self
                        .routes
                        .iter()
                        .any(|l| l.gateway.is_none() && contains(&l.destination, l.prefix_len, &g));
                if !on_link {
                    return Err(bad(
                        r.to_string(),
                        format!(
                            "gateway {g} is not on the link (no address prefix or route without a gateway \
                             covers it, and the route is not onlink)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// True if `ip` has no bits set after the first `len`.
fn is_network(ip: &IpAddr, len: u8) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            u32::from(*v) & host == 0
        }
        IpAddr::V6(v) => {
            let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            u128::from(*v) & host == 0
        }
    }
}

/// The order the agent adds the routes of all NICs in, as `(index into nets, route)`: the routes without a
/// gateway first (they make gateways reachable), then those with one, each group in the NICs' and the
/// namespace's order. A gateway is always directly on a link (the kernel takes no recursive gateway), so two
/// passes suffice.
pub fn apply_order(nets: &[NetworkConfig]) -> Vec<(usize, &Route)> {
    let all = nets
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.routes.iter().map(move |r| (i, r)));
    let (link, via): (Vec<_>, Vec<_>) = all.partition(|(_, r)| r.gateway.is_none());
    link.into_iter().chain(via).collect()
}
