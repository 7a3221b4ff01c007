//! Terminals for `holm run -t`: the monitor receives the container's pty master over the runtime's console
//! socket (runc's protocol: holm-container connects to the socket at `create` and sends the master with
//! `SCM_RIGHTS`), and the foreground `holm` puts its own terminal in raw mode while it is attached.

use crate::{Error, Result};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A listening console socket under the runroot (a short path: `sun_path` holds 108 bytes), removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds `<runroot>/console-<short id>-<pid>.sock`.
    pub fn bind(runroot: &Path, id: &str) -> Result<ConsoleSocket> {
        std::fs::create_dir_all(runroot)
            .map_err(Error::io(format!("create {}", runroot.display())))?;
        let path = runroot.join(format!(
            "console-{}-{}.sock",
            &id[..12.min(id.len())],
            holm_sys::process::getpid()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(Error::io(format!("bind console socket {}", path.display())))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The socket's path (for `CreateOptions::console_socket`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// After `create`: accepts the runtime's connection (made during `create`, so this does not block) and
    /// receives the pty master.
    pub fn receive(self) -> Result<OwnedFd> {
        let (stream, _) = self
            .listener
            .accept()
            .map_err(Error::io(format!("accept on {}", self.path.display())))?;
        let mut buf = [0u8; 256];
        let (_, mut fds) = holm_sys::socket::recv_with_fds(stream.as_fd(), &mut buf)?;
        if fds.len() != 1 {
            return Err(Error::Io {
                what: format!("console socket {}", self.path.display()),
                source: std::io::Error::other("the runtime sent no pty master"),
            });
        }
        Ok(fds.remove(0))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// holm's terminal in raw mode while attached to a `-t` container; restored on drop.
pub struct RawTerminal {
    fd: OwnedFd,
    saved: holm_sys::tty::Termios,
}

impl RawTerminal {
    /// Puts `fd` (a terminal) in raw mode.
    pub fn new(fd: std::os::fd::BorrowedFd<'_>) -> Result<RawTerminal> {
        let fd = fd
            .try_clone_to_owned()
            .map_err(Error::io("dup the terminal"))?;
        let saved = holm_sys::tty::make_raw(fd.as_fd())?;
        Ok(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = holm_sys::tty::restore_attrs(self.fd.as_fd(), &self.saved);
    }
}
