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
//! 5. Executes the small `holm-monitor` (next to `holm` on disk; same pid, the fds inherited: see
//!    [`holm_monitor::handoff`] for the protocol), which loops on `poll`: container output → log file (+ attached
//!    fds), the init's pidfd → exit status, the control socket's EOF → detach. A fresh image of the full holm
//!    binary would cost each container several hundred KiB of private memory (BENCHMARKS.md).
//! 6. When the init ended, `holm-monitor` executes `holm __monitor-exit` ([`exit_main`]): it deletes the runtime
//!    state and cgroup, unmounts the rootfs, records the exit code and time, applies `--rm`, sends `exited CODE`,
//!    and with a restart policy that says so, waits out the backoff and becomes step 1 again (same pid: it stays
//!    the parent of the next init).
//!
//! If `holm-monitor` cannot be executed, step 5 runs in this process instead. It is single-threaded (forking is
//! only safe so) and opens the database only at its start and its end.

use crate::control::{self, FromMonitor};
use crate::logfile::LogWriter;
use crate::{ops, Engine, Error, Result};
use holm_monitor::handoff::{Exit, Fds, Handoff};
use holm_monitor::supervise::{supervise, Io};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// How the monitor was invoked (`holm __monitor ID [--exe PATH] [--lock-fd FD]`).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Container id.
    pub id: String,
    /// The on-disk holm binary (`--exe`): `holm-monitor` is looked for in its directory, and executes it again
    /// when the container exits.
    pub exe: Option<std::path::PathBuf>,
    /// The inherited fd holding the monitor lock (`--lock-fd`), set by `holm start` (so that a monitor is seen from
    /// before it exists) and by a monitor that restarts its container (so that the lock is never free between
    /// the two monitors).
    pub lock_fd: Option<i32>,
}

/// The monitor's entry point; returns its exit status (0 once the container's exit was handled).
pub fn main(root: &Path, runroot: &Path, inv: &Invocation) -> i32 {
    let id = inv.id.as_str();
    if let Some(exe) = &inv.exe {
        crate::netuser::set_holm_exe(exe);
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
    if let Err(e) = holm_sys::process::run_from_sealed_copy() {
        // Without the copy the container could reach the host's binary: refuse to start it.
        if let Ok(fd) = holm_sys::fs::dup_raw(0) {
            control::send(
                &UnixStream::from(fd),
                &FromMonitor::Failed {
                    code: 125,
                    msg: format!("monitor: cannot run from a sealed copy of holm: {e}"),
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
    // Failures before the container exists: told to `holm` over the control socket.
    let fail = |msg: String| {
        control::send(&ctl, &FromMonitor::Failed { code: 125, msg });
        125
    };
    let engine = match Engine::open(root, runroot) {
        Ok(e) => e,
        Err(e) => return fail(e.to_string()),
    };
    // One monitor per container, held for its whole life: `holm` reads the lock as "a monitor runs". A restarting
    // monitor hands its lock over.
    let inherited = lock_fd.and_then(|fd| {
        let f = holm_sys::fs::dup_raw(fd).ok();
        holm_sys::process::close_inherited(fd);
        f.map(File::from)
    });
    let lock = match inherited {
        Some(f) => Ok(Ok(f)),
        None => std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(engine.bundle(id).join(crate::lifecycle::MONITOR_LOCK))
            .map(|f| f.try_lock().map(|_| f)),
    };
    let lock = match lock {
        Ok(Ok(f)) => f,
        Ok(Err(_)) => {
            return fail(format!(
                "container {id} already has a monitor (it is running)"
            ))
        }
        Err(e) => return fail(format!("monitor lock of {id}: {e}")),
    };
    let cfg = match engine.db().and_then(|db| db.find(id)) {
        // A start or restart that `stop`/`kill`/`rm` called off while this monitor was being executed.
        Ok(r) if lock_fd.is_some() && r.no_restart => {
            fail(format!(
                "container {id}: the start was called off by stop, kill or rm"
            ));
            return 0;
        }
        Ok(r) => r.config,
        Err(e) => return fail(e.to_string()),
    };
    let auto_remove = cfg.auto_remove;
    let (pid, recorded, io) = match launch(&engine, id, &null, &cfg) {
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
        .and_then(|db| db.set_running(id, recorded, (me, me_start), &now))
    {
        Ok(true) => {
            crate::health::reset(&engine, id, &cfg);
            engine.emit_network_membership(&cfg, id, "connect");
            engine.emit_for(id, "start", &[]);
        }
        // Removed (`rm -f`) while starting, or the database failed: the container must not run unrecorded.
        Ok(false) | Err(_) => {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
        }
    }
    control::send(&ctl, &FromMonitor::Started(recorded));
    // Shed the sealed copy of the binary (a private in-memory file as big as holm), the heap of `create` and the
    // full binary's relocated data: continue as `holm-monitor`, whose on-disk image every monitor shares. The
    // container cannot reach it (it is in its own pid namespace). On failure, go on here.
    let io = Io { attach, ..io };
    let log = crate::logfile::Format::of_driver(cfg.log_driver()).zip(engine.log_file(id, &cfg));
    let rotate = crate::logopts::rotate(&cfg.log_opts);
    // A container that already ended (a short command like `true`) is finished from here at once: the handoff
    // would only delay handling its exit (two execs: holm-monitor, then holm's exit stage, ~10 ms). With a client
    // attached (a foreground run, nobody measuring this monitor's memory yet) it is given up to 20 ms to end.
    let wait_ms = if io.attach.is_empty() { 0 } else { 20 };
    if let Some(exe) = inv.exe.as_ref().filter(|_| !has_ended(pid, wait_ms)) {
        let h = Handoff {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            id: id.to_string(),
            exe: exe.clone(),
            pid,
            fds: raw_fds(&io, &ctl, &lock),
            log: log.clone(),
            rotate,
            health: crate::health::timing(&cfg),
        };
        let _ = handoff(&h, &io, &ctl, &lock);
    }
    let log = log.and_then(|(f, p)| LogWriter::open_rotating(&p, f, rotate).ok());
    // Here only if the container already ended or holm-monitor could not be executed: the healthcheck runs from
    // this process then.
    let probe = inv
        .exe
        .as_ref()
        .zip(crate::health::timing(&cfg))
        .map(|(exe, t)| holm_monitor::supervise::Probe {
            argv: holm_monitor::handoff::health_argv(exe, root, runroot, id),
            interval: std::time::Duration::from_millis(t.interval_ms),
            timeout: std::time::Duration::from_millis(t.timeout_ms),
        });
    run_to_end(&engine, id, pid, io, ctl, lock, log, probe)
}

/// The path of the running `holm` executable, for the processes holm starts from itself (monitors, `holm exec`,
/// the DNS and health helpers). When the file was replaced while this process runs (an upgrade, a rebuild),
/// `/proc/self/exe` reads `PATH (deleted)` (proc(5)); then the file now at PATH is used, as a new `holm` command
/// would be, instead of failing every start of a long-running `holm system service`. Errors: `/proc/self/exe`
/// unreadable.
pub fn holm_executable() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("find the holm executable"))?;
    if let Some(path) = exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
    }
    Ok(exe)
}

/// The `holm-monitor` next to the running holm (see [`monitor_exe`]).
pub fn installed() -> Result<PathBuf> {
    monitor_exe(&holm_executable()?)
}

/// Where `holm-monitor` must be: next to the `holm` binary `holm_exe`. Errors (naming the path) if it is not a
/// file there.
pub fn monitor_exe(holm_exe: &Path) -> Result<PathBuf> {
    let p = holm_exe
        .parent()
        .unwrap_or(Path::new("/"))
        .join(holm_monitor::handoff::EXE_NAME);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => Ok(p),
        Ok(_) => Err(Error::Io {
            what: format!(
                "the monitor executable {} (installed next to holm)",
                p.display()
            ),
            source: std::io::Error::other("not a regular file"),
        }),
        Err(e) => Err(Error::Io {
            what: format!(
                "the monitor executable {} (installed next to holm)",
                p.display()
            ),
            source: e,
        }),
    }
}

/// The fd numbers of [`Handoff::fds`].
fn raw_fds(io: &Io, ctl: &UnixStream, lock: &File) -> Fds {
    let raw = |f: &OwnedFd| f.as_raw_fd();
    Fds {
        out: raw(&io.out),
        err: raw(&io.err),
        ctl: ctl.as_raw_fd(),
        lock: lock.as_raw_fd(),
        master: io.master.as_ref().map(raw),
        stdin: io.stdin.as_ref().map(raw),
        attach: io.attach.iter().map(raw).collect(),
        ports: io.ports.iter().map(raw).collect(),
    }
}

/// Executes `holm-monitor` with `h` (see [`holm_monitor::handoff`]), keeping the fds of `io`, `ctl` and `lock`
/// open across the exec (all others are close-on-exec). Only returns on failure, with the fds close-on-exec again.
fn handoff(h: &Handoff, io: &Io, ctl: &UnixStream, lock: &File) -> Result<()> {
    let exe = monitor_exe(&h.exe)?;
    let mut fds = vec![io.out.as_fd(), io.err.as_fd(), ctl.as_fd(), lock.as_fd()];
    let optional = [io.master.as_ref(), io.stdin.as_ref()];
    fds.extend(optional.iter().flatten().map(|f| f.as_fd()));
    fds.extend(io.attach.iter().map(|f| f.as_fd()));
    fds.extend(io.ports.iter().map(|f| f.as_fd()));
    let r = fds
        .iter()
        .try_for_each(|fd| holm_sys::fs::set_cloexec(*fd, false));
    let r = r.map_err(Error::from).and_then(|_| {
        let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        Err(holm_sys::process::execve(&exe, &h.to_args(), &env).into())
    });
    for fd in &fds {
        let _ = holm_sys::fs::set_cloexec(*fd, true);
    }
    r
}

/// Takes over an inherited fd: an owned close-on-exec duplicate; the original is closed.
fn take(fd: RawFd) -> Option<OwnedFd> {
    let owned = holm_sys::fs::dup_raw(fd).ok();
    holm_sys::process::close_inherited(fd);
    owned
}

/// `holm __monitor-exit` (executed by `holm-monitor` once the container's init exited, same pid): records the
/// exit, releases the container's resources, applies `--rm`, tells holm, and restarts the container if its policy
/// says so. Returns the monitor's exit status.
pub fn exit_main(e: &Exit) -> i32 {
    let (ctl, lock) = (take(e.ctl), take(e.lock));
    let _ = holm_sys::fs::cloexec_from(3);
    let (Some(ctl), Some(lock)) = (ctl, lock) else {
        return 125;
    };
    let Ok(engine) = Engine::open(&e.root, &e.runroot) else {
        return 125;
    };
    let ctl = UnixStream::from(ctl);
    let ran = std::time::Duration::from_millis(e.ran_ms);
    let again = finish(&engine, &e.id, e.code, &ctl, ran);
    drop(ctl);
    if let Some(delay) = again {
        restart(&engine, &e.id, delay, File::from(lock));
    }
    0
}

/// True if process `pid` (the init, this monitor's child) has exited, or does within `wait_ms`; it is not reaped.
fn has_ended(pid: i32, wait_ms: i32) -> bool {
    holm_sys::process::pidfd_open(pid)
        .ok()
        .and_then(|fd| holm_sys::process::poll_any(&[fd.as_fd()], wait_ms).ok())
        .is_some_and(|r| r.first() == Some(&true))
}

/// Supervises until the end, then finishes; with a restart policy that says so, waits out the backoff and
/// becomes the monitor of the next run.
#[allow(clippy::too_many_arguments)]
fn run_to_end(
    engine: &Engine,
    id: &str,
    pid: i32,
    io: Io,
    ctl: UnixStream,
    lock: File,
    log: Option<LogWriter>,
    probe: Option<holm_monitor::supervise::Probe>,
) -> i32 {
    let started = std::time::Instant::now();
    // A clone for the loop, which drops it when holm detaches; `finish` still reports on the original.
    let code = supervise(pid, io, ctl.try_clone().ok(), log, probe);
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

/// docker's exit code and message for a failed start.
fn start_failure(e: &Error) -> (i32, String) {
    let msg = e.to_string();
    if crate::vm::is_setup_error(e) {
        return (125, msg);
    }
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
/// with `-t`, a pty from the runtime's console socket); returns the pid to supervise (the init; for a VM
/// container the runtime's VM shim, which exits with the container's code), the pid to record (the init; the
/// VMM) and the monitor's ends.
fn launch(
    engine: &Engine,
    id: &str,
    null: &File,
    cfg: &crate::RunConfig,
) -> Result<(i32, i32, Io)> {
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
        if cfg.is_vm() {
            let (shim, vmm, ports, m) = launch_vm(engine, id, cfg, &rt, console)?;
            master = m;
            return Ok((shim, vmm, ports));
        }
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
        Ok((pid, pid, ports))
    })();
    holm_sys::fs::dup_onto(null.as_fd(), 0)?;
    holm_sys::fs::dup_onto(null.as_fd(), 1)?;
    holm_sys::fs::dup_onto(null.as_fd(), 2)?;
    r.map(|(pid, recorded, ports)| {
        (
            pid,
            recorded,
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

/// [`launch`] of a VM container (see [`crate::vm`]): its network namespace made and networked first, then the
/// runtime's `create` (which boots the VM and hands the namespace's interface to it; with `-t` it sends a pty's
/// master to `console`) and `start`. Returns the VM shim's pid, the VMM's pid, the published ports' sockets and
/// the pty's master. On failure, what was made is undone.
fn launch_vm(
    engine: &Engine,
    id: &str,
    cfg: &crate::RunConfig,
    rt: &crate::runtime::Runtime,
    console: Option<crate::tty::ConsoleSocket>,
) -> Result<(i32, i32, Vec<OwnedFd>, Option<OwnedFd>)> {
    let undo = |e: Error| {
        let _ = rt.delete(id);
        let _ = crate::network::teardown(engine, id);
        let _ = crate::vm::release_netns(engine, id);
        e
    };
    crate::vm::choose_accel(engine, id, cfg)?;
    let ports = {
        let holder = crate::vm::NetnsHolder::new(engine, id).map_err(undo)?;
        crate::network::setup(engine, id, holder.pid(), cfg).map_err(undo)?
    };
    let shim = rt
        .create(id, &engine.bundle(id), console.as_ref().map(|c| c.path()))
        .map_err(undo)?;
    let vmm = rt.state(id).map_or(shim, |s| s.pid);
    let r = console
        .map(|c| c.receive())
        .transpose()
        .and_then(|m| rt.start(id).map(|_| m));
    match r {
        Ok(master) => Ok((shim, vmm, ports, master)),
        Err(e) => {
            let e = undo(e);
            let _ = holm_sys::process::waitpid(shim, 0);
            Err(e)
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
    // The exit file first (on the runroot's tmpfs): if the database cannot record the exit (a full disk), a later
    // command folds the file in (`Engine::refresh`).
    let exit = crate::space::ExitFile {
        code,
        finished_at: now.clone(),
    };
    let _ = crate::space::write_exit(engine.runroot(), id, &exit);
    let rec = engine.db().ok().and_then(|db| {
        if db.set_exited(id, Some(code), &now, "").is_ok() {
            crate::space::remove_exit(engine.runroot(), id);
        }
        db.get(id).ok().flatten()
    });
    let Some(rec) = rec else {
        control::send(ctl, &FromMonitor::Exited(code));
        return None;
    };
    crate::health::stopped(engine, id);
    // docker's order: the container's die, then its networks' disconnect
    engine.emit_container(
        &rec,
        "die",
        &[
            ("exitCode", code.to_string()),
            ("execDuration", ran.as_secs().to_string()),
        ],
    );
    engine.emit_network_membership(&rec.config, id, "disconnect");
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
