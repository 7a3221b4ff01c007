//! Id-mapped bind mounts (runtime-spec 1.2+ `mounts[].uidMappings`/`gidMappings`, options `idmap`/`ridmap`;
//! mount_setattr(2) `MOUNT_ATTR_IDMAP`, Linux ≥ 5.12).
//!
//! A file whose owner on disk is `containerID + k` shows as owned by `hostID + k` through the mount (ids outside
//! every range show as the overflow id 65534). The runtime prepares each such mount before the first fork, in its
//! own (host) namespaces where it holds every privilege: a user namespace carrying the mapping
//! ([`holm_sys::mount_attr::userns_with_maps`]), a detached copy of the source (`open_tree(OPEN_TREE_CLONE)`,
//! with the mounts below it for `rbind`) and `mount_setattr(MOUNT_ATTR_IDMAP)` on it (on every mount of the copy
//! for `ridmap`). The container init inherits the fds and attaches them with `move_mount` where the bind would
//! have gone, so this works for containers with and without a user namespace of their own.
//!
//! Rules (runc's): only bind mounts can be id-mapped; `uidMappings` and `gidMappings` come together; `idmap`
//! without mappings takes the container's own `linux.uidMappings`/`gidMappings`; mappings without an `idmap` or
//! `ridmap` option are an `idmap` mount. The file system of the source must support id-mapped mounts (ext4, xfs,
//! btrfs, tmpfs since 6.3, overlayfs since 5.19, …): the error names the mount otherwise.

use crate::mountopts::MountOptions;
use crate::spec::Bundle;
use crate::{Error, Result};
use holm_sys::mount_attr::{self, MountAttr};
use oci_spec::runtime::{Linux, LinuxIdMapping, Mount};
use std::os::fd::{AsFd, OwnedFd};

/// Detached, id-mapped mount trees by index in `mounts`, made by [`prepare`].
pub type Prepared = Vec<(usize, OwnedFd)>;

/// True when `mounts[i]` asks for an id-mapped mount.
pub fn wanted(m: &Mount, o: &MountOptions) -> bool {
    o.idmap.is_some() || m.uid_mappings().is_some() || m.gid_mappings().is_some()
}

/// The (uid, gid) mappings of an id-mapped mount, checked: both given and non-empty with sizes ≥ 1, or both taken
/// from the container's user namespace for `idmap` alone. Errors name the field.
pub fn mappings<'a>(
    i: usize,
    m: &'a Mount,
    o: &MountOptions,
    linux: &'a Linux,
) -> Result<(&'a [LinuxIdMapping], &'a [LinuxIdMapping])> {
    let bind = o.bind || m.typ().as_deref() == Some("bind");
    if !bind {
        return Err(Error::config(
            format!("mounts[{i}]"),
            "only bind mounts can be id-mapped (`idmap`/`ridmap`, uidMappings, gidMappings)",
        ));
    }
    let (u, g) = match (m.uid_mappings(), m.gid_mappings()) {
        (None, None) => {
            let (u, g) = (linux.uid_mappings(), linux.gid_mappings());
            if u.as_ref().is_none_or(|v| v.is_empty()) || g.as_ref().is_none_or(|v| v.is_empty()) {
                return Err(Error::config(
                    format!("mounts[{i}].uidMappings"),
                    "`idmap` without mappings uses the container's user namespace mappings, and it has none",
                ));
            }
            return Ok((u.as_deref().unwrap(), g.as_deref().unwrap()));
        }
        (Some(u), Some(g)) => (u, g),
        (Some(_), None) => {
            return Err(Error::config(
                format!("mounts[{i}].gidMappings"),
                "missing: uidMappings and gidMappings must be given together",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::config(
                format!("mounts[{i}].uidMappings"),
                "missing: uidMappings and gidMappings must be given together",
            ))
        }
    };
    for (field, list) in [("uidMappings", u), ("gidMappings", g)] {
        if list.is_empty() {
            return Err(Error::config(
                format!("mounts[{i}].{field}"),
                "needs at least one mapping",
            ));
        }
        check_map(&format!("mounts[{i}].{field}"), list)?;
    }
    Ok((u, g))
}

/// Most extents a uid_map/gid_map takes (`UID_GID_MAP_MAX_EXTENTS`, user_namespaces(7)).
const MAX_EXTENTS: usize = 340;

/// Checks an id mapping list the way the kernel checks a `uid_map`/`gid_map` write (user_namespaces(7)), so a
/// bad one is refused naming the entry and the rule instead of an `EINVAL` from the write: each `size` at least
/// 1, `containerID + size` and `hostID + size` at most 2³² − 1, at most 340 entries, no two ranges overlapping on
/// either side. `field` names the list (`linux.uidMappings`, `mounts[2].gidMappings`).
pub fn check_map(field: &str, list: &[LinuxIdMapping]) -> Result<()> {
    if list.len() > MAX_EXTENTS {
        return Err(Error::config(
            field,
            format!(
                "{} mappings: the kernel takes at most {MAX_EXTENTS}",
                list.len()
            ),
        ));
    }
    let end = |first: u32, size: u32| first as u64 + size as u64;
    for (k, e) in list.iter().enumerate() {
        if e.size() == 0 {
            return Err(Error::config(
                format!("{field}[{k}].size"),
                "must be at least 1",
            ));
        }
        for (name, first) in [("containerID", e.container_id()), ("hostID", e.host_id())] {
            if end(first, e.size()) > u32::MAX as u64 {
                return Err(Error::config(
                    format!("{field}[{k}]"),
                    format!(
                        "{name} + size must be at most 4294967295 (got {first} + {})",
                        e.size()
                    ),
                ));
            }
        }
        for (j, o) in list[..k].iter().enumerate() {
            for (name, a, b) in [
                ("containerID", e.container_id(), o.container_id()),
                ("hostID", e.host_id(), o.host_id()),
            ] {
                if (a as u64) < end(b, o.size()) && (b as u64) < end(a, e.size()) {
                    return Err(Error::config(
                        format!("{field}[{k}]"),
                        format!("its {name} range overlaps that of {field}[{j}]"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn map_text(list: &[LinuxIdMapping]) -> String {
    list.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Makes the detached id-mapped trees for every mount that asks for one (see the module text). Call in the
/// runtime before forking the container's first process. Errors name `mounts[i]`.
pub fn prepare(bundle: &Bundle) -> Result<Prepared> {
    let mut out = Prepared::new();
    let Some(linux) = bundle.spec.linux().as_ref() else {
        return Ok(out);
    };
    let mut userns: Vec<(String, OwnedFd)> = Vec::new();
    for (i, m) in bundle.spec.mounts().iter().flatten().enumerate() {
        let o = crate::mountopts::parse(m.options().as_deref().unwrap_or_default())
            .map_err(|msg| Error::config(format!("mounts[{i}].options"), msg))?;
        if !wanted(m, &o) {
            continue;
        }
        let (u, g) = mappings(i, m, &o, linux)?;
        let key = format!("{}|{}", map_text(u), map_text(g));
        let ns = match userns.iter().position(|(k, _)| *k == key) {
            Some(p) => p,
            None => {
                let fd = mount_attr::userns_with_maps(&map_text(u), &map_text(g)).map_err(|e| {
                    Error::config(format!("mounts[{i}].uidMappings"), e.to_string())
                })?;
                userns.push((key, fd));
                userns.len() - 1
            }
        };
        let src = crate::rootfs::bind_source(i, m, &bundle.dir)?;
        let what = format!("id-mapped mount of `{}`", src.display());
        let tree = mount_attr::open_tree_clone(&src, o.recursive)
            .map_err(|e| Error::config(format!("mounts[{i}].source"), e.to_string()))?;
        let attr = MountAttr {
            set: mount_attr::MOUNT_ATTR_IDMAP,
            clear: 0,
        };
        mount_attr::mount_setattr(
            tree.as_fd(),
            o.idmap == Some(true),
            attr,
            Some(userns[ns].1.as_fd()),
            &what,
        )
        .map_err(|e| {
            let hint = if matches!(e.errno(), libc::EINVAL | libc::EPERM) {
                " (the source's file system may not support id-mapped mounts)"
            } else {
                ""
            };
            Error::config(format!("mounts[{i}]"), format!("{e}{hint}"))
        })?;
        out.push((i, tree));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": c, "hostID": h, "size": s}))
            .unwrap()
    }

    fn err(list: &[LinuxIdMapping]) -> String {
        check_map("linux.uidMappings", list)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn maps_the_kernel_takes_pass() {
        check_map("f", &[m(0, 100000, 65536)]).unwrap();
        check_map("f", &[m(0, 0, u32::MAX)]).unwrap();
        check_map("f", &[m(0, 1000, 10), m(10, 2000, 10), m(20, 1010, 5)]).unwrap();
        check_map(
            "f",
            &(0..340).map(|i| m(i, 1000 + i, 1)).collect::<Vec<_>>(),
        )
        .unwrap();
    }

    #[test]
    fn maps_the_kernel_refuses_name_the_entry_and_rule() {
        let e = err(&[m(0, 0, 1), m(5, 0, 0)]);
        assert!(
            e.contains("linux.uidMappings[1].size") && e.contains("at least 1"),
            "{e}"
        );
        let e = err(&[m(u32::MAX, 0, 1)]);
        assert!(
            e.contains("linux.uidMappings[0]") && e.contains("containerID + size"),
            "{e}"
        );
        let e = err(&[m(0, u32::MAX - 1, 2)]);
        assert!(e.contains("hostID + size"), "{e}");
        let e = err(&[m(0, 1000, 10), m(5, 5000, 10)]);
        assert!(
            e.contains("linux.uidMappings[1]")
                && e.contains("containerID range overlaps")
                && e.contains("[0]"),
            "{e}"
        );
        let e = err(&[m(0, 1000, 10), m(50, 1009, 1)]);
        assert!(e.contains("hostID range overlaps"), "{e}");
        let e = err(&(0..341).map(|i| m(i, 1000 + i, 1)).collect::<Vec<_>>());
        assert!(e.contains("341 mappings") && e.contains("340"), "{e}");
    }
}
