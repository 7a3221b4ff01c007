//! `holm cp`: copies between the host and a container's filesystem. Every path inside the container is resolved
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on an fd of the container's root (holm-container's
//! [`resolve`] module), so `..`, absolute paths and symlinks in the container stay in the container: a symlink
//! `/data -> /tmp` sends a file to the *container's* `/tmp`, never the host's. A running container is reached
//! through `/proc/<init>/root` (its own mount namespace: its tmpfs and bind mounts included); a stopped one through
//! its rootfs snapshot, mounted for the copy.
//!
//! docker's rules for the destination: an existing directory receives the source under its own name (a source
//! ending in `/.` copies a directory's contents); otherwise the destination is the new name. Symlinks in the
//! source are copied as symlinks; files keep their permission bits; copied files belong to root in the container.

use crate::db::State;
use crate::{ops, Engine, Error, Result};
use holm_container::resolve;
use holm_sys::fs::resolve as r;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const IN_ROOT: u64 = r::IN_ROOT | r::NO_MAGICLINKS;

fn cp_err(what: String, e: impl std::fmt::Display) -> Error {
    Error::Io {
        what,
        source: std::io::Error::other(e.to_string()),
    }
}

/// The container's root directory for a copy; unmounts a rootfs it mounted when dropped.
struct Root<'a> {
    fd: OwnedFd,
    engine: &'a Engine,
    id: String,
    mounted: bool,
}

impl Drop for Root<'_> {
    fn drop(&mut self) {
        if self.mounted
            && !self.engine.monitor_alive(&self.id)
            && self
                .engine
                .db()
                .and_then(|db| db.get(&self.id))
                .is_ok_and(|r| r.is_none_or(|r| r.state != State::Running))
        {
            let _ = ops::unmount_rootfs(self.engine, &self.id);
        }
    }
}

fn open_root<'a>(engine: &'a Engine, what: &str) -> Result<Root<'a>> {
    let rec = engine.find(what)?;
    let open_dir = |p: &Path| {
        File::open(p)
            .map(OwnedFd::from)
            .map_err(Error::io(format!("open {}", p.display())))
    };
    // The recorded pid is only trusted while the runtime state (which checks the process's start time) says it is
    // still this container's init: before opening its root, and after (so the fd is the container's root even if
    // the pid were recycled in between).
    let live = || {
        engine.runtime_of(&rec.id).state(&rec.id).is_some_and(|s| {
            s.pid == rec.pid
                && matches!(
                    s.status,
                    holm_container::Status::Running | holm_container::Status::Paused
                )
        })
    };
    if rec.state == State::Running && rec.pid > 0 && live() {
        let fd = open_dir(Path::new(&format!("/proc/{}/root", rec.pid)))?;
        if live() {
            return Ok(Root {
                fd,
                engine,
                id: rec.id,
                mounted: false,
            });
        }
    }
    ops::mount_rootfs(engine, &rec.id)?;
    let fd = open_dir(&ops::rootfs(engine, &rec.id));
    let root = Root {
        fd: match fd {
            Ok(f) => f,
            Err(e) => {
                let _ = ops::unmount_rootfs(engine, &rec.id);
                return Err(e);
            }
        },
        engine,
        id: rec.id,
        mounted: true,
    };
    Ok(root)
}

/// The last component of `p` (`/a/b/` → `b`), if any.
fn base_name(p: &str) -> Option<PathBuf> {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(PathBuf::from)
}

/// Whether a `cp` source ends in `/.` (copy a directory's contents).
fn contents_only(p: &str) -> bool {
    p.ends_with("/.") || p == "."
}

/// What is at an in-container path, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// The parent directory of `rel` (resolved in the root) and the final name; `None` for the root itself.
fn parent_of(root: BorrowedFd<'_>, rel: &Path) -> Result<Option<(OwnedFd, PathBuf)>> {
    let rel = resolve::clean(rel);
    let Some(name) = rel.file_name().map(PathBuf::from) else {
        return Ok(None);
    };
    let parent = resolve::open(
        root,
        rel.parent().unwrap_or(Path::new("")),
        libc::O_PATH | libc::O_DIRECTORY,
    )?;
    Ok(Some((parent, name)))
}

fn kind_in(root: BorrowedFd<'_>, rel: &Path) -> Result<Kind> {
    let Some((parent, name)) = parent_of(root, rel)? else {
        return Ok(Kind::Dir);
    };
    // lstat of one name inside a directory fd: the magic link only names that exact directory.
    let m = std::fs::symlink_metadata(holm_sys::fs::fd_path(parent.as_fd()).join(&name))
        .map_err(Error::io(format!("{} (in the container)", rel.display())))?;
    let ft = m.file_type();
    Ok(if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    })
}

impl Engine {
    /// `holm cp HOST_SRC C:DST`.
    pub fn copy_to(&self, what: &str, src: &Path, dst: &str) -> Result<()> {
        let root = open_root(self, what)?;
        let root = root.fd.as_fd();
        let s = src.to_string_lossy();
        let meta =
            std::fs::symlink_metadata(src).map_err(Error::io(format!("{}", src.display())))?;
        let dst_is_dir =
            resolve::open(root, Path::new(dst), libc::O_PATH | libc::O_DIRECTORY).is_ok();
        let name = base_name(&s).unwrap_or_default();
        let target = if meta.is_dir() {
            if dst_is_dir && !contents_only(&s) {
                Path::new(dst).join(&name)
            } else {
                PathBuf::from(dst)
            }
        } else if dst_is_dir {
            Path::new(dst).join(&name)
        } else if dst.ends_with('/') {
            return Err(cp_err(
                format!("copy to {dst} in the container"),
                "no such directory",
            ));
        } else {
            let parent = Path::new(dst).parent().unwrap_or(Path::new("/"));
            resolve::open(root, parent, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| cp_err(format!("copy to {dst} in the container"), e))?;
            PathBuf::from(dst)
        };
        copy_in(root, src, &target)
    }

    /// `holm cp C:SRC HOST_DST`.
    pub fn copy_from(&self, what: &str, src: &str, dst: &Path) -> Result<()> {
        let root = open_root(self, what)?;
        let root = root.fd.as_fd();
        let kind = kind_in(root, Path::new(src))
            .map_err(|e| cp_err(format!("No such container:path: {what}:{src}"), e))?;
        let dst_is_dir = dst.is_dir();
        let name = base_name(src).unwrap_or_else(|| PathBuf::from("rootfs"));
        let target = if kind == Kind::Dir {
            if dst_is_dir && !contents_only(src) {
                dst.join(&name)
            } else {
                dst.to_path_buf()
            }
        } else if dst_is_dir {
            dst.join(&name)
        } else if dst.to_string_lossy().ends_with('/') {
            return Err(cp_err(
                format!("copy to {}", dst.display()),
                "no such directory",
            ));
        } else {
            dst.to_path_buf()
        };
        copy_out(root, Path::new(src), &target)
    }
}

/// Copies host `src` (a file, symlink or directory tree) to `rel` inside the root.
fn copy_in(root: BorrowedFd<'_>, src: &Path, rel: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(src).map_err(Error::io(format!("{}", src.display())))?;
    let mode = m.permissions().mode() & 0o7777;
    let ft = m.file_type();
    if ft.is_dir() {
        let d = resolve::mkdir_all(root, rel, mode)?;
        let _ = std::fs::set_permissions(
            holm_sys::fs::fd_path(d.as_fd()),
            std::fs::Permissions::from_mode(mode),
        );
        let rd = std::fs::read_dir(src).map_err(Error::io(format!("read {}", src.display())))?;
        for e in rd {
            let e = e.map_err(Error::io(format!("read {}", src.display())))?;
            copy_in(root, &e.path(), &rel.join(e.file_name()))?;
        }
    } else if ft.is_symlink() {
        let target =
            std::fs::read_link(src).map_err(Error::io(format!("readlink {}", src.display())))?;
        let (parent, name) = resolve::parent_and_name(root, rel, 0o755)?;
        match holm_sys::fs::unlinkat(parent.as_fd(), &name, 0) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(e.into()),
        }
        holm_sys::fs::symlinkat(&target, parent.as_fd(), &name)?;
    } else if ft.is_file() {
        let mut from = File::open(src).map_err(Error::io(format!("open {}", src.display())))?;
        // Created (or truncated) inside the root: a symlink on the way, even the final one, resolves in the root.
        let fd = holm_sys::fs::openat2(
            root,
            &resolve::clean(rel),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOCTTY,
            mode,
            IN_ROOT,
        )
        .map_err(|e| cp_err(format!("create {} in the container", rel.display()), e))?;
        let mut to = File::from(fd);
        std::io::copy(&mut from, &mut to).map_err(Error::io(format!("copy {}", src.display())))?;
        let _ = to.set_permissions(std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

/// [`copy_out`], keeping owners (a volume's copy-up from the image).
pub(crate) fn copy_out_preserving(root: BorrowedFd<'_>, rel: &Path, dst: &Path) -> Result<()> {
    copy_out_as(root, rel, dst, true)
}

/// Copies `rel` inside the root (a file, symlink or directory tree; symlinks copied as they are) to host `dst`.
fn copy_out(root: BorrowedFd<'_>, rel: &Path, dst: &Path) -> Result<()> {
    copy_out_as(root, rel, dst, false)
}

fn chown_like(dst: &Path, m: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))
        .map_err(Error::io(format!("chown {}", dst.display())))
}

fn copy_out_as(root: BorrowedFd<'_>, rel: &Path, dst: &Path, owners: bool) -> Result<()> {
    let what = || format!("{} (in the container)", rel.display());
    match kind_in(root, rel)? {
        Kind::Dir => {
            let d = resolve::open(
                root,
                rel,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?;
            let p = holm_sys::fs::fd_path(d.as_fd());
            let meta = std::fs::metadata(&p).map_err(Error::io(what()))?;
            let mode = meta.permissions().mode() & 0o7777;
            std::fs::create_dir_all(dst).map_err(Error::io(format!("create {}", dst.display())))?;
            let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode));
            if owners {
                chown_like(dst, &meta)?;
            }
            let rd = std::fs::read_dir(&p).map_err(Error::io(what()))?;
            for e in rd {
                let e = e.map_err(Error::io(what()))?;
                copy_out_as(
                    root,
                    &rel.join(e.file_name()),
                    &dst.join(e.file_name()),
                    owners,
                )?;
            }
        }
        Kind::Symlink => {
            let (parent, name) = parent_of(root, rel)?.expect("a symlink has a name");
            let target = holm_sys::fs::readlinkat(parent.as_fd(), &name)?;
            let _ = std::fs::remove_file(dst);
            std::os::unix::fs::symlink(&target, dst)
                .map_err(Error::io(format!("symlink {}", dst.display())))?;
            if owners {
                let m =
                    std::fs::symlink_metadata(holm_sys::fs::fd_path(parent.as_fd()).join(&name))
                        .map_err(Error::io(what()))?;
                chown_like(dst, &m)?;
            }
        }
        Kind::File => {
            // O_NOFOLLOW: the final component must still be the file just seen, not a symlink swapped in.
            let fd = holm_sys::fs::openat2(
                root,
                &resolve::clean(rel),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY,
                0,
                IN_ROOT,
            )
            .map_err(|e| cp_err(what(), e))?;
            let mut from = File::from(fd);
            let meta = from.metadata().map_err(Error::io(what()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let mut to =
                File::create(dst).map_err(Error::io(format!("create {}", dst.display())))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = from.read(&mut buf).map_err(Error::io(what()))?;
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n])
                    .map_err(Error::io(format!("write {}", dst.display())))?;
            }
            let _ = to.set_permissions(std::fs::Permissions::from_mode(mode));
            if owners {
                chown_like(dst, &meta)?;
            }
        }
        Kind::Other => {
            return Err(cp_err(what(), "not a regular file, directory or symlink"));
        }
    }
    Ok(())
}
