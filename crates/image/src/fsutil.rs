//! Small file-system helpers for the store: `flock` locks, crash-safe file replacement (temp file in the same
//! directory, fsync, rename, fsync of the directory), unique temporary names.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A held `flock(2)` lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("open lock {}: {e}", path.display())))
}

/// Takes an exclusive `flock` on `path` (created if missing), waiting for other holders.
pub fn lock_exclusive(path: &Path) -> io::Result<Lock> {
    let f = lock_file(path)?;
    f.lock()
        .map_err(|e| io::Error::new(e.kind(), format!("flock {}: {e}", path.display())))?;
    Ok(Lock { _file: f })
}

/// Takes a shared `flock` on `path` (created if missing), waiting for an exclusive holder.
pub fn lock_shared(path: &Path) -> io::Result<Lock> {
    let f = lock_file(path)?;
    f.lock_shared()
        .map_err(|e| io::Error::new(e.kind(), format!("flock {}: {e}", path.display())))?;
    Ok(Lock { _file: f })
}

/// Tries to take an exclusive `flock` on the existing file `path` without waiting: `None` if someone holds it.
pub fn try_lock_exclusive(path: &Path) -> io::Result<Option<Lock>> {
    let f = OpenOptions::new().read(true).open(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: f })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A name unique within this process and across processes: `<prefix><pid>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `fsync` of a directory, so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` crash-safely: a temporary file in the same directory is written and fsynced, then
/// renamed over `path`, then the directory is fsynced. A reader sees the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(unique_name(&format!(".{name}.tmp-")));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

/// Creates `dir` and its parents (mode 0700 for the last one if new), returning it.
pub fn ensure_dir(dir: PathBuf) -> io::Result<PathBuf> {
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
    Ok(dir)
}
