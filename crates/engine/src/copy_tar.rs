//! `holm cp` with `-` as one side: `holm cp C:SRC -` writes a tar stream of SRC to stdout, `holm cp - C:DST`
//! extracts a tar stream (plain, gzip or zstd) from stdin into the directory DST of the container, as docker does.
//!
//! The archive is made by the same walk as a copy to the host (see [`crate::copy`]): paths resolved inside the
//! container's root, symlinks kept, the kernel's pseudo file systems skipped. Its top entry is the source's base
//! name (`SRC/.` puts the contents at the top, as `./…`). Extraction goes through holm-image's layer extractor
//! on an `openat2(RESOLVE_IN_ROOT)` fd of DST, so no entry (`..`, absolute names, symlinks, hardlinks) lands
//! outside DST. A failed extraction removes the entries it added at the top of DST. For a stopped container with
//! a volume or bind mount below DST, the archive is first spooled to a temporary file and refused if an entry
//! would land on that mount (the extraction writes into one root or mount). Where holm differs from docker: the tar's owners are kept (docker's default maps them to the
//! container's root unless `-a`), and `.wh.NAME` entries are taken as overlay whiteouts (the extractor is the one
//! for image layers).

use crate::copy::{self, CopyOptions, Kind, Sink};
use crate::{Engine, Error, Result};
use holm_container::resolve;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn tar_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        what: what.to_string(),
        source: e,
    }
}

/// Writes what the walk finds as tar entries.
struct TarSink<W: Write> {
    tar: tar::Builder<W>,
}

fn header(m: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    use std::os::unix::fs::MetadataExt;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid().into());
    h.set_gid(m.gid().into());
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        let mut h = header(m, tar::EntryType::Directory);
        let name = format!("{}/", dst.display().to_string().trim_end_matches('/'));
        if dotted(dst) {
            return append_raw(
                &mut self.tar,
                &mut h,
                name.as_bytes(),
                None,
                std::io::empty(),
            );
        }
        self.tar
            .append_data(&mut h, name, std::io::empty())
            .map_err(tar_err("write the archive"))
    }

    fn file(&mut self, dst: &Path, m: &std::fs::Metadata, data: &mut File) -> Result<()> {
        let mut h = header(m, tar::EntryType::Regular);
        h.set_size(m.len());
        // exactly the size in the header, even if the file changes meanwhile
        let mut body = (data as &mut dyn Read)
            .chain(std::io::repeat(0))
            .take(m.len());
        if dotted(dst) {
            return append_raw(
                &mut self.tar,
                &mut h,
                dst.as_os_str().as_bytes(),
                None,
                body,
            );
        }
        self.tar
            .append_data(&mut h, dst, &mut body)
            .map_err(tar_err("write the archive"))
    }

    fn symlink(&mut self, dst: &Path, target: &Path, m: &std::fs::Metadata) -> Result<()> {
        let mut h = header(m, tar::EntryType::Symlink);
        if dotted(dst) {
            let (name, link) = (dst.as_os_str().as_bytes(), target.as_os_str().as_bytes());
            return append_raw(&mut self.tar, &mut h, name, Some(link), std::io::empty());
        }
        self.tar
            .append_link(&mut h, dst, target)
            .map_err(tar_err("write the archive"))
    }

    fn special(&mut self, dst: &Path, m: &std::fs::Metadata) -> Result<()> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let ft = m.file_type();
        let kind = if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        };
        let mut h = header(m, kind);
        if !ft.is_fifo() {
            let (major, minor) = copy::dev_numbers(m.rdev());
            h.set_device_major(major as u32)
                .and_then(|()| h.set_device_minor(minor as u32))
                .map_err(tar_err("write the archive"))?;
        }
        if dotted(dst) {
            let name = dst.as_os_str().as_bytes();
            return append_raw(&mut self.tar, &mut h, name, None, std::io::empty());
        }
        self.tar
            .append_data(&mut h, dst, std::io::empty())
            .map_err(tar_err("write the archive"))
    }
}

/// Whether an entry's name starts with `./` (the contents of `C:DIR/.`): dockerd names those entries `./NAME`,
/// and the docker CLI rebases them by replacing that leading `.`, so the prefix must stay (the tar crate's
/// path setters drop it).
fn dotted(dst: &Path) -> bool {
    dst.as_os_str().as_bytes().starts_with(b"./")
}

/// Appends an entry whose name (and link target) are written byte for byte, with GNU long-name/long-link
/// entries for those over 100 bytes.
fn append_raw<W: Write>(
    tar: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> Result<()> {
    for (bytes, kind) in [
        (Some(name), tar::EntryType::GNULongName),
        (link, tar::EntryType::GNULongLink),
    ] {
        let Some(bytes) = bytes.filter(|b| b.len() > 100) else {
            continue;
        };
        let mut long = tar::Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_entry_type(kind);
        long.set_size(bytes.len() as u64 + 1);
        long.set_cksum();
        tar.append(&long, bytes.chain(&[0u8][..]))
            .map_err(tar_err("write the archive"))?;
    }
    let old = h.as_old_mut();
    old.name = [0; 100];
    let n = name.len().min(100);
    old.name[..n].copy_from_slice(&name[..n]);
    if let Some(link) = link {
        old.linkname = [0; 100];
        let n = link.len().min(100);
        old.linkname[..n].copy_from_slice(&link[..n]);
    }
    h.set_cksum();
    tar.append(h, data).map_err(tar_err("write the archive"))
}

impl Engine {
    /// `holm cp C:SRC -`: a tar stream of SRC (a file, symlink or directory tree) to `out`.
    pub fn copy_from_to_tar(
        &self,
        what: &str,
        src: &str,
        opts: CopyOptions,
        out: impl Write,
    ) -> Result<()> {
        let root = copy::open_root(self, what)?;
        let (root, mounts, rel, kind) =
            copy::locate_source(&root, Path::new(src), opts.follow_link).map_err(|e| {
                Error::Io {
                    what: format!("No such container:path: {what}:{src}"),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        let name = if kind == Kind::Dir && copy::contents_only(src) {
            ".".into()
        } else {
            copy::base_name(src).unwrap_or_else(|| ".".into())
        };
        let mut sink = TarSink {
            tar: tar::Builder::new(out),
        };
        copy::walk_with(root, mounts, &rel, &name, &mut sink)?;
        let mut out = sink
            .tar
            .into_inner()
            .map_err(tar_err("write the archive"))?;
        out.flush().map_err(tar_err("write the archive"))
    }

    /// `holm cp - C:DST`: extracts the tar stream `input` into the existing directory DST of the container.
    pub fn copy_to_from_tar(&self, what: &str, input: impl Read, dst: &str) -> Result<()> {
        let opened = copy::open_root(self, what)?;
        let target = opened.resolve(Path::new(dst), true)?;
        let (root, rel) = opened.write_at(&target)?;
        let dir = match resolve::open(root, &rel, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(d) => d,
            Err(holm_container::Error::Sys(e)) if e.errno() == libc::ENOTDIR => {
                return Err(Error::Io {
                    what: format!("copy to {dst} in container {what}"),
                    source: std::io::Error::other("extraction point is not a directory"),
                })
            }
            Err(_) => {
                return Err(Error::Io {
                    what: format!("Could not find the file {dst} in container {what}"),
                    source: std::io::Error::other("no such file or directory"),
                })
            }
        };
        let dir_path = holm_sys::fs::fd_path(dir.as_fd());
        let names = |p: &Path| -> std::collections::HashSet<std::ffi::OsString> {
            std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default()
        };
        let below = opened.mounts_below(&target);
        let input: Box<dyn Read> = if below.is_empty() {
            Box::new(input)
        } else {
            Box::new(spool_and_check(input, &target, &below)?)
        };
        let before = names(&dir_path);
        let mut input = std::io::BufReader::new(input);
        let head = std::io::BufRead::fill_buf(&mut input).map_err(tar_err("read the archive"))?;
        let compression = holm_image::unpack::Compression::sniff(head);
        let r = holm_image::unpack::unpack_layer(
            input,
            compression,
            &dir_path,
            &holm_image::unpack::UnpackOptions::default(),
        );
        if let Err(e) = r {
            // Remove the entries this extraction added at the top of DST (what it wrote inside directories that
            // were already there stays).
            let created: Vec<_> = names(&dir_path)
                .difference(&before)
                .map(|n| dir_path.join(n))
                .collect();
            copy::undo_host(&created);
            return Err(Error::Io {
                what: format!("extract into {dst} in container {what}"),
                source: std::io::Error::other(e.to_string()),
            });
        }
        Ok(())
    }
}

/// Spools the archive `input` to an unnamed temporary file and checks that none of its entries lands on a mount
/// of the stopped container (`below`, relative to the extraction point `target`: the extraction writes into one
/// root or mount only); the file, rewound, to extract from.
fn spool_and_check(
    mut input: impl Read,
    target: &Path,
    below: &[std::path::PathBuf],
) -> Result<File> {
    use std::io::{Seek, SeekFrom};
    let mut f = tempfile::tempfile().map_err(tar_err("spool the archive"))?;
    std::io::copy(&mut input, &mut f).map_err(tar_err("read the archive"))?;
    f.seek(SeekFrom::Start(0))
        .map_err(tar_err("spool the archive"))?;
    {
        let (_, dec) = holm_image::unpack::sniffing_decoder(std::io::BufReader::new(&f))
            .map_err(tar_err("read the archive"))?;
        let mut a = tar::Archive::new(dec);
        for e in a.entries().map_err(tar_err("read the archive"))? {
            let e = e.map_err(tar_err("read the archive"))?;
            let name = resolve::clean(&e.path().map_err(tar_err("read the archive"))?);
            if let Some(b) = below.iter().find(|b| name.starts_with(b)) {
                return Err(crate::copy_mounts::on_mount(target, &name, b));
            }
        }
    }
    f.seek(SeekFrom::Start(0))
        .map_err(tar_err("spool the archive"))?;
    Ok(f)
}

/// What is at a path inside a container (the archive endpoints' `X-Docker-Container-Path-Stat`), not following a
/// final symlink.
#[derive(Debug, Clone)]
pub struct PathStat {
    /// The base name (`/` for the root).
    pub name: String,
    /// Its metadata (lstat).
    pub metadata: std::fs::Metadata,
    /// A symlink's target.
    pub link_target: Option<std::path::PathBuf>,
}

impl Engine {
    /// Stats `path` inside container `what`, resolved in its root as `cp` resolves it (`openat2` in the root, the
    /// mounts of a stopped container). Errors: the container or the path is missing.
    pub fn stat_path(&self, what: &str, path: &str) -> Result<PathStat> {
        let root = copy::open_root(self, what)?;
        let (fd, _, rel, kind) = copy::locate_source(&root, Path::new(path), false)
            .map_err(|e| copy::cp_err(format!("No such container:path: {what}:{path}"), e))?;
        let rel = resolve::clean(&rel);
        let (dir, name) = match rel.file_name() {
            Some(n) => (
                resolve::open(
                    fd,
                    rel.parent().unwrap_or(Path::new("")),
                    libc::O_PATH | libc::O_DIRECTORY,
                )?,
                std::path::PathBuf::from(n),
            ),
            None => (
                resolve::open(fd, Path::new(""), libc::O_PATH | libc::O_DIRECTORY)?,
                ".".into(),
            ),
        };
        let p = holm_sys::fs::fd_path(dir.as_fd()).join(&name);
        let metadata = std::fs::symlink_metadata(&p)
            .map_err(Error::io(format!("{path} (in the container)")))?;
        let link_target = if kind == Kind::Symlink {
            Some(holm_sys::fs::readlinkat(dir.as_fd(), &name)?)
        } else {
            None
        };
        let name =
            copy::base_name(path).map_or_else(|| "/".to_string(), |n| n.display().to_string());
        Ok(PathStat {
            name,
            metadata,
            link_target,
        })
    }
}
