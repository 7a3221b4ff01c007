//! The error type of `holm-container`. Every variant names the object it concerns (a config field, a path, a
//! container id) so a user reading one line knows what broke.

use std::io;

/// Errors from the runtime core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed (names the call, its target and errno).
    #[error(transparent)]
    Sys(#[from] holm_sys::Error),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] holm_cgroups::Error),
    /// `config.json` is malformed or invalid: `field` is the JSON path (e.g. `linux.namespaces[2].type`).
    #[error("config.json: `{field}`: {msg}")]
    Config {
        /// JSON path of the offending field.
        field: String,
        /// What was expected.
        msg: String,
    },
    /// No container with this id in the state root.
    #[error("container `{0}` does not exist")]
    NotFound(String),
    /// A container with this id already exists.
    #[error("container `{0}` already exists")]
    Exists(String),
    /// The verb is not allowed in the container's current state.
    #[error("container `{id}` is {status}: {msg}")]
    BadState {
        /// Container id.
        id: String,
        /// Its status (`created`, `running`, …).
        status: String,
        /// What cannot be done.
        msg: String,
    },
    /// A file-system operation on a named path failed.
    #[error("{what} `{path}`: {err}")]
    Io {
        /// What was being done ("read", "write state", …).
        what: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        err: io::Error,
    },
    /// A hook failed or timed out.
    #[error("{kind} hook #{index} `{path}`: {msg}")]
    Hook {
        /// Hook kind (`createRuntime`, `poststart`, …).
        kind: &'static str,
        /// Index in its list.
        index: usize,
        /// The hook's `path`.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// A failure reported by the container's init process (already formatted, e.g. ``mount `proc` …``).
    #[error("{0}")]
    Init(String),
    /// The process at the other end of the create sync channel ([`crate::channel`]) went away without saying why:
    /// it closed the channel (EOF) or a send to it failed with `EPIPE`/`ECONNRESET`. `create` turns this into
    /// [`Error::Init`] naming how the process ended (`exited with status 1`, `was killed by signal 9 (SIGKILL)`).
    #[error("container setup process exited while the runtime was {during}")]
    PeerGone {
        /// What the runtime was doing: `waiting for Created`, `sending HooksDone`.
        during: String,
    },
    /// An invalid argument to a verb (e.g. a bad container id or signal name).
    #[error("{0}")]
    Invalid(String),
}

/// Result type of `holm-container`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(what: &'static str, path: impl AsRef<std::path::Path>, source: io::Error) -> Error {
        Error::Io {
            what,
            path: path.as_ref().display().to_string(),
            err: source,
        }
    }
}
