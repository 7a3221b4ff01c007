//! File-system calls relative to directory fds: `openat2(2)`, `mkdirat(2)`, `mknodat(2)`, `symlinkat(2)`,
//! `mkfifoat(3)`, `close_range(2)`.

use crate::{check, cpath, Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// `RESOLVE_*` flags of `openat2(2)` (linux/openat2.h).
pub mod resolve {
    /// Refuse to cross mount points.
    pub const NO_XDEV: u64 = 0x01;
    /// Refuse magic links such as `/proc/self/fd/N` and `/proc/self/exe`.
    pub const NO_MAGICLINKS: u64 = 0x02;
    /// Refuse every symlink.
    pub const NO_SYMLINKS: u64 = 0x04;
    /// Refuse to leave the directory `dirfd` ("..", absolute symlinks fail with EXDEV).
    pub const BENEATH: u64 = 0x08;
    /// Treat `dirfd` as the root: "..", absolute paths and absolute symlinks stay inside it (a chroot for one lookup).
    pub const IN_ROOT: u64 = 0x10;
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dirfd, path, {flags, mode, resolve})`: opens `path` relative to `dirfd` under the `RESOLVE_*` rules in
/// `resolve` (see [`resolve`]). `flags` are `O_*` flags; `O_CLOEXEC` is always added.
///
/// Errors: `openat2` with the path, e.g. `ENOENT`, `EXDEV` (a lookup tried to escape), `ELOOP`.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd> {
    let c = cpath("openat2", path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `c` is a NUL-terminated string that outlives the call, `how` is a properly laid out `open_how`
        // whose size we pass; the kernel only reads both.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
            // EAGAIN: a concurrent rename raced with RESOLVE_IN_ROOT/BENEATH; the kernel asks us to retry.
            continue;
        }
        let fd = check(ret, "openat2", || path.display().to_string())?;
        // SAFETY: the kernel returned a new file descriptor that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
}

/// `mkdirat(dirfd, name, mode)`. Errors name `name`; `EEXIST` is returned as an error for the caller to judge.
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let c = cpath("mkdirat", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::mkdirat(dirfd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) };
    check(ret as _, "mkdirat", || name.display().to_string()).map(drop)
}

/// `mknodat(dirfd, name, mode, makedev(major, minor))`: `mode` holds the file type (`S_IFCHR`, `S_IFBLK`,
/// `S_IFIFO`) and permission bits (the umask applies). A major or minor above `u32::MAX` (which `makedev` cannot
/// take) fails with `EOVERFLOW` instead of being truncated into another device; the kernel itself refuses
/// (`EINVAL`) numbers beyond its 12-bit major / 20-bit minor encoding.
pub fn mknodat(
    dirfd: BorrowedFd<'_>,
    name: &Path,
    mode: u32,
    major: u64,
    minor: u64,
) -> Result<()> {
    let c = cpath("mknodat", name)?;
    let (Ok(ma), Ok(mi)) = (u32::try_from(major), u32::try_from(minor)) else {
        return Err(Error::from_errno(
            "mknodat",
            format!("{} (device {major}:{minor})", name.display()),
            libc::EOVERFLOW,
        ));
    };
    let dev = libc::makedev(ma, mi);
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::mknodat(dirfd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t, dev) };
    check(ret as _, "mknodat", || name.display().to_string()).map(drop)
}

/// `symlinkat(target, dirfd, name)`: creates `name` (relative to `dirfd`) pointing at `target`.
pub fn symlinkat(target: &Path, dirfd: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let t = cpath("symlinkat", target)?;
    let n = cpath("symlinkat", name)?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe { libc::symlinkat(t.as_ptr(), dirfd.as_raw_fd(), n.as_ptr()) };
    check(ret as _, "symlinkat", || name.display().to_string()).map(drop)
}

/// `mkfifoat(dirfd, name, mode)`.
pub fn mkfifoat(dirfd: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let c = cpath("mkfifoat", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::mkfifoat(dirfd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) };
    check(ret as _, "mkfifoat", || name.display().to_string()).map(drop)
}

/// `fchmodat(dirfd, name, mode, 0)`; used on names just created by this process (no symlink can be there).
pub fn fchmodat(dirfd: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let c = cpath("fchmodat", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::fchmodat(dirfd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t, 0) };
    check(ret as _, "fchmodat", || name.display().to_string()).map(drop)
}

/// `fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; with an empty `name` it changes `dirfd` itself
/// (`AT_EMPTY_PATH`).
pub fn fchownat(dirfd: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32) -> Result<()> {
    let c = cpath("fchownat", name)?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW;
    if name.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::fchownat(dirfd.as_raw_fd(), c.as_ptr(), uid, gid, flags) };
    check(ret as _, "fchownat", || name.display().to_string()).map(drop)
}

/// Marks every fd `>= first` close-on-exec (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`), so that nothing but
/// the fds below `first` survives the next `execve`.
pub fn cloexec_from(first: RawFd) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags of this process's fd table; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret, "close_range", || format!("fd {first}..")).map(drop)
}

/// Sets or clears `FD_CLOEXEC` on one fd.
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and write the fd's flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    check(flags as _, "fcntl(F_GETFD)", || {
        format!("fd {}", fd.as_raw_fd())
    })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, new) };
    check(ret as _, "fcntl(F_SETFD)", || {
        format!("fd {}", fd.as_raw_fd())
    })
    .map(drop)
}

/// Sets or clears `O_NONBLOCK` on an open file description (shared by every fd duplicated from it).
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    // SAFETY: F_GETFL/F_SETFL only read and write the open file's status flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    check(flags as _, "fcntl(F_GETFL)", || {
        format!("fd {}", fd.as_raw_fd())
    })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) };
    check(ret as _, "fcntl(F_SETFL)", || {
        format!("fd {}", fd.as_raw_fd())
    })
    .map(drop)
}

/// `dup3(old, new, 0)`: makes `new` a copy of `old` (without `FD_CLOEXEC`). Used for stdio (0, 1, 2) before exec.
pub fn dup_onto(old: BorrowedFd<'_>, new: RawFd) -> Result<()> {
    if old.as_raw_fd() == new {
        return set_cloexec(old, false);
    }
    // SAFETY: dup3 only manipulates this process's fd table; `new` being replaced is the point of the call.
    let ret = unsafe { libc::dup3(old.as_raw_fd(), new, 0) };
    check(ret as _, "dup3", || {
        format!("fd {} onto {new}", old.as_raw_fd())
    })
    .map(drop)
}

/// `fchdir(fd)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: fchdir takes only an fd.
    let ret = unsafe { libc::fchdir(fd.as_raw_fd()) };
    check(ret as _, "fchdir", || format!("fd {}", fd.as_raw_fd())).map(drop)
}

/// `chroot(path)`.
pub fn chroot(path: &Path) -> Result<()> {
    let c = cpath("chroot", path)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::chroot(c.as_ptr()) };
    check(ret as _, "chroot", || path.display().to_string()).map(drop)
}

/// `umask(mask)`, returning the previous mask.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail and touches no memory.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// `fstatfs(fd).f_type`: the magic number of the file system holding `fd` (e.g. `PROC_SUPER_MAGIC`).
pub fn fs_magic(fd: BorrowedFd<'_>) -> Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is a buffer of the right type for the kernel to fill.
    let ret = unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    check(ret as _, "fstatfs", || format!("fd {}", fd.as_raw_fd()))?;
    // SAFETY: fstatfs succeeded, so the struct was filled in.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every architecture
    Ok(st.f_type as i64)
}

/// `/proc/self/fd/N` for an fd: the magic-link path through which `mount(2)` and friends reach exactly the object
/// the fd holds, whatever happens to its name afterwards.
pub fn fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `Error` for callers that need to report an `openat2`-style failure of their own making.
pub fn einval(syscall: &'static str, target: impl Into<String>) -> Error {
    Error::from_errno(syscall, target, libc::EINVAL)
}

/// `readlinkat(dirfd, name)`: the target of the symlink `name`.
pub fn readlinkat(dirfd: BorrowedFd<'_>, name: &Path) -> Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let c = cpath("readlinkat", name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for `buf.len()` bytes; `c` is NUL-terminated.
    let n = unsafe {
        libc::readlinkat(
            dirfd.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    };
    let n = check(n as _, "readlinkat", || name.display().to_string())? as usize;
    buf.truncate(n);
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// `unlinkat(dirfd, name, flags)` (`AT_REMOVEDIR` removes an empty directory).
pub fn unlinkat(dirfd: BorrowedFd<'_>, name: &Path, flags: i32) -> Result<()> {
    let c = cpath("unlinkat", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::unlinkat(dirfd.as_raw_fd(), c.as_ptr(), flags) };
    check(ret as _, "unlinkat", || name.display().to_string()).map(drop)
}

/// The `ST_*` mount flags (`ST_RDONLY`, `ST_NOSUID`, `ST_NODEV`, `ST_NOEXEC`, …) of the mount holding `fd`, from
/// `fstatvfs(3)`; used to keep locked flags when remounting.
pub fn mount_flags(fd: BorrowedFd<'_>) -> Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is a buffer of the right type for libc to fill.
    let ret = unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    check(ret as _, "fstatvfs", || format!("fd {}", fd.as_raw_fd()))?;
    // SAFETY: fstatvfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_flag is not u64 on every architecture
    Ok(st.f_flag as u64)
}

/// Bytes available to an unprivileged writer on the file system holding `fd` (`fstatvfs(3)`: `f_bavail ×
/// f_frsize`).
pub fn available_bytes(fd: BorrowedFd<'_>) -> Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is a buffer of the right type for libc to fill.
    let ret = unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    check(ret as _, "fstatvfs", || format!("fd {}", fd.as_raw_fd()))?;
    // SAFETY: fstatvfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// True if `fd` is an open file descriptor of this process (`fcntl(fd, F_GETFD)` succeeds).
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; it fails with EBADF for unopened fds.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Clears `FD_CLOEXEC` on the open fds among `first..first+count` (runc's `--preserve-fds`), so they survive the
/// next `execve`. Fds in the range that are not open are skipped.
pub fn keep_across_exec(first: RawFd, count: i32) -> Result<()> {
    for fd in first..first.saturating_add(count) {
        // SAFETY: F_GETFD/F_SETFD only read and write the descriptor flags of `fd`; an unopened fd fails with
        // EBADF, which we skip.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            continue;
        }
        // SAFETY: as above.
        let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) };
        check(ret as _, "fcntl(F_SETFD)", || format!("fd {fd}"))?;
    }
    Ok(())
}

// ---- Metadata calls for layer unpacking (holm-image): none of them follows a symlink in the last component. ----

/// `fchmodat2(dirfd, name, mode, AT_SYMLINK_NOFOLLOW)` (Linux 6.6+): changes the mode of `name` itself, never the
/// target of a symlink (on a symlink the kernel fails with `EOPNOTSUPP`). On older kernels (`ENOSYS`) it opens
/// `name` with `O_PATH | O_NOFOLLOW` and changes the mode through `/proc/self/fd/N`, refusing symlinks the same way.
///
/// Errors: `fchmodat2` with `name`.
pub fn fchmodat_nofollow(dirfd: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let c = cpath("fchmodat2", name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call; fchmodat2 only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dirfd.as_raw_fd(),
            c.as_ptr(),
            mode as libc::c_uint,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        let fd = openat2(dirfd, name, libc::O_PATH | libc::O_NOFOLLOW, 0, 0)?;
        let f = std::fs::File::from(fd);
        let meta = f.metadata().map_err(|e| {
            Error::from_errno(
                "fstat",
                name.display().to_string(),
                e.raw_os_error().unwrap_or(0),
            )
        })?;
        if meta.file_type().is_symlink() {
            return Err(Error::from_errno(
                "fchmodat2",
                name.display().to_string(),
                libc::EOPNOTSUPP,
            ));
        }
        use std::os::fd::AsFd;
        let p = cpath("chmod", &fd_path(f.as_fd()))?;
        // SAFETY: `p` is NUL-terminated and names the magic link of an fd we hold, which is not a symlink.
        let ret = unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) };
        return check(ret as _, "chmod", || name.display().to_string()).map(drop);
    }
    check(ret, "fchmodat2", || name.display().to_string()).map(drop)
}

/// `utimensat(dirfd, name, [atime, mtime], AT_SYMLINK_NOFOLLOW)`: sets the access and modification times of `name`
/// itself (a symlink's own times, never its target's). Each time is `(seconds, nanoseconds)` since the Unix epoch.
pub fn utimensat_nofollow(
    dirfd: BorrowedFd<'_>,
    name: &Path,
    atime: (i64, i64),
    mtime: (i64, i64),
) -> Result<()> {
    let c = cpath("utimensat", name)?;
    let ts = [
        libc::timespec {
            tv_sec: atime.0 as libc::time_t,
            tv_nsec: atime.1 as _,
        },
        libc::timespec {
            tv_sec: mtime.0 as libc::time_t,
            tv_nsec: mtime.1 as _,
        },
    ];
    // SAFETY: `c` is NUL-terminated, `ts` is an array of two timespecs; both outlive the call and are only read.
    let ret = unsafe {
        libc::utimensat(
            dirfd.as_raw_fd(),
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(ret as _, "utimensat", || name.display().to_string()).map(drop)
}

/// `linkat(olddirfd, oldname, newdirfd, newname, 0)`: makes `newname` a hard link to `oldname`. Without
/// `AT_SYMLINK_FOLLOW`, a symlink at `oldname` is linked itself, never its target.
pub fn linkat(
    olddirfd: BorrowedFd<'_>,
    oldname: &Path,
    newdirfd: BorrowedFd<'_>,
    newname: &Path,
) -> Result<()> {
    let o = cpath("linkat", oldname)?;
    let n = cpath("linkat", newname)?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::linkat(
            olddirfd.as_raw_fd(),
            o.as_ptr(),
            newdirfd.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    };
    check(ret as _, "linkat", || {
        format!("{} -> {}", newname.display(), oldname.display())
    })
    .map(drop)
}

/// `fsetxattr(fd, key, value, 0)`: sets an extended attribute (e.g. `security.capability`) on an open file.
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> Result<()> {
    let k = crate::cstr("fsetxattr", key)?;
    // SAFETY: `k` is NUL-terminated; `value` is readable for `value.len()` bytes; both outlive the call.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    check(ret as _, "fsetxattr", || key.to_string()).map(drop)
}

/// `lsetxattr("/proc/self/fd/<dirfd>/<name>", key, value, 0)`: sets an extended attribute on the entry `name` of the
/// directory `dirfd` itself (a symlink is not followed). `name` must be a single path component.
pub fn lsetxattrat(dirfd: BorrowedFd<'_>, name: &Path, key: &str, value: &[u8]) -> Result<()> {
    let p = cpath("lsetxattr", &fd_path(dirfd).join(name))?;
    let k = crate::cstr("lsetxattr", key)?;
    // SAFETY: `p` and `k` are NUL-terminated; `value` is readable for `value.len()` bytes; all outlive the call.
    let ret = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    check(ret as _, "lsetxattr", || {
        format!("{} {key}", name.display())
    })
    .map(drop)
}

/// `lgetxattr(path, key)`: the value of an extended attribute of `path` itself (no symlink following), or `None`
/// when it has no such attribute (`ENODATA`).
pub fn lgetxattr(path: &Path, key: &str) -> Result<Option<Vec<u8>>> {
    let p = cpath("lgetxattr", path)?;
    let k = crate::cstr("lgetxattr", key)?;
    let mut buf = vec![0u8; 65536];
    // SAFETY: `p`, `k` are NUL-terminated; `buf` is writable for `buf.len()` bytes.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            k.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    if n == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENODATA) {
        return Ok(None);
    }
    let n = check(n as _, "lgetxattr", || format!("{} {key}", path.display()))? as usize;
    buf.truncate(n);
    Ok(Some(buf))
}

/// `llistxattr(path)`: the names of the extended attributes of `path` itself (no symlink following).
pub fn llistxattr(path: &Path) -> Result<Vec<String>> {
    let p = cpath("llistxattr", path)?;
    let mut buf = vec![0u8; 65536];
    // SAFETY: `p` is NUL-terminated; `buf` is writable for `buf.len()` bytes.
    let n =
        unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    let n = check(n as _, "llistxattr", || path.display().to_string())? as usize;
    Ok(buf[..n]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// `syncfs(fd)`: flushes every dirty page and inode of the file system holding `fd` (one call instead of an
/// fsync per file, e.g. after unpacking a layer tree).
pub fn syncfs(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: syncfs takes only an fd.
    let ret = unsafe { libc::syncfs(fd.as_raw_fd()) };
    check(ret as _, "syncfs", || format!("fd {}", fd.as_raw_fd())).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a new owned, close-on-exec duplicate of an fd owned elsewhere (for example by a
/// C library such as libseccomp), without taking ownership of the original.
pub fn dup_raw(fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd` and returns a new descriptor (or fails with EBADF); it does not
    // affect the original's ownership.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    check(new as _, "fcntl(F_DUPFD_CLOEXEC)", || format!("fd {fd}"))?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    #[test]
    fn mknodat_refuses_numbers_makedev_cannot_take() {
        let dir = std::fs::File::open("/tmp").unwrap();
        for (major, minor) in [(1u64 << 32 | 1, 3), (1, 1u64 << 32 | 3)] {
            let e = super::mknodat(
                dir.as_fd(),
                std::path::Path::new("holm-never-created"),
                libc::S_IFCHR | 0o600,
                major,
                minor,
            )
            .unwrap_err();
            assert_eq!(e.errno(), libc::EOVERFLOW, "{e}");
            assert!(e.to_string().contains(&format!("{major}:{minor}")), "{e}");
        }
    }
}
