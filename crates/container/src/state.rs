//! The state store: one directory per container under the runtime root (default `/run/holm/<id>/`), holding
//! `state.json` (written temp-then-rename) and `exec.fifo` (present while the container is `created`).
//!
//! Every verb that reads-then-changes a container holds an exclusive `flock(2)` on the container's directory for
//! its whole run, so two `holm-runtime` commands on one id are serialised. The status is never stored alone: it is
//! derived from the init process (pid + its start time in `/proc/PID/stat`, so a recycled pid never makes a
//! stopped container look alive) and the presence of `exec.fifo` (runtime-spec `runtime.md#state`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file holding a container's saved state.
pub const STATE_FILE: &str = "state.json";
/// The FIFO the container init blocks on until `start` (runc's `exec.fifo`).
pub const EXEC_FIFO: &str = "exec.fifo";

/// A container's status (runtime-spec `state.status`, plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by the cgroup freezer.
    Paused,
    /// The init process has exited (or never ran).
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// runtime-spec version of the state format.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container init; 0 until known.
    pub pid: i32,
    /// Start time of the init (field 22 of `/proc/PID/stat`, clock ticks since boot): tells a recycled pid apart.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 (UTC, nanoseconds).
    pub created: String,
    /// Owner name (runc prints it in `list`).
    pub owner: String,
    /// `annotations` from config.json.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// True once `create` has finished (false while `creating`, or if `create` was killed midway).
    #[serde(default)]
    pub created_done: bool,
    /// The container's cgroup, once created.
    #[serde(default)]
    pub cgroup: Option<holm_cgroups::Cgroup>,
    /// Host pids that were already in the cgroup at `create` (runc 1.1 warns and goes on; so does holm). They are
    /// not the container's: `delete` and `kill --all` leave them alone, and the cgroup stays while they live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_foreign: Vec<i32>,
    /// The full config, for `poststop` hooks at `delete` and for later verbs.
    pub config: oci_spec::runtime::Spec,
}

/// The OCI state JSON (runtime-spec `runtime.md#state`) as runc prints it for `state`.
#[derive(Debug, Clone, Serialize)]
pub struct OciState {
    /// runtime-spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init pid (0 when stopped).
    pub pid: i32,
    /// Status.
    pub status: Status,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Owner.
    pub owner: String,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Saved {
    /// The state as handed to hooks (runtime-spec: ociVersion, id, status, pid, bundle, annotations).
    pub fn hook_state(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
    }

    /// True if the init process recorded here still runs (same pid *and* start time, not a zombie).
    pub fn init_alive(&self) -> bool {
        self.pid > 0 && proc_start_time(self.pid).is_some_and(|t| t == self.pid_start)
    }
}

/// Start time (clock ticks after boot, `/proc/PID/stat` field 22) of a live process; `None` if the process does not
/// exist or is a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may itself contain ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X") | None) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The state root directory (`--root`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A container directory held under an exclusive lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Locked {
    /// Container id.
    pub id: String,
    /// `<root>/<id>`.
    pub dir: PathBuf,
    lock: File,
}

/// Checks a container id: 1–255 characters of `[A-Za-z0-9_+.-]`, not starting with `.` (runc's character rule;
/// 255 is the longest file name, so the id is always one safe path component of the state root).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("invalid container id {id:?}: expected 1-255 characters of [A-Za-z0-9_+.-], not starting with `.`")))
    }
}

impl Store {
    /// A store rooted at `root` (created with mode 0700 on first write).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn open_locked(&self, id: &str, dir: PathBuf) -> Result<Locked> {
        let lock = File::open(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(id.to_string())
            } else {
                Error::io("open", &dir, e)
            }
        })?;
        lock.lock().map_err(|e| Error::io("lock", &dir, e))?;
        Ok(Locked {
            id: id.to_string(),
            dir,
            lock,
        })
    }

    /// Creates `<root>/<id>` (mode 0700) and locks it. Errors: [`Error::Exists`] if the id is taken.
    pub fn create(&self, id: &str) -> Result<Locked> {
        validate_id(id)?;
        // Mode 0700 for every directory created on the way: the state root holds exec.fifo handles and configs.
        let mut root = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(root.recursive(true), 0o700);
        root.create(&self.root).map_err(|e| {
            // create_dir_all answers EEXIST for a path that exists but is no directory.
            let e = if e.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::from_raw_os_error(libc::ENOTDIR)
            } else {
                e
            };
            Error::io("create state root", &self.root, e)
        })?;
        let dir = self.root.join(id);
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(Error::io("create state dir", &dir, e)),
        }
        self.open_locked(id, dir)
    }

    /// Locks an existing container directory. Errors: [`Error::NotFound`].
    pub fn lock(&self, id: &str) -> Result<Locked> {
        validate_id(id).map_err(|_| Error::NotFound(id.to_string()))?;
        self.open_locked(id, self.root.join(id))
    }

    /// Reads a container's state without taking its lock (`state.json` is replaced atomically, so a reader always
    /// sees a whole version). Errors: [`Error::NotFound`].
    pub fn read(&self, id: &str) -> Result<OciState> {
        validate_id(id).map_err(|_| Error::NotFound(id.to_string()))?;
        let dir = self.root.join(id);
        let path = dir.join(STATE_FILE);
        let text = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(id.to_string())
            } else {
                Error::io("read", &path, e)
            }
        })?;
        let s: Saved = serde_json::from_slice(&text)
            .map_err(|e| Error::io("parse", &path, std::io::Error::other(e)))?;
        let mut st = oci_state_of(&dir, &s);
        // `create` records the init's pid only when it is done; until then its process holds the container's lock
        // (a killed `create` released it): that container is `creating`, not `stopped`.
        if st.status == Status::Stopped && !s.created_done && lock_held(&dir) {
            st.status = Status::Creating;
        }
        Ok(st)
    }

    /// Ids of all containers in the store, sorted (a missing root means none).
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.root, e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl Locked {
    /// Reads `state.json`. A missing file (a `create` killed before its first write, or a concurrent delete) is
    /// [`Error::NotFound`].
    pub fn load(&self) -> Result<Saved> {
        let path = self.dir.join(STATE_FILE);
        let text = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(self.id.clone())
            } else {
                Error::io("read", &path, e)
            }
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::io("parse", &path, std::io::Error::other(e)))
    }

    /// Writes `state.json` crash-safely: one write to a temp file in the same directory, renamed over. A reader, or
    /// a runtime that crashed half-way, sees the old or the new state, whole.
    ///
    /// No fsync, as runc (its `saveState` writes a temp file and renames it): the state describes processes, which
    /// a power loss or kernel crash ends anyway (the state root is normally a tmpfs, `/run`), so making it durable
    /// buys nothing; on a disk-backed state root the two fdatasyncs of a `create` cost milliseconds each.
    pub fn save(&self, s: &Saved) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let path = self.dir.join(STATE_FILE);
        let write = || -> std::io::Result<()> {
            let mut bytes = serde_json::to_vec(s)?;
            bytes.push(b'\n');
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io("write state", &path, e)
        })
    }

    /// The container's current status, derived from `s` (see the module doc).
    pub fn status(&self, s: &Saved) -> Status {
        status_of(&self.dir, s)
    }

    /// The OCI state of `s` as `state` prints it (pid 0 when stopped).
    pub fn oci_state(&self, s: &Saved) -> OciState {
        oci_state_of(&self.dir, s)
    }

    /// Removes the container directory and everything in it, then releases the lock.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove state dir", &self.dir, e)),
        }
    }

    /// An open handle on the container directory (for `openat`-style access from the container init).
    pub fn dir_file(&self) -> &File {
        &self.lock
    }
}

/// True if some process holds the `flock` of the container directory `dir`.
fn lock_held(dir: &Path) -> bool {
    File::open(dir)
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// Status of the container whose directory is `dir` and saved state `s` (see the module doc).
pub fn status_of(dir: &Path, s: &Saved) -> Status {
    if !s.created_done {
        return if s.init_alive() {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !s.init_alive() {
        return Status::Stopped;
    }
    if dir.join(EXEC_FIFO).exists() {
        Status::Created
    } else if s.cgroup.as_ref().is_some_and(|cg| cg.is_paused()) {
        // runc's `paused`: the freezer holds the container.
        Status::Paused
    } else {
        Status::Running
    }
}

/// The OCI state as `state` prints it (pid 0 when stopped).
pub fn oci_state_of(dir: &Path, s: &Saved) -> OciState {
    let status = status_of(dir, s);
    OciState {
        oci_version: s.oci_version.clone(),
        id: s.id.clone(),
        pid: if status == Status::Stopped { 0 } else { s.pid },
        status,
        bundle: s.bundle.clone(),
        rootfs: s.rootfs.clone(),
        created: s.created.clone(),
        owner: s.owner.clone(),
        annotations: s.annotations.clone(),
    }
}

/// Formats a time as RFC 3339 in UTC with nanoseconds (`2026-11-29T10:16:34.123456789Z`), as runc's `created`.
pub use holm_format::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".x", "a/b", "..", "a b", &"x".repeat(256)] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id() as i32;
        assert_eq!(proc_start_time(me), proc_start_time(me));
        assert!(proc_start_time(me).is_some());
        assert!(proc_start_time(i32::MAX).is_none());
    }

    #[test]
    fn store_create_lock_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("root"));
        let l = s.create("c1").unwrap();
        assert!(matches!(s.create("c1"), Err(Error::Exists(_))));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(s.root()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(validate_id(&"x".repeat(255)).is_ok());
        assert!(matches!(s.lock("nope"), Err(Error::NotFound(_))));
        assert!(matches!(l.load(), Err(Error::NotFound(_))));
        assert_eq!(s.ids().unwrap(), vec!["c1".to_string()]);
        l.remove().unwrap();
        assert!(s.ids().unwrap().is_empty());
    }
}
