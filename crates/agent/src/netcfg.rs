//! The guest's network: each NIC takes over its container interface's name, MTU, addresses and routes
//! ([`holm_vm_proto::NetworkConfig`]), so the container sees in the guest what a process container sees in its
//! network namespace.
//!
//! Order (each step needs the one before): `lo` up; every NIC renamed ([`name_nics`], while down); every NIC's
//! MTU, up and addresses (all NICs first: a route's preferred source may be another NIC's address); then the
//! routes of all NICs, those without a gateway first ([`holm_vm_proto::apply_order`]: they make the gateways
//! reachable). Addresses and routes go through rtnetlink with netlink-packet-route's messages (as the host reads
//! them); IPv6 addresses are added without duplicate address detection (`IFA_F_NODAD`): the same address on the
//! same link was the namespace's, and a tentative address would make the first seconds' traffic fail.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use holm_vm_proto::{Address, InvalidNetwork, NetworkConfig, Route};
use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A step of the network setup that failed; each names the interface and, where there is one, the address or
/// route.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call (link lookup, rename, MTU, up) failed.
    #[error("network: {0}")]
    Sys(#[from] holm_sys::Error),
    /// The host's configuration is not applicable as it is.
    #[error("network: {0}")]
    Invalid(#[from] InvalidNetwork),
    /// No guest NIC has the MAC a configuration names.
    #[error(
        "network: interface {interface}: no guest NIC has MAC {mac} (the guest has: {present})"
    )]
    NoNic {
        /// The container interface.
        interface: String,
        /// Its MAC.
        mac: String,
        /// The guest's NICs, `name mac, …`.
        present: String,
    },
    /// Reading the guest's NICs failed.
    #[error("network: list {path}: {source}")]
    List {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The kernel refused an address or a route.
    #[error("network: interface {interface}: add {what}: {source}")]
    Netlink {
        /// The NIC.
        interface: String,
        /// The address or route.
        what: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
}

/// Brings `lo` up and configures each NIC of `nets` (the container's interfaces, `eth0` first): see the module
/// doc for the order.
///
/// # Errors
/// The first step that failed ([`Error`]); what was done before stays (the VM is ended when create fails).
pub fn configure_network(nets: &[NetworkConfig]) -> Result<(), Error> {
    for n in nets {
        n.validate()?;
    }
    let nl = holm_sys::netlink::Netlink::open()?;
    let lo = holm_sys::netlink::link_index("lo")?;
    nl.set_up(lo)?;
    name_nics(&nl, nets)?;
    let mut rt = Rtnl::open().map_err(|source| Error::Netlink {
        interface: "all".into(),
        what: "(open a netlink socket)".into(),
        source,
    })?;
    let mut indexes = Vec::with_capacity(nets.len());
    for n in nets {
        let idx = holm_sys::netlink::link_index(&n.interface)?;
        if let Some(mtu) = n.mtu {
            nl.set_mtu(idx, mtu)?;
        }
        nl.set_up(idx)?;
        for a in &n.addresses {
            rt.change(RouteNetlinkMessage::NewAddress(address_message(idx, a)))
                .map_err(|source| Error::Netlink {
                    interface: n.interface.clone(),
                    what: a.to_string(),
                    source,
                })?;
        }
        indexes.push(idx);
    }
    for (i, r) in holm_vm_proto::apply_order(nets) {
        rt.change(RouteNetlinkMessage::NewRoute(route_message(indexes[i], r)))
            .map_err(|source| Error::Netlink {
                interface: nets[i].interface.clone(),
                what: r.to_string(),
                source,
            })?;
    }
    Ok(())
}

/// The guest's NICs as `(name, MAC)` from `/sys/class/net/*/address`, MACs lower-case.
fn nic_macs() -> Result<Vec<(String, String)>, Error> {
    let dir = Path::new("/sys/class/net");
    let rd = std::fs::read_dir(dir).map_err(|source| Error::List {
        path: dir.display().to_string(),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(mac) = std::fs::read_to_string(e.path().join("address")) {
            out.push((name, mac.trim().to_ascii_lowercase()));
        }
    }
    Ok(out)
}

/// Renames each NIC whose MAC a config names to that config's interface name (the guest kernel names its NICs
/// `eth0`, `eth1`… in its own probe order, which need not be the host's). Through temporary names first, so two
/// NICs can swap names. The NICs are still down (nothing brought them up yet), as renaming requires.
fn name_nics(nl: &holm_sys::netlink::Netlink, nets: &[NetworkConfig]) -> Result<(), Error> {
    let present = nic_macs()?;
    let mut renames = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        let Some(mac) = &n.mac else { continue };
        // A restored guest's NIC still has the saved VM's MAC: found by that one, it gets this one.
        let find = n.guest_mac.as_ref().unwrap_or(mac);
        let Some((name, _)) = present.iter().find(|(_, m)| m.eq_ignore_ascii_case(find)) else {
            return Err(Error::NoNic {
                interface: n.interface.clone(),
                mac: mac.clone(),
                present: present
                    .iter()
                    .map(|(n, m)| format!("{n} {m}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if !find.eq_ignore_ascii_case(mac) {
            let idx = holm_sys::netlink::link_index(name)?;
            nl.set_address(
                idx,
                parse_mac(mac).ok_or_else(|| Error::NoNic {
                    interface: n.interface.clone(),
                    mac: mac.clone(),
                    present: "(not a MAC address)".into(),
                })?,
            )?;
        }
        if *name != n.interface {
            let idx = holm_sys::netlink::link_index(name)?;
            let tmp = format!("holmnic{i}");
            nl.rename(idx, &tmp)?;
            renames.push((idx, n.interface.clone()));
        }
    }
    for (idx, name) in renames {
        nl.rename(idx, &name)?;
    }
    Ok(())
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for b in out.iter_mut() {
        let p = parts.next().filter(|p| p.len() == 2)?;
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// `ip addr replace ADDRESS/PREFIX [broadcast B] scope S [noprefixroute] dev INDEX`, IPv6 with `nodad`.
fn address_message(index: u32, a: &Address) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&a.address);
    m.header.prefix_len = a.prefix_len;
    m.header.scope = AddressScope::from(a.scope.to_raw());
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(a.address));
    m.attributes.push(AddressAttribute::Address(a.address));
    if let Some(b) = a.broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    let mut flags = AddressFlags::empty();
    if a.address.is_ipv6() {
        flags |= AddressFlags::Nodad;
    }
    if a.noprefixroute {
        flags |= AddressFlags::Noprefixroute;
    }
    if !flags.is_empty() {
        m.attributes.push(AddressAttribute::Flags(flags));
    }
    m
}

/// `ip route replace DEST/LEN [via G] [src S] [metric M] scope SC [onlink] [mtu MTU] dev INDEX` (main table,
/// protocol boot as `ip route add` makes it).
fn route_message(index: u32, r: &Route) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&r.destination);
    m.header.destination_prefix_length = r.prefix_len;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::from(r.scope.to_raw());
    m.header.kind = RouteType::Unicast;
    if r.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    if r.prefix_len > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                r.destination,
            )));
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

/// A `NETLINK_ROUTE` socket for acknowledged changes, one at a time.
struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Sends `msg` with `NLM_F_CREATE | NLM_F_REPLACE` (an address or route the kernel already made, e.g. from a
    /// router advertisement, is taken over) and waits for its acknowledgement; an error reply becomes its errno.
    fn change(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        let mut nl = NetlinkMessage::from(msg);
        self.seq = self.seq.wrapping_add(1);
        nl.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            if let Some(r) = ack(&data, self.seq) {
                return r;
            }
        }
    }
}

/// The outcome of the acknowledgement (`NLMSG_ERROR`, errno 0 for success) for `seq` among the messages of
/// `data`, if it is there. Parsed by hand (`struct nlmsghdr`, then the errno): decoding every rtnetlink message
/// type for an ack would link all of netlink-packet-route's parsers into the agent (+0.5 MB).
fn ack(mut data: &[u8], seq: u32) -> Option<io::Result<()>> {
    const NLMSG_ERROR: u16 = 2;
    while data.len() >= 16 {
        let len = u32::from_ne_bytes(data[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let mseq = u32::from_ne_bytes(data[8..12].try_into().ok()?);
        if len < 16 || len > data.len() {
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("netlink message of length {len}"),
            )));
        }
        if kind == NLMSG_ERROR && mseq == seq && len >= 20 {
            let errno = i32::from_ne_bytes(data[16..20].try_into().ok()?);
            return Some(if errno == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(-errno))
            });
        }
        data = data.get(len.div_ceil(4) * 4..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use holm_vm_proto::Scope;

    #[test]
    fn acks_are_found_by_sequence_number() {
        let msg = |kind: u16, seq: u32, errno: i32| {
            let mut m = 20u32.to_ne_bytes().to_vec();
            m.extend(kind.to_ne_bytes());
            m.extend(0u16.to_ne_bytes());
            m.extend(seq.to_ne_bytes());
            m.extend(0u32.to_ne_bytes());
            m.extend(errno.to_ne_bytes());
            m
        };
        let mut two = msg(2, 4, -libc::EEXIST);
        two.extend(msg(2, 5, 0));
        assert!(matches!(ack(&two, 5), Some(Ok(()))));
        let e = ack(&two, 4).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert!(ack(&two, 6).is_none());
        assert!(ack(&msg(24, 5, 0), 5).is_none());
        assert!(ack(&two[..10], 5).is_none());
    }

    #[test]
    fn messages_carry_what_the_host_read() {
        let a = Address {
            address: "fd00:1::2".parse().unwrap(),
            prefix_len: 64,
            broadcast: None,
            scope: Scope::Universe,
            noprefixroute: false,
        };
        let m = address_message(3, &a);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
        let r = Route {
            destination: "0.0.0.0".parse().unwrap(),
            prefix_len: 0,
            gateway: Some("10.0.0.1".parse().unwrap()),
            source: None,
            metric: Some(7),
            scope: Scope::Universe,
            onlink: true,
            mtu: Some(1400),
        };
        let m = route_message(3, &r);
        assert!(m.header.flags.contains(RouteFlags::Onlink));
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert!(m.attributes.contains(&RouteAttribute::Priority(7)));
        assert!(m.attributes.contains(&RouteAttribute::Oif(3)));
        assert!(m
            .attributes
            .contains(&RouteAttribute::Metrics(vec![RouteMetric::Mtu(1400)])));
    }
}
