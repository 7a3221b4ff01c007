//! Unpacked layers, one directory per chain id: `<root>/layers/<chain-id hex>/{diff/,layer.json}`.
//!
//! A layer is unpacked once, whichever image brings it, into the import's staging directory, verified against
//! the config's diff_id, and only then renamed into place; `layer.json` is written before the rename, so a layer
//! directory that exists is complete. The layers of one import are unpacked in parallel (one thread per layer, at
//! most one per CPU): each goes into its own directory, so they do not depend on each other.
//!
//! Concurrent imports share the work: a layer is unpacked under an exclusive `flock` on
//! `<root>/layer-locks/<chain-id hex>` and committed (made durable with `syncfs`, then renamed into place)
//! before the lock is let go, so an import that needs a layer another one is unpacking waits for it and then
//! only checks its own blob against it ([`LayerStore::verify_blob`]) instead of unpacking it again. A thread
//! holds one such lock at a time and takes no other lock while holding it, so imports cannot deadlock; a killed
//! importer's lock goes with it and its half-unpacked layer stays in its staging directory (removed by the next
//! import). Lock files are removed by garbage collection, which runs when no import does.

use crate::content::Staging;
use crate::digest::{self, Digest};
use crate::fsutil;
use crate::unpack::{self, Compression, UnpackError, UnpackOptions};
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Errors of the layer store.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The layer blob did not unpack.
    #[error("unpack layer {blob}: {source}")]
    Unpack {
        /// The layer blob's digest.
        blob: String,
        /// Why.
        #[source]
        source: UnpackError,
    },
    /// The uncompressed layer does not hash to the config's diff_id.
    #[error(
        "layer {blob}: uncompressed digest {actual} does not match the config's diff_id {expected}"
    )]
    DiffIdMismatch {
        /// The layer blob's digest.
        blob: String,
        /// The config's `rootfs.diff_ids` entry.
        expected: String,
        /// What the stream hashed to.
        actual: String,
    },
    /// A file-system error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A chain id that is not a valid sha256 digest.
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LayerError {
    let what = what.into();
    move |source| LayerError::Io { what, source }
}

/// What the store knows about an unpacked layer (`layer.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The chain id (image-spec `config.md#layer-chainid`) naming the directory.
    pub chain_id: Digest,
    /// The layer's diff_id (sha256 of its uncompressed tar).
    pub diff_id: Digest,
    /// Chain id of the layer below, if any.
    pub parent: Option<Digest>,
    /// Length of the uncompressed tar stream in bytes (the size of a docker-archive `layer.tar`).
    pub tar_size: u64,
    /// Bytes of regular file data.
    pub file_bytes: u64,
    /// Digests of layer blobs known to uncompress to `diff_id` (the blob this layer was unpacked from, and blobs
    /// checked later by [`LayerStore::verify_blob`]). A cache: a blob not listed is hashed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest>,
}

/// A layer made present: its info and whether the job's blob was hashed to check it, or why it failed.
type Staged = Result<(LayerInfo, bool), LayerError>;

/// A layer's tar-split file (in its directory), when its tar can be regenerated (see `unpack::split`).
const SPLIT: &str = "tar-split.zst";

/// The directory of the per-layer lock files, beside the layer directory.
const LOCKS: &str = "layer-locks";

/// One layer to unpack.
#[derive(Debug, Clone)]
pub struct LayerJob {
    /// The (compressed) blob's digest, for messages.
    pub blob: Digest,
    /// Where the blob is (staged or in the store).
    pub blob_path: PathBuf,
    /// How it is compressed.
    pub compression: Compression,
    /// The diff_id the config declares for it.
    pub diff_id: Digest,
    /// Its chain id.
    pub chain_id: Digest,
    /// The chain id below it.
    pub parent: Option<Digest>,
}

/// Unpacked layers under `<root>/layers`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    locks: PathBuf,
}

impl LayerStore {
    /// Opens (creating if needed) the layer directory under `root`.
    pub fn open(root: &Path) -> Result<LayerStore, LayerError> {
        let dir = fsutil::ensure_dir(root.join("layers")).map_err(io_err("layers dir"))?;
        Ok(LayerStore {
            dir,
            locks: root.join(LOCKS),
        })
    }

    fn layer_dir(&self, chain: &Digest) -> Result<PathBuf, LayerError> {
        Ok(self.dir.join(digest::hex(chain)?))
    }

    /// The unpacked tree of a layer (an overlayfs lower dir).
    pub fn diff_dir(&self, chain: &Digest) -> Result<PathBuf, LayerError> {
        Ok(self.layer_dir(chain)?.join("diff"))
    }

    /// True if the layer is unpacked.
    pub fn contains(&self, chain: &Digest) -> bool {
        self.layer_dir(chain)
            .map(|d| d.join("layer.json").is_file())
            .unwrap_or(false)
    }

    /// The layer's `layer.json`.
    pub fn info(&self, chain: &Digest) -> Result<LayerInfo, LayerError> {
        let p = self.layer_dir(chain)?.join("layer.json");
        let bytes = std::fs::read(&p).map_err(io_err(format!("read {}", p.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| LayerError::Io {
            what: format!("parse {}", p.display()),
            source: io::Error::other(e),
        })
    }

    /// Chain ids of all unpacked layers.
    pub fn list(&self) -> Result<Vec<Digest>, LayerError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_err("list layers"))? {
            let e = e.map_err(io_err("list layers"))?;
            if let Some(n) = e.file_name().to_str() {
                if let Ok(d) = digest::parse(&format!("sha256:{n}")) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Deletes a layer directory (symlinks inside are never followed).
    pub fn remove(&self, chain: &Digest) -> Result<(), LayerError> {
        let d = self.layer_dir(chain)?;
        // Rename first so that a half-removed layer never looks complete.
        let tmp = self.dir.join(fsutil::unique_name(".removing-"));
        match std::fs::rename(&d, &tmp) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            r => r.map_err(io_err(format!("remove layer {chain}")))?,
        }
        std::fs::remove_dir_all(&tmp).map_err(io_err(format!("remove layer {chain}")))
    }

    /// Removes leftovers of interrupted removals. Call under the store's gc lock.
    pub fn remove_leftovers(&self) -> Result<(), LayerError> {
        for e in std::fs::read_dir(&self.dir).map_err(io_err("list layers"))? {
            let e = e.map_err(io_err("list layers"))?;
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                std::fs::remove_dir_all(e.path()).map_err(io_err("remove leftover layer"))?;
            }
        }
        Ok(())
    }

    /// Makes every layer of `jobs` present in the store, in parallel: each is unpacked into `staging`, verified
    /// against its diff_id and committed, under the layer's lock (see the module doc); a layer that another import
    /// committed meanwhile is not unpacked again, only the job's blob is checked against it. Returns, in the order
    /// of `jobs`, each layer's info and whether the blob was hashed by such a check (worth
    /// [`LayerStore::record_blob`]), and the first failure if any (the other jobs still finish). Layers committed
    /// before a failure stay: they are complete and verified, and garbage collection removes them if no image
    /// comes to use them.
    pub fn unpack_all(
        &self,
        staging: &Staging,
        jobs: &[LayerJob],
        opts: &UnpackOptions,
    ) -> Result<Vec<(LayerInfo, bool)>, LayerError> {
        let base = staging.dir().join("layers");
        std::fs::create_dir_all(&base).map_err(io_err("create staging layers"))?;
        std::fs::create_dir_all(&self.locks).map_err(io_err("create layer locks"))?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len())
            .max(1);
        // Largest blobs first, so that the longest unpack starts at once and the small ones fill the other
        // threads (instead of a big last layer running alone at the end).
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        let size = |j: &LayerJob| std::fs::metadata(&j.blob_path).map_or(0, |m| m.len());
        order.sort_by_key(|&i| std::cmp::Reverse(size(&jobs[i])));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Staged>>> =
            Mutex::new((0..jobs.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let r = self.make_present(&base.join(i.to_string()), &jobs[i], opts);
                        results.lock().expect("no panics while held")[i] = Some(r);
                    }
                });
            }
        });
        results
            .into_inner()
            .expect("threads joined")
            .into_iter()
            .map(|r| r.expect("every job ran"))
            .collect()
    }

    /// One job of [`LayerStore::unpack_all`], under the layer's lock.
    fn make_present(
        &self,
        dir: &Path,
        job: &LayerJob,
        opts: &UnpackOptions,
    ) -> Result<(LayerInfo, bool), LayerError> {
        let lock = self.locks.join(digest::hex(&job.chain_id)?);
        let _held = fsutil::lock_exclusive(&lock).map_err(io_err("lock layer"))?;
        if self.contains(&job.chain_id) {
            // Another import unpacked it (while this one waited for the lock, or before).
            let hashed = self.verify_blob(job, opts)?;
            return Ok((self.info(&job.chain_id)?, hashed));
        }
        let info = unpack_one(dir, job, opts)?;
        // Durable before visible: the unpacked files, then the rename, then the directory entry.
        let f = std::fs::File::open(dir).map_err(io_err("open staged layer"))?;
        holm_sys::fs::syncfs(f.as_fd()).map_err(|e| io_err("syncfs")(e.into()))?;
        self.commit(dir, &info)?;
        fsutil::sync_dir(&self.dir).map_err(io_err("sync layers"))?;
        Ok((info, false))
    }

    /// The exact tar stream of layer `chain`, regenerated from its tar-split and unpacked files, if it has a
    /// tar-split. The caller checks it against the diff_id.
    pub fn regenerated_tar(&self, chain: &Digest) -> Result<Option<impl io::Read>, LayerError> {
        let split = self.layer_dir(chain)?.join(SPLIT);
        if !split.is_file() {
            return Ok(None);
        }
        unpack::split::regenerate(&split, &self.diff_dir(chain)?)
            .map(Some)
            .map_err(io_err(format!("regenerate layer {chain}")))
    }

    /// True if layer `chain` can regenerate its tar (its plain tar blob need not be kept).
    pub fn has_split(&self, chain: &Digest) -> bool {
        self.layer_dir(chain).is_ok_and(|d| d.join(SPLIT).is_file())
    }

    /// Removes the layer lock files. Call under the store's exclusive gc lock (no import holds or waits for one).
    pub fn remove_locks(&self) -> Result<(), LayerError> {
        match std::fs::remove_dir_all(&self.locks) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove layer locks")(e)),
            _ => Ok(()),
        }
    }

    /// Moves a staged layer directory into place. If another import got there first, the staged copy is left for
    /// the staging area's cleanup.
    pub fn commit(&self, staged: &Path, info: &LayerInfo) -> Result<(), LayerError> {
        let dst = self.layer_dir(&info.chain_id)?;
        if self.contains(&info.chain_id) {
            return Ok(());
        }
        match std::fs::rename(staged, &dst) {
            Ok(()) => Ok(()),
            // ENOTEMPTY/EEXIST: a concurrent import committed the same chain id.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                Ok(())
            }
            Err(e) => Err(io_err(format!("commit layer {}", info.chain_id))(e)),
        }
    }

    /// Checks that the blob of `job`, whose layer (`job.chain_id`) is not to be unpacked from it, uncompresses to the
    /// config's diff_id, without unpacking it: a plain tar blob named by the diff_id is the diff_id (its digest
    /// was verified when it was staged); a blob listed in the stored layer's `layer.json` was checked before; any other
    /// blob is decompressed and hashed ([`LayerError::DiffIdMismatch`] if it differs). Returns true if the blob
    /// was hashed (its digest is then worth recording with [`LayerStore::record_blob`]).
    pub fn verify_blob(&self, job: &LayerJob, opts: &UnpackOptions) -> Result<bool, LayerError> {
        if job.compression == Compression::None && job.blob == job.diff_id {
            return Ok(false);
        }
        if self.contains(&job.chain_id) && self.info(&job.chain_id)?.blobs.contains(&job.blob) {
            return Ok(false);
        }
        let blob = std::fs::File::open(&job.blob_path)
            .map_err(io_err(format!("open layer blob {}", job.blob)))?;
        let (actual, _) = unpack::hash_layer(blob, job.compression, opts).map_err(|source| {
            LayerError::Unpack {
                blob: job.blob.to_string(),
                source,
            }
        })?;
        if actual != job.diff_id {
            return Err(LayerError::DiffIdMismatch {
                blob: job.blob.to_string(),
                expected: job.diff_id.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(true)
    }

    /// Adds `blob` to the blobs the layer `chain` is known to come from (its `layer.json`, replaced crash-safely).
    /// Only a cache for [`LayerStore::verify_blob`]: the caller may ignore a failure.
    pub fn record_blob(&self, chain: &Digest, blob: &Digest) -> Result<(), LayerError> {
        let mut info = self.info(chain)?;
        if info.blobs.contains(blob) {
            return Ok(());
        }
        info.blobs.push(blob.clone());
        let json = serde_json::to_vec_pretty(&info).expect("layer info serialises");
        fsutil::write_atomic(&self.layer_dir(chain)?.join("layer.json"), &json)
            .map_err(io_err("update layer.json"))
    }

    /// The store's layer directory (for fsync after commits).
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

fn unpack_one(dir: &Path, job: &LayerJob, opts: &UnpackOptions) -> Result<LayerInfo, LayerError> {
    let diff = dir.join("diff");
    std::fs::create_dir_all(&diff).map_err(io_err(format!("create {}", diff.display())))?;
    let blob = std::fs::File::open(&job.blob_path)
        .map_err(io_err(format!("open layer blob {}", job.blob)))?;
    // A plain tar blob named by its diff_id need not be kept if the tar can be regenerated (see `unpack::split`).
    let split =
        (job.compression == Compression::None && job.blob == job.diff_id).then(|| dir.join(SPLIT));
    let (d, whole) =
        unpack::unpack_layer_split(blob, job.compression, &diff, opts, split.as_deref()).map_err(
            |source| LayerError::Unpack {
                blob: job.blob.to_string(),
                source,
            },
        )?;
    if d.diff_id != job.diff_id {
        return Err(LayerError::DiffIdMismatch {
            blob: job.blob.to_string(),
            expected: job.diff_id.to_string(),
            actual: d.diff_id.to_string(),
        });
    }
    if let Some(split) = split {
        // Kept only if it regenerates the exact tar.
        let good = whole
            && unpack::split::hash_regenerated(&split, &diff)
                .is_ok_and(|(id, len)| id == d.diff_id && len == d.tar_size);
        if !good {
            let _ = std::fs::remove_file(&split);
        }
    }
    let info = LayerInfo {
        chain_id: job.chain_id.clone(),
        diff_id: d.diff_id,
        parent: job.parent.clone(),
        tar_size: d.tar_size,
        file_bytes: d.file_bytes,
        blobs: vec![job.blob.clone()],
    };
    let json = serde_json::to_vec_pretty(&info).expect("layer info serialises");
    std::fs::write(dir.join("layer.json"), json).map_err(io_err("write layer.json"))?;
    Ok(info)
}
