//! The control socket between `holm` and a container's monitor (a Unix stream socket pair; the monitor's end is
//! its standard input when it starts).
//!
//! 1. holm → monitor, one message: `attach\n` with two fds (`SCM_RIGHTS`: where the container's stdout and stderr
//!    are copied, besides the log) or three (the third: `-i`'s stdin, copied to the container), or `detach\n`;
//!    later only `resize ROWS COLS\n` lines (`-t`: holm's terminal changed size).
//! 2. monitor → holm, lines: `started PID`, or `failed CODE MESSAGE` (the container did not start; CODE is the
//!    exit code docker uses: 125, 126 or 127); later `exited CODE` once the process ended, was recorded and (with
//!    `--rm`) removed. EOF without `exited` means the monitor died.

use crate::{Error, Result};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// A message from the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMonitor {
    /// The process runs; the init's host pid.
    Started(i32),
    /// The process could not be started.
    Failed {
        /// docker's exit code for the failure.
        code: i32,
        /// Why.
        msg: String,
    },
    /// The process ended with this code (128+N for signal N).
    Exited(i32),
}

/// Sends a message to `holm` (best effort: holm may be gone).
pub fn send(sock: &UnixStream, msg: &FromMonitor) {
    let line = match msg {
        FromMonitor::Started(pid) => format!("started {pid}\n"),
        FromMonitor::Failed { code, msg } => format!("failed {code} {}\n", msg.replace('\n', " ")),
        FromMonitor::Exited(code) => format!("exited {code}\n"),
    };
    let _ = (&*sock).write_all(line.as_bytes());
}

/// Reads one message (byte by byte, so nothing is buffered past it and the socket can be polled). `None` at EOF.
pub fn read(sock: &UnixStream) -> Result<Option<FromMonitor>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match (&*sock).read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read from monitor")(e)),
        }
    }
    let line = String::from_utf8_lossy(&line);
    let bad = || Error::Monitor {
        id: String::new(),
        msg: format!("unexpected message {line:?}"),
    };
    let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
    Ok(Some(match word {
        "started" => FromMonitor::Started(rest.parse().map_err(|_| bad())?),
        "exited" => FromMonitor::Exited(rest.parse().map_err(|_| bad())?),
        "failed" => {
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            FromMonitor::Failed {
                code: code.parse().map_err(|_| bad())?,
                msg: msg.to_string(),
            }
        }
        _ => return Err(bad()),
    }))
}

/// holm → monitor: attach these (stdout, stderr), or detach.
pub fn send_attach(sock: &UnixStream, out: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>) -> Result<()> {
    send_attach_stdin(sock, out, None)
}

/// holm → monitor: attach these (stdout, stderr) and, for `-i`, the stdin the monitor copies to the container.
pub fn send_attach_stdin(
    sock: &UnixStream,
    out: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
    stdin: Option<BorrowedFd<'_>>,
) -> Result<()> {
    match (out, stdin) {
        (Some((o, e)), Some(i)) => {
            holm_sys::socket::send_with_fds(sock.as_fd(), b"attach\n", &[o, e, i])?
        }
        (Some((o, e)), None) => {
            holm_sys::socket::send_with_fds(sock.as_fd(), b"attach\n", &[o, e])?
        }
        (None, _) => holm_sys::socket::send_with_fds(sock.as_fd(), b"detach\n", &[])?,
    }
    Ok(())
}

/// holm → monitor after attaching (`-t`): the terminal's new size.
pub fn send_resize(sock: &UnixStream, rows: u16, cols: u16) {
    let _ = (&*sock).write_all(format!("resize {rows} {cols}\n").as_bytes());
}

pub use holm_monitor::supervise::parse_resize;

/// The monitor's side of [`send_attach`]: the fds to copy output to (empty when detached).
pub fn recv_attach(sock: &UnixStream) -> Result<Vec<OwnedFd>> {
    let mut buf = [0u8; 16];
    let (n, fds) = holm_sys::socket::recv_with_fds(sock.as_fd(), &mut buf)?;
    if n == 0 {
        return Err(Error::Monitor {
            id: String::new(),
            msg: "holm closed the control socket before attaching".into(),
        });
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        for m in [
            FromMonitor::Started(42),
            FromMonitor::Failed {
                code: 127,
                msg: "exec: \"nope\": not found\nmore".into(),
            },
            FromMonitor::Exited(137),
        ] {
            send(&a, &m);
            let got = read(&b).unwrap().unwrap();
            match (&m, &got) {
                (FromMonitor::Failed { code, .. }, FromMonitor::Failed { code: c2, msg }) => {
                    assert_eq!(code, c2);
                    assert_eq!(msg, "exec: \"nope\": not found more");
                }
                _ => assert_eq!(m, got),
            }
        }
        drop(a);
        assert_eq!(read(&b).unwrap(), None);
    }

    #[test]
    fn attach_passes_fds() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        send_attach(&a, Some((w.as_fd(), w.as_fd()))).unwrap();
        assert_eq!(recv_attach(&b).unwrap().len(), 2);
        send_attach(&a, None).unwrap();
        assert!(recv_attach(&b).unwrap().is_empty());
        drop(r);
    }
}
