//! `--no-pivot` (a rootfs on a ramdisk, where `pivot_root` fails): the rootfs is moved over `/` and the init
//! `chroot`s into it, so the host's mounts stay in the container's mount namespace, hidden under the new root
//! but not gone. The kernel allows a new procfs or sysfs mount (from a user namespace the container creates)
//! only where a *fully visible* one exists in the mount namespace (`mount_too_revealing`): the host's `/proc`
//! would be one, and `unshare -mrpf mount -t proc none /proc` inside the container would get an unmasked
//! procfs (`/proc/sysrq-trigger`, …). So, as runc's `msMoveRoot` does, every full procfs and sysfs mount outside
//! the rootfs is detached first (made a slave so nothing propagates to the host), or covered with an empty tmpfs
//! where detaching is not allowed.

use crate::{Error, Result};
use holm_sys::mount::{mount, umount2, MNT_DETACH, MS_REC, MS_SLAVE};
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo` (proc(5)): the root of the mount within its file system, where it is
/// mounted, and the file-system type.
#[derive(Debug, PartialEq, Eq)]
struct MountLine {
    root: PathBuf,
    mountpoint: PathBuf,
    fstype: String,
}

fn parse(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            Some(MountLine {
                root: holm_cgroups::unescape_mountinfo_field(f.get(3)?),
                mountpoint: holm_cgroups::unescape_mountinfo_field(f.get(4)?),
                fstype: post.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

/// The full (`root` is `/`) procfs and sysfs mounts outside `rootfs`, in mountinfo order.
fn revealing(text: &str, rootfs: &Path) -> Vec<PathBuf> {
    parse(text)
        .into_iter()
        .filter(|m| m.root == Path::new("/") && (m.fstype == "proc" || m.fstype == "sysfs"))
        .filter(|m| !m.mountpoint.starts_with(rootfs))
        .map(|m| m.mountpoint)
        .collect()
}

/// Detaches (or covers) every full procfs and sysfs mount outside `rootfs` in the caller's mount namespace. Called
/// by the init just before it moves the rootfs over `/`.
///
/// Errors: reading mountinfo; a mount that can be neither detached nor covered.
pub(crate) fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    // mountinfo shows resolved paths: compare with the rootfs's.
    let rootfs = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
    for p in revealing(&text, &rootfs) {
        match mount(
            None,
            &p,
            None,
            MS_SLAVE | MS_REC,
            None,
            "no-pivot: host mount",
        ) {
            Ok(()) => {}
            // Gone with a parent detached before it.
            Err(e) if e.errno() == libc::ENOENT => continue,
            Err(e) => return Err(e.into()),
        }
        match umount2(&p, MNT_DETACH) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::EINVAL || e.errno() == libc::EPERM => {
                mount(
                    Some(Path::new("tmpfs")),
                    &p,
                    Some("tmpfs"),
                    0,
                    None,
                    "no-pivot: cover host mount",
                )?;
            }
            Err(e) => return Err(e.into()),
        }
        log::debug!("no-pivot: host {} hidden", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_full_proc_and_sysfs_outside_the_rootfs() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    23 27 0:22 / /sys rw - sysfs sysfs rw\n\
                    24 22 0:30 / /proc/sys/fs/binfmt_misc rw - binfmt_misc none rw\n\
                    25 27 0:21 /sys /mnt/partial rw - proc proc rw\n\
                    26 27 0:23 / /b/rootfs/proc rw - proc proc rw\n\
                    27 27 0:24 / /b/rootfs2/sys rw - sysfs sysfs rw\n\
                    28 27 0:25 / /with\\040space rw - proc proc rw\n";
        assert_eq!(
            revealing(text, Path::new("/b/rootfs")),
            ["/proc", "/sys", "/b/rootfs2/sys", "/with space"].map(PathBuf::from)
        );
    }
}
