//! `linux.netDevices` (runtime-spec 1.3 `config-linux.md#network-devices`): host network devices moved into the
//! container's network namespace by the runtime, once the init (and so the namespace) exists and before the
//! `prestart`/`createRuntime` hooks run.
//!
//! Each device is moved and renamed (`name`, default the host name; a `%d` template lets the kernel pick a free
//! number) in one `RTM_NEWLINK`, its permanent global-scope addresses (read before the move, which drops them)
//! are added again inside, and it is set up. A device name taken in the container is an error (the kernel's
//! `EEXIST`). Nothing is moved back on `delete`: when the namespace dies the kernel returns physical devices to
//! the initial namespace and destroys virtual ones, as the spec says it must be left to do.

use crate::{Error, Result};
use holm_sys::netlink::{self, Netlink};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::AsFd;

/// holm implements `linux.netDevices` (for `features`).
pub const SUPPORTED: bool = true;

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() < 16
        && n != "."
        && n != ".."
        && !n.contains(['/', ':'])
        && !n.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks `linux.netDevices`: valid interface names (1–15 bytes, no `/`, `:` or whitespace) for the keys and
/// `name`s, no two devices with the same name inside, and a network namespace of the container's own.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if devs.is_empty() {
        return Ok(());
    }
    if !crate::spec::owns_namespace(spec, LinuxNamespaceType::Network)? {
        return Err(Error::config(
            "linux.netDevices",
            "moving network devices needs a network namespace of the container's own",
        ));
    }
    let mut inside = std::collections::HashSet::new();
    let mut keys: Vec<_> = devs.keys().collect();
    keys.sort();
    for host in keys {
        let field = format!("linux.netDevices.{host}");
        if !valid_name(host) {
            return Err(Error::config(
                field,
                "not a valid interface name (1 to 15 bytes, no `/`, `:` or whitespace)",
            ));
        }
        let name = devs[host].name().as_deref().unwrap_or(host);
        if !valid_name(name) {
            return Err(Error::config(
                format!("{field}.name"),
                format!("{name:?} is not a valid interface name (1 to 15 bytes, no `/`, `:` or whitespace)"),
            ));
        }
        if !name.contains("%d") && !inside.insert(name.to_string()) {
            return Err(Error::config(
                format!("{field}.name"),
                format!("{name:?} is given to two devices"),
            ));
        }
    }
    Ok(())
}

/// Checks at `create`, before anything is made, that every device exists on the host.
pub fn check_present(spec: &Spec) -> Result<()> {
    for host in spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .into_iter()
        .flat_map(|d| d.keys())
    {
        netlink::link_index(host).map_err(|e| {
            Error::config(
                format!("linux.netDevices.{host}"),
                format!("no such network device on the host ({e})"),
            )
        })?;
    }
    Ok(())
}

/// Moves the devices into the network namespace of process `pid` (the container's init).
pub fn move_all(spec: &Spec, pid: i32) -> Result<()> {
    let Some(devs) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .filter(|d| !d.is_empty())
    else {
        return Ok(());
    };
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&ns_path).map_err(|e| Error::io("open", &ns_path, e))?;
    let host = Netlink::open()?;
    let inside = Netlink::open_in(ns.as_fd())?;
    let mut keys: Vec<_> = devs.keys().collect();
    keys.sort();
    // Every device is checked before any moves: a device moved into the namespace before a later one is refused
    // would die with it (a virtual one is destroyed).
    let mut plan = Vec::with_capacity(keys.len());
    for name in keys {
        let field = format!("linux.netDevices.{name}");
        let new_name = devs[name].name().as_deref().unwrap_or(name);
        let index = netlink::link_index(name).map_err(|e| {
            Error::config(&field, format!("no such network device on the host ({e})"))
        })?;
        // The kernel moves a device under its host name and renames it afterwards: a name already taken inside
        // would fail only after the move. Refuse it first, leaving the device on the host.
        if !new_name.contains("%d")
            && inside
                .link_exists(new_name)
                .map_err(|e| Error::config(&field, e.to_string()))?
        {
            return Err(Error::config(
                format!("{field}.name"),
                format!("{new_name:?} already exists in the container's network namespace"),
            ));
        }
        plan.push((name, field, new_name, index));
    }
    // A device moved in before a later step fails goes back to the host (under its host name, with its
    // addresses): left inside, it would die with the namespace when the failed create is cleaned up.
    let host_ns = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("open", "/proc/thread-self/ns/net", e))?;
    let mut moved: Vec<(&str, Option<u32>, Vec<netlink::Addr>)> = Vec::new();
    let result = (|| -> Result<()> {
        for (name, field, new_name, index) in plan {
            let addrs = host
                .permanent_global_addrs(index)
                .map_err(|e| Error::config(&field, e.to_string()))?;
            // A `%d` template is resolved by the kernel, so the moved device could not be found by name: it moves
            // under a temporary name and is renamed inside (it is down after the move, as a rename needs).
            let templated = new_name.contains("%d");
            let move_name = if templated {
                format!("holmnd{index:x}")
            } else {
                new_name.to_string()
            };
            host.move_link(index, ns.as_fd(), &move_name).map_err(|e| {
                let hint = if e.errno() == libc::EINVAL {
                    " (a device that cannot change namespace, such as a bridge)"
                } else {
                    ""
                };
                Error::config(
                    &field,
                    format!("move into the container as {new_name:?}: {e}{hint}"),
                )
            })?;
            moved.push((name.as_str(), None, addrs.clone()));
            // The kernel gives a moved device a new index when the namespace already uses its host one (a joined
            // namespace can): look it up inside, never reuse the host's.
            let index = inside
                .index_of(&move_name)
                .map_err(|e| Error::config(&field, e.to_string()))?
                .ok_or_else(|| {
                    Error::config(
                        &field,
                        format!("moved as {move_name:?} but not found in the container"),
                    )
                })?;
            if let Some(m) = moved.last_mut() {
                m.1 = Some(index);
            }
            if templated {
                inside.rename(index, new_name).map_err(|e| {
                    Error::config(
                        format!("{field}.name"),
                        format!("rename to {new_name:?}: {e}"),
                    )
                })?;
            }
            for a in &addrs {
                inside
                    .add_addr(index, a)
                    .map_err(|e| Error::config(&field, format!("restore an address: {e}")))?;
            }
            inside
                .set_up(index)
                .map_err(|e| Error::config(&field, format!("set up: {e}")))?;
            log::debug!(
                "netDevices: {name} moved into {ns_path} as {new_name} ({} address(es))",
                addrs.len()
            );
        }
        Ok(())
    })();
    if result.is_err() {
        for (name, index, addrs) in moved {
            let Some(index) = index else {
                log::warn!("netDevices: {name} could not be found to move back to the host");
                continue;
            };
            let back = inside
                .move_link(index, host_ns.as_fd(), name)
                .and_then(|()| netlink::link_index(name))
                .and_then(|i| addrs.iter().try_for_each(|a| host.add_addr(i, a)));
            if let Err(e) = back {
                log::warn!("netDevices: moving {name} back to the host: {e}");
            }
        }
    }
    result
}
