//! Terminals (runtime-spec `config.md#process`: `terminal`, `consoleSize`; runc's `--console-socket`).
//!
//! Inside the container (init or `exec`): a pty is opened on the container's own devpts (`/dev/ptmx` of the
//! current root), its master is sent over the console socket with `SCM_RIGHTS` and the pty's name as data (runc's
//! protocol, what containerd and podman's conmon expect), and the peer becomes the controlling terminal and stdio.
//! For the container init the peer is also bind-mounted onto `/dev/console`, as runc does.
//!
//! On the host: when `run` or `exec` in the foreground wants a terminal but has no `--console-socket`, the runtime
//! receives the master itself and relays it to its own stdin/stdout ([`Relay`]), with its terminal in raw mode
//! and window size changes passed on, as runc does.

use crate::{resolve, Error, Result};
use oci_spec::runtime::Process;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Opens a new pty on the devpts behind `/dev/ptmx` of the current root; returns (master, peer, pty number). The
/// window size is `process.consoleSize` when set.
fn open_pty(p: &Process) -> Result<(OwnedFd, OwnedFd, u32)> {
    let master: OwnedFd = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")
        .map_err(|e| Error::io("open", "/dev/ptmx", e))?
        .into();
    let (peer, num) = holm_sys::tty::open_peer(master.as_fd())?;
    // The pty belongs to the process's user (runc: its stdio is chowned to the user), so it can use its terminal
    // (`tty`, `stty`, ssh-like programs check the owner). The group stays devpts's (`gid=5`, tty).
    // As runc: an id the user namespace does not map (EINVAL) or a pty owner it cannot change (EPERM) leaves the
    // owner as it is rather than failing the container.
    match holm_sys::fs::fchownat(peer.as_fd(), Path::new(""), p.user().uid(), u32::MAX) {
        Err(e) if e.errno() == libc::EINVAL || e.errno() == libc::EPERM => {
            log::debug!("pty owner left as is: {e}");
        }
        r => r?,
    }
    if let Some(size) = p.console_size() {
        holm_sys::tty::set_winsize(peer.as_fd(), size.height() as u16, size.width() as u16)?;
    }
    Ok((master, peer, num))
}

/// Sends the master and makes the peer the caller's controlling terminal and stdin/stdout/stderr.
fn hand_over(sock: &UnixStream, master: OwnedFd, peer: &OwnedFd, num: u32) -> Result<()> {
    let name = format!("/dev/pts/{num}");
    holm_sys::socket::send_with_fds(sock.as_fd(), name.as_bytes(), &[master.as_fd()])?;
    drop(master);
    holm_sys::process::setsid()?;
    holm_sys::tty::set_controlling(peer.as_fd())?;
    for fd in 0..3 {
        holm_sys::fs::dup_onto(peer.as_fd(), fd)?;
    }
    Ok(())
}

/// The container init's terminal (after `pivot_root`): a pty whose peer is also bind-mounted onto `/dev/console`
/// (created as an empty file if missing; an existing node is only ever opened `O_PATH`, never as a device).
pub fn setup_init(sock: &UnixStream, p: &Process) -> Result<()> {
    let (master, peer, num) = open_pty(p)?;
    mount_console(peer.as_fd())?;
    hand_over(sock, master, &peer, num)
}

/// An exec'd process's terminal: a pty of the container's devpts, without touching `/dev/console`.
pub fn setup_tenant(sock: &UnixStream, p: &Process) -> Result<()> {
    let (master, peer, num) = open_pty(p)?;
    hand_over(sock, master, &peer, num)
}

fn mount_console(peer: BorrowedFd<'_>) -> Result<()> {
    let root = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/")
        .map_err(|e| Error::io("open", "/", e))?;
    let console = Path::new("/dev/console");
    let target = match resolve::open(root.as_fd(), console, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Error::Sys(e)) if e.errno() == libc::ENOENT => resolve::touch(root.as_fd(), console)?,
        Err(e) => return Err(e),
    };
    holm_sys::mount::mount(
        Some(&holm_sys::fs::fd_path(peer)),
        &holm_sys::fs::fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
        "/dev/console",
    )?;
    Ok(())
}

/// The runtime's own end of a terminal it made for a foreground `run`/`exec` without `--console-socket`: receives
/// the pty master, puts the runtime's terminal (if stdin is one) in raw mode, and copies stdin to the master and
/// the master to stdout until the process exits. Restores the terminal when dropped.
///
/// Writes are blocking: input is not buffered beyond the pty's own buffer.
#[derive(Debug)]
pub struct Relay {
    ours: Option<UnixStream>,
    theirs: Option<UnixStream>,
    listener: Option<(std::os::unix::net::UnixListener, std::path::PathBuf)>,
    master: Option<File>,
    stdin: Option<File>,
    stdout: File,
    raw: Option<holm_sys::tty::Termios>,
}

impl Relay {
    /// A socket pair for the master, and our copies of stdin and stdout.
    pub fn new() -> Result<Relay> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| Error::io("socketpair", "console relay", e))?;
        Ok(Relay {
            ours: Some(ours),
            theirs: Some(theirs),
            listener: None,
            master: None,
            stdin: holm_sys::fs::dup_raw(0).ok().map(File::from),
            stdout: File::from(holm_sys::fs::dup_raw(1)?),
            raw: None,
        })
    }

    /// A relay that receives the master on a listening socket, for `create`'s `--console-socket` (used by a
    /// foreground `run`): the socket lives in a new 0700 directory under the temporary directory, removed when the
    /// relay starts or is dropped. Returns the relay and the socket path.
    pub fn listen() -> Result<(Relay, std::path::PathBuf)> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "holm-console-{}-{nanos}",
            holm_sys::process::getpid()
        ));
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .map_err(|e| Error::io("create console socket directory", &dir, e))?;
        let path = dir.join("console.sock");
        let listener = match std::os::unix::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(Error::io("bind console socket", &path, e));
            }
        };
        let relay = Relay {
            ours: None,
            theirs: None,
            listener: Some((listener, dir)),
            master: None,
            stdin: holm_sys::fs::dup_raw(0).ok().map(File::from),
            stdout: File::from(holm_sys::fs::dup_raw(1)?),
            raw: None,
        };
        Ok((relay, path))
    }

    fn remove_socket_dir(&mut self) {
        if let Some((l, dir)) = self.listener.take() {
            drop(l);
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// The end the container side sends the master on (a new handle each call).
    pub fn container_end(&self) -> Result<UnixStream> {
        self.theirs
            .as_ref()
            .ok_or_else(|| Error::Init("console relay: already started".into()))?
            .try_clone()
            .map_err(|e| Error::io("dup", "console relay socket", e))
    }

    /// Receives the master (sent before the process was executed), sizes it like our terminal and makes our
    /// terminal raw.
    pub fn start(&mut self) -> Result<()> {
        self.theirs = None;
        if let Some((l, dir)) = &self.listener {
            // The container init connected and sent the master during `create`: accepting does not block.
            let (stream, _) = l
                .accept()
                .map_err(|e| Error::io("accept on console socket", dir, e))?;
            self.ours = Some(stream);
        }
        self.remove_socket_dir();
        let ours = self
            .ours
            .as_ref()
            .ok_or_else(|| Error::Init("console relay: no socket".into()))?;
        let mut buf = [0u8; 256];
        let (_, mut fds) = holm_sys::socket::recv_with_fds(ours.as_fd(), &mut buf)?;
        if fds.len() != 1 {
            return Err(Error::Init(
                "console relay: the container sent no pty master".into(),
            ));
        }
        self.master = Some(File::from(fds.remove(0)));
        self.resize();
        if let Some(stdin) = &self.stdin {
            if holm_sys::tty::is_terminal(stdin.as_fd()) {
                self.raw = Some(holm_sys::tty::make_raw(stdin.as_fd())?);
            }
        }
        Ok(())
    }

    /// Our terminal's window size as (rows, columns): stdin's, else stdout's; `None` when neither is a terminal
    /// or the size is unknown (0x0).
    pub fn terminal_size(&self) -> Option<(u16, u16)> {
        [
            self.stdin.as_ref().map(|f| f.as_fd()),
            Some(self.stdout.as_fd()),
        ]
        .into_iter()
        .flatten()
        .find_map(|fd| holm_sys::tty::get_winsize(fd).ok())
        .filter(|s| s.0 > 0 && s.1 > 0)
    }

    /// Copies our terminal's window size to the pty (on start and on `SIGWINCH`).
    pub fn resize(&self) {
        let Some(m) = &self.master else { return };
        if let Some((rows, cols)) = self.terminal_size() {
            let _ = holm_sys::tty::set_winsize(m.as_fd(), rows, cols);
        }
    }

    /// The fds to poll for input: stdin (until EOF), then the master (until it hangs up).
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        [self.stdin.as_ref(), self.master.as_ref()]
            .into_iter()
            .flatten()
            .map(|f| f.as_fd())
            .collect()
    }

    /// Moves data for the fds [`Relay::poll_fds`] returned that `ready` marks readable.
    pub fn pump(&mut self, ready: &[bool]) -> Result<()> {
        use std::io::{Read, Write};
        let mut i = 0;
        let mut buf = [0u8; 16 * 1024];
        if self.stdin.is_some() {
            if ready.get(i) == Some(&true) {
                let n = self.stdin.as_mut().map_or(Ok(0), |f| f.read(&mut buf));
                match (n, self.master.as_mut()) {
                    (Ok(n), Some(m)) if n > 0 => {
                        let _ = m.write_all(&buf[..n]);
                    }
                    (_, m) => {
                        // EOF (or an error) on stdin: pass on an end-of-file character, as a user typing ^D would.
                        self.stdin = None;
                        if let Some(m) = m {
                            let _ = m.write_all(&[4]);
                        }
                    }
                }
            }
            i += 1;
        }
        if self.master.is_some() && ready.get(i) == Some(&true) {
            self.copy_out(&mut buf);
        }
        Ok(())
    }

    /// Copies what the master has now to stdout; forgets the master once every peer has closed it (EIO).
    fn copy_out(&mut self, buf: &mut [u8]) {
        use std::io::{Read, Write};
        let Some(m) = self.master.as_mut() else {
            return;
        };
        match m.read(buf) {
            Ok(n) if n > 0 => {
                let _ = self.stdout.write_all(&buf[..n]);
            }
            _ => self.master = None,
        }
    }

    /// After the process exited: copies whatever output is still buffered in the pty.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        while let Some(m) = &self.master {
            if !holm_sys::process::poll_readable(m.as_fd(), 0).unwrap_or(false) {
                break;
            }
            self.copy_out(&mut buf);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.remove_socket_dir();
        if let (Some(t), Some(stdin)) = (&self.raw, &self.stdin) {
            let _ = holm_sys::tty::restore_attrs(stdin.as_fd(), t);
        } else if let Some(t) = &self.raw {
            if let Ok(fd) = holm_sys::fs::dup_raw(0) {
                let _ = holm_sys::tty::restore_attrs(fd.as_fd(), t);
            }
        }
    }
}

/// For a foreground `run`: a listening [`Relay`] and its socket path when the bundle's process wants a terminal
/// and no `--console-socket` was given; `None` otherwise (including when the config cannot be read: `create`
/// reports that).
pub fn relay_for_run(
    opts: &crate::CreateOptions,
    detach: bool,
) -> Result<Option<(Relay, std::path::PathBuf)>> {
    if detach || opts.console_socket.is_some() {
        return Ok(None);
    }
    let terminal = crate::spec::load(&opts.bundle)
        .ok()
        .and_then(|b| b.spec.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false);
    if terminal {
        Relay::listen().map(Some)
    } else {
        Ok(None)
    }
}
