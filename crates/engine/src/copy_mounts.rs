//! The volumes and bind mounts of a *stopped* container for `holm cp` (a running one's root already shows them):
//! each opened on the host, and in-container paths resolved as the container would see them. A path is walked
//! component by component from the container's root: a symlink is read where its path lives (the rootfs snapshot
//! or a mount's host source) and resolved in the container (an absolute target starts again at the container's
//! root, `..` never goes above it, at most 40 links), and a prefix that reaches a mount's destination continues in
//! that mount's source. Directory and file binds and volumes are handled. What is then opened goes through
//! `openat2(RESOLVE_IN_ROOT)` on the fd of the root or mount it lies in, as before, so nothing leaves it.

use crate::copy::{cp_err, Root};
use crate::{Engine, Result};
use holm_container::resolve;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// A volume or bind mount of a stopped container, opened on the host.
pub(crate) struct Mount {
    /// Its destination in the container (absolute, clean).
    pub(crate) dst: PathBuf,
    /// The host directory; for a file bind, the directory holding the host file.
    pub(crate) fd: OwnedFd,
    /// A file bind: the host file's name in `fd`.
    pub(crate) file: Option<OsString>,
    /// Mounted read-only (`:ro`, `readonly`): a copy into it is refused, as docker does.
    pub(crate) ro: bool,
}

/// The mounts of a stopped container.
pub(crate) type Mounts = [Mount];

/// docker's message for a copy into a read-only volume or bind mount.
const RO_MOUNT: &str = "mounted volume is marked read-only";
/// docker's message for a copy into the rootfs of a container made with `--read-only`.
const RO_ROOTFS: &str = "container rootfs is marked read-only";

/// Opens `src` (a host directory or file; symlinks on the host followed, as the kernel's bind mount does).
fn open_source(dst: &str, src: &Path, ro: bool) -> Option<Mount> {
    let src = std::fs::canonicalize(src).ok()?;
    let dst = Path::new("/").join(resolve::clean(Path::new(dst)));
    if src.is_dir() {
        let fd = OwnedFd::from(File::open(&src).ok()?);
        return Some(Mount {
            dst,
            fd,
            file: None,
            ro,
        });
    }
    let name = src.file_name()?.to_os_string();
    let dir = File::open(src.parent()?).ok()?;
    Some(Mount {
        dst,
        fd: OwnedFd::from(dir),
        file: Some(name),
        ro,
    })
}

/// The volumes and bind mounts of a container (`-v`, `--mount type=bind|volume`), opened on the host.
pub(crate) fn container_mounts(engine: &Engine, cfg: &crate::RunConfig) -> Vec<Mount> {
    let mut out = Vec::new();
    for v in &cfg.volumes {
        if let Ok(b) = crate::config::parse_volume(v) {
            let src = if b.volume {
                engine.volume_path(&b.source)
            } else {
                PathBuf::from(&b.source)
            };
            out.extend(open_source(&b.destination, &src, b.read_only));
        }
    }
    for m in &cfg.mounts {
        if let Ok(m) = crate::options::parse_mount(m) {
            if m.typ == "bind" {
                out.extend(open_source(
                    &m.destination,
                    Path::new(&m.source),
                    m.read_only,
                ));
            }
        }
    }
    out
}

/// The mount (of `mounts`) holding the *resolved* container path `rel`, and the path inside its fd.
pub(crate) fn in_mount<'a>(mounts: &'a Mounts, rel: &Path) -> Option<(&'a Mount, PathBuf)> {
    let abs = Path::new("/").join(resolve::clean(rel));
    let m = mounts
        .iter()
        .filter(|m| abs.starts_with(&m.dst))
        .max_by_key(|m| m.dst.components().count())?;
    let rest = abs.strip_prefix(&m.dst).unwrap_or(Path::new(""));
    let mut inner = PathBuf::from("/");
    if let Some(f) = &m.file {
        inner.push(f);
    }
    if !rest.as_os_str().is_empty() {
        inner.push(rest);
    }
    Some((m, inner))
}

impl Root<'_> {
    /// `p` with every symlink on its way resolved as the container sees it (see the module doc), the last
    /// component too with `follow_final`; an absolute, clean path. Unchanged for a container without mounts (or a
    /// running one): `openat2(RESOLVE_IN_ROOT)` resolves it in one root then.
    pub(crate) fn resolve(&self, p: &Path, follow_final: bool) -> Result<PathBuf> {
        let clean = Path::new("/").join(resolve::clean(p));
        if self.mounts.is_empty() {
            return Ok(clean);
        }
        let mut done = PathBuf::from("/");
        let mut todo: VecDeque<OsString> = parts(p);
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                done.pop();
                continue;
            }
            let next = done.join(&c);
            if (todo.is_empty() && !follow_final) || self.mounts.iter().any(|m| m.dst == next) {
                done = next; // a mount's destination is the mount, whatever the rootfs has there
                continue;
            }
            let (fd, rel) = match in_mount(&self.mounts, &next) {
                Some((m, inner)) => (m.fd.as_fd(), inner),
                None => (self.fd.as_fd(), next.clone()),
            };
            match read_link(fd, &rel) {
                Some(target) => {
                    links += 1;
                    if links > 40 {
                        return Err(cp_err(
                            format!("{} (in the container)", p.display()),
                            "too many levels of symbolic links",
                        ));
                    }
                    if target.is_absolute() {
                        done = PathBuf::from("/");
                    }
                    for t in parts(&target).into_iter().rev() {
                        todo.push_front(t);
                    }
                }
                None => done = next, // not a symlink (or missing: the caller's open says so)
            }
        }
        Ok(done)
    }

    /// Where a copy into the container writes the resolved path `p`: the root or the stopped container's mount
    /// holding it, and the path there. A read-only mount, or the root of a container made with `--read-only`, is
    /// refused with docker's message (a running container's kernel refuses those writes itself).
    pub(crate) fn write_at(&self, p: &Path) -> Result<(BorrowedFd<'_>, PathBuf)> {
        let ro = |why: &str| cp_err(format!("copy to {} in the container", p.display()), why);
        match in_mount(&self.mounts, p) {
            Some((m, _)) if m.ro => Err(ro(RO_MOUNT)),
            Some((m, inner)) => Ok((m.fd.as_fd(), inner)),
            None if self.read_only => Err(ro(RO_ROOTFS)),
            None => Ok((self.fd.as_fd(), p.to_path_buf())),
        }
    }

    /// A directory tree `src` copied to the resolved path `target` is written into the one root or mount holding
    /// `target`; refuses (rather than writing under a mount point the container never sees) when `src` has an
    /// entry where another mount of the stopped container lies below `target`.
    pub(crate) fn refuse_under_mounts(
        &self,
        target: &Path,
        src: &Path,
        is_dir: bool,
    ) -> Result<()> {
        if !is_dir {
            return Ok(());
        }
        for below in self.mounts_below(target) {
            if std::fs::symlink_metadata(src.join(&below)).is_ok() {
                return Err(on_mount(target, &src.join(&below), &below));
            }
        }
        Ok(())
    }

    /// The destinations of the stopped container's mounts strictly below the resolved path `target`, relative to
    /// it.
    pub(crate) fn mounts_below(&self, target: &Path) -> Vec<PathBuf> {
        self.mounts
            .iter()
            .filter_map(|m| m.dst.strip_prefix(target).ok())
            .filter(|b| !b.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .collect()
    }
}

/// The error for a copy to `target` whose entry `what` would land on the mount at `target/below`.
pub(crate) fn on_mount(target: &Path, what: &Path, below: &Path) -> crate::Error {
    let m = target.join(below);
    cp_err(
        format!("copy to {} in the container", target.display()),
        format!(
            "{} would land on the mount at {} of the stopped container: copy into {} itself",
            what.display(),
            m.display(),
            m.display()
        ),
    )
}

/// The components of `p` as names and `..` (`/` and `.` dropped).
fn parts(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// The target of the symlink at `rel` (whose directories are already resolved) in `fd`; `None` if it is no
/// symlink or is missing.
fn read_link(fd: BorrowedFd<'_>, rel: &Path) -> Option<PathBuf> {
    let rel = resolve::clean(rel);
    let name = rel.file_name()?;
    let parent = resolve::open(
        fd,
        rel.parent().unwrap_or(Path::new("")),
        libc::O_PATH | libc::O_DIRECTORY,
    )
    .ok()?;
    holm_sys::fs::readlinkat(parent.as_fd(), Path::new(name)).ok()
}
