//! The engine's error type. Messages follow docker's wording where users know it ("No such container", "is
//! already in use by container", "No such image").

use std::path::PathBuf;

/// Errors of engine operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this id, id prefix or name.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No volume has this name.
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    /// The volume is used by containers.
    #[error("remove {name}: volume is in use - [{containers}]")]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The containers using it (ids, comma-separated).
        containers: String,
    },
    /// No network has this name, id or id prefix (docker's wording).
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// `network create` of a name in use (docker's wording).
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    /// `network rm` of a network running containers are on (docker's wording).
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    NetworkInUse {
        /// The network's name.
        name: String,
        /// Its id.
        id: String,
    },
    /// A network operation that cannot be done (a predefined network, a container already on it, …).
    #[error("{0}")]
    NetworkRefused(String),
    /// An id prefix matches several containers.
    #[error("multiple containers match `{0}`: use a longer id or the name")]
    AmbiguousContainer(String),
    /// The requested name belongs to another container.
    #[error("the container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name")]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// The image is not in the local store (`holm run` pulls a missing image before it gets here, unless
    /// `--pull never`).
    #[error("No such image: {0}")]
    ImageNotFound(String),
    /// A command-line value is invalid (docker's wording: `invalid argument "X" for "--flag" flag: why`).
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {why}")]
    InvalidFlag {
        /// The flag, e.g. `--memory`.
        flag: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// The container is not in a state that allows the operation.
    #[error("container {id} is {state}: {msg}")]
    BadState {
        /// Container id.
        id: String,
        /// Its state.
        state: String,
        /// What cannot be done.
        msg: String,
    },
    /// The container's process could not be started (missing binary, bad user, …).
    #[error("container {id}: {msg}")]
    StartFailed {
        /// Container id.
        id: String,
        /// Why.
        msg: String,
        /// The exit code docker uses for this failure (125, 126 or 127).
        code: i32,
    },
    /// The metadata database failed.
    #[error("container database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] holm_image::StoreError),
    /// `logs` of a container whose log driver keeps no file (`none`); its name.
    #[error(
        "configured logging driver does not support reading (container {0} has --log-driver none)"
    )]
    LogsUnsupported(String),
    /// A listing filter that is not `KEY=VALUE` or has an unknown key (docker's words, exit status 1).
    #[error("{0}")]
    InvalidFilter(String),
    /// A verb that needs a running container (`top`) was given one that is not running (its name).
    #[error("container {0} is not running")]
    NotRunning(String),
    /// A host program a verb runs failed or is missing (`ps` for `top`): the whole message.
    #[error("{0}")]
    HostProgram(String),
    /// A pull failed: the registry's answer, the network, the manifest.
    #[error(transparent)]
    Pull(#[from] holm_image::PullError),
    /// An `os/arch[/variant]` that does not parse.
    #[error(transparent)]
    Platform(#[from] holm_image::platform::PlatformError),
    /// `--pull never` with a local image of another platform than `--platform` asks for.
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        /// The image as the user named it (docker's short form).
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The local image's.
        actual: String,
    },
    /// Converting the image config into a runtime spec failed.
    #[error(transparent)]
    Spec(#[from] holm_image::spec::SpecError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] holm_container::Error),
    /// Networking failed (a published port is taken, netlink, nftables).
    #[error(transparent)]
    Network(#[from] holm_network::Error),
    /// A system call failed.
    #[error(transparent)]
    Sys(#[from] holm_sys::Error),
    /// A file-system or process operation failed, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (naming the path or object).
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The monitor process broke its protocol or died.
    #[error("container {id}: monitor: {msg}")]
    Monitor {
        /// Container id.
        id: String,
        /// What happened.
        msg: String,
    },
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// An [`Error::InvalidFlag`].
    pub fn flag(flag: &str, value: &str, why: impl Into<String>) -> Error {
        Error::InvalidFlag {
            flag: flag.into(),
            value: value.into(),
            why: why.into(),
        }
    }

    /// True for a network value the client got wrong (a malformed `--subnet`, `--gateway`, `-p` or `--ip`):
    /// docker answers these with 400 Bad Request.
    pub fn is_bad_network_value(&self) -> bool {
        use holm_network::Error as N;
        matches!(
            self,
            Error::Network(N::BadFlag { .. } | N::BadPublish { .. } | N::BadAddress(..))
        )
    }

    /// True for a network request refused by what other networks hold (an overlapping subnet, an address in
    /// use): dockerd's 403 Forbidden.
    pub fn is_network_conflict(&self) -> bool {
        use holm_network::Error as N;
        matches!(
            self,
            Error::Network(N::SubnetOverlap(_) | N::AddressInUse(_))
        )
    }
}

/// docker's exit code for a container whose start failed, from the runtime's message: 127 when the exec of the
/// container's command (`process.args[0]`) found no such executable, 126 when it could not be run (not executable,
/// a directory), 125 for every other failure. Only the exec's own message counts, in the forms the runtimes use:
/// `exec: "NAME": why` (runc, holm-container, the VM agent's holm-container) and holm-container's final
/// `execve PATH: why`; a "not found" or "No such file" elsewhere (a network, a bind mount's source, a namespace
/// path) is a 125.
pub fn start_failure_code(msg: &str) -> i32 {
    let why = match (msg.find("exec: \""), msg.find("execve ")) {
        (Some(i), _) => {
            let rest = &msg[i + "exec: \"".len()..];
            match rest.find("\": ") {
                Some(j) => &rest[j + 3..],
                None => return 125,
            }
        }
        (None, Some(i)) => match msg[i..].find(": ") {
            Some(j) => &msg[i + j + 2..],
            None => return 125,
        },
        (None, None) => return 125,
    };
    let why = why.to_ascii_lowercase();
    if why.starts_with("executable file not found") || why.contains("no such file or directory") {
        127
    } else if why.contains("permission denied") || why.contains("is a directory") {
        126
    } else {
        125
    }
}

/// The exit status of `holm exec` whose process could not be started, from the runtime's message: 127 when the
/// command is not found, 126 for every other failure (a missing or bad `-w` directory, a command that is not
/// executable, an unknown `-u` user), as docker's exec (its 126 is "the exec failed", not only "not executable").
pub fn exec_failure_code(msg: &str) -> i32 {
    let not_found = msg.contains("executable file not found")
        || (msg.contains("exec: \"") && msg.contains("No such file or directory"));
    if not_found {
        127
    } else {
        126
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::start_failure_code;

    #[test]
    fn start_failure_codes_come_from_the_exec_only() {
        for (msg, code) in [
            // the container's command: holm-container, runc, the final execve
            ("exec: \"nosuch\": executable file not found in $PATH", 127),
            (
                "container abc: exec: \"/nosuch\": No such file or directory (os error 2)",
                127,
            ),
            (
                "exec: \"/nosuch\": stat /nosuch: no such file or directory",
                127,
            ),
            ("exec: \"/etc\": is a directory", 126),
            ("exec: \"/etc/passwd\": permission denied", 126),
            ("execve /bin/x: Permission denied (os error 13)", 126),
            ("execve /bin/x: Exec format error (os error 8)", 125),
            // anything else that is "not found" is not the command
            ("network nosuchnet not found", 125),
            (
                "mounts[7].source: /tmp/x: No such file or directory (os error 2)",
                125,
            ),
            (
                "open /run/holm/netns/abc: No such file or directory (os error 2)",
                125,
            ),
            ("mount /tmp/gone on /data: permission denied", 125),
            ("exec: \"sh\"", 125),
        ] {
            assert_eq!(start_failure_code(msg), code, "{msg}");
        }
    }
}
