//! The receiving end of `--console-socket`: a Unix socket on which the runtime sends the pty master
//! of a `process.terminal` container (runc's protocol: one message, SCM_RIGHTS with the master fd,
//! the pty's name as data).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bundle::make_tempdir;

/// A listening Unix socket in its own temporary directory (removed on drop), for
/// `--console-socket <path()>`.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    _dir: TempDir,
}

impl ConsoleSocket {
    /// Binds `console.sock` in a fresh temporary directory. Panics on any error.
    pub fn new() -> ConsoleSocket {
        let dir = make_tempdir("holm-console-");
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("bind console socket `{}`: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("set console socket non-blocking: {e}"));
        ConsoleSocket {
            listener,
            path,
            _dir: dir,
        }
    }

    /// The socket path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and receives the pty master and its name (e.g. `/dev/pts/0`).
    /// Panics if nothing arrives within `timeout`, if the message carries no fd or more than
    /// one, or if the name is not UTF-8.
    pub fn recv_master(&self, timeout: Duration) -> (OwnedFd, String) {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        panic!(
                            "no connection on console socket `{}` within {timeout:?}",
                            self.path.display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept on console socket `{}`: {e}", self.path.display()),
            }
        };
        stream
            .set_nonblocking(false)
            .unwrap_or_else(|e| panic!("set console connection blocking: {e}"));
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        stream
            .set_read_timeout(Some(left))
            .unwrap_or_else(|e| panic!("set console connection timeout: {e}"));
        let mut buf = [0u8; 4096];
        let (n, mut fds) = holm_sys::socket::recv_with_fds(stream.as_fd(), &mut buf)
            .unwrap_or_else(|e| panic!("receive the pty master on `{}`: {e}", self.path.display()));
        if fds.len() != 1 {
            panic!(
                "console socket message carried {} fds (expected exactly 1), data {:?}",
                fds.len(),
                String::from_utf8_lossy(&buf[..n])
            );
        }
        let name = String::from_utf8(buf[..n].to_vec())
            .unwrap_or_else(|e| panic!("pty name is not UTF-8: {e}"));
        (fds.remove(0), name)
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Reads everything from a pty master until the terminal's last user closes it (the kernel then
/// reports `EIO`) or `timeout` passes; returns what was read (lossy UTF-8). Never panics on the
/// timeout: the caller asserts on the text.
pub fn read_pty_until_closed(master: OwnedFd, timeout: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut file = std::fs::File::from(master);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn receives_an_fd_and_its_name() {
        let sock = ConsoleSocket::new();
        assert!(sock.path().exists());
        let client = UnixStream::connect(sock.path()).unwrap();
        let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
        holm_sys::socket::send_with_fds(client.as_fd(), b"/dev/pts/7", &[w.as_fd()]).unwrap();
        let (fd, name) = sock.recv_master(Duration::from_secs(5));
        assert_eq!(name, "/dev/pts/7");
        std::io::Write::write_all(&mut std::fs::File::from(fd), b"hello").unwrap();
        drop(w);
        let mut got = [0u8; 5];
        (&r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn times_out_without_a_connection() {
        let sock = ConsoleSocket::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sock.recv_master(Duration::from_millis(50))
        }));
        assert!(r.is_err());
    }
}
