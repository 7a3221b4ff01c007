//! Keeping holm usable when the file system under `--root` is full (a container filled it, or the images did).
//!
//! Two things make that work:
//!
//! - **Exit files.** A monitor writes the container's exit code to `<runroot>/exits/<id>` (conmon's exit file)
//!   before it records the exit in the database, and removes it once the database has it. `--runroot` is a tmpfs
//!   (`/run/holm`) apart from `--root`, so the code survives a database that cannot be written; a later command
//!   ([`crate::Engine::refresh`]) folds the file into the database, or shows the exit from it when the database is
//!   still full.
//! - **A reserve.** `<root>/holm.reserve.N` are [`RESERVE_SLICES`] files, [`RESERVE_BYTES`] in all, made (really
//!   allocated: written, not sparse) when the root has room for them several times over. A database write that
//!   fails with "database or disk is full" first checkpoints the write-ahead log (so the next write restarts it
//!   at its beginning and reuses its space instead of growing it), and, for the writes that free or record
//!   something (remove, exit, stop, a started process), deletes one reserve file and tries again, as removing a container's snapshot
//!   does when the image store's metadata cannot be rewritten ([`with_reserve`]). The files are made again once
//!   the root has room. Creating a container never uses them. The reserve is finite: a container that keeps
//!   filling the disk takes what each release gives back, but removing that container frees its own space first.
//!
//! Reads never write: `ps`, `inspect` and `logs` work with a full disk (a `running` row whose monitor is gone is
//! shown as exited even when that cannot be recorded). When SQLite cannot make its WAL index again on the full
//! disk, [`crate::db::Db::open`] keeps it in memory instead.

use crate::{Error, Result};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Size of the reserve under the root: 1 MiB, in [`RESERVE_SLICES`] files released one at a time (SQLite's
/// write-ahead log needs a few 4 KiB pages per removed container, the image store's `images.json` a few KiB).
pub const RESERVE_BYTES: u64 = 1 << 20;

/// Number of files the reserve is split into (`holm.reserve.0` …): each full-disk failure releases one, so one
/// full-disk event does not use it all up.
pub const RESERVE_SLICES: u64 = 8;

/// The reserve is made only when the root has this many times [`RESERVE_BYTES`] free (so that it is not made
/// again from the space its release just gave back).
const RESERVE_HEADROOM: u64 = 8;

fn reserve_path(root: &Path, slice: u64) -> PathBuf {
    root.join(format!("holm.reserve.{slice}"))
}

/// Makes the missing reserve files under `root` if the root has room for them (see the module doc). Best
/// effort: a failure leaves no partial file and is not an error.
pub fn ensure_reserve(root: &Path) {
    let missing: Vec<u64> = (0..RESERVE_SLICES)
        .filter(|&i| !reserve_path(root, i).exists())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(dir) = std::fs::File::open(root) else {
        return;
    };
    match holm_sys::fs::available_bytes(dir.as_fd()) {
        Ok(free) if free >= RESERVE_BYTES * RESERVE_HEADROOM => {}
        _ => return,
    }
    let size = RESERVE_BYTES / RESERVE_SLICES;
    for i in missing {
        let path = reserve_path(root, i);
        let tmp = root.join(format!(".holm.reserve.{i}.{}", std::process::id()));
        let made = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            // Written, not set_len: a sparse file would reserve nothing.
            f.write_all(&vec![0u8; size as usize])?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
    }
}

/// Deletes one reserve file under `root`; true if there was one (space was freed).
pub fn release_reserve(root: &Path) -> bool {
    (0..RESERVE_SLICES)
        .rev()
        .any(|i| std::fs::remove_file(reserve_path(root, i)).is_ok())
}

/// True if `e` or an error it wraps is an I/O error `ENOSPC` (or SQLite's "database or disk is full").
pub fn is_enospc(e: &Error) -> bool {
    if e.is_disk_full() {
        return true;
    }
    chain_is_enospc(e)
}

/// True if `e` or one of its sources is an ENOSPC (or `StorageFull`) I/O error.
fn chain_is_enospc(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.raw_os_error() == Some(libc::ENOSPC)
                || io.kind() == std::io::ErrorKind::StorageFull
            {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// Runs `f`, a step that frees or records something (removing a container); while it fails for lack of space
/// (`ENOSPC`, a full database) and a reserve file under `root` is left, releases one and runs it again.
pub fn with_reserve<T>(root: &Path, f: impl FnMut() -> Result<T>) -> Result<T> {
    retry_releasing(root, f, is_enospc)
}

/// [`with_reserve`] for operations with other errors (the image store's: `rmi`, the image prunes), so that images
/// can be removed to free space on a full disk: a failure with ENOSPC anywhere in its source chain releases one
/// reserve file and tries again. `f` must leave nothing changed when it fails.
pub fn with_reserve_of<T, E: std::error::Error + 'static>(
    root: &Path,
    f: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    retry_releasing(root, f, |e: &E| chain_is_enospc(e))
}

/// Runs `f` again after releasing one reserve file each time it fails with an error `full` says is lack of space,
/// until it succeeds, fails otherwise, or no reserve is left.
fn retry_releasing<T, E>(
    root: &Path,
    mut f: impl FnMut() -> std::result::Result<T, E>,
    full: impl Fn(&E) -> bool,
) -> std::result::Result<T, E> {
    loop {
        match f() {
            Err(e) if full(&e) && release_reserve(root) => {}
            r => return r,
        }
    }
}

/// A container's exit as its monitor saw it, kept in `<runroot>/exits/<id>` until the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitFile {
    /// The exit code (128 + signal for a killed process).
    pub code: i32,
    /// When the process ended, RFC 3339.
    pub finished_at: String,
}

fn exit_path(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("exits").join(id)
}

/// Writes the exit file of `id` (`CODE FINISHED_AT\n`; crash-safe: temporary file and rename).
pub fn write_exit(runroot: &Path, id: &str, exit: &ExitFile) -> Result<()> {
    let path = exit_path(runroot, id);
    let dir = path.parent().expect("exits/<id> has a parent");
    std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, format!("{} {}\n", exit.code, exit.finished_at))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("write {}", path.display()))(e)
        })
}

/// The exit file of `id`, if there is a readable one.
pub fn read_exit(runroot: &Path, id: &str) -> Option<ExitFile> {
    let s = std::fs::read_to_string(exit_path(runroot, id)).ok()?;
    let (code, at) = s.trim().split_once(' ')?;
    Some(ExitFile {
        code: code.parse().ok()?,
        finished_at: at.to_string(),
    })
}

/// Removes the exit file of `id` (absent is fine).
pub fn remove_exit(runroot: &Path, id: &str) {
    let _ = std::fs::remove_file(exit_path(runroot, id));
}

/// True if `e` is SQLite's "database or disk is full" (`SQLITE_FULL`).
pub fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

impl Error {
    /// True if this is the database failing because the disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Db { source, .. } if is_full(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_file_round_trip() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_exit(d.path(), "abc"), None);
        let e = ExitFile {
            code: 137,
            finished_at: "2026-01-02T03:04:05.123456789Z".into(),
        };
        write_exit(d.path(), "abc", &e).unwrap();
        assert_eq!(read_exit(d.path(), "abc"), Some(e));
        remove_exit(d.path(), "abc");
        assert_eq!(read_exit(d.path(), "abc"), None);
    }
}
