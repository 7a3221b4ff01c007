//! `mount(2)`, `umount2(2)` and `pivot_root(2)`.
//!
//! Callers inside holm pass `target` as `/proc/self/fd/N` of a directory fd they resolved safely inside the rootfs
//! (see [`crate::fs::fd_path`]), so the kernel mounts on exactly that object.

use crate::{check, cpath, cstr, Result};
use std::path::Path;

pub use libc::{
    MNT_DETACH, MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK, MS_MOVE, MS_NOATIME, MS_NODEV,
    MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT,
    MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
};

/// `mount(source, target, fstype, flags, data)`. `source`/`fstype`/`data` may be absent (NULL). `what` names the
/// mount in errors (e.g. the OCI destination), since `target` is often a `/proc/self/fd/N` path.
///
/// Errors: ``mount `proc` on `/proc`: EPERM``-style, built from `what`.
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
    what: &str,
) -> Result<()> {
    let src = source.map(|s| cpath("mount", s)).transpose()?;
    let tgt = cpath("mount", target)?;
    let fst = fstype.map(|s| cstr("mount", s)).transpose()?;
    let dat = data
        .filter(|d| !d.is_empty())
        .map(|s| cstr("mount", s))
        .transpose()?;
    // SAFETY: every pointer is either NULL or a NUL-terminated string that outlives the call; the kernel only reads
    // them.
    let ret = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            tgt.as_ptr(),
            fst.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            dat.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr() as *const libc::c_void),
        )
    };
    check(ret as _, "mount", || what.to_string()).map(drop)
}

/// `umount2(target, flags)` (e.g. [`MNT_DETACH`]).
pub fn umount2(target: &Path, flags: i32) -> Result<()> {
    let c = cpath("umount2", target)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::umount2(c.as_ptr(), flags) };
    check(ret as _, "umount2", || target.display().to_string()).map(drop)
}

/// `pivot_root(new_root, put_old)`. With both set to `"."` after `fchdir(new_root)` the old root ends up stacked
/// under the new one and can then be detached with `umount2(".", MNT_DETACH)` (the runc/LXC idiom).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let n = cpath("pivot_root", new_root)?;
    let o = cpath("pivot_root", put_old)?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) };
    check(ret, "pivot_root", || new_root.display().to_string()).map(drop)
}

/// A new, private procfs instance that is attached nowhere: `fsopen("proc")`, `fsconfig(FSCONFIG_CMD_CREATE)`,
/// `fsmount(FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID|NODEV|NOEXEC)` (the new mount API, Linux ≥ 5.2). Its view is the
/// caller's pid namespace. Nothing in a container's mount tree can cover or redirect paths under it, which makes
/// it the safe handle for writes such as sysctls and LSM attributes (`openat2` relative to the returned fd).
///
/// Errors: `fsopen`/`fsconfig`/`fsmount` with errno (`EPERM` without `CAP_SYS_ADMIN` over the pid namespace).
pub fn private_procfs() -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x02;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x04;
    const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x08;
    let name = cstr("fsopen", "proc")?;
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    let fs = check(fs, "fsopen", || "proc".into())?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value (NULL pointers, aux 0).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            std::os::fd::AsRawFd::as_raw_fd(&fs),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    check(ret, "fsconfig", || "proc".into())?;
    // SAFETY: fsmount takes the fs context fd and integer flags.
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            std::os::fd::AsRawFd::as_raw_fd(&fs),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )
    };
    let m = check(m, "fsmount", || "proc".into())?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}
