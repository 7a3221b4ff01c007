//! Hand-made tar streams for tests, including hostile ones: names are written into raw headers so that `..` and
//! absolute names survive (the `tar` crate's path setters refuse them).

use std::io::Write;
use tar::{EntryType, Header};

/// A tar stream under construction.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
    /// mtime given to entries that do not set one.
    pub mtime: u64,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

fn header(name: &str, ty: EntryType, mode: u32, size: u64, mtime: u64) -> Header {
    let mut h = Header::new_gnu();
    let gnu = h.as_gnu_mut().unwrap();
    assert!(
        name.len() <= 100,
        "raw names are limited to 100 bytes: {name}"
    );
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl Tar {
    /// An empty tar.
    pub fn new() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
            mtime: 1_600_000_000,
        }
    }

    /// Appends an entry with a raw header (any name, no checks); `f` may adjust the header before the checksum.
    pub fn raw(
        &mut self,
        name: &str,
        ty: EntryType,
        mode: u32,
        link: Option<&str>,
        data: &[u8],
        f: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut h = header(name, ty, mode, data.len() as u64, self.mtime);
        if let Some(l) = link {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        f(&mut h);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.raw(name, EntryType::Regular, mode, None, data, |_| {})
    }

    /// A regular file with an owner.
    pub fn file_owned(
        &mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        data: &[u8],
    ) -> &mut Self {
        self.raw(name, EntryType::Regular, mode, None, data, |h| {
            h.set_uid(uid);
            h.set_gid(gid);
        })
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.raw(name, EntryType::Directory, mode, None, b"", |_| {})
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, EntryType::Symlink, 0o777, Some(target), b"", |_| {})
    }

    /// A hardlink with a mode (which a correct extractor ignores).
    pub fn hardlink(&mut self, name: &str, target: &str, mode: u32) -> &mut Self {
        self.raw(name, EntryType::Link, mode, Some(target), b"", |_| {})
    }

    /// A character or block device.
    pub fn device(
        &mut self,
        name: &str,
        ty: EntryType,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> &mut Self {
        self.raw(name, ty, mode, None, b"", |h| {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        })
    }

    /// PAX records for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// A file with a long name, written the way the tar crate does it (GNU long-name entry).
    pub fn long_file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(self.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(EntryType::Regular);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    /// A GNU sparse file of logical size `real_size` whose data is `chunks` (offset, bytes); the rest is holes.
    pub fn sparse(&mut self, name: &str, real_size: u64, chunks: &[(u64, &[u8])]) -> &mut Self {
        assert!(chunks.len() <= 4);
        let data: Vec<u8> = chunks.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        self.raw(name, EntryType::GNUSparse, 0o644, None, &data, |h| {
            let gnu = h.as_gnu_mut().unwrap();
            for (i, (off, d)) in chunks.iter().enumerate() {
                gnu.sparse[i].set_offset(*off);
                gnu.sparse[i].set_length(d.len() as u64);
            }
            gnu.set_real_size(real_size);
            gnu.set_is_extended(false);
        })
    }

    /// The finished tar bytes.
    pub fn bytes(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zstd of `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}
