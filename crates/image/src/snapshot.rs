//! Snapshots: a container's root filesystem as an overlayfs mount of the image's unpacked layers (read-only lower
//! dirs, shared by every image and container that has them) plus a private writable `upper/` and `work/`:
//! `<store>/snapshots/<id>/{upper,work,merged}`.
//!
//! A snapshot record names the image and the chain ids it stacks, so layers stay alive while any snapshot uses them
//! (reference counting is derived from the records: garbage collection keeps every layer an image or a snapshot
//! lists), and `rmi` refuses an image a snapshot uses unless forced.
//!
//! The overlay is mounted with each lower dir given as `/proc/self/fd/N` of an fd opened on it, which keeps the
//! mount options short (about 16 bytes per layer, so ~200 layers fit in a page) whatever the store's path.

use crate::fsutil;
use crate::meta::SnapshotRecord;
use crate::store::{ImageStore, StoreError};
use holm_sys::fs as sysfs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Errors of snapshot operations.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A snapshot with this id exists.
    #[error("snapshot `{0}` already exists")]
    Exists(String),
    /// No snapshot with this id.
    #[error("snapshot `{0}` not found")]
    NotFound(String),
    /// Ids are `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid snapshot id `{0}`")]
    InvalidId(String),
    /// The overlay mount options do not fit in a page.
    #[error("snapshot `{0}`: too many layers for one overlay mount")]
    TooManyLayers(String),
    /// A system call failed.
    #[error("snapshot `{id}`: {source}")]
    Sys {
        /// The snapshot.
        id: String,
        /// The failed call.
        #[source]
        source: holm_sys::Error,
    },
    /// A file-system error, with what was being done.
    #[error("snapshot `{id}`: {what}: {source}")]
    Io {
        /// The snapshot.
        id: String,
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Paths of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot id.
    pub id: String,
    /// Lower dirs, top layer first (overlayfs order).
    pub lower: Vec<PathBuf>,
    /// The writable layer.
    pub upper: PathBuf,
    /// overlayfs's work dir.
    pub work: PathBuf,
    /// The default mount point.
    pub merged: PathBuf,
}

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl ImageStore {
    fn snapshot_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        if !valid_id(id) {
            return Err(SnapshotError::InvalidId(id.to_string()));
        }
        Ok(self.root.join("snapshots").join(id))
    }

    /// Creates the snapshot `id` over the layers of `image` (a name or id) and records it. Not mounted yet.
    pub fn prepare_snapshot(&self, id: &str, image: &str) -> Result<Snapshot, StoreError> {
        let dir = self.snapshot_dir(id)?;
        let _gc = self.gc_shared()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.meta.update(|db| {
            if db.snapshots.iter().any(|s| s.id == id) {
                return Err(StoreError::from(SnapshotError::Exists(id.to_string())));
            }
            let img = crate::store::find(db, image)?.clone();
            db.snapshots.push(SnapshotRecord {
                id: id.to_string(),
                image: img.id,
                layers: img.layers,
                created_at: now,
            });
            Ok(())
        })?;
        let io = |what: &str| {
            let what = what.to_string();
            let id = id.to_string();
            move |source| SnapshotError::Io { id, what, source }
        };
        for sub in ["upper", "work", "merged"] {
            fsutil::ensure_dir(dir.join(sub)).map_err(io("create snapshot dirs"))?;
        }
        self.snapshot(id)
    }

    /// The paths of snapshot `id`.
    pub fn snapshot(&self, id: &str) -> Result<Snapshot, StoreError> {
        let dir = self.snapshot_dir(id)?;
        let db = self.meta.read()?;
        let rec = db
            .snapshots
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| SnapshotError::NotFound(id.to_string()))?;
        let mut lower = rec
            .layers
            .iter()
            .rev()
            .map(|c| self.layers.diff_dir(c))
            .collect::<Result<Vec<_>, _>>()?;
        if lower.is_empty() {
            let empty = dir.join("empty");
            fsutil::ensure_dir(empty.clone()).map_err(|source| SnapshotError::Io {
                id: id.into(),
                what: "create empty lower dir".into(),
                source,
            })?;
            lower.push(empty);
        }
        Ok(Snapshot {
            id: id.to_string(),
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        })
    }

    /// All snapshot records.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        Ok(self.meta.read()?.snapshots)
    }

    /// Mounts snapshot `id` (overlayfs) on `target`, or on its own `merged/` if `None`; returns the mount point.
    pub fn mount_snapshot(&self, id: &str, target: Option<&Path>) -> Result<PathBuf, StoreError> {
        let s = self.snapshot(id)?;
        let target = target.map_or(s.merged.clone(), Path::to_path_buf);
        let sys = |source| SnapshotError::Sys {
            id: id.to_string(),
            source,
        };
        let open = |p: &Path| -> Result<OwnedFd, SnapshotError> {
            let dir = std::fs::File::open(p).map_err(|source| SnapshotError::Io {
                id: id.to_string(),
                what: format!("open {}", p.display()),
                source,
            })?;
            sysfs::openat2(
                dir.as_fd(),
                Path::new("."),
                libc::O_PATH | libc::O_DIRECTORY,
                0,
                0,
            )
            .map_err(sys)
        };
        let lower_fds = s
            .lower
            .iter()
            .map(|p| open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let upper = open(&s.upper)?;
        let work = open(&s.work)?;
        let tgt = open(&target)?;
        let lowers: Vec<String> = lower_fds
            .iter()
            .map(|f| sysfs::fd_path(f.as_fd()).display().to_string())
            .collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            sysfs::fd_path(upper.as_fd()).display(),
            sysfs::fd_path(work.as_fd()).display()
        );
        if data.len() >= 4096 {
            return Err(SnapshotError::TooManyLayers(id.to_string()).into());
        }
        holm_sys::mount::mount(
            Some(Path::new("overlay")),
            &sysfs::fd_path(tgt.as_fd()),
            Some("overlay"),
            0,
            Some(&data),
            &format!("overlay for snapshot {id} on {}", target.display()),
        )
        .map_err(sys)?;
        Ok(target)
    }

    /// Unmounts snapshot `id` from `target` (or its `merged/`); not mounted is fine.
    pub fn unmount_snapshot(&self, id: &str, target: Option<&Path>) -> Result<(), StoreError> {
        let s = self.snapshot(id)?;
        let target = target.map_or(s.merged.clone(), Path::to_path_buf);
        match holm_sys::mount::umount2(&target, libc::MNT_DETACH) {
            Err(e) if e.errno() != libc::EINVAL && e.errno() != libc::ENOENT => {
                Err(SnapshotError::Sys {
                    id: id.to_string(),
                    source: e,
                }
                .into())
            }
            _ => Ok(()),
        }
    }

    /// Unmounts and deletes snapshot `id` (its writable layer is lost), then collects layers nobody uses.
    pub fn remove_snapshot(&self, id: &str) -> Result<(), StoreError> {
        let dir = self.snapshot_dir(id)?;
        if dir.exists() {
            self.unmount_snapshot(id, None).or_else(|e| match e {
                StoreError::Snapshot(SnapshotError::NotFound(_)) => Ok(()),
                e => Err(e),
            })?;
            std::fs::remove_dir_all(&dir).map_err(|source| SnapshotError::Io {
                id: id.into(),
                what: format!("remove {}", dir.display()),
                source,
            })?;
        }
        let found = self.meta.update(|db| {
            let before = db.snapshots.len();
            db.snapshots.retain(|s| s.id != id);
            Ok::<_, StoreError>(db.snapshots.len() != before)
        })?;
        if !found {
            return Err(SnapshotError::NotFound(id.to_string()).into());
        }
        self.gc()?;
        Ok(())
    }
}
