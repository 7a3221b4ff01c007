//! The container's processes as the agent relays them: their stdio plumbing (pipes, or a pty whose master comes
//! over a console socket as with runc's `--console-socket`), and their exit.

use holm_vm_proto::ExitStatus;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A plumbing failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{0}")]
    Sys(#[from] holm_sys::Error),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The console socket received no pty master.
    #[error("console socket `{0}`: no pty master was sent")]
    NoMaster(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Which output a readable fd carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// stdout, or a terminal.
    Stdout,
    /// stderr.
    Stderr,
}

/// One relayed process.
#[derive(Debug)]
pub struct Proc {
    /// Its stream id.
    pub stream: u32,
    /// Its guest pid (0 until known).
    pub pid: i32,
    /// Where its stdin goes (pipe or pty master); `None` once closed.
    pub stdin: Option<File>,
    /// Its open outputs.
    pub outputs: Vec<(File, Out)>,
    /// The pty master, for resize.
    pub master: Option<File>,
    /// Stdin bytes received from the host and not yet written (the stdin fd is non-blocking).
    pub pending: Vec<u8>,
    /// Close stdin once `pending` is written (the host sent `StdinClose`).
    pub close_when_drained: bool,
    /// How it ended, once reaped.
    pub status: Option<ExitStatus>,
    /// `OutputEnd` was sent.
    pub output_ended: bool,
}

impl Proc {
    /// Reads at most `buf.len()` bytes of output `i`; `Ok(0)` means that output ended (EOF, or `EIO` of a pty
    /// whose other side closed) and it is dropped.
    pub fn read_output(&mut self, i: usize, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.outputs[i].0.read(buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => 0,
            // A pty master shares its (non-blocking) open file with the stdin side.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(usize::MAX),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(usize::MAX),
            Err(e) => return Err(e),
        };
        if n == 0 {
            self.outputs.remove(i);
        }
        Ok(n)
    }
}

impl Proc {
    /// Writes as much pending stdin as the fd takes now; on `EPIPE` (the process closed its stdin) the rest is
    /// dropped. Closes stdin when asked and drained.
    pub fn flush_stdin(&mut self) {
        use std::io::Write;
        while !self.pending.is_empty() {
            let Some(w) = &mut self.stdin else {
                self.pending.clear();
                break;
            };
            match w.write(&self.pending) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stdin = None;
                    self.pending.clear();
                }
            }
        }
        if self.pending.is_empty() && self.close_when_drained {
            self.stdin = None;
            self.close_when_drained = false;
        }
    }
}

/// Converts a wait status.
pub fn exit_status(ws: holm_sys::process::WaitStatus) -> Option<ExitStatus> {
    use holm_sys::process::WaitStatus as W;
    match ws {
        W::Exited(c) => Some(ExitStatus::Code(c as u8)),
        W::Signaled(s) => Some(ExitStatus::Signal(s as u8)),
        W::StillAlive => None,
    }
}

/// Runs `spawn` (holm-container's create or exec) with the new process's stdio prepared: with `tty`, a console
/// socket path is passed and the pty master received afterwards; without, three pipes are put on fds 0–2 for the
/// duration of the call (holm-container's children inherit them, as runc's do) and the agent's own are restored.
pub fn spawn_with_stdio<T>(
    stream: u32,
    tty: bool,
    spawn: impl FnOnce(Option<&Path>) -> Result<T, holm_container::Error>,
) -> Result<(T, Proc), SpawnError> {
    let saved: Vec<OwnedFd> = (0..3)
        .map(holm_sys::fs::dup_raw)
        .collect::<Result<_, _>>()
        .map_err(Error::from)?;
    let restore = |saved: &[OwnedFd]| {
        for (i, fd) in saved.iter().enumerate() {
            let _ = holm_sys::fs::dup_onto(fd.as_fd(), i as i32);
        }
    };
    if tty {
        let dir = PathBuf::from("/run/holm");
        std::fs::create_dir_all(&dir).map_err(io("create /run/holm"))?;
        let path = dir.join(format!("console-{stream}.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(io(format!("bind {}", path.display())))?;
        let null = File::open("/dev/null").map_err(io("open /dev/null"))?;
        for i in 0..3 {
            holm_sys::fs::dup_onto(null.as_fd(), i).map_err(Error::from)?;
        }
        let r = spawn(Some(&path));
        restore(&saved);
        let _ = std::fs::remove_file(&path);
        let t = r.map_err(SpawnError::Container)?;
        // The container side connected and sent the master before create/exec returned: nothing blocks here.
        listener
            .set_nonblocking(true)
            .map_err(io("console socket"))?;
        let (sock, _) = listener
            .accept()
            .map_err(io(format!("accept on {}", path.display())))?;
        sock.set_nonblocking(false).map_err(io("console socket"))?;
        let mut buf = [0u8; 256];
        let (_, mut fds) =
            holm_sys::socket::recv_with_fds(sock.as_fd(), &mut buf).map_err(Error::from)?;
        if fds.len() != 1 {
            return Err(Error::NoMaster(path).into());
        }
        let master = File::from(fds.remove(0));
        holm_sys::fs::set_nonblocking(master.as_fd(), true).map_err(Error::from)?;
        let stdin = master.try_clone().map_err(io("dup pty master"))?;
        let out = master.try_clone().map_err(io("dup pty master"))?;
        return Ok((
            t,
            Proc {
                stream,
                pid: 0,
                stdin: Some(stdin),
                outputs: vec![(out, Out::Stdout)],
                master: Some(master),
                pending: Vec::new(),
                close_when_drained: false,
                status: None,
                output_ended: false,
            },
        ));
    }
    let (in_r, in_w) = std::io::pipe().map_err(io("pipe"))?;
    let (out_r, out_w) = std::io::pipe().map_err(io("pipe"))?;
    let (err_r, err_w) = std::io::pipe().map_err(io("pipe"))?;
    let theirs: [OwnedFd; 3] = [in_r.into(), out_w.into(), err_w.into()];
    for (i, fd) in theirs.iter().enumerate() {
        holm_sys::fs::dup_onto(fd.as_fd(), i as i32).map_err(Error::from)?;
    }
    let r = spawn(None);
    restore(&saved);
    drop(theirs);
    let t = r.map_err(SpawnError::Container)?;
    holm_sys::fs::set_nonblocking(in_w.as_fd(), true).map_err(Error::from)?;
    Ok((
        t,
        Proc {
            stream,
            pid: 0,
            stdin: Some(File::from(OwnedFd::from(in_w))),
            outputs: vec![
                (File::from(OwnedFd::from(out_r)), Out::Stdout),
                (File::from(OwnedFd::from(err_r)), Out::Stderr),
            ],
            master: None,
            pending: Vec::new(),
            close_when_drained: false,
            status: None,
            output_ended: false,
        },
    ))
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Plumbing failed.
    #[error("{0}")]
    Plumbing(#[from] Error),
    /// holm-container refused or failed.
    #[error("{0}")]
    Container(holm_container::Error),
}
