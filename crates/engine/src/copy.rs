//! `holm cp`: copies between the host and a container's filesystem. Every path inside the container is resolved
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on an fd of the container's root (holm-container's
//! [`resolve`] module), so `..`, absolute paths and symlinks in the container stay in the container: a symlink
//! `/data -> /tmp` sends a file to the *container's* `/tmp`, never the host's. A running container is reached
//! through `/proc/<init>/root` (its own mount namespace: its tmpfs and bind mounts included); a stopped one through
//! its rootfs snapshot, mounted for the copy.
//!
//! docker's rules for the destination: an existing directory receives the source under its own name (a source
//! ending in `/.` copies a directory's contents); otherwise the destination is the new name, whose parent must
//! exist (`Could not find the file /a/b in container C`). Symlinks in the source are copied as symlinks (`-L`
//! follows one at the source path itself); FIFOs are copied, device nodes too when holm runs as root (sockets are
//! skipped, as docker's archiver does); files keep their permission bits; copied files belong to root in the
//! container. Copying out of a running container skips the kernel's file systems mounted in it (proc, sysfs,
//! cgroup, devpts, mqueue, …: an empty directory stands for each, as in docker's copy of the rootfs), and includes
//! its volumes and bind mounts. From a stopped container, paths at or below a volume's or bind mount's (directory
//! or file) destination are read from (and written to) that volume or host path, as docker mounts them for the copy,
//! with symlinks resolved as the container sees them (`copy_mounts.rs`); a directory tree that would land on
//! a mount point below its target is refused (copy into the mount itself);
//! a copy into a read-only one, or into the rootfs of a container made with `--read-only`, is refused with docker's
//! messages (`mounted volume is marked read-only`, `container rootfs is marked read-only`; a running container's
//! kernel refuses those itself). A copy that fails removes what it had created (a half copy is worse than none);
//! a file it had overwritten stays overwritten.

use crate::copy_mounts::{container_mounts, in_mount, Mount, Mounts};
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

/// Options of `holm cp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: a symlink at the source path is followed (its target's content is copied under the link's name).
    pub follow_link: bool,
}

/// Magic numbers (`statfs.f_type`) of the kernel's pseudo file systems a copy out of a container skips.
const KERNEL_FS: &[i64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0xcafe_4a11, // bpf
    0x6165_676c, // pstore
    0x6265_6570, // configfs
    0x6573_5543, // fusectl
    0x4249_4e4d, // binfmt_misc
    0xde5e_81e4, // efivarfs
    0xf97c_ff8c, // selinuxfs
];

/// docker's message for a missing path in a container.
fn not_found(what: &str, path: &Path) -> Error {
    cp_err(
        format!(
            "Could not find the file {} in container {what}",
            path.display()
        ),
        "no such file or directory",
    )
}

pub(crate) fn cp_err(what: String, e: impl std::fmt::Display) -> Error {
    Error::Io {
        what,
        source: std::io::Error::other(e.to_string()),
    }
}

/// The container's root directory for a copy; unmounts a rootfs it mounted when dropped.
pub(crate) struct Root<'a> {
    pub(crate) fd: OwnedFd,
    /// A stopped container's volumes and bind-mounted directories. Empty for a running one (its root already
    /// shows them).
    pub(crate) mounts: Vec<Mount>,
    /// A stopped container made with `--read-only` (a running one's root is read-only in the kernel).
    pub(crate) read_only: bool,
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

pub(crate) fn open_root<'a>(engine: &'a Engine, what: &str) -> Result<Root<'a>> {
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
    // A VM container's processes are in the guest (its recorded pid is the VMM's): its root is the rootfs mounted
    // on the host, shared with the guest.
    if rec.state == State::Running && rec.pid > 0 && !rec.config.is_vm() && live() {
        let fd = open_dir(Path::new(&format!("/proc/{}/root", rec.pid)))?;
        if live() {
            return Ok(Root {
                fd,
                mounts: Vec::new(),
                read_only: false,
                engine,
                id: rec.id,
                mounted: false,
            });
        }
    }
    ops::mount_rootfs(engine, &rec.id)?;
    let fd = open_dir(&ops::rootfs(engine, &rec.id));
    let root = Root {
        mounts: container_mounts(engine, &rec.config),
        read_only: rec.config.read_only,
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
pub(crate) fn base_name(p: &str) -> Option<PathBuf> {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(PathBuf::from)
}

/// Whether a `cp` source ends in `/.` (copy a directory's contents).
pub(crate) fn contents_only(p: &str) -> bool {
    p.ends_with("/.") || p == "."
}

/// What is at an in-container path, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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

pub(crate) fn kind_in(root: BorrowedFd<'_>, rel: &Path) -> Result<Kind> {
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

/// With `follow`, resolves a symlink at `rel` itself (inside the root, up to 40 links) to what it names;
/// otherwise `rel` as it is. Returns the path to copy and what is there.
pub(crate) fn source_in(root: BorrowedFd<'_>, rel: &Path, follow: bool) -> Result<(PathBuf, Kind)> {
    let mut rel = Path::new("/").join(resolve::clean(rel));
    for _ in 0..40 {
        let kind = kind_in(root, &rel)?;
        if kind != Kind::Symlink || !follow {
            return Ok((rel, kind));
        }
        let (parent, name) = parent_of(root, &rel)?.expect("a symlink has a name");
        let target = holm_sys::fs::readlinkat(parent.as_fd(), &name)?;
        let base = rel.parent().unwrap_or(Path::new("/")).to_path_buf();
        rel = Path::new("/").join(resolve::clean(&base.join(target)));
    }
    Err(cp_err(
        format!("{} (in the container)", rel.display()),
        "too many levels of symbolic links",
    ))
}

/// Removes, newest first, the in-container paths a failed copy created.
fn undo_in(root: BorrowedFd<'_>, created: &[PathBuf]) {
    for rel in created.iter().rev() {
        if let Ok(Some((parent, name))) = parent_of(root, rel) {
            if holm_sys::fs::unlinkat(parent.as_fd(), &name, 0).is_err() {
                let _ = holm_sys::fs::unlinkat(parent.as_fd(), &name, libc::AT_REMOVEDIR);
            }
        }
    }
}

/// Removes, newest first, the host paths a failed copy created.
pub(crate) fn undo_host(created: &[PathBuf]) {
    for p in created.iter().rev() {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(p);
            }
            Err(_) => {}
        }
    }
}

impl Engine {
    /// `holm cp HOST_SRC C:DST`.
    pub fn copy_to(&self, what: &str, src: &Path, dst: &str, opts: CopyOptions) -> Result<()> {
        let opened = open_root(self, what)?;
        // a stopped container's volumes and bind-mounted directories receive what is copied under them
        // a stopped container's volumes and bind mounts receive what is copied under them (paths resolved as the
        // container sees them)
        let at = |p: &Path| -> Result<(BorrowedFd<'_>, PathBuf)> {
            let p = opened.resolve(p, true)?;
            Ok(match in_mount(&opened.mounts, &p) {
                Some((m, inner)) => (m.fd.as_fd(), inner),
                None => (opened.fd.as_fd(), p),
            })
        };
        let s = src.to_string_lossy();
        let meta = if opts.follow_link {
            std::fs::metadata(src)
        } else {
            std::fs::symlink_metadata(src)
        }
        .map_err(Error::io(format!("{}", src.display())))?;
        let read_from = if opts.follow_link && !contents_only(&s) {
            std::fs::canonicalize(src).map_err(Error::io(format!("{}", src.display())))?
        } else {
            src.to_path_buf()
        };
        let dst_is_dir = at(Path::new(dst)).is_ok_and(|(fd, rel)| {
            resolve::open(fd, &rel, libc::O_PATH | libc::O_DIRECTORY).is_ok()
        });
        let name = base_name(&s).unwrap_or_default();
        let target = if meta.is_dir() && dst_is_dir && !contents_only(&s) {
            Path::new(dst).join(&name)
        } else if meta.is_dir() {
            PathBuf::from(dst)
        } else if dst_is_dir {
            Path::new(dst).join(&name)
        } else if dst.ends_with('/') {
            return Err(not_found(what, Path::new(dst.trim_end_matches('/'))));
        } else {
            PathBuf::from(dst)
        };
        if target != Path::new(dst) || !dst_is_dir {
            // docker creates no missing parents: the parent of a new name must exist
            let clean = Path::new("/").join(resolve::clean(&target));
            let parent = clean.parent().unwrap_or(Path::new("/"));
            let (fd, rel) = at(parent)?;
            resolve::open(fd, &rel, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|_| not_found(what, parent))?;
        }
        // a symlink at the target is followed (in the container) unless a symlink or special file replaces it
        let ft = meta.file_type();
        let target = opened.resolve(&target, ft.is_dir() || ft.is_file())?;
        opened.refuse_under_mounts(&target, &read_from, meta.is_dir())?;
        let (root, target) = opened.write_at(&target)?;
        let mut created = Vec::new();
        let r = copy_in(root, &read_from, &target, &mut created);
        if r.is_err() {
            undo_in(root, &created);
        }
        r
    }

    /// `holm cp C:SRC HOST_DST`.
    pub fn copy_from(&self, what: &str, src: &str, dst: &Path, opts: CopyOptions) -> Result<()> {
        let root = open_root(self, what)?;
        let (root, mounts, rel, kind) = locate_source(&root, Path::new(src), opts.follow_link)
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
        let mut sink = HostSink {
            owners: false,
            created: Vec::new(),
        };
        let r = walk_with(root, mounts, &rel, &target, &mut sink);
        if r.is_err() {
            undo_host(&sink.created);
        }
        r
    }
}

/// Copies host `src` (a file, symlink, FIFO, device or directory tree) to `rel` inside the root; every path it
/// creates is added to `created`.
fn copy_in(root: BorrowedFd<'_>, src: &Path, rel: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::symlink_metadata(src).map_err(Error::io(format!("{}", src.display())))?;
    let mode = m.permissions().mode() & 0o7777;
    let ft = m.file_type();
    if kind_in(root, rel).is_err() {
        created.push(rel.to_path_buf());
    }
    if ft.is_dir() {
        let d = resolve::mkdir_all(root, rel, mode)?;
        let _ = std::fs::set_permissions(
            holm_sys::fs::fd_path(d.as_fd()),
            std::fs::Permissions::from_mode(mode),
        );
        let rd = std::fs::read_dir(src).map_err(Error::io(format!("read {}", src.display())))?;
        for e in rd {
            let e = e.map_err(Error::io(format!("read {}", src.display())))?;
            copy_in(root, &e.path(), &rel.join(e.file_name()), created)?;
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
    } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        if !ft.is_fifo() && holm_sys::process::geteuid() != 0 {
            return Ok(()); // device nodes need root; docker skips them too
        }
        let (parent, name) = resolve::parent_and_name(root, rel, 0o755)?;
        let _ = holm_sys::fs::unlinkat(parent.as_fd(), &name, 0);
        make_special(parent.as_fd(), &name, &m)?;
        let _ = holm_sys::fs::fchmodat(parent.as_fd(), &name, mode);
    }
    Ok(())
}

/// `mknodat` of a FIFO or device node like `m` (type, permissions, device numbers).
pub(crate) fn make_special(dir: BorrowedFd<'_>, name: &Path, m: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let perm = m.mode() & 0o7777;
    let ft = m.file_type();
    if ft.is_fifo() {
        return Ok(holm_sys::fs::mkfifoat(dir, name, perm)?);
    }
    let kind = if ft.is_char_device() {
        libc::S_IFCHR
    } else {
        libc::S_IFBLK
    };
    let (major, minor) = dev_numbers(m.rdev());
    Ok(holm_sys::fs::mknodat(dir, name, kind | perm, major, minor)?)
}

/// Major and minor of a `dev_t` (glibc's encoding).
pub(crate) fn dev_numbers(dev: u64) -> (u64, u64) {
    (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    )
}

/// Copies `rel` inside the root to host `dst`, keeping owners (a volume's copy-up from the image).
pub(crate) fn copy_out_preserving(root: BorrowedFd<'_>, rel: &Path, dst: &Path) -> Result<()> {
    let mut sink = HostSink {
        owners: true,
        created: Vec::new(),
    };
    walk(root, rel, dst, &mut sink)
}

/// Where a copy out of the container goes: a host directory tree or a tar stream. `dst` is the destination
/// path (host path, or name in the archive) of each entry.
pub(crate) trait Sink {
    /// A directory (its entries follow).
    fn dir(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()>;
    /// A regular file and its content.
    fn file(&mut self, dst: &Path, m: &std::fs::Metadata, data: &mut File) -> Result<()>;
    /// A symlink.
    fn symlink(&mut self, dst: &Path, target: &Path, m: &std::fs::Metadata) -> Result<()>;
    /// A FIFO or a device node.
    fn special(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()>;
    /// The end of directory `dst` (after its entries; where a host copy sets the directory's times).
    fn dir_done(&mut self, _dst: &Path, _m: &std::fs::Metadata) -> Result<()> {
        Ok(())
    }
}

/// Walks `rel` inside the root (symlinks not followed; the kernel's pseudo file systems not entered) into `sink`.
pub(crate) fn walk(
    root: BorrowedFd<'_>,
    rel: &Path,
    dst: &Path,
    sink: &mut dyn Sink,
) -> Result<()> {
    walk_with(root, &[], rel, dst, sink)
}

/// Where to read `src` from: the container's root, or the mount of a stopped container that holds it (then with
/// no further mounts), with the path there, following a final symlink with `follow` (see [`source_in`]) or when
/// `src` ends in `/` or `/.` (docker's rule: `C:/link/.` copies what the link names, inside the container).
pub(crate) fn locate_source<'a>(
    root: &'a Root<'_>,
    src: &Path,
    follow: bool,
) -> Result<(BorrowedFd<'a>, &'a Mounts, PathBuf, Kind)> {
    let raw = src.as_os_str().as_encoded_bytes();
    let follow = follow || raw.ends_with(b"/") || raw.ends_with(b"/.");
    let src = root.resolve(src, follow)?;
    let (fd, mounts, rel) = match in_mount(&root.mounts, &src) {
        Some((m, inner)) => (m.fd.as_fd(), &[][..], inner),
        None => (root.fd.as_fd(), &root.mounts[..], src),
    };
    let (rel, kind) = source_in(fd, &rel, follow)?;
    Ok((fd, mounts, rel, kind))
}

/// [`walk`] through a stopped container's root, where a path at or below one of `mounts`' destinations is read
/// from that host directory instead (as if it were mounted; mounts inside it are not followed).
pub(crate) fn walk_with(
    root: BorrowedFd<'_>,
    mounts: &Mounts,
    rel: &Path,
    dst: &Path,
    sink: &mut dyn Sink,
) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let what = || format!("{} (in the container)", rel.display());
    if let Some((m, inner)) = in_mount(mounts, rel) {
        return walk_with(m.fd.as_fd(), &[], &inner, dst, sink);
    }
    match kind_in(root, rel)? {
        Kind::Dir => {
            let d = resolve::open(
                root,
                rel,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?;
            let meta = File::from(d.try_clone().map_err(Error::io(what()))?)
                .metadata()
                .map_err(Error::io(what()))?;
            sink.dir(dst, &meta)?;
            if holm_sys::fs::fs_magic(d.as_fd()).is_ok_and(|m| KERNEL_FS.contains(&m)) {
                return Ok(()); // /proc, /sys, /dev/pts, …: the directory only
            }
            let p = holm_sys::fs::fd_path(d.as_fd());
            let mut names: Vec<_> = std::fs::read_dir(&p)
                .map_err(Error::io(what()))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<std::io::Result<_>>()
                .map_err(Error::io(what()))?;
            names.sort();
            for n in names {
                walk_with(root, mounts, &rel.join(&n), &dst.join(&n), sink)?;
            }
            sink.dir_done(dst, &meta)?;
        }
        Kind::Symlink => {
            let (parent, name) = parent_of(root, rel)?.expect("a symlink has a name");
            let target = holm_sys::fs::readlinkat(parent.as_fd(), &name)?;
            let m = std::fs::symlink_metadata(holm_sys::fs::fd_path(parent.as_fd()).join(&name))
                .map_err(Error::io(what()))?;
            sink.symlink(dst, &target, &m)?;
        }
        Kind::File => {
            // O_NOFOLLOW: the final component must still be the file just seen, not a symlink swapped in.
            let fd = holm_sys::fs::openat2(
                root,
                &resolve::clean(rel),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK,
                0,
                IN_ROOT,
            )
            .map_err(|e| cp_err(what(), e))?;
            let mut from = File::from(fd);
            let meta = from.metadata().map_err(Error::io(what()))?;
            if !meta.is_file() {
                return Err(cp_err(what(), "changed while being copied"));
            }
            sink.file(dst, &meta, &mut from)?;
        }
        Kind::Other => {
            let (parent, name) = parent_of(root, rel)?.expect("a special file has a name");
            let m = std::fs::symlink_metadata(holm_sys::fs::fd_path(parent.as_fd()).join(&name))
                .map_err(Error::io(what()))?;
            let ft = m.file_type();
            if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                sink.special(dst, &m)?;
            }
            // sockets are skipped, as docker's archiver does
        }
    }
    Ok(())
}

/// Copies into a host directory tree, remembering what it created.
struct HostSink {
    /// Keep owners (otherwise files belong to the caller).
    owners: bool,
    /// Paths this copy created, oldest first.
    created: Vec<PathBuf>,
}

impl HostSink {
    fn new_path(&mut self, dst: &Path) {
        if std::fs::symlink_metadata(dst).is_err() {
            self.created.push(dst.to_path_buf());
        }
    }

    /// Gives `dst` itself (never a symlink's target) the access and modification times of `m`, as docker's
    /// volume copy-up and `cp` do. Best effort: a file system that refuses keeps the copy's own times.
    fn times(&self, dst: &Path, m: &std::fs::Metadata) {
        use std::os::unix::fs::MetadataExt;
        let parent = dst.parent().filter(|p| !p.as_os_str().is_empty());
        let (Ok(dir), Some(name)) = (
            File::open(parent.unwrap_or(Path::new("."))),
            dst.file_name(),
        ) else {
            return;
        };
        let _ = holm_sys::fs::utimensat_nofollow(
            dir.as_fd(),
            Path::new(name),
            (m.atime(), m.atime_nsec()),
            (m.mtime(), m.mtime_nsec()),
        );
    }

    fn chown(&self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        if !self.owners {
            return Ok(());
        }
        std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))
            .map_err(Error::io(format!("chown {}", dst.display())))
    }
}

impl Sink for HostSink {
    fn dir(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        let mode = m.permissions().mode() & 0o7777;
        if !std::fs::symlink_metadata(dst).is_ok_and(|d| d.is_dir()) {
            self.new_path(dst);
            std::fs::create_dir(dst).map_err(Error::io(format!("create {}", dst.display())))?;
        }
        let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode));
        self.chown(dst, m)
    }

    fn file(&mut self, dst: &Path, m: &std::fs::Metadata, data: &mut File) -> Result<()> {
        let mode = m.permissions().mode() & 0o7777;
        self.new_path(dst);
        let mut to = File::create(dst).map_err(Error::io(format!("create {}", dst.display())))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = data
                .read(&mut buf)
                .map_err(Error::io(format!("read for {}", dst.display())))?;
            if n == 0 {
                break;
            }
            to.write_all(&buf[..n])
                .map_err(Error::io(format!("write {}", dst.display())))?;
        }
        let _ = to.set_permissions(std::fs::Permissions::from_mode(mode));
        self.chown(dst, m)?;
        self.times(dst, m);
        Ok(())
    }

    fn symlink(&mut self, dst: &Path, target: &Path, m: &std::fs::Metadata) -> Result<()> {
        self.new_path(dst);
        let _ = std::fs::remove_file(dst);
        std::os::unix::fs::symlink(target, dst)
            .map_err(Error::io(format!("symlink {}", dst.display())))?;
        self.chown(dst, m)?;
        self.times(dst, m);
        Ok(())
    }

    fn special(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_fifo() && holm_sys::process::geteuid() != 0 {
            return Ok(()); // device nodes need root; docker skips them too
        }
        let parent = dst.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = File::open(parent.unwrap_or(Path::new("."))).map_err(Error::io(format!(
            "open the directory of {}",
            dst.display()
        )))?;
        let name = Path::new(dst.file_name().unwrap_or_default());
        self.new_path(dst);
        let _ = std::fs::remove_file(dst);
        make_special(dir.as_fd(), name, m)
            .map_err(|e| cp_err(format!("create {}", dst.display()), e))?;
        let _ = std::fs::set_permissions(
            dst,
            std::fs::Permissions::from_mode(m.permissions().mode() & 0o7777),
        );
        self.chown(dst, m)?;
        self.times(dst, m);
        Ok(())
    }

    fn dir_done(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        self.times(dst, m);
        Ok(())
    }
}
