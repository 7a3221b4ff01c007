//! `tmpfs` mounts over a directory that exists in the rootfs: the tmpfs takes that directory's mode unless the
//! options give `mode=` (runc 1.2, crun), and with the `tmpcopyup` option (runc's extension, sent by podman's
//! `--read-only` and `--tmpfs`) the directory's contents are copied into the new tmpfs, so `/run` or `/tmp` of the
//! image stays visible but writable.
//!
//! Safety: the covered directory is opened (inside the rootfs, [`resolve::open`]) before the tmpfs hides it, and
//! is read through that fd only: every entry is opened by its single name with `O_NOFOLLOW` under
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, symlinks are recreated as symlinks (never followed), and only regular
//! files are opened for reading (non-blocking, type checked on the opened fd). Everything is written below the
//! fresh tmpfs's root fd with `O_EXCL`. Copied: regular files, directories, symlinks, FIFOs and device nodes, each
//! with its owner, permission bits (setuid/setgid/sticky included) and access/modification times. Sockets are
//! skipped (a socket file cannot be copied), as are hard links (each name gets its own copy), extended attributes
//! are not copied.

use crate::resolve;
use crate::{Error, Result};
use holm_sys::fs::{openat2, resolve as rflags};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Directory levels copied at most; deeper trees are refused with an error naming the path.
const MAX_DEPTH: usize = 128;

/// What a `tmpfs` mount needs from the directory it will cover, gathered before it is mounted.
pub(crate) struct Covered {
    /// The covered directory, opened for reading (it stays readable through this fd once hidden).
    dir: Option<OwnedFd>,
    /// Its permission bits (`st_mode & 07777`).
    mode: Option<u32>,
}

impl Covered {
    /// Looks at `dest` inside `root` before a tmpfs is mounted there: if it is an existing directory, keeps its
    /// mode and, when `copyup`, an fd to read it from. A missing `dest` (it is created later) or a non-directory
    /// gives nothing.
    pub(crate) fn probe(root: BorrowedFd<'_>, dest: &Path, copyup: bool) -> Result<Covered> {
        let Ok(fd) = resolve::open(root, dest, libc::O_RDONLY | libc::O_DIRECTORY) else {
            return Ok(Covered {
                dir: None,
                mode: None,
            });
        };
        let meta = meta_of(fd.as_fd(), dest)?;
        Ok(Covered {
            mode: Some(meta.mode() & 0o7777),
            dir: copyup.then_some(fd),
        })
    }

    /// The tmpfs data string: `data`, preceded by the covered directory's `mode=` when `data` names none (runc
    /// 1.2 puts it first, so an explicit `mode=` still wins).
    pub(crate) fn data(&self, data: String) -> String {
        let has_mode = data.split(',').any(|w| w.starts_with("mode="));
        match self.mode {
            Some(m) if !has_mode && data.is_empty() => format!("mode={m:04o}"),
            Some(m) if !has_mode => format!("mode={m:04o},{data}"),
            _ => data,
        }
    }

    /// After the tmpfs is mounted at `dest` (`mounted`, an fd of the mount point taken before the mount): copies
    /// the covered directory into it when `tmpcopyup` was asked. The covered fd must still be the directory
    /// `mounted` named (same device and inode), so a directory swapped in between is never copied.
    ///
    /// Errors: any failed step, naming the path inside the covered directory.
    pub(crate) fn copy_up(self, root: BorrowedFd<'_>, dest: &Path, mounted: &Meta) -> Result<()> {
        let Some(src) = self.dir else {
            return Ok(());
        };
        let sm = meta_of(src.as_fd(), dest)?;
        if (sm.dev(), sm.ino()) != (mounted.dev, mounted.ino) {
            return Err(Error::Init(format!(
                "tmpcopyup {}: the directory changed while the tmpfs was mounted",
                dest.display()
            )));
        }
        let dst = resolve::open(root, dest, libc::O_RDONLY | libc::O_DIRECTORY)?;
        log::debug!(
            "tmpcopyup {}: copying the covered directory",
            dest.display()
        );
        copy_dir(src.as_fd(), dst.as_fd(), dest, 0)
    }
}

/// Device and inode of a mount point before something is mounted on it.
pub(crate) struct Meta {
    dev: u64,
    ino: u64,
}

impl Meta {
    /// Of the directory `fd` (an `O_PATH` fd is enough).
    pub(crate) fn of(fd: BorrowedFd<'_>, what: &Path) -> Result<Meta> {
        let m = meta_of(fd, what)?;
        Ok(Meta {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

fn meta_of(fd: BorrowedFd<'_>, what: &Path) -> Result<std::fs::Metadata> {
    let f = File::from(
        fd.try_clone_to_owned()
            .map_err(|e| Error::io("dup", what, e))?,
    );
    f.metadata().map_err(|e| Error::io("stat", what, e))
}

/// Opens the single name `name` in `dir`, never following a symlink nor leaving `dir`.
fn open_child(dir: BorrowedFd<'_>, name: &Path, flags: i32, mode: u32) -> Result<OwnedFd> {
    Ok(openat2(
        dir,
        name,
        flags | libc::O_NOFOLLOW,
        mode,
        rflags::BENEATH | rflags::NO_SYMLINKS | rflags::NO_MAGICLINKS,
    )?)
}

fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, at: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Init(format!(
            "tmpcopyup {}: more than {MAX_DEPTH} directory levels",
            at.display()
        )));
    }
    let listing = holm_sys::fs::fd_path(src);
    let mut names: Vec<_> = std::fs::read_dir(&listing)
        .map_err(|e| Error::io("read directory", at, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io("read directory", at, e))?;
    names.sort();
    for name in names {
        let name = Path::new(&name);
        copy_entry(src, dst, name, &at.join(name), depth)?;
    }
    Ok(())
}

fn copy_entry(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &Path,
    at: &Path,
    depth: usize,
) -> Result<()> {
    let entry = open_child(src, name, libc::O_PATH, 0)?;
    let meta = meta_of(entry.as_fd(), at)?;
    let ft = meta.file_type();
    let perm = meta.mode() & 0o7777;
    if ft.is_dir() {
        holm_sys::fs::mkdirat(dst, name, 0o700)?;
        let s = open_child(src, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let d = open_child(dst, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        copy_dir(s.as_fd(), d.as_fd(), at, depth + 1)?;
    } else if ft.is_file() {
        let mut s = File::from(open_child(src, name, libc::O_RDONLY | libc::O_NONBLOCK, 0)?);
        // The name may have been replaced by a FIFO or device since it was looked at: read regular files only.
        if !s
            .metadata()
            .map_err(|e| Error::io("stat", at, e))?
            .is_file()
        {
            return Err(Error::Init(format!(
                "tmpcopyup {}: the file changed while being copied",
                at.display()
            )));
        }
        let mut d = File::from(open_child(
            dst,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o600,
        )?);
        std::io::copy(&mut s, &mut d).map_err(|e| Error::io("copy", at, e))?;
    } else if ft.is_symlink() {
        let target = holm_sys::fs::readlinkat(src, name)?;
        holm_sys::fs::symlinkat(&target, dst, name)?;
    } else if ft.is_fifo() {
        holm_sys::fs::mkfifoat(dst, name, 0o600)?;
    } else if ft.is_char_device() || ft.is_block_device() {
        let kind = if ft.is_char_device() {
            libc::S_IFCHR
        } else {
            libc::S_IFBLK
        };
        let rdev = meta.rdev();
        holm_sys::fs::mknodat(
            dst,
            name,
            kind | 0o600,
            libc::major(rdev) as u64,
            libc::minor(rdev) as u64,
        )?;
    } else {
        log::debug!("tmpcopyup {}: socket skipped", at.display());
        return Ok(());
    }
    // Owner first (chown clears setuid/setgid), then the mode (a symlink has none of its own), then the times.
    holm_sys::fs::fchownat(dst, name, meta.uid(), meta.gid())?;
    if !ft.is_symlink() {
        holm_sys::fs::fchmodat_nofollow(dst, name, perm)?;
    }
    holm_sys::fs::utimensat_nofollow(
        dst,
        name,
        (meta.atime(), meta.atime_nsec()),
        (meta.mtime(), meta.mtime_nsec()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_of_the_covered_directory_unless_given() {
        let c = Covered {
            dir: None,
            mode: Some(0o1750),
        };
        assert_eq!(c.data(String::new()), "mode=1750");
        assert_eq!(c.data("size=10m".into()), "mode=1750,size=10m");
        assert_eq!(c.data("size=1m,mode=700".into()), "size=1m,mode=700");
        let none = Covered {
            dir: None,
            mode: None,
        };
        assert_eq!(none.data("size=1m".into()), "size=1m");
    }
}
