//! The OCI runtime a container runs on: holm-container, built in (the default), or any runtime binary with runc's
//! command line (`holm run --runtime runc`), driven the way conmon drives it: `create --bundle --pid-file
//! [--console-socket]`, `start`, `state`, `kill`, `pause`, `resume`, `delete --force`, `exec`, with its state under
//! `<runroot>/oci/<runtime name>` and its own messages in `<bundle>/runtime.log` (never in the container's log).
//! The monitor is a child subreaper, so the container's init (orphaned when `runc create` exits) becomes its child.

use crate::{Engine, Error, Result};
use holm_container::Status;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which runtime.
#[derive(Debug, Clone)]
pub enum Runtime {
    /// holm-container, with its state store.
    Builtin(holm_container::Store),
    /// An external runtime binary and its `--root`.
    Oci {
        /// The binary.
        bin: PathBuf,
        /// Its state directory.
        root: PathBuf,
    },
}

/// What the runtime says of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtState {
    /// Its status.
    pub status: Status,
    /// Host pid of its init.
    pub pid: i32,
}

/// Finds `--runtime`: a path, or a name looked up in `PATH`. Errors name the flag.
pub fn find_binary(name: &str) -> Result<PathBuf> {
    let bad = |why: String| Error::flag("--runtime", name, why);
    let p = Path::new(name);
    let found = if name.contains('/') {
        p.is_file().then(|| p.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
    };
    let found = found.ok_or_else(|| bad(format!("runtime binary `{name}` not found")))?;
    std::fs::canonicalize(&found).map_err(|e| bad(format!("{}: {e}", found.display())))
}

impl Engine {
    /// The runtime of a container with `--runtime` `name` (`None`: built in).
    pub fn runtime_for(&self, name: Option<&str>) -> Runtime {
        match name {
            None => Runtime::Builtin(self.runtime()),
            Some(bin) => {
                let base = Path::new(bin)
                    .file_name()
                    .map_or_else(|| "oci".into(), |n| n.to_string_lossy().into_owned());
                Runtime::Oci {
                    bin: PathBuf::from(bin),
                    root: self.runroot().join("oci").join(base),
                }
            }
        }
    }

    /// The runtime of container `id` (looked up in the database; built in if it is gone).
    pub fn runtime_of(&self, id: &str) -> Runtime {
        let name = self
            .db()
            .ok()
            .and_then(|db| db.get(id).ok().flatten())
            .and_then(|r| r.config.runtime);
        self.runtime_for(name.as_deref())
    }
}

/// The message of a logrus text line (`time="…" level=error msg="…"`, what runc and holm-runtime write to
/// `--log`), unquoted; any other line as it is.
pub(crate) fn log_message(line: &str) -> String {
    let Some(q) = line.split_once(" msg=\"").map(|(_, q)| q) else {
        return line.to_string();
    };
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push(' '),
                Some('t') => out.push(' '),
                Some(o) => out.push(o),
                None => break,
            },
            c => out.push(c),
        }
    }
    line.to_string()
}

fn parse_status(s: &str) -> Status {
    match s {
        "creating" => Status::Creating,
        "created" => Status::Created,
        "running" => Status::Running,
        "paused" => Status::Paused,
        _ => Status::Stopped,
    }
}

impl Runtime {
    fn cmd(bin: &Path, root: &Path) -> Command {
        let mut c = Command::new(bin);
        c.arg("--root").arg(root);
        c
    }

    /// Runs `bin --root ROOT ARGS` with no stdio; its stderr is the error message.
    fn run(bin: &Path, root: &Path, args: &[&str]) -> Result<Vec<u8>> {
        let out = Runtime::cmd(bin, root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(Error::io(format!("run {}", bin.display())))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(Error::Io {
                what: format!("{} {}", bin.display(), args.join(" ")),
                source: std::io::Error::other(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ),
            })
        }
    }

    /// The container's state; `None` if the runtime does not know it.
    pub fn state(&self, id: &str) -> Option<RtState> {
        match self {
            Runtime::Builtin(store) => holm_container::state(store, id).ok().map(|s| RtState {
                status: s.status,
                pid: s.pid,
            }),
            Runtime::Oci { bin, root } => {
                let out = Runtime::run(bin, root, &["state", id]).ok()?;
                let v: serde_json::Value = serde_json::from_slice(&out).ok()?;
                Some(RtState {
                    status: parse_status(v["status"].as_str().unwrap_or("stopped")),
                    pid: v["pid"].as_i64().unwrap_or(0) as i32,
                })
            }
        }
    }

    /// Sends `sig` to the init (`all`: to every process).
    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        match self {
            Runtime::Builtin(store) => Ok(holm_container::kill(store, id, sig, all)?),
            Runtime::Oci { bin, root } => {
                let s = sig.to_string();
                let mut args = vec!["kill"];
                if all {
                    args.push("--all");
                }
                args.extend([id, s.as_str()]);
                Runtime::run(bin, root, &args).map(drop)
            }
        }
    }

    /// Freezes the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        match self {
            Runtime::Builtin(store) => Ok(holm_container::cgroup_verbs::pause(store, id)?),
            Runtime::Oci { bin, root } => Runtime::run(bin, root, &["pause", id]).map(drop),
        }
    }

    /// Thaws the container.
    pub fn resume(&self, id: &str) -> Result<()> {
        match self {
            Runtime::Builtin(store) => Ok(holm_container::cgroup_verbs::resume(store, id)?),
            Runtime::Oci { bin, root } => Runtime::run(bin, root, &["resume", id]).map(drop),
        }
    }

    /// Kills and forgets the container (unknown is fine).
    pub fn delete(&self, id: &str) -> Result<()> {
        match self {
            // No state directory (or no state root at all, e.g. a `--runroot` that is not a directory): nothing
            // the runtime could delete.
            Runtime::Builtin(store) if !store.root().join(id).is_dir() => Ok(()),
            Runtime::Builtin(store) => match holm_container::delete(store, id, true, &mut |_| {}) {
                Ok(()) | Err(holm_container::Error::NotFound(_)) => Ok(()),
                Err(e) => Err(e.into()),
            },
            Runtime::Oci { bin, root } => {
                if self.state(id).is_none() {
                    return Ok(());
                }
                Runtime::run(bin, root, &["delete", "--force", id]).map(drop)
            }
        }
    }

    /// Creates the container from `bundle` with the caller's stdin/stdout/stderr (or a terminal through
    /// `console`); returns its init's pid. For an external runtime the caller must be a child subreaper.
    pub fn create(&self, id: &str, bundle: &Path, console: Option<&Path>) -> Result<i32> {
        match self {
            Runtime::Builtin(store) => {
                let opts = holm_container::CreateOptions {
                    id: id.to_string(),
                    bundle: bundle.to_path_buf(),
                    console_socket: console.map(Path::to_path_buf),
                    ..Default::default()
                };
                Ok(holm_container::create(store, &opts)?)
            }
            Runtime::Oci { bin, root } => {
                let pid_file = bundle.join("oci.pid");
                let log = bundle.join("runtime.log");
                let _ = std::fs::remove_file(&pid_file);
                let mut c = Runtime::cmd(bin, root);
                c.arg("--log").arg(&log).arg("--log-format").arg("text");
                c.arg("create").arg("--bundle").arg(bundle);
                c.arg("--pid-file").arg(&pid_file);
                if let Some(s) = console {
                    c.arg("--console-socket").arg(s);
                }
                c.arg(id);
                let st = c
                    .status()
                    .map_err(Error::io(format!("run {}", bin.display())))?;
                if !st.success() {
                    let msg = std::fs::read_to_string(&log).unwrap_or_default();
                    let last = msg
                        .lines()
                        .rev()
                        .find(|l| l.contains("level=error"))
                        .unwrap_or(msg.lines().last().unwrap_or("failed"));
                    return Err(Error::Io {
                        what: format!("{} create {id}", bin.display()),
                        source: std::io::Error::other(log_message(last)),
                    });
                }
                let pid = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|p| p.trim().parse().ok())
                    .ok_or_else(|| Error::Io {
                        what: format!("{} create {id}", bin.display()),
                        source: std::io::Error::other("no pid file"),
                    })?;
                Ok(pid)
            }
        }
    }

    /// Starts the created container's process.
    pub fn start(&self, id: &str) -> Result<()> {
        match self {
            Runtime::Builtin(store) => Ok(holm_container::start(store, id, &mut |_| {})?),
            Runtime::Oci { bin, root } => Runtime::run(bin, root, &["start", id]).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logrus_lines() {
        let l = r#"time="2026-12-07T12:48:52Z" level=error msg="VM: listen: \"x\" failed\nnext""#;
        assert_eq!(super::log_message(l), r#"VM: listen: "x" failed next"#);
        assert_eq!(super::log_message("plain failure"), "plain failure");
        assert_eq!(
            super::log_message(r#"level=error msg="cut"#),
            r#"level=error msg="cut"#
        );
    }
}
