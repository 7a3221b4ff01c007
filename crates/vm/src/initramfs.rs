//! The guest's initramfs: a newc cpio archive (the kernel's `Documentation/driver-api/early-userspace/
//! buffer-format.rst`, uncompressed — every kernel with `CONFIG_BLK_DEV_INITRD` reads it) holding `/init` = the
//! static `holm-agent`, `/dev/console` (so the kernel can give `/init` its stdio before devtmpfs is mounted) and the
//! empty directories the agent mounts on.
//!
//! Written once per agent binary: the file name carries the SHA-256 of the agent, and it is written to a temporary
//! file in the same directory, fsynced and renamed, so concurrent callers and crashes never leave a partial archive.
//!
//! The cache does not grow for ever (one archive per agent build): each use of an archive sets its mtime to now
//! (its "last used" time), and each [`ensure`] removes the other `initramfs-*.cpio` not used for [`STALE_AFTER`]
//! (and leftover `.initramfs-*.tmp` files of writers that died). Only files of those two name patterns are ever
//! removed. A VM needs its archive only until qemu has loaded it (it is bound into the VMM's jail and read into
//! guest memory at start), and a caller holds a shared lock on `<cache>/.initramfs.lock` from [`ensure`] until
//! then (the [`Initramfs`] value); the pruning runs only under the exclusive lock, taken without waiting (skipped
//! while any VM is starting), so it never removes an archive between its check and its use. A VM still running on
//! an older agent keeps running, and its next boot writes its archive again.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the initramfs could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the agent or writing the archive failed.
    #[error("initramfs: {what} `{path}`: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The agent is not a static executable (a guest has no libraries and no dynamic loader).
    #[error(
        "initramfs: agent `{0}` is not a static executable ({1}); build it with scripts/build-agent.sh and point \
         HOLM_VM_AGENT at it (cargo build makes a dynamic holm-agent)"
    )]
    NotStatic(PathBuf, &'static str),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Version of the archive's layout (part of the cache key).
const FORMAT: &[u8] = b"holm-initramfs-2\0";

/// Directories created empty in the archive (the agent's mount points).
const DIRS: &[&str] = &["dev", "proc", "sys", "run", "tmp", "mnt"];

/// One newc entry: header, name (NUL-terminated, padded to 4), data (padded to 4).
fn entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        if mode & 0o170000 == 0o040000 { 2 } else { 1 },
        0, // mtime: fixed, so the archive is reproducible
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The archive's bytes for an agent binary.
pub fn archive(agent: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(agent.len() + 4096);
    let mut ino = 1;
    for d in DIRS {
        entry(&mut out, ino, d, 0o040755, (0, 0), &[]);
        ino += 1;
    }
    // /dev/console 5:1 and /dev/null 1:3 (Documentation/admin-guide/devices.txt). When the console is not ready
    // as /init starts (hvc0 is probed late), the kernel gives /init no fds 0-2, and Rust's runtime then opens
    // /dev/null for them — and aborts if it cannot.
    entry(&mut out, ino, "dev/console", 0o020600, (5, 1), &[]);
    entry(&mut out, ino + 1, "dev/null", 0o020666, (1, 3), &[]);
    entry(&mut out, ino + 2, "init", 0o100755, (0, 0), agent);
    entry(&mut out, 0, "TRAILER!!!", 0, (0, 0), &[]);
    out
}

/// An archive of the cache, which [`prune`] does not remove while this value lives (it holds a shared lock on
/// [`LOCK_FILE`]; none when the cache is read-only, where nothing is pruned either). Keep it until the VM's qemu
/// has loaded the archive.
#[derive(Debug)]
pub struct Initramfs {
    /// The archive.
    pub path: PathBuf,
    _lock: Option<File>,
}

/// The cache's lock file: shared by [`ensure`]'s callers while they use an archive, exclusive while pruning.
pub const LOCK_FILE: &str = ".initramfs.lock";

/// Returns the initramfs for `agent` under `cache_dir` (created if missing), writing it first if it is not there
/// yet: `cache_dir/initramfs-<first 16 hex digits of the SHA-256 of the layout version and the agent>.cpio`. First
/// prunes the cache ([`prune`]) when no other caller holds an archive.
///
/// Errors: [`Error::Io`] naming the agent, the directory or the archive.
pub fn ensure(agent: &Path, cache_dir: &Path) -> Result<Initramfs, Error> {
    let bin = std::fs::read(agent).map_err(io("read agent", agent))?;
    if let Some(why) = not_static(&bin) {
        return Err(Error::NotStatic(agent.to_path_buf(), why));
    }
    // The layout's version is hashed too, so a changed archive never reuses an old cache entry.
    let hash = Sha256::new()
        .chain_update(FORMAT)
        .chain_update(&bin)
        .finalize();
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("initramfs-{hex}.cpio"));
    // A cache that cannot be created (read-only) may still hold the archive.
    let _ = std::fs::create_dir_all(cache_dir);
    let lock = lock_cache(cache_dir, &path);
    if path.is_file() {
        // Its "last used" time, for pruning (best effort: a read-only cache still works).
        if let Ok(f) = File::open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        return Ok(Initramfs { path, _lock: lock });
    }
    std::fs::create_dir_all(cache_dir).map_err(io("create directory", cache_dir))?;
    let tmp = cache_dir.join(format!(".initramfs-{hex}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&archive(&bin))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", &path)(e));
    }
    Ok(Initramfs { path, _lock: lock })
}

/// Opens `cache_dir`'s [`LOCK_FILE`]; prunes the cache (keeping `keep`) if the exclusive lock is free at once;
/// returns the file holding the shared lock. `None` (no lock, no pruning) when the lock file cannot be opened.
fn lock_cache(cache_dir: &Path, keep: &Path) -> Option<File> {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(cache_dir.join(LOCK_FILE))
        .ok()?;
    if f.try_lock().is_ok() {
        prune(cache_dir, keep, std::time::SystemTime::now());
        // Another caller may prune between this unlock and the shared lock: `ensure` checks its archive after.
        let _ = f.unlock();
    }
    f.lock_shared().ok()?;
    Some(f)
}

/// How long an archive may go unused before [`ensure`] removes it: long enough that alternating between two
/// agents (two installed versions, a rebuilt one and an older one) does not rewrite an archive at each boot.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3 * 3600);

/// Removes from `cache_dir` the archives (`initramfs-*.cpio`) other than `keep` whose mtime is older than `now` -
/// [`STALE_AFTER`], and every temporary file (`.initramfs-*.tmp`); returns the names removed. Nothing else is
/// touched. Call it only with the exclusive lock of [`LOCK_FILE`] (writers hold the shared one, so a temporary
/// file then is a dead writer's). Best effort: a file that cannot be read or removed stays.
pub fn prune(cache_dir: &Path, keep: &Path, now: std::time::SystemTime) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(cache_dir) else {
        return removed;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let archive = name.starts_with("initramfs-") && name.ends_with(".cpio");
        let tmp = name.starts_with(".initramfs-") && name.ends_with(".tmp");
        if !(archive || tmp) || e.path() == keep {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let stale = meta.is_file()
            && (tmp
                || meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age > STALE_AFTER));
        if stale && std::fs::remove_file(e.path()).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// Why `elf` cannot run as a guest's `/init`, if it cannot: not a 64-bit little-endian ELF, or a program header
/// `PT_INTERP` (it needs a dynamic loader; elf(5)). A glibc static-pie has none.
fn not_static(elf: &[u8]) -> Option<&'static str> {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Some("not a 64-bit little-endian ELF file");
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        let Some(h) = elf.get(at..at.saturating_add(4)) else {
            return Some("truncated program headers");
        };
        if u32::from_le_bytes([h[0], h[1], h[2], h[3]]) == PT_INTERP {
            return Some("it is dynamically linked");
        }
    }
    None
}

/// Where holm finds the agent: `$HOLM_VM_AGENT` if set, else `holm-agent` next to the current executable (where
/// an installation puts the static agent). In a cargo build tree the file next to the executable is cargo's own,
/// dynamic holm-agent, which [`ensure`] refuses: set `HOLM_VM_AGENT="$(scripts/build-agent.sh)"` (scripts/test.sh
/// does).
pub fn agent_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HOLM_VM_AGENT") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("holm-agent")))
        .unwrap_or_else(|| PathBuf::from("holm-agent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_lists_with_cpio() {
        // Debian's cpio reads what we write: names, modes and the agent's bytes.
        let dir = tempfile::tempdir().unwrap();
        let agent = dir.path().join("agent");
        let elf = fake_elf(false);
        std::fs::write(&agent, &elf).unwrap();
        let path = ensure(&agent, &dir.path().join("cache")).unwrap().path;
        assert_eq!(
            ensure(&agent, &dir.path().join("cache")).unwrap().path,
            path
        );
        let out = std::process::Command::new("cpio")
            .args(["-itv", "--quiet", "-F"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), DIRS.len() + 3, "{list}");
        assert!(
            lines.iter().any(|l| l.starts_with("crw-rw-rw-")
                && l.contains("1,")
                && l.ends_with(" dev/null")),
            "{list}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("crw-------")
                && l.contains("5,")
                && l.ends_with(" dev/console")),
            "{list}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" init")),
            "{list}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("drwxr-xr-x") && l.ends_with(" proc")),
            "{list}"
        );
        let x = dir.path().join("x");
        std::fs::create_dir(&x).unwrap();
        let st = std::process::Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&path)
            .current_dir(&x)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(std::fs::read(x.join("init")).unwrap(), elf);
        // No temporary file is left next to the archive (and its lock file).
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [LOCK_FILE.into(), path.file_name().unwrap().to_owned()]
        );
    }

    /// A minimal ELF64 header with one program header: PT_INTERP (3) or PT_LOAD (1).
    fn fake_elf(interp: bool) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..6].copy_from_slice(b"\x7fELF\x02\x01");
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        e[64] = if interp { 3 } else { 1 };
        e
    }

    #[test]
    fn a_dynamic_or_non_elf_agent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let agent = dir.path().join("holm-agent");
        for (bytes, why) in [
            (fake_elf(true), "dynamically linked"),
            (b"#!/bin/sh\n".to_vec(), "not a 64-bit"),
        ] {
            std::fs::write(&agent, bytes).unwrap();
            let e = ensure(&agent, dir.path()).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("scripts/build-agent.sh"),
                "{e}"
            );
        }
        // Truncated program headers are an answer, not a panic.
        let mut short = fake_elf(false);
        short.truncate(66);
        assert_eq!(not_static(&short), Some("truncated program headers"));
        // Debian's static busybox is accepted.
        assert_eq!(not_static(&std::fs::read("/bin/busybox").unwrap()), None);
    }

    #[test]
    fn stale_archives_are_pruned_and_used_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let day = std::time::Duration::from_secs(24 * 3600);
        let now = std::time::SystemTime::now();
        let age = |name: &str, ago: std::time::Duration| {
            let p = d.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(now - ago)
                .unwrap();
        };
        age("initramfs-old.cpio", STALE_AFTER + day / 24);
        // Under the exclusive lock a temporary file is a dead writer's, however recent.
        age(".initramfs-old.1.tmp", std::time::Duration::ZERO);
        age("initramfs-recent.cpio", STALE_AFTER - day / 24);
        age("initramfs-keep.cpio", day * 3);
        age("vmlinuz", day * 9);
        age("initramfs-other.img", day * 9);
        age("initramfs.cpio.bak", day * 9);
        let removed = prune(d.path(), &d.path().join("initramfs-keep.cpio"), now);
        assert_eq!(removed, [".initramfs-old.1.tmp", "initramfs-old.cpio"]);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "initramfs-keep.cpio",
                "initramfs-other.img",
                "initramfs-recent.cpio",
                "initramfs.cpio.bak",
                "vmlinuz"
            ]
        );
    }

    /// Sets `p`'s mtime to `ago` before now.
    fn set_age(p: &Path, ago: std::time::Duration) {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - ago)
            .unwrap();
    }

    #[test]
    fn ensure_prunes_stale_archives_but_none_in_use() {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        let (a, b) = (d.path().join("agent-a"), d.path().join("agent-b"));
        std::fs::write(&a, fake_elf(false)).unwrap();
        let mut elf_b = fake_elf(false);
        elf_b.push(1);
        std::fs::write(&b, elf_b).unwrap();
        let old = STALE_AFTER * 2;
        // A is in use (a VM starting with it) while B's ensure runs: A stays, however old.
        let in_use = ensure(&a, &cache).unwrap();
        set_age(&in_use.path, old);
        let path_b = ensure(&b, &cache).unwrap().path;
        assert!(in_use.path.is_file(), "an archive in use was pruned");
        // Used no more: the next ensure removes it (not B, just written, nor files of other names).
        let a_path = in_use.path.clone();
        drop(in_use);
        let other = cache.join("initramfs-keep.txt");
        std::fs::write(&other, b"x").unwrap();
        set_age(&other, old);
        set_age(&path_b, old);
        assert_eq!(ensure(&b, &cache).unwrap().path, path_b);
        assert!(!a_path.exists(), "a stale archive was kept");
        assert!(path_b.is_file() && other.is_file());
        // A is written again when a VM needs it.
        let again = ensure(&a, &cache).unwrap();
        assert_eq!(again.path, a_path);
        assert!(a_path.is_file());
    }

    #[test]
    fn a_cache_hit_marks_the_archive_used() {
        let d = tempfile::tempdir().unwrap();
        let agent = d.path().join("agent");
        std::fs::write(&agent, fake_elf(false)).unwrap();
        let cache = d.path().join("cache");
        let p = ensure(&agent, &cache).unwrap().path;
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 24 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(ensure(&agent, &cache).unwrap().path, p);
        let m = std::fs::metadata(&p).unwrap().modified().unwrap();
        assert!(
            m > old + std::time::Duration::from_secs(3600),
            "mtime not refreshed"
        );
    }

    #[test]
    fn missing_agent_names_the_path() {
        let e = ensure(Path::new("/nonexistent/holm-agent"), Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/holm-agent"), "{e}");
    }
}
