//! A container's endpoints on user networks ([`crate::networks`]): for each, an address leased from the network's
//! subnet, a veth pair on its bridge (`eth0` with the default route for the network of `--network NAME` unless it
//! is `--internal`; `eth1`, `eth2`… without one for networks joined by `network connect`), and the container's
//! names (its name, 12-digit id and aliases) in the network's DNS table, whose server runs while any container is
//! on the network ([`holm_network::dnsproc`]). Each endpoint is recorded in the container's network state
//! ([`crate::network::NetState::endpoints`]) before anything is made, so teardown finds what a crash left.

use crate::network::{write_state, EpState, NetState};
use crate::networks::{Attachment, NetworkRecord};
use crate::{ContainerRecord, Engine, Error, Result};
use holm_network::{dnsproc, link, usernet};
use std::path::PathBuf;

/// The on-disk holm binary, as a monitor was told (`--exe`): a monitor runs from a sealed in-memory copy.
static HOLM_EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Records the on-disk holm binary (the monitor's `--exe`) for [`holm_exe`].
pub fn set_holm_exe(p: &std::path::Path) {
    let _ = HOLM_EXE.set(p.to_path_buf());
}

/// The holm binary the DNS servers run from: the monitor's `--exe`, else this executable.
fn holm_exe() -> Result<PathBuf> {
    if let Some(p) = HOLM_EXE.get() {
        return Ok(p.clone());
    }
    crate::monitor::holm_executable()
}

/// The host-side veth of container `id`'s interface `eth<n>` on a user network: `veth` + 11 hex digits for `eth0`
/// (as on the default bridge), `vx` + 11 hex digits + `n` for the others.
pub fn veth_name(id: &str, n: usize) -> String {
    if n == 0 {
        holm_network::host_veth(id)
    } else {
        format!("vx{}{n}", &id[..id.len().min(11)])
    }
}

/// The DNS names of a container on a network: its name, short id and `aliases`.
fn dns_names(c_name: &str, id: &str, aliases: &[String]) -> Vec<String> {
    let mut v = vec![c_name.to_string(), id[..id.len().min(12)].to_string()];
    v.extend(aliases.iter().cloned());
    v
}

/// Attaches container `id` (named `c_name`, init `pid`) to user network `net` as interface `eth<n>`, recording
/// the endpoint in `st` (written before the veth is made). `primary`: the interface gets the default route.
#[allow(clippy::too_many_arguments)]
pub fn attach(
    engine: &Engine,
    id: &str,
    c_name: &str,
    pid: i32,
    net: &NetworkRecord,
    att: &Attachment,
    n: usize,
    primary: bool,
    st: &mut NetState,
) -> Result<EpState> {
    let def = net.ensure_host()?;
    let ipam = def.ipam();
    let ip = match att.ip {
        Some(ip) => ipam.allocate_exact(id, ip)?,
        None => ipam.allocate_with(id, |other| crate::network::is_live(engine, other))?,
    };
    let ep = EpState {
        network_id: net.id.clone(),
        network: net.name.clone(),
        bridge: def.bridge.clone(),
        ifname: format!("eth{n}"),
        veth: veth_name(id, n),
        ip,
        prefix: def.prefix,
        gateway: def.gateway,
        mac: holm_network::mac_string(holm_network::mac_for(ip)),
        aliases: att.aliases.clone(),
    };
    st.endpoints.push(ep.clone());
    write_state(engine, id, st)?;
    link::attach_endpoint(
        id,
        pid,
        &link::Endpoint {
            bridge: &def.bridge,
            bridge_ip: def.gateway,
            host_veth: &ep.veth,
            ifname: &ep.ifname,
            ip,
            prefix: def.prefix,
            default_route: (primary && !def.internal).then_some(def.gateway),
        },
    )?;
    dnsproc::register(
        &def,
        id,
        ip,
        &dns_names(c_name, id, &att.aliases),
        &holm_exe()?,
    )?;
    Ok(ep)
}

/// Removes container `id`'s endpoint `ep`: its DNS names (the server stops with the network's last container),
/// veth and lease. What is gone already is fine.
pub fn detach(id: &str, ep: &EpState) -> Result<()> {
    let def = usernet::load(&ep.network_id).ok();
    let mut first = None;
    if let Some(def) = &def {
        if let Err(e) = dnsproc::unregister(def, id) {
            first.get_or_insert(Error::from(e));
        }
    }
    if let Err(e) = link::delete_link(&ep.veth) {
        first.get_or_insert(Error::from(e));
    }
    if let Some(def) = &def {
        if let Err(e) = def.ipam().release(id) {
            first.get_or_insert(Error::from(e));
        }
    }
    first.map_or(Ok(()), Err)
}

/// `network connect` of running container `c`: the next free `ethN`, attached now.
pub fn connect_live(
    engine: &Engine,
    c: &ContainerRecord,
    net: &NetworkRecord,
    att: &Attachment,
) -> Result<()> {
    let mut st = crate::network::state(engine, &c.id).unwrap_or_default();
    let used: Vec<usize> = st
        .endpoints
        .iter()
        .filter_map(|e| e.ifname.strip_prefix("eth")?.parse().ok())
        .collect();
    // eth0 is the default bridge's (or the primary network's) when the container has one.
    let first = if st.ip.is_some() { 1 } else { 0 };
    let n = (first..).find(|k| !used.contains(k)).expect("a free index");
    let r = attach(engine, &c.id, &c.name, c.pid, net, att, n, false, &mut st);
    if r.is_err() {
        if let Some(ep) = st
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id)
            .cloned()
        {
            let _ = detach(&c.id, &ep);
            st.endpoints.retain(|e| e.network_id != net.id);
            let _ = write_state(engine, &c.id, &st);
        }
    }
    r.map(|_| ())
}

/// `network disconnect` of container `id` from network `net_id` (if it has an endpoint there: it runs).
pub fn disconnect_live(engine: &Engine, id: &str, net_id: &str) -> Result<()> {
    let Some(mut st) = crate::network::state(engine, id) else {
        return Ok(());
    };
    let Some(ep) = st
        .endpoints
        .iter()
        .find(|e| e.network_id == net_id)
        .cloned()
    else {
        return Ok(());
    };
    detach(id, &ep)?;
    st.endpoints.retain(|e| e.network_id != net_id);
    if st.ip == Some(ep.ip) {
        st.ip = None;
        st.mac.clear();
    }
    write_state(engine, id, &st)
}
