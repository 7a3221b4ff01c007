//! The bridge and the containers' veth pairs, through netlink (`rtnetlink`).
//!
//! Each public function builds a current-thread tokio runtime (no worker threads), does its requests and drops
//! the runtime before returning, so a single-threaded caller (holm's monitor) stays single-threaded and may fork
//! afterwards. The container's side is configured from the host: the calling thread joins the container's network
//! namespace only to open a netlink socket there (a socket stays bound to the namespace it was made in), and
//! returns to its own before any request is sent.

use crate::{host_veth, mac_for, Error, Result, BRIDGE, GATEWAY, SUBNET};

/// One network interface of a container: a veth pair whose host end `host_veth` is a port of `bridge` and whose
/// peer is `ifname` in the container's namespace with `ip`/`prefix`.
#[derive(Debug, Clone)]
pub struct Endpoint<'a> {
    /// The bridge (`holm0`, or a user network's `holm-…`).
    pub bridge: &'a str,
    /// The bridge's address (the network's gateway), added to it when the bridge is (re)made.
    pub bridge_ip: Ipv4Addr,
    /// The host end's name (at most 15 bytes).
    pub host_veth: &'a str,
    /// The container end's name (`eth0`, `eth1`, …).
    pub ifname: &'a str,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The default route's gateway (`None`: no default route, as on an `--internal` network or a second one).
    pub default_route: Option<Ipv4Addr>,
}
use futures_util::stream::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(Error::io("start a tokio runtime for netlink"))
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |e| Error::Netlink {
        what,
        msg: match &e {
            rtnetlink::Error::NetlinkError(m) => m
                .code
                .map(|c| std::io::Error::from_raw_os_error(-c.get()).to_string())
                .unwrap_or_else(|| e.to_string()),
            _ => e.to_string(),
        },
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn connect() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(Error::io("open a netlink socket"))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The index of link `name`, `None` if there is none.
async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>> {
    match h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
    {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("find link {name}"))(e)),
    }
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(Error::io(format!("write {value} to {path}")))
}

/// Creates the bridge `bridge` with the address `gw`/`prefix` if it is missing (a concurrent creator is fine), brings
/// it up with the MAC [`mac_for`]`(gw)`, and turns on IPv4 forwarding and `route_localnet` on it (so DNAT of connections to `127.0.0.1` can leave
/// through it, as docker does). Returns its index.
async fn ensure_bridge_named(h: &Handle, bridge: &str, gw: Ipv4Addr, prefix: u8) -> Result<u32> {
    let idx = match index_of(h, bridge).await? {
        Some(i) => i,
        None => {
            match h
                .link()
                .add(LinkBridge::new(bridge).build())
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl(format!("create bridge {bridge}"))(e)),
            }
            index_of(h, bridge).await?.ok_or_else(|| Error::Netlink {
                what: format!("create bridge {bridge}"),
                msg: "it vanished".into(),
            })?
        }
    };
    match h.address().add(idx, IpAddr::V4(gw), prefix).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(nl(format!("add {gw}/{prefix} to {bridge}"))(e)),
    }
    // A fixed MAC (docker's `02:42:` + the gateway's address): a bridge without one takes the lowest MAC of its
    // ports, which changes as containers come and go, and the containers' ARP entries for the gateway then point at
    // a MAC the bridge no longer has (their DNS queries to it were lost for seconds). Set only when it differs: a
    // change of address flushes the host's neighbour entries on the bridge.
    let mac = mac_for(gw);
    let current =
        std::fs::read_to_string(format!("/sys/class/net/{bridge}/address")).unwrap_or_default();
    let mut up = LinkUnspec::new_with_index(idx).up();
    if current.trim() != crate::mac_string(mac) {
        up = up.address(mac.to_vec());
    }
    h.link()
        .set(up.build())
        .execute()
        .await
        .map_err(nl(format!("bring {bridge} up")))?;
    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    write_sysctl(
        &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )?;
    Ok(idx)
}

/// Connects container `id`, whose init is `pid`, to the bridge: a veth pair whose host end joins [`BRIDGE`] and
/// whose peer becomes `eth0` in the container's network namespace with `ip`/16, the MAC [`mac_for`]`(ip)`, and a
/// default route via [`GATEWAY`]; `lo` is brought up too. The bridge is created if needed. On failure the veth
/// pair is deleted.
pub fn attach(id: &str, pid: i32, ip: Ipv4Addr) -> Result<()> {
    let host = host_veth(id);
    attach_endpoint(
        id,
        pid,
        &Endpoint {
            bridge: BRIDGE,
            bridge_ip: GATEWAY,
            host_veth: &host,
            ifname: "eth0",
            ip,
            prefix: SUBNET.1,
            default_route: Some(GATEWAY),
        },
    )
}

/// [`attach`] for any bridge: the bridge is made if missing (after a reboot a user network's bridge is gone),
/// the veth pair created and the container's end configured. On failure the veth pair is deleted.
pub fn attach_endpoint(id: &str, pid: i32, ep: &Endpoint<'_>) -> Result<()> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let h = connect()?;
        let bridge = ensure_bridge_named(&h, ep.bridge, ep.bridge_ip, ep.prefix).await?;
        let r = attach_veth(&h, bridge, ep, id, pid).await;
        if r.is_err() {
            if let Ok(Some(i)) = index_of(&h, ep.host_veth).await {
                let _ = h.link().del(i).execute().await;
            }
        }
        r
    });
    drop(rt);
    r
}

/// Makes the bridge `name` with `gw`/`prefix` if it is missing, and brings it up (`network create`).
pub fn ensure_bridge_up(name: &str, gw: Ipv4Addr, prefix: u8) -> Result<()> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let h = connect()?;
        ensure_bridge_named(&h, name, gw, prefix).await.map(|_| ())
    });
    drop(rt);
    r
}

async fn attach_veth(h: &Handle, bridge: u32, ep: &Endpoint<'_>, id: &str, pid: i32) -> Result<()> {
    let (host, ip) = (ep.host_veth, ep.ip);
    // A pair left by a crash with the same name.
    if let Some(i) = index_of(h, host).await? {
        let _ = h.link().del(i).execute().await;
    }
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&ns_path).map_err(Error::io(format!("open {ns_path}")))?;
    // One request makes the pair with the host end already a port of the bridge and up, and the peer born in the
    // container's namespace as `eth0` with its MAC (as `ip link add H master holm0 up type veth peer name eth0
    // address M netns N`). Moving an existing peer into the namespace instead cost a separate request that waits
    // for an RCU grace period in the kernel (~15 ms here), and a rename there.
    let peer = LinkUnspec::new_with_name(ep.ifname)
        .address(mac_for(ip).to_vec())
        .setns_by_fd(std::os::fd::AsRawFd::as_raw_fd(&ns))
        .build();
    h.link()
        .add(
            LinkVeth::new(host, ep.ifname)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .controller(bridge)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(nl(format!(
            "create veth pair {host} on {} / {} in {ns_path} ({id})",
            ep.bridge, ep.ifname
        )))?;
    let c = connect_in(&ns, &ns_path)?;
    configure_container(&c, ep).await.map_err(|e| match e {
        Error::Netlink { what, msg } => Error::Netlink {
            what: format!("{what} in {ns_path}"),
            msg,
        },
        e => e,
    })
}

/// A netlink connection in the network namespace `ns`: the calling thread joins it, opens the socket, and goes
/// back to its own namespace.
fn connect_in(ns: &File, what: &str) -> Result<Handle> {
    let own = File::open("/proc/thread-self/ns/net")
        .map_err(Error::io("open /proc/thread-self/ns/net"))?;
    holm_sys::ns::setns(ns.as_fd(), holm_sys::ns::CLONE_NEWNET, what)?;
    let conn = rtnetlink::new_connection();
    // Back home before anything else happens on this thread; failing that, the process is in the wrong place.
    holm_sys::ns::setns(
        own.as_fd(),
        holm_sys::ns::CLONE_NEWNET,
        "/proc/thread-self/ns/net",
    )?;
    let (conn, handle, _) = conn.map_err(Error::io(format!("open a netlink socket in {what}")))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn configure_container(c: &Handle, ep: &Endpoint<'_>) -> Result<()> {
    let (ifname, ip, prefix) = (ep.ifname, ep.ip, ep.prefix);
    let ci = index_of(c, ifname).await?.ok_or_else(|| Error::Netlink {
        what: format!("find {ifname}"),
        msg: "not in the container's namespace".into(),
    })?;
    c.address()
        .add(ci, IpAddr::V4(ip), prefix)
        .execute()
        .await
        .map_err(nl(format!("add {ip}/{prefix} to {ifname}")))?;
    c.link()
        .set(LinkUnspec::new_with_index(ci).up().build())
        .execute()
        .await
        .map_err(nl(format!("bring {ifname} up")))?;
    bring_lo_up(c).await?;
    if let Some(gw) = ep.default_route {
        c.route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gw)
                    .output_interface(ci)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl(format!("add default route via {gw}")))?;
    }
    Ok(())
}

async fn bring_lo_up(c: &Handle) -> Result<()> {
    if let Some(lo) = index_of(c, "lo").await? {
        c.link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(nl("bring lo up"))?;
    }
    Ok(())
}

/// Brings `lo` up in the network namespace of process `pid` (`--network none`).
pub fn loopback_up(pid: i32) -> Result<()> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let ns_path = format!("/proc/{pid}/ns/net");
        let ns = File::open(&ns_path).map_err(Error::io(format!("open {ns_path}")))?;
        let c = connect_in(&ns, &ns_path)?;
        bring_lo_up(&c).await
    });
    drop(rt);
    r
}

/// Deletes container `id`'s host-side veth (and so its peer); a missing one is fine.
pub fn detach(id: &str) -> Result<()> {
    delete_link(&host_veth(id))
}

/// Deletes the link `host` (a veth, whose peer goes with it, or a user network's bridge); a missing one is fine.
pub fn delete_link(host: &str) -> Result<()> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let h = connect()?;
        if let Some(i) = index_of(&h, host).await? {
            match h.link().del(i).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::ENODEV) => {}
                Err(e) => return Err(nl(format!("delete {host}"))(e)),
            }
        }
        Ok(())
    });
    drop(rt);
    r
}
