//! The content store: blobs by digest under `<root>/blobs/sha256/<hex>`, each verified before it becomes visible.
//!
//! Bytes arrive in a private [`Staging`] directory under `<root>/ingest/` (one per import, held with an `flock` so
//! that garbage collection can tell live imports from the leftovers of a killed one). A staged blob is named by the
//! sha256 computed while writing it and is checked against its descriptor (digest and exact size; reading stops one
//! byte past the declared size). Only then is it renamed into `blobs/`: a kill at any point leaves either no blob or
//! a complete, verified one, and staging leftovers that `gc` removes.

use crate::digest::{self, Digest, DigestError, HashingWriter};
use crate::fsutil::{self, Lock};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Largest manifest, index or config the store reads into memory (4 MiB, as registries allow).
pub const MAX_JSON_BYTES: u64 = 4 << 20;

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The bytes hash to something else than the digest they were declared with.
    #[error("blob {what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        /// Where the bytes came from (a digest or an archive path).
        what: String,
        /// The declared digest.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// The blob is longer than its descriptor's size.
    #[error("blob {digest} is longer than its descriptor's size of {expected} bytes")]
    TooLong {
        /// The blob.
        digest: Digest,
        /// The declared size.
        expected: u64,
    },
    /// The blob is shorter than its descriptor's size.
    #[error("blob {digest} is {actual} bytes, its descriptor says {expected}")]
    TooShort {
        /// The blob.
        digest: Digest,
        /// The declared size.
        expected: u64,
        /// The real size.
        actual: u64,
    },
    /// No such blob (in the store or the import).
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// A JSON blob larger than [`MAX_JSON_BYTES`].
    #[error("blob {0} is too large to be a manifest or config")]
    TooLargeForJson(Digest),
    /// A malformed or unsupported digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A file-system error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, to which path.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ContentError {
    let what = what.into();
    move |source| ContentError::Io { what, source }
}

/// Blobs by digest under `<root>/blobs/sha256`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let blobs = fsutil::ensure_dir(root.join("blobs/sha256")).map_err(io_err("blobs dir"))?;
        let ingest = fsutil::ensure_dir(root.join("ingest")).map_err(io_err("ingest dir"))?;
        Ok(ContentStore { blobs, ingest })
    }

    /// The blob directory (`<root>/blobs/sha256`).
    pub fn dir(&self) -> &Path {
        &self.blobs
    }

    /// Where the blob `d` is (whether or not it exists).
    pub fn path(&self, d: &Digest) -> Result<PathBuf, ContentError> {
        Ok(self.blobs.join(digest::hex(d)?))
    }

    /// True if the blob is in the store.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, ContentError> {
        let p = self.path(d)?;
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(d.clone()),
            _ => ContentError::Io {
                what: format!("open {}", p.display()),
                source: e,
            },
        })
    }

    /// Size of a blob in bytes.
    pub fn size(&self, d: &Digest) -> Result<u64, ContentError> {
        Ok(self
            .open_blob(d)?
            .metadata()
            .map_err(io_err("stat blob"))?
            .len())
    }

    /// Reads a small blob (manifest, config) whole; refuses blobs over [`MAX_JSON_BYTES`].
    pub fn read_json(&self, d: &Digest) -> Result<Vec<u8>, ContentError> {
        read_capped(self.open_blob(d)?, d)
    }

    /// The digests of all blobs.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.blobs).map_err(io_err("list blobs"))? {
            let e = e.map_err(io_err("list blobs"))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = digest::parse(&format!("sha256:{name}")) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Deletes a blob (absent is fine).
    pub fn remove(&self, d: &Digest) -> Result<(), ContentError> {
        match std::fs::remove_file(self.path(d)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove blob")(e)),
            _ => Ok(()),
        }
    }

    /// A new private staging area for one import.
    pub fn staging(&self) -> Result<Staging, ContentError> {
        // Made under a `.new-` name, locked, then renamed to `import-*`: a directory with the `import-` name
        // always has its lock held while its import lives, so a concurrent `remove_stale_staging` that gets the
        // lock knows the import is gone. (Locking after creating `import-*` left a window in which another
        // import took the fresh lock and removed the directory.)
        let tmp = self.ingest.join(fsutil::unique_name(".new-"));
        std::fs::create_dir(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
        let ready = (|| {
            let lock = fsutil::lock_exclusive(&tmp.join("lock")).map_err(io_err("lock staging"))?;
            std::fs::create_dir(tmp.join("blobs")).map_err(io_err("create staging blobs"))?;
            let dir = self.ingest.join(fsutil::unique_name("import-"));
            std::fs::rename(&tmp, &dir)
                .map_err(io_err(format!("rename staging to {}", dir.display())))?;
            Ok((dir, lock))
        })();
        let (dir, lock) = match ready {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        Ok(Staging {
            blobs: dir.join("blobs"),
            dir,
            _lock: lock,
            staged: HashMap::new(),
        })
    }

    /// Removes staging directories whose import is gone (killed): those whose lock nobody holds. Returns how many.
    pub fn remove_stale_staging(&self) -> Result<usize, ContentError> {
        let mut n = 0;
        for e in std::fs::read_dir(&self.ingest).map_err(io_err("list ingest"))? {
            let p = e.map_err(io_err("list ingest"))?.path();
            let older_than_a_minute = || {
                std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(60))
            };
            let being_made = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".new-"));
            let stale = if being_made {
                // Another import is setting this one up (see `staging`): its lock proves nothing yet. A directory
                // left by an import killed right then is old, or named by a process that is gone
                // (`.new-<pid>-…`).
                let maker_gone = p
                    .file_name()
                    .and_then(|n| {
                        n.to_str()?
                            .strip_prefix(".new-")?
                            .split('-')
                            .next()?
                            .parse::<u32>()
                            .ok()
                    })
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                maker_gone || older_than_a_minute()
            } else {
                match fsutil::try_lock_exclusive(&p.join("lock")) {
                    Ok(Some(_held)) => true,
                    Ok(None) => false,
                    // No lock file (made by an older holm, killed between mkdir and lock): stale once a minute old.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => older_than_a_minute(),
                    Err(e) => return Err(io_err(format!("lock {}", p.display()))(e)),
                }
            };
            if stale {
                match std::fs::remove_dir_all(&p) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(io_err(format!("remove {}", p.display()))(e))
                    }
                    _ => n += 1,
                }
            }
        }
        Ok(n)
    }
}

fn read_capped(f: File, d: &Digest) -> Result<Vec<u8>, ContentError> {
    let mut buf = Vec::new();
    f.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(format!("read blob {d}")))?;
    if buf.len() as u64 > MAX_JSON_BYTES {
        return Err(ContentError::TooLargeForJson(d.clone()));
    }
    Ok(buf)
}

/// One import's private area: `<root>/ingest/import-<unique>/{lock,blobs/,layers/}`. Removed when dropped.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    blobs: PathBuf,
    _lock: Lock,
    staged: HashMap<String, u64>,
}

impl Staging {
    /// The staging directory (layers are unpacked below it, on the store's file system).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Streams `r` into a staged blob named by its sha256 and returns (digest, size).
    ///
    /// With `expect = Some((digest, size))` at most `size + 1` bytes are read and the blob must have exactly that
    /// digest and size ([`ContentError::TooLong`], [`ContentError::TooShort`], [`ContentError::DigestMismatch`]).
    /// With `expect_digest` only (an archive file named by its digest), the digest must match. `what` names the
    /// source in errors.
    pub fn ingest(
        &mut self,
        r: impl Read,
        what: &str,
        expect: Option<(&Digest, u64)>,
        expect_digest: Option<&Digest>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer()?;
        let limit = expect.map_or(u64::MAX, |(_, s)| s.saturating_add(1));
        io::copy(&mut r.take(limit), &mut w).map_err(io_err(format!("read {what}")))?;
        let b = w.finish(what, expect, expect_digest)?;
        Ok(self.record(b))
    }

    /// A writer for one blob whose bytes arrive in pieces (a download; several may be written at once): write
    /// them, then [`BlobWriter::finish`] verifies and names the blob like [`Staging::ingest`] does, and
    /// [`Staging::record`] makes it part of the import. A writer dropped unfinished leaves nothing behind.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let tmp = self.blobs.join(fsutil::unique_name(".tmp-"));
        let f = File::create(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
        Ok(BlobWriter {
            w: Some(HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f))),
            tmp,
            blobs: self.blobs.clone(),
        })
    }

    /// Makes a blob a [`BlobWriter`] finished part of this import; returns its (digest, size).
    pub fn record(&mut self, b: StagedBlob) -> (Digest, u64) {
        self.staged.insert(b.hex, b.size);
        (b.digest, b.size)
    }

    /// The size of a staged blob, if staged.
    pub fn staged_size(&self, d: &Digest) -> Option<u64> {
        digest::hex(d)
            .ok()
            .and_then(|h| self.staged.get(h).copied())
    }

    /// Checks that a staged blob has exactly the descriptor's size (its digest was verified when staged).
    pub fn verify(&self, d: &Digest, size: u64) -> Result<(), ContentError> {
        match self.staged_size(d) {
            None => Err(ContentError::NotFound(d.clone())),
            Some(n) if n > size => Err(ContentError::TooLong {
                digest: d.clone(),
                expected: size,
            }),
            Some(n) if n < size => Err(ContentError::TooShort {
                digest: d.clone(),
                expected: size,
                actual: n,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Path of a staged blob.
    pub fn path(&self, d: &Digest) -> Result<PathBuf, ContentError> {
        Ok(self.blobs.join(digest::hex(d)?))
    }

    /// Reads a small staged blob whole (see [`MAX_JSON_BYTES`]).
    pub fn read_json(&self, d: &Digest) -> Result<Vec<u8>, ContentError> {
        let p = self.path(d)?;
        let f = File::open(&p).map_err(|_| ContentError::NotFound(d.clone()))?;
        read_capped(f, d)
    }

    /// Moves a staged blob into the store (keeping the store's copy if it already has one).
    pub fn commit(&self, store: &ContentStore, d: &Digest) -> Result<(), ContentError> {
        let dst = store.path(d)?;
        if dst.is_file() {
            return Ok(());
        }
        std::fs::rename(self.path(d)?, &dst).map_err(io_err(format!("commit blob {d}")))
    }
}

/// One blob being written into a [`Staging`] area (see [`Staging::writer`]).
pub struct BlobWriter {
    blobs: PathBuf,
    tmp: PathBuf,
    w: Option<HashingWriter<io::BufWriter<File>>>,
}

/// A verified blob in a staging area's directory, not yet recorded (see [`Staging::record`]).
#[derive(Debug)]
pub struct StagedBlob {
    digest: Digest,
    size: u64,
    hex: String,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp", &self.tmp)
            .finish()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.as_mut().expect("not finished").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.as_mut().expect("not finished").flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.w.as_ref().map_or(0, |w| w.len())
    }

    /// True if nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Verifies the bytes written and names them by their sha256 in the staging directory; record the result
    /// with [`Staging::record`].
    ///
    /// With `expect = Some((digest, size))` the blob must have exactly that digest and size
    /// ([`ContentError::TooLong`], [`ContentError::TooShort`], [`ContentError::DigestMismatch`]); with
    /// `expect_digest` only, the digest must match. `what` names the source in errors. On error the partial
    /// blob is removed.
    pub fn finish(
        mut self,
        what: &str,
        expect: Option<(&Digest, u64)>,
        expect_digest: Option<&Digest>,
    ) -> Result<StagedBlob, ContentError> {
        let w = self.w.take().expect("finished once");
        let (d, n, mut bw) = w.finish();
        bw.flush()
            .map_err(io_err(format!("write {}", self.tmp.display())))?;
        drop(bw);
        let want = expect.map(|(d, _)| d).or(expect_digest);
        if let Some((ed, size)) = expect {
            if n > size {
                return Err(ContentError::TooLong {
                    digest: ed.clone(),
                    expected: size,
                });
            }
            if n < size {
                return Err(ContentError::TooShort {
                    digest: ed.clone(),
                    expected: size,
                    actual: n,
                });
            }
        }
        if let Some(ed) = want {
            if *ed != d {
                return Err(ContentError::DigestMismatch {
                    what: what.to_string(),
                    expected: ed.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        let hex = digest::hex(&d)?.to_string();
        std::fs::rename(&self.tmp, self.blobs.join(&hex)).map_err(io_err("rename staged blob"))?;
        // Renamed: nothing for Drop to remove.
        self.tmp = PathBuf::new();
        Ok(StagedBlob {
            digest: d,
            size: n,
            hex,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Unpacked layers below may hold hostile symlinks: remove_dir_all never follows them.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
