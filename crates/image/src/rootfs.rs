//! Safe access to paths inside a container's root filesystem: every lookup goes through
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on an fd of the rootfs, so `..` and symlinks (absolute or
//! relative) resolve as they would with the rootfs as `/`, never outside it.

use holm_sys::fs::{self as sysfs, resolve};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const IN_ROOT: u64 = resolve::IN_ROOT | resolve::NO_MAGICLINKS;

fn sys(e: holm_sys::Error) -> io::Error {
    io::Error::from(e)
}

/// Lexically cleans a container path: `/app/../../etc//x` → `/etc/x`; relative paths are taken from `/`.
pub fn clean(path: &str) -> PathBuf {
    let comps = crate::unpack::names::clean(path.as_bytes());
    let mut p = PathBuf::from("/");
    for c in comps {
        p.push(OsStr::from_bytes(c));
    }
    p
}

fn open_root(rootfs: &Path) -> io::Result<File> {
    File::open(rootfs)
        .map_err(|e| io::Error::new(e.kind(), format!("open rootfs {}: {e}", rootfs.display())))
}

/// Resolves `path` inside `rootfs` (creating missing directories, mode 0755, if `create`) and returns where it
/// really is, as an absolute path inside the container (symlinks resolved within the rootfs).
pub fn resolve_dir(rootfs: &Path, path: &str, create: bool) -> io::Result<PathBuf> {
    let root = open_root(rootfs)?;
    let clean = clean(path);
    let rel = clean.strip_prefix("/").unwrap_or(&clean).to_path_buf();
    let fd = if create {
        mkdir_all(&root, &rel)?
    } else {
        open_in_root(&root, &rel)?
    };
    let real = std::fs::read_link(sysfs::fd_path(fd.as_fd()))?;
    let root_real = std::fs::read_link(sysfs::fd_path(root.as_fd()))?;
    let inside = real.strip_prefix(&root_real).map_err(|_| {
        io::Error::other(format!("{} resolved outside the rootfs", clean.display()))
    })?;
    Ok(Path::new("/").join(inside))
}

fn open_in_root(root: &File, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    sysfs::openat2(
        root.as_fd(),
        rel,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        IN_ROOT,
    )
    .map_err(sys)
}

fn mkdir_all(root: &File, rel: &Path) -> io::Result<OwnedFd> {
    let mut cur = open_in_root(root, Path::new(""))?;
    let mut prefix = PathBuf::new();
    for c in rel.components() {
        prefix.push(c);
        cur = match open_in_root(root, &prefix) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match sysfs::mkdirat(cur.as_fd(), Path::new(c.as_os_str()), 0o755) {
                    Err(e) if e.errno() != libc::EEXIST => return Err(sys(e)),
                    _ => {}
                }
                open_in_root(root, &prefix)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// Reads a small regular file inside `rootfs` (e.g. `/etc/passwd`), at most `max` bytes. `Ok(None)` if it does
/// not exist. A FIFO, device or directory there is an error, not a hang.
pub fn read_file(rootfs: &Path, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
    let root = open_root(rootfs)?;
    let clean = clean(path);
    let rel = clean.strip_prefix("/").unwrap_or(&clean);
    let fd = match sysfs::openat2(
        root.as_fd(),
        rel,
        libc::O_RDONLY | libc::O_NONBLOCK,
        0,
        IN_ROOT,
    ) {
        Ok(fd) => fd,
        Err(e) if e.errno() == libc::ENOENT => return Ok(None),
        Err(e) => return Err(sys(e)),
    };
    let f = File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            clean.display()
        )));
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/app/../../etc//x"), Path::new("/etc/x"));
        assert_eq!(clean("rel/dir"), Path::new("/rel/dir"));
        assert_eq!(clean(""), Path::new("/"));
        assert_eq!(clean("/.."), Path::new("/"));
    }

    #[test]
    fn resolve_and_read_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("opt/app")).unwrap();
        std::os::unix::fs::symlink("/opt/app", r.join("app")).unwrap();
        std::os::unix::fs::symlink("../../../../", r.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", r.join("hostlink")).unwrap();
        assert_eq!(
            resolve_dir(r, "/app", false).unwrap(),
            Path::new("/opt/app")
        );
        assert_eq!(
            resolve_dir(r, "/app/../../x/y", true).unwrap(),
            Path::new("/x/y")
        );
        assert!(r.join("x/y").is_dir());
        assert_eq!(resolve_dir(r, "/up/new", true).unwrap(), Path::new("/new"));
        assert!(r.join("new").is_dir());
        assert_eq!(
            resolve_dir(r, "/app/sub", true).unwrap(),
            Path::new("/opt/app/sub")
        );
        assert!(resolve_dir(r, "/missing", false).is_err());
        // /etc/hostname of the host is not read through an absolute symlink
        assert_eq!(read_file(r, "/hostlink", 1024).unwrap(), None);
        std::fs::write(r.join("f"), b"hello").unwrap();
        assert_eq!(read_file(r, "/up/f", 3).unwrap().unwrap(), b"hel");
    }
}
