//! The new mount API pieces holm uses besides `fsopen`: `mount_setattr(2)` (per-mount attributes, recursively with
//! `AT_RECURSIVE`, and id-mapped mounts), `open_tree(2)` (a detached copy of a mount tree) and `move_mount(2)`
//! (attaching it), Linux ≥ 5.12. Also [`userns_with_maps`], the user namespace an id-mapped mount takes its
//! mapping from.

use crate::{check, cpath, Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `MOUNT_ATTR_RDONLY` (linux/mount.h): the mount is read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID`: set-user/group-id bits and file capabilities are ignored.
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV`: device nodes cannot be opened.
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC`: files cannot be executed.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME`: the mask of the atime mode (an enum, not bits: clear the whole mask to set one).
pub const MOUNT_ATTR__ATIME: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` (0: the kernel's default atime mode).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME`: access times are never updated.
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME`: access times are always updated.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME`: directory access times are never updated.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_IDMAP`: the mount maps ids through the user namespace given as `userns_fd` (Linux ≥ 5.12).
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOUNT_ATTR_NOSYMFOLLOW`: symbolic links are not followed on path resolution (Linux ≥ 5.14).
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// What [`mount_setattr`] changes: attributes to set and to clear (`MOUNT_ATTR_*`), and for
/// [`MOUNT_ATTR_IDMAP`] the user namespace whose mapping the mount takes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` bits to set.
    pub set: u64,
    /// `MOUNT_ATTR_*` bits to clear (an atime mode needs [`MOUNT_ATTR__ATIME`] here).
    pub clear: u64,
}

/// `struct mount_attr` of linux/mount.h (`MOUNT_ATTR_SIZE_VER0`, 32 bytes).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: changes the attributes of the mount `fd` refers
/// to (an `O_PATH` fd of its root, or an `open_tree` fd), and with `recursive` of every mount below it.
/// `userns` is the user namespace for [`MOUNT_ATTR_IDMAP`]. `what` names the mount in errors.
///
/// Errors: `mount_setattr` with errno — `EINVAL` for an unknown bit or a bad atime combination, `EPERM` for an
/// attribute locked by a less privileged mount namespace, `EINVAL`/`EPERM` when the file system cannot be id-mapped.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: MountAttr,
    userns: Option<BorrowedFd<'_>>,
    what: &str,
) -> Result<()> {
    let raw = RawMountAttr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: 0,
        userns_fd: userns.map_or(0, |f| f.as_raw_fd() as u64),
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is a static empty C string, `raw` is a live `struct mount_attr` whose size is passed, and the
    // kernel only reads both during the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &raw as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    check(ret, "mount_setattr", || what.to_string()).map(drop)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a detached copy of the mount
/// at `path` (with the mounts below it when `recursive`), as a bind mount would make, to be changed with
/// [`mount_setattr`] and attached with [`move_mount`].
///
/// Errors: `open_tree` with the path and errno.
pub fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let c = cpath("open_tree", path)?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    let fd = check(ret, "open_tree", || path.display().to_string())?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attaches the detached mount
/// `from` (from [`open_tree_clone`]) on the object `to` refers to. `what` names the mount in errors.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>, what: &str) -> Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are static empty C strings; the fds are borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    check(ret, "move_mount", || what.to_string()).map(drop)
}

/// A new user namespace with the given `uid_map` and `gid_map` contents (`"inside outside count\n"` lines), held by
/// the returned fd of its `/proc/PID/ns/user`. A child is forked to own it for the moment the maps are written
/// (the caller needs `CAP_SETUID`/`CAP_SETGID` over the ids it maps), then killed and reaped: the fd keeps the
/// namespace alive. Only call from a single-threaded process.
///
/// Errors: `fork`/`pipe`/`read`, or `write` of `/proc/PID/{uid,gid}_map` (`EPERM` for ids the caller may not map,
/// `EINVAL` for overlapping ranges), or `open` of its ns file.
pub fn userns_with_maps(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    check(ret as _, "pipe2", String::new)?;
    // SAFETY: the kernel returned two new fds that nothing else owns.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    match crate::process::fork()? {
        crate::process::Fork::Child => {
            // The child only unshares, says so, and waits for the pipe to close (the parent kills it anyway). No
            // allocation or lock: async-signal-safe calls only.
            drop(rd);
            // SAFETY: plain syscalls on integers and a one-byte static buffer.
            unsafe {
                let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
                let b: u8 = if ok { 1 } else { 0 };
                libc::write(wr.as_raw_fd(), &b as *const u8 as *const libc::c_void, 1);
                libc::pause();
                libc::_exit(0)
            }
        }
        crate::process::Fork::Parent(pid) => {
            drop(wr);
            let r = (|| {
                let mut b = [0u8; 1];
                // SAFETY: `b` is a valid one-byte buffer.
                let n =
                    unsafe { libc::read(rd.as_raw_fd(), b.as_mut_ptr() as *mut libc::c_void, 1) };
                check(n as _, "read", || "userns helper pipe".into())?;
                if n != 1 || b[0] != 1 {
                    return Err(Error::from_errno(
                        "unshare",
                        "CLONE_NEWUSER (id-map helper)",
                        libc::EPERM,
                    ));
                }
                for (file, text) in [("uid_map", uid_map), ("gid_map", gid_map)] {
                    let p = format!("/proc/{pid}/{file}");
                    std::fs::write(&p, text).map_err(|e| Error {
                        syscall: "write",
                        target: p.clone(),
                        source: e,
                    })?;
                }
                let p = format!("/proc/{pid}/ns/user");
                let f = std::fs::File::open(&p).map_err(|e| Error {
                    syscall: "open",
                    target: p.clone(),
                    source: e,
                })?;
                Ok(OwnedFd::from(f))
            })();
            let _ = crate::process::kill(pid, libc::SIGKILL);
            let _ = crate::process::waitpid(pid, 0);
            r
        }
    }
}
