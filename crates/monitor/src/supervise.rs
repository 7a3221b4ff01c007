//! The monitor's steady state: copies the container's output to its log file and an attached client, an attached
//! client's input to the container, and waits for the init to exit. A single thread around `poll(2)`, with one
//! 16 KiB buffer on the stack.

use crate::log::{LogWriter, Stream};
use holm_sys::process::WaitStatus;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The container's stdio as the monitor holds it.
#[derive(Debug)]
pub struct Io {
    /// Read end of the container's stdout pipe.
    pub out: OwnedFd,
    /// Read end of the container's stderr pipe.
    pub err: OwnedFd,
    /// `-t`: the pty master (the container's stdin, stdout and stderr).
    pub master: Option<OwnedFd>,
    /// `-i` without `-t`: the write end of the container's stdin pipe.
    pub stdin: Option<OwnedFd>,
    /// Attached client: its stdout, stderr and (`-i`) stdin.
    pub attach: Vec<OwnedFd>,
    /// Sockets holding the published host ports (kept open until the container's end).
    pub ports: Vec<OwnedFd>,
}

/// The container's healthcheck, run by the monitor (no daemon): every `interval` after the previous check ended
/// (and `interval` after the start), `argv` (holm's `__health ID`, which runs one check in the container and
/// records it) is started as a new process. One that runs past `timeout` + 10 s is killed (the check enforces
/// `timeout` itself); a running one is killed when the container's init exits.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The command (argv\[0\] is the program's path).
    pub argv: Vec<String>,
    /// From the end of one check to the start of the next.
    pub interval: Duration,
    /// The check's timeout.
    pub timeout: Duration,
}

/// A check that runs.
struct Running {
    child: std::process::Child,
    pidfd: Option<OwnedFd>,
    deadline: Instant,
}

impl Probe {
    fn start(&self) -> Option<Running> {
        let (prog, args) = self.argv.split_first()?;
        let child = std::process::Command::new(prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let pidfd = holm_sys::process::pidfd_open(child.id() as i32).ok();
        Some(Running {
            child,
            pidfd,
            deadline: Instant::now() + self.timeout + Duration::from_secs(10),
        })
    }
}

impl Running {
    /// Kills and reaps it.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds from now until `t` (0 if past), for `poll`.
fn ms_until(t: Instant) -> i32 {
    t.saturating_duration_since(Instant::now())
        .as_millis()
        .min(i32::MAX as u128) as i32
}

/// Parses a `resize ROWS COLS` line (holm → monitor on the control socket, `-t`).
pub fn parse_resize(line: &[u8]) -> Option<(u16, u16)> {
    let s = std::str::from_utf8(line).ok()?.trim();
    let mut w = s.strip_prefix("resize ")?.split(' ');
    let rows = w.next()?.parse().ok()?;
    let cols = w.next()?.parse().ok()?;
    Some((rows, cols))
}

/// Copies output until the init (`pid`, a child of this process) has exited and the pipes (and pty) are drained,
/// and an attached client's input to the container; `ctl` is the control socket while holm is attached (its EOF
/// means detach; it carries `resize` lines). Everything in `io` is closed on return (the published ports are
/// released). With `probe`, runs the container's healthcheck meanwhile (see [`Probe`]). Returns the exit code
/// (128+N for signal N; 255 if it cannot be known).
pub fn supervise(
    pid: i32,
    io: Io,
    mut ctl: Option<UnixStream>,
    mut log: Option<LogWriter>,
    probe: Option<Probe>,
) -> i32 {
    let mut next_probe = probe.as_ref().map(|p| Instant::now() + p.interval);
    let mut running: Option<Running> = None;
    let pidfd = holm_sys::process::pidfd_open(pid).ok();
    // Output sources: 0 stdout pipe, 1 stderr pipe, 4 pty master (logged as stdout).
    let mut pipes = [Some(File::from(io.out)), Some(File::from(io.err))];
    let mut master = io.master.map(File::from);
    let mut stdin_w = io.stdin.map(File::from);
    let mut attach: Vec<File> = io.attach.into_iter().map(File::from).collect();
    let _ports = io.ports;
    // The client's stdin (`-i`): the third attached fd.
    let mut client_in = if attach.len() > 2 { attach.pop() } else { None };
    let mut ctl_buf = Vec::new();
    let mut status: Option<WaitStatus> = None;
    let mut buf = [0u8; 16 * 1024];
    // Which slot each polled fd is: 0/1 pipes, 2 control socket, 3 pidfd, 4 master, 5 client stdin, 6 the
    // running healthcheck's pidfd.
    let mut slots = Vec::with_capacity(7);
    loop {
        if status.is_some() {
            // The container is gone: so is its healthcheck.
            if let Some(r) = running.take() {
                r.kill();
            }
            next_probe = None;
        }
        if status.is_some() && pipes.iter().all(Option::is_none) && master.is_none() {
            break;
        }
        // The healthcheck: start it when due, kill it when it overran.
        if let (Some(p), None, Some(due)) = (&probe, &running, next_probe) {
            if Instant::now() >= due {
                running = p.start();
                if running.is_none() {
                    next_probe = Some(Instant::now() + p.interval);
                }
            }
        }
        if running
            .as_ref()
            .is_some_and(|r| Instant::now() >= r.deadline)
        {
            if let Some(r) = running.take() {
                r.kill();
            }
            next_probe = probe.as_ref().map(|p| Instant::now() + p.interval);
        }
        slots.clear();
        for (i, p) in pipes.iter().enumerate() {
            if p.is_some() {
                slots.push(i);
            }
        }
        if ctl.is_some() {
            slots.push(2);
        }
        if status.is_none() {
            match &pidfd {
                Some(_) => slots.push(3),
                None => status = Some(wait_blocking(pid)),
            }
        }
        if master.is_some() {
            slots.push(4);
        }
        if client_in.is_some() && status.is_none() {
            slots.push(5);
        }
        if running.as_ref().is_some_and(|r| r.pidfd.is_some()) {
            slots.push(6);
        }
        let mut fds = Vec::with_capacity(7);
        for s in &slots {
            let fd = match s {
                0 | 1 => pipes[*s].as_ref().map(|f| f.as_fd()),
                2 => ctl.as_ref().map(|f| f.as_fd()),
                3 => pidfd.as_ref().map(|f| f.as_fd()),
                4 => master.as_ref().map(|f| f.as_fd()),
                5 => client_in.as_ref().map(|f| f.as_fd()),
                _ => running
                    .as_ref()
                    .and_then(|r| r.pidfd.as_ref())
                    .map(|f| f.as_fd()),
            };
            fds.extend(fd);
        }
        // Once the init is gone, whatever is still writing gets a short grace period. A healthcheck wakes the loop
        // when it is due or overdue (a check without a pidfd is looked at every 100 ms).
        let timeout = if status.is_some() {
            500
        } else {
            match (&running, next_probe) {
                (Some(r), _) if r.pidfd.is_none() => ms_until(r.deadline).min(100),
                (Some(r), _) => ms_until(r.deadline),
                (None, Some(due)) => ms_until(due),
                (None, None) => -1,
            }
        };
        let ready = match holm_sys::process::poll_any(&fds, timeout) {
            Ok(r) => r,
            Err(_) => {
                status.get_or_insert_with(|| wait_blocking(pid));
                break;
            }
        };
        drop(fds);
        if status.is_some() && !ready.iter().any(|r| *r) {
            break;
        }
        if let Some(r) = &mut running {
            if matches!(r.child.try_wait(), Ok(Some(_)) | Err(_)) {
                running = None;
                next_probe = probe.as_ref().map(|p| Instant::now() + p.interval);
            }
        }
        for (slot, _) in slots.iter().zip(&ready).filter(|(_, r)| **r) {
            match *slot {
                i @ (0 | 1 | 4) => {
                    let src = if i == 4 {
                        master.as_mut()
                    } else {
                        pipes[i].as_mut()
                    };
                    // A pty master reads EIO once every peer is closed.
                    let n = src.map_or(Ok(0), |p| p.read(&mut buf)).unwrap_or(0);
                    if n == 0 {
                        if i == 4 {
                            master = None;
                        } else {
                            pipes[i] = None;
                        }
                        continue;
                    }
                    let (stream, out) = if i == 1 {
                        (Stream::Stderr, 1)
                    } else {
                        (Stream::Stdout, 0)
                    };
                    if let Some(l) = &mut log {
                        if l.write(stream, &buf[..n]).is_err() {
                            log = None;
                        }
                    }
                    if let Some(a) = attach.get_mut(out) {
                        if a.write_all(&buf[..n]).is_err() {
                            attach.clear();
                        }
                    }
                }
                2 => {
                    // holm sends only `resize ROWS COLS` lines after attaching; EOF means it is gone.
                    let n = ctl
                        .as_ref()
                        .map_or(Ok(0), |mut c| c.read(&mut buf))
                        .unwrap_or(0);
                    if n == 0 {
                        ctl = None;
                        attach.clear();
                        client_in = None;
                        // docker's StdinOnce: the container's stdin ends with its client.
                        stdin_w = None;
                        continue;
                    }
                    ctl_buf.extend_from_slice(&buf[..n]);
                    while let Some(nl) = ctl_buf.iter().position(|&b| b == b'\n') {
                        if let (Some(m), Some((rows, cols))) =
                            (&master, parse_resize(&ctl_buf[..=nl]))
                        {
                            let _ = holm_sys::tty::set_winsize(m.as_fd(), rows, cols);
                        }
                        ctl_buf.drain(..=nl);
                    }
                }
                5 => {
                    let n = client_in
                        .as_mut()
                        .map_or(Ok(0), |f| f.read(&mut buf))
                        .unwrap_or(0);
                    let dst = master.as_mut().or(stdin_w.as_mut());
                    if n == 0 {
                        client_in = None;
                        stdin_w = None;
                        continue;
                    }
                    if let Some(d) = dst {
                        if d.write_all(&buf[..n]).is_err() {
                            client_in = None;
                            stdin_w = None;
                        }
                    }
                }
                3 => status = Some(wait_blocking(pid)),
                // the healthcheck ended: reaped above
                _ => {}
            }
        }
    }
    drop(stdin_w);
    if let Some(l) = &mut log {
        let _ = l.flush();
    }
    match status.unwrap_or(WaitStatus::Exited(255)) {
        WaitStatus::Exited(c) => c,
        WaitStatus::Signaled(s) => 128 + s,
        _ => 255,
    }
}

/// Reaps `pid`, retrying on `EINTR`; 255 if it cannot be waited for.
fn wait_blocking(pid: i32) -> WaitStatus {
    loop {
        match holm_sys::process::waitpid(pid, 0) {
            Ok((_, WaitStatus::StillAlive)) => continue,
            Ok((_, st)) => return st,
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(_) => return WaitStatus::Exited(255),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_lines() {
        assert_eq!(parse_resize(b"resize 24 80\n"), Some((24, 80)));
        assert_eq!(parse_resize(b"resize 24\n"), None);
        assert_eq!(parse_resize(b"detach\n"), None);
    }
}
