//! The per-container monitor (conmon's job), run as `holm __monitor ID` by [`crate::Engine::start`]:
//!
//! 1. Re-executes itself from a sealed in-memory copy of the binary (the container's init is forked from this
//!    process, and must not reach the host's binary through `/proc/self/exe`, CVE-2019-5736), then `setsid`s, so
//!    neither `holm`'s death nor its terminal's signals reach it.
//! 2. Takes the control socket from its stdin ([`crate::control`]) and the fds to copy output to, if attached.
//! 3. Makes two pipes, puts their write ends on its own fds 1 and 2, and calls holm-container's `create` and
//!    `start`: the init inherits them as its stdout/stderr and, through `CLONE_PARENT`, becomes this process's
//!    child. Its own fds 1 and 2 then go back to `/dev/null`, so EOF on the pipes means the container closed them.
//! 4. Records `running` (with its own pid and start time) in the database and tells `holm`.
//! 5. Loops on `poll`: container output → log file (+ attached fds), the init's pidfd → exit status, the control
//!    socket's EOF → detach.
//! 6. When the init ended: drains the pipes, deletes the runtime state and cgroup, unmounts the rootfs, records
//!    the exit code and time, applies `--rm`, and sends `exited CODE`.
//!
//! It is single-threaded (forking is only safe so), opens the database only at its start and its end, and keeps
//! a 16 KiB buffer: its private memory stays small while the container runs.

use crate::control::{self, FromMonitor};
use crate::logfile::{LogWriter, Stream};
use crate::{ops, Engine, Error, Result};
use holm_sys::process::WaitStatus;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// How the monitor was invoked (`holm __monitor ID [--exe PATH] [--resume FDS]`).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Container id.
    pub id: String,
    /// The on-disk holm binary to re-execute once the container runs (`--exe`).
    pub exe: Option<std::path::PathBuf>,
    /// Set after the re-exec (`--resume`): `PID,OUT,ERR,CTL,LOCK,MASTER,STDIN[,ATTACH…]`.
    pub resume: Option<String>,
    /// Set by a monitor that restarts its container (`--lock-fd`): the inherited fd holding the monitor lock, so
    /// the lock is never free between the two monitors.
    pub lock_fd: Option<i32>,
}

/// The monitor's entry point; returns its exit status (0 once the container's exit was handled).
pub fn main(root: &Path, runroot: &Path, inv: &Invocation) -> i32 {
    let id = inv.id.as_str();
    if let Some(spec) = &inv.resume {
        return resume(root, runroot, id, spec);
    }
    // Nothing holm's caller leaked to it (fds without close-on-exec) may live on in a long-lived monitor; fd 0 is
    // the control socket.
    let _ = holm_sys::fs::cloexec_from(3);
    let lock_fd = inv.lock_fd.filter(|fd| *fd > 2);
    if let Some(fd) = lock_fd {
        // Kept (same number, without close-on-exec: dup2 clears it) across the sealed-copy re-exec below.
        if let Ok(f) = holm_sys::fs::dup_raw(fd) {
            let _ = holm_sys::fs::dup_onto(f.as_fd(), fd);
        }
    }
    if holm_sys::process::run_from_sealed_copy().is_err() {
        // Without the copy the container could reach the host's binary: refuse to start it.
        if let Ok(fd) = holm_sys::fs::dup_raw(0) {
            control::send(
                &UnixStream::from(fd),
                &FromMonitor::Failed {
                    code: 125,
                    msg: "monitor: cannot run from a sealed copy of holm".into(),
                },
            );
        }
        return 125;
    }
    let _ = holm_sys::process::setsid();
    let Ok(ctl) = holm_sys::fs::dup_raw(0).map(UnixStream::from) else {
        return 125;
    };
    let Ok(null) = File::options().read(true).write(true).open("/dev/null") else {
        return 125;
    };
    let _ = holm_sys::fs::dup_onto(null.as_fd(), 0);
    // holm gone before it attached: run detached.
    let attach = control::recv_attach(&ctl).unwrap_or_default();
    let engine = match Engine::open(root, runroot) {
        Ok(e) => e,
        Err(e) => {
            control::send(
                &ctl,
                &FromMonitor::Failed {
                    code: 125,
                    msg: e.to_string(),
                },
            );
            return 125;
        }
    };
    // One monitor per container, held for its whole life: `holm` reads the lock as "a monitor runs". A restarting
    // monitor hands its lock over.
    let inherited = lock_fd.and_then(|fd| {
        let f = holm_sys::fs::dup_raw(fd).ok();
        holm_sys::process::close_inherited(fd);
        f.map(File::from)
    });
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(engine.bundle(id).join(crate::lifecycle::MONITOR_LOCK));
    let lock = match inherited {
        Some(f) => Ok(Ok(f)),
        None => lock.map(|f| f.try_lock().map(|_| f)),
    };
    let lock = match lock {
        Ok(Ok(f)) => f,
        Ok(Err(_)) => {
            control::send(
                &ctl,
                &FromMonitor::Failed {
                    code: 125,
                    msg: format!("container {id} already has a monitor (it is running)"),
                },
            );
            return 125;
        }
        Err(e) => {
            control::send(
                &ctl,
                &FromMonitor::Failed {
                    code: 125,
                    msg: format!("monitor lock of {id}: {e}"),
                },
            );
            return 125;
        }
    };
    let cfg = match engine.db().and_then(|db| db.find(id)) {
        // A restart that `stop`/`kill`/`rm` called off while this monitor was being executed.
        Ok(r) if lock_fd.is_some() && r.no_restart => return 0,
        Ok(r) => r.config,
        Err(e) => {
            control::send(
                &ctl,
                &FromMonitor::Failed {
                    code: 125,
                    msg: e.to_string(),
                },
            );
            return 125;
        }
    };
    let auto_remove = cfg.auto_remove;
    let (pid, io) = match launch(&engine, id, &null, &cfg) {
        Ok(x) => x,
        Err(e) => {
            let (code, msg) = start_failure(&e);
            if auto_remove {
                let _ = ops::remove_with(&engine, id, true);
            } else {
                let _ = engine
                    .db()
                    .and_then(|db| db.set_start_failed(id, &msg, code));
                let _ = ops::release_runtime(&engine, id);
            }
            control::send(&ctl, &FromMonitor::Failed { code, msg });
            return 0;
        }
    };
    let me = holm_sys::process::getpid();
    let me_start = holm_container::state::proc_start_time(me).unwrap_or(0);
    let now = holm_container::state::rfc3339(std::time::SystemTime::now());
    match engine
        .db()
        .and_then(|db| db.set_running(id, pid, (me, me_start), &now))
    {
        Ok(true) => {}
        // Removed (`rm -f`) while starting, or the database failed: the container must not run unrecorded.
        Ok(false) | Err(_) => {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
        }
    }
    control::send(&ctl, &FromMonitor::Started(pid));
    // Shed the sealed copy of the binary (a private in-memory file as big as holm) and the heap of `create`:
    // continue as a fresh image of the on-disk binary, which every monitor shares. The container cannot reach it
    // (it is in its own pid namespace). On failure, go on here.
    let io = Io { attach, ..io };
    if let Some(exe) = &inv.exe {
        let _ = reexec(root, runroot, id, exe, pid, &io, &ctl, &lock);
    }
    run_to_end(&engine, id, pid, io, ctl, lock)
}

/// The container's stdio as the monitor holds it.
struct Io {
    /// Read ends of the container's stdout and stderr pipes.
    out: OwnedFd,
    err: OwnedFd,
    /// `-t`: the pty master (the container's stdin, stdout and stderr).
    master: Option<OwnedFd>,
    /// `-i` without `-t`: the write end of the container's stdin pipe.
    stdin: Option<OwnedFd>,
    /// Attached client: its stdout, stderr and (`-i`) stdin.
    attach: Vec<OwnedFd>,
    /// Sockets holding the published host ports (kept open until the container's end).
    ports: Vec<OwnedFd>,
}

/// Supervises until the end, then finishes; with a restart policy that says so, waits out the backoff and
/// becomes the monitor of the next run.
fn run_to_end(engine: &Engine, id: &str, pid: i32, io: Io, ctl: UnixStream, lock: File) -> i32 {
    let started = std::time::Instant::now();
    // A clone for the loop, which drops it when holm detaches; `finish` still reports on the original.
    let code = supervise(engine, id, pid, io, ctl.try_clone().ok());
    let again = finish(engine, id, code, &ctl, started.elapsed());
    drop(ctl);
    if let Some(delay) = again {
        restart(engine, id, delay, lock);
    }
    0
}

/// Waits `delay` (giving up as soon as `stop`/`kill`/`rm` mark the container), counts the restart, and
/// re-executes holm as a new monitor of the container (same pid; the lock is released just before, and the new
/// monitor takes it). Returns only if it gave up or the exec failed.
fn restart(engine: &Engine, id: &str, delay: std::time::Duration, lock: File) {
    use std::os::fd::AsRawFd;
    let end = std::time::Instant::now() + delay;
    loop {
        match engine.db().and_then(|db| db.get(id)) {
            Ok(Some(r)) if !r.no_restart => {}
            _ => return,
        }
        let Some(left) = end.checked_duration_since(std::time::Instant::now()) else {
            break;
        };
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
    if engine
        .db()
        .and_then(|db| db.bump_restart_count(id))
        .is_err()
    {
        return;
    }
    // The new monitor reads its control socket on fd 0: one that says "detach" (nobody is attached).
    let Ok((mine, theirs)) = UnixStream::pair() else {
        return;
    };
    if control::send_attach(&mine, None).is_err()
        || holm_sys::fs::dup_onto(theirs.as_fd(), 0).is_err()
    {
        return;
    }
    drop((mine, theirs));
    // This monitor's own binary, even if it was replaced or deleted since (an upgrade): exec'd through
    // /proc/self/exe; the new monitor's `--exe` names the path on disk.
    let Ok(link) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let link = link.display().to_string();
    let on_disk = link.strip_suffix(" (deleted)").unwrap_or(&link).to_string();
    let argv = vec![
        "holm".to_string(),
        "--root".into(),
        engine.root().display().to_string(),
        "--runroot".into(),
        engine.runroot().display().to_string(),
        "__monitor".into(),
        id.into(),
        "--exe".into(),
        on_disk,
    ];
    // The lock goes to the new monitor as an fd (never free in between: `rm`/`stop` see a monitor throughout).
    let Ok(lock_fd) = holm_sys::fs::dup_raw(lock.as_raw_fd()).and_then(|f| {
        holm_sys::fs::dup_onto(f.as_fd(), lock.as_raw_fd()).map(|_| lock.as_raw_fd())
    }) else {
        return;
    };
    let mut argv = argv;
    argv.extend(["--lock-fd".to_string(), lock_fd.to_string()]);
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = holm_sys::process::execve(Path::new("/proc/self/exe"), &argv, &env);
    drop(lock);
}

/// Re-executes `exe` as `holm __monitor ID --resume PID,OUT,ERR,CTL,LOCK,MASTER,STDIN[,ATTACH…]` (-1 for an
/// absent MASTER or STDIN), keeping those fds open. Only returns on failure.
#[allow(clippy::too_many_arguments)]
fn reexec(
    root: &Path,
    runroot: &Path,
    id: &str,
    exe: &Path,
    pid: i32,
    io: &Io,
    ctl: &UnixStream,
    lock: &File,
) -> Result<()> {
    use std::os::fd::AsRawFd;
    let mut fds = vec![io.out.as_fd(), io.err.as_fd(), ctl.as_fd(), lock.as_fd()];
    let optional = [io.master.as_ref(), io.stdin.as_ref()];
    fds.extend(optional.iter().flatten().map(|f| f.as_fd()));
    fds.extend(io.attach.iter().map(|f| f.as_fd()));
    fds.extend(io.ports.iter().map(|f| f.as_fd()));
    for fd in &fds {
        holm_sys::fs::set_cloexec(*fd, false)?;
    }
    let raw = |f: Option<&OwnedFd>| f.map_or(-1, |f| f.as_raw_fd());
    let spec: Vec<String> = [
        pid,
        io.out.as_raw_fd(),
        io.err.as_raw_fd(),
        ctl.as_raw_fd(),
        lock.as_raw_fd(),
        raw(io.master.as_ref()),
        raw(io.stdin.as_ref()),
    ]
    .into_iter()
    .chain(io.attach.iter().map(|f| f.as_raw_fd()))
    .map(|n| n.to_string())
    .collect();
    let ports: Vec<String> = io.ports.iter().map(|f| f.as_raw_fd().to_string()).collect();
    let argv = vec![
        "holm".to_string(),
        "--root".into(),
        root.display().to_string(),
        "--runroot".into(),
        runroot.display().to_string(),
        "__monitor".into(),
        id.into(),
        "--resume".into(),
        format!("{};{}", spec.join(","), ports.join(",")),
    ];
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let e = holm_sys::process::execve(exe, &argv, &env);
    for fd in &fds {
        let _ = holm_sys::fs::set_cloexec(*fd, true);
    }
    Err(e.into())
}

/// The monitor after its re-exec: takes over the fds named by `spec` and supervises.
fn resume(root: &Path, runroot: &Path, id: &str, spec: &str) -> i32 {
    // `FDS;PORT_FDS`: the published ports' sockets after the `;`.
    let (spec, port_spec) = spec.split_once(';').unwrap_or((spec, ""));
    let port_fds: Vec<i32> = port_spec
        .split(',')
        .filter_map(|n| n.parse().ok())
        .collect();
    if port_fds.iter().any(|&fd| fd < 3) {
        return 125;
    }
    let nums: Vec<i32> = spec.split(',').filter_map(|n| n.parse().ok()).collect();
    if nums.len() < 7
        || nums[1..5].iter().any(|&fd| fd < 3)
        || nums[5..7].iter().any(|&fd| fd != -1 && fd < 3)
        || nums[7..].iter().any(|&fd| fd < 3)
    {
        return 125;
    }
    // Each inherited fd is duplicated into an owned one and the original closed: nothing else owns them.
    let take = |fd: i32| -> Option<OwnedFd> {
        let owned = holm_sys::fs::dup_raw(fd).ok();
        holm_sys::process::close_inherited(fd);
        owned
    };
    let pid = nums[0];
    let (Some(out), Some(err), Some(ctl), Some(lock)) =
        (take(nums[1]), take(nums[2]), take(nums[3]), take(nums[4]))
    else {
        return 125;
    };
    let lock = File::from(lock);
    let opt = |fd: i32| if fd == -1 { None } else { take(fd) };
    let io = Io {
        out,
        err,
        master: opt(nums[5]),
        stdin: opt(nums[6]),
        attach: nums[7..].iter().filter_map(|&fd| take(fd)).collect(),
        ports: port_fds.iter().filter_map(|&fd| take(fd)).collect(),
    };
    let engine = match Engine::open(root, runroot) {
        Ok(e) => e,
        Err(_) => return 125,
    };
    run_to_end(&engine, id, pid, io, UnixStream::from(ctl), lock)
}

/// docker's exit code and message for a failed start.
fn start_failure(e: &Error) -> (i32, String) {
    let msg = e.to_string();
    if let Error::Network(n) = e {
        // docker's wording for a port that cannot be published.
        let msg = match n {
            holm_network::Error::PortAllocated { .. } | holm_network::Error::Bind { .. } => {
                format!("driver failed programming external connectivity: {msg}")
            }
            _ => msg,
        };
        return (125, msg);
    }
    (crate::error::start_failure_code(&msg), msg)
}

/// Creates and starts the container with the pipes as its stdout/stderr (and, with `-i`, a pipe as its stdin;
/// with `-t`, a pty from the runtime's console socket); returns the init's pid and the monitor's ends.
fn launch(engine: &Engine, id: &str, null: &File, cfg: &crate::RunConfig) -> Result<(i32, Io)> {
    let (out_r, out_w) = std::io::pipe().map_err(Error::io("pipe"))?;
    let (err_r, err_w) = std::io::pipe().map_err(Error::io("pipe"))?;
    holm_sys::fs::dup_onto(out_w.as_fd(), 1)?;
    holm_sys::fs::dup_onto(err_w.as_fd(), 2)?;
    drop((out_w, err_w));
    let mut stdin_w = None;
    if cfg.interactive && !cfg.tty {
        let (r, w) = std::io::pipe().map_err(Error::io("pipe"))?;
        holm_sys::fs::dup_onto(r.as_fd(), 0)?;
        stdin_w = Some(OwnedFd::from(w));
    }
    let rt = engine.runtime_for(cfg.runtime.as_deref());
    if matches!(rt, crate::runtime::Runtime::Oci { .. }) {
        // `runc create` exits and leaves the init to the nearest subreaper: this monitor.
        holm_sys::process::set_child_subreaper()?;
    }
    let mut master = None;
    let r = (|| {
        ops::mount_rootfs(engine, id)?;
        // Runtime state left by a crash would make `create` fail with "exists".
        let _ = rt.delete(id);
        let console = cfg
            .tty
            .then(|| crate::tty::ConsoleSocket::bind(engine.runroot(), id))
            .transpose()?;
        // `--network container:X`: X's current network namespace.
        crate::network::before_create(engine, id, cfg)?;
        let pid = rt.create(id, &engine.bundle(id), console.as_ref().map(|c| c.path()))?;
        if let Some(c) = console {
            match c.receive() {
                Ok(m) => master = Some(m),
                Err(e) => {
                    let _ = rt.delete(id);
                    let _ = holm_sys::process::waitpid(pid, libc::WNOHANG);
                    return Err(e);
                }
            }
        }
        // Networking goes in between create and start: the namespace exists, the process has not started.
        let ports = match crate::network::setup(engine, id, pid, cfg) {
            Ok(p) => p,
            Err(e) => {
                let _ = rt.delete(id);
                let _ = holm_sys::process::waitpid(pid, libc::WNOHANG);
                return Err(e);
            }
        };
        if let Err(e) = rt.start(id) {
            let _ = rt.delete(id);
            let _ = holm_sys::process::waitpid(pid, libc::WNOHANG);
            let _ = crate::network::teardown(engine, id);
            return Err(e);
        }
        Ok((pid, ports))
    })();
    holm_sys::fs::dup_onto(null.as_fd(), 0)?;
    holm_sys::fs::dup_onto(null.as_fd(), 1)?;
    holm_sys::fs::dup_onto(null.as_fd(), 2)?;
    r.map(|(pid, ports)| {
        (
            pid,
            Io {
                out: OwnedFd::from(out_r),
                err: OwnedFd::from(err_r),
                master,
                stdin: stdin_w,
                attach: Vec::new(),
                ports,
            },
        )
    })
}

/// Copies output until the init has exited and the pipes (and pty) are drained, and an attached client's input to
/// the container; returns the exit code (128+N for signal N).
fn supervise(engine: &Engine, id: &str, pid: i32, io: Io, mut ctl: Option<UnixStream>) -> i32 {
    let pidfd = holm_sys::process::pidfd_open(pid).ok();
    let cfg = engine
        .db()
        .and_then(|db| db.get(id))
        .ok()
        .flatten()
        .map(|r| r.config)
        .unwrap_or_default();
    let mut log = match (
        engine.log_file(id, &cfg),
        crate::logfile::Format::of_driver(cfg.log_driver()),
    ) {
        (Some(p), Some(f)) => LogWriter::open_as(&p, f).ok(),
        _ => None,
    };
    // Output sources: 0 stdout pipe, 1 stderr pipe, 4 pty master (logged as stdout).
    let mut pipes = [Some(File::from(io.out)), Some(File::from(io.err))];
    let mut master = io.master.map(File::from);
    let mut stdin_w = io.stdin.map(File::from);
    let mut attach: Vec<File> = io.attach.into_iter().map(File::from).collect();
    // The client's stdin (`-i`): the third attached fd.
    let mut client_in = if attach.len() > 2 { attach.pop() } else { None };
    let mut ctl_buf = Vec::new();
    let mut status: Option<WaitStatus> = None;
    let mut buf = [0u8; 16 * 1024];
    loop {
        if status.is_some() && pipes.iter().all(Option::is_none) && master.is_none() {
            break;
        }
        // Which slot each polled fd is: 0/1 pipes, 2 control socket, 3 pidfd, 4 master, 5 client stdin.
        let mut slots = Vec::with_capacity(6);
        let mut fds = Vec::with_capacity(6);
        for (i, p) in pipes.iter().enumerate() {
            if let Some(p) = p {
                slots.push(i);
                fds.push(p.as_fd());
            }
        }
        if let Some(c) = &ctl {
            slots.push(2);
            fds.push(c.as_fd());
        }
        if status.is_none() {
            match &pidfd {
                Some(p) => {
                    slots.push(3);
                    fds.push(p.as_fd());
                }
                None => status = Some(wait_blocking(pid)),
            }
        }
        if let Some(m) = &master {
            slots.push(4);
            fds.push(m.as_fd());
        }
        if let Some(i) = client_in.as_ref().filter(|_| status.is_none()) {
            slots.push(5);
            fds.push(i.as_fd());
        }
        // Once the init is gone, whatever is still writing gets a short grace period.
        let timeout = if status.is_some() { 500 } else { -1 };
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
                        let line: Vec<u8> = ctl_buf.drain(..=nl).collect();
                        if let (Some(m), Some((rows, cols))) =
                            (&master, control::parse_resize(&line))
                        {
                            let _ = holm_sys::tty::set_winsize(m.as_fd(), rows, cols);
                        }
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
                _ => status = Some(wait_blocking(pid)),
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

/// After the process ended: runtime state and cgroup gone, rootfs unmounted, exit recorded, `--rm` applied, holm
/// told.
///
/// Returns the delay before a restart if the restart policy wants one: `on-failure[:N]` after a non-zero exit (at
/// most N times), `always` after any; never once `stop`/`kill`/`rm` marked the container. The delay doubles from
/// 100 ms with each restart (at most a minute), and is 100 ms again after a run of 10 s or more, as docker's.
fn finish(
    engine: &Engine,
    id: &str,
    code: i32,
    ctl: &UnixStream,
    ran: std::time::Duration,
) -> Option<std::time::Duration> {
    // Before the cgroup goes with the runtime state: its OOM-kill count is `State.OOMKilled`.
    ops::record_oom_kills(engine, id);
    let _ = ops::release_runtime(engine, id);
    let now = holm_container::state::rfc3339(std::time::SystemTime::now());
    let rec = engine.db().ok().and_then(|db| {
        let _ = db.set_exited(id, Some(code), &now, "");
        db.get(id).ok().flatten()
    });
    let Some(rec) = rec else {
        control::send(ctl, &FromMonitor::Exited(code));
        return None;
    };
    if rec.config.auto_remove {
        let _ = ops::remove_with(engine, id, true);
    }
    control::send(ctl, &FromMonitor::Exited(code));
    use crate::options::RestartPolicy;
    let again = !rec.config.auto_remove
        && !rec.no_restart
        && match crate::options::parse_restart(&rec.config.restart).unwrap_or(RestartPolicy::No) {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| rec.restart_count < m),
            RestartPolicy::Always => true,
        };
    if !again {
        return None;
    }
    let base = std::time::Duration::from_millis(100);
    if ran >= std::time::Duration::from_secs(10) {
        return Some(base);
    }
    Some((base * (1u32 << rec.restart_count.min(10))).min(std::time::Duration::from_secs(60)))
}
