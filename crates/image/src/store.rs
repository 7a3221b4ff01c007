//! The image store under `--root` (default `/var/lib/holm`), directory `<root>/image/`:
//!
//! ```text
//! blobs/sha256/<hex>       verified blobs (manifests, configs, layer blobs)
//! ingest/import-*/         private staging of running imports (flock-ed; leftovers of killed ones are GC-ed)
//! layers/<chain hex>/      unpacked layers: diff/ (overlayfs lower dir), layer.json, tar-split.zst (if the
//!                          layer's plain tar blob is not kept: see `unpack::split`)
//! layer-locks/<chain hex>  flock-ed while a layer is unpacked and committed (imports wait for each other)
//! snapshots/<id>/          containers' writable layers: upper/, work/, merged/
//! images.json, images.lock metadata (see `meta`)
//! gc.lock                  shared by imports and snapshot creation, exclusive for garbage collection
//! ```
//!
//! Concurrency: imports hold `gc.lock` shared while they add content and exclusive `images.lock` only for their
//! final metadata change; removal changes metadata first, then collects garbage under an exclusive `gc.lock`, so a
//! concurrent import never loses blobs or layers it is about to reference.

use crate::content::{ContentError, ContentStore};
use crate::digest::{self, Digest};
use crate::fsutil::{self, Lock};
use crate::layers::{LayerError, LayerStore};
use crate::meta::{Db, ImageRecord, MetaError, MetaStore};
use crate::reference::{Reference, ReferenceError};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The default `--root`.
pub const DEFAULT_ROOT: &str = "/var/lib/holm";

/// Errors of image store operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No image matches the name or id.
    /// docker's wording (`rmi`, `tag`, `save`, `image inspect` of a missing image).
    #[error("No such image: {0}")]
    NotFound(String),
    /// An id prefix matches several images.
    #[error("short id `{0}` is ambiguous: it matches several images")]
    Ambiguous(String),
    /// The image has names in several repositories and was named by id; `-f` removes them all.
    #[error(
        "conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories"
    )]
    MultipleNames {
        /// The image id (12 characters).
        id: String,
    },
    /// The image is used by a stopped container (a snapshot); `-f` removes it anyway.
    #[error(
        "conflict: unable to delete {id} (must be forced) - image is being used by stopped container {snapshot}"
    )]
    InUse {
        /// The image id (12 characters).
        id: String,
        /// One snapshot (container id, 12 characters) using it.
        snapshot: String,
    },
    /// The last name of an image a container uses, without `-f`.
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {id}")]
    ReferenceInUse {
        /// The reference as given.
        reference: String,
        /// One container (snapshot id, 12 characters) using the image.
        container: String,
        /// The image id (12 characters).
        id: String,
    },
    /// The image is used by a running (or paused) container: never deleted, even with `-f`.
    #[error(
        "conflict: unable to delete {id} (cannot be forced) - image is being used by running container {container}"
    )]
    RunningContainer {
        /// The image id (12 characters).
        id: String,
        /// The running container (12 characters).
        container: String,
    },
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Metadata error.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Content store error.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Layer store error.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Archive import/export error.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// Snapshot error.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Other I/O, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A stored blob is not the JSON it should be.
    #[error("stored {what} is invalid: {source}")]
    Corrupt {
        /// Which blob.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// What `remove` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemoveReport {
    /// Names removed.
    pub untagged: Vec<String>,
    /// Image ids deleted.
    pub deleted: Vec<Digest>,
}

/// What garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Layers deleted.
    pub layers: usize,
    /// Bytes of blobs and layer files freed (approximate: blob sizes plus layers' file bytes).
    pub bytes: u64,
}

/// An opened image store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    pub(crate) root: PathBuf,
    pub(crate) content: ContentStore,
    pub(crate) layers: LayerStore,
    pub(crate) meta: MetaStore,
}

impl ImageStore {
    /// Opens (creating if needed) the image store of the engine root `root` (its `image/` subdirectory).
    ///
    /// The store directory is made mode 0700 (and a new engine root too): unpacked layers hold the images'
    /// setuid binaries and device nodes, which other users of the host must not reach.
    pub fn open(root: &Path) -> Result<ImageStore, StoreError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let what = || format!("create {}", root.display());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err(what()))?;
        let root = root.join("image");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(io_err(what()))?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("chmod {}", root.display())))?;
        Ok(ImageStore {
            content: ContentStore::open(&root)?,
            layers: LayerStore::open(&root)?,
            meta: MetaStore::new(&root),
            root,
        })
    }

    /// The store directory (`<root>/image`).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The unpacked layers.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    pub(crate) fn gc_shared(&self) -> Result<Lock, StoreError> {
        fsutil::lock_shared(&self.root.join("gc.lock")).map_err(io_err("gc lock"))
    }

    fn gc_exclusive(&self) -> Result<Lock, StoreError> {
        fsutil::lock_exclusive(&self.root.join("gc.lock")).map_err(io_err("gc lock"))
    }

    /// All images, oldest import first.
    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(self.meta.read()?.images)
    }

    /// Finds an image by reference (`busybox`, `name:tag`, `name@sha256:…`), full id (`sha256:…`) or unique id
    /// prefix (`3f57d9401f8d`).
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, StoreError> {
        find(&self.meta.read()?, name).cloned()
    }

    /// The manifest of an image.
    pub fn manifest(&self, img: &ImageRecord) -> Result<ImageManifest, StoreError> {
        let bytes = self.content.read_json(&img.manifest.digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
            what: format!("manifest {}", img.manifest.digest),
            source,
        })
    }

    /// The config of an image.
    pub fn config(&self, img: &ImageRecord) -> Result<ImageConfiguration, StoreError> {
        let bytes = self.content.read_json(&img.id)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
            what: format!("config {}", img.id),
            source,
        })
    }

    /// Names the image `src` also as `dst` (`holm tag`); the name moves if another image had it.
    pub fn tag(&self, src: &str, dst: &str) -> Result<(), StoreError> {
        let dst = Reference::parse(dst)?;
        if dst.digest().is_some() {
            return Err(ReferenceError::Format {
                input: dst.to_string(),
                what: "a tag target cannot carry a digest".into(),
            }
            .into());
        }
        self.meta.update(|db| {
            let id = find(db, src)?.id.clone();
            set_tag(db, &id, &dst.to_string());
            Ok(())
        })
    }

    /// Removes a name or an image (`holm rmi`) with docker's rules (see [`crate::remove`]), treating every
    /// container as stopped. Unreferenced blobs and layers are then garbage-collected.
    pub fn remove(&self, name: &str, force: bool) -> Result<RemoveReport, StoreError> {
        self.remove_checked(name, force, &|_| false)
    }

    /// [`ImageStore::remove`], where `running(snapshot id)` tells which snapshots' containers run: an image one
    /// of them uses is never deleted, even with `force` (only its other names can be removed).
    pub fn remove_checked(
        &self,
        name: &str,
        force: bool,
        running: &dyn Fn(&str) -> bool,
    ) -> Result<RemoveReport, StoreError> {
        let report = self
            .meta
            .update(|db| crate::remove::remove_in(db, name, force, running))?;
        if !report.deleted.is_empty() {
            self.gc()?;
        }
        Ok(report)
    }

    /// Deletes images nobody uses (`holm image prune`): untagged ones, or with `all` every image that no snapshot
    /// uses. Returns the deleted ids and what garbage collection freed.
    pub fn prune(&self, all: bool) -> Result<(Vec<Digest>, GcReport), StoreError> {
        let deleted = self.meta.update(|db| {
            let used: HashSet<Digest> = db.snapshots.iter().map(|s| s.image.clone()).collect();
            let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut db.images)
                .into_iter()
                .partition(|i| !used.contains(&i.id) && (all || i.repo_tags.is_empty()));
            db.images = keep;
            Ok::<_, StoreError>(gone.into_iter().map(|i| i.id).collect::<Vec<_>>())
        })?;
        let gc = self.gc()?;
        Ok((deleted, gc))
    }

    /// Garbage collection: deletes blobs and layers no image or snapshot references, and staging left by killed
    /// imports. Waits for running imports (exclusive `gc.lock`).
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _gc = self.gc_exclusive()?;
        let db = self.meta.read()?;
        let mut blobs: HashSet<Digest> = HashSet::new();
        let mut layers: HashSet<Digest> = HashSet::new();
        for img in &db.images {
            blobs.insert(img.manifest.digest.clone());
            blobs.insert(img.id.clone());
            if let Ok(m) = self.manifest(img) {
                blobs.extend(m.layers().iter().map(|l| l.digest().clone()));
            }
            layers.extend(img.layers.iter().cloned());
        }
        for s in &db.snapshots {
            layers.extend(s.layers.iter().cloned());
        }
        let mut report = GcReport::default();
        for d in self.content.list()? {
            if !blobs.contains(&d) {
                report.bytes += self.content.size(&d).unwrap_or(0);
                self.content.remove(&d)?;
                report.blobs += 1;
            }
        }
        for c in self.layers.list()? {
            if !layers.contains(&c) {
                report.bytes += self.layers.info(&c).map(|i| i.file_bytes).unwrap_or(0);
                self.layers.remove(&c)?;
                report.layers += 1;
            }
        }
        self.layers.remove_leftovers()?;
        self.layers.remove_locks()?;
        self.content.remove_stale_staging()?;
        self.meta.remove_stale_temps()?;
        Ok(report)
    }
}

/// Adds `name` to image `id`, taking it from any other image.
pub(crate) fn set_tag(db: &mut Db, id: &Digest, name: &str) {
    for img in db.images.iter_mut() {
        if img.id != *id {
            img.repo_tags.retain(|t| t != name);
        } else if !img.repo_tags.iter().any(|t| t == name) {
            img.repo_tags.push(name.to_string());
        }
    }
}

pub(crate) fn find<'a>(db: &'a Db, name: &str) -> Result<&'a ImageRecord, StoreError> {
    // 1. a full id
    if let Ok(d) = digest::parse(name) {
        return db
            .images
            .iter()
            .find(|i| i.id == d)
            .ok_or_else(|| StoreError::NotFound(name.to_string()));
    }
    // 2. a reference
    let as_ref = Reference::parse(name);
    if let Ok(r) = &as_ref {
        let full = r.to_string();
        let hit = match r.digest() {
            None => db.images.iter().find(|i| i.repo_tags.contains(&full)),
            Some(d) => {
                let repo_digest = r.with_digest(d.clone()).to_string();
                db.images.iter().find(|i| {
                    i.repo_digests.contains(&repo_digest)
                        || (i.manifest.digest == *d
                            && i.repo_tags.iter().chain(&i.repo_digests).any(|t| {
                                Reference::parse(t).map(|x| x.repository()).ok()
                                    == Some(r.repository())
                            }))
                })
            }
        };
        if let Some(i) = hit {
            return Ok(i);
        }
    }
    // 3. an id prefix
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        let mut hits = db.images.iter().filter(|i| {
            digest::hex(&i.id)
                .map(|h| h.starts_with(hex))
                .unwrap_or(false)
        });
        if let Some(first) = hits.next() {
            if hits.next().is_some() {
                return Err(StoreError::Ambiguous(name.to_string()));
            }
            return Ok(first);
        }
    }
    match as_ref {
        Err(e) if !name.bytes().all(|b| b.is_ascii_hexdigit()) => Err(e.into()),
        _ => Err(StoreError::NotFound(name.to_string())),
    }
}
