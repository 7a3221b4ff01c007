//! A minimal rtnetlink client (netlink(7), rtnetlink(7)) for moving a network device into a container's network
//! namespace (runtime-spec 1.3 `linux.netDevices`): look a link up, move and rename it (`RTM_NEWLINK` with
//! `IFLA_NET_NS_FD` and `IFLA_IFNAME`), bring it up, and carry its permanent global addresses over
//! (`RTM_GETADDR` dump, `RTM_NEWADDR`). No async runtime: one blocking socket, one request at a time.

use crate::{check, cstr, Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const IFLA_MTU: u16 = 4;
const IFLA_ADDRESS: u16 = 1;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;

/// An interface address as the kernel reported it (`struct ifaddrmsg` and its `IFA_LOCAL`/`IFA_ADDRESS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// `IFA_LOCAL` bytes (4 or 16), if present.
    pub local: Option<Vec<u8>>,
    /// `IFA_ADDRESS` bytes (4 or 16), if present.
    pub address: Option<Vec<u8>>,
}

/// A `NETLINK_ROUTE` socket, bound in the network namespace the calling thread was in when it was opened.
pub struct Netlink {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// `(type, payload)` of each attribute in `data` (`struct rtattr` list).
fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]);
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        let next = len.div_ceil(4) * 4;
        data = &data[next.min(data.len())..];
    }
    out
}

impl Netlink {
    /// Opens and binds a `NETLINK_ROUTE` socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        // SAFETY: plain socket(2) call with integer arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        let fd = check(fd as _, "socket", || "AF_NETLINK".into())?;
        // SAFETY: the kernel returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Netlink {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    /// Opens a socket in the network namespace `netns` (an nsfs fd): the calling thread enters it, opens the
    /// socket and returns to its own namespace (a socket stays in the namespace it was created in).
    pub fn open_in(netns: BorrowedFd<'_>) -> Result<Netlink> {
        let own = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| Error {
            syscall: "open",
            target: "/proc/thread-self/ns/net".into(),
            source: e,
        })?;
        crate::ns::setns(netns, libc::CLONE_NEWNET, "container network namespace")?;
        let r = Netlink::open();
        crate::ns::setns(
            std::os::fd::AsFd::as_fd(&own),
            libc::CLONE_NEWNET,
            "the runtime's network namespace",
        )?;
        r
    }

    fn send(&self, kind: u16, flags: u16, body: &[u8]) -> Result<u32> {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: `msg` is a live buffer of `msg.len()` bytes; the kernel only reads it.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
            )
        };
        check(n as _, "send", || "netlink".into())?;
        Ok(seq)
    }

    /// Receives the replies to `seq`: data messages (type, payload) until `NLMSG_DONE` or the ack; an error reply
    /// becomes an [`Error`] with its errno, naming `what`.
    fn replies(&self, seq: u32, what: &str) -> Result<Vec<(u16, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            let n = check(n as _, "recv", || "netlink".into())? as usize;
            let mut data = &buf[..n];
            while data.len() >= 16 {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes([data[4], data[5]]);
                let mseq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if len < 16 || len > data.len() {
                    break;
                }
                let payload = &data[16..len];
                if mseq == seq {
                    match kind {
                        NLMSG_DONE => return Ok(out),
                        NLMSG_ERROR => {
                            let errno = i32::from_ne_bytes(payload[0..4].try_into().unwrap());
                            if errno == 0 {
                                return Ok(out);
                            }
                            return Err(Error::from_errno("netlink", what, -errno));
                        }
                        _ => out.push((kind, payload.to_vec())),
                    }
                }
                data = &data[(len.div_ceil(4) * 4).min(data.len())..];
            }
        }
    }

    fn request(&self, kind: u16, flags: u16, body: &[u8], what: &str) -> Result<()> {
        let seq = self.send(kind, flags | NLM_F_REQUEST | NLM_F_ACK, body)?;
        self.replies(seq, what).map(drop)
    }

    /// Moves link `index` into the network namespace `netns` with the name `new_name` (a `%d` template lets the
    /// kernel pick a free number), in one `RTM_NEWLINK`.
    ///
    /// Errors: `EEXIST` when the name is taken there, `ENODEV`, `EINVAL` for a device that cannot change
    /// namespace (`NETIF_F_NETNS_LOCAL`, e.g. a bridge's own ports or `lo`).
    pub fn move_link(&self, index: u32, netns: BorrowedFd<'_>, new_name: &str) -> Result<()> {
        let mut body = ifinfomsg(index, 0, 0);
        push_attr(
            &mut body,
            IFLA_NET_NS_FD,
            &(netns.as_raw_fd() as u32).to_ne_bytes(),
        );
        let name = cstr("netlink", new_name)?;
        push_attr(&mut body, IFLA_IFNAME, name.as_bytes_with_nul());
        self.request(
            RTM_NEWLINK,
            0,
            &body,
            &format!("move link {index} as {new_name}"),
        )
    }

    /// True if a link named `name` exists in this socket's network namespace (`RTM_GETLINK` by name).
    pub fn link_exists(&self, name: &str) -> Result<bool> {
        Ok(self.index_of(name)?.is_some())
    }

    /// The index of the link named `name` in this socket's network namespace (`RTM_GETLINK` by name), `None` when
    /// there is none. Unlike [`link_index`] this asks the socket's namespace, not the calling thread's.
    pub fn index_of(&self, name: &str) -> Result<Option<u32>> {
        let mut body = ifinfomsg(0, 0, 0);
        let c = cstr("netlink", name)?;
        push_attr(&mut body, IFLA_IFNAME, c.as_bytes_with_nul());
        let what = format!("look up link {name}");
        let seq = self.send(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, &body)?;
        match self.replies(seq, &what) {
            Ok(r) => r
                .iter()
                .find(|(kind, p)| *kind == RTM_NEWLINK && p.len() >= 8)
                .map(|(_, p)| Some(i32::from_ne_bytes(p[4..8].try_into().unwrap()) as u32))
                .ok_or_else(|| Error::from_errno("netlink", &what, libc::EPROTO)),
            Err(e) if e.errno() == libc::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renames link `index` to `name` (a `%d` template lets the kernel pick a free number). The link must be down.
    ///
    /// Errors: `EEXIST` when the name is taken, `EBUSY` when the link is up.
    pub fn rename(&self, index: u32, name: &str) -> Result<()> {
        let mut body = ifinfomsg(index, 0, 0);
        let c = cstr("netlink", name)?;
        push_attr(&mut body, IFLA_IFNAME, c.as_bytes_with_nul());
        self.request(
            RTM_NEWLINK,
            0,
            &body,
            &format!("rename link {index} to {name}"),
        )
    }

    /// Sets link `index` up.
    pub fn set_up(&self, index: u32) -> Result<()> {
        let up = libc::IFF_UP as u32;
        let body = ifinfomsg(index, up, up);
        self.request(RTM_NEWLINK, 0, &body, &format!("set link {index} up"))
    }

    /// The permanent (`IFA_F_PERMANENT`), global-scope (`RT_SCOPE_UNIVERSE`) addresses of link `index`, of any
    /// family.
    pub fn permanent_global_addrs(&self, index: u32) -> Result<Vec<Addr>> {
        // struct ifaddrmsg { family, prefixlen, flags, scope, index(u32) }
        let body = [0u8; 8];
        let seq = self.send(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &body)?;
        let mut out = Vec::new();
        for (kind, p) in self.replies(seq, "dump addresses")? {
            if kind != RTM_NEWADDR || p.len() < 8 {
                continue;
            }
            let (family, prefix_len, flags8, scope) = (p[0], p[1], p[2], p[3]);
            let idx = u32::from_ne_bytes(p[4..8].try_into().unwrap());
            if idx != index || scope != RT_SCOPE_UNIVERSE {
                continue;
            }
            let mut flags = flags8 as u32;
            let mut a = Addr {
                family,
                prefix_len,
                local: None,
                address: None,
            };
            for (t, d) in attrs(&p[8..]) {
                match t {
                    IFA_LOCAL => a.local = Some(d.to_vec()),
                    IFA_ADDRESS => a.address = Some(d.to_vec()),
                    IFA_FLAGS if d.len() >= 4 => {
                        flags = u32::from_ne_bytes(d[0..4].try_into().unwrap())
                    }
                    _ => {}
                }
            }
            if flags & IFA_F_PERMANENT != 0 {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Adds `addr` to link `index` (`RTM_NEWADDR`, create, exclusive).
    pub fn add_addr(&self, index: u32, addr: &Addr) -> Result<()> {
        let mut body = vec![addr.family, addr.prefix_len, 0, RT_SCOPE_UNIVERSE];
        body.extend_from_slice(&index.to_ne_bytes());
        if let Some(l) = &addr.local {
            push_attr(&mut body, IFA_LOCAL, l);
        }
        if let Some(a) = &addr.address {
            push_attr(&mut body, IFA_ADDRESS, a);
        }
        self.request(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &format!("add address to link {index}"),
        )
    }
}

impl Netlink {
    /// Sets link `index`'s hardware address (`RTM_NEWLINK` with `IFLA_ADDRESS`, `ip link set dev X address MAC`).
    pub fn set_address(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let mut body = ifinfomsg(index, 0, 0);
        push_attr(&mut body, IFLA_ADDRESS, &mac);
        self.request(
            RTM_NEWLINK,
            0,
            &body,
            &format!("set the address of link {index}"),
        )
    }

    /// Sets link `index`'s MTU (`RTM_NEWLINK` with `IFLA_MTU`).
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let mut body = ifinfomsg(index, 0, 0);
        push_attr(&mut body, IFLA_MTU, &mtu.to_ne_bytes());
        self.request(
            RTM_NEWLINK,
            0,
            &body,
            &format!("set mtu {mtu} on link {index}"),
        )
    }

    /// Adds the IPv4 default route via `gateway` out of link `index` (`RTM_NEWROUTE` in the main table,
    /// `ip route add default via GATEWAY dev LINK`).
    pub fn add_default_route_v4(&self, index: u32, gateway: [u8; 4]) -> Result<()> {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type; flags u32.
        let mut body = vec![
            libc::AF_INET as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&0u32.to_ne_bytes());
        push_attr(&mut body, RTA_GATEWAY, &gateway);
        push_attr(&mut body, RTA_OIF, &index.to_ne_bytes());
        self.request(
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &body,
            &format!("add default route via {gateway:?} on link {index}"),
        )
    }
}

/// `struct ifinfomsg` for link `index` with `flags`/`change` (`IFF_*`).
fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![libc::AF_UNSPEC as u8, 0];
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&(index as i32).to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&change.to_ne_bytes());
    b
}

/// `if_nametoindex(name)`: the index of the link named `name` in the calling thread's network namespace.
///
/// Errors: `ENODEV` when there is none.
pub fn link_index(name: &str) -> Result<u32> {
    let c = cstr("if_nametoindex", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::last("if_nametoindex", name));
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        push_attr(&mut b, 3, b"eth0\0");
        push_attr(&mut b, 28, &7u32.to_ne_bytes());
        let a = attrs(&b);
        assert_eq!(a, vec![(3, &b"eth0\0"[..]), (28, &7u32.to_ne_bytes()[..])]);
        assert!(b.len().is_multiple_of(4));
    }
}
