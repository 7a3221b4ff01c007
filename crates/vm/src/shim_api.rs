//! The VM shim's socket: how `holm-runtime`'s verbs talk to the shim of a VM container.
//!
//! The shim listens on [`SOCKET`] (a Unix stream socket in the container's state directory, mode 0600 as the
//! directory). A client sends one [`ShimRequest`] as one JSON line, with `exec`'s stdio fds attached
//! (`SCM_RIGHTS`), and reads [`ShimReply`] lines: one per request, and for `exec` and `wait` a last
//! [`ShimReply::Exited`] when the process ends. Both sides are holm's own (root-only socket); the shim still
//! bounds what it reads.
//!
//! Files the shim keeps beside the socket: [`EXIT_STATUS`] (the init's exit code, written before the shim exits,
//! temp-then-rename), [`OOM_KILLS`] (the guest's OOM-kill count, from the agent's exit reports) and [`SHIM_PID`]
//! (`PID START_TIME`, written by `create`).

use oci_spec::runtime::{LinuxResources, Process};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The shim's socket, in the container's state directory.
pub const SOCKET: &str = "shim.sock";
/// The init's exit code (decimal, shell convention 128+N for signal N), once it exited.
pub const EXIT_STATUS: &str = "exit-status";
/// How many processes the guest's OOM killer killed in the container's cgroup (decimal), as the last exit the
/// agent reported said; written by the shim (temp-then-rename, before [`EXIT_STATUS`]) once it is above 0.
pub const OOM_KILLS: &str = "oom-kills";
/// The shim's pid and start time.
pub const SHIM_PID: &str = "shim.pid";
/// The file holding the VM's launch description (written by `create`, read by the shim).
pub const LAUNCH: &str = "vm-launch.json";
/// The marker that a container runs in a VM (its content: `vm`).
pub const ISOLATION: &str = "isolation";
/// Longest request or reply line, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// A request to the shim.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShimRequest {
    /// Start the created container's process. Reply: [`ShimReply::Ok`].
    Start,
    /// Send a signal to the init (`all`: every process of the container). Reply: [`ShimReply::Ok`].
    Kill {
        /// Signal number.
        signal: i32,
        /// Every process, not only the init.
        all: bool,
    },
    /// Send a signal to a process started by [`ShimRequest::Exec`] that still runs, named by its guest pid (as
    /// [`ShimReply::Pid`] gave it). Reply: [`ShimReply::Ok`], or an error when no running exec has that pid.
    KillExec {
        /// The exec'd process's guest pid.
        pid: i32,
        /// Signal number.
        signal: i32,
    },
    /// Run a process in the container with the three fds sent along as its stdin, stdout, stderr (with
    /// `process.terminal`: the peer of a host pty, three times; the guest pty follows its window size). Replies:
    /// [`ShimReply::Pid`] (its guest pid) once started, then [`ShimReply::Exited`].
    Exec {
        /// The process (runtime-spec `process`).
        process: Box<Process>,
    },
    /// The container's processes. Reply: [`ShimReply::Pids`] (guest pids).
    Ps,
    /// The container's processes as `ps -ef` shows them. Reply: [`ShimReply::Table`].
    PsTable,
    /// Wait for the init to exit. Reply: [`ShimReply::Exited`].
    Wait,
    /// Change the container's cgroup limits in the guest (runtime-spec `linux.resources`; only the fields given
    /// change). Reply: [`ShimReply::Ok`], or the guest's error.
    Update {
        /// The limits to change.
        resources: Box<LinuxResources>,
    },
}

/// A reply from the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShimReply {
    /// Done.
    Ok,
    /// A process started, with this guest pid.
    Pid(i32),
    /// Guest pids.
    Pids(Vec<i32>),
    /// Guest pids and their `ps -ef` rows (see [`holm_vm_proto::PsRow`]).
    Table {
        /// Every process.
        pids: Vec<i32>,
        /// The first processes' rows.
        rows: Vec<holm_vm_proto::PsRow>,
    },
    /// The process exited: shell-convention code.
    Exited(i32),
    /// The request failed; the message is for the user.
    Error(String),
}

/// Errors talking to the shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shim is not there (its socket is missing or refuses): the VM has ended or was killed.
    #[error("the VM shim of this container is not running ({0})")]
    Gone(std::io::Error),
    /// Reading or writing the socket failed.
    #[error("VM shim socket: {0}")]
    Io(#[from] std::io::Error),
    /// Passing fds failed.
    #[error("VM shim socket: {0}")]
    Sys(#[from] holm_sys::Error),
    /// A line that is not a valid message.
    #[error("VM shim socket: bad message: {0}")]
    Bad(String),
    /// The shim closed the connection before replying.
    #[error("the VM shim closed the connection (the VM ended)")]
    Closed,
}

/// How long the shim waits for the guest to start an exec'd process before it fails the exec (a stuck VMM or
/// guest agent never answers). The runtime's own wait for the shim's answer is a little longer.
pub const EXEC_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A connection to a shim.
pub struct Client {
    reader: BufReader<UnixStream>,
}

impl AsFd for Client {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.reader.get_ref().as_fd()
    }
}

impl Client {
    /// Connects to the shim of the container whose state directory is `dir`.
    pub fn connect(dir: &Path) -> Result<Client, Error> {
        let s = with_socket_path(dir, |p| UnixStream::connect(p)).map_err(Error::Gone)?;
        Ok(Client {
            reader: BufReader::new(s),
        })
    }

    /// Sends `req` with `fds` attached.
    pub fn send(&mut self, req: &ShimRequest, fds: &[BorrowedFd<'_>]) -> Result<(), Error> {
        let mut line = serde_json::to_vec(req).map_err(|e| Error::Bad(e.to_string()))?;
        line.push(b'\n');
        holm_sys::socket::send_with_fds(self.reader.get_ref().as_fd(), &line, fds)?;
        Ok(())
    }

    /// Reads the next reply.
    pub fn recv(&mut self) -> Result<ShimReply, Error> {
        match read_line(&mut self.reader)? {
            None => Err(Error::Closed),
            Some(l) => serde_json::from_slice(&l).map_err(|e| Error::Bad(e.to_string())),
        }
    }

    /// Bounds how long [`Client::recv`] waits (`None`: for ever); a reply that does not come in time is
    /// [`Error::Io`] of kind `WouldBlock`.
    pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> Result<(), Error> {
        Ok(self.reader.get_ref().set_read_timeout(t)?)
    }

    /// Sends `req` (no fds) and reads its reply.
    pub fn call(&mut self, req: &ShimRequest) -> Result<ShimReply, Error> {
        self.send(req, &[])?;
        self.recv()
    }
}

/// Longest socket path used as it is (a Unix socket address holds 107 bytes and a NUL).
const MAX_SUN_PATH: usize = 100;

/// Calls `f` with a path of [`SOCKET`] in `dir` that fits a Unix socket address: `dir/shim.sock` when it is short
/// enough, else `/proc/self/fd/N/shim.sock` through an open fd of `dir` (a long state root, e.g. an engine's
/// `--runroot` in a temp dir, with a 64-character container id). Errors: `dir` cannot be opened, or `f`'s.
pub fn with_socket_path<T>(
    dir: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let full = dir.join(SOCKET);
    if full.as_os_str().len() <= MAX_SUN_PATH {
        return f(&full);
    }
    let d = std::fs::File::open(dir)?;
    let short = format!(
        "/proc/self/fd/{}/{SOCKET}",
        std::os::fd::AsRawFd::as_raw_fd(&d)
    );
    f(Path::new(&short))
}

/// Reads one `\n`-terminated line of at most [`MAX_LINE`] bytes; `None` at end of stream.
pub fn read_line<R: BufRead>(r: &mut R) -> Result<Option<Vec<u8>>, Error> {
    let mut line = Vec::new();
    let n = std::io::Read::take(&mut *r, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(Error::Bad(format!(
            "line longer than {MAX_LINE} bytes or cut short"
        )));
    }
    line.pop();
    Ok(Some(line))
}

/// The server side of one connection: the first request line and its fds.
pub fn recv_request(sock: &UnixStream) -> Result<(ShimRequest, Vec<OwnedFd>), Error> {
    let mut buf = vec![0u8; 64 << 10];
    let (n, fds) = holm_sys::socket::recv_with_fds(sock.as_fd(), &mut buf)?;
    if n == 0 {
        return Err(Error::Closed);
    }
    buf.truncate(n);
    // The rest of a line longer than one read.
    if buf.last() != Some(&b'\n') {
        let mut r = BufReader::new(sock);
        let rest = read_line(&mut r)?.ok_or(Error::Closed)?;
        buf.extend_from_slice(&rest);
    } else {
        buf.pop();
    }
    let req = serde_json::from_slice(&buf).map_err(|e| Error::Bad(e.to_string()))?;
    Ok((req, fds))
}

/// Writes one reply line.
pub fn send_reply(mut sock: &UnixStream, reply: &ShimReply) -> Result<(), Error> {
    let mut line = serde_json::to_vec(reply).map_err(|e| Error::Bad(e.to_string()))?;
    line.push(b'\n');
    sock.write_all(&line)?;
    Ok(())
}

/// The recorded exit code of the init, if the shim wrote one.
pub fn read_exit_status(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(EXIT_STATUS))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes the init's exit code (temp file, then rename).
pub fn write_exit_status(dir: &Path, code: i32) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{EXIT_STATUS}.tmp"));
    std::fs::write(&tmp, format!("{code}\n"))?;
    std::fs::rename(&tmp, dir.join(EXIT_STATUS))
}

/// Records the guest's OOM-kill count in `dir` ([`OOM_KILLS`]).
pub fn write_oom_kills(dir: &Path, n: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{OOM_KILLS}.tmp"));
    std::fs::write(&tmp, format!("{n}\n"))?;
    std::fs::rename(&tmp, dir.join(OOM_KILLS))
}

/// The guest's OOM-kill count recorded in the state directory `dir` (0: none recorded, or not a VM container).
pub fn read_oom_kills(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(OOM_KILLS))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_with_fds_and_replies_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut c = Client {
            reader: BufReader::new(a),
        };
        let devnull = std::fs::File::open("/dev/null").unwrap();
        c.send(
            &ShimRequest::Kill {
                signal: 15,
                all: true,
            },
            &[devnull.as_fd(), devnull.as_fd()],
        )
        .unwrap();
        let (req, fds) = recv_request(&b).unwrap();
        assert!(matches!(
            req,
            ShimRequest::Kill {
                signal: 15,
                all: true
            }
        ));
        assert_eq!(fds.len(), 2);
        send_reply(&b, &ShimReply::Pid(7)).unwrap();
        send_reply(&b, &ShimReply::Exited(137)).unwrap();
        assert_eq!(c.recv().unwrap(), ShimReply::Pid(7));
        assert_eq!(c.recv().unwrap(), ShimReply::Exited(137));
        drop(b);
        assert!(matches!(c.recv(), Err(Error::Closed)));
    }

    #[test]
    fn garbage_is_refused() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"{\"start\":1}\n").unwrap();
        let e = recv_request(&b).unwrap_err();
        assert!(e.to_string().contains("bad message"), "{e}");
    }

    #[test]
    fn long_state_dirs_get_a_short_socket_path() {
        let d = tempfile::tempdir().unwrap();
        let long = d.path().join("x".repeat(120));
        std::fs::create_dir(&long).unwrap();
        let l = with_socket_path(&long, |p| {
            assert!(p.as_os_str().len() <= MAX_SUN_PATH, "{}", p.display());
            std::os::unix::net::UnixListener::bind(p)
        })
        .unwrap();
        assert!(long.join(SOCKET).exists());
        let mut c = Client::connect(&long).unwrap();
        let (s, _) = l.accept().unwrap();
        send_reply(&s, &ShimReply::Ok).unwrap();
        assert_eq!(c.recv().unwrap(), ShimReply::Ok);
    }

    #[test]
    fn exit_status_file() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_exit_status(d.path()), None);
        write_exit_status(d.path(), 3).unwrap();
        assert_eq!(read_exit_status(d.path()), Some(3));
    }
}
