//! Image metadata: image records (id, manifest, tags, layers) and snapshot records, in one JSON document,
//! `<root>/images.json`.
//!
//! Why JSON under `flock` and not SQLite: the image store's metadata is small (one record per image), read whole by
//! every command, and changed by a few short read-modify-write transactions; a JSON file keeps `rusqlite`'s bundled
//! C build out of the image crate. It is kept crash-safe: every change takes an exclusive `flock` on
//! `<root>/images.lock`, reads the current document, applies the change, writes a temporary file, fsyncs it and
//! renames it over `images.json` (then fsyncs the directory). Readers need no lock: they see the old or the new
//! document, never a torn one.

use crate::digest::Digest;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Reading, writing or locking the document failed.
    #[error("image metadata {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The document is not valid JSON of the expected shape.
    #[error("image metadata {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The manifest an image was imported with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRef {
    /// Digest of the manifest blob.
    pub digest: Digest,
    /// Size of the manifest blob in bytes.
    pub size: u64,
    /// Its media type (OCI or docker schema2 manifest).
    pub media_type: String,
}

/// One image in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the digest of its config blob.
    pub id: Digest,
    /// Its manifest.
    pub manifest: ManifestRef,
    /// Normalised `domain/path:tag` names.
    pub repo_tags: Vec<String>,
    /// Normalised `domain/path@digest` names (manifest digests the image is known under).
    pub repo_digests: Vec<String>,
    /// The config's `created` (RFC 3339), if any.
    pub created: Option<String>,
    /// `os/architecture[/variant]` from the config.
    pub platform: String,
    /// Sum of the layers' file bytes.
    pub size: u64,
    /// Chain ids of its layers, bottom first.
    pub layers: Vec<Digest>,
    /// When it was first imported (seconds since the epoch).
    pub loaded_at: u64,
}

/// A container's writable snapshot over an image's layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The snapshot id (the engine uses the container id).
    pub id: String,
    /// The image it was made from.
    pub image: Digest,
    /// Chain ids of the layers it stacks, bottom first (kept alive while the snapshot exists).
    pub layers: Vec<Digest>,
    /// When it was made (seconds since the epoch).
    pub created_at: u64,
}

/// The whole metadata document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Db {
    /// Format version (1).
    pub version: u32,
    /// Images, oldest import first.
    pub images: Vec<ImageRecord>,
    /// Snapshots, oldest first.
    pub snapshots: Vec<SnapshotRecord>,
}

/// The metadata document and its lock.
#[derive(Debug, Clone)]
pub struct MetaStore {
    path: PathBuf,
    lock: PathBuf,
}

impl MetaStore {
    /// The metadata of the store under `root`.
    pub fn new(root: &Path) -> MetaStore {
        MetaStore {
            path: root.join("images.json"),
            lock: root.join("images.lock"),
        }
    }

    /// The current document (empty if there is none yet). Needs no lock.
    pub fn read(&self) -> Result<Db, MetaError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Db {
                    version: 1,
                    ..Db::default()
                })
            }
            Err(source) => {
                return Err(MetaError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| MetaError::Corrupt {
            path: self.path.clone(),
            source,
        })
    }

    /// Removes temporary files of writers that were killed before their rename (a live writer holds the lock,
    /// which this takes first). Returns how many were removed.
    pub fn remove_stale_temps(&self) -> Result<usize, MetaError> {
        let io = |source| MetaError::Io {
            path: self.path.clone(),
            source,
        };
        let _lock = fsutil::lock_exclusive(&self.lock).map_err(io)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut n = 0;
        for e in std::fs::read_dir(dir).map_err(io)? {
            let e = e.map_err(io)?;
            if e.file_name()
                .to_string_lossy()
                .starts_with(".images.json.tmp-")
            {
                std::fs::remove_file(e.path()).map_err(io)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Runs `f` on the current document under the exclusive lock and, if it succeeds, replaces the document with
    /// the changed one crash-safely. `f`'s error is returned as is (and nothing is written).
    pub fn update<T, E: From<MetaError>>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = fsutil::lock_exclusive(&self.lock).map_err(|source| MetaError::Io {
            path: self.lock.clone(),
            source,
        })?;
        let mut db = self.read()?;
        let before = db.clone();
        let out = f(&mut db)?;
        if db != before {
            db.version = 1;
            let bytes = serde_json::to_vec_pretty(&db).expect("metadata serialises");
            fsutil::write_atomic(&self.path, &bytes).map_err(|source| MetaError::Io {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_is_persistent_and_errors_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::new(dir.path());
        assert!(m.read().unwrap().images.is_empty());
        m.update(|db| {
            db.snapshots.push(SnapshotRecord {
                id: "c1".into(),
                image: crate::digest::sha256(b"x"),
                layers: vec![],
                created_at: 1,
            });
            Ok::<_, MetaError>(())
        })
        .unwrap();
        assert_eq!(m.read().unwrap().snapshots.len(), 1);
        let r: Result<(), MetaError> = m.update(|db| {
            db.snapshots.clear();
            Err(MetaError::Io {
                path: "x".into(),
                source: io::Error::other("nope"),
            })
        });
        assert!(r.is_err());
        assert_eq!(m.read().unwrap().snapshots.len(), 1);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
