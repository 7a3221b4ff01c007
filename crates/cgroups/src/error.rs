//! The one error type of `holm-cgroups`.
//!
//! Every variant says what was being done and to which object, so that one printed line is enough:
//! ``mkdir `/sys/fs/cgroup/cpuset/holm/abc` (cgroup cpuset): No space left on device (os error 28)``.
//!
//! The OS error is part of the message (`Display`) and is carried as a field; it is *not* also returned from
//! [`std::error::Error::source`], so printing the chain (`{:#}` in `anyhow`) does not repeat it. Use
//! [`Error::io_error`] to inspect it.

use std::io;
use std::path::PathBuf;

/// Errors of cgroup detection and placement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file under `/proc` (`/proc/self/mountinfo`, `/proc/self/cgroup`) failed.
    #[error("read `{path}`: {error}")]
    ReadProc {
        /// The file that could not be read.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },

    /// A line of `/proc/self/mountinfo` or `/proc/self/cgroup` does not have the shape the kernel documents
    /// (`Documentation/filesystems/proc.rst` § 3.5, `Documentation/admin-guide/cgroup-v1/cgroups.rst` § 2.3,
    /// `Documentation/admin-guide/cgroup-v2.rst` § "Processes").
    #[error("parse `{file}` line {line}: {reason}")]
    Parse {
        /// Which file the text came from (`/proc/self/mountinfo` or `/proc/self/cgroup`).
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },

    /// `/proc/self/mountinfo` lists no visible mount of type `cgroup` or `cgroup2`.
    #[error("no cgroup hierarchy is mounted: `/proc/self/mountinfo` has no visible `cgroup` or `cgroup2` mount")]
    NoHierarchies,

    /// A cgroup path given by the caller is unusable (`linux.cgroupsPath` of config.json, or the container id
    /// used to build the default path).
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidPath {
        /// Name of the offending input: `linux.cgroupsPath` or `container id`.
        field: &'static str,
        /// The value as given (NUL bytes are shown escaped).
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A relative `linux.cgroupsPath` needs the caller's own cgroup in a hierarchy, and it is unknown or lies
    /// outside the part of the hierarchy that is mounted (e.g. a cgroup namespace shows `/..`).
    #[error("linux.cgroupsPath `{value}` is relative, but the caller's own cgroup in hierarchy {hierarchy} {reason}")]
    OwnCgroup {
        /// The relative `linux.cgroupsPath`.
        value: String,
        /// The hierarchy, as printed by [`crate::HierarchyInfo`]'s `Display` (`cpu,cpuacct`, `name=systemd`,
        /// `cgroup2`).
        hierarchy: String,
        /// What is wrong, e.g. "is not listed in /proc/self/cgroup".
        reason: String,
    },

    /// A file-system operation on a cgroup directory or file failed.
    #[error("{op} `{path}` (cgroup {hierarchy}): {error}")]
    Io {
        /// The operation: `open`, `mkdir`, `rmdir`, `read`, `write`.
        op: &'static str,
        /// The directory or file acted on.
        path: PathBuf,
        /// The hierarchy (controllers), as printed by [`crate::HierarchyInfo`]'s `Display`.
        hierarchy: String,
        /// The OS error.
        error: io::Error,
    },

    /// `rmdir` of a cgroup kept failing with `EBUSY` (the cgroup still has processes or child cgroups) for the
    /// whole retry period.
    #[error("rmdir `{path}` (cgroup {hierarchy}): still busy after {waited_ms} ms: {error}")]
    Busy {
        /// The cgroup directory that could not be removed.
        path: PathBuf,
        /// The hierarchy (controllers), as printed by [`crate::HierarchyInfo`]'s `Display`.
        hierarchy: String,
        /// How long removal was retried, in milliseconds.
        waited_ms: u64,
        /// The last OS error (`EBUSY`).
        error: io::Error,
    },

    /// A `linux.resources` value is invalid, or cannot be applied on this host: its controller is not mounted,
    /// the kernel lacks its control file, or the cgroup version has no equivalent. `field` is the path below
    /// `linux.resources` (`memory.swap`, `hugepageLimits[0]`); the reason names the controller and file.
    #[error("linux.resources.{field}: {reason}")]
    Resource {
        /// The field below `linux.resources`.
        field: String,
        /// What is wrong, naming the controller and control file.
        reason: String,
    },

    /// Writing a `linux.resources` value to its control file failed.
    #[error("linux.resources.{field}: write `{value}` to `{path}` (cgroup {hierarchy}): {error}")]
    WriteResource {
        /// The field below `linux.resources`.
        field: String,
        /// The text written.
        value: String,
        /// The control file.
        path: PathBuf,
        /// The hierarchy, as printed by [`crate::HierarchyInfo`]'s `Display`.
        hierarchy: String,
        /// The OS error.
        error: io::Error,
    },

    /// Freezing or thawing the cgroup failed or did not finish in time.
    #[error("{op} `{path}`: {reason}")]
    Freezer {
        /// `freeze` or `thaw`.
        op: &'static str,
        /// The control file (`freezer.state`, `cgroup.freeze`).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// An `exec --cgroup` value is unusable (runc's flag: `PATH` or `CONTROLLER[,CONTROLLER...]:PATH`, relative to
    /// the container's cgroup).
    #[error("--cgroup {value}: {reason}")]
    ExecCgroup {
        /// The flag's value as given (NUL bytes shown escaped).
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A cgroup operation needs a controller or file the host does not offer (the freezer for `pause`, ...).
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// The OS error behind this error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::ReadProc { error, .. }
            | Error::Io { error, .. }
            | Error::Busy { error, .. }
            | Error::WriteResource { error, .. } => Some(error),
            Error::Parse { .. }
            | Error::NoHierarchies
            | Error::InvalidPath { .. }
            | Error::OwnCgroup { .. }
            | Error::Resource { .. }
            | Error::Freezer { .. }
            | Error::ExecCgroup { .. }
            | Error::Unsupported(_) => None,
        }
    }
}
