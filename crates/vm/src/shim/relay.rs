//! The shim's stdio relay threads: guest output to the streams' fds, host input to the guest, and the window size
//! of a terminal's host pty to the guest's pty.

use super::Shared;
use crate::session::{Output, Stdio};
use crate::shim_api::ShimReply;
use holm_vm_proto::HostFrame;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
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
/// time at once), until the stream's output ended, its process exited or the VM is gone.
pub(super) fn resize_thread(sh: &Shared, stream: u32, peer: File) {
    let mut sent = None;
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
