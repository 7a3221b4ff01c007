//! The extractor: applies one tar entry at a time to a layer directory, through directory fds only.
//!
//! Rules that make it safe against hostile tars:
//! - every name is cleaned lexically ([`names::clean`]) and its parent directory is opened with
//!   `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to the layer root, so neither `..` nor a symlink
//!   (absolute or relative) can lead outside the layer;
//! - the last component is always acted on with an `*at` call relative to that parent fd, with `O_NOFOLLOW`,
//!   `O_EXCL` or `AT_SYMLINK_NOFOLLOW`: nothing is ever created, changed, chmod-ed, chown-ed or timestamped through a
//!   symlink; an existing entry of the same name is removed first (directories are kept and merged);
//! - hardlink targets are resolved inside the layer the same way and linked without following symlinks;
//! - whiteouts are stored in overlayfs form (a 0/0 character device for `.wh.NAME`, the
//!   `trusted.overlay.opaque=y` xattr for `.wh..wh..opq`), so the order of entries within a layer does not matter;
//! - `trusted.overlay.*` xattrs from the tar are dropped (they would change what overlayfs shows).
//!
//! Metadata order per entry: data, then owner (chown clears setuid bits and `security.capability`), then mode,
//! then xattrs, then times; directory times are set last ([`Extractor::finish`]) because creating children changes them.

use super::names::{self, Kind};
use super::UnpackError;
use holm_sys::fs as sysfs;
use holm_sys::fs::resolve;
use std::fs::{File, FileTimes};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const COPY_BUF: usize = 256 * 1024;

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    atime: (i64, i64),
    mtime: (i64, i64),
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Applies entries to one layer directory. Create with [`Extractor::new`], feed with [`Extractor::apply`], end
/// with [`Extractor::finish`].
pub(crate) struct Extractor {
    root: OwnedFd,
    /// The last parent directory opened, by its cleaned path (entries of one directory come together).
    cache: Option<(Vec<u8>, OwnedFd)>,
    dir_times: Vec<(Vec<u8>, Meta)>,
    buf: Vec<u8>,
    /// Bytes of regular files written (hardlinks not counted again).
    pub file_bytes: u64,
    /// Entries applied.
    pub entries: u64,
    /// Cap on the logical size of sparse files (whose holes cost nothing in the tar stream).
    budget: u64,
}

fn p(b: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(b))
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn io_err(e: holm_sys::Error) -> io::Error {
    io::Error::from(e)
}

impl Extractor {
    /// An extractor writing into the directory `root` (which must exist). `budget` caps the total logical size
    /// of sparse files.
    pub(crate) fn new(root: &Path, budget: u64) -> io::Result<Extractor> {
        let root = File::open(root)?;
        let root = sysfs::openat2(
            root.as_fd(),
            Path::new("."),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            0,
        )
        .map_err(io_err)?;
        Ok(Extractor {
            root,
            cache: None,
            dir_times: Vec::new(),
            buf: vec![0; COPY_BUF],
            file_bytes: 0,
            entries: 0,
            budget,
        })
    }

    /// Applies one tar entry.
    pub(crate) fn apply<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = e.path_bytes().into_owned();
        let err = |source: io::Error| UnpackError::Entry {
            path: String::from_utf8_lossy(&raw).into_owned(),
            source,
        };
        let comps = names::clean(&raw);
        let Some((&name, dirs)) = comps.split_last() else {
            return Ok(()); // the layer root itself: its attributes belong to the snapshot, not the layer
        };
        for d in dirs {
            match names::classify(d) {
                Kind::Plain => {}
                Kind::AufsMeta => return Ok(()),
                _ => {
                    return Err(UnpackError::InvalidWhiteout(
                        String::from_utf8_lossy(&raw).into(),
                    ))
                }
            }
        }
        let ty = e.header().entry_type();
        if ty.is_pax_global_extensions() || ty.is_pax_local_extensions() {
            return Ok(());
        }
        self.entries += 1;
        match names::classify(name) {
            Kind::Plain => {}
            Kind::AufsMeta => return Ok(()),
            Kind::Invalid => {
                return Err(UnpackError::InvalidWhiteout(
                    String::from_utf8_lossy(&raw).into(),
                ))
            }
            Kind::Opaque => return self.opaque(dirs).map_err(err),
            Kind::Whiteout(target) => return self.whiteout(dirs, target).map_err(err),
        }
        let meta = read_meta(e).map_err(err)?;
        let (key, parent) = self.parent(dirs).map_err(err)?;
        let res = self.entry(e, &comps, parent.as_fd(), name, meta);
        self.cache_put(key, parent);
        res.map_err(err)
    }

    fn entry<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        comps: &[&[u8]],
        parent: BorrowedFd<'_>,
        name: &[u8],
        meta: Meta,
    ) -> io::Result<()> {
        use tar::EntryType as T;
        let ty = e.header().entry_type();
        match ty {
            T::Regular | T::Continuous | T::GNUSparse => {
                let f = self.create_file(parent, name)?;
                self.copy(e, &f, ty == T::GNUSparse)?;
                std::os::unix::fs::fchown(&f, Some(meta.uid), Some(meta.gid))?;
                f.set_permissions(std::fs::Permissions::from_mode(meta.mode))?;
                for (k, v) in &meta.xattrs {
                    sysfs::fsetxattr(f.as_fd(), k, v).map_err(io_err)?;
                }
                f.set_times(times(&meta))?;
            }
            T::Directory => {
                let opaque = self.make_dir(parent, name)?;
                let d = self.open_dir_nofollow(parent, name)?;
                std::os::unix::fs::fchown(&d, Some(meta.uid), Some(meta.gid))?;
                d.set_permissions(std::fs::Permissions::from_mode(meta.mode))?;
                for (k, v) in &meta.xattrs {
                    sysfs::fsetxattr(d.as_fd(), k, v).map_err(io_err)?;
                }
                if opaque {
                    sysfs::fsetxattr(d.as_fd(), OPAQUE_XATTR, b"y").map_err(io_err)?;
                }
                self.dir_times.push((join(comps), meta));
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| io::Error::other("symlink without a target"))?
                    .into_owned();
                self.replace(parent, name, |n| sysfs::symlinkat(p(&target), parent, n))?;
                self.node_meta(parent, name, &meta, false)?;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| io::Error::other("hardlink without a target"))?
                    .into_owned();
                let tcomps = names::clean(&target);
                let Some((&tname, tdirs)) = tcomps.split_last() else {
                    return Err(io::Error::other("hardlink to the layer root"));
                };
                if tcomps == comps {
                    return Ok(()); // a link to itself: nothing to do
                }
                let tparent = self.open_existing_dir(tdirs).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "hardlink target `{}`: {e}",
                            String::from_utf8_lossy(&target)
                        ),
                    )
                })?;
                self.replace(parent, name, |n| {
                    sysfs::linkat(tparent.as_fd(), p(tname), parent, n)
                })?;
            }
            T::Char | T::Block | T::Fifo => {
                let (fmt, major, minor) = match ty {
                    T::Fifo => (libc::S_IFIFO, 0, 0),
                    _ => {
                        let h = e.header();
                        let major = h.device_major()?.unwrap_or(0) as u64;
                        let minor = h.device_minor()?.unwrap_or(0) as u64;
                        let fmt = if ty == T::Char {
                            libc::S_IFCHR
                        } else {
                            libc::S_IFBLK
                        };
                        (fmt, major, minor)
                    }
                };
                self.replace(parent, name, |n| {
                    sysfs::mknodat(parent, n, fmt | 0o600, major, minor)
                })?;
                self.node_meta(parent, name, &meta, true)?;
            }
            other => {
                return Err(io::Error::other(format!(
                    "unsupported tar entry type {:?}",
                    other
                )))
            }
        }
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs and times of a node that has no open fd (symlink, device, fifo),
    /// all without following symlinks.
    fn node_meta(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        m: &Meta,
        chmod: bool,
    ) -> io::Result<()> {
        let n = p(name);
        sysfs::fchownat(parent, n, m.uid, m.gid).map_err(io_err)?;
        if chmod {
            sysfs::fchmodat_nofollow(parent, n, m.mode).map_err(io_err)?;
        }
        for (k, v) in &m.xattrs {
            sysfs::lsetxattrat(parent, n, k, v).map_err(io_err)?;
        }
        sysfs::utimensat_nofollow(parent, n, m.atime, m.mtime).map_err(io_err)
    }

    /// Creates `name` as a new regular file (removing whatever had that name).
    fn create_file(&mut self, parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<File> {
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
        let how = resolve::NO_SYMLINKS | resolve::BENEATH;
        let mut fd = None;
        self.replace(parent, name, |n| {
            fd = Some(sysfs::openat2(parent, n, flags, 0o600, how)?);
            Ok(())
        })?;
        Ok(File::from(fd.expect("set on success")))
    }

    /// Runs `create(name)`; if it fails with `EEXIST`, removes the existing entry (recursively for a directory)
    /// and runs it once more.
    fn replace(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        mut create: impl FnMut(&Path) -> holm_sys::Result<()>,
    ) -> io::Result<()> {
        match create(p(name)) {
            Err(e) if e.errno() == libc::EEXIST => {
                self.remove(parent, name)?;
                create(p(name)).map_err(io_err)
            }
            r => r.map_err(io_err),
        }
    }

    /// Removes `name` in `parent`, whatever it is, without following symlinks.
    fn remove(&mut self, parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
        // Whatever was removed might be (or contain) the cached parent directory.
        self.cache = None;
        match sysfs::unlinkat(parent, p(name), 0) {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == libc::ENOENT => Ok(()),
            Err(e) if e.errno() == libc::EISDIR => {
                // std's remove_dir_all never follows symlinks (it walks with O_NOFOLLOW dir fds).
                std::fs::remove_dir_all(sysfs::fd_path(parent).join(p(name)))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// Creates directory `name` unless a directory is already there. Returns true if it replaced a whiteout of
    /// this layer (the new directory must then be opaque: its lower-layer contents were deleted).
    fn make_dir(&mut self, parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
        let n = p(name);
        match sysfs::mkdirat(parent, n, 0o700) {
            Ok(()) => return Ok(false),
            Err(e) if e.errno() != libc::EEXIST => return Err(io_err(e)),
            Err(_) => {}
        }
        let fd = sysfs::openat2(
            parent,
            n,
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            resolve::NO_SYMLINKS,
        )
        .map_err(io_err)?;
        let md = File::from(fd).metadata()?;
        if md.is_dir() {
            return Ok(false);
        }
        let was_whiteout = md.file_type().is_char_device() && md.rdev() == 0;
        self.remove(parent, name)?;
        sysfs::mkdirat(parent, n, 0o700).map_err(io_err)?;
        Ok(was_whiteout)
    }

    fn open_dir_nofollow(&self, parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<File> {
        let fd = sysfs::openat2(
            parent,
            p(name),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
            resolve::NO_SYMLINKS,
        )
        .map_err(io_err)?;
        Ok(File::from(fd))
    }

    /// `.wh.NAME` in directory `dirs`: NAME is deleted from lower layers (and from this layer, if an earlier
    /// entry made it); recorded as an overlayfs whiteout (character device 0/0).
    fn whiteout(&mut self, dirs: &[&[u8]], target: &[u8]) -> io::Result<()> {
        let (key, parent) = self.parent(dirs)?;
        let res = self.replace(parent.as_fd(), target, |n| {
            sysfs::mknodat(parent.as_fd(), n, libc::S_IFCHR, 0, 0)
        });
        self.cache_put(key, parent);
        res
    }

    /// `.wh..wh..opq` in directory `dirs`: the directory hides lower layers' contents; recorded as the
    /// `trusted.overlay.opaque=y` xattr, which leaves this layer's own entries of the directory visible whatever
    /// their order in the tar.
    fn opaque(&mut self, dirs: &[&[u8]]) -> io::Result<()> {
        let (key, parent) = self.parent(dirs)?;
        self.cache_put(key, parent);
        let rel = if dirs.is_empty() {
            b".".to_vec()
        } else {
            join(dirs)
        };
        let fd = sysfs::openat2(
            self.root.as_fd(),
            p(&rel),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
            resolve::IN_ROOT | resolve::NO_MAGICLINKS,
        )
        .map_err(io_err)?;
        sysfs::fsetxattr(fd.as_fd(), OPAQUE_XATTR, b"y").map_err(io_err)
    }

    /// Opens the directory `dirs` (relative to the layer root, resolved in-root), creating missing components
    /// (mode 0755, root-owned). Returns it with its cache key; give it back with [`Extractor::cache_put`].
    fn parent(&mut self, dirs: &[&[u8]]) -> io::Result<(Vec<u8>, OwnedFd)> {
        let key = join(dirs);
        if let Some((k, fd)) = self.cache.take() {
            if k == key {
                return Ok((k, fd));
            }
        }
        match self.open_in_root(&key) {
            Ok(fd) => return Ok((key, fd)),
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(io_err(e)),
        }
        let mut cur = self.open_in_root(b".").map_err(io_err)?;
        for i in 0..dirs.len() {
            let prefix = join(&dirs[..=i]);
            cur = match self.open_in_root(&prefix) {
                Ok(fd) => fd,
                Err(e) if e.errno() == libc::ENOENT => {
                    match sysfs::mkdirat(cur.as_fd(), p(dirs[i]), 0o755) {
                        Ok(()) => {}
                        Err(e) if e.errno() == libc::EEXIST => {}
                        Err(e) => return Err(io_err(e)),
                    }
                    self.open_in_root(&prefix).map_err(io_err)?
                }
                Err(e) => return Err(io_err(e)),
            };
        }
        Ok((key, cur))
    }

    fn cache_put(&mut self, key: Vec<u8>, fd: OwnedFd) {
        self.cache = Some((key, fd));
    }

    fn open_in_root(&self, rel: &[u8]) -> holm_sys::Result<OwnedFd> {
        let rel = if rel.is_empty() { b"." as &[u8] } else { rel };
        sysfs::openat2(
            self.root.as_fd(),
            p(rel),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            resolve::IN_ROOT | resolve::NO_MAGICLINKS,
        )
    }

    /// Opens an existing directory (no creation), for hardlink targets.
    fn open_existing_dir(&self, dirs: &[&[u8]]) -> io::Result<OwnedFd> {
        self.open_in_root(&join(dirs)).map_err(io_err)
    }

    /// Copies an entry's data into `f`. For GNU sparse entries, runs of zeros become holes (`lseek`) and count
    /// against the sparse budget.
    fn copy(&mut self, src: &mut impl Read, mut f: &File, sparse: bool) -> io::Result<()> {
        let mut total = 0u64;
        loop {
            let n = match src.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            if sparse {
                if total > self.budget {
                    return Err(io::Error::other(super::BOMB_MSG));
                }
                for chunk in self.buf[..n].chunks(4096) {
                    if chunk.iter().all(|b| *b == 0) {
                        f.seek(SeekFrom::Current(chunk.len() as i64))?;
                    } else {
                        f.write_all(chunk)?;
                    }
                }
            } else {
                f.write_all(&self.buf[..n])?;
            }
        }
        if sparse {
            self.budget -= total;
            f.set_len(total)?;
        }
        self.file_bytes += total;
        Ok(())
    }

    /// Sets directory times, deepest first, after all entries are in.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.cache = None;
        while let Some((rel, meta)) = self.dir_times.pop() {
            let fd = match sysfs::openat2(
                self.root.as_fd(),
                p(&rel),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
                resolve::IN_ROOT | resolve::NO_MAGICLINKS,
            ) {
                Ok(fd) => fd,
                // Replaced by a later entry (a file, a symlink) or removed by a whiteout: nothing to stamp.
                Err(e) if matches!(e.errno(), libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => {
                    continue
                }
                Err(e) => return Err(io_err(e)),
            };
            File::from(fd).set_times(times(&meta))?;
        }
        Ok(())
    }
}

fn systime((sec, nsec): (i64, i64)) -> SystemTime {
    let d = Duration::new(sec.unsigned_abs(), nsec.clamp(0, 999_999_999) as u32);
    if sec >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

fn times(m: &Meta) -> FileTimes {
    FileTimes::new()
        .set_accessed(systime(m.atime))
        .set_modified(systime(m.mtime))
}

/// Parses a PAX time (`seconds[.fraction]`) into (seconds, nanoseconds).
pub(crate) fn parse_pax_time(s: &str) -> Option<(i64, i64)> {
    let (sec, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let sec: i64 = sec.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: i64 = digits.parse().ok()?;
    // "-1.5" means 1.5 s before the epoch.
    Some(if sec < 0 || s.starts_with('-') {
        (
            sec - i64::from(nsec > 0),
            if nsec > 0 { 1_000_000_000 - nsec } else { 0 },
        )
    } else {
        (sec, nsec)
    })
}

fn read_meta<R: Read>(e: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = e.header();
    let id = |v: u64, what: &str| {
        u32::try_from(v)
            .map_err(|_| io::Error::other(format!("{what} {v} does not fit in 32 bits")))
    };
    let uid = id(h.uid()?, "uid")?;
    let gid = id(h.gid()?, "gid")?;
    let mode = h.mode()? & 0o7777;
    let mtime = (h.mtime()? as i64, 0);
    let mut m = Meta {
        uid,
        gid,
        mode,
        atime: mtime,
        mtime,
        xattrs: Vec::new(),
    };
    let mut atime = None;
    if let Some(exts) = e.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            match key {
                "mtime" => {
                    if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                        m.mtime = t;
                    }
                }
                "atime" => atime = ext.value().ok().and_then(parse_pax_time),
                k => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        if !x.starts_with("trusted.overlay.") && !x.is_empty() {
                            m.xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
    }
    m.atime = atime.unwrap_or(m.mtime);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::parse_pax_time;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("1700000000"), Some((1700000000, 0)));
        assert_eq!(
            parse_pax_time("1700000000.5"),
            Some((1700000000, 500_000_000))
        );
        assert_eq!(parse_pax_time("1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time("1.x"), None);
    }
}
