//! Facts about a file that cost time to compute, remembered across processes: the guest kernel's sha256 (a 16 MB
//! vmlinux: ~20 ms of hashing) and `qemu --version` (a start of qemu with its ~40 shared libraries: ~30 ms), both
//! needed by every VM start for the accelerator cache key ([`crate::accel::cached_probe`]).
//!
//! A fact is stored in a cache directory (holm's is a tmpfs, [`crate::accel::CACHE_DIR`]) in a file named after the
//! fact's kind and the file's *identity*: its canonical path, device, inode, size, and modification and change times
//! in nanoseconds (`stat(2)`). Replacing the file (a new inode), writing to it (mtime and ctime) or changing its
//! metadata (ctime, which no caller can set back) gives a new identity, so a stale fact is never read; a fact is
//! stored only when the file's identity was the same before and after computing it. A cache that cannot be read or
//! written costs only the computation.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The identity of the file at `path` (symlinks followed): `<canonical path>\0<dev>:<ino>:<size>:<mtime ns>:<ctime
/// ns>`. Errors: the file cannot be resolved or `stat`ed.
pub fn identity(path: &Path) -> std::io::Result<String> {
    let canonical = std::fs::canonicalize(path)?;
    let m = std::fs::metadata(&canonical)?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Ok(format!(
        "{}\0{}:{}:{}:{}:{}",
        canonical.display(),
        m.dev(),
        m.ino(),
        m.size(),
        ns(m.mtime(), m.mtime_nsec()),
        ns(m.ctime(), m.ctime_nsec())
    ))
}

/// The fact `kind` (a short name, e.g. `sha256`) about the file at `path`: read from `dir` when a fact was stored
/// for the file's current [`identity`], else `compute()`d and stored. Without `dir`, or when the file cannot be
/// `stat`ed, `compute()` runs every time. Errors: only `compute`'s. A stored fact is one line of text; a cache file
/// that is not one is ignored.
pub fn remembered<E>(
    dir: Option<&Path>,
    kind: &str,
    path: &Path,
    compute: impl FnOnce() -> Result<String, E>,
) -> Result<String, E> {
    let (Some(dir), Ok(before)) = (dir, identity(path)) else {
        return compute();
    };
    let file = fact_file(dir, kind, &before);
    if let Some(fact) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.strip_suffix('\n').map(str::to_string))
        .filter(|t| !t.is_empty() && !t.contains('\n'))
    {
        return Ok(fact);
    }
    let fact = compute()?;
    if !fact.contains('\n') && identity(path).is_ok_and(|after| after == before) {
        let _ = write_atomic(dir, &file, format!("{fact}\n").as_bytes());
    }
    Ok(fact)
}

/// Where the fact `kind` about a file of identity `id` is kept: `<dir>/memo-<kind>-<32 hex digits of sha256(id)>`.
fn fact_file(dir: &Path, kind: &str, id: &str) -> PathBuf {
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("memo-{kind}-{hex}"))
}

/// Writes `data` to `file` in `dir` (created if missing) through a temporary file renamed over it.
pub(crate) fn write_atomic(dir: &Path, file: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// The program `cmd` as `execvp(3)` would find it: `cmd` itself when it contains a `/`, else the first regular
/// executable file named `cmd` in a directory of `$PATH`. `None` when there is none.
pub fn find_program(cmd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if cmd.as_os_str().to_string_lossy().contains('/') {
        return executable(cmd).then(|| cmd.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn fact(dir: &Path, path: &Path, calls: &Cell<u32>, value: &str) -> String {
        remembered::<()>(Some(dir), "test", path, || {
            calls.set(calls.get() + 1);
            Ok(value.to_string())
        })
        .unwrap()
    }

    #[test]
    fn a_fact_is_computed_once_per_identity() {
        let t = tempfile::tempdir().unwrap();
        let cache = t.path().join("cache");
        let f = t.path().join("kernel");
        std::fs::write(&f, b"one").unwrap();
        let calls = Cell::new(0);
        assert_eq!(fact(&cache, &f, &calls, "v1"), "v1");
        // Remembered: the computation is not run again, even though it would now give another value.
        assert_eq!(fact(&cache, &f, &calls, "v2"), "v1");
        assert_eq!(calls.get(), 1);
        // Another kind is another fact.
        let other = remembered::<()>(Some(&cache), "other", &f, || Ok("o".into())).unwrap();
        assert_eq!(other, "o");
        // Rewritten (same size): new mtime/ctime, so computed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"two").unwrap();
        assert_eq!(fact(&cache, &f, &calls, "v3"), "v3");
        // Replaced by another file: a new inode.
        let g = t.path().join("new");
        std::fs::write(&g, b"two").unwrap();
        std::fs::rename(&g, &f).unwrap();
        assert_eq!(fact(&cache, &f, &calls, "v4"), "v4");
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn no_cache_dir_or_no_file_computes_every_time_and_errors_are_not_stored() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("k");
        std::fs::write(&f, b"x").unwrap();
        let calls = Cell::new(0);
        for _ in 0..2 {
            let v = remembered::<()>(None, "test", &f, || {
                calls.set(calls.get() + 1);
                Ok("v".into())
            });
            assert_eq!(v, Ok("v".to_string()));
        }
        let missing = t.path().join("missing");
        for _ in 0..2 {
            let v = remembered::<()>(Some(t.path()), "test", &missing, || {
                calls.set(calls.get() + 1);
                Ok("v".into())
            });
            assert_eq!(v, Ok("v".to_string()));
        }
        assert_eq!(calls.get(), 4);
        let e = remembered(Some(t.path()), "test", &f, || Err("failed"));
        assert_eq!(e, Err("failed"));
        assert_eq!(fact(t.path(), &f, &calls, "after"), "after");
        // A corrupt cache file is ignored and replaced.
        let file = fact_file(t.path(), "test", &identity(&f).unwrap());
        std::fs::write(&file, b"two\nlines\n").unwrap();
        assert_eq!(fact(t.path(), &f, &calls, "fresh"), "fresh");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "fresh\n");
    }

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        assert!(find_program(Path::new("sh")).is_some());
        assert_eq!(find_program(Path::new("holm-no-such-program")), None);
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("prog");
        std::fs::write(&f, b"").unwrap();
        assert_eq!(find_program(&f), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program(&f), Some(f.clone()));
    }
}
