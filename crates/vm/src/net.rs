//! The VM's network: the container's interface handed over to the guest through a tap device.
//!
//! The container's network namespace is made by the engine or CNI as for a process container (a veth, usually
//! `eth0`, with the container's addresses, MAC and routes); the VMM runs in that namespace. [`wire`] then, inside
//! the namespace:
//! 1. reads the interface (the one given, else the one holding the default route, else `eth0`): MAC, MTU, its IPv4
//!    and IPv6 addresses (not IPv6 link-local ones: the guest derives the same from the MAC) and the routes whose
//!    output device it is, into a [`GuestNetwork`] (serde: the guest agent configures its NIC from it; the NIC gets
//!    the same MAC, so the neighbours' caches and holm's DNAT still match). What the guest cannot take (a route in
//!    another table, multipath, a point-to-point peer…) is refused here, [`NetError::Unsupported`], before
//!    anything changes;
//! 2. leaves those addresses on the veth: the ingress filter below takes every frame before the namespace's IP
//!    stack sees it, so that stack never answers for them, and the engine's network teardown (CNI's `DEL`, which
//!    finds the container's IP on the interface to remove its NAT rules) still finds them;
//! 3. creates a tap (`IFF_TAP|IFF_NO_PI|IFF_VNET_HDR`, not persistent) with the veth's MTU, up, whose fd goes to
//!    qemu as `-netdev tap,fd=N`;
//! 4. joins tap and veth with an ingress qdisc on each and a u32 filter matching every frame that redirects it to
//!    the other (`action mirred egress redirect`): Kata Containers' "tcfilter" model, no bridge, no IP stack in
//!    between. (u32, not `matchall`: some kernels, this machine's among them, lack `cls_matchall`.)
//!
//! [`wire_all`] does this for every interface the guest gets ([`guest_interfaces`]: each Ethernet one that is up
//! or has an address, `eth0` first), with taps `tap0`, `tap1`…: a container on two networks gets two NICs.
//!
//! Any failure undoes the steps already done (for [`wire_all`]: every interface wired so far too). [`unwire`] and
//! [`unwire_all`] undo a wiring from its saved [`TapWiring`]s (from another process too, e.g. `holm-runtime
//! delete`): ingress qdiscs removed, tap deleted, addresses and routes restored.
//! Every step runs on a short-lived thread that joined the namespace (`setns(2)` is per thread), so the caller's
//! namespace never changes. No async runtime.

mod read;
mod rtnl;

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use std::net::Ipv4Addr;

use holm_vm_proto::Scope;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use serde::{Deserialize, Serialize};

use read::read_in;
use rtnl::Rtnl;

/// An address with its prefix length, e.g. `10.88.0.5/16`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPrefix {
    /// The address.
    pub address: IpAddr,
    /// The prefix length in bits (0–32 for IPv4, 0–128 for IPv6).
    pub prefix_len: u8,
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// An address of the container's interface (serde: kept in the container's state; an older holm saved only
/// `address` and `prefix_len`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAddress {
    /// The address.
    pub address: IpAddr,
    /// The prefix length in bits (0–32 for IPv4, 0–128 for IPv6).
    pub prefix_len: u8,
    /// IPv4 broadcast address, if it has one.
    #[serde(default)]
    pub broadcast: Option<Ipv4Addr>,
    /// Its scope (IPv4; IPv6 ones are [`Scope::Universe`] here, the kernel derives theirs).
    #[serde(default)]
    pub scope: Scope,
    /// `noprefixroute`: the kernel adds no route for its prefix.
    #[serde(default)]
    pub noprefixroute: bool,
}

impl GuestAddress {
    /// The address and its prefix.
    pub fn prefix(&self) -> IpPrefix {
        IpPrefix {
            address: self.address,
            prefix_len: self.prefix_len,
        }
    }
}

/// A route through the container's interface that the guest sets up on its NIC (serde: kept in the container's
/// state; an older holm saved only `destination` and `gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestRoute {
    /// The destination; `None` for the default route.
    pub destination: Option<IpPrefix>,
    /// The next hop; `None` for a route on the link.
    pub gateway: Option<IpAddr>,
    /// An IPv6 route (what tells a default route without a gateway from an IPv4 one).
    #[serde(default)]
    pub ipv6: bool,
    /// Preferred source address (`src`).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Metric (`RTA_PRIORITY`), if the kernel reported one.
    #[serde(default)]
    pub metric: Option<u32>,
    /// Its scope; `None` (an older holm's state): link without a gateway, universe with one.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// `onlink`.
    #[serde(default)]
    pub onlink: bool,
    /// The route's path MTU (`mtu` metric), if set.
    #[serde(default)]
    pub mtu: Option<u32>,
}

impl GuestRoute {
    /// True for an IPv6 route.
    pub fn is_ipv6(&self) -> bool {
        match (&self.destination, &self.gateway) {
            (Some(d), _) => d.address.is_ipv6(),
            (None, Some(g)) => g.is_ipv6(),
            (None, None) => self.ipv6,
        }
    }

    /// Its scope (see [`GuestRoute::scope`]).
    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or(if self.gateway.is_some() {
            Scope::Universe
        } else {
            Scope::Link
        })
    }

    /// The guest protocol's form.
    pub fn to_proto(&self) -> holm_vm_proto::Route {
        let (destination, prefix_len) = match &self.destination {
            Some(d) => (d.address, d.prefix_len),
            None => (read::any(self.is_ipv6()), 0),
        };
        holm_vm_proto::Route {
            destination,
            prefix_len,
            gateway: self.gateway,
            source: self.source,
            metric: self.metric,
            scope: self.scope(),
            onlink: self.onlink,
            mtu: self.mtu,
        }
    }
}

/// The container interface's configuration, as the guest must take it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetwork {
    /// The interface's name in the container's namespace (the guest's NIC takes the same name).
    pub interface: String,
    /// Its MAC address, `aa:bb:cc:dd:ee:ff` (qemu's `virtio-net-device,mac=`).
    pub mac: String,
    /// Its MTU in bytes.
    pub mtu: u32,
    /// Its IPv4 and IPv6 addresses except IPv6 link-local ones (the guest derives the same from the MAC).
    pub addresses: Vec<GuestAddress>,
    /// The main table's routes through it, except those the kernel derives from the addresses.
    pub routes: Vec<GuestRoute>,
}

impl GuestNetwork {
    /// The guest protocol's form: the name, the MAC (how the agent finds the NIC), MTU, addresses and routes.
    pub fn to_proto(&self) -> holm_vm_proto::NetworkConfig {
        holm_vm_proto::NetworkConfig {
            interface: self.interface.clone(),
            mac: Some(self.mac.clone()),
            guest_mac: None,
            mtu: Some(self.mtu),
            addresses: self
                .addresses
                .iter()
                .map(|a| holm_vm_proto::Address {
                    address: a.address,
                    prefix_len: a.prefix_len,
                    broadcast: a.broadcast,
                    scope: a.scope,
                    noprefixroute: a.noprefixroute,
                })
                .collect(),
            routes: self.routes.iter().map(GuestRoute::to_proto).collect(),
        }
    }
}

/// What [`wire`] did, enough for [`unwire`] to undo it from any process (serde: kept in the container's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapWiring {
    /// The configuration moved to the guest.
    pub network: GuestNetwork,
    /// The tap device's name in the namespace.
    pub tap: String,
}

/// Errors of the tap wiring. Each names the step and the interface.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Joining the network namespace failed.
    #[error("setns into the container's network namespace: {0}")]
    Setns(#[source] holm_sys::Error),
    /// No interface to hand over.
    #[error("network namespace: no interface {0} (expected the container's veth)")]
    NoInterface(String),
    /// A netlink request failed.
    #[error("{step} {interface}: {source}")]
    Netlink {
        /// What was being done, e.g. `remove address 10.88.0.5/16 from`.
        step: String,
        /// The interface it was done on.
        interface: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// Creating the tap failed.
    #[error("create tap device: {0}")]
    Tap(#[source] holm_sys::Error),
    /// More interfaces than the guest protocol takes.
    #[error("network namespace: {0} interfaces to hand over, at most {max} supported", max = holm_vm_proto::MAX_NICS)]
    TooMany(usize),
    /// An interface of the namespace is already handed to a VM: an ingress redirect (holm's tap wiring) is on it.
    /// Two VMs cannot share one interface (one address, one MAC); e.g. a second VM container of a CRI pod.
    #[error(
        "network namespace: interface {0} is already handed to a VM (an ingress redirect is on it)"
    )]
    Taken(String),
    /// The namespace has an address or route the guest cannot take (nothing is wired).
    #[error("network namespace: {0}")]
    Unsupported(#[source] holm_vm_proto::InvalidNetwork),
    /// The worker thread panicked.
    #[error("network wiring thread panicked")]
    Thread,
}

fn nl(step: impl Into<String>, interface: &str) -> impl FnOnce(io::Error) -> NetError + '_ {
    let step = step.into();
    move |source| NetError::Netlink {
        step,
        interface: interface.to_string(),
        source,
    }
}

/// Runs `f` on a thread that joined the network namespace `netns` (an open `/proc/PID/ns/net` or a bind mount).
fn in_netns<T: Send>(
    netns: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            holm_sys::ns::setns(netns, holm_sys::ns::CLONE_NEWNET, "container netns")
                .map_err(NetError::Setns)?;
            f()
        })
        .join()
        .map_err(|_| NetError::Thread)?
    })
}

/// Reads the interface's configuration inside `netns` without changing anything.
///
/// # Errors
/// [`NetError::NoInterface`] when the named (or default-route, or `eth0`) interface is missing; netlink errors.
pub fn read_network(
    netns: BorrowedFd<'_>,
    interface: Option<&str>,
) -> Result<GuestNetwork, NetError> {
    in_netns(netns, || {
        let mut rt =
            Rtnl::open().map_err(nl("open netlink socket for", interface.unwrap_or("eth0")))?;
        read_in(&mut rt, interface).map(|(n, _)| n)
    })
}

fn address_message(index: u32, p: &GuestAddress) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if p.address.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = p.prefix_len;
    m.header.scope = AddressScope::from(p.scope.to_raw());
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(p.address));
    m.attributes.push(AddressAttribute::Address(p.address));
    if let Some(b) = p.broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if p.noprefixroute {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Noprefixroute));
    }
    m
}

fn route_message(index: u32, r: &GuestRoute) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if r.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::from(r.scope().to_raw());
    m.header.kind = RouteType::Unicast;
    if r.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    if let Some(d) = &r.destination {
        m.header.destination_prefix_length = d.prefix_len;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(d.address)));
    }
    if let Some(g) = r.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(g)));
    }
    if let Some(s) = r.source {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
    }
    if let Some(p) = r.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    if let Some(mtu) = r.mtu {
        m.attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
    }
    m.attributes.push(RouteAttribute::Oif(index));
    m
}

/// Hands the container's interface in `netns` over to a new tap named `tap` (at most 15 bytes): see the module
/// doc. Returns what was done and the tap's fd (close-on-exec; for qemu's `-netdev tap,fd=N`). On any error the
/// steps already taken are undone before returning.
///
/// # Errors
/// [`NetError`] naming the step and the interface.
pub fn wire(
    netns: BorrowedFd<'_>,
    interface: Option<&str>,
    tap: &str,
) -> Result<(TapWiring, OwnedFd), NetError> {
    in_netns(netns, || {
        let mut rt =
            Rtnl::open().map_err(nl("open netlink socket for", interface.unwrap_or("eth0")))?;
        let (network, veth) = read_in(&mut rt, interface)?;
        let wiring = TapWiring {
            network,
            tap: tap.to_string(),
        };
        match wire_in(&mut rt, &wiring, veth) {
            Ok(fd) => Ok((wiring, fd)),
            Err(e) => {
                let _ = unwire_in(&mut rt, &wiring);
                Err(e)
            }
        }
    })
}

fn wire_in(rt: &mut Rtnl, w: &TapWiring, veth: u32) -> Result<OwnedFd, NetError> {
    let name = &w.network.interface;
    let (fd, tap_name) = holm_sys::tun::open_tap(&w.tap, true).map_err(NetError::Tap)?;
    let tap = rt
        .link_by_name(&tap_name)
        .map_err(nl("read link", &tap_name))?
        .header
        .index;
    rt.set_mtu_up(tap, w.network.mtu)
        .map_err(nl("set mtu and up", &tap_name))?;
    rt.add_ingress_qdisc(veth)
        .map_err(nl("add ingress qdisc to", name))?;
    rt.add_ingress_qdisc(tap)
        .map_err(nl("add ingress qdisc to", &tap_name))?;
    rt.add_redirect(veth, tap)
        .map_err(nl(format!("redirect ingress to {tap_name} from"), name))?;
    rt.add_redirect(tap, veth)
        .map_err(nl(format!("redirect ingress to {name} from"), &tap_name))?;
    Ok(fd)
}

/// The interfaces of the current namespace the guest gets, `(name, ifindex)`: every Ethernet link (ARPHRD_ETHER,
/// not loopback) that is up or has a global address (a down, unaddressed one, e.g. a fallback `gretap0`, is not a
/// container network), ordered `eth0` first, then by name with a trailing number compared as a number
/// (`eth2` before `eth10`).
fn guest_interfaces(rt: &mut Rtnl) -> Result<Vec<(String, u32)>, NetError> {
    let links = rt
        .links()
        .map_err(nl("list links of the namespace:", "all"))?;
    let mut out = Vec::new();
    for l in links {
        if l.header.link_layer_type != LinkLayerType::Ether
            || l.header.flags.contains(LinkFlags::Loopback)
        {
            continue;
        }
        let Some(name) = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }) else {
            continue;
        };
        let index = l.header.index;
        let up = l.header.flags.contains(LinkFlags::Up);
        if up
            || rt
                .addresses(index)
                .map_err(nl("read addresses of", &name))?
                .iter()
                .any(|a| a.header.scope == AddressScope::Universe)
        {
            out.push((name, index));
        }
    }
    out.sort_by_key(|(name, _)| order_key(name));
    Ok(out)
}

/// `eth0` first, then by the name's text, then its trailing number as a number.
fn order_key(name: &str) -> (bool, String, u64, String) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (
        name != "eth0",
        stem.to_string(),
        num.parse().unwrap_or(0),
        name.to_string(),
    )
}

/// Hands every interface of `netns` the guest gets (see [`guest_interfaces`]) over to its own tap, `tap0`,
/// `tap1`… in that order, as [`wire`] does for one. Returns the wirings and the taps' fds in that order (empty
/// when the namespace has no such interface: the guest gets only `lo`). On any error every interface wired so
/// far is unwired before returning, so nothing (no tap, qdisc or address change) is left.
///
/// # Errors
/// [`NetError`] naming the step and the interface; [`NetError::TooMany`] beyond
/// [`holm_vm_proto::MAX_NICS`] interfaces; [`NetError::Taken`] (nothing done) when an interface already has an
/// ingress redirect (it is another VM's).
pub fn wire_all(netns: BorrowedFd<'_>) -> Result<Vec<(TapWiring, OwnedFd)>, NetError> {
    in_netns(netns, || {
        let mut rt = Rtnl::open().map_err(nl("open netlink socket for", "all"))?;
        let names = guest_interfaces(&mut rt)?;
        if names.len() > holm_vm_proto::MAX_NICS {
            return Err(NetError::TooMany(names.len()));
        }
        // Nothing is wired when any interface (a veth, or another VM's tap) already redirects its frames: the
        // namespace's interfaces belong to another VM.
        for (name, index) in &names {
            match rt.ingress_redirects(*index) {
                Ok(r) if !r.is_empty() => return Err(NetError::Taken(name.clone())),
                Ok(_) => {}
                // No ingress qdisc on the link: nothing redirects.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {}
                Err(e) => return Err(nl("read ingress filters of", name)(e)),
            }
        }
        let mut done: Vec<(TapWiring, OwnedFd)> = Vec::new();
        let undo = |rt: &mut Rtnl, done: &[(TapWiring, OwnedFd)]| {
            for (w, _) in done.iter().rev() {
                let _ = unwire_in(rt, w);
            }
        };
        for (i, (name, _)) in names.iter().enumerate() {
            let (network, veth) = match read_in(&mut rt, Some(name)) {
                Ok(x) => x,
                Err(e) => {
                    undo(&mut rt, &done);
                    return Err(e);
                }
            };
            let wiring = TapWiring {
                network,
                tap: format!("tap{i}"),
            };
            match wire_in(&mut rt, &wiring, veth) {
                Ok(fd) => done.push((wiring, fd)),
                Err(e) => {
                    let _ = unwire_in(&mut rt, &wiring);
                    undo(&mut rt, &done);
                    return Err(e);
                }
            }
        }
        Ok(done)
    })
}

/// Undoes [`wire_all`] (or [`wire`]s) inside `netns`: [`unwire`] of each wiring, the last one first. Every
/// wiring is attempted.
///
/// # Errors
/// The first [`NetError`].
pub fn unwire_all(netns: BorrowedFd<'_>, wirings: &[TapWiring]) -> Result<(), NetError> {
    in_netns(netns, || {
        let mut rt = Rtnl::open().map_err(nl("open netlink socket for", "all"))?;
        let mut first = None;
        for w in wirings.iter().rev() {
            if let Err(e) = unwire_in(&mut rt, w) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    })
}

/// Undoes [`wire`] inside `netns`: removes the veth's ingress qdisc (and its filter), deletes the tap if it still
/// exists (it also goes away by itself when qemu and every other holder of its fd are gone), and makes sure the
/// veth has its addresses and routes (a wiring saved by an older holm had taken them off). Steps whose work is already undone are not errors, so it can run more than once.
///
/// # Errors
/// [`NetError`] for the first step that failed otherwise (the later steps are still attempted).
pub fn unwire(netns: BorrowedFd<'_>, wiring: &TapWiring) -> Result<(), NetError> {
    let netns = netns.as_fd();
    in_netns(netns, || {
        let mut rt =
            Rtnl::open().map_err(nl("open netlink socket for", &wiring.network.interface))?;
        unwire_in(&mut rt, wiring)
    })
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENODEV | libc::EINVAL | libc::EEXIST | libc::EADDRNOTAVAIL)
    )
}

fn unwire_in(rt: &mut Rtnl, w: &TapWiring) -> Result<(), NetError> {
    let name = &w.network.interface;
    let mut first: Option<NetError> = None;
    let mut keep = |r: Result<(), NetError>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    let veth = match rt.link_by_name(name) {
        Ok(l) => Some(l.header.index),
        Err(e) if gone(&e) => None,
        Err(e) => return Err(nl("read link", name)(e)),
    };
    if let Some(veth) = veth {
        keep(
            rt.del_ingress_qdisc(veth)
                .or_else(|e| if gone(&e) { Ok(()) } else { Err(e) })
                .map_err(nl("remove ingress qdisc from", name)),
        );
    }
    match rt.link_by_name(&w.tap) {
        Ok(l) => keep(
            rt.del_link(l.header.index)
                .or_else(|e| if gone(&e) { Ok(()) } else { Err(e) })
                .map_err(nl("delete tap", &w.tap)),
        ),
        Err(e) if gone(&e) => {}
        Err(e) => keep(Err(nl("read link", &w.tap)(e))),
    }
    if let Some(veth) = veth {
        for a in &w.network.addresses {
            keep(
                rt.add_address(address_message(veth, a))
                    .or_else(|e| if gone(&e) { Ok(()) } else { Err(e) })
                    .map_err(nl(format!("restore address {} on", a.prefix()), name)),
            );
        }
        for r in &w.network.routes {
            keep(
                rt.add_route(route_message(veth, r))
                    .or_else(|e| if gone(&e) { Ok(()) } else { Err(e) })
                    .map_err(nl("restore route on", name)),
            );
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The ifindexes the ingress filters of `interface` in `netns` redirect to (for tests and diagnostics).
///
/// # Errors
/// [`NetError`] when the interface or its filters cannot be read.
pub fn ingress_redirects(netns: BorrowedFd<'_>, interface: &str) -> Result<Vec<u32>, NetError> {
    in_netns(netns, || {
        let mut rt = Rtnl::open().map_err(nl("open netlink socket for", interface))?;
        let index = rt
            .link_by_name(interface)
            .map_err(nl("read link", interface))?
            .header
            .index;
        rt.ingress_redirects(index)
            .map_err(nl("read ingress filters of", interface))
    })
}

#[cfg(test)]
mod tests {
    use super::{order_key, TapWiring};

    #[test]
    fn a_wiring_an_older_holm_saved_still_reads() {
        let old = r#"{"network":{"interface":"eth0","mac":"02:42:0a:00:00:02","mtu":1500,
            "addresses":[{"address":"fd00::2","prefix_len":64}],
            "routes":[{"destination":null,"gateway":"fd00::1"},
                      {"destination":{"address":"10.1.0.0","prefix_len":16},"gateway":null}]},"tap":"tap0"}"#;
        let w: TapWiring = serde_json::from_str(old).unwrap();
        assert_eq!(w.tap, "tap0");
        let r = &w.network.routes;
        assert!(r[0].is_ipv6() && !r[1].is_ipv6());
        assert_eq!(r[0].scope(), holm_vm_proto::Scope::Universe);
        assert_eq!(r[1].scope(), holm_vm_proto::Scope::Link);
        assert_eq!(
            r[0].to_proto().to_string(),
            "route default (IPv6) via fd00::1"
        );
    }

    #[test]
    fn interfaces_are_ordered_eth0_first_and_numbers_as_numbers() {
        let mut names = vec!["eth10", "net1", "eth2", "eth1", "eth0", "abc"];
        names.sort_by_key(|n| order_key(n));
        assert_eq!(names, ["eth0", "abc", "eth1", "eth2", "eth10", "net1"]);
    }
}
