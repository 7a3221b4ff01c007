//! The shim's stdio relay threads: guest output to the streams' fds, host input to the guest, and the window size
//! of a terminal's host pty to the guest's pty.

use super::Shared;
use crate::session::{Output, Stdio};
use crate::shim_api::ShimReply;
use holm_vm_proto::HostFrame;
use oci_spec::runtime::{BoxBuilder, Process};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How often the terminal's window size is checked, and how often a stdin relay waiting for input checks whether
/// its process is still there.
const POLL: Duration = Duration::from_millis(100);

/// Writes the guest's output frames to the streams' stdout/stderr fds and records their ends, until the stdio port
/// closes; a protocol violation kills the VM.
pub(super) fn stdio_thread(sh: &Shared, mut stdio: Stdio<UnixStream, std::io::Sink>) {
    loop {
        match stdio.next_output() {
            Ok(Some(out)) => {
                let mut g = sh.lock();
                match out {
                    Output::Stdout(s, data) => {
                        if let Some((Some(f), _)) = g.outputs.get_mut(&s) {
                            let _ = f.write_all(&data);
                        }
                    }
                    Output::Stderr(s, data) => {
                        if let Some((_, Some(f))) = g.outputs.get_mut(&s) {
                            let _ = f.write_all(&data);
                        }
                    }
                    Output::End(s) => {
                        g.outputs.remove(&s);
                        g.ended.insert(s);
                        sh.cond.notify_all();
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                sh.log(&format!("stdio port: {e}"));
                if e.is_violation() {
                    let _ = holm_sys::process::kill(sh.vmm, libc::SIGKILL);
                }
                break;
            }
        }
    }
}

/// `stream`'s process has exited or its output ended, or the VM is gone: its relays stop.
fn stream_done(sh: &Shared, stream: u32) -> bool {
    let g = sh.lock();
    g.vm_gone || g.ended.contains(&stream) || g.exits.contains_key(&stream)
}

/// Passes a terminal's size on to the guest's pty of `stream`: the host pty's peer here (`peer`) is no process's
/// controlling terminal, so no SIGWINCH tells of a change; its size is read every [`POLL`] instead (the first
/// time at once, unless it is `sent`, the size the guest's pty was created with), until the stream's output ended,
/// its process exited or the VM is gone.
pub(super) fn resize_thread(sh: &Shared, stream: u32, peer: File, sent: Option<(u16, u16)>) {
    let mut sent = sent;
    loop {
        if stream_done(sh, stream) {
            return;
        }
        match holm_sys::tty::get_winsize(peer.as_fd()) {
            Ok(size) if size != (0, 0) && Some(size) != sent => {
                let (rows, cols) = size;
                let reply = sh.call(Box::new(move |c| {
                    c.resize(stream, rows, cols).map(|_| ShimReply::Ok)
                }));
                // Tried once per size (a failure is logged, not retried until the size changes again).
                sent = Some(size);
                if reply != ShimReply::Ok {
                    sh.log(&format!(
                        "stream {stream}: resize to {rows}x{cols}: {reply:?}"
                    ));
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
        std::thread::sleep(POLL);
    }
}

/// Sets `process.consoleSize` (the size the guest's pty is created with) to the window size of `peer`, the host
/// pty's peer a terminal exec's stdio is, when that is known (not 0x0); returns it as (rows, columns). Without it
/// the guest's pty started at 0x0 until [`resize_thread`]'s first resize, which only comes once the process runs:
/// a process reading its size at once (`stty size`) could see 0x0.
pub(super) fn take_host_size(process: &mut Process, peer: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let (rows, cols) = holm_sys::tty::get_winsize(peer)
        .ok()
        .filter(|s| s.0 > 0 && s.1 > 0)?;
    let size = BoxBuilder::default()
        .height(u64::from(rows))
        .width(u64::from(cols))
        .build()
        .ok()?;
    process.set_console_size(Some(size));
    Some((rows, cols))
}

/// Copies `input` to `stream`'s stdin in the guest until end of file, then closes it there. Stops reading as soon
/// as the process is gone (checked every [`POLL`] while no input comes): the fd may be a terminal or pipe that
/// outlives the process (the caller's own terminal, a pty peer), whose later input is not the process's.
pub(super) fn stdin_thread(sh: &Shared, stream: u32, mut input: File) {
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match holm_sys::process::poll_readable(input.as_fd(), POLL.as_millis() as i32) {
            Ok(true) => {}
            Ok(false) => {
                if stream_done(sh, stream) {
                    return;
                }
                continue;
            }
            Err(_) => break,
        }
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let frame = HostFrame::Stdin {
            stream,
            data: buf[..n].to_vec(),
        };
        let mut w = sh.stdin_writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.write(&frame).is_err() {
            return;
        }
    }
    let mut w = sh.stdin_writer.lock().unwrap_or_else(|p| p.into_inner());
    let _ = w.write(&HostFrame::StdinClose { stream });
}

/// Kills (`SIGKILL`) an exec's process in the guest when its client goes away first: the host process that stands
/// for it (a foreground `exec`, or a detached exec's child) was killed, e.g. by an engine's healthcheck timeout,
/// and nobody could wait for it or signal it any more. Only that process, as docker kills only an exec's process
/// at a healthcheck timeout. Returns after the kill, or once the process exited or the VM is gone (checked every
/// [`POLL`] while the client is quiet).
pub(super) fn hangup_thread(sh: &Shared, stream: u32, mut peer: UnixStream) {
    let exited = || {
        let g = sh.lock();
        g.vm_gone || g.exits.contains_key(&stream)
    };
    let mut b = [0u8; 256];
    loop {
        match holm_sys::process::poll_readable(peer.as_fd(), POLL.as_millis() as i32) {
            Ok(true) => {}
            Ok(false) => {
                if exited() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        // The client sends nothing after its request: data is ignored, end of file or an error is the hang-up.
        match peer.read(&mut b) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    if exited() {
        return;
    }
    sh.log(&format!(
        "exec stream {stream}: the client went away: killing its process"
    ));
    let reply = sh.call(Box::new(move |c| {
        c.signal(libc::SIGKILL, false, Some(stream))
            .map(|_| ShimReply::Ok)
    }));
    if reply != ShimReply::Ok {
        sh.log(&format!("exec stream {stream}: kill: {reply:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::OpenOptionsExt;

    fn pty() -> (OwnedFd, OwnedFd) {
        let master: OwnedFd = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/dev/ptmx")
            .expect("open /dev/ptmx")
            .into();
        let (peer, _) = holm_sys::tty::open_peer(master.as_fd()).expect("pty peer");
        (master, peer)
    }

    fn size(p: &Process) -> Option<(u64, u64)> {
        p.console_size().map(|b| (b.height(), b.width()))
    }

    #[test]
    fn a_terminal_exec_starts_with_the_host_ptys_size() {
        let (_m, peer) = pty();
        holm_sys::tty::set_winsize(peer.as_fd(), 0, 0).unwrap();
        let mut p = Process::default();
        // Unknown (0x0): the process's own consoleSize (none here) stays.
        assert_eq!(take_host_size(&mut p, peer.as_fd()), None);
        assert_eq!(size(&p), None);
        holm_sys::tty::set_winsize(peer.as_fd(), 33, 111).unwrap();
        assert_eq!(take_host_size(&mut p, peer.as_fd()), Some((33, 111)));
        assert_eq!(size(&p), Some((33, 111)));
        // The host pty's size wins over a consoleSize inherited from the container's config.
        holm_sys::tty::set_winsize(peer.as_fd(), 40, 100).unwrap();
        assert_eq!(take_host_size(&mut p, peer.as_fd()), Some((40, 100)));
        assert_eq!(size(&p), Some((40, 100)));
        // Not a terminal: nothing.
        let (r, _w) = std::io::pipe().unwrap();
        let mut q = Process::default();
        assert_eq!(take_host_size(&mut q, r.as_fd()), None);
        assert_eq!(size(&q), None);
    }
}
