//! Snapshot boot: a VM starts by restoring a saved, already booted guest instead of booting its kernel.
//!
//! The first VM of a *shape* (everything [`key`] covers) boots as always; when its agent reports `Ready` (before
//! the container's `Create`, so the guest holds no container data and has mounted no share), the shim saves the
//! running guest with qemu's migration (QMP `getfd` + `migrate fd:`) into a *template* file and lets the guest go
//! on (`cont`). Later VMs of the same shape start qemu with `-incoming fd:N` on that file (opened by the shim,
//! inherited into the jail): each loads the guest's memory into its own private RAM (no page is shared between
//! VMs) and runs from where the saved guest stood, waiting for `Create`. The host's `Create` then carries fresh
//! random bytes and the host's clock ([`holm_vm_proto::CreateRequest::entropy`]), and the NICs' MACs are set
//! again ([`holm_vm_proto::NetworkConfig::guest_mac`]).
//!
//! Templates: `<dir>/<32 hex digits of sha256(key)>.state` ([`DEFAULT_DIR`], or [`DIR_ENV`]), mode 0600 in a
//! 0700 directory, written to a temporary file and renamed in; one VM saves at a time per key (a non-blocking
//! `flock` on `<hash>.lock`: a VM that finds it taken just boots). The file starts with a [`HEADER_LEN`]-byte
//! JSON header (the key itself, against hash collisions, and the saved NICs' MACs), then qemu's stream. A template
//! that cannot be used (bad header, qemu refuses the stream, the restored guest does not answer) is removed and
//! the VM boots instead, saving a new one. At most [`MAX_TEMPLATES`] are kept (oldest removed).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where templates are kept: beside the accelerator cache, on a tmpfs (forgotten at reboot).
pub const DEFAULT_DIR: &str = "/run/holm/vm/snapshots";

/// Environment variable naming another template directory (tests use a private one).
pub const DIR_ENV: &str = "HOLM_VM_SNAPSHOT_DIR";

/// Environment variable that turns snapshot boot off (`off`, `false`, `0`) or on (`on`, `true`, `1`, the default)
/// for every VM the runtime starts.
pub const ENV: &str = "HOLM_VM_SNAPSHOT";

/// The annotation that turns snapshot boot off (`"false"`) or on (`"true"`) for one container.
pub const ANNOTATION: &str = "org.holm.vm.snapshot-boot";

/// Templates kept in the directory; saving one more removes the oldest.
pub const MAX_TEMPLATES: usize = 8;

/// Size of a template's header, bytes (JSON padded with spaces, ending in a newline).
pub const HEADER_LEN: usize = 4096;

/// How long saving may take before it is abandoned (the VM goes on either way).
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a restored guest may take to answer the first request before the VM boots instead.
pub const RESTORE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bumped when what a template holds changes meaning (the header, or what the agent does before `Ready`).
const FORMAT: u32 = 1;

/// Errors of the snapshot settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`ANNOTATION`] is not a boolean.
    #[error("annotations.org.holm.vm.snapshot-boot: expected \"true\" or \"false\", got {0:?}")]
    BadAnnotation(String),
    /// [`ENV`] is not a boolean.
    #[error("HOLM_VM_SNAPSHOT: expected on, off, true, false, 1 or 0, got {0:?}")]
    BadEnv(String),
}

/// Whether a container's VM may start from a snapshot: its [`ANNOTATION`] if set, else `env` (the value of
/// [`ENV`], if set), else yes. Errors: a value that is not a boolean.
pub fn enabled<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
    env: Option<&str>,
) -> Result<bool, Error> {
    if let Some((_, v)) = annotations
        .into_iter()
        .find(|(k, _)| k.as_str() == ANNOTATION)
    {
        return match v.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Error::BadAnnotation(v.clone())),
        };
    }
    match env {
        None => Ok(true),
        Some("on" | "true" | "1") => Ok(true),
        Some("off" | "false" | "0") => Ok(false),
        Some(v) => Err(Error::BadEnv(v.to_string())),
    }
}

/// The template directory: [`DIR_ENV`] if set and not empty, else [`DEFAULT_DIR`].
pub fn dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// Everything a restored VM must share with the saved one, as text: the qemu command line's shape
/// ([`crate::qemu::QemuBuilder::shape`]: machine, accelerator and TCG cache, memory, vCPUs, kernel command line,
/// devices in order) and the identities ([`crate::memo::identity`]) of the guest kernel, the initramfs (which holds
/// the agent) and the qemu binary. The initramfs's times are left out: its name is a hash of its content
/// ([`crate::initramfs::ensure`], written once by rename) and each use sets its mtime. Errors: a file that cannot
/// be `stat`ed.
pub fn key(shape: &str, kernel: &Path, initrd: &Path, qemu: &Path) -> std::io::Result<String> {
    let id = |p: &Path| {
        crate::memo::identity(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    Ok(serde_json::json!({
        "format": FORMAT,
        "shape": shape,
        "kernel": id(kernel)?,
        "initrd": id(initrd)?.rsplitn(3, ':').nth(2).unwrap_or_default(),
        "qemu": id(qemu)?,
    })
    .to_string())
}

/// The template file for `key` in `dir`.
pub fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{}.state", hash(key)))
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    key: String,
    /// The saved VM's NICs' MACs, in device order.
    macs: Vec<String>,
}

/// An opened template, positioned at qemu's stream.
#[derive(Debug)]
pub struct Template {
    /// Its path.
    pub path: PathBuf,
    /// The file, read-only, its offset after the header: qemu reads the stream from there (`-incoming fd:N`).
    pub file: File,
    /// The saved VM's NICs' MACs, in device order: a restored guest's NICs still have them.
    pub macs: Vec<String>,
    ino: u64,
}

/// Opens the template for `key` in `dir`: `Ok(None)` when there is none; `Err` (naming the problem) when there is
/// one that cannot be used (the caller removes it with [`discard`] and boots).
pub fn open(dir: &Path, key: &str) -> Result<Option<Template>, String> {
    let path = path(dir, key);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("open {}: {e}", path.display())),
    };
    let bad = |m: String| format!("snapshot {}: {m}", path.display());
    let mut head = vec![0u8; HEADER_LEN];
    file.read_exact(&mut head)
        .map_err(|e| bad(format!("read the header: {e}")))?;
    let h: Header = serde_json::from_slice(head.trim_ascii_end())
        .map_err(|e| bad(format!("bad header: {e}")))?;
    if h.key != key {
        return Err(bad("made for another VM shape".into()));
    }
    let ino = file.metadata().map_err(|e| bad(e.to_string()))?.ino();
    Ok(Some(Template {
        path,
        file,
        macs: h.macs,
        ino,
    }))
}

/// Removes `t`'s file if it is still the same file (not already replaced by a newer template).
pub fn discard(t: &Template) {
    if std::fs::metadata(&t.path).is_ok_and(|m| m.ino() == t.ino) {
        let _ = std::fs::remove_file(&t.path);
    }
}

/// Removes a template that [`open`] refused, if nobody replaced it since.
pub fn discard_path(dir: &Path, key: &str) {
    let p = path(dir, key);
    let Ok(mut f) = File::open(&p) else { return };
    let mut head = vec![0u8; HEADER_LEN];
    let ok = f.read_exact(&mut head).is_ok()
        && serde_json::from_slice::<Header>(head.trim_ascii_end()).is_ok_and(|h| h.key == key);
    if !ok {
        let _ = std::fs::remove_file(&p);
    }
}

/// What [`save`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    /// The template was written.
    Written(PathBuf),
    /// Another VM of the same shape is saving one now: nothing was done.
    Busy,
}

/// Saves the running guest behind `qmp` as the template for `key` in `dir` (`macs`: its NICs' MACs in device
/// order), then lets the guest continue. Errors: a message naming the step; the temporary file is removed and the
/// guest is resumed in every case.
pub fn save(
    dir: &Path,
    key: &str,
    macs: &[String],
    qmp: &mut crate::qmp::Qmp,
) -> Result<Saved, String> {
    create_dir(dir)?;
    let hash = hash(key);
    let lock_path = dir.join(format!("{hash}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("open {}: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Saved::Busy),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("lock {}: {e}", lock_path.display()))
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{hash}."))
        .tempfile_in(dir)
        .map_err(|e| format!("create a temporary file in {}: {e}", dir.display()))?;
    let header = serde_json::to_vec(&Header {
        key: key.to_string(),
        macs: macs.to_vec(),
    })
    .map_err(|e| e.to_string())?;
    if header.len() >= HEADER_LEN {
        return Err(format!(
            "snapshot header: {} bytes, at most {} fit",
            header.len(),
            HEADER_LEN - 1
        ));
    }
    let mut block = header;
    block.resize(HEADER_LEN - 1, b' ');
    block.push(b'\n');
    tmp.as_file_mut()
        .write_all(&block)
        .map_err(|e| format!("write {}: {e}", tmp.path().display()))?;
    let migrated = migrate(qmp, tmp.as_file());
    // The guest goes on whatever happened (after a migration qemu leaves it stopped, "postmigrate").
    let resumed = qmp.execute("cont", None);
    migrated?;
    resumed?;
    let end = tmp
        .as_file_mut()
        .seek(SeekFrom::End(0))
        .map_err(|e| e.to_string())?;
    if end <= HEADER_LEN as u64 {
        return Err("qemu wrote no migration stream".into());
    }
    let final_path = path(dir, key);
    tmp.persist(&final_path)
        .map_err(|e| format!("rename to {}: {e}", final_path.display()))?;
    prune(dir, &final_path);
    Ok(Saved::Written(final_path))
}

fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))
}

/// `getfd` + `migrate fd:` of the running guest into `out`, polled until qemu reports the end.
fn migrate(qmp: &mut crate::qmp::Qmp, out: &File) -> Result<(), String> {
    qmp.execute_with_fd(
        "getfd",
        Some(serde_json::json!({ "fdname": "holm-snapshot" })),
        Some(out.as_fd()),
    )?;
    qmp.execute(
        "migrate",
        Some(serde_json::json!({ "uri": "fd:holm-snapshot" })),
    )?;
    let deadline = Instant::now() + SAVE_TIMEOUT;
    loop {
        let r = qmp.execute("query-migrate", None)?;
        match r.get("status").and_then(|s| s.as_str()) {
            Some("completed") => return Ok(()),
            Some(s @ ("failed" | "cancelled")) => {
                let why = r.get("error-desc").and_then(|d| d.as_str()).unwrap_or("");
                return Err(format!("migration {s}: {why}"));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let _ = qmp.execute("migrate_cancel", None);
            return Err(format!("migration took more than {SAVE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes the oldest templates beyond [`MAX_TEMPLATES`] (never `keep`).
fn prune(dir: &Path, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut states: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".state"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if states.len() <= MAX_TEMPLATES {
        return;
    }
    states.sort();
    let extra = states.len() - MAX_TEMPLATES;
    for (_, p) in states.into_iter().filter(|(_, p)| p != keep).take(extra) {
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(p.with_extension("lock"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings() {
        let ann = |v: &str| HashMap::from([(ANNOTATION.to_string(), v.to_string())]);
        let none = HashMap::new();
        assert!(enabled(&none, None).unwrap());
        assert!(!enabled(&none, Some("off")).unwrap());
        assert!(enabled(&none, Some("1")).unwrap());
        assert!(!enabled(&ann("false"), Some("on")).unwrap());
        assert!(enabled(&ann("true"), Some("off")).unwrap());
        let e = enabled(&ann("no"), None).unwrap_err().to_string();
        assert_eq!(
            e,
            "annotations.org.holm.vm.snapshot-boot: expected \"true\" or \"false\", got \"no\""
        );
        let e = enabled(&none, Some("yes")).unwrap_err().to_string();
        assert!(e.starts_with("HOLM_VM_SNAPSHOT: expected"), "{e}");
    }

    #[test]
    fn templates_open_check_their_key_and_prune() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let k1 = key("qemu -m 128M", &f, &f, &f).unwrap();
        let k2 = key("qemu -m 256M", &f, &f, &f).unwrap();
        assert_ne!(path(d.path(), &k1), path(d.path(), &k2));
        assert!(open(d.path(), &k1).unwrap().is_none());
        // A file named for k1 whose header is another key's, or garbage, is refused and then discarded.
        let write = |k: &str, body: &[u8]| {
            let mut h = serde_json::to_vec(&Header {
                key: k.into(),
                macs: vec!["02:00:00:00:00:01".into()],
            })
            .unwrap();
            h.resize(HEADER_LEN - 1, b' ');
            h.push(b'\n');
            h.extend_from_slice(body);
            std::fs::write(path(d.path(), &k1), h).unwrap();
        };
        write(&k2, b"QEVM");
        let e = open(d.path(), &k1).unwrap_err();
        assert!(e.contains("made for another VM shape"), "{e}");
        discard_path(d.path(), &k1);
        assert!(!path(d.path(), &k1).exists());
        std::fs::write(path(d.path(), &k1), b"garbage").unwrap();
        assert!(open(d.path(), &k1).unwrap_err().contains("read the header"));
        write(&k1, b"QEVM");
        let mut t = open(d.path(), &k1).unwrap().unwrap();
        assert_eq!(t.macs, ["02:00:00:00:00:01"]);
        let mut rest = String::new();
        t.file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "QEVM", "positioned at the stream");
        discard_path(d.path(), &k1);
        assert!(path(d.path(), &k1).exists(), "a good template stays");
        discard(&t);
        assert!(!path(d.path(), &k1).exists());
        // The file identity is part of the key: a rewritten kernel is another template.
        std::fs::write(&f, "yy").unwrap();
        assert_ne!(key("qemu -m 128M", &f, &f, &f).unwrap(), k1);
        // Pruning keeps MAX_TEMPLATES.
        for i in 0..MAX_TEMPLATES + 2 {
            std::fs::write(d.path().join(format!("{i:02}.state")), "s").unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        let keep = d.path().join("00.state");
        prune(d.path(), &keep);
        let left = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".state"))
            .count();
        assert_eq!(left, MAX_TEMPLATES);
        assert!(keep.exists());
    }
}
