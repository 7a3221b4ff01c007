//! A blocking rtnetlink client (rtnetlink(7)) on netlink-packet-route's message types and netlink-sys's socket:
//! one request at a time, no async runtime (holm-runtime links this crate).

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute,
    TcFilterU32Option, TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption, TcU32Key,
    TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A `NETLINK_ROUTE` socket of the network namespace the calling thread was in when it was opened.
pub(crate) struct Rtnl {
    sock: Socket,
    seq: u32,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Rtnl {
    pub(crate) fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Sends one request and collects the replies: the dump's messages, or nothing for an acknowledged change.
    /// A netlink error reply becomes its errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut nl = NetlinkMessage::from(msg);
        self.seq = self.seq.wrapping_add(1);
        nl.header.flags = NLM_F_REQUEST | flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(invalid)?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(invalid("netlink message of length 0"));
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(inner) => {
                        out.push(inner);
                        if flags & NLM_F_DUMP != NLM_F_DUMP && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags).map(drop)
    }

    /// The link called `name` (`RTM_GETLINK` by `IFLA_IFNAME`); `ENODEV` when there is none.
    pub(crate) fn link_by_name(&mut self, name: &str) -> io::Result<LinkMessage> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0)?.pop() {
            Some(RouteNetlinkMessage::NewLink(l)) => Ok(l),
            _ => Err(invalid(format!(
                "RTM_GETLINK {name}: no link message in the reply"
            ))),
        }
    }

    /// The link with ifindex `index`; `ENODEV` when there is none.
    pub(crate) fn link_by_index(&mut self, index: u32) -> io::Result<LinkMessage> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.request(RouteNetlinkMessage::GetLink(msg), 0)?.pop() {
            Some(RouteNetlinkMessage::NewLink(l)) => Ok(l),
            _ => Err(invalid(format!(
                "RTM_GETLINK {index}: no link message in the reply"
            ))),
        }
    }

    /// Every link of the namespace (`RTM_GETLINK` dump).
    pub(crate) fn links(&mut self) -> io::Result<Vec<LinkMessage>> {
        let all = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// Every address of the namespace (`RTM_GETADDR` dump) of interface `index`.
    pub(crate) fn addresses(&mut self, index: u32) -> io::Result<Vec<AddressMessage>> {
        let msg = AddressMessage::default();
        let all = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Every route of the main table of `family` (`RTM_GETROUTE` dump).
    pub(crate) fn routes(&mut self, family: AddressFamily) -> io::Result<Vec<RouteMessage>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        let all = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN =>
                {
                    Some(r)
                }
                _ => None,
            })
            .collect())
    }

    /// Every route of every table of `family` (`RTM_GETROUTE` dump).
    pub(crate) fn all_routes(&mut self, family: AddressFamily) -> io::Result<Vec<RouteMessage>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        let all = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .collect())
    }

    pub(crate) fn add_address(&mut self, addr: AddressMessage) -> io::Result<()> {
        self.change(
            RouteNetlinkMessage::NewAddress(addr),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    pub(crate) fn add_route(&mut self, route: RouteMessage) -> io::Result<()> {
        self.change(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Sets the link's MTU and brings it up (`RTM_NEWLINK` on its index).
    pub(crate) fn set_mtu_up(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.change(RouteNetlinkMessage::NewLink(msg), 0)
    }

    pub(crate) fn del_link(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.change(RouteNetlinkMessage::DelLink(msg), 0)
    }

    /// `tc qdisc add dev INDEX ingress` (handle ffff:).
    pub(crate) fn add_ingress_qdisc(&mut self, index: u32) -> io::Result<()> {
        let mut msg = TcMessage::with_index(index as i32);
        msg.header.parent = TcHandle::INGRESS;
        msg.header.handle = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        msg.attributes.push(TcAttribute::Kind("ingress".into()));
        self.change(
            RouteNetlinkMessage::NewQueueDiscipline(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `tc qdisc del dev INDEX ingress` (its filters go with it).
    pub(crate) fn del_ingress_qdisc(&mut self, index: u32) -> io::Result<()> {
        let mut msg = TcMessage::with_index(index as i32);
        msg.header.parent = TcHandle::INGRESS;
        msg.header.handle = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        self.change(RouteNetlinkMessage::DelQueueDiscipline(msg), 0)
    }

    /// `tc filter add dev FROM parent ffff: protocol all prio 1 u32 match u8 0 0 action mirred egress redirect dev
    /// TO` (a u32 filter matching every frame, as Kata's tcfilter does: `matchall` is not built into every kernel).
    pub(crate) fn add_redirect(&mut self, from: u32, to: u32) -> io::Result<()> {
        let mut msg = TcMessage::with_index(from as i32);
        msg.header.parent = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        // tcm_info: priority in the upper 16 bits, the protocol (ETH_P_ALL) in network byte order below.
        msg.header.info = (1u32 << 16) | u32::from(0x0003u16.to_be());
        let mut mirror = TcMirror::default();
        mirror.generic.action = TcActionType::Stolen;
        mirror.eaction = TcMirrorActionType::EgressRedir;
        mirror.ifindex = to;
        let mut action = TcAction::default();
        action.attributes = vec![
            TcActionAttribute::Kind("mirred".into()),
            TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
                mirror,
            ))]),
        ];
        let mut selector = TcU32Selector::default();
        selector.flags = TcU32SelectorFlags::Terminal;
        selector.nkeys = 1;
        selector.keys = vec![TcU32Key::default()];
        msg.attributes.push(TcAttribute::Kind("u32".into()));
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::Selector(selector)),
            TcOption::U32(TcFilterU32Option::Action(vec![action])),
        ]));
        self.change(
            RouteNetlinkMessage::NewTrafficFilter(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// The ifindexes the u32 ingress filters of `index` redirect to (`RTM_GETTFILTER` dump under parent ffff:).
    pub(crate) fn ingress_redirects(&mut self, index: u32) -> io::Result<Vec<u32>> {
        let mut msg = TcMessage::with_index(index as i32);
        msg.header.parent = TcHandle {
            major: 0xffff,
            minor: 0,
        };
        let all = self.request(RouteNetlinkMessage::GetTrafficFilter(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in all {
            let RouteNetlinkMessage::NewTrafficFilter(f) = m else {
                continue;
            };
            for attr in &f.attributes {
                let TcAttribute::Options(opts) = attr else {
                    continue;
                };
                for opt in opts {
                    let TcOption::U32(TcFilterU32Option::Action(actions)) = opt else {
                        continue;
                    };
                    for a in actions {
                        for aa in &a.attributes {
                            let TcActionAttribute::Options(aopts) = aa else {
                                continue;
                            };
                            for ao in aopts {
                                if let TcActionOption::Mirror(TcActionMirrorOption::Parms(p)) = ao {
                                    out.push(p.ifindex);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The `IFA_LOCAL` (else `IFA_ADDRESS`) of an address message.
pub(crate) fn address_of(a: &AddressMessage) -> Option<IpAddr> {
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

/// An IP address out of a route attribute.
pub(crate) fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The `RTA_OIF` of a route.
pub(crate) fn route_oif(r: &RouteMessage) -> Option<u32> {
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}
