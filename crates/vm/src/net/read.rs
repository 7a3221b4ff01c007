//! Reading a container interface's configuration for the guest: its MAC and MTU, every address except IPv6
//! link-local ones, and every route whose output device it is. What the guest cannot take (another routing table,
//! multipath, a route type or attribute other than those [`holm_vm_proto::Route`] carries, a point-to-point peer,
//! a `blackhole`/`unreachable`/`prohibit`/`throw` route of the namespace, which has no interface) is refused with one line naming the interface and the address or route, before anything is wired.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressScope};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::AddressFamily;

use holm_vm_proto::{is_ipv6_link_local, InvalidNetwork, Scope};

use super::rtnl::{address_of, route_ip, route_oif, Rtnl};
use super::{nl, GuestAddress, GuestNetwork, GuestRoute, IpPrefix, NetError};

/// rtnetlink's `RT_TABLE_LOCAL`: the kernel's own local and broadcast routes, derived from the addresses.
const RT_TABLE_LOCAL: u32 = 255;

fn default_route_link(rt: &mut Rtnl) -> Option<u32> {
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let routes = rt.routes(family).ok()?;
        if let Some(i) = routes
            .iter()
            .find(|r| r.header.destination_prefix_length == 0)
            .and_then(route_oif)
        {
            return Some(i);
        }
    }
    None
}

fn refuse(interface: &str, what: String, why: impl Into<String>) -> NetError {
    NetError::Unsupported(InvalidNetwork {
        interface: interface.to_string(),
        what,
        why: why.into(),
    })
}

/// Reads the interface (`interface`, else the one holding the default route, else `eth0`) and its ifindex.
pub(super) fn read_in(
    rt: &mut Rtnl,
    interface: Option<&str>,
) -> Result<(GuestNetwork, u32), NetError> {
    let link = match interface {
        Some(name) => rt.link_by_name(name),
        None => match default_route_link(rt) {
            Some(index) => rt.link_by_index(index),
            None => rt.link_by_name("eth0"),
        },
    };
    let link = match link {
        Ok(l) => l,
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            return Err(NetError::NoInterface(
                interface.unwrap_or("eth0").to_string(),
            ));
        }
        Err(e) => return Err(nl("read link", interface.unwrap_or("eth0"))(e)),
    };
    let index = link.header.index;
    let mut name = String::new();
    let mut mac = Vec::new();
    let mut mtu = 1500;
    for a in &link.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(m) => mac = m.clone(),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    let mac = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let addresses = read_addresses(rt, index, &name)?;
    let mut routes = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        for r in rt.all_routes(family).map_err(nl("read routes of", &name))? {
            if let Some((what, why)) = reject_route(&r) {
                return Err(refuse(&name, what, why));
            }
            if let Some(g) =
                guest_route(&r, index).map_err(|(what, why)| refuse(&name, what, why))?
            {
                routes.push(g);
            }
        }
    }
    let network = GuestNetwork {
        interface: name,
        mac,
        mtu,
        addresses,
        routes,
    };
    network
        .to_proto()
        .validate()
        .map_err(NetError::Unsupported)?;
    Ok((network, index))
}

fn read_addresses(rt: &mut Rtnl, index: u32, name: &str) -> Result<Vec<GuestAddress>, NetError> {
    let mut out = Vec::new();
    for a in rt.addresses(index).map_err(nl("read addresses of", name))? {
        let Some(ip) = address_of(&a) else { continue };
        if is_ipv6_link_local(&ip) {
            continue;
        }
        let what = format!("address {ip}/{}", a.header.prefix_len);
        let mut flags = AddressFlags::from_bits_retain(u32::from(a.header.flags.bits()));
        let mut broadcast = None;
        for attr in &a.attributes {
            match attr {
                AddressAttribute::Flags(f) => flags = *f,
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Address(peer) if ip.is_ipv4() && *peer != ip => {
                    return Err(refuse(
                        name,
                        what,
                        format!("a point-to-point peer ({peer}) is not supported in the guest"),
                    ));
                }
                _ => {}
            }
        }
        let scope = match a.header.scope {
            AddressScope::Universe => Scope::Universe,
            AddressScope::Site => Scope::Site,
            AddressScope::Link => Scope::Link,
            AddressScope::Host => Scope::Host,
            other => {
                return Err(refuse(
                    name,
                    what,
                    format!("scope {other:?} is not supported"),
                ))
            }
        };
        out.push(GuestAddress {
            address: ip,
            prefix_len: a.header.prefix_len,
            broadcast,
            // IPv6 addresses take the scope of their kind in the guest as here.
            scope: if ip.is_ipv4() { scope } else { Scope::Universe },
            noprefixroute: flags.contains(AddressFlags::Noprefixroute),
        });
    }
    Ok(out)
}

/// A `blackhole`, `unreachable`, `prohibit` or `throw` route of the namespace's main table, as `(what, why)`: it
/// has no output device (IPv6 ones hang on `lo`), so no interface's routes carry it, and the guest would send its
/// traffic out of its default route where the namespace drops it. Refused rather than dropped silently.
fn reject_route(r: &RouteMessage) -> Option<(String, String)> {
    let h = &r.header;
    let kind = match h.kind {
        RouteType::BlackHole => "blackhole",
        RouteType::Unreachable => "unreachable",
        RouteType::Prohibit => "prohibit",
        RouteType::Throw => "throw",
        _ => return None,
    };
    let mut table = u32::from(h.table);
    let mut destination = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = route_ip(d),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || h.protocol == RouteProtocol::Kernel {
        return None;
    }
    let dest = match destination {
        Some(d) => format!("{d}/{}", h.destination_prefix_length),
        None if h.address_family == AddressFamily::Inet6 => "default (IPv6)".into(),
        None => "default".into(),
    };
    Some((
        format!("route {kind} {dest}"),
        format!(
            "{kind} routes are not carried to the guest, which would send this traffic out of its default route \
             instead (remove the route, or use a process container)"
        ),
    ))
}

/// The route as the guest takes it, if its output device is `index`: `Ok(None)` for a route through another
/// interface, in the local table or made by the kernel from an address (the guest's kernel makes the same);
/// `Err((what, why))` for a route through `index` the guest cannot take.
fn guest_route(r: &RouteMessage, index: u32) -> Result<Option<GuestRoute>, (String, String)> {
    let h = &r.header;
    let mut table = u32::from(h.table);
    let mut destination = None;
    let mut gateway = None;
    let mut source = None;
    let mut metric = None;
    let mut mtu = None;
    let mut hops = Vec::new();
    let mut unsupported = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = route_ip(d),
            RouteAttribute::Gateway(g) => gateway = route_ip(g),
            RouteAttribute::PrefSource(s) => source = route_ip(s),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(h) => hops.extend(h.iter().map(|h| h.interface_index)),
            RouteAttribute::Metrics(ms) => {
                for m in ms {
                    match m {
                        RouteMetric::Mtu(v) => mtu = Some(*v),
                        other => {
                            unsupported.get_or_insert(format!("the route metric {other:?}"));
                        }
                    }
                }
            }
            RouteAttribute::Oif(_)
            | RouteAttribute::CacheInfo(_)
            | RouteAttribute::Preference(_)
            | RouteAttribute::Expires(_)
            | RouteAttribute::Uid(_) => {}
            other => {
                unsupported.get_or_insert(format!("the route attribute {other:?}"));
            }
        }
    }
    if route_oif(r) != Some(index) && !hops.contains(&index) {
        return Ok(None);
    }
    if table == RT_TABLE_LOCAL {
        return Ok(None);
    }
    let dest_text = match destination {
        Some(d) => format!("{d}/{}", h.destination_prefix_length),
        None if h.address_family == AddressFamily::Inet6 => "default (IPv6)".into(),
        None => "default".into(),
    };
    let mut what = format!("route {dest_text}");
    if let Some(g) = gateway {
        what.push_str(&format!(" via {g}"));
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return Err((
            format!("{what} table {table}"),
            "the guest has only the main routing table (no policy routing)".into(),
        ));
    }
    if h.protocol == RouteProtocol::Kernel {
        return Ok(None);
    }
    if !hops.is_empty() {
        return Err((
            what,
            "multipath routes are not supported in the guest".into(),
        ));
    }
    if h.kind != RouteType::Unicast {
        return Err((
            what,
            format!(
                "route type {} is not supported in the guest (only unicast)",
                format!("{:?}", h.kind).to_lowercase()
            ),
        ));
    }
    if h.source_prefix_length != 0 || h.tos != 0 {
        return Err((
            what,
            "source-specific (from) and TOS routes are not supported in the guest".into(),
        ));
    }
    if let Some(u) = unsupported {
        return Err((what, format!("{u} is not supported in the guest")));
    }
    let scope = match h.scope {
        RouteScope::Universe => Scope::Universe,
        RouteScope::Site => Scope::Site,
        RouteScope::Link => Scope::Link,
        RouteScope::Host => Scope::Host,
        other => return Err((what, format!("scope {other} is not supported in the guest"))),
    };
    Ok(Some(GuestRoute {
        destination: destination
            .filter(|_| h.destination_prefix_length > 0)
            .map(|address| IpPrefix {
                address,
                prefix_len: h.destination_prefix_length,
            }),
        gateway,
        ipv6: h.address_family == AddressFamily::Inet6,
        source,
        metric,
        scope: Some(scope),
        onlink: h.flags.contains(RouteFlags::Onlink),
        mtu,
    }))
}

/// The unspecified address of the route's family (a default route's destination).
pub(super) fn any(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    }
}
